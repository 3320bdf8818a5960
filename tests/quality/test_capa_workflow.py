"""The CAPA lifecycle (Q10-1): every legal step works, every illegal one is refused with a reason;
actions are done by their owner and verified by someone else; the closure gate: all actions
verified or cancelled and effectiveness verified or justified; segregation of duties."""

import datetime as dt

import pytest
from django.test import override_settings

from opencdmo.core.errors import PermissionDenied, RuleViolation
from opencdmo.core.models import AuditEvent
from opencdmo.quality import selectors, services
from opencdmo.quality.models import Capa, CapaAction, DeviationCapa
from opencdmo.quality.workflows import CAPA_STATES, capa_workflow
from tests.factories import signature

from . import builders

pytestmark = pytest.mark.req("Q10-1")


@pytest.fixture
def team(classifier, investigator, closer, second_approver, sponsor_a):
    """creator: QA specialist; owner of the CAPA and its action: the investigator; approver / closer: QA."""
    return {"creator": classifier, "owner": investigator, "approver": closer, "closer": second_approver,
            "sponsor": sponsor_a}


def _draft(t):
    capa = builders.capa(t["creator"], t["sponsor"], owner=t["owner"])
    builders.action(t["creator"], capa, t["owner"])
    return capa


def _in(state, t):
    capa = _draft(t)
    if state == "draft":
        return capa
    if state == "cancelled":
        return services.transition_capa(t["approver"], capa, "cancel", reason="Raised in error")
    builders.approved(capa, t["approver"])
    if state == "implementing":
        return capa
    action = capa.actions.get()
    services.complete_capa_action(t["owner"], action, evidence="SOP-COUR-004 v2 effective 2026-03-10")
    services.verify_capa_action(t["creator"], action)
    services.complete_implementation(t["creator"], capa)
    if state == "effectiveness_check":
        return capa
    services.record_effectiveness(t["creator"], capa, result="effective", evidence="20 shipments in range")
    return services.transition_capa(t["closer"], capa, "close", signature=signature(t["closer"], "Approved"))


def _take(capa, action, t):
    capa.refresh_from_db()
    if action == "complete":
        for pending in capa.actions.filter(status="open", capa__status="implementing"):
            services.complete_capa_action(t["owner"], pending, evidence="done")
            services.verify_capa_action(t["creator"], pending)
        return services.complete_implementation(t["creator"], capa)
    if action == "reopen":
        return services.record_effectiveness(t["creator"], capa, result="not_effective",
                                             evidence="2 of 20 shipments above 8 °C")
    if action == "close":
        if capa.status == "effectiveness_check":
            services.record_effectiveness(t["creator"], capa, result="effective", evidence="all in range")
        return services.transition_capa(t["closer"], capa, "close", signature=signature(t["closer"], "Approved"))
    if action == "approve":
        return builders.approved(capa, t["approver"])
    return services.transition_capa(t["approver"], capa, "cancel", reason="Superseded by CAPA for all couriers")


LEGAL = [(state, tr.name, tr.target) for tr in capa_workflow.transitions for state in tr.sources]
ILLEGAL = [(state, tr.name) for tr in capa_workflow.transitions for state in CAPA_STATES if state not in tr.sources]


@pytest.mark.parametrize(("state", "action", "target"), LEGAL)
def test_every_legal_step_works(state, action, target, team):
    capa = _in(state, team)
    _take(capa, action, team)
    capa.refresh_from_db()
    assert capa.status == target


@pytest.mark.parametrize(("state", "action"), ILLEGAL)
def test_every_illegal_step_is_refused_with_a_reason(state, action, team):
    capa = _in(state, team)
    events = AuditEvent.objects.count()
    with pytest.raises(RuleViolation) as refused:
        _take(capa, action, team)
    assert any(why in refused.value.message for why in ("only a record that is", "effectiveness is checked after"))
    capa.refresh_from_db()
    assert capa.status == state
    assert AuditEvent.objects.count() == events


