"""Units of measure and conversions, by the pint library (never by hand).

Beyond SI, a CDMO counts things (vials, bags, cells) and activities (IU, transducing units,
vector genomes); each gets its own dimension so that 1 vial never converts to 1 IU.
"""

import re
from decimal import Decimal, InvalidOperation
from functools import cache

import pint


class UnitError(ValueError):
    """A quantity or unit a person typed that this system cannot use; the message says why."""


# What a unit expression may contain: names, prefixes, exponents, products and quotients.
_UNIT_TEXT = re.compile(r"[A-Za-zµμ°%][A-Za-z0-9µμ°% /*^._-]{0,31}")


@cache
def _registry() -> pint.UnitRegistry:
    # A CDMO bag is a container counted in items, not pint's cement bag (94 lb): redefined quietly.
    registry = pint.UnitRegistry(non_int_type=Decimal, on_redefinition="ignore")
    registry.define("each = [item] = ea = unit_item")
    registry.define("unit = each")  # "unit" alone is a count, never micro-"nit" (pint's reading)
    for name in ("vial", "bag", "bottle", "box", "kit", "tube", "flask", "plate", "piece"):
        registry.define(f"{name} = each")
    registry.define("cell = [cells]")
    # pint's [activity] is catalytic activity (mol/s); an IU of a cytokine is a biological
    # activity defined by a reference standard, convertible to nothing else.
    registry.define("international_unit = [biological_activity] = IU")
    registry.define("transducing_unit = [transduction] = TU")
    registry.define("vector_genome = [genome] = vg")
    # pint caches what every predefined unit (its own 'bag' among them) reduces to when the
    # registry is built; rebuild it so the redefinitions above are what conversions use.
    # tests/materials/test_units.py proves 3 bag = 3 each, so a pint upgrade cannot undo it unseen.
    registry._build_cache()
    return registry


def canonical(unit: str) -> str:
    """The unit as stored ('mL', 'µg', 'vial'), or UnitError when it is not a unit."""
    if not isinstance(unit, str) or not unit.strip():
        raise UnitError("Give a unit of measure (for example mL, mg, IU or vial).")
    if not _UNIT_TEXT.fullmatch(unit.strip()):
        raise UnitError(f"'{unit[:40]}' is not a unit of measure this system knows.")
    try:
        parsed = _registry().Unit(unit.strip().replace("µ", "u"))
    except (pint.errors.UndefinedUnitError, pint.errors.DefinitionSyntaxError, AttributeError,
            TypeError, ValueError, AssertionError) as exc:
        raise UnitError(f"'{unit}' is not a unit of measure this system knows.") from exc
    symbol = f"{parsed:~}".replace(" ", "") or unit.strip()
    # Litre is written with a capital L in GMP documents (mL, µL), pint writes "l".
    return symbol[:-1] + "L" if symbol.endswith("l") and parsed.dimensionality == {"[length]": 3} else symbol


def convert(quantity: Decimal, from_unit: str, to_unit: str) -> Decimal:
    registry = _registry()
    try:
        value = registry.Quantity(Decimal(quantity), canonical(from_unit).replace("µ", "u"))
        converted = Decimal(value.to(canonical(to_unit).replace("µ", "u")).magnitude)
        return converted.quantize(Decimal(1)) if converted == converted.to_integral() else converted.normalize()
    except pint.errors.DimensionalityError:
        raise UnitError(f"{from_unit} cannot be converted to {to_unit}.") from None
    except InvalidOperation:
        raise UnitError(f"{quantity} {from_unit} in {to_unit} is more than this system can record.") from None


def parse_quantity(text, *, allow_zero: bool = False) -> Decimal:
    """A positive decimal from user input (zero too with `allow_zero`, for a stock count), or
    UnitError with a message that says what is wrong."""
    if isinstance(text, bool) or text is None or str(text).strip() == "":
        raise UnitError("Give a quantity.")
    try:
        value = Decimal(str(text).strip())
    except (InvalidOperation, ValueError):
        raise UnitError(f"'{text}' is not a number.") from None
    if not value.is_finite():
        raise UnitError(f"'{text}' is not a number.")
    if value < 0 or (value == 0 and not allow_zero):
        raise UnitError("The quantity must be zero or more." if allow_zero else "The quantity must be more than zero.")
    if value.adjusted() >= MAX_DIGITS_BEFORE_POINT:
        raise UnitError(f"{text} is more than this system can record (less than 10^{MAX_DIGITS_BEFORE_POINT}).")
    return value


# What a stock quantity can be: an amount of something, never a rate, a length or a percentage.
STOCK_DIMENSIONS = {
    "mass": {"[mass]": 1},
    "volume": {"[length]": 3},
    "count": {"[item]": 1},
    "cells": {"[cells]": 1},
    "biological activity": {"[biological_activity]": 1},
    "transducing units": {"[transduction]": 1},
    "vector genomes": {"[genome]": 1},
    "amount of substance": {"[substance]": 1},
}

# Stored quantities have 18 digits, 6 of them after the decimal point (materials.models.QUANTITY).
DECIMAL_PLACES = 6
MAX_DIGITS_BEFORE_POINT = 12


def stock_unit(unit: str) -> str:
    """The canonical unit if stock can be counted in it (mL, mg, vial, IU, cells …), else UnitError."""
    symbol = canonical(unit)
    dimensionality = {k: int(v) for k, v in dict(_registry().Unit(symbol.replace("µ", "u")).dimensionality).items()}
    if dimensionality not in STOCK_DIMENSIONS.values():
        raise UnitError(
            f"Stock cannot be counted in {symbol}: use a unit of {', '.join(STOCK_DIMENSIONS)} "
            "(for example mL, mg, vial, IU, cell)."
        )
    return symbol


def storable(quantity: Decimal, unit: str = "", *, allow_zero: bool = False) -> Decimal:
    """`quantity` rounded to the stored 6 decimal places, or UnitError when it cannot be stored:
    too large, or so small that it would be recorded as nothing."""
    value = Decimal(quantity)
    if not value.is_finite() or (value != 0 and value.copy_abs().adjusted() >= MAX_DIGITS_BEFORE_POINT):
        raise UnitError(f"{value} {unit}".strip() + " is more than this system can record.")
    rounded = value.quantize(Decimal(1).scaleb(-DECIMAL_PLACES))
    if rounded == 0 and (value != 0 or not allow_zero):
        raise UnitError(f"{value} {unit}".strip() + f" is too small to record ({DECIMAL_PLACES} decimal places).")
    return rounded.normalize() if rounded != rounded.to_integral() else rounded.quantize(Decimal(1))


def quantity_in(text, from_unit: str, to_unit: str, *, allow_zero: bool = False) -> Decimal:
    """User input `text` in `from_unit` (the stock unit when empty), as a storable quantity of `to_unit`."""
    value = parse_quantity(text, allow_zero=allow_zero)
    from_unit = (from_unit or "").strip() or to_unit
    if canonical(from_unit) == canonical(to_unit):
        if value != value.quantize(Decimal(1).scaleb(-DECIMAL_PLACES)):
            raise UnitError(f"Give {text} {canonical(to_unit)} with at most {DECIMAL_PLACES} decimal places.")
        return storable(value, canonical(to_unit), allow_zero=allow_zero)
    return storable(convert(value, from_unit, to_unit), canonical(to_unit), allow_zero=allow_zero)
