"""Reading the environmental monitoring programme: worklists, trends, heat maps, batch impact."""

import calendar
import datetime as dt
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from urllib.parse import urlencode

from django.db.models import Count, Exists, Max, OuterRef, Q
from django.urls import reverse
from django.utils import timezone

from opencdmo.batches.models import Batch
from opencdmo.core import clock
from opencdmo.core.access import require_to_see
from opencdmo.core.errors import NotFound, RuleViolation
from opencdmo.core.scoping import get_scoped, scoped
from opencdmo.core.tasks import Task
from opencdmo.facilities.models import Grade, Room

from . import conf
from .domain import iso14644, levels, limits, nelson, programme
from .models import Classification, EmSample, Excursion, LevelSet, Location, Plan
from .workflows import classification_workflow, level_set_workflow

# --- Limits in force ---


@dataclass(frozen=True)
class LimitsInForce:
    """What judges a result of one sample type in one room and state: the Annex 1 maximum, the
    site's approved alert and action levels (if any) and the comparison rule."""

    annex1: limits.Annex1Limit
    level_set: LevelSet | None
    comparison: str

    @property
    def alert(self) -> Decimal | None:
        return self.level_set.alert_level if self.level_set else None

    @property
    def action(self) -> Decimal | None:
        """The action level applied: the site's, or Annex 1's where the site's is looser or absent."""
        candidates = [v for v in (self.level_set and self.level_set.action_level,
                                  None if self.annex1.no_growth else self.annex1.value) if v is not None]
        return min(candidates) if candidates else None

    def judge(self, value: Decimal) -> limits.Verdict:
        return limits.judge(value, self.annex1, alert=self.alert,
                            action=self.level_set.action_level if self.level_set else None,
                            comparison=self.comparison)

    def as_record(self) -> dict:
        """What a result keeps of the limits that judged it (EmSample.limits)."""
        return {
            "annex1_edition": self.annex1.edition,
            "annex1_limit": None if self.annex1.value is None else str(self.annex1.value),
            "no_growth": self.annex1.no_growth,
            "level_set": self.level_set.number if self.level_set else None,
            "alert": None if self.alert is None else str(self.alert),
            "action": None if self.action is None else str(self.action),
            "comparison": self.comparison,
        }


def effective_level_set(room: Room, sample_type: str, state: str) -> LevelSet | None:
    """The approved levels for this room, else for every room of its grade."""
    level_sets = list(LevelSet.objects.filter(status="approved", sample_type=sample_type, state=state)
                      .filter(Q(room=room) | Q(room__isnull=True, grade=room.grade)).order_by("-effective_at", "-id"))
    own = [s for s in level_sets if s.room_id == room.pk]
    return (own or level_sets or [None])[0]


def limits_in_force(room: Room, sample_type: str, state: str) -> LimitsInForce:
    return LimitsInForce(
        annex1=limits.annex1_limit(room.grade, sample_type, state, edition=conf.annex1_edition()),
        level_set=effective_level_set(room, sample_type, state),
        comparison=conf.limit_comparison(),
    )

# --- Trends, heat map, batch summary ---

# A result counts once read (it has a value) and until it is invalidated.
NOT_COUNTED = ("invalidated",)
CLOSED_DEVIATION = ("closed", "cancelled")  # quality's final deviation states
TREND_WINDOWS = {"30d": ("30 days", 30), "90d": ("90 days", 90), "1y": ("1 year", 365)}
DEFAULT_TREND_DAYS = 90
HEAT_MAP_DAYS = 30
DEFAULT_STATE = "in_operation"  # the limits a trend of no result at all is drawn against
NO_DATA = "none"
LEVEL_ORDER = {NO_DATA: -1, programme.WITHIN: 0, programme.ALERT: 1, programme.ACTION: 2}


def results():
    """EmSample rows with a result that still counts."""
    return EmSample.objects.filter(value__isnull=False).exclude(status__in=NOT_COUNTED)


@dataclass(frozen=True)
class TrendPoint:
    number: str
    at: dt.datetime
    value: Decimal
    level: str
    state: str


@dataclass
class LocationSeries:
    location: Location
    points: list[TrendPoint]
    signals: list[nelson.Signal]

    @property
    def values(self) -> list[float]:
        return [float(p.value) for p in self.points]


@dataclass
class RoomTrend:
    room: Room
    sample_type: str
    state: str
    start: dt.datetime
    end: dt.datetime
    limits: LimitsInForce
    series: list[LocationSeries]

    @property
    def unit(self) -> str:
        return programme.SAMPLE_TYPES[self.sample_type][1]

    @property
    def label(self) -> str:
        return programme.SAMPLE_TYPES[self.sample_type][0]

    @property
    def signals(self) -> list[tuple[Location, nelson.Signal, TrendPoint]]:
        return [(s.location, signal, s.points[signal.index]) for s in self.series for signal in s.signals]


def _check_sample_type(sample_type: str) -> None:
    if sample_type not in programme.SAMPLE_TYPES:
        raise RuleViolation(f"Choose a sample type: one of {', '.join(programme.SAMPLE_TYPES)}; not {sample_type!r}.")


def trend_window(start: dt.datetime | None, end: dt.datetime | None) -> tuple[dt.datetime, dt.datetime]:
    """The window asked for, by default the last 90 days up to now; a time without a zone is UTC."""
    start, end = (None if t is None else t if t.tzinfo else t.replace(tzinfo=dt.UTC) for t in (start, end))
    if any(t is not None and not 2000 <= t.year <= 2100 for t in (start, end)):
        raise RuleViolation("Choose trend dates between the years 2000 and 2100.")
    end = end or clock.now()
    start = start or end - dt.timedelta(days=DEFAULT_TREND_DAYS)
    if start >= end:
        raise RuleViolation("The trend window must start before it ends.")
    return start, end


