"""A controlled document's version lifecycle: every legal step with its signature, every illegal one
refused with a reason, segregation of duties (author ≠ reviewer ≠ approver), one open version."""

import datetime as dt

import pytest

from opencdmo.core.errors import PermissionDenied, RuleViolation
from opencdmo.core.models import AuditEvent, Signature
from opencdmo.documents import selectors, services
from opencdmo.documents.models import DocumentVersion
from tests.factories import signature

from .builders import approve, draft, effective_document, next_version

pytestmark = pytest.mark.req("P11-1f")


def test_new_document_is_numbered_per_type_and_starts_as_draft_version_1_0(author):
    sop, v1 = draft(author)
    wi, _ = draft(author, "CliniMACS Prodigy operation", doc_type="work_instruction")
    sop2, _ = draft(author, "Gowning for grade B")
    assert (sop.number, wi.number, sop2.number) == ("SOP-0001", "WI-0001", "SOP-0002")
    assert (v1.number, v1.status, v1.label) == ("SOP-0001-v1.0", "draft", "1.0")
    assert sop.review_interval_months == 24
    assert AuditEvent.objects.filter(record_type="documents.documentversion", action="create").count() == 3


@pytest.mark.req("P11-1g")
def test_author_reviewer_approver_sign_and_the_version_takes_effect(author, reviewer, approver):
    document, version = effective_document(author, reviewer, approver)
    version.refresh_from_db()
    assert version.status == "effective"
    meanings = list(Signature.objects.filter(record_type="documents.documentversion", record_id=str(version.pk))
                    .values_list("meaning", "signer__username"))
    assert meanings == [("Authored", "sup.santos"), ("Reviewed", "qa.patel"), ("Approved", "qp.dubois")]
    assert selectors.effective_version(document) == version
    document.refresh_from_db()
    assert document.next_review_due == dt.date(2028, 3, 2)


@pytest.mark.req("P11-1g")
def test_the_author_cannot_review_their_own_version(make_user, author, sponsor_a):
    from opencdmo.core.domain.roles import Role  # noqa: PLC0415

    qa = make_user("qa.both", Role.QA_SPECIALIST, sponsors=[sponsor_a])
    _, version = draft(qa)
    services.transition_version(qa, version, "submit", signature=signature(qa, "Authored"))
    with pytest.raises(RuleViolation, match="The reviewer is not the author"):
        services.transition_version(qa, version, "review", signature=signature(qa, "Reviewed"))
    version.refresh_from_db()
    assert version.status == "in_review"


@pytest.mark.req("P11-1g")
def test_the_reviewer_cannot_also_approve(make_user, author, sponsor_a):
    from opencdmo.core.domain.roles import Role  # noqa: PLC0415

    both = make_user("qa.lead", Role.QA_SPECIALIST, Role.QA_APPROVER, sponsors=[sponsor_a])
    _, version = draft(author)
    services.transition_version(author, version, "submit", signature=signature(author, "Authored"))
    services.transition_version(both, version, "review", signature=signature(both, "Reviewed"))
    with pytest.raises(RuleViolation, match="neither the author nor the reviewer"):
        services.transition_version(both, version, "approve", signature=signature(both, "Approved"))


def test_approving_before_review_is_refused_with_the_state(author, approver):
    _, version = draft(author)
    services.transition_version(author, version, "submit", signature=signature(author, "Authored"))
    with pytest.raises(RuleViolation, match="it is In review, and only a record that is Reviewed can be"):
        services.transition_version(approver, version, "approve", signature=signature(approver, "Approved"))


def test_an_operator_may_not_author_or_review(operator, author):
    with pytest.raises(PermissionDenied, match="documents.author"):
        draft(operator)
    _, version = draft(author)
    services.transition_version(author, version, "submit", signature=signature(author, "Authored"))
    with pytest.raises(PermissionDenied, match="documents.review"):
        services.transition_version(operator, version, "review", signature=signature(operator, "Reviewed"))


def test_submit_needs_content_and_an_effective_date(author):
    _, version = draft(author, content="", effective_date=None)
    with pytest.raises(RuleViolation, match="effective date"):
        services.transition_version(author, version, "submit", signature=signature(author, "Authored"))
    services.edit_version(author, version, effective_date=dt.date(2026, 3, 5))
    with pytest.raises(RuleViolation, match="no content"):
        services.transition_version(author, version, "submit", signature=signature(author, "Authored"))


