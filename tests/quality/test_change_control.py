"""Change control (Q10-1 change management): lifecycle, gates, sponsor approval, the link for later modules."""

import datetime as dt

import pytest

from opencdmo.core.domain.roles import Role
from opencdmo.core.errors import NotFound, PermissionDenied, RuleViolation
from opencdmo.core.records import update_record
from opencdmo.quality import selectors, services
from opencdmo.quality.models import ChangeControl, ChangeTask, SponsorApproval
from opencdmo.quality.workflows import change_workflow
from opencdmo.sponsors import services as sponsor_services
from tests.factories import draft_agreement, signature, submitted_agreement

from .change_builders import (
    agreement_requiring_approval,
    assessed,
    awaiting_approval,
    proposed,
    qa_approved,
    submitted,
)

pytestmark = [pytest.mark.django_db, pytest.mark.req("Q10-1")]


def _approve_for_sponsor(lead, approval):
    return services.decide_sponsor_approval(lead, approval, "approve", signature=signature(lead, "Approved"))


def test_a_change_goes_from_proposal_through_sponsor_and_qa_approval_to_closure(
        proposer, qa, qa_approver_ab, sponsor_a, sponsor_a_lead):
    agreement_requiring_approval(sponsor_a)
    change = submitted(proposed(proposer, sponsor_a), proposer)
    assert change.status == "assessment"
    assessed(change, qa, sponsors=[sponsor_a])
    awaiting_approval(change, qa)
    approval = change.sponsor_approvals.get()
    assert (approval.status, approval.sponsor) == ("pending", sponsor_a)

    _approve_for_sponsor(sponsor_a_lead, approval)
    qa_approved(change, qa_approver_ab)
    services.transition_change(proposer, change, "implement")
    task = services.add_change_task(qa, change, description="Revise the MBR step 7", owner=proposer,
                                    due_date=dt.date(2026, 4, 1))
    services.complete_change_task(proposer, task)
    services.transition_change(qa_approver_ab, change, "close", signature=signature(qa_approver_ab, "Approved"))

    change.refresh_from_db()
    assert change.status == "closed" and change.closed_at is not None
    approval.refresh_from_db()
    assert (approval.status, approval.decided_by) == ("approved", sponsor_a_lead)
    from opencdmo.core.signatures import with_validity  # noqa: PLC0415

    assert [(s.meaning, s.signer, valid) for s, valid in with_validity(change)] == [
        ("Authored", proposer, True), ("Approved", qa_approver_ab, True), ("Approved", qa_approver_ab, True)]
    assert [(s.meaning, s.signer) for s, _ in with_validity(approval)] == [("Approved", sponsor_a_lead)]


def _in_state(state, proposer, qa, approver, sponsor):
    change = proposed(proposer, sponsor)
    if state == "draft":
        return change
    if state == "cancelled":
        return services.transition_change(proposer, change, "cancel", reason="Superseded by a wider change")
    change = submitted(change, proposer)
    if state == "assessment":
        return change
    if state == "rejected":
        return services.transition_change(qa, change, "reject", reason="Not justified by the data")
    change = awaiting_approval(assessed(change, qa), qa)
    if state == "awaiting_approval":
        return change
    change = qa_approved(change, approver)
    if state == "approved":
        return change
    change = services.transition_change(proposer, change, "implement")
    if state == "implementation":
        return change
    return services.transition_change(approver, change, "close", signature=signature(approver, "Approved"))


LEGAL = {
    "draft": {"submit", "cancel"},
    "assessment": {"request_approval", "reject", "cancel"},
    "awaiting_approval": {"return_to_assessment", "approve", "reject", "cancel"},
    "approved": {"implement", "close"},
    "implementation": {"close"},
    "closed": set(), "rejected": set(), "cancelled": set(),
}


@pytest.mark.parametrize("state", list(LEGAL))
def test_every_action_not_allowed_from_a_state_is_refused_with_the_reason(state, proposer, qa, qa_approver_ab,
                                                                           sponsor_a):
    change = _in_state(state, proposer, qa, qa_approver_ab, sponsor_a)
    assert change.status == state
    for t in change_workflow.transitions:
        if t.name in LEGAL[state]:
            continue
        with pytest.raises(RuleViolation, match="Cannot .* only a record that is"):
            services.transition_change(qa_approver_ab, change, t.name, reason="probe",
                                       signature=signature(qa_approver_ab, t.signature) if t.signature else None)
        change.refresh_from_db()
        assert change.status == state


