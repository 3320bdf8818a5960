"""Evaluation of every criterion kind at its exact boundaries, with rounding (issue 7 acceptance):
the value is read for what the method reports, rounded to the reported decimals by the
specification's rule, and only then compared. Pure module: no database."""

from decimal import Decimal

import pytest

from opencdmo.qc.domain.criteria import (
    CONFORMS,
    DOES_NOT_CONFORM,
    REPORTED,
    ROUNDING,
    Criterion,
    Evaluation,
    InvalidResult,
    describe,
    evaluate,
    round_reported,
)

D = Decimal


def numeric(value, kind, *, lower=None, upper=None, decimals=None, rounding="half_up", expected=""):
    criterion = Criterion(kind=kind, lower=None if lower is None else D(lower), upper=None if upper is None else D(upper),
                          expected=expected, decimals=decimals, rounding=rounding)
    return evaluate(value, result_kind="numeric", criterion=criterion)


def verdict(*args, **kwargs) -> str:
    return numeric(*args, **kwargs).conformance


# --- ≥ (at least) -------------------------------------------------------------------------------

@pytest.mark.req("QC-5")
@pytest.mark.parametrize(("value", "expected"), [
    ("70.0", CONFORMS),        # exactly at the limit
    ("70.1", CONFORMS),        # just inside
    ("69.9", DOES_NOT_CONFORM),  # just outside
    ("69.95", CONFORMS),       # half up to one decimal: 70.0
    ("69.94", DOES_NOT_CONFORM),  # 69.9
    ("69.96", CONFORMS),
])
def test_viability_at_least_70_percent_at_its_boundary_after_rounding(value, expected):
    assert verdict(value, "at_least", lower="70.0", decimals=1) == expected


@pytest.mark.req("QC-5")
def test_rounding_rule_decides_a_value_halfway_below_the_limit():
    # 69.95 is halfway: half up reports 70.0 (conforms); half even reports 70.0 too (0 is even) …
    assert numeric("69.95", "at_least", lower="70.0", decimals=1, rounding="half_up").reported == "70.0"
    assert verdict("69.95", "at_least", lower="70.0", decimals=1, rounding="half_even") == CONFORMS
    # … but 69.85 half even is 69.8 and half up 69.9: neither conforms to ≥ 69.9 under half even.
    assert verdict("69.85", "at_least", lower="69.9", decimals=1, rounding="half_up") == CONFORMS
    assert verdict("69.85", "at_least", lower="69.9", decimals=1, rounding="half_even") == DOES_NOT_CONFORM
    # Without rounding, the value as entered is compared.
    assert verdict("69.95", "at_least", lower="70.0", decimals=1, rounding="none") == DOES_NOT_CONFORM


def test_decimals_none_compares_the_value_as_entered():
    assert verdict("69.99999", "at_least", lower="70") == DOES_NOT_CONFORM
    assert verdict("70", "at_least", lower="70") == CONFORMS


# --- ≤ (at most) --------------------------------------------------------------------------------

@pytest.mark.req("QC-4")
@pytest.mark.parametrize(("value", "expected"), [
    ("5.00", CONFORMS), ("4.99", CONFORMS), ("5.01", DOES_NOT_CONFORM),
    ("5.004", CONFORMS),           # 5.00
    ("5.005", DOES_NOT_CONFORM),   # half up: 5.01
    ("< 0.50", CONFORMS),          # below the method's limit of quantitation
    ("<5.00", CONFORMS),           # every value below 5.00 meets ≤ 5.00
    ("> 5.00", DOES_NOT_CONFORM),  # above 5.00: outside whatever it is
    ("> 4.00", DOES_NOT_CONFORM),  # could be anything above 4: not shown to conform
])
def test_endotoxin_at_most_at_its_boundary_and_with_qualified_values(value, expected):
    assert verdict(value, "at_most", upper="5.00", decimals=2) == expected


