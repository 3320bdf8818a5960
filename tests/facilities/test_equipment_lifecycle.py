"""Equipment: registered under its asset id, qualified by QA (IQ/OQ/PQ, signed), released for
service, taken out and back with reasons and signatures, retired; bad input changes nothing."""

import datetime as dt
import json

import pytest

from opencdmo.core import audit, signatures
from opencdmo.core.errors import Conflict, PermissionDenied, RuleViolation
from opencdmo.core.models import AuditEvent
from opencdmo.facilities import selectors, services
from opencdmo.facilities.models import Equipment
from opencdmo.facilities.workflows import equipment_workflow
from tests.factories import signature

from . import factories


def writes():
    return Equipment.objects.count(), AuditEvent.objects.count()


def transition(actor, equipment, action, **kwargs):
    services.transition_equipment(actor, equipment, action, **kwargs)
    equipment.refresh_from_db()
    return equipment


def test_equipment_is_registered_under_its_asset_id_in_commissioning(supervisor, room, fake_clock):
    equipment = factories.registered(supervisor, number="EQ-BSC-01", room=room, calibration_interval_days=365,
                                     maintenance_interval_days=180)
    assert (equipment.number, equipment.status, equipment.room, equipment.version) == (
        "EQ-BSC-01", "commissioning", room, 1)
    assert equipment.maintenance_due_at == fake_clock.current + dt.timedelta(days=180)
    assert equipment.calibration_due_at is None  # never calibrated yet
    [event] = AuditEvent.objects.filter(record_type="facilities.equipment", record_id=str(equipment.pk))
    assert (event.action, event.record_label) == ("create", "EQ-BSC-01")


BAD_INPUT = [
    ({"kind": "toaster"}, "Equipment class must be one of: biosafety_cabinet"),
    ({"calibration_interval_days": -30}, r"Calibration interval \(days\) must be between 1 and 36500 days, not -30"),
    ({"calibration_interval_days": 0}, r"Calibration interval \(days\) must be between 1 and 36500 days, not 0"),
    ({"maintenance_interval_days": "monthly"}, "must be a whole number of days, not 'monthly'"),
    ({"clean_hold_hours": -1}, "Clean hold must be between 1 and 8784 hours"),
    ({"iq_date": dt.date(2026, 2, 10), "oq_date": dt.date(2026, 2, 9), "pq_date": dt.date(2026, 2, 12)},
     r"The OQ date \(2026-02-09\) is before the IQ date \(2026-02-10\): OQ follows IQ."),
    ({"iq_date": None, "oq_date": dt.date(2026, 2, 9), "pq_date": None}, "Enter the IQ date before the OQ date"),
    ({"iq_date": "10.02.2026"}, r"Write the IQ date as YYYY-MM-DD, not '10.02.2026'"),
    ({"name": "  "}, "Give the equipment name"),
    ({"serial_number": "S" * 101}, "Serial number: Ensure this value has at most 100 characters"),
    ({"number": "EQ 01/2"}, "Asset id 'EQ 01/2' is not usable"),
    ({"number": "due"}, "'due' cannot be an asset id"),
]


@pytest.mark.req("A11-4")
@pytest.mark.parametrize(("fields", "message"), BAD_INPUT, ids=[m[:30] for _, m in BAD_INPUT])
def test_bad_equipment_input_is_refused_with_a_clear_message_and_nothing_is_written(supervisor, fields, message):
    before = writes()
    with pytest.raises(RuleViolation, match=message):
        factories.registered(supervisor, **fields)
    assert writes() == before


def test_an_asset_id_is_never_reused(supervisor):
    factories.registered(supervisor, number="EQ-PIP-07")
    with pytest.raises(Conflict, match="The asset id eq-pip-07 is taken"):
        factories.registered(supervisor, number="eq-pip-07")


def test_equipment_is_registered_by_people_who_manage_equipment(operator, qa):
    for person in (operator, qa):
        with pytest.raises(PermissionDenied, match=r"facilities.manage_equipment"):
            factories.registered(person)


