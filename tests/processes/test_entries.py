"""Operator entries: parsed, made canonical and checked against the MBR's limits at the exact boundaries."""

from decimal import Decimal

import pytest

from opencdmo.processes.domain.definition import MaterialLine, Parameter, Range
from opencdmo.processes.domain.entries import (
    EntryError,
    Evaluation,
    calculate,
    evaluate,
    limits_text,
    material_quantity,
    range_text,
)

D = Decimal
temperature = Parameter(id="t", label="Temperature", type="number", unit="°C", decimals=1,
                        normal=Range(D("36.5"), D("37.5")), acceptable=Range(D("36.0"), D("38.0")))
moi = Parameter(id="moi", label="MOI", type="number", normal=Range(D(2), D(5)),
                acceptable=Range(D("1.5"), D(6), high_inclusive=False))
exclusive = Parameter(id="ph", label="pH", type="number", normal=Range(D(7), D(8), False, False),
                      acceptable=Range(D("6.5"), D("8.5"), False, False))
viability = Parameter(id="v", label="Viability", type="number", unit="%", normal=Range(low=D(80)),
                      acceptable=Range(low=D(70), low_inclusive=False))
volume = Parameter(id="vector_volume", label="Vector volume", type="calculated", unit="mL", decimals=2,
                   formula="moi * viable_cells / titer", normal=Range(D(1), D(5)), acceptable=Range(D("0.5"), D(10)))


@pytest.mark.req("A11-3")
@pytest.mark.parametrize(("parameter", "raw", "outcome"), [
    (temperature, "36.5", "ok"), (temperature, "37.5", "ok"), (temperature, "37.6", "outside_normal"),
    (temperature, "36.4", "outside_normal"), (temperature, "36.0", "outside_normal"),
    (temperature, "38.0", "outside_normal"), (temperature, "38.1", "outside_acceptable"),
    (temperature, "35.9", "outside_acceptable"),
    (moi, "1.5", "outside_normal"), (moi, "1.4", "outside_acceptable"), (moi, "5.9999", "outside_normal"),
    (moi, "6", "outside_acceptable"), (moi, "2", "ok"), (moi, "5", "ok"),
    (exclusive, "7", "outside_normal"), (exclusive, "8", "outside_normal"), (exclusive, "7.01", "ok"),
    (exclusive, "6.5", "outside_acceptable"), (exclusive, "8.5", "outside_acceptable"),
    (viability, "80", "ok"), (viability, "79.9", "outside_normal"), (viability, "70.01", "outside_normal"),
    (viability, "70", "outside_acceptable"), (viability, "100000", "ok"),
])
def test_range_checks_at_the_exact_boundaries(parameter, raw, outcome):
    assert evaluate(parameter, raw).outcome == outcome


def test_a_number_is_recorded_canonically():
    cells = Parameter(id="c", label="Viable cells", type="number")
    assert evaluate(cells, " 3.2e8 ") == Evaluation("3.2e8", D("3.2e8"), "ok")
    assert evaluate(cells, "3.2E+8").value == "3.2e8"
    assert evaluate(cells, "+0.10").value == "0.10"
    assert evaluate(cells, "-5").number == D(-5)


@pytest.mark.parametrize(("raw", "message"), [
    ("abc", r"'abc' is not a number: enter digits, e.g. 3.2e8"),
    ("NaN", "not a number"), ("Infinity", "not a number"), ("-inf", "not a number"), ("1 000", "not a number"),
    ("1,5", "use a point for decimals"), ("1,000.5", "no thousands separators"), ("0x10", "not a number"),
    ("", "a value is required"), ("   ", "a value is required"), ("37.55", "'37.55' has 2 decimals: report to 1 "),
])
def test_bad_numbers_are_refused_with_a_message_the_operator_can_act_on(raw, message):
    with pytest.raises(EntryError, match=message):
        evaluate(temperature, raw)


def test_decimals_count_the_digits_after_the_point():
    whole = Parameter(id="n", label="Vials", type="number", decimals=0)
    assert evaluate(whole, "3e8").number == D("3e8")
    with pytest.raises(EntryError, match="report to 0 decimals"):
        evaluate(whole, "3.0")
    assert evaluate(temperature, "37.0").value == "37.0"


def test_an_optional_entry_may_be_left_empty():
    optional = Parameter(id="n", label="Note", type="number", required=False)
    assert evaluate(optional, "  ") == Evaluation("", None, "ok")


def test_text_is_stripped_and_required():
    note = Parameter(id="n", label="Note", type="text")
    assert evaluate(note, "  Bag intact \n").value == "Bag intact"
    with pytest.raises(EntryError, match="a value is required"):
        evaluate(note, " ")


