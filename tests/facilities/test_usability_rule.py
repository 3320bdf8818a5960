"""The usability rule itself (pure, no database): every reason, each exactly at its boundary."""

import dataclasses
import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from opencdmo.facilities.domain.usability import EquipmentState, unusable_reasons

T = dt.datetime(2026, 3, 2, 12, 0, tzinfo=dt.UTC)
US = dt.timedelta(microseconds=1)
HOLD = dt.timedelta(hours=72)

USABLE = EquipmentState(
    status="in_service", iq_date=dt.date(2026, 1, 5), oq_date=dt.date(2026, 1, 6), pq_date=dt.date(2026, 1, 8),
    calibration_required=True, calibration_due_at=T + dt.timedelta(days=100),
    maintenance_due_at=T + dt.timedelta(days=100), cleaning_required=True, cleaned_at=T - dt.timedelta(hours=1),
    clean_hold=HOLD, dirty=False, requalification_due_at=T + dt.timedelta(days=300),
)


def codes(state, at):
    return [r.code for r in unusable_reasons(state, at)]


def test_equipment_in_service_qualified_calibrated_and_clean_is_usable():
    assert unusable_reasons(USABLE, T) == []


# Each due time: usable one microsecond before it, unusable at that very instant, with that reason.
BOUNDARIES = [
    ("calibration_overdue", {"calibration_due_at": T}, "its calibration was due 2026-03-02 12:00 UTC"),
    ("maintenance_overdue", {"maintenance_due_at": T}, "its preventive maintenance was due 2026-03-02 12:00 UTC"),
    ("clean_hold_expired", {"cleaned_at": T - HOLD}, "its clean hold expired 2026-03-02 12:00 UTC"),
    ("requalification_overdue", {"requalification_due_at": T},
     "it is not qualified: its requalification was due 2026-03-02 12:00 UTC"),
]


@pytest.mark.req("P11-1f")
@pytest.mark.parametrize(("code", "change", "text"), BOUNDARIES, ids=[b[0] for b in BOUNDARIES])
def test_a_due_time_makes_equipment_unusable_exactly_at_that_instant(code, change, text):
    state = dataclasses.replace(USABLE, **change)
    assert unusable_reasons(state, T - US) == []
    [reason] = unusable_reasons(state, T)
    assert (reason.code, reason.text, str(reason)) == (code, text, text)


def test_a_clean_hold_of_72_hours_from_0800_on_day_1_has_expired_at_0800_on_day_4():
    cleaned = dt.datetime(2026, 3, 1, 8, 0, tzinfo=dt.UTC)
    state = dataclasses.replace(USABLE, cleaned_at=cleaned)
    assert codes(state, dt.datetime(2026, 3, 4, 7, 59, 59, 999999, tzinfo=dt.UTC)) == []
    assert codes(state, dt.datetime(2026, 3, 4, 8, 0, tzinfo=dt.UTC)) == ["clean_hold_expired"]


@pytest.mark.parametrize("status", ["commissioning", "qualified", "out_of_service", "maintenance", "quarantine",
                                    "retired"])
def test_only_equipment_in_service_is_usable(status):
    [reason] = unusable_reasons(dataclasses.replace(USABLE, status=status), T)
    assert reason.code == "status"
    assert reason.text.startswith("it is")


def test_equipment_is_not_qualified_before_its_pq_day_and_qualified_from_it():
    state = dataclasses.replace(USABLE, pq_date=dt.date(2026, 3, 2))
    midnight = dt.datetime(2026, 3, 2, tzinfo=dt.UTC)
    assert [r.text for r in unusable_reasons(state, midnight - US)] == ["it is not qualified (PQ not completed)"]
    assert unusable_reasons(state, midnight) == []


def test_missing_qualification_stages_are_named():
    state = dataclasses.replace(USABLE, oq_date=None, pq_date=None)
    assert [r.text for r in unusable_reasons(state, T)] == ["it is not qualified (OQ, PQ not completed)"]


def test_used_equipment_is_not_clean_until_cleaned_again():
    [reason] = unusable_reasons(dataclasses.replace(USABLE, dirty=True), T)
    assert (reason.code, reason.text) == ("not_clean", "it is not clean (used since its last cleaning)")
    [reason] = unusable_reasons(dataclasses.replace(USABLE, cleaned_at=None), T)
    assert (reason.code, reason.text) == ("not_clean", "it is not clean")


def test_never_calibrated_equipment_that_needs_calibration_is_unusable():
    assert codes(dataclasses.replace(USABLE, calibration_due_at=None), T) == ["never_calibrated"]
    assert codes(dataclasses.replace(USABLE, calibration_due_at=None, calibration_required=False), T) == []


def test_equipment_that_needs_no_cleaning_is_not_held_to_a_clean_hold():
    state = dataclasses.replace(USABLE, cleaning_required=False, cleaned_at=None, dirty=True)
    assert unusable_reasons(state, T) == []


@pytest.mark.req("P11-1f")
def test_every_reason_is_given_at_once_not_just_the_first():
    state = dataclasses.replace(USABLE, status="out_of_service", pq_date=None, calibration_due_at=T,
                                maintenance_due_at=T, dirty=True)
    assert codes(state, T) == ["status", "not_qualified", "calibration_overdue", "maintenance_overdue", "not_clean"]
    expired = dataclasses.replace(state, pq_date=USABLE.pq_date, requalification_due_at=T, dirty=False,
                                  cleaned_at=T - HOLD)
    assert codes(expired, T) == ["status", "requalification_overdue", "calibration_overdue", "maintenance_overdue",
                                 "clean_hold_expired"]


def test_times_in_reasons_are_written_by_the_callers_clock_format():
    state = dataclasses.replace(USABLE, calibration_due_at=T)
    [reason] = unusable_reasons(state, T, show_time=lambda moment: f"<{moment:%H:%M}>")
    assert reason.text == "its calibration was due <12:00>"


moments = st.datetimes(min_value=dt.datetime(2025, 1, 1), max_value=dt.datetime(2028, 1, 1),
                       timezones=st.just(dt.UTC))
states = st.builds(
    EquipmentState,
    status=st.sampled_from(["in_service", "out_of_service", "commissioning"]),
    iq_date=st.none() | st.dates(dt.date(2025, 1, 1), dt.date(2027, 1, 1)),
    oq_date=st.none() | st.dates(dt.date(2025, 1, 1), dt.date(2027, 1, 1)),
    pq_date=st.none() | st.dates(dt.date(2025, 1, 1), dt.date(2027, 1, 1)),
    calibration_required=st.booleans(), calibration_due_at=st.none() | moments,
    maintenance_due_at=st.none() | moments, cleaning_required=st.booleans(), cleaned_at=st.none() | moments,
    clean_hold=st.none() | st.timedeltas(dt.timedelta(hours=1), dt.timedelta(days=30)), dirty=st.booleans(),
    requalification_due_at=st.none() | moments,
)


@given(states, moments, moments)
def test_waiting_never_makes_a_due_thing_current_again(state, first, second):
    """Time only adds reasons (overdue stays overdue), except a qualification stage reaching its day."""
    earlier, later = sorted([first, second])
    before = set(codes(state, earlier)) - {"not_qualified", "requalification_overdue"}
    assert before <= set(codes(state, later))


@given(states, moments)
def test_usable_means_no_reason(state, at):
    reasons = unusable_reasons(state, at)
    assert len({r.code for r in reasons}) == len(reasons)
    assert all(r.text for r in reasons)
