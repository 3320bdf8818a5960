"""EU GMP Annex 1 limits applied for every grade, sample type and state, at their boundaries under
both comparison rules (issue 8 acceptance: A1-1, A1-2, A1-3). Pure module: no database.

The expected values are typed here from the regulatory reference, not read from the module."""

from decimal import Decimal

import pytest

from opencdmo.envmon.domain.limits import (
    AT_OR_ABOVE,
    CLASSIFICATION,
    COMPARISONS,
    EXCEEDS,
    MONITORING,
    annex1_limit,
    beyond,
    finite_decimal,
    judge,
    per_cubic_metre,
)
from opencdmo.envmon.domain.programme import ACTION, ALERT, WITHIN

D = Decimal
P05, P5, REST, OP = "particles_0_5", "particles_5", "at_rest", "in_operation"
NG = "no growth"

# A1-2, Table 5 (2022): monitoring limits, particles/m³. None: not predetermined.
MONITORING_2022 = {
    ("A", REST, P05): 3_520, ("A", REST, P5): 29, ("A", OP, P05): 3_520, ("A", OP, P5): 29,
    ("B", REST, P05): 3_520, ("B", REST, P5): 29, ("B", OP, P05): 352_000, ("B", OP, P5): 2_930,
    ("C", REST, P05): 352_000, ("C", REST, P5): 2_930, ("C", OP, P05): 3_520_000, ("C", OP, P5): 29_300,
    ("D", REST, P05): 3_520_000, ("D", REST, P5): 29_300, ("D", OP, P05): None, ("D", OP, P5): None,
}
# A1-1, Table 1 (2022): classification limits. ≥5 µm "not specified" in A and B at rest and A in operation.
CLASSIFICATION_2022 = {
    ("A", REST, P05): 3_520, ("A", REST, P5): None, ("A", OP, P05): 3_520, ("A", OP, P5): None,
    ("B", REST, P05): 3_520, ("B", REST, P5): None, ("B", OP, P05): 352_000, ("B", OP, P5): 2_930,
    ("C", REST, P05): 352_000, ("C", REST, P5): 2_930, ("C", OP, P05): 3_520_000, ("C", OP, P5): 29_300,
    ("D", REST, P05): 3_520_000, ("D", REST, P5): 29_300, ("D", OP, P05): None, ("D", OP, P5): None,
}
# 2008 edition (one table), for results recorded under it.
PARTICLES_2008 = {
    ("A", REST, P05): 3_520, ("A", REST, P5): 20, ("A", OP, P05): 3_520, ("A", OP, P5): 20,
    ("B", REST, P05): 3_520, ("B", REST, P5): 29, ("B", OP, P05): 352_000, ("B", OP, P5): 2_900,
    ("C", REST, P05): 352_000, ("C", REST, P5): 2_900, ("C", OP, P05): 3_520_000, ("C", OP, P5): 29_000,
    ("D", REST, P05): 3_520_000, ("D", REST, P5): 29_000, ("D", OP, P05): None, ("D", OP, P5): None,
}
# A1-3, Table 6: maximum action limits for viable contamination, the same in every state and
# both editions. None: not applicable (gloves in C and D).
VIABLE = {
    ("A", "active_air"): NG, ("A", "settle_plate"): NG, ("A", "contact_plate"): NG, ("A", "glove_print"): NG,
    ("B", "active_air"): 10, ("B", "settle_plate"): 5, ("B", "contact_plate"): 5, ("B", "glove_print"): 5,
    ("C", "active_air"): 100, ("C", "settle_plate"): 50, ("C", "contact_plate"): 25, ("C", "glove_print"): None,
    ("D", "active_air"): 200, ("D", "settle_plate"): 100, ("D", "contact_plate"): 50, ("D", "glove_print"): None,
}
VIABLE_CASES = [(grade, sample_type, state, edition, value) for (grade, sample_type), value in VIABLE.items()
                for state in (REST, OP) for edition in ("2022", "2008")]


def level(value, limit, **kwargs) -> str:
    return judge(D(value), limit, **kwargs).level


def assert_maximum(limit, expected):
    """`expected` is the Annex 1 maximum: at it is within, one above is an action excursion."""
    if expected is None:
        assert limit.value is None and not limit.applies
        assert level(10**9, limit) == WITHIN  # Annex 1 sets none: only site levels can judge
        return
    assert limit.value == expected and limit.applies and not limit.no_growth
    assert level(expected, limit) == WITHIN
    assert level(expected + 1, limit) == ACTION


