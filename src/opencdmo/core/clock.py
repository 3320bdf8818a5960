"""Server time only (DESIGN.md "Time"): every GMP timestamp comes from here, never the client.

Tests replace the clock with `use_clock`; production always reads the system clock in UTC.
"""

import contextlib
import datetime as dt
from collections.abc import Callable, Iterator

_now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC)  # noqa: E731


def now() -> dt.datetime:
    return _now()


@contextlib.contextmanager
def use_clock(clock: Callable[[], dt.datetime]) -> Iterator[None]:
    global _now
    previous, _now = _now, clock
    try:
        yield
    finally:
        _now = previous


class _Ticking:
    def __init__(self, start: dt.datetime):
        self.current = start

    def __call__(self) -> dt.datetime:
        self.current += dt.timedelta(seconds=1)
        return self.current


@contextlib.contextmanager
def days_ago(now: dt.datetime, days: float, hour: int = 9) -> Iterator[None]:
    """The server clock of a demo's history: `days` before `now` at `hour` o'clock (never later
    than half an hour ago), ticking a second at each reading so events keep their order."""
    moment = (now - dt.timedelta(days=days)).replace(hour=hour, minute=0, second=0, microsecond=0)
    with use_clock(_Ticking(min(moment, now - dt.timedelta(minutes=30)))):
        yield


def site_today() -> dt.date:
    """Today's date in the site's time zone: the calendar that due dates and 'overdue' follow."""
    from django.utils import timezone  # noqa: PLC0415  (the clock itself needs no Django)

    return timezone.localdate(now())
