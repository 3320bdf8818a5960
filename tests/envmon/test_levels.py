"""Site alert and action levels from history, and hand-set pairs (issue 8 acceptance: computed
alert levels are never looser than Annex 1; A1-5, A1-3). Pure module: no database."""

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from opencdmo.envmon.domain.levels import MEAN_K_SIGMA, METHODS, PERCENTILE, computed_levels, level_problems
from opencdmo.envmon.domain.limits import annex1_limit

D = Decimal
OP, REST = "in_operation", "at_rest"
GRADE_D_AIR = annex1_limit("D", "active_air", OP)  # Annex 1 maximum 200 CFU/m³


@pytest.mark.req("A1-5")
def test_percentile_levels_interpolate_between_ranked_results():
    # 0, 10, …, 200 (21 results): the 95th percentile is rank 19 = 190, the 99th rank 19.8 = 190 + 0.8·10.
    levels = computed_levels(range(0, 201, 10), method=PERCENTILE, annex1=GRADE_D_AIR)
    assert (levels.alert, levels.action, levels.n, levels.mean) == (D(190), D(198), 21, D(100))
    assert not levels.capped and levels.notes == ()


@pytest.mark.req("A1-5")
def test_percentile_levels_keep_decimals_when_not_whole_counts():
    levels = computed_levels(range(21), method=PERCENTILE, annex1=GRADE_D_AIR, whole=False)
    assert (levels.alert, levels.action) == (D("19.00"), D("19.80"))


@pytest.mark.req("A1-5")
def test_whole_counts_round_down_never_up():
    # 90th percentile of 0…20 is rank 18 = 18; 97.5th is rank 19.5 = 19.5 → 19 CFU, not 20.
    levels = computed_levels(range(21), method=PERCENTILE, annex1=GRADE_D_AIR, percentile=90, action_percentile=97.5)
    assert (levels.alert, levels.action) == (D(18), D(19))


@pytest.mark.req("A1-5")
def test_mean_plus_k_sigma_levels():
    # Ten 2s and ten 4s: mean 3, sample σ = √(20/19) = 1.0260; 3 + 2σ = 5.05 → 5, 3 + 3σ = 6.08 → 6.
    history = [2] * 10 + [4] * 10
    levels = computed_levels(history, method=MEAN_K_SIGMA, annex1=annex1_limit("C", "settle_plate", REST))
    assert (levels.alert, levels.action, levels.mean, levels.sd) == (D(5), D(6), D(3), D("1.03"))
    # 3 + 1σ = 4.026 → 4.02, 3 + 4σ = 7.104 → 7.10 (rounded down to 0.01)
    levels = computed_levels(history, method=MEAN_K_SIGMA, annex1=GRADE_D_AIR, alert_k=1, action_k=4, whole=False)
    assert (levels.alert, levels.action) == (D("4.02"), D("7.10"))


@pytest.mark.req("A1-5")
@pytest.mark.parametrize("method", list(METHODS))
def test_an_action_level_above_annex1_is_capped_at_annex1(method):
    levels = computed_levels(range(0, 401, 20), method=method, annex1=GRADE_D_AIR)
    assert levels.capped and levels.action == D(200)
    assert levels.alert == D(199)  # alert stays strictly below action
    assert any("Annex 1 maximum of 200" in note for note in levels.notes)


@pytest.mark.req("A1-5")
def test_alert_is_lowered_below_action_when_the_history_puts_them_together():
    levels = computed_levels([5] * 20, method=MEAN_K_SIGMA, annex1=GRADE_D_AIR)
    assert (levels.alert, levels.action) == (D(4), D(5))


@pytest.mark.req("A1-5")
def test_a_spotless_history_still_gives_alert_below_action():
    levels = computed_levels([0] * 20, method=PERCENTILE, annex1=annex1_limit("B", "active_air", OP))
    assert (levels.alert, levels.action) == (D(0), D(1))
    assert any("too clean" in note for note in levels.notes)


@pytest.mark.req("A1-3")
@pytest.mark.parametrize("method", list(METHODS))
def test_grade_a_no_growth_gives_alert_and_action_zero(method):
    history = [0] * 18 + [1, 2]
    levels = computed_levels(history, method=method, annex1=annex1_limit("A", "contact_plate", OP))
    assert (levels.alert, levels.action) == (D(0), D(0))
    assert any("any colony is an action excursion" in note for note in levels.notes)