def room_trend(room: Room, *, sample_type: str, state: str | None = None, start: dt.datetime | None = None,
               end: dt.datetime | None = None) -> RoomTrend:
    """Per location, the results of one sample type in time order and the Nelson signals in them.
    Without a state, every state is shown against the limits of the state most results were taken in."""
    _check_sample_type(sample_type)
    if state is not None and state not in programme.STATES:
        raise RuleViolation(f"Choose a room state: one of {', '.join(programme.STATES)}; not {state!r}.")
    start, end = trend_window(start, end)
    found = results().filter(room=room, sample_type=sample_type, collected_at__gte=start, collected_at__lte=end)
    if state:
        found = found.filter(state=state)
    rows = found.order_by("location_id", "collected_at", "id").values_list(
        "location_id", "number", "collected_at", "value", "level", "state")
    by_location: dict[int, list[TrendPoint]] = {}
    for location_id, *point in rows:
        by_location.setdefault(location_id, []).append(TrendPoint(*point))
    locations = Location.objects.filter(pk__in=by_location).order_by("code")
    series = [LocationSeries(loc, by_location[loc.pk], nelson.signals([p.value for p in by_location[loc.pk]]))
              for loc in locations]
    if state is None:
        states = Counter(p.state for points in by_location.values() for p in points)
        state = states.most_common(1)[0][0] if states else DEFAULT_STATE
    return RoomTrend(room, sample_type, state, start, end, limits_in_force(room, sample_type, state), series)


@dataclass
class ControlChart:
    """One location's individuals chart of one sample type: mean and σ from its own history."""

    location: Location
    sample_type: str
    points: list[TrendPoint]
    mean: float
    sigma: float
    signals: list[nelson.Signal]

    @property
    def label(self) -> str:
        return programme.SAMPLE_TYPES[self.sample_type][0]

    @property
    def unit(self) -> str:
        return programme.SAMPLE_TYPES[self.sample_type][1]

    @property
    def flagged(self) -> list[tuple[nelson.Signal, TrendPoint]]:
        return [(signal, self.points[signal.index]) for signal in self.signals]


def location_control_charts(location: Location, *, start: dt.datetime | None = None,
                            end: dt.datetime | None = None) -> list[ControlChart]:
    """An I-chart per sample type taken at the location, with the rules each series breaks."""
    start, end = trend_window(start, end)
    rows = (results().filter(location=location, collected_at__gte=start, collected_at__lte=end)
            .order_by("sample_type", "collected_at", "id")
            .values_list("sample_type", "number", "collected_at", "value", "level", "state"))
    by_type: dict[str, list[TrendPoint]] = {}
    for sample_type, *point in rows:
        by_type.setdefault(sample_type, []).append(TrendPoint(*point))
    charts = []
    for sample_type in programme.SAMPLE_TYPES:
        if sample_type not in by_type:
            continue
        values = [float(p.value) for p in by_type[sample_type]]
        mean, sigma = nelson.baseline(values)
        charts.append(ControlChart(location, sample_type, by_type[sample_type], mean, sigma,
                                   nelson.signals(values, mean=mean, sigma=sigma)))
    return charts


@dataclass(frozen=True)
class Spot:
    """A location on the heat map: its latest results in the last 30 days and the worst level among them."""

    location: Location
    latest: list[EmSample]
    level: str
    ratio: Decimal | None  # the highest result ÷ the action level that judged it
    cx: Decimal  # the disc's centre in metres from the plan's top-left corner
    cy: Decimal

    @property
    def colour(self) -> str:
        return LEVEL_COLOURS[self.level]


LEVEL_COLOURS = {programme.WITHIN: "#1b7f3b", programme.ALERT: "#d08700", programme.ACTION: "#b42318",
                 NO_DATA: "#8a8f98"}
LEGEND = [(LEVEL_COLOURS[level], label) for level, label in
          (*programme.LEVELS.items(), (NO_DATA, f"No result in {HEAT_MAP_DAYS} days"))]


@dataclass(frozen=True)
class FloorPlan:
    room: Room
    sample_type: str | None
    width: Decimal
    length: Decimal
    spots: list[Spot]
    legend = LEGEND

    @property
    def radius(self) -> Decimal:
        return (min(self.width, self.length) / 16).quantize(Decimal("0.001"))

    @property
    def font(self) -> Decimal:
        return (self.radius * Decimal("1.4")).quantize(Decimal("0.001"))

    @property
    def stroke(self) -> Decimal:
        return (self.radius / 5).quantize(Decimal("0.001"))


def _ratio(sample: EmSample) -> Decimal | None:
    action = (sample.limits or {}).get("action")
    if action in (None, "") or Decimal(action) <= 0:
        return None
    return (sample.value / Decimal(action)).quantize(Decimal("0.01"))


def floor_plan(room: Room, *, sample_type: str | None = None) -> FloorPlan:
    """Each active location of the room with its latest result of each sample type (or of the one
    asked for) in the last 30 days: two queries, whatever the number of locations."""
    if sample_type is not None:
        _check_sample_type(sample_type)
    locations = list(Location.objects.filter(room=room, is_active=True).order_by("code"))
    recent = results().filter(room=room, collected_at__gte=clock.now() - dt.timedelta(days=HEAT_MAP_DAYS))
    if sample_type:
        recent = recent.filter(sample_type=sample_type)
    latest: dict[int, dict[str, EmSample]] = {}
    for sample in recent.order_by("-collected_at", "-id").only(
            "number", "location_id", "sample_type", "collected_at", "value", "level", "limits"):
        latest.setdefault(sample.location_id, {}).setdefault(sample.sample_type, sample)
    # No floor plan yet: a square, so the locations still show where they are relative to each other.
    width, length = (room.width_m, room.length_m) if room.width_m and room.length_m else (Decimal(1), Decimal(1))
    spots = []
    for location in locations:
        found = list(latest.get(location.pk, {}).values())
        level = max((s.level or programme.WITHIN for s in found), key=LEVEL_ORDER.get, default=NO_DATA)
        ratios = [r for s in found if (r := _ratio(s)) is not None]
        spots.append(Spot(location, found, level, max(ratios, default=None),
                          (location.x * width / 100).quantize(Decimal("0.001")),
                          (location.y * length / 100).quantize(Decimal("0.001"))))
    return FloorPlan(room, sample_type, width, length, spots)