def test_return_needs_a_reason_and_a_returned_version_is_edited_and_signed_again(author, reviewer, approver):
    _, version = draft(author)
    services.transition_version(author, version, "submit", signature=signature(author, "Authored"))
    with pytest.raises(RuleViolation, match="reason"):
        services.transition_version(reviewer, version, "return")
    services.transition_version(reviewer, version, "return", reason="Step 4 misses the BSC purge time.")
    services.edit_version(author, version, content="1. Purge the BSC for 15 minutes.")
    approve(version, author, reviewer, approver)
    version.refresh_from_db()
    assert version.status == "effective"


def test_only_a_draft_can_be_edited(author):
    _, version = draft(author)
    services.transition_version(author, version, "submit", signature=signature(author, "Authored"))
    with pytest.raises(RuleViolation, match="only a draft can be edited"):
        services.edit_version(author, version, content="changed behind the reviewer's back")


def test_unknown_fields_and_actions_are_refused(author):
    _, version = draft(author)
    with pytest.raises(RuleViolation, match="cannot be edited: status"):
        services.edit_version(author, version, status="effective")
    with pytest.raises(RuleViolation, match="no action 'publish'"):
        services.transition_version(author, version, "publish")


def test_signing_with_a_wrong_password_changes_nothing(author):
    _, version = draft(author)
    with pytest.raises(PermissionDenied, match="Signature refused"):
        services.transition_version(author, version, "submit",
                                    signature=signature(author, "Authored", password="wrong"))
    version.refresh_from_db()
    assert version.status == "draft"


def test_new_version_copies_content_bumps_the_number_and_only_one_is_open(author, reviewer, approver):
    document, v1 = effective_document(author, reviewer, approver)
    v2 = next_version(author, document)
    assert (v2.label, v2.content, v2.training_required) == ("2.0", v1.content, True)
    with pytest.raises(RuleViolation, match="still Draft"):
        next_version(author, document)
    services.transition_version(author, v2, "withdraw", reason="wrong template")
    v11 = next_version(author, document, major_change=False)
    assert (v11.label, v11.training_required) == ("2.1", False)


def test_one_open_version_per_document_is_also_a_database_rule(author):
    from django.db import IntegrityError, transaction  # noqa: PLC0415

    document, version = draft(author)
    with pytest.raises(IntegrityError), transaction.atomic():
        DocumentVersion.objects.create(
            number="SOP-0001-v9.0", status="draft", document=document, major=9, minor=0,
            created_at=version.created_at, modified_at=version.created_at, created_by=author)


@pytest.mark.req("P11-1f")
def test_obsolete_needs_qa_a_reason_and_a_signature_and_ends_effectiveness(author, reviewer, approver):
    document, version = effective_document(author, reviewer, approver)
    draft_v2 = next_version(author, document)
    with pytest.raises(PermissionDenied):
        services.transition_document(author, document, "make_obsolete",
                                     signature=signature(author, "Approved"), reason="replaced")
    with pytest.raises(RuleViolation, match="reason"):
        services.transition_document(approver, document, "make_obsolete", signature=signature(approver, "Approved"))
    services.transition_document(approver, document, "make_obsolete", signature=signature(approver, "Approved"),
                                 reason="Replaced by SOP-0009 (CC-2026-0004).")
    document.refresh_from_db()
    version.refresh_from_db()
    draft_v2.refresh_from_db()
    assert (document.status, version.status, draft_v2.status) == ("obsolete", "obsolete", "withdrawn")
    assert selectors.effective_version(document) is None
    with pytest.raises(RuleViolation, match="obsolete: it may no longer be used"):
        selectors.require_effective(document)
    with pytest.raises(RuleViolation, match="obsolete"):
        next_version(author, document)


def test_require_effective_says_when_the_approved_version_takes_effect(author, reviewer, approver):
    document, version = draft(author, effective_date=dt.date(2026, 3, 20))
    with pytest.raises(RuleViolation, match=r"has no effective version yet\.$"):
        selectors.require_effective(document)
    approve(version, author, reviewer, approver)
    with pytest.raises(RuleViolation, match=r"SOP-0001-v1.0 takes effect 2026-03-20"):
        selectors.require_effective(document)
