"""The quality agreement's lifecycle: drafted, signed as authored, approved by someone else."""

import json

import pytest

from opencdmo.core import signatures
from opencdmo.core.domain.roles import Role
from opencdmo.core.errors import PermissionDenied, RuleViolation
from opencdmo.core.models import AuditEvent
from opencdmo.sponsors import selectors, services
from opencdmo.sponsors.workflows import quality_agreement_workflow
from tests.factories import approved_agreement, draft_agreement, signature, submitted_agreement


def transition(actor, agreement, action, **kwargs):
    return services.transition_quality_agreement(actor, agreement, action, **kwargs)


def statuses(*agreements):
    for agreement in agreements:
        agreement.refresh_from_db()
    return [a.status for a in agreements]


@pytest.fixture
def author_and_approver(make_user, sponsor_a):
    """Someone who holds both roles: allowed either step, never both on one agreement."""
    return make_user("qa.lead", Role.QA_SPECIALIST, Role.QA_APPROVER, sponsors=[sponsor_a])


@pytest.mark.req("P11-1f")
@pytest.mark.req("P11-3")
def test_an_agreement_is_authored_then_approved_and_supersedes_the_previous_one(qa_author, qa_approver, sponsor_a):
    first = approved_agreement(qa_author, qa_approver, sponsor_a)
    second = submitted_agreement(qa_author, sponsor_a, title="Quality agreement v2", deviation_notification_days=1)
    assert selectors.agreement_tasks(qa_approver) == [second]
    transition(qa_approver, second, "approve", signature=signature(qa_approver, "Approved"))
    assert statuses(first, second) == ["superseded", "approved"]
    assert [(s.meaning, s.printed_name) for s in signatures.signatures_of(second)] == [
        ("Authored", "Qa Author"), ("Approved", "Qa Approver")]
    superseded = AuditEvent.objects.filter(record_id=str(first.pk), action="transition").latest("id")
    assert json.loads(superseded.changes) == {"status": ["approved", "superseded"]}
    assert superseded.reason == f"superseded by {second.number}"


@pytest.mark.req("P11-1f")
def test_an_illegal_transition_is_refused_with_the_reason(qa_author, qa_approver, sponsor_a):
    agreement = draft_agreement(qa_author, sponsor_a)
    with pytest.raises(RuleViolation) as refused:
        transition(qa_approver, agreement, "approve", signature=signature(qa_approver, "Approved"))
    assert refused.value.message == (
        f"Cannot approve {agreement.number}: it is Draft, and only a record that is In review can be.")
    assert statuses(agreement) == ["draft"] and signatures.signatures_of(agreement) == []


@pytest.mark.req("P11-1f")
def test_a_void_agreement_cannot_be_brought_back(qa_author, sponsor_a):
    agreement = draft_agreement(qa_author, sponsor_a)
    transition(qa_author, agreement, "void", reason="drafted against the wrong template")
    with pytest.raises(RuleViolation, match="it is Void"):
        transition(qa_author, agreement, "submit", signature=signature(qa_author, "Authored"))
    with pytest.raises(RuleViolation, match="Void and can no longer be edited"):
        services.edit_quality_agreement(qa_author, agreement, terms="revived", reason="try")


@pytest.mark.req("A11-8")
@pytest.mark.parametrize(("action", "source"), [("return", "in_review"), ("void", "draft"), ("void", "in_review")])
def test_returning_or_voiding_needs_a_reason(qa_author, qa_approver, sponsor_a, action, source):
    agreement = (submitted_agreement if source == "in_review" else draft_agreement)(qa_author, sponsor_a)
    actor = qa_approver if action == "return" else qa_author
    with pytest.raises(RuleViolation, match="Give a reason"):
        transition(actor, agreement, action, reason="")
    assert statuses(agreement) == [source]
    transition(actor, agreement, action, reason="notification period missing")
    event = AuditEvent.objects.filter(record_id=str(agreement.pk), action="transition").latest("id")
    assert event.reason == "notification period missing"


@pytest.mark.req("P11-1g")
def test_each_step_needs_its_permission(qa_author, qa_approver, make_user, sponsor_a):
    viewer = make_user("acme.qa", Role.SPONSOR_VIEWER, sponsors=[sponsor_a])
    with pytest.raises(PermissionDenied, match=r"sponsors.author_agreement"):
        services.draft_quality_agreement(qa_approver, sponsor=sponsor_a, title="Not mine to write")
    agreement = draft_agreement(qa_author, sponsor_a)
    with pytest.raises(PermissionDenied, match=r"\(sponsors.author_agreement\)"):
        transition(qa_approver, agreement, "submit", signature=signature(qa_approver, "Authored"))
    transition(qa_author, agreement, "submit", signature=signature(qa_author, "Authored"))
    with pytest.raises(PermissionDenied, match=r"\(sponsors.approve_agreement\)"):
        transition(viewer, agreement, "approve", signature=signature(viewer, "Approved"))
    with pytest.raises(PermissionDenied, match=r"\(sponsors.author_agreement\)"):
        services.edit_quality_agreement(viewer, agreement, terms="edited by the sponsor", reason="why not")
    assert statuses(agreement) == ["in_review"]


