"""Line clearance before a batch: a checklist, performed and signed by one person, verified and
signed by another (performer is not verifier), and the 'my tasks' it creates."""

import pytest

from opencdmo.core import signatures, tasks
from opencdmo.core.domain.roles import Role
from opencdmo.core.errors import PermissionDenied, RuleViolation
from opencdmo.core.models import AuditEvent
from opencdmo.facilities import selectors, services
from opencdmo.facilities.models import LineClearance
from opencdmo.facilities.workflows import line_clearance_workflow
from tests.factories import signature

from .factories import CLEAR


def start(operator, room, checks=CLEAR, **kwargs):
    return services.start_line_clearance(operator, room=room, for_record="HLX-101 batch HLX-B-0007", checks=checks,
                                         **kwargs)


def act(actor, clearance, action, **kwargs):
    services.transition_line_clearance(actor, clearance, action, **kwargs)
    clearance.refresh_from_db()
    return clearance


@pytest.fixture
def lead(make_user):
    """A supervisor: may perform a line clearance and may verify one, never both on the same one."""
    return make_user("sup.lead", Role.SUPERVISOR)


@pytest.mark.req("P11-1g")
@pytest.mark.req("P11-3")
def test_a_line_clearance_is_performed_by_one_person_and_verified_by_another(operator, supervisor, room,
                                                                              fake_clock):
    clearance = start(operator, room)
    assert (clearance.number, clearance.status, clearance.checks[0]) == (
        "LC-2026-0001", "open", {"item": services.DEFAULT_LINE_CLEARANCE_CHECKS[0], "ok": True})
    act(operator, clearance, "perform", signature=signature(operator, "Performed"))
    fake_clock.advance(minutes=12)
    act(supervisor, clearance, "verify", signature=signature(supervisor, "Verified", comment="room walked down"))
    assert clearance.status == "verified"
    assert [(s.printed_name, s.meaning, valid) for s, valid in signatures.with_validity(clearance)] == [
        ("Op Olsen", "Performed", True), ("Sup Santos", "Verified", True)]
    assert selectors.verified_line_clearance(room, for_record_type="", for_record_id="") == clearance


@pytest.mark.req("P11-1g")
def test_the_performer_cannot_verify_their_own_line_clearance(lead, supervisor, room):
    clearance = start(lead, room)
    act(lead, clearance, "perform", signature=signature(lead, "Performed"))
    assert "verify" not in [t.name for t in line_clearance_workflow.available(clearance, lead)]
    with pytest.raises(RuleViolation) as refused:
        act(lead, clearance, "verify", signature=signature(lead, "Verified"))
    assert refused.value.message == (
        f"Performer is not verifier: you signed {clearance.number} as Performed, so someone else must do this.")
    assert clearance.status == "performed"
    assert [s.meaning for s in signatures.signatures_of(clearance)] == ["Performed"]
    act(supervisor, clearance, "verify", signature=signature(supervisor, "Verified"))
    assert clearance.status == "verified"


@pytest.mark.req("P11-1g")
def test_verifying_needs_the_permission_and_the_verified_meaning(operator, other_operator, supervisor, room):
    clearance = act(operator, start(operator, room), "perform", signature=signature(operator, "Performed"))
    with pytest.raises(PermissionDenied, match=r"facilities.verify_line_clearance"):
        act(other_operator, clearance, "verify", signature=signature(other_operator, "Verified"))
    with pytest.raises(RuleViolation, match="sign with the meaning 'Verified'"):
        act(supervisor, clearance, "verify", signature=signature(supervisor, "Approved"))
    with pytest.raises(RuleViolation, match="Verify needs your signature"):
        act(supervisor, clearance, "verify")


@pytest.mark.req("P11-1f")
def test_a_clearance_with_an_item_not_clear_cannot_be_signed_as_performed(operator, supervisor, room):
    checks = [*CLEAR[:-1], {"item": CLEAR[-1]["item"], "ok": False}]
    clearance = start(operator, room, checks=checks)
    with pytest.raises(RuleViolation, match="Checklist not clear: Work surfaces and floor cleaned"):
        act(operator, clearance, "perform", signature=signature(operator, "Performed"))
    assert signatures.signatures_of(clearance) == []
    services.record_line_clearance_checks(operator, clearance, checks=CLEAR, comments="floor cleaned again")
    act(operator, clearance, "perform", signature=signature(operator, "Performed"))
    with pytest.raises(RuleViolation, match="can be changed only while it is open"):
        services.record_line_clearance_checks(operator, clearance, checks=CLEAR)


@pytest.mark.req("A11-8")
def test_a_returned_clearance_is_checked_and_signed_again_before_verification(operator, supervisor, room):
    clearance = act(operator, start(operator, room), "perform", signature=signature(operator, "Performed"))
    with pytest.raises(RuleViolation, match="Give a reason to return to performer"):
        act(supervisor, clearance, "return")
    act(supervisor, clearance, "return", reason="label of HLX-B-0006 found under the BSC")
    services.record_line_clearance_checks(operator, clearance, checks=CLEAR, comments="label removed")
    with pytest.raises(RuleViolation, match="it is Open"):
        act(supervisor, clearance, "verify", signature=signature(supervisor, "Verified"))
    act(operator, clearance, "perform", signature=signature(operator, "Performed"))
    act(supervisor, clearance, "verify", signature=signature(supervisor, "Verified"))
    assert clearance.status == "verified"


@pytest.mark.parametrize(("checks", "message"), [
    ([], "needs at least one checklist item"),
    ([{"item": "", "ok": True}], "Give the checklist item"),
    ([{"item": "Waste removed", "ok": "yes"}], "Say whether 'Waste removed' was found clear"),
    ([{"item": "Waste removed", "ok": True}, {"item": "waste removed", "ok": True}], "names 'waste removed' twice"),
    (["Waste removed"], "Each checklist item is an item"),
])
def test_a_bad_checklist_is_refused_and_nothing_is_written(operator, room, checks, message):
    before = LineClearance.objects.count(), AuditEvent.objects.count()
    with pytest.raises(RuleViolation, match=message):
        start(operator, room, checks=checks)
    assert (LineClearance.objects.count(), AuditEvent.objects.count()) == before


def test_no_line_clearance_in_a_room_that_is_shut_down(operator, supervisor, room, analyst):
    services.change_room_status(supervisor, room, status="shut_down", reason="water leak")
    with pytest.raises(RuleViolation, match="is Shut down: a line clearance is made in a room"):
        start(operator, room)
    with pytest.raises(PermissionDenied, match=r"facilities.line_clearance"):
        start(analyst, room)


def test_line_clearances_to_verify_are_the_verifiers_tasks_not_the_performers(operator, supervisor, qa, room):
    clearance = start(operator, room)
    [mine] = [t for t in tasks.tasks_for(operator) if t.record.startswith(clearance.number)]
    assert (mine.title, mine.status) == ("Sign as performed", "open")
    assert not [t for t in tasks.tasks_for(supervisor) if t.record.startswith(clearance.number)]
    act(operator, clearance, "perform", signature=signature(operator, "Performed"))
    assert not [t for t in tasks.tasks_for(operator) if t.record.startswith(clearance.number)]
    for verifier in (supervisor, qa):
        [task] = [t for t in tasks.tasks_for(verifier) if t.record.startswith(clearance.number)]
        assert (task.title, task.url, task.detail) == (
            "Verify", f"/facilities/line-clearances/{clearance.number}/", "HLX-101 batch HLX-B-0007")