def test_every_declared_transition_is_legal_from_its_sources():
    declared = {(s, t.name) for t in change_workflow.transitions for s in t.sources}
    assert declared == {(s, a) for s, actions in LEGAL.items() for a in actions}


@pytest.mark.parametrize(("setup", "message"), [
    ("unclassified", "Classify"),
    ("no_impacts", "at least one impact"),
    ("unassessed_impact", "Write the assessment of every impact row"),
])
def test_approval_is_requested_only_for_a_complete_assessment(setup, message, proposer, qa, sponsor_a):
    change = submitted(proposed(proposer, sponsor_a), proposer)
    if setup != "unclassified":
        services.assess_change(qa, change, classification="minor")
    if setup in ("unclassified", "unassessed_impact"):
        services.add_impact(qa, change, area="document", assessment="" if setup == "unassessed_impact" else "ok")
    with pytest.raises(RuleViolation, match=message):
        awaiting_approval(change, qa)
    change.refresh_from_db()
    assert change.status == "assessment"
    assert not SponsorApproval.objects.filter(change=change).exists()


def test_sponsor_approval_is_required_where_the_approved_agreement_says_so(proposer, qa, qa_approver_ab, sponsor_a):
    agreement = agreement_requiring_approval(sponsor_a, requires=True)
    change = awaiting_approval(assessed(submitted(proposed(proposer, sponsor_a), proposer), qa), qa)
    approval = change.sponsor_approvals.get()
    assert approval.quality_agreement == agreement.number
    with pytest.raises(RuleViolation, match="Waiting for the sponsor's approval"):
        qa_approved(change, qa_approver_ab)
    change.refresh_from_db()
    assert change.status == "awaiting_approval"


def test_no_sponsor_approval_where_the_agreement_does_not_ask_for_it(proposer, qa, qa_approver_ab, sponsor_a):
    agreement_requiring_approval(sponsor_a, requires=False)
    change = awaiting_approval(assessed(submitted(proposed(proposer, sponsor_a), proposer), qa), qa)
    assert not change.sponsor_approvals.exists()
    assert qa_approved(change, qa_approver_ab).status == "approved"


@pytest.mark.parametrize("agreement_state", ["draft", "in_review"])
def test_an_agreement_not_yet_approved_does_not_count(agreement_state, proposer, qa, sponsor_a):
    build = draft_agreement if agreement_state == "draft" else submitted_agreement
    build(qa, sponsor_a, sponsor_approval_for_changes=True)
    change = awaiting_approval(assessed(submitted(proposed(proposer, sponsor_a), proposer), qa), qa)
    assert not change.sponsor_approvals.exists()


def test_a_superseded_agreement_does_not_count(proposer, qa, qa_approver_ab, sponsor_a):
    old = agreement_requiring_approval(sponsor_a, requires=True)
    agreement_requiring_approval(sponsor_a, requires=False, prefix="acme2")  # approving it supersedes the old one
    old.refresh_from_db()
    assert old.status == "superseded"
    change = awaiting_approval(assessed(submitted(proposed(proposer, sponsor_a), proposer), qa), qa)
    assert not change.sponsor_approvals.exists()


def test_a_cdmo_wide_change_asks_each_touched_sponsor_that_requires_it(proposer, qa, sponsor_a, sponsor_b):
    agreement_requiring_approval(sponsor_a, requires=True)
    agreement_requiring_approval(sponsor_b, requires=True)
    change = submitted(proposed(qa, None, title="Replace the shared grade B suite's HEPA filters", kind="equipment"),
                       qa)
    awaiting_approval(assessed(change, qa, sponsors=[sponsor_a, sponsor_b]), qa)
    assert sorted(change.sponsor_approvals.values_list("sponsor__code", flat=True)) == ["ACME", "BETA"]


