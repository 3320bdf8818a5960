"""Stability protocols (ICH Q5C, QC-8): the pull schedule in calendar months, the pull window,
and the testing frequency ICH Q5C suggests. Pure functions: no Django."""

import calendar
import datetime as dt

MAX_MONTHS = 120  # ten years: longer than any biological product's shelf life
MAX_CONDITION_CHARS = 100


class InvalidProtocol(ValueError):
    """The protocol cannot be scheduled; the message says what to correct."""


def add_months(start: dt.date, months: int) -> dt.date:
    """`start` plus calendar months, on the same day of the month or, when that month is shorter,
    on its last day (31 Jan + 1 month = 28 Feb, or 29 Feb in a leap year)."""
    index = start.month - 1 + months
    year, month = start.year + index // 12, index % 12 + 1
    return dt.date(year, month, min(start.day, calendar.monthrange(year, month)[1]))


def end_of_next_month(today: dt.date) -> dt.date:
    """The last day of the calendar month after `today`'s: what 'due next month' reaches to."""
    following = add_months(today.replace(day=1), 1)
    return following.replace(day=calendar.monthrange(following.year, following.month)[1])


def check_time_points(time_points: list[int]) -> list[int]:
    """The time points as whole months, unique, ascending and within 0–120; else InvalidProtocol."""
    if not time_points:
        raise InvalidProtocol("Give at least one time point (months after the start, e.g. 0, 3, 6).")
    points = []
    for point in time_points:
        if isinstance(point, bool) or not isinstance(point, int):
            raise InvalidProtocol(f"Time point {point!r} is not a whole number of months.")
        if not 0 <= point <= MAX_MONTHS:
            raise InvalidProtocol(f"Time point {point} is outside 0–{MAX_MONTHS} months.")
        points.append(point)
    if len(set(points)) != len(points):
        twice = sorted({p for p in points if points.count(p) > 1})
        raise InvalidProtocol(f"Time point {', '.join(map(str, twice))} is given more than once; each once.")
    if points != sorted(points):
        raise InvalidProtocol("List the time points in ascending order (e.g. 0, 3, 6, 9, 12).")
    return points


def check_conditions(conditions: list[str]) -> list[str]:
    """The storage conditions, trimmed, at least one, each named once and at most 100 characters."""
    names = [str(c).strip() for c in conditions or []]
    names = [c for c in names if c]
    if not names:
        raise InvalidProtocol("Give at least one storage condition (e.g. '≤ −150 °C vapour-phase LN2').")
    for name in names:
        if len(name) > MAX_CONDITION_CHARS:
            raise InvalidProtocol(f"Storage condition '{name[:40]}…' is longer than {MAX_CONDITION_CHARS} characters.")
    if len({n.casefold() for n in names}) != len(names):
        raise InvalidProtocol("A storage condition is given more than once; name each once.")
    return names


def pull_schedule(start: dt.date, time_points: list[int], conditions: list[str]) -> list[tuple[str, int, dt.date]]:
    """Every pull of a protocol: (condition, months, due date), by condition then time point."""
    points = check_time_points(time_points)
    names = check_conditions(conditions)
    try:
        dues = [add_months(start, months) for months in points]
    except ValueError:
        raise InvalidProtocol(f"The last time point falls after the year {dt.MAXYEAR}: check the start date.") from None
    return [(condition, months, due) for condition in names for months, due in zip(points, dues, strict=True)]


def window(due: dt.date, window_days: int) -> tuple[dt.date, dt.date]:
    """The first and last day on which a pull due on `due` is on time."""
    delta = dt.timedelta(days=window_days)
    return due - delta, due + delta


def on_time(due: dt.date, pulled: dt.date, window_days: int) -> bool:
    """Pulled within ± `window_days` of its due date."""
    opens, closes = window(due, window_days)
    return opens <= pulled <= closes


def ich_q5c_time_points(months_of_shelf_life: int) -> list[int]:
    """ICH Q5C (QC-8) testing frequency: at the start, every 3 months in the first year, every 6
    months in the second, yearly after; ending at the shelf life (added when it falls between)."""
    if isinstance(months_of_shelf_life, bool) or not isinstance(months_of_shelf_life, int):
        raise InvalidProtocol("Give the shelf life as a whole number of months.")
    if not 1 <= months_of_shelf_life <= MAX_MONTHS:
        raise InvalidProtocol(f"Give a shelf life between 1 and {MAX_MONTHS} months.")
    grid = [*range(0, 12, 3), *range(12, 24, 6), *range(24, MAX_MONTHS + 1, 12)]
    points = [m for m in grid if m <= months_of_shelf_life]
    if points[-1] != months_of_shelf_life:
        points.append(months_of_shelf_life)
    return points
