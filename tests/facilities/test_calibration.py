"""Calibration: a pass sets the next due date from the interval; a failure takes the equipment
out of service and raises a deviation linked to it, all in one transaction."""

import datetime as dt
import json

import pytest

from opencdmo.core import audit
from opencdmo.core.errors import PermissionDenied, RuleViolation
from opencdmo.core.models import AuditEvent
from opencdmo.facilities import selectors, services
from opencdmo.facilities.models import CalibrationRecord, Equipment
from opencdmo.quality import selectors as quality_selectors
from opencdmo.quality import services as quality_services
from opencdmo.quality.models import Deviation, DeviationLink
from tests.factories import signature

from . import factories


@pytest.fixture
def pipette(make_equipment):
    return make_equipment("EQ-PIP-07", name="Pipette P1000", kind="pipette", calibration_interval_days=90,
                          calibration_tolerance="± 0.8 % at 1000 µL")


def state(equipment):
    equipment.refresh_from_db()
    return (equipment.status, equipment.calibration_due_at, CalibrationRecord.objects.filter(equipment=equipment).count(),
            Deviation.objects.count(), DeviationLink.objects.count(), AuditEvent.objects.count())


def test_a_passing_calibration_sets_the_next_due_date_from_the_interval(supervisor, pipette, fake_clock):
    fake_clock.advance(days=80, hours=3, microseconds=17)
    calibration = services.record_calibration(supervisor, pipette, result="pass", as_found="1000 µL: 1001.2 µL",
                                              as_left="1000 µL: 1001.2 µL", certificate="CAL-7781")
    pipette.refresh_from_db()
    assert calibration.performed_at == fake_clock.current
    assert calibration.next_due_at == pipette.calibration_due_at == fake_clock.current + dt.timedelta(days=90)
    assert (calibration.performed_by, calibration.result, calibration.deviation_number) == (supervisor, "pass", "")
    event = AuditEvent.objects.filter(record_type="facilities.equipment", record_id=str(pipette.pk)).latest("id")
    assert event.reason.startswith("calibration passed 2026-05-21") and event.reason.endswith("certificate CAL-7781")


@pytest.mark.req("P11-1h")
def test_a_failed_calibration_takes_the_equipment_out_of_service_and_raises_a_linked_deviation(
        supervisor, operator, pipette, fake_clock):
    services.log_equipment_use(operator, pipette, used_for_label="HLX-101 batch HLX-B-0006")
    due_before = pipette.calibration_due_at
    fake_clock.advance(days=1)
    calibration = services.record_calibration(supervisor, pipette, result="fail",
                                              as_found="1000 µL: 1012.4 µL (+1.24 %)", as_left="sent for repair")
    pipette.refresh_from_db()
    assert pipette.status == "out_of_service"
    assert pipette.calibration_due_at == due_before and calibration.next_due_at is None
    deviation = Deviation.objects.get(number=calibration.deviation_number)
    assert (deviation.source, deviation.status, deviation.sponsor, deviation.raised_by) == (
        "equipment", "open", None, supervisor)
    assert deviation.title == "EQ-PIP-07 Pipette P1000: calibration failed"
    assert "As found: 1000 µL: 1012.4 µL (+1.24 %)" in deviation.description
    assert "Uses since then, to assess for impact: 1: HLX-101 batch HLX-B-0006." in deviation.description
    [link] = deviation.links.all()
    assert (link.record_type, link.record_id, link.record_label) == ("facilities.equipment", str(pipette.pk),
                                                                    "EQ-PIP-07")
    assert list(quality_selectors.deviations_about(supervisor, pipette)) == [deviation]
    moved = AuditEvent.objects.filter(record_type="facilities.equipment", record_id=str(pipette.pk),
                                      action="transition").latest("id")
    assert json.loads(moved.changes) == {"status": ["in_service", "out_of_service"]}
    assert moved.reason.endswith(f"out of tolerance; deviation {deviation.number}")
    usable, reasons = selectors.equipment_usability(pipette)
    assert not usable and [r.text for r in reasons] == ["it is out of service"]


