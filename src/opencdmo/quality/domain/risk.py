"""FMEA arithmetic (QRM-1): risk priority number, risk level from a method's rules, heat map.

A risk method's `levels` is a list of rules, from the most severe level down; the first rule
whose thresholds all hold gives the level, and the last rule has no threshold (the floor):

    [{"level": "high", "min_rpn": 100}, {"level": "high", "min_severity": 9},
     {"level": "medium", "min_rpn": 40}, {"level": "low"}]

Thresholds are minimums only, so raising a score never lowers the level (tested).
"""

from collections.abc import Iterable
from dataclasses import dataclass

THRESHOLDS = {"min_rpn", "min_severity", "min_occurrence", "min_detection"}


class RiskRuleError(ValueError):
    """A score outside its scale, or a method whose rules cannot give every row a level."""


@dataclass(frozen=True)
class Scales:
    severity: int
    occurrence: int
    detection: int


def validate_scores(scales: Scales, severity, occurrence, detection) -> None:
    for name, value, top in (("Severity", severity, scales.severity), ("Occurrence", occurrence, scales.occurrence),
                             ("Detection", detection, scales.detection)):
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= top:
            raise RiskRuleError(f"{name} must be a whole number from 1 to {top} on this method's scale.")


def rpn(severity: int, occurrence: int, detection: int) -> int:
    """Risk priority number: S × O × D."""
    return severity * occurrence * detection


def validate_levels(rules: list) -> list[str]:
    """Check the rules; return the level names from the most severe to the least."""
    if not isinstance(rules, list) or not rules:
        raise RiskRuleError("A risk method needs at least one level rule.")
    order: list[str] = []
    for position, rule in enumerate(rules, start=1):
        if not isinstance(rule, dict) or not isinstance(rule.get("level"), str) or not rule["level"].strip():
            raise RiskRuleError(f"Level rule {position} must name its level.")
        if unknown := set(rule) - THRESHOLDS - {"level"}:
            raise RiskRuleError(f"Level rule {position} has unknown thresholds: {', '.join(sorted(unknown))}.")
        for key in set(rule) & THRESHOLDS:
            if isinstance(rule[key], bool) or not isinstance(rule[key], int) or rule[key] < 1:
                raise RiskRuleError(f"Level rule {position}: {key} must be a whole number of at least 1.")
        name = rule["level"]
        if name in order and order[-1] != name:
            # A level named again below a lower one would let a higher score give a lower level.
            raise RiskRuleError(f"Level rules must run from the most severe level down; '{name}' comes back "
                                f"after '{order[-1]}'.")
        if name not in order:
            order.append(name)
    if set(rules[-1]) != {"level"}:
        raise RiskRuleError("The last level rule must have no threshold, so that every row gets a level.")
    return order


def level(rules: list, severity: int, occurrence: int, detection: int) -> str:
    scores = {"min_rpn": rpn(severity, occurrence, detection), "min_severity": severity,
              "min_occurrence": occurrence, "min_detection": detection}
    for rule in rules:
        if all(scores[key] >= rule[key] for key in set(rule) & THRESHOLDS):
            return rule["level"]
    raise RiskRuleError("No level rule applies: the last rule must have no threshold.")


def level_rank(rules: list) -> dict[str, int]:
    """0 for the least severe level, rising with severity (for sorting and comparing)."""
    order = validate_levels(rules)
    return {name: len(order) - 1 - i for i, name in enumerate(order)}


@dataclass(frozen=True)
class Cell:
    severity: int
    occurrence: int
    count: int
    level: str  # the worst level of the rows in the cell; for an empty cell, its zone
    zone: str  # the level a failure mode here has at best (detection 1)


def heat_map(rules: list, scales: Scales, points: Iterable[tuple[int, int, str]]) -> list[list[Cell]]:
    """Rows of cells, severity from the top of the scale down, occurrence from 1 up.

    `points` are (severity, occurrence, level) of the failure modes.
    """
    rank = level_rank(rules)
    counts: dict[tuple[int, int], int] = {}
    worst: dict[tuple[int, int], str] = {}
    for s, o, lvl in points:
        key = (s, o)
        counts[key] = counts.get(key, 0) + 1
        if key not in worst or rank.get(lvl, -1) > rank.get(worst[key], -1):
            worst[key] = lvl
    grid = []
    for s in range(scales.severity, 0, -1):
        row = []
        for o in range(1, scales.occurrence + 1):
            zone = level(rules, s, o, 1)
            row.append(Cell(s, o, counts.get((s, o), 0), worst.get((s, o), zone), zone))
        grid.append(row)
    return grid


# The default method seeded for a new site: 1–10 scales, high at RPN ≥ 100 or severity ≥ 9.
DEFAULT_LEVELS = [{"level": "high", "min_rpn": 100}, {"level": "high", "min_severity": 9},
                  {"level": "medium", "min_rpn": 40}, {"level": "low"}]
DEFAULT_SCALE_DEFINITIONS = {
    "severity": {"1": "No effect on the patient or the product", "4": "Minor quality defect, no patient impact",
                 "7": "Batch loss or delayed treatment", "9": "Possible patient harm",
                 "10": "Serious patient harm or death"},
    "occurrence": {"1": "Never seen; prevented by design", "4": "Seen once in several years",
                   "7": "Seen a few times a year", "10": "Happens in most batches"},
    "detection": {"1": "Always detected before harm (automatic interlock)", "4": "Detected by a second-person check",
                  "7": "Detected only at release testing", "10": "Not detectable"},
}
