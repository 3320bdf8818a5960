"""The training app's site conventions (OPENCDMO_TRAINING_DUE_DAYS). Industry practice, not regulation."""

import os

from django.conf import settings

from opencdmo.core.errors import RuleViolation

DEFAULT_DUE_DAYS = 30


def default_due_days() -> int:
    value = getattr(settings, "TRAINING_DUE_DAYS", os.environ.get("OPENCDMO_TRAINING_DUE_DAYS", DEFAULT_DUE_DAYS))
    try:
        days = int(value)
    except (TypeError, ValueError):
        raise RuleViolation(f"The setting TRAINING_DUE_DAYS must be a whole number of days, not {value!r}.") from None
    if not 1 <= days <= 365:
        raise RuleViolation(f"The setting TRAINING_DUE_DAYS must be 1 to 365 days, not {days}.")
    return days
