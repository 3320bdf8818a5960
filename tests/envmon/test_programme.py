"""The monitoring programme: floor plans, sampling locations, plans, and the worklist of what is
due per shift, day, ISO week and batch (issue 8, item 1; A1-3)."""

import datetime as dt
from decimal import Decimal

import pytest

from opencdmo.core.errors import Conflict, PermissionDenied, RuleViolation
from opencdmo.core.models import AuditEvent
from opencdmo.envmon import selectors, services
from opencdmo.envmon.models import Location
from opencdmo.facilities import services as facilities_services
from tests.envmon import sampling_builders as b

pytestmark = pytest.mark.django_db

UTC = dt.UTC


@pytest.fixture
def p(sponsor_a, fake_clock):
    return b.programme(sponsor_a)


def _due(plan, now=None):
    return [d for d in selectors.due_samples(now) if d.plan.pk == plan.pk]


def test_floor_plan_dimensions_are_bounded_and_audited(p):
    with pytest.raises(RuleViolation):
        services.set_floor_plan(p.coordinator, p.room, width_m="0", length_m="5", reason="survey")
    with pytest.raises(RuleViolation):
        services.set_floor_plan(p.coordinator, p.room, width_m="501", length_m="5", reason="survey")
    with pytest.raises(RuleViolation):
        services.set_floor_plan(p.coordinator, p.room, width_m="NaN", length_m="5", reason="survey")
    with pytest.raises(RuleViolation, match="reason"):
        services.set_floor_plan(p.coordinator, p.room, width_m="6", length_m="5", reason=" ")
    with pytest.raises(PermissionDenied):
        services.set_floor_plan(p.sampler, p.room, width_m="6", length_m="5", reason="survey")
    room = services.set_floor_plan(p.coordinator, p.room, width_m="6.5", length_m="4", reason="as built survey")
    assert (room.width_m, room.length_m, room.floor_area_m2) == (Decimal("6.50"), Decimal("4.00"), Decimal("26.00"))
    assert AuditEvent.objects.filter(action="floor_plan", reason="as built survey").exists()


@pytest.mark.req("A1-3")
def test_locations_have_unique_upper_case_codes_positions_in_the_plan_and_known_types(p):
    location = b.location(p, "b-l1")
    assert location.code == "B-L1"
    with pytest.raises(Conflict):
        b.location(p, "B-L1")
    for x, y in (("-1", "5"), ("5", "100.5"), ("abc", "5")):
        with pytest.raises(RuleViolation):
            services.create_location(p.coordinator, p.room, code="B-L2", name="x", x=x, y=y,
                                     sample_types=["settle_plate"])
    with pytest.raises(RuleViolation):
        services.create_location(p.coordinator, p.room, code="B-L2", name="x", x=1, y=1, sample_types=["swab"])
    with pytest.raises(PermissionDenied):
        services.create_location(p.sampler, p.room, code="B-L2", name="x", x=1, y=1, sample_types=["settle_plate"])
    assert Location.objects.count() == 1


@pytest.mark.req("A1-3")
def test_glove_prints_only_in_grade_a_and_b(p):
    grade_c = facilities_services.create_room(p.world.supervisor, area=p.room.area, code="EMC1", name="Prep",
                                              grade="C")
    with pytest.raises(RuleViolation, match="Glove prints"):
        services.create_location(p.coordinator, grade_c, code="C-L1", name="Bench", x=1, y=1,
                                 sample_types=["glove_print"])
    assert b.location(p, "A-G1", room=p.grade_a, types=("glove_print",)).sample_types == ["glove_print"]


def test_one_active_plan_per_location_type_and_state(p):
    location = b.location(p, types=("settle_plate",))
    with pytest.raises(RuleViolation):
        services.create_plan(p.coordinator, location, sample_type="contact_plate", frequency="daily",
                             state="in_operation")
    with pytest.raises(RuleViolation):
        services.create_plan(p.coordinator, location, sample_type="settle_plate", frequency="hourly",
                             state="in_operation")
    plan = services.create_plan(p.coordinator, location, sample_type="settle_plate", frequency="daily",
                                state="in_operation")
    with pytest.raises(Conflict):
        services.create_plan(p.coordinator, location, sample_type="settle_plate", frequency="weekly",
                             state="in_operation")
    services.create_plan(p.coordinator, location, sample_type="settle_plate", frequency="weekly", state="at_rest")
    services.retire_plan(p.coordinator, plan, reason="frequency revised")
    services.create_plan(p.coordinator, location, sample_type="settle_plate", frequency="per_shift",
                         state="in_operation")
    services.retire_location(p.coordinator, location, reason="bench removed")
    assert not location.plans.filter(is_active=True).exists()
    with pytest.raises(RuleViolation, match="retired"):
        services.create_plan(p.coordinator, location, sample_type="settle_plate", frequency="daily",
                             state="in_operation")


def _plan(p, frequency, state="in_operation", code="B-W1"):
    location = b.location(p, code, types=("settle_plate",))
    return services.create_plan(p.coordinator, location, sample_type="settle_plate", frequency=frequency,
                                state=state)