@pytest.mark.req("A1-2")
def test_without_an_annex1_limit_levels_come_from_history_only():
    # Grade D in operation: Annex 1 predetermines no particle limit.
    history = range(1_000_000, 3_000_001, 100_000)  # 21 results
    levels = computed_levels(history, method=PERCENTILE, annex1=annex1_limit("D", "particles_0_5", OP))
    assert (levels.alert, levels.action, levels.capped) == (D(2_900_000), D(2_980_000), False)
    assert any("history only" in note for note in levels.notes)


@pytest.mark.req("A1-5")
def test_too_short_a_history_is_refused():
    with pytest.raises(ValueError, match="at least 20 historical results; there are 19"):
        computed_levels(range(19), method=PERCENTILE, annex1=GRADE_D_AIR)
    assert computed_levels(range(10), method=PERCENTILE, annex1=GRADE_D_AIR, minimum=10).n == 10


@pytest.mark.parametrize(("values", "kwargs", "message"), [
    (range(20), {"method": "median"}, "Unknown method"),
    ([*range(19), -1], {"method": PERCENTILE}, "negative"),
    ([*range(19), "NaN"], {"method": PERCENTILE}, "finite"),
    ([*range(19), "lots"], {"method": PERCENTILE}, "must be a number"),
    (range(20), {"method": PERCENTILE, "percentile": 99, "action_percentile": 95}, "Percentiles"),
    (range(20), {"method": PERCENTILE, "action_percentile": 101}, "Percentiles"),
    (range(20), {"method": MEAN_K_SIGMA, "alert_k": 3, "action_k": 3}, "multipliers"),
    (range(20), {"method": MEAN_K_SIGMA, "alert_k": 3, "action_k": 1e30}, "multipliers"),
    ([*range(19), 10**30], {"method": PERCENTILE}, "below 1,000,000,000,000"),
])
def test_bad_history_or_parameters_are_refused(values, kwargs, message):
    with pytest.raises(ValueError, match=message):
        computed_levels(values, annex1=GRADE_D_AIR, **kwargs)


ANNEX1_WITH_VALUES = [annex1_limit(grade, sample_type, state)
                      for grade in "BCD" for state in (OP, REST)
                      for sample_type in ("active_air", "settle_plate", "contact_plate", "glove_print",
                                          "particles_0_5", "particles_5")]


@pytest.mark.req("A1-5")
@settings(max_examples=300, deadline=None)
@given(history=st.lists(st.integers(0, 5_000_000), min_size=20, max_size=80),
       annex1=st.sampled_from(ANNEX1_WITH_VALUES), method=st.sampled_from(list(METHODS)), whole=st.booleans())
def test_computed_levels_are_never_looser_than_annex1_and_alert_is_always_below_action(history, annex1, method,
                                                                                         whole):
    levels = computed_levels(history, method=method, annex1=annex1, whole=whole)
    if annex1.value is not None:
        assert levels.action <= annex1.value
    assert 0 <= levels.alert < levels.action
    if whole:
        assert levels.alert == levels.alert.to_integral() and levels.action == levels.action.to_integral()
    assert not level_problems(levels.alert, levels.action, annex1)


@pytest.mark.req("A1-5")
@pytest.mark.parametrize(("alert", "action", "problems"), [
    ("3", "5", []),
    ("9.5", "10", []),                       # at the Annex 1 maximum is allowed
    ("-1", "5", ["alert level cannot be negative"]),
    ("5", "5", ["must be below the action level"]),
    ("6", "5", ["must be below the action level"]),
    ("8", "11", ["above the Annex 1 maximum of 10"]),
    ("-2", "-1", ["alert level cannot be negative", "action level cannot be negative"]),
    ("x", "5", ["must be a number"]),
    ("1", "1e15", ["must be below 1,000,000,000,000", "above the Annex 1 maximum"]),
])
def test_problems_of_a_hand_set_pair(alert, action, problems):
    found = level_problems(alert, action, annex1_limit("B", "active_air", OP))
    assert len(found) == len(problems)
    for sentence, expected in zip(found, problems, strict=True):
        assert expected in sentence


@pytest.mark.req("A1-3")
def test_hand_set_levels_in_grade_a_must_be_zero():
    limit = annex1_limit("A", "settle_plate", OP)
    assert level_problems(D(0), D(0), limit) == []
    assert "must both be 0" in level_problems(D(0), D(1), limit)[0]


def test_hand_set_levels_without_an_annex1_limit_only_need_order():
    limit = annex1_limit("D", "particles_5", OP)
    assert level_problems(D(100_000), D(500_000), limit) == []
    assert level_problems(D(500_000), D(100_000), limit)