@pytest.mark.req("QC-4")
def test_half_even_rounds_a_halfway_endotoxin_result_to_the_even_digit():
    assert numeric("0.125", "at_most", upper="0.12", decimals=2, rounding="half_even").reported == "0.12"
    assert verdict("0.125", "at_most", upper="0.12", decimals=2, rounding="half_even") == CONFORMS
    assert numeric("0.125", "at_most", upper="0.12", decimals=2, rounding="half_up").reported == "0.13"
    assert verdict("0.125", "at_most", upper="0.12", decimals=2, rounding="half_up") == DOES_NOT_CONFORM
    assert numeric("0.135", "at_most", upper="0.14", decimals=2, rounding="half_even").reported == "0.14"


def test_qualified_value_is_reported_with_its_qualifier_and_rounded():
    result = numeric("<0.5", "at_most", upper="5.0", decimals=2)
    assert result == Evaluation("< 0.50", D("0.50"), CONFORMS)
    assert numeric(" > 12.345 ", "report_only", decimals=1).reported == "> 12.3"


# --- > (more than) ------------------------------------------------------------------------------

@pytest.mark.parametrize(("value", "expected"), [
    ("15.0", DOES_NOT_CONFORM),  # at the limit: not more than it
    ("15.1", CONFORMS), ("14.9", DOES_NOT_CONFORM),
    ("15.04", DOES_NOT_CONFORM),  # reported 15.0
    ("15.05", CONFORMS),          # half up 15.1
    ("> 15.0", CONFORMS),         # anything above 15.0 is more than 15.0
    ("> 14.9", DOES_NOT_CONFORM),
    ("< 20", DOES_NOT_CONFORM),
])
def test_more_than_excludes_the_limit_itself(value, expected):
    assert verdict(value, "more_than", lower="15.0", decimals=1) == expected


# --- < (less than) ------------------------------------------------------------------------------

@pytest.mark.req("QC-5")
@pytest.mark.parametrize(("value", "expected"), [
    ("5.0", DOES_NOT_CONFORM),  # VCN: at the limit is not below it
    ("4.9", CONFORMS), ("5.1", DOES_NOT_CONFORM),
    ("4.95", DOES_NOT_CONFORM),  # half up: 5.0
    ("4.94", CONFORMS),          # 4.9
    ("< 5.0", CONFORMS),         # below 5.0 whatever it is
    ("< 5.1", DOES_NOT_CONFORM),
    ("> 1.0", DOES_NOT_CONFORM),
])
def test_vector_copy_number_less_than_5_at_its_boundary(value, expected):
    assert verdict(value, "less_than", upper="5.0", decimals=1) == expected


def test_half_even_can_keep_a_halfway_value_below_a_strict_limit():
    assert verdict("4.95", "less_than", upper="5.0", decimals=1, rounding="half_up") == DOES_NOT_CONFORM
    assert numeric("4.85", "less_than", upper="4.9", decimals=1, rounding="half_even").reported == "4.8"
    assert verdict("4.85", "less_than", upper="4.9", decimals=1, rounding="half_even") == CONFORMS
    assert verdict("4.85", "less_than", upper="4.9", decimals=1, rounding="half_up") == DOES_NOT_CONFORM


# --- range (inclusive) --------------------------------------------------------------------------

@pytest.mark.parametrize(("value", "expected"), [
    ("7.0", CONFORMS), ("7.4", CONFORMS),          # at both ends
    ("7.2", CONFORMS),
    ("6.9", DOES_NOT_CONFORM), ("7.5", DOES_NOT_CONFORM),  # just outside
    ("6.95", CONFORMS),        # half up: 7.0
    ("6.94", DOES_NOT_CONFORM),
    ("7.44", CONFORMS),        # 7.4
    ("7.45", DOES_NOT_CONFORM),  # 7.5
    ("< 7.4", DOES_NOT_CONFORM),  # could be below 7.0
    ("> 7.0", DOES_NOT_CONFORM),  # could be above 7.4
])
def test_ph_range_inclusive_at_both_ends(value, expected):
    assert verdict(value, "range", lower="7.0", upper="7.4", decimals=1) == expected