def test_the_creator_cannot_approve_their_own_plan(make_user, sponsor_a, team):
    from opencdmo.core.domain.roles import Role  # noqa: PLC0415

    creator = make_user("qp.creator", Role.QA_APPROVER, sponsors=[sponsor_a])
    capa = builders.capa(creator, sponsor_a, owner=team["owner"])
    builders.action(creator, capa, team["owner"])
    with pytest.raises(RuleViolation, match="CAPA approver is not its creator"):
        builders.approved(capa, creator)


def test_a_plan_without_actions_cannot_be_approved(team):
    capa = builders.capa(team["creator"], team["sponsor"], owner=team["owner"])
    with pytest.raises(RuleViolation, match="Plan empty"):
        builders.approved(capa, team["approver"])


def test_a_capa_cannot_close_with_an_open_action(team):
    capa = _in("effectiveness_check", team)
    services.record_effectiveness(team["creator"], capa, result="effective", evidence="in range")
    CapaAction.objects.create(capa=capa, kind="preventive", description="Late extra action", owner=team["owner"],
                              due_date=dt.date(2026, 4, 1))  # as if added behind the gate's back
    with pytest.raises(RuleViolation, match="Actions not done: 1 action"):
        services.transition_capa(team["closer"], capa, "close", signature=signature(team["closer"], "Approved"))


def test_implementation_is_complete_only_when_every_action_is_verified_or_cancelled(team):
    capa = _in("implementing", team)
    action = capa.actions.get()
    with pytest.raises(RuleViolation, match="Actions not done"):
        services.complete_implementation(team["creator"], capa)
    services.complete_capa_action(team["owner"], action, evidence="done")
    with pytest.raises(RuleViolation, match="awaiting verification"):
        services.complete_implementation(team["creator"], capa)
    services.cancel_capa_action(team["creator"], action, reason="Replaced")
    with pytest.raises(RuleViolation, match="Nothing implemented"):
        services.complete_implementation(team["creator"], capa)


def test_a_capa_cannot_close_without_effectiveness(team):
    capa = _in("effectiveness_check", team)
    with pytest.raises(RuleViolation, match="Effectiveness not shown"):
        services.transition_capa(team["closer"], capa, "close", signature=signature(team["closer"], "Approved"))


def test_effectiveness_justified_allows_closure_with_the_justification(team):
    capa = _in("effectiveness_check", team)
    with pytest.raises(RuleViolation, match="A justification"):
        services.record_effectiveness(team["creator"], capa, result="justified", evidence=" ")
    services.record_effectiveness(team["creator"], capa, result="justified",
                                  evidence="Product discontinued; no further shipments to verify on.")
    services.transition_capa(team["closer"], capa, "close", signature=signature(team["closer"], "Approved"))
    capa.refresh_from_db()
    assert capa.status == "closed" and capa.closed_at is not None


def test_not_effective_goes_back_to_implementing_for_new_actions(team):
    capa = _in("effectiveness_check", team)
    services.record_effectiveness(team["creator"], capa, result="not_effective", evidence="2 excursions")
    capa.refresh_from_db()
    assert (capa.status, capa.effectiveness_result) == ("implementing", "not_effective")
    new = builders.action(team["creator"], capa, team["owner"], kind="preventive")
    services.complete_capa_action(team["owner"], new, evidence="Shipper qualified for 72 h")
    services.verify_capa_action(team["creator"], new)
    services.complete_implementation(team["creator"], capa)
    capa.refresh_from_db()
    assert capa.status == "effectiveness_check" and capa.effectiveness_result == ""


def test_the_owner_cannot_close_their_own_capa(team):
    capa = _in("effectiveness_check", team)
    services.record_effectiveness(team["creator"], capa, result="effective", evidence="in range")
    capa.owner = team["closer"]
    Capa.objects.filter(pk=capa.pk).update(owner=team["closer"])
    with pytest.raises(RuleViolation, match="you own"):
        services.transition_capa(team["closer"], capa, "close", signature=signature(team["closer"], "Approved"))