ROOM_COLUMNS = [("Room", "code"), ("Grade", "grade"), ("Status", "status"), ("Open action excursions", "open_actions"),
                ("Alerts, 30 days", "alerts"), ("Last result", "last_result")]


def rooms_overview(*, sort: str = "code") -> list[dict]:
    """Every classified room with its open action excursions, alerts in the last 30 days and the
    time of its last result (three grouped queries)."""
    since = clock.now() - dt.timedelta(days=HEAT_MAP_DAYS)
    # an action excursion stays open until its deviation closes
    open_actions = dict(Excursion.objects.filter(kind=Excursion.Kind.ACTION)
                        .exclude(deviation__status__in=CLOSED_DEVIATION)
                        .values("room_id").annotate(n=Count("id")).values_list("room_id", "n"))
    alerts = dict(results().filter(level=programme.ALERT, collected_at__gte=since).values("room_id")
                  .annotate(n=Count("id")).values_list("room_id", "n"))
    last = dict(results().values("room_id").annotate(at=Max("collected_at")).values_list("room_id", "at"))
    rows = [{"room": room, "code": room.code, "grade": room.grade, "status": room.status,
             "open_actions": open_actions.get(room.pk, 0), "alerts": alerts.get(room.pk, 0),
             "last_result": last.get(room.pk)}
            for room in Room.objects.exclude(grade=Grade.UNCLASSIFIED).order_by("code")]
    key = sort.lstrip("-") if sort.lstrip("-") in {k for _, k in ROOM_COLUMNS} else "code"
    rows.sort(key=lambda r: (r[key] is None, r[key]), reverse=sort.startswith("-"))
    return rows


def room(code: str) -> Room:
    found = Room.objects.filter(code=str(code).strip()[:16]).first()
    if found is None:
        raise NotFound(f"No room has the code {str(code)[:16]!r}: choose one from the rooms list.")
    return found


def location(code: str) -> Location:
    found = Location.objects.select_related("room").filter(code=str(code).strip()[:24]).first()
    if found is None:
        raise NotFound(f"No sampling location has the code {str(code)[:24]!r}: choose one from its room's page.")
    return found


def latest_results(room: Room, *, sample_type: str | None = None, limit: int = 20):
    found = results().filter(room=room).select_related("location")
    if sample_type:
        found = found.filter(sample_type=sample_type)
    return found.order_by("-collected_at", "-id")[:limit]


# Batch EM summary states (the disposition's prerequisite states).
MET, UNMET, PENDING, NOT_APPLICABLE = "met", "unmet", "pending", "not_applicable"


@dataclass(frozen=True)
class ExcursionLine:
    excursion: Excursion
    names_batch: bool

    @property
    def deviation_text(self) -> str:
        return _deviation_text(self.excursion)

    @property
    def deviation_open(self) -> bool:
        d = self.excursion.deviation
        return d is None or d.status not in CLOSED_DEVIATION


@dataclass
class BatchEmSummary:
    """What the room's environmental monitoring says about one batch: the samples taken while it was
    made, by type and level, those not read yet, and the excursions that touch it."""

    batch: Batch
    room: Room
    start: dt.datetime | None
    end: dt.datetime | None
    state: str
    detail: str
    counts: dict[str, dict[str, int]] = field(default_factory=dict)  # sample type → level → n
    unread: int = 0
    excursions: list[ExcursionLine] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(n for levels in self.counts.values() for n in levels.values())

    def count(self, level: str) -> int:
        return sum(levels.get(level, 0) for levels in self.counts.values())

    @property
    def rows(self) -> list[dict]:
        return [{"sample_type": t, "label": programme.SAMPLE_TYPES[t][0],
                 **{level: self.counts[t].get(level, 0) for level in programme.LEVELS}}
                for t in programme.SAMPLE_TYPES if t in self.counts]


def _deviation_text(excursion: Excursion) -> str:
    d = excursion.deviation
    return f"deviation {d.number} {d.status.replace('_', ' ')}" if d else "no deviation raised yet"


def _summary_state(summary: BatchEmSummary, has_plan: bool) -> tuple[str, str]:
    room = summary.room.code
    if not has_plan and summary.total == 0 and not summary.unread:
        return NOT_APPLICABLE, f"Room {room} has no EM programme."
    if summary.start is None:
        return PENDING, f"{summary.batch.number} has not started in room {room} yet."
    blocking = [e.excursion for e in summary.excursions
                if e.names_batch and e.excursion.kind == Excursion.Kind.ACTION and e.deviation_open]
    if blocking:
        named = ", ".join(f"{x.number} ({_deviation_text(x)})" for x in blocking)
        return UNMET, f"Action excursion(s) in room {room} naming {summary.batch.number}: {named}; close the deviation(s) first."
    if summary.total == 0 and not summary.unread:
        return UNMET, f"Room {room} has an EM programme but no sample was taken while {summary.batch.number} was made."
    waiting = [e.excursion.number for e in summary.excursions
               if e.excursion.kind != Excursion.Kind.ACTION and e.excursion.acknowledged_at is None]
    if summary.unread or waiting:
        parts = ([f"{summary.unread} sample(s) not read yet"] if summary.unread else []) + (
            [f"excursion(s) {', '.join(waiting)} not acknowledged"] if waiting else [])
        return PENDING, f"Room {room}: " + "; ".join(parts) + "."
    return MET, (f"{summary.total} samples, {summary.count(programme.ALERT)} alerts, "
                 f"{summary.count(programme.ACTION)} actions in room {room}, all read and acknowledged.")