def test_range_half_even_at_both_ends():
    # 7.05 → 7.0 (half even) below 7.1, but 7.1 half up; 7.25 → 7.2 (half even) within, 7.3 half up outside.
    assert verdict("7.05", "range", lower="7.1", upper="7.2", decimals=1, rounding="half_even") == DOES_NOT_CONFORM
    assert verdict("7.05", "range", lower="7.1", upper="7.2", decimals=1, rounding="half_up") == CONFORMS
    assert verdict("7.25", "range", lower="7.1", upper="7.2", decimals=1, rounding="half_even") == CONFORMS
    assert verdict("7.25", "range", lower="7.1", upper="7.2", decimals=1, rounding="half_up") == DOES_NOT_CONFORM


# --- equals -------------------------------------------------------------------------------------

def test_numeric_equals_compares_the_rounded_value():
    assert verdict("1.0", "equals", lower="1", decimals=1) == CONFORMS
    assert verdict("1.04", "equals", lower="1.0", decimals=1) == CONFORMS
    assert verdict("1.05", "equals", lower="1.0", decimals=1) == DOES_NOT_CONFORM
    assert verdict("0.96", "equals", lower="1.0", decimals=1) == CONFORMS
    assert verdict("0.94", "equals", lower="1.0", decimals=1) == DOES_NOT_CONFORM
    assert verdict("< 1.0", "equals", lower="1.0", decimals=1) == DOES_NOT_CONFORM  # not a value


def test_choice_equals_the_expected_answer_in_any_case_and_spacing():
    criterion = Criterion(kind="equals", expected="Clear, colourless")
    choices = ["Clear, colourless", "Slightly opalescent", "Particles visible"]
    result = evaluate("  clear,   COLOURLESS ", result_kind="choice", criterion=criterion, choices=choices)
    assert result == Evaluation("Clear, colourless", None, CONFORMS)
    assert evaluate("Particles visible", result_kind="choice", criterion=criterion,
                    choices=choices).conformance == DOES_NOT_CONFORM
    with pytest.raises(InvalidResult, match="Enter one of: Clear, colourless, Slightly opalescent"):
        evaluate("cloudy", result_kind="choice", criterion=criterion, choices=choices)


def test_text_equals_and_report_only():
    identity = Criterion(kind="equals", expected="Consistent with reference")
    assert evaluate("consistent  with reference", result_kind="text", criterion=identity).conformance == CONFORMS
    assert evaluate("No match", result_kind="text", criterion=identity).conformance == DOES_NOT_CONFORM
    assert evaluate(" Three  bands ", result_kind="text", criterion=Criterion(kind="report_only")) == Evaluation(
        "Three bands", None, REPORTED)


def test_pass_fail_equals_pass():
    criterion = Criterion(kind="equals", expected="pass")
    assert evaluate("PASS", result_kind="pass_fail", criterion=criterion) == Evaluation("pass", None, CONFORMS)
    assert evaluate("fail", result_kind="pass_fail", criterion=criterion).conformance == DOES_NOT_CONFORM
    with pytest.raises(InvalidResult, match="Enter one of: pass, fail"):
        evaluate("ok", result_kind="pass_fail", criterion=criterion)


# --- not detected / no growth -------------------------------------------------------------------

@pytest.mark.req("QC-1")
def test_sterility_no_growth_conforms_and_growth_does_not():
    criterion = Criterion(kind="not_detected")
    assert evaluate("No growth", result_kind="growth", criterion=criterion) == Evaluation("no growth", None, CONFORMS)
    assert evaluate("growth", result_kind="growth", criterion=criterion).conformance == DOES_NOT_CONFORM
    with pytest.raises(InvalidResult, match="Enter one of: no growth, growth"):
        evaluate("not detected", result_kind="growth", criterion=criterion)


@pytest.mark.req("QC-3")
def test_mycoplasma_not_detected_conforms_and_detected_does_not():
    criterion = Criterion(kind="not_detected")
    assert evaluate("not  detected", result_kind="detection", criterion=criterion).conformance == CONFORMS
    assert evaluate("Detected", result_kind="detection", criterion=criterion).conformance == DOES_NOT_CONFORM
    with pytest.raises(InvalidResult, match="Enter one of: not detected, detected"):
        evaluate("negative", result_kind="detection", criterion=criterion)


