"""Due dates, warnings and the disinfectant rotation: when something stops being valid.

The same rule as equipment usability: a thing due at 12:00 is overdue at 12:00 exactly.
"""

import datetime as dt
from collections.abc import Callable

OVERDUE = "overdue"
DUE_SOON = "due_soon"
CURRENT = "current"


def next_due(performed_at: dt.datetime, interval_days: int | None) -> dt.datetime | None:
    """When the next calibration / maintenance / requalification is due (None: no interval)."""
    if interval_days is None:
        return None
    if interval_days < 1:
        raise ValueError("An interval is a positive number of days.")
    return performed_at + dt.timedelta(days=interval_days)


def due_state(due_at: dt.datetime | None, at: dt.datetime, warn_ahead: dt.timedelta) -> str | None:
    """overdue (at or after the due time), due_soon (within `warn_ahead` of it), current, or None (nothing due)."""
    if due_at is None:
        return None
    if at >= due_at:
        return OVERDUE
    if at >= due_at - warn_ahead:
        return DUE_SOON
    return CURRENT


def sporicidal_warning(last_sporicidal_at: dt.datetime | None, at: dt.datetime, max_age: dt.timedelta,
                       show_time: Callable[[dt.datetime], str]) -> str | None:
    """A warning when the room's disinfectant rotation has gone `max_age` without a sporicidal agent."""
    days = max_age.days
    if last_sporicidal_at is None:
        return "No sporicidal agent has been used in this room yet."
    if at >= last_sporicidal_at + max_age:
        since = (at - last_sporicidal_at).days
        return (f"Sporicidal agent overdue: none used for {since} day{'s' if since != 1 else ''} (the rotation asks "
                f"for one at least every {days} day{'s' if days != 1 else ''}); last used {show_time(last_sporicidal_at)}.")
    return None


def qualification_date_problems(iq, oq, pq) -> list[str]:
    """IQ, then OQ, then PQ: a later stage cannot be completed before (or without) an earlier one."""
    problems = []
    stages = [("IQ", iq), ("OQ", oq), ("PQ", pq)]
    for (earlier, earlier_day), (later, later_day) in zip(stages, stages[1:], strict=False):
        if later_day is None:
            continue
        if earlier_day is None:
            problems.append(f"Enter the {earlier} date before the {later} date: {later} follows {earlier}.")
        elif later_day < earlier_day:
            problems.append(f"The {later} date ({later_day:%Y-%m-%d}) is before the {earlier} date "
                            f"({earlier_day:%Y-%m-%d}): {later} follows {earlier}.")
    return problems
