"""The signature ceremony: re-authentication, lockout, manifestation and record linking."""

import datetime as dt
import json

import pytest

from opencdmo.core import records, security, signatures
from opencdmo.core.errors import PermissionDenied, RuleViolation
from opencdmo.core.models import AuditEvent, Signature, User
from opencdmo.core.signatures import SignatureInput, authenticate_signer
from opencdmo.sponsors import services
from opencdmo.sponsors.models import QualityAgreement
from tests.conftest import PASSWORD
from tests.factories import Workers, approved_agreement, draft_agreement, signature, submitted_agreement

WRONG = "correct horse battery stapel"


def failures_of(user) -> int:
    return User.objects.get(pk=user.pk).failed_logins


# ---------------------------------------------------------------------------- re-authentication


@pytest.mark.req("P11-6")
@pytest.mark.req("P11-7")
def test_a_wrong_password_refuses_the_signing_and_counts_toward_lockout(qa_author, sponsor_a):
    agreement = draft_agreement(qa_author, sponsor_a)
    with pytest.raises(PermissionDenied, match="Signature refused.*4 attempts left"):
        services.transition_quality_agreement(qa_author, agreement, "submit",
                                              signature=signature(qa_author, "Authored", password=WRONG))
    agreement.refresh_from_db()
    assert agreement.status == "draft"
    assert signatures.signatures_of(agreement) == []
    assert failures_of(qa_author) == 1
    assert AuditEvent.objects.filter(action="failed_signature", actor_id=qa_author.pk).count() == 1


@pytest.mark.req("P11-7")
def test_five_wrong_signature_passwords_lock_the_account(qa_author, sponsor_a, fake_clock):
    agreement = draft_agreement(qa_author, sponsor_a)
    for _ in range(5):
        fake_clock.advance(minutes=1)
        with pytest.raises(PermissionDenied):
            authenticate_signer(qa_author, signature(qa_author, "Authored", password=WRONG), first_in_session=False)
    assert User.objects.get(pk=qa_author.pk).is_locked
    assert AuditEvent.objects.filter(action="security_alert", record_id=str(qa_author.pk)).exists()
    with pytest.raises(PermissionDenied, match="locked"):
        services.transition_quality_agreement(qa_author, agreement, "submit",
                                              signature=signature(qa_author, "Authored"))


@pytest.mark.django_db(transaction=True)
@pytest.mark.req("P11-7")
def test_the_failure_count_is_committed_although_the_signing_is_refused(qa_author, sponsor_a):
    """Seen from another connection: the count survived the refused signing's rollback."""
    agreement = draft_agreement(qa_author, sponsor_a)
    with pytest.raises(PermissionDenied):
        services.transition_quality_agreement(qa_author, agreement, "submit",
                                              signature=signature(qa_author, "Authored", password=WRONG))
    workers = Workers(1)
    try:
        seen = workers.run(0, lambda: (failures_of(qa_author), QualityAgreement.objects.get(pk=agreement.pk).status,
                                       Signature.objects.count()))
    finally:
        workers.close()
    assert seen == (1, "draft", 0)


@pytest.mark.req("P11-6")
def test_the_first_signing_in_a_session_needs_the_user_id_as_well(qa_author):
    with pytest.raises(PermissionDenied, match="Enter your user ID and password"):
        authenticate_signer(qa_author, signature(qa_author, "Authored", with_user_id=False), first_in_session=True)
    assert failures_of(qa_author) == 0  # nothing typed yet: not an attempt
    signer = authenticate_signer(qa_author, SignatureInput("Authored", PASSWORD, username=" QA.Author "),
                                 first_in_session=True)
    assert (signer.user, signer.meaning) == (qa_author, "Authored")


@pytest.mark.req("P11-6")
def test_someone_elses_user_id_at_the_first_signing_is_refused_and_counted(qa_author, qa_approver):
    with pytest.raises(PermissionDenied, match="Signature refused"):
        authenticate_signer(qa_author, SignatureInput("Authored", PASSWORD, username="qa.approver"),
                            first_in_session=True)
    assert (failures_of(qa_author), failures_of(qa_approver)) == (1, 0)


@pytest.mark.req("P11-6")
def test_later_signings_in_the_session_need_only_the_password(qa_author):
    signer = authenticate_signer(qa_author, signature(qa_author, "Reviewed", with_user_id=False),
                                 first_in_session=False)
    assert signer.user == qa_author
    with pytest.raises(PermissionDenied, match="Signature refused"):
        authenticate_signer(qa_author, signature(qa_author, "Reviewed", password=WRONG, with_user_id=False),
                            first_in_session=False)


@pytest.mark.req("P11-3")
def test_only_a_known_meaning_can_be_signed(qa_author):
    with pytest.raises(RuleViolation, match="not a signature meaning"):
        authenticate_signer(qa_author, signature(qa_author, "Okayed"), first_in_session=True)