def test_only_that_sponsors_users_holding_the_permission_can_decide(
        proposer, qa, qa_approver_ab, sponsor_a, sponsor_b, sponsor_b_lead, make_user):
    agreement_requiring_approval(sponsor_a)
    change = awaiting_approval(assessed(submitted(proposed(proposer, sponsor_a), proposer), qa), qa)
    approval = change.sponsor_approvals.get()
    with pytest.raises(NotFound):  # another sponsor's quality lead does not find it at all
        _approve_for_sponsor(sponsor_b_lead, approval)
    with pytest.raises(PermissionDenied, match="quality.sponsor_approve_change"):  # CDMO QA cannot sign for them
        services.decide_sponsor_approval(qa_approver_ab, approval, "approve",
                                         signature=signature(qa_approver_ab, "Approved"))
    approval.refresh_from_db()
    assert approval.status == "pending" and approval.decided_by is None
    with pytest.raises(RuleViolation, match="Waiting for the sponsor's approval"):
        qa_approved(change, qa_approver_ab)


def test_a_sponsor_rejection_blocks_qa_approval_and_sends_the_change_back(
        proposer, qa, qa_approver_ab, sponsor_a, sponsor_a_lead):
    agreement_requiring_approval(sponsor_a)
    change = awaiting_approval(assessed(submitted(proposed(proposer, sponsor_a), proposer), qa), qa)
    approval = change.sponsor_approvals.get()
    with pytest.raises(RuleViolation, match="Give a reason"):
        services.decide_sponsor_approval(sponsor_a_lead, approval, "reject",
                                         signature=signature(sponsor_a_lead, "Rejected"))
    services.decide_sponsor_approval(sponsor_a_lead, approval, "reject", reason="Comparability data missing",
                                     signature=signature(sponsor_a_lead, "Rejected"))
    approval.refresh_from_db()
    assert (approval.status, approval.comment) == ("rejected", "Comparability data missing")
    with pytest.raises(RuleViolation, match="rejected"):
        qa_approved(change, qa_approver_ab)

    services.transition_change(qa, change, "return_to_assessment", reason="Add comparability data")
    services.assess_change(qa, change, risk_summary="Comparability study of 3 lots added.")
    awaiting_approval(change, qa)
    approval.refresh_from_db()
    assert approval.status == "pending" and approval.decided_by is None  # asked again
    _approve_for_sponsor(sponsor_a_lead, approval)
    assert qa_approved(change, qa_approver_ab).status == "approved"


def test_a_decision_waits_until_the_change_awaits_approval(proposer, qa, sponsor_a, sponsor_a_lead):
    agreement_requiring_approval(sponsor_a)
    change = awaiting_approval(assessed(submitted(proposed(proposer, sponsor_a), proposer), qa), qa)
    approval = change.sponsor_approvals.get()
    services.transition_change(qa, change, "return_to_assessment", reason="Impact on filing to be checked")
    approval.refresh_from_db()
    assert approval.status == "withdrawn"
    with pytest.raises(RuleViolation):
        _approve_for_sponsor(sponsor_a_lead, approval)


@pytest.mark.req("P11-1g")
def test_the_proposer_cannot_approve_their_own_change(make_user, qa, sponsor_a):
    both = make_user("qa.both", Role.QA_SPECIALIST, Role.QA_APPROVER, sponsors=[sponsor_a])
    change = awaiting_approval(assessed(submitted(proposed(both, sponsor_a), both), qa), qa)
    with pytest.raises(RuleViolation, match="Segregation of duties"):
        qa_approved(change, both)
    assert ChangeControl.objects.get(pk=change.pk).status == "awaiting_approval"


@pytest.mark.req("P11-4")
def test_approval_needs_the_proposal_the_proposer_signed(proposer, qa, qa_approver_ab, sponsor_a):
    change = awaiting_approval(assessed(submitted(proposed(proposer, sponsor_a), proposer), qa), qa)
    update_record(proposer, change, reason="changed behind the proposer's back", description="MOI 2 → 4")
    with pytest.raises(RuleViolation, match="changed after it was signed"):
        qa_approved(change, qa_approver_ab)


def test_the_assessment_does_not_invalidate_the_proposers_signature(proposer, qa, sponsor_a):
    change = awaiting_approval(assessed(submitted(proposed(proposer, sponsor_a), proposer), qa), qa)
    from opencdmo.core.signatures import with_validity  # noqa: PLC0415

    assert [(s.meaning, valid) for s, valid in with_validity(change)] == [("Authored", True)]