def batch_em_summary(batch: Batch) -> BatchEmSummary:
    """The batch's EM status, aggregated in the database over the room, the grade A zones in it,
    and the batch's window (started → completed, or now while it runs)."""
    room_ = batch.room
    rooms = Room.objects.filter(Q(pk=room_.pk) | Q(within=room_.pk)).values("pk")  # a subquery, not a query
    start = batch.started_at
    end = batch.completed_at or clock.now()
    summary = BatchEmSummary(batch, room_, start, end if start else None, PENDING, "")
    has_plan = Plan.objects.filter(location__room__in=rooms, is_active=True).exists()
    if start is not None:
        in_window = (EmSample.objects.filter(room__in=rooms, collected_at__gte=start, collected_at__lte=end)
                     .exclude(status__in=NOT_COUNTED))
        for sample_type, level, read, unread in (
                in_window.values("sample_type", "level").order_by()
                .annotate(read=Count("id", filter=Q(value__isnull=False)), unread=Count("id", filter=Q(value__isnull=True)))
                .values_list("sample_type", "level", "read", "unread")):
            if read:
                levels = summary.counts.setdefault(sample_type, {})
                levels[level or programme.WITHIN] = levels.get(level or programme.WITHIN, 0) + read
            summary.unread += unread
        naming = Excursion.batches.through.objects.filter(excursion_id=OuterRef("pk"), batch_id=batch.pk)
        touching = (Excursion.objects.annotate(names_batch=Exists(naming))
                    .filter(Q(names_batch=True) | Q(room__in=rooms, sample__collected_at__gte=start,
                                                    sample__collected_at__lte=end))
                    .exclude(sample__status__in=NOT_COUNTED).select_related("deviation", "location")
                    .order_by("created_at", "id"))
        summary.excursions = [ExcursionLine(x, x.names_batch) for x in touching]
    summary.state, summary.detail = _summary_state(summary, has_plan)
    return summary


def batch_by_number(user, number: str) -> Batch:
    """A batch by its number, for EM staff who may see its sponsor (the room's data is the CDMO's;
    the batch is its sponsor's)."""
    require_to_see(user, "envmon.view")
    return get_scoped(Batch.objects.select_related("room", "product"), user, number=str(number).strip()[:32])

# --- Alert and action levels, classification ---

LEVEL_GRADES = ("A", "B", "C", "D")  # Annex 1 grades; an unclassified room has no EM levels
DEFAULT_HISTORY_DAYS = 365
TASKS_PER_KIND = 20
LEVEL_REVIEW_STATES = ("draft", "reviewed")
MAX_LEVEL = Decimal("999999999999")  # LevelSet.alert_level/action_level: 14 digits, 2 decimals
# A1-6: requalification of grades A and B at least every 6 months, C and D every 12 months.
CLASSIFICATION_INTERVAL_MONTHS = {"A": 6, "B": 6, "C": 12, "D": 12}
CLASSIFICATION_DUE_SOON_DAYS = 30
FIRST_YEAR, LAST_YEAR = 2000, 2100  # what a date typed on an EM page may be


def parse_number(value, what: str, *, maximum: Decimal = MAX_LEVEL, integer: bool = False,
                 places: int | None = None, example: str = "25") -> Decimal:
    """A non-negative finite number typed or sent as `value`; a RuleViolation that says what to type."""
    if isinstance(value, bool) or value is None or (isinstance(value, str) and not value.strip()):
        raise RuleViolation(f"Give {what}.")
    try:
        number = value if isinstance(value, Decimal) else Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise RuleViolation(f"{what[0].upper()}{what[1:]} is a number, e.g. {example}; not {str(value)[:40]!r}.") from None
    if not number.is_finite():
        raise RuleViolation(f"{what[0].upper()}{what[1:]} is a finite number.")
    if number < 0:
        raise RuleViolation(f"{what[0].upper()}{what[1:]} cannot be negative.")
    if number > maximum:
        raise RuleViolation(f"{what[0].upper()}{what[1:]} is at most {maximum:,}.")
    if integer and number != number.to_integral_value():
        raise RuleViolation(f"{what[0].upper()}{what[1:]} is a whole number.")
    if places == 0 and number != number.to_integral_value():
        raise RuleViolation(f"Give {what} as a whole number, e.g. {example}.")
    if places is not None and number != number.quantize(Decimal(1).scaleb(-places)):
        raise RuleViolation(f"Give {what} with at most {places} decimal{'s' if places > 1 else ''}.")
    return number


def parse_choice(value, options: dict, what: str) -> str:
    text = str(value or "").strip()
    if text not in options:
        raise RuleViolation(f"Choose {what}: one of {', '.join(str(k) for k in options)}; not {text[:40]!r}.")
    return text


