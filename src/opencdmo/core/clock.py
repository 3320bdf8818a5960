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


def site_today() -> dt.date:
    """Today's date in the site's time zone: the calendar that due dates and 'overdue' follow."""
    from django.utils import timezone  # noqa: PLC0415  (the clock itself needs no Django)

    return timezone.localdate(now())
