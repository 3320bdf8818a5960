"""FMEA arithmetic (QRM-1): RPN, level rules, score validation, heat map."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from opencdmo.quality.domain import risk
from opencdmo.quality.domain.risk import DEFAULT_LEVELS, RiskRuleError, Scales

pytestmark = pytest.mark.req("QRM-1")

SCALES = Scales(10, 10, 10)
score = st.integers(min_value=1, max_value=10)


def test_rpn_is_the_product_of_the_three_scores():
    assert risk.rpn(9, 4, 3) == 108
    assert risk.rpn(1, 1, 1) == 1
    assert risk.rpn(10, 10, 10) == 1000


@pytest.mark.parametrize(("s", "o", "d", "expected"), [
    (5, 5, 4, "high"),     # RPN 100
    (5, 5, 3, "medium"),   # RPN 75
    (9, 1, 1, "high"),     # severity override
    (8, 5, 1, "medium"),   # RPN 40 exactly
    (8, 4, 1, "low"),      # RPN 32
    (1, 1, 1, "low"),
])
def test_level_follows_the_first_rule_that_holds(s, o, d, expected):
    assert risk.level(DEFAULT_LEVELS, s, o, d) == expected


@given(score, score, score, st.sampled_from(["s", "o", "d"]), st.integers(min_value=1, max_value=9))
def test_rpn_never_falls_when_a_score_rises(s, o, d, which, step):
    raised = {"s": (min(s + step, 10), o, d), "o": (s, min(o + step, 10), d), "d": (s, o, min(d + step, 10))}[which]
    assert risk.rpn(*raised) >= risk.rpn(s, o, d)


@given(score, score, score, st.sampled_from(["s", "o", "d"]), st.integers(min_value=1, max_value=9))
def test_level_never_falls_when_a_score_rises(s, o, d, which, step):
    rank = risk.level_rank(DEFAULT_LEVELS)
    raised = {"s": (min(s + step, 10), o, d), "o": (s, min(o + step, 10), d), "d": (s, o, min(d + step, 10))}[which]
    assert rank[risk.level(DEFAULT_LEVELS, *raised)] >= rank[risk.level(DEFAULT_LEVELS, s, o, d)]


@given(st.lists(st.tuples(st.sampled_from(["high", "medium", "low"]),
                          st.sampled_from(["min_rpn", "min_severity", "min_occurrence", "min_detection"]),
                          st.integers(min_value=1, max_value=1000)), max_size=5),
       score, score, score, st.sampled_from(["s", "o", "d"]))
def test_any_valid_method_gives_a_level_that_never_falls_when_a_score_rises(rules, s, o, d, which):
    order = {"high": 0, "medium": 1, "low": 2}
    levels = [{"level": name, key: value} for name, key, value in sorted(rules, key=lambda r: order[r[0]])]
    levels.append({"level": "low"})
    rank = risk.level_rank(levels)
    raised = {"s": (min(s + 1, 10), o, d), "o": (s, min(o + 1, 10), d), "d": (s, o, min(d + 1, 10))}[which]
    assert rank[risk.level(levels, *raised)] >= rank[risk.level(levels, s, o, d)]


@pytest.mark.parametrize(("rules", "message"), [
    ([], "at least one"),
    ([{"level": "high", "min_rpn": 100}], "last level rule must have no threshold"),
    ([{"min_rpn": 5}, {"level": "low"}], "must name its level"),
    ([{"level": "high", "max_rpn": 5}, {"level": "low"}], "unknown thresholds"),
    ([{"level": "high", "min_rpn": 0}, {"level": "low"}], "at least 1"),
    ([{"level": "high", "min_rpn": "100"}, {"level": "low"}], "whole number"),
    ([{"level": "high", "min_rpn": 100}, {"level": "low", "min_rpn": 10}, {"level": "high", "min_severity": 9},
      {"level": "low"}], "comes back"),
    ("high", "at least one"),
])
def test_a_method_whose_rules_cannot_level_every_row_is_refused(rules, message):
    with pytest.raises(RiskRuleError, match=message):
        risk.validate_levels(rules)


def test_level_names_run_from_the_most_severe_down():
    assert risk.validate_levels(DEFAULT_LEVELS) == ["high", "medium", "low"]
    assert risk.level_rank(DEFAULT_LEVELS) == {"high": 2, "medium": 1, "low": 0}


@pytest.mark.parametrize("scores", [(0, 1, 1), (11, 1, 1), (1, 11, 1), (1, 1, 0), (1.5, 1, 1), (True, 1, 1),
                                    ("3", 1, 1), (None, 1, 1)])
def test_a_score_outside_the_methods_scale_is_refused(scores):
    with pytest.raises(RiskRuleError, match="whole number from 1 to 10"):
        risk.validate_scores(SCALES, *scores)


def test_scores_on_a_smaller_scale():
    risk.validate_scores(Scales(5, 5, 5), 5, 5, 5)
    with pytest.raises(RiskRuleError, match="Detection must be a whole number from 1 to 4"):
        risk.validate_scores(Scales(5, 5, 4), 5, 5, 5)


def test_heat_map_counts_each_cell_and_shows_its_worst_level():
    points = [(9, 2, "high"), (9, 2, "high"), (5, 5, "medium"), (5, 5, "high"), (1, 1, "low")]
    grid = risk.heat_map(DEFAULT_LEVELS, Scales(10, 10, 10), points)
    assert len(grid) == 10 and all(len(row) == 10 for row in grid)
    assert grid[0][0].severity == 10 and grid[-1][0].severity == 1  # severity from the top down
    cell = grid[10 - 9][2 - 1]
    assert (cell.severity, cell.occurrence, cell.count, cell.level) == (9, 2, 2, "high")
    assert grid[10 - 5][5 - 1].count == 2 and grid[10 - 5][5 - 1].level == "high"
    assert sum(c.count for row in grid for c in row) == len(points)


def test_an_empty_cell_shows_its_zone():
    grid = risk.heat_map(DEFAULT_LEVELS, Scales(10, 10, 10), [])
    assert grid[0][0].count == 0 and grid[0][0].level == "high"  # severity 10: high by override
    assert grid[-1][0].level == "low"


@given(st.lists(st.tuples(score, score, st.sampled_from(["high", "medium", "low"])), max_size=40))
def test_the_heat_map_counts_every_failure_mode_once(points):
    grid = risk.heat_map(DEFAULT_LEVELS, SCALES, points)
    assert sum(c.count for row in grid for c in row) == len(points)
