"""The quality app's site conventions (DEV-1: industry conventions, not regulation), with defaults.

Each value is read from Django settings, else from the environment (OPENCDMO_<NAME>), else the
default below, so a site sets them without code:
- DEVIATION_DUE_DAYS: closure target in calendar days by class, e.g. "minor=30,major=30,critical=15";
  "default" is the target before QA has classified the deviation.
- CAPA_EFFECTIVENESS_DAYS: the effectiveness check is due this many days after implementation.
- CAPA_DUE_DAYS: a CAPA raised without a due date is due this many days after it is raised.
- DEVIATION_DECISION_TREE, DEVIATION_ROOT_CAUSES, DEVIATION_CATEGORIES: settings only (structures).
"""

import os

from django.conf import settings

from opencdmo.core.errors import RuleViolation

from .domain import classification

DEFAULT_DUE_DAYS = {"default": 30, "minor": 30, "major": 30, "critical": 30}

ROOT_CAUSE_CATEGORIES = [
    ("human_error", "Human error"),
    ("procedure", "Procedure unclear or inadequate"),
    ("training", "Training"),
    ("equipment", "Equipment failure or malfunction"),
    ("material", "Material or supplier"),
    ("environment", "Environment or facility"),
    ("method", "Method or process design"),
    ("system", "Computerised system"),
    ("unknown", "Not determined (most probable cause documented)"),
]

DEVIATION_CATEGORIES = [
    ("process", "Process / batch record"),
    ("environmental", "Environmental monitoring"),
    ("equipment", "Equipment"),
    ("material", "Material, shipping or storage"),
    ("documentation", "Documentation / GDP"),
    ("labelling", "Labelling"),
    ("laboratory", "Laboratory / QC result"),
    ("chain_of_identity", "Chain of identity or custody"),
    ("facility", "Facility / utilities"),
]


def _value(name: str, default):
    if hasattr(settings, name):
        return getattr(settings, name)
    return os.environ.get(f"OPENCDMO_{name}", default)


def _whole_days(name: str, value) -> int:
    try:
        days = int(value)
    except (TypeError, ValueError):
        raise RuleViolation(f"The setting {name} must be a whole number of days, not {value!r}.") from None
    if days < 1:
        raise RuleViolation(f"The setting {name} must be at least 1 day, not {days}.")
    return days


def deviation_due_days() -> dict[str, int]:
    """Days from raising to the closure target, by class ("default" before classification)."""
    value = _value("DEVIATION_DUE_DAYS", "")
    days = dict(DEFAULT_DUE_DAYS)
    if isinstance(value, dict):
        pairs = value.items()
    else:
        pairs = [part.split("=", 1) for part in str(value).split(",") if part.strip()]
        if any(len(p) != 2 for p in pairs):
            raise RuleViolation(f"The setting DEVIATION_DUE_DAYS is written class=days,…; not {value!r}.")
    for key, v in pairs:
        key = str(key).strip()
        if key not in days:
            raise RuleViolation(f"DEVIATION_DUE_DAYS names an unknown class '{key}'.")
        days[key] = _whole_days(f"DEVIATION_DUE_DAYS[{key}]", v)
    return days


def capa_effectiveness_days() -> int:
    return _whole_days("CAPA_EFFECTIVENESS_DAYS", _value("CAPA_EFFECTIVENESS_DAYS", 90))


def capa_due_days() -> int:
    return _whole_days("CAPA_DUE_DAYS", _value("CAPA_DUE_DAYS", 60))


def decision_tree() -> classification.DecisionTree:
    tree = getattr(settings, "DEVIATION_DECISION_TREE", None)
    if tree is None:
        return classification.DEFAULT_TREE
    try:
        return classification.tree_from(tree)
    except ValueError as exc:
        raise RuleViolation(f"The setting DEVIATION_DECISION_TREE is not usable: {exc}") from None


def root_cause_categories() -> list[tuple[str, str]]:
    return list(getattr(settings, "DEVIATION_ROOT_CAUSES", ROOT_CAUSE_CATEGORIES))


def deviation_categories() -> list[tuple[str, str]]:
    return list(getattr(settings, "DEVIATION_CATEGORIES", DEVIATION_CATEGORIES))
