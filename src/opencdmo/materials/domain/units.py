"""Units of measure and conversions, by the pint library (never by hand).

Beyond SI, a CDMO counts things (vials, bags, cells) and activities (IU, transducing units,
vector genomes); each gets its own dimension so that 1 vial never converts to 1 IU.
"""

from decimal import Decimal, InvalidOperation
from functools import cache

import pint


class UnitError(ValueError):
    pass


@cache
def _registry() -> pint.UnitRegistry:
    registry = pint.UnitRegistry(non_int_type=Decimal)
    registry.define("each = [item] = ea = unit_item")
    for name in ("vial", "bag", "bottle", "box", "kit", "tube", "flask", "plate", "piece"):
        registry.define(f"{name} = each")
    registry.define("cell = [cells]")
    registry.define("international_unit = [activity] = IU")
    registry.define("transducing_unit = [transduction] = TU")
    registry.define("vector_genome = [genome] = vg")
    return registry


def canonical(unit: str) -> str:
    """The unit as stored ('mL', 'µg', 'vial'), or UnitError when it is not a unit."""
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


def parse_quantity(text) -> Decimal:
    """A positive decimal from user input, or UnitError with a message that says what is wrong."""
    try:
        value = Decimal(str(text).strip())
    except (InvalidOperation, ValueError):
        raise UnitError(f"'{text}' is not a number.") from None
    if not value.is_finite():
        raise UnitError(f"'{text}' is not a number.")
    if value <= 0:
        raise UnitError("The quantity must be more than zero.")
    return value