def test_per_shift_plans_are_due_once_per_site_time_shift(p, fake_clock):
    # Europe/Berlin in March is UTC+1: shifts start 05:00, 13:00 and 21:00 UTC
    fake_clock.set(dt.datetime(2026, 3, 2, 4, 30, tzinfo=UTC))  # 05:30 local: the night shift of 22:00
    plan = _plan(p, "per_shift")
    b.plate(p, plan.location, "settle_plate", plan=plan)
    fake_clock.set(dt.datetime(2026, 3, 2, 4, 59, tzinfo=UTC))
    assert _due(plan) == []
    fake_clock.set(dt.datetime(2026, 3, 2, 5, 0, tzinfo=UTC))  # 06:00 local: the early shift begins
    assert [d.since for d in _due(plan)] == [dt.datetime(2026, 3, 2, 5, 0, tzinfo=UTC)]
    b.plate(p, plan.location, "settle_plate", plan=plan)
    assert _due(plan) == []
    fake_clock.set(dt.datetime(2026, 3, 2, 12, 59, tzinfo=UTC))
    assert _due(plan) == []
    fake_clock.set(dt.datetime(2026, 3, 2, 13, 0, tzinfo=UTC))
    assert len(_due(plan)) == 1


def test_daily_plans_follow_the_site_day(p, fake_clock):
    plan = _plan(p, "daily")
    assert len(_due(plan)) == 1
    b.plate(p, plan.location, "settle_plate", plan=plan)
    assert _due(plan) == []
    fake_clock.set(dt.datetime(2026, 3, 2, 22, 59, tzinfo=UTC))  # 23:59 local
    assert _due(plan) == []
    fake_clock.set(dt.datetime(2026, 3, 2, 23, 0, tzinfo=UTC))  # midnight local
    assert len(_due(plan)) == 1


def test_weekly_plans_follow_the_iso_week(p, fake_clock):
    plan = _plan(p, "weekly")  # 2 March 2026 is a Monday
    b.plate(p, plan.location, "settle_plate", plan=plan)
    fake_clock.set(dt.datetime(2026, 3, 8, 22, 59, tzinfo=UTC))  # Sunday 23:59 local
    assert _due(plan) == []
    fake_clock.set(dt.datetime(2026, 3, 8, 23, 0, tzinfo=UTC))  # Monday 00:00 local, ISO week 11
    assert len(_due(plan)) == 1


def test_an_invalidated_sample_leaves_the_plan_due(p, fake_clock):
    plan = _plan(p, "daily")
    sample = b.plate(p, plan.location, "settle_plate", plan=plan)
    services.invalidate_sample(p.coordinator, sample, reason="plate lid left open")
    assert len(_due(plan)) == 1


def test_per_batch_plans_are_due_for_each_running_batch_in_the_room(p, fake_clock):
    plan = _plan(p, "per_batch")
    now = fake_clock()
    assert _due(plan) == []  # the world's batch is planned, not started
    running = b.batch_between(p, now - dt.timedelta(hours=2), None)
    b.batch_between(p, now - dt.timedelta(hours=5), now - dt.timedelta(hours=3))  # completed
    b.batch_between(p, now - dt.timedelta(hours=2), None, room=p.grade_a)  # another room
    assert [d.batch for d in _due(plan)] == [running]
    with pytest.raises(RuleViolation, match="name the batch"):
        b.plate(p, plan.location, "settle_plate", plan=plan)
    b.plate(p, plan.location, "settle_plate", plan=plan, batch=running)
    assert _due(plan) == []


def test_per_batch_plans_of_a_zone_are_due_for_the_batches_of_its_room(p, fake_clock):
    zone = facilities_services.create_room(p.world.supervisor, area=p.room.area, code="EMBSC", name="BSC in suite",
                                           grade="A", within=p.room)
    facilities_services.transition_room(p.world.supervisor, zone, "in_operation", reason="aseptic processing")
    location = b.location(p, "BSC-1", room=zone, types=("settle_plate",))
    plan = services.create_plan(p.coordinator, location, sample_type="settle_plate", frequency="per_batch",
                                state="in_operation")
    now = fake_clock()
    running = b.batch_between(p, now - dt.timedelta(hours=2), None)  # made in the room the cabinet stands in
    assert [d.batch for d in _due(plan)] == [running]
    b.plate(p, location, "settle_plate", plan=plan, batch=running)
    assert _due(plan) == []


def test_plans_are_due_in_their_room_state_only(p, fake_clock):
    operating = _plan(p, "daily")
    resting = services.create_plan(p.coordinator, operating.location, sample_type="settle_plate", frequency="daily",
                                   state="at_rest")
    assert (len(_due(operating)), len(_due(resting))) == (1, 0)
    facilities_services.transition_room(p.world.supervisor, p.room, "at_rest", reason="end of campaign")
    assert (len(_due(operating)), len(_due(resting))) == (0, 1)
    facilities_services.transition_room(p.world.supervisor, p.room, "maintenance", reason="HEPA change")
    assert (len(_due(operating)), len(_due(resting))) == (0, 0)


def test_shift_starts_are_a_site_setting(p, fake_clock, settings):
    settings.EM_SHIFT_STARTS = "07:00, 19:00"
    fake_clock.set(dt.datetime(2026, 3, 2, 5, 30, tzinfo=UTC))  # 06:30 local: still the night shift of 19:00
    assert selectors.period_start("per_shift", fake_clock()) == dt.datetime(2026, 3, 1, 18, 0, tzinfo=UTC)
    settings.EM_SHIFT_STARTS = "7 o'clock"
    with pytest.raises(RuleViolation, match="EM_SHIFT_STARTS"):
        selectors.period_start("per_shift", fake_clock())
