"""Nelson rules 1–8 on constructed series (issue 8 acceptance; STAT-3, with zones STAT-1 and the
moving-range σ of STAT-4). Each series triggers exactly one rule at a known point; near misses
trigger nothing. Pure module: no database.

Series use mean 0 and σ 1 and sit on a background that triggers nothing: BACKGROUND repeats
(-1.5, 0.5, 0.8, -0.5): no 9-point side run, no 6-point trend, no long alternation, at most 3
points in a row within 1σ, one point beyond 1σ in four."""

from datetime import UTC, datetime, timedelta

import pytest

from opencdmo.envmon.domain.nelson import RULES, Signal, adverse_signals, baseline, repeated_excursions, signals

BACKGROUND = [-1.5, 0.5, 0.8, -0.5] * 3  # 12 points, ends within 1σ below the mean
START = len(BACKGROUND)  # index of the first point of the pattern under test


def fired(pattern, *, mean=0.0, sigma=1.0) -> list[tuple[int, int]]:
    return [(signal.rule, signal.index) for signal in signals(BACKGROUND + pattern + BACKGROUND,
                                                              mean=mean, sigma=sigma)]


def test_the_background_triggers_nothing():
    assert fired([]) == []


@pytest.mark.req("STAT-3")
@pytest.mark.parametrize(("rule", "pattern", "last"), [
    (1, [3.5], 0),
    (1, [-3.01], 0),
    (2, [0.5, 0.8, 0.3, 0.2, 0.6, 0.9, 0.4, 0.3, 0.7], 8),          # nine above the mean
    (2, [0.5, -0.5, -0.8, -0.3, -0.2, -0.6, -0.9, -0.4, -0.3, -0.7], 9),  # nine below (after one above)
    (3, [-0.9, -0.6, -0.2, 0.1, 0.4, 0.7], 5),                       # six increasing
    (3, [0.9, 0.6, 0.2, -0.1, -0.4, -0.7], 5),                       # six decreasing (after -0.5: up, then down)
    # a repeat of -0.5 stops the background's alternation, then 13 more points alternate: 14 in all
    (4, [-0.5] + [0.5, -1.2] * 6 + [0.5], 13),
    (5, [2.5, 0.3, 2.5], 2),                                         # two of three beyond 2σ above
    (5, [-2.5, -2.5], 1),                                            # …below; flagged at the second
    (6, [1.5, 1.5, 0.2, 1.5, 1.5], 4),                               # four of five beyond 1σ above
    # an outside point ends the background's within-1σ run, then 15 points within 1σ
    (7, [-1.5] + ([0.5, 0.8, -0.5, -0.2] * 4)[:15], 15),
    (8, [1.5, -1.5, -1.6, 1.5, 1.6, -1.5, -1.6, 1.5], 7),            # eight outside 1σ, both sides
])
def test_each_rule_fires_alone_where_its_pattern_is_complete(rule, pattern, last):
    assert fired(pattern) == [(rule, START + last)]


@pytest.mark.req("STAT-3")
@pytest.mark.parametrize(("rule", "pattern"), [
    (1, [3.0]),                                                       # exactly 3σ is not beyond
    (2, [0.5, 0.8, 0.3, 0.2, 0.6, 0.9, 0.4, 0.3]),                    # eight on one side
    (2, [0.5, 0.8, 0.3, 0.2, 0.0, 0.6, 0.9, 0.4, 0.3, 0.7]),          # a point on the mean breaks the run
    (3, [-0.9, -0.6, -0.2, 0.1, 0.4]),                                # five increasing
    (3, [-0.9, -0.6, -0.2, -0.2, 0.1, 0.4, 0.7]),                     # a repeated value breaks the trend
    (4, [-0.5] + [0.5, -1.2] * 6),                                    # thirteen alternating
    (4, [-0.5] + [0.5, -1.2] * 3 + [-1.2] + [0.5, -1.2] * 3),         # a repeated value breaks it
    (5, [2.5, 0.3, 0.3, 2.5]),                                        # two beyond 2σ but not within three
    (5, [2.5, 0.3, -2.5]),                                            # two beyond 2σ, opposite sides
    (5, [2.0, 2.0]),                                                  # exactly 2σ is not beyond
    (6, [1.5, 0.2, 1.5, 0.2, 1.5]),                                   # three of five
    (6, [1.5, 1.5, 0.2, -1.5, 1.5]),                                  # four of five, not on one side
    (7, [-1.5] + ([0.5, 0.8, -0.5, -0.2] * 4)[:14]),                  # fourteen within 1σ
    (8, [1.5, -1.5, -1.6, 1.5, 1.6, -1.5, -1.6, 0.2]),                # seven outside 1σ
])
def test_near_misses_trigger_nothing(rule, pattern):
    assert fired(pattern) == [], f"rule {rule} near miss"


@pytest.mark.req("STAT-3")
def test_eight_outside_on_one_side_is_not_rule_8():
    found = fired([1.5, 1.6, 1.5, 1.6, 1.5, 1.6, 1.5, 1.6, 0.2])
    assert 8 not in {rule for rule, _ in found}
    assert (6, START + 3) in found  # four of five beyond 1σ on one side, once for the whole run


