"""Vein-to-vein time: how long a therapy has been on its way since the patient's cells were
collected, and where each custody window of its product stands (e.g. collection to receipt at
the CDMO within 48 h, because the cells lose viability after that).

A window starts when its start milestone is first reached and ends when its end milestone is.
While it runs it has time remaining until start + limit; it is at risk once that remaining time
is at most the warning margin, and missed once the limit is exceeded, whether still running or
ended late. Exactly at the limit is still in time. Pure: the caller gives the milestones reached
(first time each) and the current time."""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

COLLECTION = "collection"
INFUSION = "infusion"
DAY = timedelta(days=1)
_NONE = timedelta(0)


class State(StrEnum):
    NOT_STARTED = "not_started"
    RUNNING = "running"
    AT_RISK = "at_risk"
    MISSED = "missed"
    MET = "met"


@dataclass(frozen=True)
class Window:
    """A product's limit between two milestones; the warning margin is before the limit."""

    start: str
    end: str
    limit_hours: int
    warn_hours: int = 0
    # Computed once: the board weighs every window of thousands of therapies.
    limit: timedelta = field(init=False, repr=False, compare=False)
    warn: timedelta = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        object.__setattr__(self, "limit", timedelta(hours=self.limit_hours))
        object.__setattr__(self, "warn", timedelta(hours=self.warn_hours))


@dataclass(slots=True)
class WindowState:
    window: Window
    state: State
    started_at: datetime | None = None
    ended_at: datetime | None = None
    elapsed: timedelta | None = None  # from start to its end, or to now while running
    remaining: timedelta | None = None  # limit − elapsed: negative when missed

    @property
    def deadline(self) -> datetime | None:
        return self.started_at + self.window.limit if self.started_at else None

    @property
    def is_open(self) -> bool:
        """Still running (in time, at risk, or already over its limit)."""
        return self.started_at is not None and self.ended_at is None

    @property
    def elapsed_text(self) -> str:
        return duration_text(self.elapsed)

    @property
    def remaining_text(self) -> str:
        return duration_text(self.remaining)

    @property
    def used(self) -> float:
        """The share of the limit used, 0 … 1 (capped), for drawing the window's bar."""
        if self.elapsed is None:
            return 0.0
        return max(0.0, min(1.0, self.elapsed / self.window.limit))


def window_state(window: Window, reached: Mapping[str, datetime], now: datetime) -> WindowState:
    started_at = reached.get(window.start)
    if started_at is None:
        # A window whose start was never recorded cannot be measured, even if its end was.
        return WindowState(window, State.NOT_STARTED)
    ended_at = reached.get(window.end)
    elapsed = (ended_at or now) - started_at
    remaining = window.limit - elapsed
    if remaining < _NONE:
        state = State.MISSED
    elif ended_at is not None:
        state = State.MET
    elif remaining <= window.warn:
        state = State.AT_RISK
    else:
        state = State.RUNNING
    return WindowState(window, state, started_at, ended_at, elapsed, remaining)


def window_states(windows: Iterable[Window], reached: Mapping[str, datetime], now: datetime) -> list[WindowState]:
    return [window_state(window, reached, now) for window in windows]


def urgency(states: Iterable[WindowState]) -> tuple[int, float]:
    """A sort key, most urgent first: a therapy with a missed window, then one with an open
    window, then the rest; within each, the smallest remaining time first."""
    states = list(states)
    missed = [s.remaining for s in states if s.state is State.MISSED]
    if missed:
        return 0, min(missed).total_seconds()
    open_remaining = [s.remaining for s in states if s.is_open]
    if open_remaining:
        return 1, min(open_remaining).total_seconds()
    return 2, 0.0


def next_deadline(states: Iterable[WindowState]) -> WindowState | None:
    """The open window that ends first (an overrun one included: it still has to end)."""
    return min((s for s in states if s.is_open), key=lambda s: s.deadline, default=None)


def flag(states: Iterable[WindowState]) -> State | None:
    """Missed if any window is, else at risk if any is, else nothing to flag."""
    found = {s.state for s in states}
    return State.MISSED if State.MISSED in found else State.AT_RISK if State.AT_RISK in found else None


def vein_to_vein(reached: Mapping[str, datetime], now: datetime) -> timedelta | None:
    """Time since collection: so far while in flight, the total once infused; None before collection."""
    collected = reached.get(COLLECTION)
    if collected is None:
        return None
    return reached.get(INFUSION, now) - collected


def elapsed_marks(moments: Iterable[datetime],
                  collected: datetime | None) -> list[tuple[timedelta | None, timedelta | None]]:
    """For moments in time order: (since collection — None before it is known, since the previous moment)."""
    marks, previous = [], None
    for moment in moments:
        marks.append((moment - collected if collected else None, moment - previous if previous else None))
        previous = moment
    return marks


def duration_text(span: timedelta | None) -> str:
    """'2 d 3 h 05 min', '45 min', '−1 h 10 min' (overrun): how elapsed and remaining times read."""
    if span is None:
        return "—"
    sign = "−" if span < _NONE else ""
    minutes = int(abs(span).total_seconds() // 60)
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    if days:
        return f"{sign}{days} d {hours} h {minutes:02d} min"
    if hours:
        return f"{sign}{hours} h {minutes:02d} min"
    return f"{sign}{minutes} min"