def parse_moment(value, what: str, *, end_of_day: bool = False) -> dt.datetime | None:
    """A date as typed (YYYY-MM-DD, years 2000 to 2100) as the start (or the end) of that day, site
    time; None when empty. The one date parser of the EM pages: no date they take overflows."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, dt.datetime):
        day, moment = value.date(), value
    else:
        try:
            day = value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value).strip()[:10])
        except ValueError:
            raise RuleViolation(f"Enter {what} as YYYY-MM-DD, e.g. 2026-01-31; not {str(value)[:20]!r}.") from None
        moment = dt.datetime.combine(day, dt.time())
    if not FIRST_YEAR <= day.year <= LAST_YEAR:
        raise RuleViolation(f"Enter {what} between the years {FIRST_YEAR} and {LAST_YEAR}, e.g. 2026-01-31.")
    if end_of_day and not isinstance(value, dt.datetime):
        moment += dt.timedelta(days=1)
    return timezone.make_aware(moment) if timezone.is_naive(moment) else moment


def level_room(grade: str, room) -> Room | None:
    """The room a level set is for (by code or instance), which must be of `grade`; None: every room."""
    if room in (None, ""):
        return None
    found = room if isinstance(room, Room) else Room.objects.filter(code=str(room).strip()).first()
    if found is None:
        raise NotFound(f"No room {str(room)[:40]!r}: choose one from the list.")
    if found.grade != grade:
        raise RuleViolation(f"{found.code} is grade {found.grade}, not {grade}: choose a room of the grade, "
                            "or none for every room of it.")
    return found


def level_scope(grade, room, sample_type, state) -> tuple[str, Room | None, str, str]:
    """What a level set applies to, as typed: a grade (or one room of it), a sample type, a state."""
    grade = parse_choice(grade, dict.fromkeys(LEVEL_GRADES), "the grade")
    return (grade, level_room(grade, room), parse_choice(sample_type, programme.SAMPLE_TYPES, "the sample type"),
            parse_choice(state, programme.STATES, "the room state"))


@dataclass(frozen=True)
class LevelPreview:
    """Levels computed from history, before anything is saved: the form's Preview."""

    annex1: limits.Annex1Limit
    computed: levels.ComputedLevels
    parameters: dict
    history_from: dt.datetime
    history_to: dt.datetime
    values: list[Decimal]


def level_history(grade: str, room: Room | None, sample_type: str, state: str, start: dt.datetime,
                  end: dt.datetime) -> list[Decimal]:
    """Every read, valid result of this scope in [start, end): the history levels are computed from."""
    samples = (EmSample.objects.filter(grade=grade, sample_type=sample_type, state=state, value__isnull=False,
                                       collected_at__gte=start, collected_at__lt=end)
               .exclude(status__in=NOT_COUNTED))
    if room is not None:
        samples = samples.filter(room=room)
    return list(samples.order_by("collected_at").values_list("value", flat=True))


def preview_levels(*, grade, room=None, sample_type, state, method, percentile=95, action_percentile=99,
                   alert_k=2, action_k=3, history_from=None, history_to=None) -> LevelPreview:
    """The levels `method` computes from the history of this scope (default: the last 12 months),
    capped at Annex 1; a RuleViolation that says why they cannot be computed. Writes nothing."""
    grade, room, sample_type, state = level_scope(grade, room, sample_type, state)
    method = parse_choice(method, levels.METHODS, "how the levels are computed")
    now = clock.now()
    end = parse_moment(history_to, "the end of the history", end_of_day=True) or now
    start = parse_moment(history_from, "the start of the history") or end - dt.timedelta(days=DEFAULT_HISTORY_DAYS)
    if end > now:
        end = now  # no history after now: the rest of today is empty anyway
    if start >= end:
        raise RuleViolation("The history starts before it ends, and ends no later than today.")
    if method == levels.PERCENTILE:
        parameters = {"percentile": parse_number(percentile, "the alert percentile", maximum=Decimal(100)),
                      "action_percentile": parse_number(action_percentile, "the action percentile",
                                                        maximum=Decimal(100))}
        if parameters["percentile"] >= parameters["action_percentile"]:
            raise RuleViolation("The alert percentile must be below the action percentile, e.g. 95 and 99.")
    else:
        parameters = {"alert_k": parse_number(alert_k, "the alert k", maximum=Decimal(10)),
                      "action_k": parse_number(action_k, "the action k", maximum=Decimal(10))}
        if parameters["alert_k"] >= parameters["action_k"]:
            raise RuleViolation("The alert k must be below the action k, e.g. 2 and 3.")
    annex1 = limits.annex1_limit(grade, sample_type, state, edition=conf.annex1_edition())
    values = level_history(grade, room, sample_type, state, start, end)
    try:
        computed = levels.computed_levels(values, method=method, annex1=annex1, **parameters)
    except ValueError as exc:
        raise RuleViolation(f"{exc} Widen the history, or set the levels by hand.") from None
    return LevelPreview(annex1, computed, {k: str(v) for k, v in parameters.items()}, start, end, values)


def level_set(user, number: str) -> LevelSet:
    found = (LevelSet.objects.select_related("room", "created_by").filter(number=str(number).strip()[:32]).first())
    if found is None:
        raise NotFound(f"No alert and action level set {str(number)[:32]!r}.")
    return found


def level_sets(*, grade: str = "", sample_type: str = "", state: str = "", status: str = "", room: str = ""):
    found = LevelSet.objects.select_related("room", "created_by")
    for name, value in (("grade", grade), ("sample_type", sample_type), ("state", state), ("status", status),
                        ("room__code", room)):
        if value:
            found = found.filter(**{name: value})
    return found


@dataclass
class LevelRow:
    """One line of the levels matrix: a grade, sample type and state."""

    grade: str
    sample_type: str
    sample_type_label: str
    unit: str
    state: str
    state_label: str
    annex1: limits.Annex1Limit
    in_force: LevelSet | None
    room_sets: list
    pending: list


def level_matrix(*, grade: str = "", sample_type: str = "", state: str = "") -> list[LevelRow]:
    """For each grade × sample type × state: the Annex 1 maximum, the grade's levels in force, the
    rooms' own levels in force and the sets awaiting review or approval."""
    edition = conf.annex1_edition()
    grades = [g for g in LEVEL_GRADES if not grade or g == grade]
    types = [t for t in programme.SAMPLE_TYPES if not sample_type or t == sample_type]
    states = [s for s in programme.STATES if not state or s == state]
    sets = list(LevelSet.objects.filter(status__in=("approved", *LEVEL_REVIEW_STATES), grade__in=grades)
                .select_related("room").order_by("-effective_at", "-id"))
    rows = []
    for g in grades:
        for t in types:
            for s in states:
                scope = [x for x in sets if (x.grade, x.sample_type, x.state) == (g, t, s)]
                approved = [x for x in scope if x.status == "approved"]
                label, unit, _ = programme.SAMPLE_TYPES[t]
                rows.append(LevelRow(
                    g, t, label, unit, s, programme.STATES[s], limits.annex1_limit(g, t, s, edition=edition),
                    next((x for x in approved if x.room_id is None), None),
                    [x for x in approved if x.room_id is not None],
                    [x for x in scope if x.status in LEVEL_REVIEW_STATES]))
    return rows