def test_report_only_never_judges():
    assert numeric("123.456", "report_only", decimals=1) == Evaluation("123.5", D("123.5"), REPORTED)
    assert evaluate("detected", result_kind="detection", criterion=Criterion(kind="report_only")).conformance == REPORTED


# --- invalid input ------------------------------------------------------------------------------

@pytest.mark.parametrize(("value", "message"), [
    ("", "Enter the result."),
    ("   ", "Enter the result."),
    ("seventy", "is not a number"),
    ("<", "is not a number"),
    ("70 %", "is not a number"),
    ("NaN", "finite number"),
    ("Infinity", "finite number"),
    ("69,5", "has a comma"),        # never guess a decimal comma from a thousands separator
    ("1,500", "has a comma"),
    ("1e25", "too large"),
    ("0.000000000001", "decimal places"),
])
def test_unreadable_numbers_are_refused_with_what_to_enter(value, message):
    with pytest.raises(InvalidResult, match=message):
        numeric(value, "at_least", lower="70")


def test_scientific_notation_is_a_number():
    assert verdict("1.2E13", "at_least", lower="1.0E13") == CONFORMS
    assert verdict("9.9e12", "at_least", lower="1.0E13") == DOES_NOT_CONFORM


def test_a_criterion_of_another_kind_of_result_is_a_programming_error():
    with pytest.raises(ValueError, match="cannot be judged"):
        evaluate("growth", result_kind="growth", criterion=Criterion(kind="at_least", lower=D(1)))
    with pytest.raises(ValueError, match="cannot be judged"):
        numeric("1", "not_detected")
    with pytest.raises(ValueError, match="unknown result kind"):
        evaluate("1", result_kind="colour", criterion=Criterion(kind="report_only"))


# --- rounding and the printed limit -------------------------------------------------------------

def test_round_reported_by_each_rule():
    assert set(ROUNDING) == {"half_up", "half_even", "none"}
    assert round_reported(D("2.5"), 0, "half_up") == D("3")
    assert round_reported(D("2.5"), 0, "half_even") == D("2")
    assert round_reported(D("3.5"), 0, "half_even") == D("4")
    assert round_reported(D("-2.5"), 0, "half_up") == D("-3")
    assert round_reported(D("2.567"), None, "half_up") == D("2.567")
    assert round_reported(D("2.567"), 2, "none") == D("2.567")
    with pytest.raises(ValueError, match="unknown rounding rule"):
        round_reported(D("1"), 1, "ceiling")


def test_describe_prints_each_kind_as_a_specification_does():
    def text(kind, unit="", **fields):
        return describe(Criterion(kind=kind, **fields), unit)

    assert text("at_least", "%", lower=D("70"), decimals=1) == "≥ 70.0 %"
    assert text("at_most", "EU/mL", upper=D("5"), decimals=2) == "≤ 5.00 EU/mL"
    assert text("more_than", lower=D("15")) == "> 15"
    assert text("less_than", "copies/cell", upper=D("5.0"), decimals=1) == "< 5.0 copies/cell"
    assert text("range", lower=D("7.0"), upper=D("7.4"), decimals=1) == "7.0 – 7.4"
    assert text("equals", expected="Clear, colourless") == "Clear, colourless"
    assert text("equals", lower=D("1"), decimals=1) == "1.0"
    assert text("not_detected") == "not detected / no growth"
    assert describe(Criterion("not_detected"), result_kind="growth") == "no growth"
    assert describe(Criterion("not_detected"), result_kind="detection") == "not detected"
    assert text("report_only") == "report"


def test_a_limit_without_reported_decimals_prints_as_written():
    """Stored with 10 decimal places, shown without them: '≥ 10000000000000 vg/mL'."""
    assert describe(Criterion("at_least", lower=D("10000000000000.0000000000")), "vg/mL") == "≥ 10000000000000 vg/mL"
    assert describe(Criterion("at_most", upper=D("0.5000000000"))) == "≤ 0.5"
