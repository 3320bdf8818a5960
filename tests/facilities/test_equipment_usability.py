"""`equipment_usability(equipment, at)` on real records, and the interlock on every use: each
reason makes equipment unusable exactly at its boundary (usable 1 µs before), every reason is
given, and a refused use writes nothing."""

import datetime as dt

import pytest

from opencdmo.core.errors import RuleViolation
from opencdmo.core.models import AuditEvent
from opencdmo.facilities import selectors, services
from opencdmo.facilities.models import EquipmentUse
from tests.factories import signature

from . import factories

US = dt.timedelta(microseconds=1)


def reasons(equipment, at=None):
    equipment.refresh_from_db()
    usable, found = selectors.equipment_usability(equipment, at)
    assert usable == (not found)
    return [r.code for r in found]


def use(operator, equipment, label="HLX-101 batch HLX-B-0007"):
    return services.log_equipment_use(operator, equipment, used_for_label=label)


@pytest.mark.req("P11-1f")
def test_overdue_calibration_makes_it_unusable_exactly_at_the_due_time(make_equipment):
    balance = make_equipment("EQ-BAL-01", name="Analytical balance", kind="balance", calibration_interval_days=30)
    due = balance.calibration_due_at
    assert due == balance.calibrations.get().performed_at + dt.timedelta(days=30)
    assert reasons(balance, due - US) == []
    assert reasons(balance, due) == ["calibration_overdue"]
    [reason] = selectors.equipment_usability(balance, due).reasons
    assert reason.text == "its calibration was due 2026-04-01 10:30 CEST"


@pytest.mark.req("P11-1f")
def test_an_expired_clean_hold_makes_it_unusable_exactly_at_the_end_of_the_hold(operator, cabinet, fake_clock):
    cleaned = cabinet.cleaned_at
    expires = cleaned + dt.timedelta(hours=24)
    assert reasons(cabinet, expires - US) == []
    assert reasons(cabinet, expires) == ["clean_hold_expired"]
    fake_clock.set(expires - US)
    use(operator, cabinet, "just in time")
    assert EquipmentUse.objects.filter(equipment=cabinet).count() == 1


@pytest.mark.req("P11-1f")
def test_use_makes_it_dirty_at_that_instant_and_cleaning_makes_it_usable_again(operator, cabinet, fake_clock):
    fake_clock.advance(hours=1)
    at_use = fake_clock.current
    assert reasons(cabinet, at_use - US) == []
    use(operator, cabinet)
    assert reasons(cabinet, at_use) == ["not_clean"]
    with pytest.raises(RuleViolation, match="it is not clean"):
        use(operator, cabinet, "second batch without cleaning")
    services.clean_equipment(operator, cabinet, agent="70 % IPA", agent_lot="IPA-3")
    assert reasons(cabinet) == []


@pytest.mark.req("P11-1f")
def test_a_records_own_uses_do_not_make_it_unclean_for_that_record_but_for_any_other(operator, cabinet, room):
    """A cabinet is cleaned between batches, not between the steps of one batch."""
    batch, other = room, room.area  # any two records: uses name their type and id
    services.log_equipment_use(operator, cabinet, record=batch)
    cabinet.refresh_from_db()
    assert selectors.equipment_usability(cabinet, for_record=batch).usable
    assert [r.code for r in selectors.equipment_usability(cabinet, for_record=other).reasons] == ["not_clean"]
    services.log_equipment_use(operator, cabinet, record=batch)  # the same batch's next step
    with pytest.raises(RuleViolation, match="it is not clean"):
        services.log_equipment_use(operator, cabinet, record=other)


@pytest.mark.req("P11-1f")
def test_taking_it_out_of_service_makes_it_unusable_from_that_instant(supervisor, operator, cabinet, fake_clock):
    fake_clock.advance(minutes=10)
    stop = fake_clock.current
    fake_clock.set(stop - US)
    assert reasons(cabinet) == []
    fake_clock.set(stop)
    services.transition_equipment(supervisor, cabinet, "take_out_of_service", reason="alarm: downflow low")
    assert reasons(cabinet) == ["status"]
    with pytest.raises(RuleViolation, match="EQ-BSC-01 Biosafety cabinet 1 may not be used: it is out of service."):
        use(operator, cabinet)