def level_set_tasks(user) -> list:
    """My tasks: level sets to review or approve (not my own, nor one I reviewed: segregation)."""
    steps = [("draft", "envmon.review", "Review the alert and action levels"),
             ("reviewed", "envmon.approve", "Approve the alert and action levels")]
    tasks = []
    for status, permission, title in steps:
        if not user.has_permission(permission):
            continue
        for s in LevelSet.objects.filter(status=status).exclude(created_by=user).order_by("created_at")[:TASKS_PER_KIND]:
            if not level_set_workflow.available(s, user):
                continue
            tasks.append(Task(title=title, record=s.number, url=reverse("envmon:level", args=[s.number]),
                              status=s.status, status_label=level_set_workflow.label(s.status),
                              detail=level_scope_text(s)))
    return tasks


def level_scope_text(level_set: LevelSet) -> str:
    where = level_set.room.code if level_set.room_id else f"every grade {level_set.grade} room"
    return (f"{programme.SAMPLE_TYPES[level_set.sample_type][0]}, {programme.STATES[level_set.state].lower()}, "
            f"{where}")


def level_method_text(level_set: LevelSet) -> str:
    """How the levels were set, in words: 'Set by hand', or '95th percentile of 24 results, action
    99th; capped at Annex 1'."""
    p = level_set.parameters or {}
    if level_set.method == LevelSet.Method.MANUAL:
        return "Set by hand"
    if level_set.method == LevelSet.Method.PERCENTILE:
        text = (f"{_ordinal(p.get('percentile'))} percentile of {p.get('n', '?')} results, "
                f"action {_ordinal(p.get('action_percentile'))}")
    else:
        text = (f"Mean + {p.get('alert_k')}·σ of {p.get('n', '?')} results (mean {p.get('mean')}, "
                f"σ {p.get('sd')}), action mean + {p.get('action_k')}·σ")
    return text + ("; capped at Annex 1" if p.get("capped") else "")


def _ordinal(value) -> str:
    number = Decimal(str(value)).normalize() if value is not None else None
    if number is None or number != number.to_integral_value():
        return f"{value}th"
    n = int(number)
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def classification(user, number: str) -> Classification:
    found = (Classification.objects.select_related("room", "instrument", "performed_by", "created_by")
             .filter(number=str(number).strip()[:32]).first())
    if found is None:
        raise NotFound(f"No room classification {str(number)[:32]!r}.")
    return found


def classifications(*, room: str = "", status: str = "", state: str = ""):
    found = Classification.objects.select_related("room", "performed_by")
    for name, value in (("room__code", room), ("status", status), ("state", state)):
        if value:
            found = found.filter(**{name: value})
    return found


@dataclass(frozen=True)
class PointReadings:
    """A classification location's readings and, when it has them, its mean against the limit."""

    point: int
    size: Decimal
    readings: list
    result: object | None  # iso14644.PointResult once every size has readings


def classification_grid(c: Classification) -> list[PointReadings]:
    """Every location × size of the classification with its readings and result so far."""
    readings = list(c.readings.select_related("recorded_by"))
    judged = {(int(r.point), r.size): r for r in classification_verdict(c, readings).points}
    grid = []
    for point in range(1, c.location_count + 1):
        for size in classification_sizes(c):
            own = [r for r in readings if r.point == point and r.size == size]
            grid.append(PointReadings(point, size, own, judged.get((point, size)) if own else None))
    return grid


def classification_verdict(c: Classification, readings=None) -> iso14644.ClassificationVerdict:
    """Every location's mean concentration against the class limit at each size considered."""
    by_point = {point: {} for point in range(1, c.location_count + 1)}
    for r in c.readings.all() if readings is None else readings:
        by_point.setdefault(r.point, {}).setdefault(r.size, []).append(r.concentration)
    return iso14644.verdict(by_point, c.iso_class, sizes=classification_sizes(c))


def classification_sizes(c: Classification) -> list[Decimal]:
    return [Decimal(str(s)) for s in c.sizes]


def missing_readings(c: Classification) -> list[str]:
    """'location 3 ≥0.5 µm' for each location and size without a reading."""
    have = {(p, Decimal(str(s))) for p, s in c.readings.values_list("point", "size")}
    return [f"location {p} ≥{s} µm" for p in range(1, c.location_count + 1) for s in classification_sizes(c)
            if (p, s) not in have]


def _months_later(moment: dt.datetime, months: int) -> dt.datetime:
    month = moment.month - 1 + months
    year, month = moment.year + month // 12, month % 12 + 1
    return moment.replace(year=year, month=month, day=min(moment.day, calendar.monthrange(year, month)[1]))


@dataclass(frozen=True)
class ClassificationDue:
    room: Room
    state: str
    last: Classification | None  # the last approved one that passed
    due_at: dt.datetime | None  # None: never classified (or never passed), due now
    overdue: bool
    last_failed: Classification | None = None  # approved after it, and failed: the room is still due

    @property
    def state_label(self) -> str:
        return programme.STATES[self.state]