@pytest.mark.req("P11-1f")
@pytest.mark.req("P11-3")
def test_qa_approves_the_qualification_with_a_signature_once_iq_oq_pq_are_done(supervisor, qa, fake_clock):
    equipment = factories.registered(supervisor, pq_date=None, requalification_interval_days=365)
    with pytest.raises(RuleViolation, match="Qualification incomplete: enter the PQ date of EQ-BSC-01"):
        transition(qa, equipment, "qualify", signature=signature(qa, "Approved"))
    assert "qualify" not in [t.name for t in equipment_workflow.available(equipment, qa)]
    services.edit_equipment(supervisor, equipment, pq_date=fake_clock.current.date())
    with pytest.raises(PermissionDenied, match=r"facilities.qualify_equipment"):
        transition(supervisor, equipment, "qualify", signature=signature(supervisor, "Approved"))
    with pytest.raises(RuleViolation, match="sign with the meaning 'Approved'"):
        transition(qa, equipment, "qualify", signature=signature(qa, "Reviewed"))
    transition(qa, equipment, "qualify", signature=signature(qa, "Approved", comment="IQ/OQ/PQ reports reviewed"))
    assert (equipment.status, equipment.qualified_at) == ("qualified", fake_clock.current)
    assert equipment.requalification_due_at == fake_clock.current + dt.timedelta(days=365)
    [(approval, valid)] = signatures.with_validity(equipment)
    assert (approval.printed_name, approval.meaning, approval.signed_at, valid) == (
        "Qa Patel", "Approved", fake_clock.current, True)


def test_a_qualification_date_in_the_future_is_not_evidence(supervisor, qa, fake_clock):
    equipment = factories.registered(supervisor, pq_date=fake_clock.current.date() + dt.timedelta(days=1))
    with pytest.raises(RuleViolation, match="the PQ date of EQ-BSC-01 Biosafety cabinet 1 is in the future"):
        transition(qa, equipment, "qualify", signature=signature(qa, "Approved"))


@pytest.mark.req("P11-1f")
def test_released_equipment_is_in_service_and_signatures_survive_daily_use(supervisor, qa, operator, room):
    equipment = factories.equipment_in_service(supervisor, qa, room=room, clean_hold_hours=24,
                                               calibration_interval_days=90)
    assert equipment.status == "in_service"
    services.log_equipment_use(operator, equipment, used_for_label="HLX-B-0007")
    services.clean_equipment(operator, equipment, agent="IPA", agent_lot="IPA-2")
    equipment.refresh_from_db()
    assert [(s.meaning, valid) for s, valid in signatures.with_validity(equipment)] == [
        ("Approved", True), ("Approved", True)]


@pytest.mark.req("A11-8")
@pytest.mark.parametrize("action", ["take_out_of_service", "start_maintenance", "quarantine", "requalify"])
def test_taking_equipment_out_of_service_needs_a_reason(supervisor, qa, action):
    equipment = factories.equipment_in_service(supervisor, qa)
    actor = qa if action in ("quarantine", "requalify") else supervisor
    before = writes()
    with pytest.raises(RuleViolation, match="Give a reason to"):
        transition(actor, equipment, action, reason="")
    assert writes() == before and equipment.status == "in_service"
    transition(actor, equipment, action, reason="door seal torn")
    event = AuditEvent.objects.filter(record_type="facilities.equipment", action="transition").latest("id")
    assert event.reason == "door seal torn"
    assert json.loads(event.changes)["status"][0] == "in_service"


@pytest.mark.req("A11-8")
@pytest.mark.req("P11-1g")
def test_putting_equipment_back_into_service_is_signed_with_a_reason(supervisor, qa):
    equipment = factories.equipment_in_service(supervisor, qa)
    transition(supervisor, equipment, "start_maintenance", reason="annual service")
    with pytest.raises(RuleViolation, match="Return to service needs your signature"):
        transition(supervisor, equipment, "return_to_service", reason="serviced")
    with pytest.raises(RuleViolation, match="Give a reason to return to service"):
        transition(supervisor, equipment, "return_to_service", signature=signature(supervisor, "Approved"))
    transition(supervisor, equipment, "return_to_service", signature=signature(supervisor, "Approved"),
               reason="service report SR-118 reviewed")
    assert equipment.status == "in_service"
    transition(qa, equipment, "quarantine", reason="suspected contamination")
    with pytest.raises(PermissionDenied, match=r"facilities.qualify_equipment"):
        transition(supervisor, equipment, "release_from_quarantine", signature=signature(supervisor, "Approved"),
                   reason="looks fine")
    transition(qa, equipment, "release_from_quarantine", signature=signature(qa, "Approved"),
               reason="investigation closed, no impact")
    assert equipment.status == "in_service"