@pytest.mark.req("P11-1f")
def test_overdue_requalification_makes_it_not_qualified_exactly_at_the_due_time(supervisor, qa, room, fake_clock):
    equipment = factories.equipment_in_service(supervisor, qa, room=room, requalification_interval_days=365)
    due = equipment.requalification_due_at
    assert due == equipment.qualified_at + dt.timedelta(days=365)
    assert reasons(equipment, due - US) == []
    assert reasons(equipment, due) == ["requalification_overdue"]
    assert selectors.equipment_usability(equipment, due).reasons[0].text.startswith("it is not qualified")


@pytest.mark.req("P11-1f")
def test_equipment_not_qualified_is_unusable_until_qa_approves_and_it_is_released(supervisor, qa, fake_clock):
    equipment = factories.registered(supervisor, pq_date=None)
    assert reasons(equipment) == ["status", "not_qualified"]
    services.edit_equipment(supervisor, equipment, pq_date=fake_clock.current.date())
    services.transition_equipment(qa, equipment, "qualify", signature=signature(qa, "Approved"))
    assert reasons(equipment) == ["status"]
    services.transition_equipment(supervisor, equipment, "release", signature=signature(supervisor, "Approved"))
    assert reasons(equipment) == []


@pytest.mark.req("P11-1f")
def test_maintenance_overdue_makes_it_unusable_at_the_due_time(cabinet):
    due = cabinet.maintenance_due_at
    assert reasons(cabinet, due - US) == ["clean_hold_expired"]  # 180 days on, the clean hold is long over
    assert reasons(cabinet, due) == ["maintenance_overdue", "clean_hold_expired"]


@pytest.mark.req("P11-1f")
def test_every_reason_at_once_and_a_refused_use_writes_nothing(supervisor, qa, operator, cabinet, fake_clock):
    use(operator, cabinet)
    services.transition_equipment(supervisor, cabinet, "take_out_of_service", reason="HEPA alarm")
    fake_clock.advance(days=400)
    assert reasons(cabinet) == ["status", "calibration_overdue", "maintenance_overdue", "not_clean"]
    before = EquipmentUse.objects.count(), AuditEvent.objects.count()
    with pytest.raises(RuleViolation) as refused:
        use(operator, cabinet, "HLX-B-0009")
    assert refused.value.message == (
        "EQ-BSC-01 Biosafety cabinet 1 may not be used: it is out of service; "
        "its calibration was due 2027-03-02 09:30 CET; "
        "its preventive maintenance was due 2026-08-29 10:30 CEST; "
        "it is not clean (used since its last cleaning).")
    assert (EquipmentUse.objects.count(), AuditEvent.objects.count()) == before


def test_a_use_is_logged_with_who_when_and_for_which_record(operator, cabinet, fake_clock, sponsor_a):
    record = sponsor_a  # any registered-or-not record: batches will pass theirs
    entry = services.log_equipment_use(operator, cabinet, record=record)
    assert (entry.used_by, entry.started_at, entry.ended_at) == (operator, fake_clock.current, None)
    assert (entry.used_for_type, entry.used_for_id, entry.used_for_label) == (
        "sponsors.sponsor", str(sponsor_a.pk), str(sponsor_a))
    fake_clock.advance(hours=2)
    services.end_equipment_use(operator, entry)
    entry.refresh_from_db()
    assert entry.ended_at == fake_clock.current
    with pytest.raises(RuleViolation, match="ended .* already"):
        services.end_equipment_use(operator, entry)
    with pytest.raises(RuleViolation, match="Give the what it is used for"):
        services.log_equipment_use(operator, cabinet, used_for_label=" ")


def test_the_board_flags_due_dates_30_days_ahead(supervisor, cabinet, fake_clock):
    due = cabinet.calibration_due_at
    [row] = selectors.equipment_board(supervisor, at=due - dt.timedelta(days=30) - US)
    assert [(d.what, d.state) for d in row.dues][0] == ("Calibration", "current")
    [row] = selectors.equipment_board(supervisor, at=due - dt.timedelta(days=30))
    assert [(d.what, d.state) for d in row.dues][0] == ("Calibration", "due_soon")
    [row] = selectors.equipment_board(supervisor, at=due)
    assert (row.dues[0].state, row.worst_due) == ("overdue", "overdue")
    assert selectors.equipment_board(supervisor, usable=False) == []