@pytest.mark.req("P11-1e")
def test_the_failure_the_status_change_and_the_deviation_are_one_transaction(supervisor, pipette, monkeypatch):
    before = state(pipette)

    def deviation_refused(*args, **kwargs):
        raise RuleViolation("quality system unavailable")

    monkeypatch.setattr(quality_services, "raise_deviation", deviation_refused)
    with pytest.raises(RuleViolation, match="quality system unavailable"):
        services.record_calibration(supervisor, pipette, result="fail", as_found="out")
    assert state(pipette) == before

    monkeypatch.undo()
    original = services._create

    def calibration_refused(actor, obj, **kwargs):
        if isinstance(obj, CalibrationRecord):
            raise RuntimeError("disk full")
        return original(actor, obj, **kwargs)

    monkeypatch.setattr(services, "_create", calibration_refused)
    with pytest.raises(RuntimeError, match="disk full"):
        services.record_calibration(supervisor, pipette, result="fail", as_found="out")
    assert state(pipette) == before  # the deviation raised first was rolled back with it


def test_equipment_that_failed_calibration_returns_to_service_only_after_a_passing_one(supervisor, pipette):
    services.record_calibration(supervisor, pipette, result="fail", as_found="out")
    with pytest.raises(RuleViolation, match="Calibration failed: the last calibration of EQ-PIP-07"):
        services.transition_equipment(supervisor, pipette, "return_to_service",
                                      signature=signature(supervisor, "Approved"), reason="repaired")
    services.record_calibration(supervisor, pipette, result="pass", as_found="after repair: in tolerance")
    services.transition_equipment(supervisor, pipette, "return_to_service", signature=signature(supervisor, "Approved"),
                                  reason="repaired and recalibrated, deviation assessed")
    pipette.refresh_from_db()
    assert pipette.status == "in_service" and selectors.equipment_usability(pipette).usable


def test_a_failure_in_quarantine_keeps_it_in_quarantine_and_still_raises_a_deviation(supervisor, qa, pipette):
    services.transition_equipment(qa, pipette, "quarantine", reason="dropped on the floor")
    calibration = services.record_calibration(supervisor, pipette, result="fail", as_found="out")
    pipette.refresh_from_db()
    assert pipette.status == "quarantine" and calibration.deviation_number


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"result": "ok"}, "Calibration result must be one of: pass, fail; not 'ok'"),
    ({"result": "pass", "as_found": "x" * 201}, "As found: Ensure this value has at most 200 characters"),
])
def test_bad_calibration_input_is_refused_and_nothing_is_written(supervisor, pipette, kwargs, message):
    before = state(pipette)
    with pytest.raises(RuleViolation, match=message):
        services.record_calibration(supervisor, pipette, **kwargs)
    assert state(pipette) == before


def test_calibration_is_for_equipment_that_needs_it_and_people_who_calibrate(supervisor, qa, operator, room):
    welder = factories.equipment_in_service(supervisor, qa, number="EQ-TW-01", kind="tube_welder", room=room)
    with pytest.raises(RuleViolation, match="needs no calibration"):
        services.record_calibration(supervisor, welder, result="pass")
    with pytest.raises(PermissionDenied, match=r"facilities.calibrate"):
        services.record_calibration(operator, welder, result="pass")
    assert audit.record_type(Equipment) == "facilities.equipment"


def test_preventive_maintenance_sets_the_next_due_date_corrective_does_not(supervisor, qa, room, fake_clock):
    incubator = factories.equipment_in_service(supervisor, qa, number="EQ-INC-01", kind="incubator", room=room,
                                               maintenance_interval_days=90)
    fake_clock.advance(days=85)
    services.record_maintenance(supervisor, incubator, kind="corrective", description="door gasket replaced")
    incubator.refresh_from_db()
    assert incubator.maintenance_due_at == incubator.created_at + dt.timedelta(days=90)
    record = services.record_maintenance(supervisor, incubator, kind="preventive", description="PM per plan")
    incubator.refresh_from_db()
    assert record.next_due_at == incubator.maintenance_due_at == fake_clock.current + dt.timedelta(days=90)
    with pytest.raises(RuleViolation, match="Give the description of the work"):
        services.record_maintenance(supervisor, incubator, kind="preventive", description=" ")
