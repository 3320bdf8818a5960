"""Rooms: grade and ISO class (Annex 1), status changed only with a reason, cleaning and the
disinfectant rotation."""

import datetime as dt
import json

import pytest
from django.test import override_settings

from opencdmo.core import audit
from opencdmo.core.errors import Conflict, PermissionDenied, RuleViolation
from opencdmo.core.models import AuditEvent
from opencdmo.facilities import selectors, services
from opencdmo.facilities.domain import rooms as room_rules
from opencdmo.facilities.domain.schedule import sporicidal_warning
from opencdmo.facilities.models import Room, RoomCleaning

from . import factories
from .conftest import utc


def writes():
    return Room.objects.count(), RoomCleaning.objects.count(), AuditEvent.objects.count()


@pytest.mark.req("A1-4")
@pytest.mark.parametrize(("grade", "at_rest", "in_operation"), [
    ("A", 5, 5), ("B", 5, 7), ("C", 7, 8), ("D", 8, None), ("U", None, None)])
def test_a_room_takes_the_iso_classes_of_its_grade_unless_told_otherwise(supervisor, area, fake_clock, grade, at_rest,
                                                                         in_operation):
    room = factories.room(supervisor, area, f"R-{grade}", grade)
    assert (room.iso_class_at_rest, room.iso_class_in_operation) == (at_rest, in_operation)
    assert (room.status, room.created_by, room.created_at) == ("at_rest", supervisor, fake_clock.current)


@pytest.mark.req("A1-4")
def test_a_room_may_be_classified_cleaner_than_its_grade_but_never_dirtier(supervisor, area):
    cleaner = factories.room(supervisor, area, "C-201", "C", iso_class_at_rest=6, iso_class_in_operation=7)
    assert (cleaner.iso_class_at_rest, cleaner.iso_class_in_operation) == (6, 7)
    grade_d = factories.room(supervisor, area, "D-001", "D", iso_class_in_operation=9)  # D in operation: site's call
    assert grade_d.iso_class_in_operation == 9
    before = writes()
    with pytest.raises(RuleViolation, match=r"A grade B room is ISO 5 or cleaner at rest \(A1-4\), not ISO 7\."):
        factories.room(supervisor, area, "B-102", "B", iso_class_at_rest=7)
    with pytest.raises(RuleViolation, match=r"not cleaner in operation \(ISO 5\) than at rest \(ISO 7\)"):
        factories.room(supervisor, area, "C-202", "C", iso_class_in_operation=5)
    with pytest.raises(RuleViolation, match=r"The ISO class at rest must be a whole number from 1 to 9 \(ISO 14644-1\), not .0."):
        factories.room(supervisor, area, "C-203", "C", iso_class_at_rest=0)
    assert writes() == before


@pytest.mark.parametrize("grade", ["E", "ISO 5", "", "b+"])
def test_an_unknown_grade_is_refused_and_nothing_is_written(supervisor, area, grade):
    before = writes()
    with pytest.raises(RuleViolation, match="not a cleanroom grade|Give the grade"):
        factories.room(supervisor, area, "X-1", grade)
    assert writes() == before


def test_grade_rules_name_an_unknown_grade_and_a_class_out_of_range():
    assert room_rules.iso_class_problems("E", None, None) == [
        "'E' is not a cleanroom grade; use one of A, B, C, D, U."]
    assert room_rules.iso_class_problems("A", 10, 5) == ["The ISO class at rest must be a whole number from 1 to 9, "
                                                         "not 10."]
    with pytest.raises(ValueError, match="not a cleanroom grade"):
        room_rules.default_iso_classes("Z")


def test_room_codes_are_unique_and_usable_in_an_address(supervisor, area, room):
    with pytest.raises(Conflict, match="A room with code B-101 exists already"):
        factories.room(supervisor, area, "b-101", "B")
    with pytest.raises(RuleViolation, match="Room code 'B 101' is not usable"):
        factories.room(supervisor, area, "B 101", "B")


def test_rooms_are_set_up_by_people_who_manage_rooms(operator, area):
    with pytest.raises(PermissionDenied, match=r"facilities.manage_rooms"):
        factories.room(operator, area, "B-109", "B")