# ------------------------------------------------------------------- manifestation and linking


@pytest.mark.req("P11-3")
@pytest.mark.req("P11-4")
@pytest.mark.req("A11-13")
def test_a_signature_records_name_meaning_utc_time_and_the_exact_record_signed(qa_author, sponsor_a, fake_clock):
    agreement = draft_agreement(qa_author, sponsor_a)
    fake_clock.set(dt.datetime(2026, 3, 2, 14, 5, 9, 250000, tzinfo=dt.timezone(dt.timedelta(hours=1))))
    services.transition_quality_agreement(qa_author, agreement, "submit",
                                          signature=signature(qa_author, "Authored", comment="ready for QA review"))
    agreement.refresh_from_db()
    [(signed, valid)] = signatures.with_validity(agreement)
    assert valid
    assert (signed.signer, signed.printed_name, signed.meaning) == (qa_author, "Qa Author", "Authored")
    assert signed.signed_at == dt.datetime(2026, 3, 2, 13, 5, 9, 250000, tzinfo=dt.UTC)
    assert signed.signed_at.utcoffset() == dt.timedelta(0)
    assert (signed.record_type, signed.record_id, signed.record_label) == (
        "sponsors.qualityagreement", str(agreement.pk), agreement.number)
    assert signed.record_version == agreement.version == 2
    assert signed.content_hash == signatures.content_hash(agreement)
    assert len(signed.content_hash) == 64
    assert (signed.sponsor_id, signed.comment) == (sponsor_a.pk, "ready for QA review")
    event = AuditEvent.objects.get(action="sign", record_id=str(agreement.pk))
    assert json.loads(event.changes) == {"signature": [None, {"id": signed.pk, "meaning": "Authored",
                                                               "content_hash": signed.content_hash}]}
    assert event.correlation_id == signed.correlation_id


@pytest.mark.req("P11-4")
def test_editing_a_signed_record_makes_its_signature_no_longer_valid(qa_author, sponsor_a):
    agreement = submitted_agreement(qa_author, sponsor_a)
    assert [valid for _, valid in signatures.with_validity(agreement)] == [True]
    services.edit_quality_agreement(qa_author, agreement, deviation_notification_days=5,
                                    reason="sponsor asked for 5 days")
    agreement.refresh_from_db()
    assert [valid for _, valid in signatures.with_validity(agreement)] == [False]


@pytest.mark.req("P11-4")
def test_a_change_made_behind_the_services_back_also_invalidates_the_signatures(qa_author, qa_approver, sponsor_a):
    agreement = approved_agreement(qa_author, qa_approver, sponsor_a)
    assert [(s.meaning, v) for s, v in signatures.with_validity(agreement)] == [("Authored", True), ("Approved", True)]
    QualityAgreement.objects.filter(pk=agreement.pk).update(terms="Deviations notified within 30 days.")
    agreement.refresh_from_db()
    assert [(s.meaning, v) for s, v in signatures.with_validity(agreement)] == [("Authored", False),
                                                                                ("Approved", False)]


@pytest.mark.req("P11-4")
def test_workflow_status_changes_keep_signatures_valid(qa_author, qa_approver, sponsor_a):
    agreement = approved_agreement(qa_author, qa_approver, sponsor_a)
    records.update_record(qa_approver, agreement, action="transition", status="superseded", reason="replaced")
    agreement.refresh_from_db()
    assert all(valid for _, valid in signatures.with_validity(agreement))


@pytest.mark.req("P11-4")
def test_a_signature_copied_onto_another_record_is_not_valid_there(qa_author, sponsor_a):
    signed = submitted_agreement(qa_author, sponsor_a)
    other = draft_agreement(qa_author, sponsor_a, title="Quality agreement — commercial supply")
    [original] = signatures.signatures_of(signed)
    copied = Signature.objects.create(**{
        f.attname: getattr(original, f.attname) for f in Signature._meta.concrete_fields if f.attname != "id"
    } | {"record_id": str(other.pk), "record_label": other.number})
    assert signatures.with_validity(other) == [(copied, False)]


@pytest.mark.req("P11-7")
def test_each_refused_signing_says_how_many_attempts_are_left(qa_author, fake_clock):
    for left in (4, 3, 2, 1):
        with pytest.raises(PermissionDenied) as refused:
            authenticate_signer(qa_author, signature(qa_author, "Reviewed", password=WRONG), first_in_session=False)
        assert f"{left} attempt" in refused.value.message
    with pytest.raises(PermissionDenied) as refused:
        authenticate_signer(qa_author, signature(qa_author, "Reviewed", password=WRONG), first_in_session=False)
    assert refused.value.message.endswith(security.LOCKED_MESSAGE)