def classifications_due(*, within_days: int | None = None) -> list[ClassificationDue]:
    """Each graded room's next ISO 14644-1 classification in each state (A1-6: at rest and in
    operation, A/B every 6 months, C/D every 12 months from the last approved one that passed; a
    failed one does not count, the room stays due); with `within_days`, only those due by then."""
    now = clock.now()
    rooms = Room.objects.filter(grade__in=CLASSIFICATION_INTERVAL_MONTHS).exclude(status=Room.Status.SHUT_DOWN)
    passed, failed = {}, {}
    for c in Classification.objects.filter(status="approved", room__in=rooms).order_by("performed_at", "id"):
        (passed if c.passed else failed)[c.room_id, c.state] = c
    due = []
    for room in rooms.order_by("code"):
        for state in programme.STATES:
            last = passed.get((room.pk, state))
            due_at = _months_later(last.performed_at, CLASSIFICATION_INTERVAL_MONTHS[room.grade]) if last else None
            if within_days is not None and due_at is not None and due_at > now + dt.timedelta(days=within_days):
                continue
            failure = failed.get((room.pk, state))
            if failure is not None and last is not None and failure.performed_at < last.performed_at:
                failure = None
            due.append(ClassificationDue(room, state, last, due_at, due_at is None or due_at <= now, failure))
    return due


def classification_due_text(d: ClassificationDue) -> str:
    if d.last_failed is not None:
        return f"last classification failed ({d.last_failed.number})"
    return "never classified" if d.due_at is None else f"due {timezone.localtime(d.due_at):%Y-%m-%d}"


def classification_tasks(user) -> list:
    """My tasks: rooms whose classification is due within a month, and classifications to approve."""
    tasks = []
    if user.has_permission("envmon.manage_programme"):
        for d in classifications_due(within_days=CLASSIFICATION_DUE_SOON_DAYS)[:TASKS_PER_KIND]:
            tasks.append(Task(title="Room classification due", record=str(d.room),
                              url=reverse("envmon:classification_new") + f"?room={d.room.code}&state={d.state}",
                              status="overdue" if d.overdue else "due", status_label="Overdue" if d.overdue else "Due",
                              detail=f"Grade {d.room.grade}, {d.state_label.lower()}, {classification_due_text(d)}"))
    if user.has_permission("envmon.approve"):
        for c in (Classification.objects.filter(status="completed").exclude(performed_by=user)
                  .select_related("room").order_by("performed_at")[:TASKS_PER_KIND]):
            tasks.append(Task(title="Approve the room classification", record=c.number,
                              url=reverse("envmon:classification", args=[c.number]), status=c.status,
                              status_label=classification_workflow.label(c.status),
                              detail=f"{c.room.code}, ISO {c.iso_class} {programme.STATES[c.state].lower()}"))
    return tasks

# --- Worklist and tasks ---


def batches_in_room(room, start, end):
    """The batches processed in `room` at some moment of [start, end]: started by its end and not
    completed before its start (a batch still running counts). A zone's batches are those of the
    room it stands in."""
    rooms = [room.pk] if room.within_id is None else [room.pk, room.within_id]
    return (Batch.objects.filter(room__in=rooms, started_at__isnull=False, started_at__lte=end)
            .filter(Q(completed_at__isnull=True) | Q(completed_at__gte=start)).order_by("started_at", "id"))


@dataclass(frozen=True)
class BatchesSeen:
    """The batches of a list that a user may see, and how many of other sponsors it leaves out: EM
    records are the CDMO's, the batches they name are their sponsors' (never a hidden batch's number)."""

    shown: list
    hidden: int

    @property
    def others(self) -> str:
        if not self.hidden:
            return ""
        return "1 batch of another sponsor" if self.hidden == 1 else f"{self.hidden} batches of other sponsors"

    @property
    def text(self) -> str:
        """'B-1, B-2 and 1 batch of another sponsor', '—' for none."""
        numbers = ", ".join(b.number for b in self.shown)
        return " and ".join(part for part in (numbers, self.others) if part) or "—"


def visible_batch_ids(user, batch_ids) -> set[int]:
    """Of these batches, those of the sponsors assigned to the user (one query for a whole page)."""
    return set(scoped(Batch, user).filter(pk__in=set(batch_ids)).values_list("pk", flat=True))


def batches_seen(user, batches, visible: set[int] | None = None) -> BatchesSeen:
    batches = [b for b in batches if b is not None]
    if visible is None:
        visible = visible_batch_ids(user, [b.pk for b in batches])
    shown = [b for b in batches if b.pk in visible]
    return BatchesSeen(shown, len(batches) - len(shown))


def with_batches_seen(user, excursions) -> list[Excursion]:
    """The excursions, each with `batches_seen`: the batches it names as the user may see them."""
    excursions = list(excursions.prefetch_related("batches"))
    visible = visible_batch_ids(user, [b.pk for e in excursions for b in e.batches.all()])
    for e in excursions:
        e.batches_seen = batches_seen(user, e.batches.all(), visible)
    return excursions


@dataclass(frozen=True)
class DueSample:
    """A sample a plan asks for now: once in the period since `since`, or once for `batch`."""

    plan: Plan
    since: dt.datetime | None = None
    batch: Batch | None = None

    @property
    def location(self) -> Location:
        return self.plan.location

    @property
    def room(self) -> Room:
        return self.plan.location.room

    @property
    def url(self) -> str:
        """The collection form, filled in for this sample."""
        query = {"location": self.location.code, "type": self.plan.sample_type, "state": self.plan.state,
                 "plan": self.plan.pk, **({"batch": self.batch.number} if self.batch else {})}
        return f"{reverse('envmon:collect')}?{urlencode(query)}"