@pytest.mark.req("P11-1g")
@pytest.mark.req("P11-6")
def test_a_signed_step_needs_a_signature_with_its_meaning(qa_author, sponsor_a):
    agreement = draft_agreement(qa_author, sponsor_a)
    with pytest.raises(RuleViolation, match="Submit for review needs your signature \\('Authored'\\)"):
        transition(qa_author, agreement, "submit")
    with pytest.raises(RuleViolation, match="sign with the meaning 'Authored'"):
        transition(qa_author, agreement, "submit", signature=signature(qa_author, "Approved"))
    assert statuses(agreement) == ["draft"]


@pytest.mark.req("P11-1g")
def test_the_author_cannot_approve_their_own_agreement(author_and_approver, qa_approver, sponsor_a):
    agreement = submitted_agreement(author_and_approver, sponsor_a)
    assert "approve" not in [t.name for t in quality_agreement_workflow.available(agreement, author_and_approver)]
    with pytest.raises(RuleViolation) as refused:
        transition(author_and_approver, agreement, "approve", signature=signature(author_and_approver, "Approved"))
    assert refused.value.message == (
        f"Author is not approver: you signed {agreement.number} as Authored, so someone else must do this.")
    assert statuses(agreement) == ["in_review"]
    transition(qa_approver, agreement, "approve", signature=signature(qa_approver, "Approved"))
    assert statuses(agreement) == ["approved"]


@pytest.mark.req("P11-1g")
def test_an_author_who_resubmits_after_a_return_still_cannot_approve(author_and_approver, qa_author, qa_approver,
                                                                     sponsor_a):
    agreement = draft_agreement(author_and_approver, sponsor_a)
    transition(author_and_approver, agreement, "submit", signature=signature(author_and_approver, "Authored"))
    transition(qa_approver, agreement, "return", reason="scope section missing")
    transition(qa_author, agreement, "submit", signature=signature(qa_author, "Authored"))
    with pytest.raises(RuleViolation, match="Author is not approver"):
        transition(author_and_approver, agreement, "approve", signature=signature(author_and_approver, "Approved"))


@pytest.mark.req("A11-8")
def test_an_agreement_in_review_can_be_edited_only_with_a_reason(qa_author, sponsor_a):
    agreement = submitted_agreement(qa_author, sponsor_a)
    with pytest.raises(RuleViolation, match="has left draft"):
        services.edit_quality_agreement(qa_author, agreement, deviation_notification_days=5)
    services.edit_quality_agreement(qa_author, agreement, deviation_notification_days=5, reason="sponsor request")
    agreement.refresh_from_db()
    assert agreement.deviation_notification_days == 5


@pytest.mark.req("P11-4")
def test_an_agreement_changed_after_it_was_signed_as_authored_is_signed_again_before_approval(
        qa_author, qa_approver, sponsor_a):
    agreement = submitted_agreement(qa_author, sponsor_a)
    services.edit_quality_agreement(qa_author, agreement, deviation_notification_days=5, reason="sponsor request")
    with pytest.raises(RuleViolation) as refused:
        transition(qa_approver, agreement, "approve", signature=signature(qa_approver, "Approved"))
    assert refused.value.message == (
        f"Approve what the author signed: {agreement.number} changed after it was signed as Authored; "
        "return it to draft so that it can be signed again.")
    transition(qa_approver, agreement, "return", reason="changed in review: to be signed again")
    transition(qa_author, agreement, "submit", signature=signature(qa_author, "Authored"))
    transition(qa_approver, agreement, "approve", signature=signature(qa_approver, "Approved"))
    agreement.refresh_from_db()
    assert [(s.meaning, valid) for s, valid in signatures.with_validity(agreement)] == [
        ("Authored", False), ("Authored", True), ("Approved", True)]


@pytest.mark.req("P11-4")
def test_an_approved_agreement_can_no_longer_be_edited(qa_author, qa_approver, sponsor_a):
    agreement = approved_agreement(qa_author, qa_approver, sponsor_a)
    with pytest.raises(RuleViolation, match="is Approved and can no longer be edited; draft a new agreement"):
        services.edit_quality_agreement(qa_author, agreement, terms="changed", reason="correction")
    assert all(valid for _, valid in signatures.with_validity(agreement))


@pytest.mark.req("A11-8")
def test_only_the_agreement_terms_can_be_edited(qa_author, sponsor_a, sponsor_b):
    agreement = draft_agreement(qa_author, sponsor_a)
    with pytest.raises(RuleViolation, match="cannot be edited: number, sponsor"):
        services.edit_quality_agreement(qa_author, agreement, number="QAG-2020-0001", sponsor=sponsor_b)
