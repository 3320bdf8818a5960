"""Cleanroom classification by airborne particle concentration (ISO 14644-1:2015, ISO-1…ISO-3; A1-4).

Pass/fail uses the published Table 1 values, not the class formula (ISO-1): the table is
rounded, and an auditor checks against the table. A room passes when the mean concentration
at every sampling location is at or below the class limit for every considered size (the 2015
edition dropped the 95 % upper confidence limit test).
"""

from dataclasses import dataclass, field
from decimal import ROUND_CEILING, Decimal
from math import ceil

from opencdmo.facilities.domain.rooms import ISO_CLASSES, default_iso_classes

from .limits import finite_decimal
from .programme import STATES

SIZES = tuple(Decimal(size) for size in ("0.1", "0.2", "0.3", "0.5", "1", "5"))  # µm

# ISO-2, Table 1: class → maximum particles/m³ at or above each size in SIZES; None: no limit.
# ISO 5 at ≥5 µm is blank in the 2015 edition (it was 29 in 1999; Annex 1 monitoring keeps 29).
_TABLE_1 = {
    1: (10, 2, None, None, None, None),
    2: (100, 24, 10, 4, None, None),
    3: (1_000, 237, 102, 35, 8, None),
    4: (10_000, 2_370, 1_020, 352, 83, None),
    5: (100_000, 23_700, 10_200, 3_520, 832, None),
    6: (1_000_000, 237_000, 102_000, 35_200, 8_320, 293),
    7: (None, None, None, 352_000, 83_200, 2_930),
    8: (None, None, None, 3_520_000, 832_000, 29_300),
    9: (None, None, None, 35_200_000, 8_320_000, 293_000),
}
CLASS_LIMITS: dict[int, dict[Decimal, int]] = {
    iso_class: {size: limit for size, limit in zip(SIZES, limits, strict=True) if limit is not None}
    for iso_class, limits in _TABLE_1.items()
}

# Table A.1: the largest room area (m²) for each number of sampling locations, in order.
_LOCATIONS_BY_AREA = ((2, 1), (4, 2), (6, 3), (8, 4), (10, 5), (24, 6), (28, 7), (32, 8), (36, 9), (52, 10),
                      (56, 11), (64, 12), (68, 13), (72, 14), (76, 15), (104, 16), (108, 17), (116, 18),
                      (148, 19), (156, 20), (192, 21), (232, 22), (276, 23), (352, 24), (436, 25), (636, 26),
                      (1000, 27))

MINIMUM_VOLUME_LITRES = Decimal(2)
_CLASSIFICATION_SIZES = (Decimal("0.5"), Decimal(5))  # what Annex 1 classification considers (A1-1)


def class_limit(iso_class: int, size: Decimal | float) -> int | None:
    """The Table 1 maximum particles/m³ at or above `size` µm for `iso_class` (None: the table sets none)."""
    return CLASS_LIMITS[_iso_class(iso_class)].get(_size(size))


def location_count(area_m2) -> int:
    """The minimum number of sampling locations for a cleanroom of `area_m2` (Table A.1)."""
    area = finite_decimal(area_m2, "The room's area")
    if area <= 0:
        raise ValueError("The room's area must be positive.")
    for largest_area, locations in _LOCATIONS_BY_AREA:
        if area <= largest_area:
            return locations
    return ceil(27 * area / 1000)


def sample_volume_litres(iso_class: int, largest_size: Decimal | float) -> Decimal:
    """The minimum single sample volume per location: V_s = 20 / C_n,m × 1000 L, rounded up to
    0.1 L, at least 2 L, where C_n,m is the class limit at the largest considered size."""
    limit = class_limit(iso_class, largest_size)
    if limit is None:
        raise ValueError(f"ISO {iso_class} has no limit at ≥{_size(largest_size)} µm in ISO 14644-1 Table 1; "
                         "consider a size the class has a limit for.")
    volume = (Decimal(20) / limit * 1000).quantize(Decimal("0.1"), rounding=ROUND_CEILING)
    return max(volume, MINIMUM_VOLUME_LITRES)


def considered_sizes(iso_class: int) -> tuple[Decimal, ...]:
    """The sizes a classification considers by default: ≥0.5 and ≥5 µm, where the class has a limit."""
    limits = CLASS_LIMITS[_iso_class(iso_class)]
    return tuple(size for size in _CLASSIFICATION_SIZES if size in limits)


def iso_class_for(grade: str, state: str) -> int | None:
    """The ISO class a room of `grade` must meet in `state` (A1-4); None: not predetermined."""
    if state not in STATES:
        raise ValueError(f"Unknown room state {state!r}; use one of {', '.join(STATES)}.")
    at_rest, in_operation = default_iso_classes(grade)
    return at_rest if state == "at_rest" else in_operation


@dataclass(frozen=True)
class PointResult:
    point: str
    size: Decimal
    mean: Decimal | None  # None: no reading
    limit: int
    passed: bool
    count: int  # readings averaged
    note: str = ""


@dataclass(frozen=True)
class ClassificationVerdict:
    passed: bool
    points: list[PointResult] = field(default_factory=list)


Verdict = ClassificationVerdict


def verdict(readings: dict, iso_class: int, *, sizes=None) -> ClassificationVerdict:
    """Pass or fail of a classification: `readings` is {point: {size: [concentration per m³, …]}}.
    Each point passes a size when the mean of its readings is at or below the class limit; a
    point with no reading at a considered size fails."""
    sizes = considered_sizes(iso_class) if sizes is None else tuple(_size(size) for size in sizes)
    if not readings:
        raise ValueError("A classification needs readings from at least one location.")
    results = []
    for point, by_size in readings.items():
        given = {_size(size): values for size, values in (by_size or {}).items()}
        for size in sizes:
            limit = class_limit(iso_class, size)
            if limit is None:
                raise ValueError(f"ISO {iso_class} has no limit at ≥{size} µm; do not consider that size.")
            values = [_concentration(value) for value in given.get(size) or ()]
            if not values:
                results.append(PointResult(str(point), size, None, limit, False, 0,
                                           note=f"No reading at ≥{size} µm: the location fails until it is sampled."))
                continue
            mean = sum(values) / len(values)
            results.append(PointResult(str(point), size, mean, limit, mean <= limit, len(values)))
    return ClassificationVerdict(all(result.passed for result in results), results)


def _iso_class(iso_class) -> int:
    if not isinstance(iso_class, int) or isinstance(iso_class, bool) or iso_class not in ISO_CLASSES:
        raise ValueError(f"ISO 14644-1 classes are whole numbers from 1 to 9, not {iso_class!r}.")
    return iso_class


def _size(value) -> Decimal:
    return finite_decimal(value, "A particle size")


def _concentration(value) -> Decimal:
    number = finite_decimal(value, "A particle concentration")
    if number < 0:
        raise ValueError(f"A particle concentration cannot be negative ({number}).")
    return number
