"""Units of measure: validated and converted by pint (domain/units.py), never by hand."""

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from opencdmo.materials.domain import units

# Units of one dimension each, whose factors are powers of ten: a conversion there and back is exact.
FAMILIES = {
    "volume": ["L", "mL", "µL", "uL", "dL"],
    "mass": ["kg", "g", "mg", "µg", "ng"],
    "count": ["each", "ea", "unit", "vial", "bag", "bottle", "kit"],
    "biological activity": ["IU", "kIU", "MIU"],
    "cells": ["cell", "cells"],
    "vector genomes": ["vg"],
}

quantities = st.decimals(min_value=Decimal("0.000001"), max_value=Decimal("999999"), places=6,
                         allow_nan=False, allow_infinity=False)


@given(quantity=quantities, data=st.data())
def test_a_conversion_there_and_back_gives_the_same_quantity(quantity, data):
    family = data.draw(st.sampled_from(sorted(FAMILIES)))
    a, b = data.draw(st.sampled_from(FAMILIES[family])), data.draw(st.sampled_from(FAMILIES[family]))
    assert units.convert(units.convert(quantity, a, b), b, a) == quantity


@given(quantity=quantities)
def test_litres_to_millilitres_is_a_factor_of_a_thousand(quantity):
    assert units.convert(quantity, "L", "mL") == quantity * 1000


@pytest.mark.parametrize(("quantity", "source", "target", "expected"), [
    ("1.5", "L", "mL", "1500"),
    ("250", "µL", "mL", "0.25"),
    ("10", "MIU", "IU", "10000000"),
    ("3", "bag", "each", "3"),  # pint's own 'bag' is 94 lb of cement: ours counts containers
    ("2", "unit", "vial", "2"),
    ("0.5", "g", "mg", "500"),
])
def test_known_conversions(quantity, source, target, expected):
    assert units.convert(Decimal(quantity), source, target) == Decimal(expected)


@pytest.mark.parametrize(("source", "target"), [("vial", "mL"), ("IU", "mg"), ("mL", "mg"), ("IU", "kat"),
                                                ("cell", "vial"), ("TU", "vg")])
def test_incompatible_units_are_refused(source, target):
    with pytest.raises(units.UnitError, match="cannot be converted"):
        units.convert(Decimal(1), source, target)


@pytest.mark.parametrize("unit", ["widgets", "mL/", "1e6", "vials!", "mL;DROP", "x" * 40, "", "   "])
def test_unknown_units_are_refused(unit):
    with pytest.raises(units.UnitError):
        units.canonical(unit)


@pytest.mark.parametrize(("unit", "stored"), [("ml", "mL"), ("µl", "µL"), ("uL", "µL"), ("vials", "vial"),
                                              ("cells", "cell"), ("IU", "IU"), ("unit", "unit")])
def test_units_are_stored_in_one_spelling(unit, stored):
    assert units.stock_unit(unit) == stored


@pytest.mark.parametrize("unit", ["%", "mL/min", "m", "degC", "h"])
def test_stock_is_counted_only_in_amounts(unit):
    with pytest.raises(units.UnitError, match="Stock cannot be counted"):
        units.stock_unit(unit)


@pytest.mark.parametrize(("text", "message"), [
    ("-5", "more than zero"), ("0", "more than zero"), ("abc", "is not a number"), ("NaN", "is not a number"),
    ("Infinity", "is not a number"), ("1,5", "is not a number"), ("", "Give a quantity"),
    ("1e400", "more than this system can record"),
])
def test_bad_quantities_are_refused_with_a_message(text, message):
    with pytest.raises(units.UnitError, match=message):
        units.quantity_in(text, "", "mL")


def test_a_stock_count_may_be_zero():
    assert units.quantity_in("0", "", "mL", allow_zero=True) == 0


def test_a_quantity_in_the_stock_unit_keeps_at_most_six_decimal_places():
    assert units.quantity_in("1.000001", "", "mL") == Decimal("1.000001")
    with pytest.raises(units.UnitError, match="at most 6 decimal places"):
        units.quantity_in("1.0000001", "", "mL")


def test_a_converted_quantity_is_rounded_to_what_is_stored_or_refused_when_nothing_would_be_left():
    assert units.quantity_in("1", "ng", "mg") == Decimal("0.000001")
    with pytest.raises(units.UnitError, match="too small to record"):
        units.quantity_in("0.4", "ng", "g")
    with pytest.raises(units.UnitError, match="more than this system can record"):
        units.quantity_in("999999999999", "kg", "ng")