@override_settings(CAPA_EFFECTIVENESS_DAYS=120)
def test_the_effectiveness_check_is_scheduled_after_completion(team, fake_clock):
    capa = _in("implementing", team)
    action = capa.actions.get()
    services.complete_capa_action(team["owner"], action, evidence="done")
    services.verify_capa_action(team["creator"], action)
    fake_clock.advance(days=10)
    services.complete_implementation(team["creator"], capa, effectiveness_criteria="No excursion in 20 shipments")
    capa.refresh_from_db()
    assert capa.effectiveness_due_date == dt.date(2026, 3, 12) + dt.timedelta(days=120)


def test_once_implemented_a_capa_is_due_by_its_effectiveness_check_not_its_plan(team, fake_clock):
    capa = _in("effectiveness_check", team)
    capa.refresh_from_db()
    fake_clock.advance(days=(capa.due_date - capa.created_at.date()).days + 5)  # past the plan's due date
    listed = selectors.capas_for(team["creator"]).get(pk=capa.pk)
    assert not listed.is_overdue and not selectors.is_overdue(capa)
    assert not selectors.capas_for(team["creator"], overdue=True).filter(pk=capa.pk).exists()
    fake_clock.advance(days=(capa.effectiveness_due_date - capa.due_date).days)  # past the check's date
    assert selectors.capas_for(team["creator"], overdue=True).filter(pk=capa.pk).exists()
    assert selectors.is_overdue(capa)


def test_only_the_action_owner_completes_it_and_someone_else_verifies(team):
    capa = _in("implementing", team)
    action = capa.actions.get()
    with pytest.raises(PermissionDenied, match="Only the action's owner"):
        services.complete_capa_action(team["creator"], action, evidence="done")
    with pytest.raises(RuleViolation, match="Evidence"):
        services.complete_capa_action(team["owner"], action, evidence="  ")
    services.complete_capa_action(team["owner"], action, evidence="Training records TR-55")
    with pytest.raises(RuleViolation, match="you recorded this action as done"):
        services.verify_capa_action(team["owner"], action)
    services.verify_capa_action(team["creator"], action)
    action.refresh_from_db()
    assert (action.status, action.completed_by, action.verified_by) == ("verified", team["owner"], team["creator"])


def test_actions_are_done_only_once_the_plan_is_approved(team):
    capa = _draft(team)
    with pytest.raises(RuleViolation, match="once its plan is approved"):
        services.complete_capa_action(team["owner"], capa.actions.get(), evidence="done")


def test_cancelling_an_action_needs_a_reason(team):
    capa = _draft(team)
    with pytest.raises(RuleViolation, match="reason"):
        services.cancel_capa_action(team["creator"], capa.actions.get(), reason="")


def test_a_capa_raised_from_a_deviation_is_linked_and_takes_its_sponsor(raiser, classifier, investigator, sponsor_a):
    deviation = builders.classified(builders.raised(raiser, sponsor_a), classifier, investigator)
    capa = builders.capa(investigator, deviation=deviation)
    assert (capa.source, capa.source_reference, capa.sponsor) == ("deviation", deviation.number, sponsor_a)
    assert DeviationCapa.objects.filter(deviation=deviation, capa=capa).exists()


def test_a_capa_of_another_sponsor_cannot_be_linked(raiser, classifier, investigator, sponsor_a, sponsor_b,
                                                    make_user):
    from opencdmo.core.domain.roles import Role  # noqa: PLC0415

    both = make_user("qa.both", Role.QA_SPECIALIST, sponsors=[sponsor_a, sponsor_b])
    deviation = builders.raised(raiser, sponsor_a)
    other = builders.capa(both, sponsor_b, owner=both)
    with pytest.raises(RuleViolation, match="another sponsor"):
        services.link_capa(both, deviation, other)


def test_an_operator_cannot_raise_a_capa(raiser, sponsor_a):
    with pytest.raises(PermissionDenied, match="quality.manage_capa"):
        builders.capa(raiser, sponsor_a)