@pytest.mark.req("P11-6")
def test_a_wrong_password_refuses_the_step_and_is_counted(supervisor, qa):
    equipment = factories.qualified(supervisor, qa)
    with pytest.raises(PermissionDenied, match="Signature refused"):
        transition(supervisor, equipment, "release", signature=signature(supervisor, "Approved", password="wrong"))
    supervisor.refresh_from_db()
    assert (equipment.status, supervisor.failed_logins) == ("qualified", 1)


@pytest.mark.req("P11-1c")
def test_retired_equipment_is_kept_and_nothing_more_is_recorded_against_it(supervisor, qa):
    equipment = factories.equipment_in_service(supervisor, qa, calibration_interval_days=30)
    transition(supervisor, equipment, "retire", signature=signature(supervisor, "Approved"),
               reason="replaced by EQ-BSC-03")
    assert Equipment.objects.filter(pk=equipment.pk, status="retired").exists()
    assert selectors.equipment_usability(equipment).reasons[0].text == "it is retired"
    with pytest.raises(RuleViolation, match="retired: nothing more is recorded"):
        services.record_calibration(supervisor, equipment, result="pass")
    with pytest.raises(RuleViolation, match="retired and can no longer be changed"):
        services.edit_equipment(supervisor, equipment, name="renamed", reason="typo")
    with pytest.raises(RuleViolation, match="it is Retired"):
        transition(supervisor, equipment, "retire", signature=signature(supervisor, "Approved"), reason="again")


@pytest.mark.req("A11-8")
def test_equipment_out_of_commissioning_is_edited_only_with_a_reason(supervisor, qa, room, fake_clock):
    equipment = factories.equipment_in_service(supervisor, qa, calibration_interval_days=30)
    with pytest.raises(RuleViolation, match="EQ-BSC-01 has left draft"):
        services.edit_equipment(supervisor, equipment, serial_number="SN-42")
    with pytest.raises(RuleViolation, match="change only while it is being commissioned"):
        services.edit_equipment(supervisor, equipment, iq_date=dt.date(2026, 1, 1), reason="typo")
    services.edit_equipment(supervisor, equipment, serial_number="SN-42", calibration_interval_days=60,
                            reason="serial from the nameplate; interval per calibration SOP rev 3")
    equipment.refresh_from_db()
    calibrated = equipment.calibrations.get().performed_at
    assert (equipment.serial_number, equipment.calibration_due_at) == ("SN-42", calibrated + dt.timedelta(days=60))
    services.edit_equipment(supervisor, equipment, maintenance_interval_days=7, reason="weekly check")
    equipment.refresh_from_db()
    assert equipment.maintenance_due_at == equipment.created_at + dt.timedelta(days=7)
    with pytest.raises(RuleViolation, match="unknown or cannot be set: status"):
        services.edit_equipment(supervisor, equipment, status="in_service", reason="sneaky")


def test_requalification_needs_new_qualification_evidence(supervisor, qa, fake_clock):
    equipment = factories.equipment_in_service(supervisor, qa)
    fake_clock.advance(days=30)
    transition(qa, equipment, "requalify", reason="moved to suite B-102")
    assert selectors.equipment_usability(equipment).reasons[0].code == "status"
    with pytest.raises(RuleViolation, match="Requalification evidence missing"):
        transition(qa, equipment, "qualify", signature=signature(qa, "Approved"))
    today = fake_clock.current.date()
    services.edit_equipment(supervisor, equipment, iq_date=today - dt.timedelta(days=2),
                            oq_date=today - dt.timedelta(days=1), pq_date=today)
    transition(qa, equipment, "qualify", signature=signature(qa, "Approved"))
    assert (equipment.status, equipment.qualified_at) == ("qualified", fake_clock.current)


def test_every_lifecycle_state_is_reachable_and_labelled():
    targets = {t.target for t in equipment_workflow.transitions} | {equipment_workflow.initial}
    assert targets == set(equipment_workflow.states)
    assert all(t.signature or t.reason_required for t in equipment_workflow.transitions)
    assert audit.record_type(Equipment) == "facilities.equipment"
