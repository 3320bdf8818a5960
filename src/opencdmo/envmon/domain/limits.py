"""EU GMP Annex 1 maximum limits, by edition, and how a result compares with them (A1-1…A1-5).

The classification table (A1-1, Table 1) and the monitoring table (A1-2, Table 5) are kept
apart: they differ for ≥5 µm in grades A and B. Viable limits (A1-3, Table 6) are maximum
action limits; in grade A "no growth" means any colony is an action excursion. Whether a
result equal to a limit is an excursion is the site's comparison rule, recorded with every
result it judged.
"""

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from .programme import ACTION, ALERT, PARTICLES, SAMPLE_TYPES, STATES, WITHIN

EXCEEDS, AT_OR_ABOVE = "exceeds", "at_or_above"
COMPARISONS = {EXCEEDS: "Above the limit (a result equal to it is within)",
               AT_OR_ABOVE: "At or above the limit"}

CURRENT_EDITION = "2022"
EDITIONS = {"2022": "EU GMP Annex 1 (2022)", "2008": "EU GMP Annex 1 (2008)"}

MONITORING, CLASSIFICATION = "monitoring", "classification"
PURPOSES = (MONITORING, CLASSIFICATION)
# Annex 1 grades; an unclassified room ("U") has no Annex 1 limit.
GRADES = ("A", "B", "C", "D", "U")

_IN_OP, _AT_REST = "in_operation", "at_rest"


def _particles(table: dict[str, tuple]) -> dict[tuple[str, str, str], int | None]:
    """grade → (at rest ≥0.5, at rest ≥5, in operation ≥0.5, in operation ≥5) as a flat lookup."""
    flat = {}
    for grade, (rest_05, rest_5, op_05, op_5) in table.items():
        flat |= {(grade, _AT_REST, "particles_0_5"): rest_05, (grade, _AT_REST, "particles_5"): rest_5,
                 (grade, _IN_OP, "particles_0_5"): op_05, (grade, _IN_OP, "particles_5"): op_5}
    return flat


# None: not specified (classification ≥5 µm in A and B) or not predetermined (grade D in operation).
PARTICLE_TABLES = {
    ("2022", CLASSIFICATION): _particles({  # A1-1, Table 1
        "A": (3_520, None, 3_520, None),
        "B": (3_520, None, 352_000, 2_930),
        "C": (352_000, 2_930, 3_520_000, 29_300),
        "D": (3_520_000, 29_300, None, None),
    }),
    ("2022", MONITORING): _particles({  # A1-2, Table 5
        "A": (3_520, 29, 3_520, 29),
        "B": (3_520, 29, 352_000, 2_930),
        "C": (352_000, 2_930, 3_520_000, 29_300),
        "D": (3_520_000, 29_300, None, None),
    }),
    # The 2008 edition had one table for both purposes (for results recorded under it).
    ("2008", MONITORING): _particles({
        "A": (3_520, 20, 3_520, 20),
        "B": (3_520, 29, 352_000, 2_900),
        "C": (352_000, 2_900, 3_520_000, 29_000),
        "D": (3_520_000, 29_000, None, None),
    }),
}
PARTICLE_TABLES[("2008", CLASSIFICATION)] = PARTICLE_TABLES[("2008", MONITORING)]

NO_GROWTH = "no growth"
# A1-3, Table 6: grade → (active air CFU/m³, settle plate CFU/4 h, contact plate CFU/plate, glove CFU/glove).
# The same maximum action limits in 2008 and 2022; None: not applicable (gloves in C and D).
_VIABLE = {
    "A": (NO_GROWTH, NO_GROWTH, NO_GROWTH, NO_GROWTH),
    "B": (10, 5, 5, 5),
    "C": (100, 50, 25, None),
    "D": (200, 100, 50, None),
}
VIABLE_TABLES = {
    edition: {(grade, sample_type): value
              for grade, values in _VIABLE.items()
              for sample_type, value in zip(("active_air", "settle_plate", "contact_plate", "glove_print"), values,
                                            strict=True)}
    for edition in EDITIONS
}