def test_only_the_proposer_or_qa_may_cancel(proposer, make_user, sponsor_a):
    change = proposed(proposer, sponsor_a)
    colleague = make_user("sup.colleague", Role.SUPERVISOR, sponsors=[sponsor_a])
    with pytest.raises(RuleViolation, match="Only the proposer"):
        services.transition_change(colleague, change, "cancel", reason="not mine")
    with pytest.raises(RuleViolation, match="Give a reason"):
        services.transition_change(proposer, change, "cancel")
    assert services.transition_change(proposer, change, "cancel", reason="duplicate").status == "cancelled"


def test_an_open_task_blocks_closure(proposer, qa, qa_approver_ab, sponsor_a):
    change = qa_approved(awaiting_approval(assessed(submitted(proposed(proposer, sponsor_a), proposer), qa), qa),
                         qa_approver_ab)
    task = services.add_change_task(qa, change, description="Retrain operators", owner=proposer,
                                    due_date=dt.date(2026, 4, 1))
    with pytest.raises(RuleViolation, match="not done yet"):
        services.transition_change(qa_approver_ab, change, "close", signature=signature(qa_approver_ab, "Approved"))
    services.complete_change_task(proposer, task)
    assert services.transition_change(qa_approver_ab, change, "close",
                                      signature=signature(qa_approver_ab, "Approved")).status == "closed"


def test_a_task_that_produces_a_version_must_name_it(proposer, qa, qa_approver_ab, sponsor_a):
    change = qa_approved(awaiting_approval(assessed(submitted(proposed(proposer, sponsor_a), proposer), qa), qa),
                         qa_approver_ab)
    task = services.add_change_task(qa, change, description="New agreement version", owner=proposer,
                                    due_date=dt.date(2026, 4, 1), produces="sponsors.qualityagreement")
    with pytest.raises(RuleViolation, match="Name the new"):
        services.complete_change_task(proposer, task)
    new_version = draft_agreement(qa, sponsor_a)
    services.complete_change_task(proposer, task, reference=new_version.number)
    task.refresh_from_db()
    assert (task.done, task.record_label) == (True, new_version.number)


def test_only_the_owner_or_qa_completes_a_task(proposer, qa, qa_approver_ab, sponsor_a, make_user):
    change = qa_approved(awaiting_approval(assessed(submitted(proposed(proposer, sponsor_a), proposer), qa), qa),
                         qa_approver_ab)
    task = services.add_change_task(qa, change, description="Retrain", owner=qa, due_date=dt.date(2026, 4, 1))
    with pytest.raises(PermissionDenied, match="owner"):
        services.complete_change_task(proposer, task)
    assert not ChangeTask.objects.get(pk=task.pk).done


def test_approved_change_control_names_why_a_change_cannot_be_used(proposer, qa, qa_approver_ab, sponsor_a,
                                                                  sponsor_b_lead):
    change = awaiting_approval(assessed(submitted(proposed(proposer, sponsor_a), proposer), qa), qa)
    with pytest.raises(RuleViolation, match="Awaiting approval: a new version can be made effective only"):
        selectors.approved_change_control(None, change.number)
    with pytest.raises(RuleViolation, match="No change control CC-1999-0001"):
        selectors.approved_change_control(None, "CC-1999-0001")
    qa_approved(change, qa_approver_ab)
    assert selectors.approved_change_control(None, change.number) == change
    assert selectors.approved_change_control(proposer, change.number) == change
    with pytest.raises(RuleViolation, match="No change control"):  # another sponsor's user does not find it
        selectors.approved_change_control(sponsor_b_lead, change.number)


def test_link_implementation_records_the_version_a_change_produced(proposer, qa, qa_approver_ab, sponsor_a):
    change = qa_approved(awaiting_approval(assessed(submitted(proposed(proposer, sponsor_a), proposer), qa), qa),
                         qa_approver_ab)
    planned = services.add_change_task(qa, change, description="Issue agreement version 2", owner=qa,
                                       due_date=dt.date(2026, 4, 1), produces="sponsors.qualityagreement")
    version = draft_agreement(qa, sponsor_a)
    linked = services.link_implementation(qa, change, version)
    assert linked.pk == planned.pk and linked.record_id == str(version.pk)
    another = draft_agreement(qa, sponsor_a, title="Second")
    extra = services.link_implementation(qa, change, another)
    assert extra.pk != planned.pk and extra.done and extra.record_label == another.number


