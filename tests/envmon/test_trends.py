"""Room trends, location control charts and the floor-plan heat map (A1-3, A1-5, STAT-3, STAT-4)."""

import datetime as dt
from decimal import Decimal

import pytest

from opencdmo.core import clock
from opencdmo.core.domain.roles import Role
from opencdmo.envmon import charts, selectors
from opencdmo.envmon.domain import programme
from opencdmo.envmon.models import EmSample

from . import builders

DAY = dt.timedelta(days=1)


@pytest.fixture
def em(db, fake_clock, make_user):
    user = make_user("em.coordinator", Role.QC_REVIEWER)
    room = builders.room("EM-C01", grade="C", width="8", length="4")
    return user, room, builders.locations(room, user, 3, sample_types=("settle_plate",))


@pytest.mark.req("A1-5")
def test_trend_draws_the_site_levels_and_the_annex1_maximum_when_they_differ(em):
    user, room, (loc, *_) = em
    builders.level_set(user, "C", "settle_plate", 10, 20)
    builders.samples(loc, user, [3, 12, 25, 4], sample_type="settle_plate", start=clock.now() - 10 * DAY)
    trend = selectors.room_trend(room, sample_type="settle_plate")
    assert (trend.limits.alert, trend.limits.action, trend.limits.annex1.value) == (10, 20, 50)
    assert [p.level for p in trend.series[0].points] == ["within", "alert", "action", "within"]
    svg = charts.trend_chart(trend)
    assert "Alert 10" in svg and "Action 20" in svg and "Annex 1 50" in svg
    assert "Action level" in svg and "Alert level" in svg  # the legend names each level's colour


@pytest.mark.req("A1-3")
def test_trend_without_site_levels_draws_annex1_as_the_action_line_once(em):
    user, room, (loc, *_) = em
    builders.samples(loc, user, [3, 60], sample_type="settle_plate", start=clock.now() - 3 * DAY)
    trend = selectors.room_trend(room, sample_type="settle_plate")
    svg = charts.trend_chart(trend)
    assert trend.limits.alert is None and trend.limits.action == 50
    assert "Action 50" in svg and "Annex 1" not in svg and "Alert" not in svg.replace("Alert level", "")


@pytest.mark.req("STAT-3")
def test_trend_finds_nelson_signals_per_location_and_marks_them(em):
    user, room, (first, second, _) = em
    builders.samples(first, user, [1, 2, 3, 4, 5, 6, 7], sample_type="settle_plate", start=clock.now() - 20 * DAY)
    builders.samples(second, user, [2, 2, 3, 2, 3, 2, 3], sample_type="settle_plate", start=clock.now() - 20 * DAY)
    trend = selectors.room_trend(room, sample_type="settle_plate")
    rules = {(loc.code, s.rule, p.value) for loc, s, p in trend.signals}
    assert (first.code, 3, Decimal(6)) in rules  # six in a row increasing, at its sixth point
    assert not [r for r in rules if r[0] == second.code and r[1] == 3]
    assert "Nelson rule n broken" in charts.trend_chart(trend)


def test_trend_window_defaults_to_90_days_and_leaves_out_invalidated_and_unread(em):
    user, room, (loc, *_) = em
    builders.samples(loc, user, [9], sample_type="settle_plate", start=clock.now() - 91 * DAY)
    builders.samples(loc, user, [1, None], sample_type="settle_plate", start=clock.now() - 5 * DAY)
    builders.samples(loc, user, [8], sample_type="settle_plate", start=clock.now() - 2 * DAY, status="invalidated")
    trend = selectors.room_trend(room, sample_type="settle_plate")
    assert [p.value for s in trend.series for p in s.points] == [1]
    longer = selectors.room_trend(room, sample_type="settle_plate", start=clock.now() - 365 * DAY)
    assert [p.value for s in longer.series for p in s.points] == [9, 1]


@pytest.mark.parametrize("kwargs, message", [
    ({"sample_type": "nonsense"}, "Choose a sample type"),
    ({"sample_type": "settle_plate", "state": "asleep"}, "Choose a room state"),
    ({"sample_type": "settle_plate", "start": dt.datetime(2026, 3, 1, tzinfo=dt.UTC),
      "end": dt.datetime(2026, 2, 1, tzinfo=dt.UTC)}, "must start before it ends"),
])
def test_trend_refuses_bad_input_with_what_to_do(em, kwargs, message):
    with pytest.raises(selectors.RuleViolation, match=message):
        selectors.room_trend(em[1], **kwargs)


@pytest.mark.req("STAT-4")
def test_location_control_chart_uses_the_moving_range_sigma(em):
    user, _, (loc, *_) = em
    builders.samples(loc, user, [2, 4, 2, 4, 30], sample_type="settle_plate", start=clock.now() - 5 * DAY)
    (chart,) = selectors.location_control_charts(loc)
    assert chart.mean == pytest.approx(8.4)
    assert chart.sigma == pytest.approx((2 + 2 + 2 + 26) / 4 / 1.128)
    svg = charts.control_chart(chart)
    assert "Mean 8.4" in svg and "+3σ" in svg


def test_heat_map_colours_each_location_by_its_latest_level_and_greys_no_data(em):
    user, room, (within, action, silent) = em
    builders.level_set(user, "C", "settle_plate", 10, 20)
    builders.samples(within, user, [30, 2], sample_type="settle_plate", start=clock.now() - 3 * DAY)  # latest is 2
    builders.samples(action, user, [25], sample_type="settle_plate", start=clock.now() - DAY)
    builders.samples(silent, user, [15], sample_type="settle_plate", start=clock.now() - 31 * DAY)  # too old
    plan = selectors.floor_plan(room)
    spots = {s.location.code: s for s in plan.spots}
    assert spots[within.code].level == programme.WITHIN and spots[within.code].ratio == Decimal("0.10")
    assert spots[action.code].level == programme.ACTION and spots[action.code].ratio == Decimal("1.25")
    assert spots[silent.code].level == selectors.NO_DATA and spots[silent.code].latest == []
    assert (plan.width, plan.length) == (Decimal(8), Decimal(4))


def test_heat_map_takes_two_queries_whatever_the_number_of_locations(em, django_assert_max_num_queries):
    user, room, locs = em
    for loc in locs:
        builders.samples(loc, user, [1, 2, 3], sample_type="settle_plate", start=clock.now() - 5 * DAY)
    with django_assert_max_num_queries(2):
        plan = selectors.floor_plan(room)
        assert len([s for s in plan.spots if s.latest]) == 3


def test_heat_map_of_a_room_without_a_floor_plan_is_a_square(em):
    room = builders.room("EM-D09", grade="D", width=None, length=None)
    plan = selectors.floor_plan(room)
    assert plan.width == plan.length and plan.spots == []


def test_rooms_overview_counts_recent_alerts_and_open_action_excursions(em):
    user, room, (loc, *_) = em
    builders.level_set(user, "C", "settle_plate", 10, 20)
    saved = builders.samples(loc, user, [12, 25, 11], sample_type="settle_plate", start=clock.now() - 3 * DAY)
    builders.samples(loc, user, [15], sample_type="settle_plate", start=clock.now() - 40 * DAY)
    builders.excursion(EmSample.objects.get(number=saved[1].number), user)
    row = next(r for r in selectors.rooms_overview() if r["code"] == room.code)
    assert (row["alerts"], row["open_actions"]) == (2, 1)
    assert row["last_result"] == clock.now() - DAY
