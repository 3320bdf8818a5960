"""Environmental monitoring records built directly (no services), for tests and the benchmark:
a room with a floor plan, its locations and plans, read results in bulk with their levels and
limits, excursions, and batches in the room with execution windows. Plain functions, so code
outside pytest (bench/envmon.py) can call them too."""

import datetime as dt
import itertools
from collections.abc import Iterable, Sequence
from decimal import Decimal

from opencdmo.batches.models import Batch
from opencdmo.core import clock
from opencdmo.core.models import User
from opencdmo.envmon.models import EmSample, Excursion, LevelSet, Location, Plan
from opencdmo.envmon.selectors import limits_in_force
from opencdmo.facilities.models import Area, Room, Site

_numbers = itertools.count(1)


def _number(prefix: str) -> str:
    return f"{prefix}-T{next(_numbers):07d}"


def room(code: str = "EM-B01", *, grade: str = "B", width: str | None = "6", length: str | None = "4",
         status: str = Room.Status.IN_OPERATION) -> Room:
    site, _ = Site.objects.get_or_create(code="EMS", defaults={"name": "EM test site"})
    area, _ = Area.objects.get_or_create(code="EMA", defaults={"site": site, "name": "EM test area"})
    return Room.objects.create(area=area, code=code, name=f"Cleanroom {code}", grade=grade, status=status,
                               width_m=Decimal(width) if width else None, length_m=Decimal(length) if length else None,
                               created_at=clock.now())


def locations(room_: Room, user: User, count: int = 3, *,
              sample_types: Sequence[str] = ("settle_plate", "active_air")) -> list[Location]:
    """`count` locations spread over the plan, each with an active plan per sample type (in operation)."""
    found = []
    for i in range(count):
        loc = Location.objects.create(room=room_, code=f"{room_.code}-L{i + 1:02d}", name=f"Location {i + 1}",
                                      x=Decimal(10 + (80 * i) // max(count - 1, 1)), y=Decimal(20 + 30 * (i % 3)),
                                      sample_types=list(sample_types), created_at=clock.now(), created_by=user)
        for sample_type in sample_types:
            plan(loc, user, sample_type)
        found.append(loc)
    return found


def plan(location: Location, user: User, sample_type: str, *, state: str = "in_operation",
         frequency: str = "daily") -> Plan:
    return Plan.objects.create(location=location, sample_type=sample_type, state=state, frequency=frequency,
                               created_at=clock.now(), created_by=user)


def level_set(user: User, grade: str, sample_type: str, alert, action, *, state: str = "in_operation",
              room_: Room | None = None) -> LevelSet:
    now = clock.now()
    return LevelSet.objects.create(number=_number("EML"), status="approved", created_at=now, modified_at=now,
                                   created_by=user, grade=grade, room=room_, sample_type=sample_type, state=state,
                                   alert_level=Decimal(alert), action_level=Decimal(action),
                                   method=LevelSet.Method.MANUAL, effective_at=now)


def sample_rows(location: Location, user: User, values: Iterable, *, sample_type: str, start: dt.datetime,
                step: dt.timedelta = dt.timedelta(days=1), state: str = "in_operation", status: str = "read",
                batch: Batch | None = None) -> list[EmSample]:
    """Unsaved samples, one per value (None: collected, not read yet), judged by the limits in force."""
    limits = limits_in_force(location.room, sample_type, state)
    record = limits.as_record()
    rows = []
    for i, value in enumerate(values):
        at = start + i * step
        read = value is not None
        rows.append(EmSample(
            number=_number("EM"), status=status if read else "incubating", created_at=at, modified_at=at,
            created_by=user, location=location, room=location.room, grade=location.room.grade,
            sample_type=sample_type, state=state, batch=batch, collected_by=user, collected_at=at,
            value=Decimal(value) if read else None, count=int(value) if read else None,
            read_by=user if read else None, read_at=at + dt.timedelta(days=5) if read else None,
            level=limits.judge(Decimal(value)).level if read else "", limits=record if read else {}))
    return rows


def samples(location: Location, user: User, values: Iterable, **options) -> list[EmSample]:
    """Saved samples (see sample_rows)."""
    return EmSample.objects.bulk_create(sample_rows(location, user, values, **options))


def excursion(sample: EmSample, user: User, *, kind: str = Excursion.Kind.ACTION, batches: Iterable[Batch] = (),
              deviation=None, acknowledged: bool = False, status: str = "open") -> Excursion:
    now = clock.now()
    found = Excursion.objects.create(
        number=_number("EXC"), status=status, created_at=now, modified_at=now, created_by=user, kind=kind,
        sample=sample, room=sample.room, location=sample.location, rule=f"{sample.value} at {sample.level} level",
        window_start=sample.collected_at - dt.timedelta(days=1), window_end=sample.collected_at,
        deviation=deviation, acknowledged_by=user if acknowledged else None, acknowledged_at=now if acknowledged else None)
    found.batches.set(batches)
    return found


def batch_in_room(template: Batch, room_: Room, started: dt.datetime | None, completed: dt.datetime | None = None,
                  *, status: str | None = None) -> Batch:
    """A copy of `template` (a batch of tests.batches.builders.world) made in `room_` over this window."""
    fields = {f.attname: getattr(template, f.attname) for f in Batch._meta.concrete_fields if not f.primary_key}
    fields |= {"number": _number("B"), "room_id": room_.pk, "started_at": started, "completed_at": completed,
               "status": status or ("completed" if completed else "in_progress" if started else "planned")}
    return Batch.objects.create(**fields)