@pytest.mark.req("A1-2")
@pytest.mark.parametrize(("grade", "state", "sample_type"), list(MONITORING_2022))
def test_every_monitoring_particle_limit_applies_for_its_grade_and_state(grade, state, sample_type):
    assert_maximum(annex1_limit(grade, sample_type, state), MONITORING_2022[(grade, state, sample_type)])


@pytest.mark.req("A1-1")
@pytest.mark.parametrize(("grade", "state", "sample_type"), list(CLASSIFICATION_2022))
def test_every_classification_particle_limit_applies_for_its_grade_and_state(grade, state, sample_type):
    limit = annex1_limit(grade, sample_type, state, purpose=CLASSIFICATION)
    assert limit.purpose == CLASSIFICATION
    assert_maximum(limit, CLASSIFICATION_2022[(grade, state, sample_type)])


@pytest.mark.req("A1-1")
@pytest.mark.req("A1-2")
@pytest.mark.parametrize(("grade", "state"), [("A", REST), ("A", OP), ("B", REST)])
def test_classification_and_monitoring_tables_differ_at_5_micrometres_in_a_and_b(grade, state):
    assert annex1_limit(grade, P5, state, purpose=MONITORING).value == 29
    assert annex1_limit(grade, P5, state, purpose=CLASSIFICATION).value is None
    assert level(30, annex1_limit(grade, P5, state, purpose=MONITORING)) == ACTION


@pytest.mark.req("A1-2")
@pytest.mark.parametrize(("grade", "state", "sample_type"), list(PARTICLES_2008))
@pytest.mark.parametrize("purpose", [MONITORING, CLASSIFICATION])
def test_every_2008_particle_limit_applies_to_results_recorded_under_it(grade, state, sample_type, purpose):
    limit = annex1_limit(grade, sample_type, state, edition="2008", purpose=purpose)
    assert limit.edition == "2008"
    assert_maximum(limit, PARTICLES_2008[(grade, state, sample_type)])


@pytest.mark.req("A1-3")
@pytest.mark.parametrize(("grade", "sample_type", "state", "edition", "expected"), VIABLE_CASES)
def test_every_viable_action_limit_applies_for_its_grade_sample_type_and_state(grade, sample_type, state, edition,
                                                                              expected):
    limit = annex1_limit(grade, sample_type, state, edition=edition)
    if expected == NG:
        assert limit.no_growth and limit.value == 0 and limit.applies
        for comparison in COMPARISONS:
            assert level(0, limit, comparison=comparison) == WITHIN
            assert level(1, limit, comparison=comparison) == ACTION
    else:
        assert_maximum(limit, expected)


@pytest.mark.req("A1-3")
@pytest.mark.parametrize("comparison", [EXCEEDS, AT_OR_ABOVE])
@pytest.mark.parametrize("sample_type", ["active_air", "settle_plate", "contact_plate", "glove_print"])
def test_grade_a_one_colony_is_an_action_excursion_under_both_comparison_rules(comparison, sample_type):
    limit = annex1_limit("A", sample_type, OP)
    verdict = judge(D(1), limit, comparison=comparison)
    assert verdict.level == ACTION and "grade A" in verdict.reason
    assert level(0, limit, comparison=comparison) == WITHIN
    # A site alert or action level cannot make grade A growth anything but action.
    assert level(1, limit, alert=D(5), action=D(10), comparison=comparison) == ACTION


# Grade B active air: Annex 1 maximum 10 CFU/m³ (A1-3 example: 10 is at the limit, 11 exceeds it).
@pytest.mark.req("A1-3")
@pytest.mark.parametrize(("value", "exceeds", "at_or_above"), [
    ("9", WITHIN, WITHIN),          # limit − 1
    ("9.99", WITHIN, WITHIN),       # just below
    ("10", WITHIN, ACTION),         # at the limit: the rule decides
    ("10.00", WITHIN, ACTION),
    ("10.01", ACTION, ACTION),      # just above
    ("11", ACTION, ACTION),         # limit + 1
])
def test_boundaries_of_an_annex1_limit_under_both_comparison_rules(value, exceeds, at_or_above):
    limit = annex1_limit("B", "active_air", OP)
    assert level(value, limit, comparison=EXCEEDS) == exceeds
    assert level(value, limit, comparison=AT_OR_ABOVE) == at_or_above


