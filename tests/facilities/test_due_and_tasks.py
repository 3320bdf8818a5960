"""What is due: the maintenance lead's list (this month, or 30 days ahead) and 'my tasks' for
equipment overdue, for the people who calibrate, maintain and requalify."""

import datetime as dt

import pytest
from django.test import override_settings

from opencdmo.core import tasks
from opencdmo.core.domain.roles import Role
from opencdmo.facilities import selectors, services
from tests.factories import signature

from .conftest import utc


@pytest.fixture
def fleet(make_equipment, fake_clock):
    """Three assets calibrated on 2026-03-02 08:30 UTC: monthly, quarterly and yearly."""
    return [make_equipment(number, name="Analytical balance", kind="balance", calibration_interval_days=days)
            for number, days in (("EQ-BAL-01", 30), ("EQ-BAL-02", 90), ("EQ-BAL-03", 365))]


def test_the_due_list_runs_to_the_end_of_the_sites_month_and_includes_what_is_overdue(supervisor, fleet, fake_clock):
    fake_clock.set(utc(2026, 4, 10, 12))
    end = selectors.end_of_month(fake_clock.current)
    assert end == utc(2026, 4, 30, 22)  # 1 May 00:00 in Berlin (CEST)
    items = selectors.equipment_due(supervisor, until=end)
    assert [(i.equipment.number, i.what, i.state) for i in items] == [("EQ-BAL-01", "Calibration", "overdue")]
    ahead = selectors.equipment_due(supervisor, until=fake_clock.current + dt.timedelta(days=60))
    assert [(i.equipment.number, i.state) for i in ahead] == [("EQ-BAL-01", "overdue"), ("EQ-BAL-02", "current")]


def test_retired_equipment_owes_nothing(supervisor, fleet, fake_clock):
    services.transition_equipment(supervisor, fleet[0], "retire", signature=signature(supervisor, "Approved"),
                                  reason="replaced")
    fake_clock.advance(days=40)
    assert selectors.equipment_due(supervisor, until=fake_clock.current) == []


@override_settings(EQUIPMENT_DUE_WARNING_DAYS=7)
def test_how_far_ahead_due_dates_are_flagged_is_a_setting(supervisor, fleet, fake_clock):
    due = fleet[0].calibration_due_at
    [row, *_] = selectors.equipment_board(supervisor, at=due - dt.timedelta(days=8))
    assert row.dues[0].state == "current"
    [row, *_] = selectors.equipment_board(supervisor, at=due - dt.timedelta(days=7))
    assert row.dues[0].state == "due_soon"


def test_overdue_calibration_is_a_task_for_people_who_calibrate(supervisor, operator, make_user, fleet, fake_clock):
    fake_clock.set(fleet[0].calibration_due_at)
    [task] = [t for t in tasks.tasks_for(supervisor) if "EQ-BAL" in t.record]
    assert (task.title, task.record, task.url, task.status) == (
        "Calibrate (overdue)", "EQ-BAL-01 Analytical balance", "/facilities/equipment/EQ-BAL-01/", "in_service")
    assert task.detail == "was due 2026-04-01 10:30 CEST"
    assert not [t for t in tasks.tasks_for(operator) if "EQ-BAL" in t.record]
    viewer = make_user("acme.viewer", Role.SPONSOR_VIEWER)
    assert tasks.tasks_for(viewer) == []


def test_overdue_requalification_is_a_task_for_qa(supervisor, qa, make_equipment, fake_clock):
    equipment = make_equipment("EQ-CRF-01", kind="controlled_rate_freezer", requalification_interval_days=365)
    fake_clock.set(equipment.requalification_due_at)
    assert [t.title for t in tasks.tasks_for(qa) if "EQ-CRF-01" in t.record] == ["Requalify (overdue)"]
