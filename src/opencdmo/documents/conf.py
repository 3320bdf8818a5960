"""The documents app's site conventions (OPENCDMO_DOCUMENT_REVIEW_MONTHS). Industry practice, not regulation."""

import os

from django.conf import settings

from opencdmo.core.errors import RuleViolation

DEFAULT_REVIEW_MONTHS = 24


def default_review_months() -> int:
    value = getattr(settings, "DOCUMENT_REVIEW_MONTHS",
                    os.environ.get("OPENCDMO_DOCUMENT_REVIEW_MONTHS", DEFAULT_REVIEW_MONTHS))
    try:
        months = int(value)
    except (TypeError, ValueError):
        raise RuleViolation(f"The setting DOCUMENT_REVIEW_MONTHS must be a whole number, not {value!r}.") from None
    if not 1 <= months <= 120:
        raise RuleViolation(f"The setting DOCUMENT_REVIEW_MONTHS must be between 1 and 120, not {months}.")
    return months