@pytest.mark.req("A1-2")
@pytest.mark.parametrize(("value", "exceeds", "at_or_above"), [
    ("351999", WITHIN, WITHIN), ("352000", WITHIN, ACTION), ("352000.5", ACTION, ACTION), ("352001", ACTION, ACTION),
])
def test_boundaries_of_a_particle_limit_under_both_comparison_rules(value, exceeds, at_or_above):
    limit = annex1_limit("B", P05, OP)
    assert level(value, limit, comparison=EXCEEDS) == exceeds
    assert level(value, limit, comparison=AT_OR_ABOVE) == at_or_above


@pytest.mark.req("A1-5")
@pytest.mark.parametrize(("value", "exceeds", "at_or_above"), [
    ("2", WITHIN, WITHIN), ("3", WITHIN, ALERT), ("4", ALERT, ALERT),
    ("5", ALERT, ACTION), ("6", ACTION, ACTION),
])
def test_site_action_level_tighter_than_annex1_applies(value, exceeds, at_or_above):
    limit = annex1_limit("B", "active_air", OP)  # Annex 1: 10
    assert level(value, limit, alert=D(3), action=D(5), comparison=EXCEEDS) == exceeds
    assert level(value, limit, alert=D(3), action=D(5), comparison=AT_OR_ABOVE) == at_or_above


@pytest.mark.req("A1-5")
def test_site_action_level_looser_than_annex1_is_ignored_for_annex1():
    limit = annex1_limit("B", "active_air", OP)  # Annex 1: 10
    verdict = judge(D(11), limit, alert=D(8), action=D(15))
    assert verdict.level == ACTION and "Annex 1 limit of 10" in verdict.reason
    assert level(10, limit, alert=D(8), action=D(15)) == ALERT
    assert level(10, limit, alert=D(8), action=D(15), comparison=AT_OR_ABOVE) == ACTION


@pytest.mark.req("A1-5")
def test_site_action_level_names_itself_as_the_reason():
    verdict = judge(D(6), annex1_limit("C", "settle_plate", REST), alert=D(3), action=D(5))
    assert verdict.level == ACTION and "site action level of 5" in verdict.reason


@pytest.mark.req("A1-5")
def test_alert_level_alone_raises_an_alert_and_sets_no_action():
    limit = annex1_limit("D", P05, OP)  # grade D in operation: Annex 1 sets no limit
    assert level(1_000_001, limit, alert=D(1_000_000)) == ALERT
    assert level(1_000_000, limit, alert=D(1_000_000)) == WITHIN
    assert level(1_000_001, limit, alert=D(1_000_000), action=D(2_000_000)) == ALERT
    assert level(2_000_001, limit, alert=D(1_000_000), action=D(2_000_000)) == ACTION


def test_an_unclassified_room_has_no_annex1_limit():
    limit = annex1_limit("U", "active_air", OP)
    assert not limit.applies and str(limit) == "EU GMP Annex 1 (2022): not set"


@pytest.mark.parametrize(("args", "kwargs", "word"), [
    (("E", "active_air", OP), {}, "grade"),
    (("B", "swab", OP), {}, "sample type"),
    (("B", "active_air", "dynamic"), {}, "room state"),
    (("B", "active_air", OP), {"edition": "1997"}, "edition"),
    (("B", "active_air", OP), {"purpose": "audit"}, "purpose"),
])
def test_unknown_grade_type_state_edition_or_purpose_is_refused(args, kwargs, word):
    with pytest.raises(ValueError, match=word):
        annex1_limit(*args, **kwargs)


def test_unknown_comparison_rule_is_refused_even_in_grade_a():
    with pytest.raises(ValueError, match="comparison"):
        judge(D(0), annex1_limit("A", "active_air", OP), comparison="greater")
    with pytest.raises(ValueError, match="comparison"):
        beyond(D(1), D(1), "greater")


def test_limits_read_as_text():
    assert str(annex1_limit("A", "settle_plate", OP)) == "EU GMP Annex 1 (2022): no growth"
    assert str(annex1_limit("C", P05, OP)) == "EU GMP Annex 1 (2022): 3,520,000"


def test_particle_count_becomes_a_concentration_per_cubic_metre():
    assert per_cubic_metre(10, D("28.3")) == D("353.36")
    assert per_cubic_metre(0, D(1000)) == D("0.00")
    with pytest.raises(ValueError, match="positive"):
        per_cubic_metre(1, D(0))


@pytest.mark.parametrize("bad", ["x", "NaN", "Infinity", None])
def test_finite_decimal_refuses_what_is_not_a_finite_number(bad):
    with pytest.raises(ValueError, match="Result"):
        finite_decimal(bad, "Result")