def test_link_implementation_refuses_a_change_not_approved(proposer, qa, sponsor_a):
    change = submitted(proposed(proposer, sponsor_a), proposer)
    with pytest.raises(RuleViolation, match="only an approved change"):
        services.link_implementation(qa, change, draft_agreement(qa, sponsor_a))
    assert not change.tasks.exists()


@pytest.mark.req("P11-1d")
def test_a_sponsors_change_cannot_touch_another_sponsor(proposer, qa, sponsor_a, sponsor_b):
    change = submitted(proposed(proposer, sponsor_a), proposer)
    with pytest.raises(RuleViolation, match="CDMO-wide change"):
        services.add_impact(qa, change, area="sponsor", sponsor=sponsor_b, assessment="x")
    assert not change.impacts.exists()


def test_an_impact_on_a_sponsors_record_is_that_sponsors(proposer, qa, sponsor_a):
    agreement = draft_agreement(qa, sponsor_a)
    change = submitted(proposed(qa, None, kind="document"), qa)
    impact = services.add_impact(qa, change, area="document", record_type="sponsors.qualityagreement",
                                 reference=agreement.number, assessment="Section 7 changes.")
    assert (impact.sponsor, impact.record_label) == (sponsor_a, agreement.number)


@pytest.mark.parametrize(("fields", "message"), [
    ({"area": "nowhere"}, "Area must be one of"),
    ({"area": "document", "record_type": "no.such", "reference": "X"}, "not a kind of record"),
    ({"area": "document", "record_type": "sponsors.qualityagreement", "reference": "QAG-0000-0000"}, "No "),
    ({"area": "sponsor"}, "Name the sponsor"),
])
def test_a_bad_impact_is_refused_and_nothing_is_added(fields, message, proposer, qa, sponsor_a):
    change = submitted(proposed(proposer, sponsor_a), proposer)
    with pytest.raises((RuleViolation, NotFound), match=message):
        services.add_impact(qa, change, assessment="x", **fields)
    assert not change.impacts.exists()


def test_the_proposal_is_edited_only_as_a_draft(proposer, sponsor_a):
    change = proposed(proposer, sponsor_a)
    services.edit_change(proposer, change, title="Increase MOI to 3 (lots from June)")
    submitted(change, proposer)
    with pytest.raises(RuleViolation, match="only as a draft"):
        services.edit_change(proposer, change, title="Sneaky", reason="x")
    assert ChangeControl.objects.get(pk=change.pk).title == "Increase MOI to 3 (lots from June)"


def test_a_regulatory_filing_needs_its_notes(proposer, qa, sponsor_a):
    change = submitted(proposed(proposer, sponsor_a), proposer)
    with pytest.raises(RuleViolation, match="which filing"):
        services.assess_change(qa, change, regulatory_filing=True)
    services.assess_change(qa, change, regulatory_filing=True, regulatory_notes="IND amendment (CMC)")
    assert ChangeControl.objects.get(pk=change.pk).regulatory_filing


def test_my_tasks_show_each_person_what_waits_for_them(proposer, qa, qa_approver_ab, sponsor_a, sponsor_a_lead,
                                                      sponsor_b_lead):
    from opencdmo.core.tasks import tasks_for  # noqa: PLC0415

    agreement_requiring_approval(sponsor_a)
    change = submitted(proposed(proposer, sponsor_a), proposer)
    assert any(t.title == "Assess the change" for t in tasks_for(qa))
    awaiting_approval(assessed(change, qa, sponsors=[sponsor_a]), qa)
    lead_tasks = [t for t in tasks_for(sponsor_a_lead) if change.number in t.record]
    assert [t.title for t in lead_tasks] == ["Approve or reject the change for your sponsor"]
    assert not [t for t in tasks_for(sponsor_b_lead) if change.number in t.record]
    assert any(change.number in t.record and t.title == "Approve the change" for t in tasks_for(qa_approver_ab))


def test_agreement_selectors_name_the_agreement_in_force(qa, qa_approver_ab, sponsor_a):
    from opencdmo.sponsors import selectors as sponsor_selectors  # noqa: PLC0415

    assert sponsor_selectors.requires_change_approval(sponsor_a) is None
    agreement = agreement_requiring_approval(sponsor_a)
    assert sponsor_selectors.approved_agreement(sponsor_a) == agreement
    assert sponsor_selectors.requires_change_approval(sponsor_a) == agreement
    sponsor_services.edit_quality_agreement  # noqa: B018  (agreements change only through their workflow)
