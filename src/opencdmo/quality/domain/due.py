"""Due dates of deviations and CAPAs, and when they are overdue (DEV-1: closure target by class,
moved only by an approved extension). Dates are the site's calendar days. Pure: no Django."""

import datetime as dt

DONE_STATES = frozenset({"closed", "cancelled"})
EFFECTIVENESS_CHECK = "effectiveness_check"


def due_date(raised_on: dt.date, days: int) -> dt.date:
    return raised_on + dt.timedelta(days=days)


def is_overdue(due: dt.date | None, today: dt.date, status: str) -> bool:
    """Overdue from the day after the due date, until the record is closed or cancelled."""
    return due is not None and today > due and status not in DONE_STATES


def capa_due_date(status: str, due: dt.date | None, effectiveness_due: dt.date | None) -> dt.date | None:
    """What a CAPA works towards: its implementation due date, then, once the actions are
    implemented, the date of its effectiveness check."""
    return effectiveness_due if status == EFFECTIVENESS_CHECK else due


def days_left(due: dt.date | None, today: dt.date) -> int | None:
    """Days until the due date (0 on the day, negative once overdue)."""
    return None if due is None else (due - today).days


def extension_problem(current_due: dt.date | None, requested: dt.date, today: dt.date) -> str | None:
    """Why a requested due date cannot be asked for, or None."""
    if current_due is not None and requested <= current_due:
        return f"The new due date must be later than the current one ({current_due:%Y-%m-%d})."
    if requested <= today:
        return "The new due date must be in the future."
    return None