def test_yes_no_is_case_insensitive_and_flags_the_unexpected_answer():
    intact = Parameter(id="b", label="Bag intact", type="yes_no", expected="yes")
    assert evaluate(intact, "YES") == Evaluation("yes", None, "ok")
    assert evaluate(intact, " No ") == Evaluation("no", None, "unexpected")
    assert evaluate(Parameter(id="c", label="C", type="yes_no"), "no").outcome == "ok"
    with pytest.raises(EntryError, match="answer yes or no"):
        evaluate(intact, "y")


def test_a_choice_must_be_one_of_the_choices():
    colour = Parameter(id="c", label="Colour", type="choice", choices=("clear", "turbid"), expected="clear")
    assert evaluate(colour, "Clear") == Evaluation("clear", None, "ok")
    assert evaluate(colour, "turbid").outcome == "unexpected"
    with pytest.raises(EntryError, match="choose one of clear, turbid"):
        evaluate(colour, "cloudy")


def test_date_and_time_in_iso_8601():
    start = Parameter(id="s", label="Start", type="datetime")
    assert evaluate(start, "2026-03-14T09:30").value == "2026-03-14 09:30"
    assert evaluate(start, "2026-03-14 09:30").value == "2026-03-14 09:30"
    for bad in ("2026-02-30 09:30", "14/03/2026 09:30", "2026-03-14", "2026-03-14 9:30", "2026-03-14 25:00"):
        with pytest.raises(EntryError, match="write YYYY-MM-DD HH:MM"):
            evaluate(start, bad)


def test_a_scan_is_a_stripped_printable_identifier():
    bag = Parameter(id="s", label="Bag label", type="scan", scan="coi")
    assert evaluate(bag, "  COI-0001-A\r\n").value == "COI-0001-A"
    for bad in ("x" * 201, "COI\x00001"):
        with pytest.raises(EntryError, match="scan again"):
            evaluate(bag, bad)


def test_a_calculated_parameter_is_never_typed():
    with pytest.raises(EntryError, match="calculated from earlier entries"):
        evaluate(volume, "3")
    with pytest.raises(EntryError, match="entered, not calculated"):
        calculate(moi, {})


@pytest.mark.req("A11-3")
def test_a_calculated_value_is_rounded_half_up_before_it_is_checked():
    values = {"moi": D(3), "titer": D("1e8")}
    assert calculate(volume, values | {"viable_cells": D("1.66e8")}) == Evaluation("4.98", D("4.98"), "ok")
    # 5.004 rounds to 5.00, inside the normal range; 5.005 rounds to 5.01, outside it.
    assert calculate(volume, values | {"viable_cells": D("1.668e8")}).outcome == "ok"
    assert calculate(volume, values | {"viable_cells": D("1.66835e8")}) == Evaluation("5.01", D("5.01"),
                                                                                       "outside_normal")
    assert calculate(volume, values | {"viable_cells": D("4e8")}).outcome == "outside_acceptable"


def test_a_calculation_that_cannot_be_made_says_why():
    with pytest.raises(EntryError, match="Division by zero"):
        calculate(volume, {"moi": D(3), "viable_cells": D("1e8"), "titer": D(0)})
    with pytest.raises(EntryError, match="'titer' has no value"):
        calculate(volume, {"moi": D(3), "viable_cells": D("1e8")})


def test_range_and_limits_text():
    assert range_text(Range(D("36.5"), D("37.5"))) == "[36.5, 37.5]"
    assert range_text(Range(low=D(70))) == "≥ 70"
    assert range_text(Range(high=D(6), high_inclusive=False)) == "< 6"
    assert range_text(Range(D("1.5"), D(6), False, False)) == "(1.5, 6)"
    assert range_text(Range(D("1e8"), D("5e8"))) == "[1e8, 5e8]"
    assert limits_text(temperature) == "NOR [36.5, 37.5] · PAR [36.0, 38.0] °C"
    assert limits_text(moi) == "NOR [2, 5] · PAR [1.5, 6)"
    assert limits_text(Parameter(id="b", label="B", type="yes_no", expected="yes")) == "expected: yes"
    assert limits_text(Parameter(id="n", label="N", type="text")) == ""


def test_material_quantity_is_a_formula_of_scale():
    assert material_quantity(MaterialLine("IL2-RH", "100 * scale", "IU"), D("2.5")) == D(250)
    assert material_quantity(MaterialLine("BAG", "1", "each"), D(7)) == D(1)