def period_start(frequency: str, now: dt.datetime) -> dt.datetime:
    """When the current sampling period began (aware): the site-time shift, day or ISO week."""
    local = timezone.localtime(now)
    if frequency == "daily":
        return timezone.make_aware(dt.datetime.combine(local.date(), dt.time()))
    if frequency == "weekly":
        return timezone.make_aware(dt.datetime.combine(local.date() - dt.timedelta(days=local.weekday()), dt.time()))
    # each shift start of yesterday and today, made aware in the site's zone (DST-safe)
    starts = [timezone.make_aware(dt.datetime.combine(local.date() + dt.timedelta(days=day), start))
              for day in (-1, 0) for start in conf.shift_starts()]
    return max(s for s in starts if s <= local)


ROOM_STATE_PLANS = {"in_operation": "in_operation", "at_rest": "at_rest"}  # shut down, maintenance: none


def due_samples(now: dt.datetime | None = None) -> list[DueSample]:
    """Every sample the active plans ask for now, by room and location."""
    now = now or clock.now()
    plans = list(Plan.objects.filter(is_active=True, location__is_active=True)
                 .select_related("location__room").order_by("location__room__code", "location__code", "sample_type"))
    plans = [p for p in plans if ROOM_STATE_PLANS.get(p.location.room.status) == p.state]
    taken = EmSample.objects.filter(plan__in=plans).exclude(status="invalidated")
    last = dict(taken.values("plan").annotate(last=Max("collected_at")).values_list("plan", "last"))
    per_batch = [p for p in plans if p.frequency == "per_batch"]
    sampled = set(taken.filter(plan__in=per_batch, batch__isnull=False).values_list("plan", "batch"))
    running = {}
    # a zone's batches are those of the room it stands in
    made_in = {p.location.room_id: p.location.room.within_id or p.location.room_id for p in per_batch}
    for batch in Batch.objects.filter(room__in=set(made_in.values()), started_at__isnull=False,
                                      started_at__lte=now, completed_at__isnull=True).order_by("started_at"):
        running.setdefault(batch.room_id, []).append(batch)
    due = []
    for plan in plans:
        if plan.frequency == "per_batch":
            due += [DueSample(plan, batch=b) for b in running.get(made_in[plan.location.room_id], [])
                    if (plan.pk, b.pk) not in sampled]
            continue
        since = period_start(plan.frequency, now)
        if last.get(plan.pk) is None or last[plan.pk] < since:
            due.append(DueSample(plan, since=since))
    return due


def plates_to_read(now: dt.datetime | None = None):
    """Plates whose second incubation has lasted its minimum: ready to be counted."""
    now = now or clock.now()
    ready_since = now - dt.timedelta(hours=conf.incubation()["second"]["min_hours"])
    return (EmSample.objects.filter(status="incubating", second_incubation_started_at__lte=ready_since)
            .select_related("location", "room").order_by("second_incubation_started_at"))


def in_incubation(now: dt.datetime | None = None):
    """Plates still in incubation, and collected plates waiting to go in."""
    now = now or clock.now()
    ready_since = now - dt.timedelta(hours=conf.incubation()["second"]["min_hours"])
    return (EmSample.objects.filter(Q(status="collected", sample_type__in=programme.VIABLE) | Q(status="incubating"))
            .exclude(second_incubation_started_at__lte=ready_since)
            .select_related("location", "room").order_by("collected_at"))


def samples(*, room="", sample_type="", level="", status="", date_from=None, date_to=None, order="-collected_at"):
    rows = EmSample.objects.select_related("location", "room")
    for lookup, value in (("room__code", room), ("sample_type", sample_type), ("level", level), ("status", status)):
        if value:
            rows = rows.filter(**{lookup: value})
    if date_from:
        rows = rows.filter(collected_at__date__gte=date_from)
    if date_to:
        rows = rows.filter(collected_at__date__lte=date_to)
    return rows.order_by(order, "-id")


def excursions(*, status="", kind="", room=""):
    rows = Excursion.objects.select_related("sample", "room", "location", "deviation")
    for lookup, value in (("status", status), ("kind", kind), ("room__code", room)):
        if value:
            rows = rows.filter(**{lookup: value})
    return rows


def due_samples_seen(user, now: dt.datetime | None = None) -> tuple[list[DueSample], dict[Room, int]]:
    """The samples due that the user may see, and per room how many per-batch samples are due for
    batches of other sponsors (their numbers are not shown)."""
    due = due_samples(now)
    visible = visible_batch_ids(user, [d.batch.pk for d in due if d.batch])
    hidden: dict[Room, int] = {}
    for d in due:
        if d.batch and d.batch.pk not in visible:
            hidden[d.room] = hidden.get(d.room, 0) + 1
    return [d for d in due if not d.batch or d.batch.pk in visible], hidden


def sample_tasks(user) -> list[Task]:
    if not user.has_permission("envmon.sample"):
        return []
    return [Task(title=f"Take the {d.plan.get_sample_type_display().lower()} at {d.location.code}",
                 record=d.location.code, url=d.url, status="due", status_label="Due",
                 detail=f"{d.room.code}, {d.plan.get_frequency_display().lower()}"
                        + (f", batch {d.batch.number}" if d.batch else ""))
            for d in due_samples_seen(user)[0]]


def reading_tasks(user) -> list[Task]:
    if not user.has_permission("envmon.read_plates"):
        return []
    return [Task(title="Read the plate", record=s.number, url=reverse("envmon:sample", args=[s.number]),
                 status="incubating", status_label="Ready to read", detail=f"{s.location.code} in {s.room.code}")
            for s in plates_to_read()]


def excursion_tasks(user) -> list[Task]:
    if not user.has_permission("envmon.acknowledge_excursions"):
        return []
    return [Task(title="EM alerts to acknowledge" if e.kind == "alert" else f"EM {e.get_kind_display().lower()} "
                 "to acknowledge", record=e.number, url=reverse("envmon:excursion", args=[e.number]),
                 status="open", status_label="Open", detail=f"{e.location.code} in {e.room.code}: {e.rule}")
            for e in Excursion.objects.filter(status="open").select_related("location", "room")]