@pytest.mark.req("A11-8")
def test_a_room_status_changes_only_with_a_reason(supervisor, room):
    before = writes()
    with pytest.raises(RuleViolation, match="Give a reason to start operation B-101"):
        services.change_room_status(supervisor, room, status="in_operation", reason="  ")
    assert writes() == before
    services.change_room_status(supervisor, room, status="in_operation", reason="campaign HLX-101 starts")
    room.refresh_from_db()
    assert (room.status, room.version) == ("in_operation", 2)
    event = AuditEvent.objects.filter(record_type=audit.record_type(room), action="transition").latest("id")
    assert json.loads(event.changes) == {"status": ["at_rest", "in_operation"]}
    assert (event.reason, event.record_version) == ("campaign HLX-101 starts", 2)


@pytest.mark.parametrize(("status", "message"), [
    ("at_rest", "B-101 Suite B-101 is already At rest"),
    ("closed", "A room's status is one of: in_operation, at_rest, shut_down, maintenance; not 'closed'"),
])
def test_a_room_status_change_to_the_same_or_an_unknown_status_is_refused(supervisor, room, status, message):
    with pytest.raises(RuleViolation, match=message):
        services.change_room_status(supervisor, room, status=status, reason="why not")


def test_room_status_needs_the_permission(operator, room):
    with pytest.raises(PermissionDenied, match=r"facilities.manage_rooms"):
        services.change_room_status(operator, room, status="shut_down", reason="flood")


def test_a_room_cleaning_records_who_when_agent_and_lot_at_server_time(operator, room, fake_clock):
    cleaning = services.record_room_cleaning(operator, room, agent="70 % IPA", agent_type="disinfectant",
                                             agent_lot="IPA-24-512")
    assert (cleaning.performed_by, cleaning.performed_at) == (operator, fake_clock.current)
    with pytest.raises(RuleViolation, match="Agent type must be one of: disinfectant, sporicidal, detergent"):
        services.record_room_cleaning(operator, room, agent="bleach", agent_type="bleach", agent_lot="1")
    with pytest.raises(RuleViolation, match="Give the agent lot"):
        services.record_room_cleaning(operator, room, agent="70 % IPA", agent_type="disinfectant", agent_lot="")


def test_cleaning_is_recorded_by_people_who_clean(analyst, room):
    with pytest.raises(PermissionDenied, match=r"facilities.clean"):
        services.record_room_cleaning(analyst, room, agent="IPA", agent_type="disinfectant", agent_lot="1")


def _sporicidal(operator, room):
    services.record_room_cleaning(operator, room, agent="H2O2/PAA", agent_type="sporicidal", agent_lot="SP-1")


def test_the_rotation_warns_when_no_sporicidal_was_used_for_7_days_exactly_at_7_days(operator, room, fake_clock):
    assert selectors.room_rotation(room)["warning"] == "No sporicidal agent has been used in this room yet."
    _sporicidal(operator, room)
    used = fake_clock.current
    fake_clock.advance(days=3)
    services.record_room_cleaning(operator, room, agent="IPA", agent_type="disinfectant", agent_lot="IPA-2")
    assert selectors.room_rotation(room, at=used + dt.timedelta(days=7) - dt.timedelta(microseconds=1))[
        "warning"] is None
    warning = selectors.room_rotation(room, at=used + dt.timedelta(days=7))["warning"]
    assert warning == ("Sporicidal agent overdue: none used for 7 days (the rotation asks for one at least every "
                       "7 days); last used 2026-03-02 09:30 CET.")
    [row] = selectors.room_board(operator, at=used + dt.timedelta(days=7))
    assert (row.rotation_warning, row.last_cleaning.agent, row.last_sporicidal_at) == (warning, "IPA", used)


@override_settings(SPORICIDAL_ROTATION_DAYS=3)
def test_the_rotation_period_is_a_setting(operator, room, fake_clock):
    _sporicidal(operator, room)
    assert selectors.room_rotation(room, at=fake_clock.current + dt.timedelta(days=3))["warning"].startswith(
        "Sporicidal agent overdue: none used for 3 days (the rotation asks for one at least every 3 days)")
    assert selectors.room_rotation(room)["max_age_days"] == 3


@override_settings(SPORICIDAL_ROTATION_DAYS="weekly")
def test_a_rotation_setting_that_is_not_a_number_of_days_is_refused_by_name(operator, room):
    with pytest.raises(RuleViolation, match="SPORICIDAL_ROTATION_DAYS must be a whole number of days"):
        selectors.room_rotation(room)


def test_rotation_rule_for_one_day():
    at = utc(2026, 3, 2, 8)
    assert sporicidal_warning(at, at + dt.timedelta(days=1), dt.timedelta(days=1), str).startswith(
        "Sporicidal agent overdue: none used for 1 day (the rotation asks for one at least every 1 day)")