@dataclass(frozen=True)
class Annex1Limit:
    """The Annex 1 maximum for one grade, sample type and state. `value` None with
    `no_growth` False means Annex 1 sets none here (the site must)."""

    edition: str
    purpose: str
    grade: str
    sample_type: str
    state: str
    value: Decimal | None
    no_growth: bool = False

    @property
    def applies(self) -> bool:
        return self.no_growth or self.value is not None

    def __str__(self) -> str:
        if self.no_growth:
            return f"{EDITIONS[self.edition]}: no growth"
        if self.value is None:
            return f"{EDITIONS[self.edition]}: not set"
        return f"{EDITIONS[self.edition]}: {self.value:,}"


def annex1_limit(grade: str, sample_type: str, state: str, *, edition: str = CURRENT_EDITION,
                 purpose: str = MONITORING) -> Annex1Limit:
    """The Annex 1 maximum action limit for this grade, sample type and room state."""
    for name, given, known in (("Annex 1 edition", edition, EDITIONS), ("purpose", purpose, PURPOSES),
                               ("grade", grade, GRADES), ("sample type", sample_type, SAMPLE_TYPES),
                               ("room state", state, STATES)):
        if given not in known:
            raise ValueError(f"Unknown {name} {given!r}; use one of {', '.join(known)}.")
    if sample_type in PARTICLES:
        value = PARTICLE_TABLES[(edition, purpose)].get((grade, state, sample_type))
        return Annex1Limit(edition, purpose, grade, sample_type, state, None if value is None else Decimal(value))
    value = VIABLE_TABLES[edition].get((grade, sample_type))
    if value == NO_GROWTH:
        return Annex1Limit(edition, purpose, grade, sample_type, state, Decimal(0), no_growth=True)
    return Annex1Limit(edition, purpose, grade, sample_type, state, None if value is None else Decimal(value))


def beyond(value: Decimal, limit: Decimal, comparison: str) -> bool:
    """Is `value` an excursion against `limit` under the site's comparison rule?"""
    if comparison == EXCEEDS:
        return value > limit
    if comparison == AT_OR_ABOVE:
        return value >= limit
    raise ValueError(f"Unknown comparison rule {comparison!r}")


@dataclass(frozen=True)
class Verdict:
    level: str  # WITHIN, ALERT or ACTION
    reason: str


def judge(value: Decimal, annex1: Annex1Limit, *, alert: Decimal | None = None, action: Decimal | None = None,
          comparison: str = EXCEEDS) -> Verdict:
    """Where a result stands: the site's action level (never looser than Annex 1), then its
    alert level. In a "no growth" grade any colony is an action excursion, whatever the rule."""
    if comparison not in COMPARISONS:
        raise ValueError(f"Unknown comparison rule {comparison!r}")
    if annex1.no_growth:
        if value > 0:
            return Verdict(ACTION, f"Growth in grade {annex1.grade}, where Annex 1 allows none")
        return Verdict(WITHIN, "No growth")
    limits = [level for level in (action, annex1.value) if level is not None]
    if limits:
        strictest = min(limits)
        if beyond(value, strictest, comparison):
            source = "site action level" if action is not None and action <= strictest else "Annex 1 limit"
            return Verdict(ACTION, f"{_plain(value)} is {_rule_word(comparison)} the {source} of {_plain(strictest)}")
    if alert is not None and beyond(value, alert, comparison):
        return Verdict(ALERT, f"{_plain(value)} is {_rule_word(comparison)} the alert level of {_plain(alert)}")
    return Verdict(WITHIN, "Within limits")


def per_cubic_metre(count: int, volume_litres: Decimal) -> Decimal:
    """A count in `volume_litres` of air as a concentration per m³, to two decimals."""
    if volume_litres <= 0:
        raise ValueError("The sampled volume must be positive")
    return (Decimal(count) * 1000 / Decimal(volume_litres)).quantize(Decimal("0.01"), ROUND_HALF_UP)


def finite_decimal(value, what: str) -> Decimal:
    """`value` as a finite Decimal, or a ValueError that names `what` was wrong."""
    try:
        number = value if isinstance(value, Decimal) else Decimal(str(value))
    except ArithmeticError:
        raise ValueError(f"{what} must be a number, not {value!r}.") from None
    if not number.is_finite():
        raise ValueError(f"{what} must be a finite number, not {value!r}.")
    return number


def _rule_word(comparison: str) -> str:
    return "above" if comparison == EXCEEDS else "at or above"


def _plain(value: Decimal) -> str:
    return f"{value.normalize():,f}" if value == value.to_integral() else f"{value:,}"