@pytest.mark.req("STAT-3")
def test_a_long_run_gives_one_signal_where_it_first_qualifies_then_scanning_continues():
    # Seven increasing: one rule 3 signal at the sixth point; a later trend signals again.
    rising = [-0.9, -0.6, -0.3, 0.0, 0.3, 0.6, 0.9]
    found = signals(BACKGROUND + rising + [0.5] + rising + BACKGROUND, mean=0, sigma=10)
    assert [(s.rule, s.index) for s in found if s.rule == 3] == [(3, START + 5), (3, START + 8 + 5)]
    # Twelve points above the mean: one rule 2 signal, at the ninth.
    above = signals([1.0] * 12, mean=0, sigma=0)
    assert above == [Signal(2, 8, RULES[2])]


@pytest.mark.req("STAT-3")
def test_every_point_beyond_3_sigma_is_flagged():
    assert [(s.rule, s.index) for s in signals([0, 4, -4, 0], mean=0, sigma=1) if s.rule == 1] == [(1, 1), (1, 2)]


@pytest.mark.req("STAT-3")
def test_a_trend_turning_round_shares_its_turning_point():
    found = signals([0, 1, 2, 3, 4, 5, 6, 5, 4, 3, 2, 1, 0], mean=3, sigma=0)
    assert [(s.rule, s.index) for s in found] == [(3, 5), (3, 11)]


@pytest.mark.req("STAT-1")
def test_with_sigma_zero_the_rules_that_need_sigma_are_skipped():
    assert signals([5.0] * 20, mean=5, sigma=0) == []
    # Nine points above a zero-σ baseline: rule 2 only, never rule 1, 5, 6 or 8.
    assert [(s.rule, s.index) for s in signals([6.0] * 9, mean=5, sigma=0)] == [(2, 8)]


@pytest.mark.req("STAT-4")
def test_baseline_is_the_mean_and_the_average_moving_range_over_1_128():
    mean, sigma = baseline([1, 3, 2, 6])  # moving ranges 2, 1, 4 → MR̄ = 7/3
    assert mean == 3
    assert sigma == pytest.approx(7 / 3 / 1.128)
    assert baseline([4]) == (4.0, 0.0)
    with pytest.raises(ValueError):
        baseline([])


@pytest.mark.req("STAT-4")
def test_signals_use_the_series_baseline_unless_given_one():
    values = [2, 3, 2, 4, 3, 2, 3, 25, 3, 2, 4, 3]
    mean, sigma = baseline(values)
    assert signals(values) == signals(values, mean=mean, sigma=sigma)
    assert (1, 7) in [(s.rule, s.index) for s in signals(values)]
    assert all(s.rule != 1 for s in signals(values, mean=3, sigma=100))  # a given baseline replaces the series' own
    assert signals([]) == []


def test_a_series_with_a_missing_number_is_refused():
    with pytest.raises(ValueError, match="finite"):
        signals([1.0, float("nan"), 2.0])


def test_every_rule_has_a_description():
    assert sorted(RULES) == list(range(1, 9))
    assert all(RULES.values())


AT = datetime(2026, 3, 2, 8, 30, tzinfo=UTC)


@pytest.mark.req("A1-5")
@pytest.mark.parametrize(("offsets", "expected"), [
    ([0, 10, 20], True),
    ([0, 15, 30], True),              # exactly 30 days from first to last
    ([0, 15, 31], False),
    ([0, 29], False),                 # only two
    ([-100, -50, 0, 10, 20], True),   # the last three count
    ([0, 10, 20, 60], False),         # the latest three span 50 days
])
def test_repeated_alert_excursions_at_a_location(offsets, expected):
    assert repeated_excursions([AT + timedelta(days=days) for days in offsets]) is expected


def test_repeated_excursions_with_another_count_or_window():
    times = [AT, AT + timedelta(days=5)]
    assert repeated_excursions(times, count=2, days=7)
    assert not repeated_excursions(times, count=2, days=4)


@pytest.mark.req("STAT-3")
def test_clean_colony_counts_are_no_adverse_trend():
    """A lone colony, nine clean plates after it, fifteen flat ones: plain Nelson flags these
    (rules 1, 2, 7); for EM they are no rise in contamination and raise nothing."""
    clean = [0.0] * 20 + [1.0] + [0.0] * 15
    assert {s.rule for s in signals(clean)} >= {1, 2}
    assert adverse_signals(clean, counts=True) == []
    assert adverse_signals([2.0, 1.0] * 10, counts=True) == []  # alternating (rule 4) is not a rise


@pytest.mark.req("STAT-3")
def test_a_rise_in_counts_is_an_adverse_trend():
    rising = [0.0, 1.0, 0.0, 0.0, 1.0, 0.0] * 3 + [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    found = {(s.rule, s.index) for s in adverse_signals(rising, counts=True)}
    assert {(1, 22), (3, 23)} <= found  # 4 CFU beyond 3σ (σ ≥ 1 for counts), then six increasing
    falling = [0.0, 1.0, 0.0, 0.0, 1.0, 0.0] * 3 + [6.0, 5.0, 4.0, 3.0, 2.0, 1.0]
    assert 3 not in [s.rule for s in adverse_signals(falling, counts=True)]
    above = [1.0, 0.0] * 8 + [2.0] * 9  # nine in a row above the mean
    assert 2 in [s.rule for s in adverse_signals(above, counts=True)]
