"""The environmental monitoring programme's site settings, read from Django settings, else the
environment (OPENCDMO_<NAME>), else the default. Each result records the values that judged it,
so a change of setting (under change control) never rewrites history.

- EM_LIMIT_COMPARISON: "exceeds" (a result equal to a limit is within; Annex 1's wording) or
  "at_or_above" (some site SOPs). Applies to Annex 1 limits and site levels alike (A1-3).
- EM_ANNEX1_EDITION: the Annex 1 edition whose maximum limits apply, "2022" (default) or "2008".
- EM_SHIFT_STARTS: site-time shift starts for per-shift plans, default "06:00,14:00,22:00".
- EM_INCUBATION (settings only): each incubation's temperature range and minimum hours.
- EM_DEFAULT_WINDOW_HOURS: how far an excursion's window reaches back when nothing earlier is
  known of its location (24). EM_TREND_POINTS: results the trend rules look at (30).
"""

import datetime as dt
import os

from django.conf import settings

from opencdmo.core.errors import RuleViolation

from .domain import limits


def _value(name: str, default: str) -> str:
    return str(getattr(settings, name, os.environ.get(f"OPENCDMO_{name}", default)))


def limit_comparison() -> str:
    value = _value("EM_LIMIT_COMPARISON", limits.EXCEEDS)
    if value not in limits.COMPARISONS:
        raise RuleViolation(f"The setting EM_LIMIT_COMPARISON is one of {', '.join(limits.COMPARISONS)}; "
                            f"not {value!r}.")
    return value


def annex1_edition() -> str:
    value = _value("EM_ANNEX1_EDITION", limits.CURRENT_EDITION)
    if value not in limits.EDITIONS:
        raise RuleViolation(f"The setting EM_ANNEX1_EDITION is one of {', '.join(limits.EDITIONS)}; not {value!r}.")
    return value


# A plate's two incubations: first for fungi (lower), then for bacteria (higher), each with its
# temperature range and the minimum hours before it may end (A1-3 practice; site SOP decides).
DEFAULT_INCUBATION = {"first": {"min_c": "20", "max_c": "25", "min_hours": 72},
                      "second": {"min_c": "30", "max_c": "35", "min_hours": 48}}


def shift_starts() -> list[dt.time]:
    """The site-time starts of the production shifts, e.g. "06:00,14:00,22:00"."""
    value = _value("EM_SHIFT_STARTS", "06:00,14:00,22:00")
    try:
        starts = sorted(dt.time.fromisoformat(part.strip()) for part in value.split(",") if part.strip())
    except ValueError:
        starts = []
    if not starts:
        raise RuleViolation(f"The setting EM_SHIFT_STARTS lists shift starts as HH:MM, e.g. 06:00,14:00,22:00; "
                            f"not {value!r}.")
    return starts


def incubation() -> dict:
    return getattr(settings, "EM_INCUBATION", DEFAULT_INCUBATION)


def _whole(name: str, default: str, *, high: int) -> int:
    value = _value(name, default)
    if not value.isdigit() or not 0 < int(value) <= high:
        raise RuleViolation(f"The setting {name} is a whole number from 1 to {high}; not {value!r}.")
    return int(value)


def default_window_hours() -> int:
    """How far back an excursion's window reaches when nothing earlier is known of the location."""
    return _whole("EM_DEFAULT_WINDOW_HOURS", "24", high=24 * 31)


def trend_points() -> int:
    """How many of a location's latest results the trend rules look at."""
    return _whole("EM_TREND_POINTS", "30", high=1000)
