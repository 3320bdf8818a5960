"""The facilities app's site conventions: settings (OPENCDMO_SPORICIDAL_ROTATION_DAYS,
OPENCDMO_EQUIPMENT_DUE_WARNING_DAYS) with defaults. Industry conventions, not regulation."""

import datetime as dt

from django.conf import settings

from opencdmo.core.errors import RuleViolation

DEFAULTS = {
    # Disinfectant rotation: warn when a room has gone this many days without a sporicidal agent.
    "SPORICIDAL_ROTATION_DAYS": 7,
    # Calibration, maintenance and requalification due dates are flagged this many days ahead.
    "EQUIPMENT_DUE_WARNING_DAYS": 30,
}


def _days(name: str) -> int:
    value = getattr(settings, name, DEFAULTS[name])
    try:
        days = int(value)
    except (TypeError, ValueError):
        raise RuleViolation(f"The setting {name} must be a whole number of days, not {value!r}.") from None
    if days < 1:
        raise RuleViolation(f"The setting {name} must be at least 1 day, not {days}.")
    return days


def sporicidal_rotation() -> dt.timedelta:
    return dt.timedelta(days=_days("SPORICIDAL_ROTATION_DAYS"))


def due_warning() -> dt.timedelta:
    return dt.timedelta(days=_days("EQUIPMENT_DUE_WARNING_DAYS"))
