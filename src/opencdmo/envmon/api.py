"""Environmental monitoring over HTTP. Thin: selectors and services do the work."""

import datetime as dt
from decimal import Decimal
from typing import Literal

from ninja import Field, Query, Router, Schema, Status
from ninja.pagination import paginate

from opencdmo.core.access import require, require_to_see
from opencdmo.core.api import Pagination
from opencdmo.core.errors import NotFound
from opencdmo.core.signatures import SignatureInput
from opencdmo.facilities.models import Room

from . import selectors, services, workflows
from .domain.programme import SAMPLE_TYPES
from .models import EmSample, Excursion, Location, Plan

router = Router(tags=["Environmental monitoring"])

# --- Locations, plans, samples, excursions ---


def _seen(context, batches) -> selectors.BatchesSeen:
    """The batches as the caller may see them: those of its sponsors named, the others counted."""
    return selectors.batches_seen(context["request"].user, batches)


class _NamesBatch(Schema):
    """A record that may name one batch: its number if the caller may see it, else only the flag."""

    batch: str | None = Field(None, description="the batch's number, if of a sponsor assigned to the caller")
    batch_of_other_sponsor: bool = False

    @staticmethod
    def resolve_batch(obj, context) -> str | None:
        seen = _seen(context, [obj.batch])
        return seen.shown[0].number if seen.shown else None

    @staticmethod
    def resolve_batch_of_other_sponsor(obj, context) -> bool:
        return bool(_seen(context, [obj.batch]).hidden)


class LocationOut(Schema):
    code: str
    name: str
    room: str = Field(alias="room.code")
    x: Decimal
    y: Decimal
    sample_types: list[str]
    is_active: bool


class LocationIn(Schema):
    room: str = Field(max_length=16)
    code: str = Field(max_length=24)
    name: str = Field(max_length=200)
    x: Decimal
    y: Decimal
    sample_types: list[str] = Field(max_length=len(SAMPLE_TYPES))


class RoomFilter(Schema):
    room: str = Field("", max_length=16)


class ReasonIn(Schema):
    reason: str = Field(max_length=1000)


class FloorPlanIn(ReasonIn):
    width_m: Decimal
    length_m: Decimal


class PlanOut(Schema):
    id: int
    location: str = Field(alias="location.code")
    sample_type: str
    frequency: str
    state: str
    is_active: bool


class PlanIn(Schema):
    location: str = Field(max_length=24)
    sample_type: str = Field(max_length=16)
    frequency: str = Field(max_length=16)
    state: str = Field(max_length=16)


class DueOut(_NamesBatch):
    plan: int = Field(alias="plan.pk")
    room: str = Field(alias="room.code")
    location: str = Field(alias="location.code")
    sample_type: str = Field(alias="plan.sample_type")
    state: str = Field(alias="plan.state")
    frequency: str = Field(alias="plan.frequency")
    since: dt.datetime | None


class SampleOut(_NamesBatch):
    number: str
    status: str
    room: str = Field(alias="room.code")
    location: str = Field(alias="location.code")
    grade: str
    sample_type: str
    state: str
    collected_at: dt.datetime
    count: int | None
    value: Decimal | None
    level: str
    limits: dict


class SampleFilter(Schema):
    room: str = Field("", max_length=16)
    sample_type: str = Field("", max_length=16)
    level: str = Field("", max_length=8)
    status: str = Field("", max_length=16)
    date_from: dt.date | None = None
    date_to: dt.date | None = None


class CollectIn(Schema):
    location: str = Field(max_length=24)
    sample_type: str = Field(max_length=16)
    state: str = Field(max_length=16)
    plan: int | None = Field(None, ge=1, le=2**31)
    batch: str = Field("", max_length=32)
    media_lot: str = Field("", max_length=64)
    exposure_minutes: Decimal | None = None
    volume_litres: Decimal | None = None
    instrument: str = Field("", max_length=32, description="the instrument's asset id")
    count: int | None = Field(None, ge=0, le=10**9)
    comment: str = Field("", max_length=2000)
    submission_id: str = Field("", max_length=64, description="a fresh id per sample: a retry with the same id "
                               "returns the sample recorded; other data under it is refused (409)")


class SampleActionIn(Schema):
    temperature_c: Decimal | None = None
    count: int | None = Field(None, ge=0, le=10**9)
    comment: str = Field("", max_length=2000)
    organism: str = Field("", max_length=200)
    method: str = Field("", max_length=100)
    cfu: int | None = Field(None, ge=0, le=10**9)
    reason: str = Field("", max_length=1000)


class ExcursionOut(Schema):
    number: str
    kind: str
    status: str
    rule: str
    sample: str = Field(alias="sample.number")
    room: str = Field(alias="room.code")
    location: str = Field(alias="location.code")
    window_start: dt.datetime
    window_end: dt.datetime
    deviation: str | None = Field(None, alias="deviation.number")
    batches: list[str] = Field(description="the batches in the room named, of the sponsors assigned to the caller")
    other_sponsor_batches: int = Field(0, description="how many more batches it names, of other sponsors")
    assessment: str

    @staticmethod
    def resolve_batches(excursion, context) -> list[str]:
        return [b.number for b in _seen(context, excursion.batches.all()).shown]

    @staticmethod
    def resolve_other_sponsor_batches(excursion, context) -> int:
        return _seen(context, excursion.batches.all()).hidden


class ExcursionFilter(Schema):
    status: str = Field("", max_length=16)
    kind: str = Field("", max_length=8)
    room: str = Field("", max_length=16)


class AcknowledgeIn(Schema):
    assessment: str = Field(max_length=4000)


def _found(model, label: str, **lookup):
    found = model.objects.filter(**lookup).first()
    if found is None:
        raise NotFound(f"No {label} {next(iter(lookup.values()))}.")
    return found


@router.get("/envmon/locations", response=list[LocationOut], summary="Sampling locations")
@paginate(Pagination)
def em_locations(request, filters: Query[RoomFilter]):
    require_to_see(request.user, "envmon.view")
    found = Location.objects.select_related("room").order_by("room__code", "code")
    return found.filter(room__code=filters.room) if filters.room else found


@router.post("/envmon/locations", response={201: LocationOut}, summary="Add a sampling location")
def em_create_location(request, payload: LocationIn):
    require(request.user, "envmon.manage_programme", to="define sampling locations")
    return Status(201, services.create_location(
        request.user, _found(Room, "room", code=payload.room), code=payload.code, name=payload.name, x=payload.x,
        y=payload.y, sample_types=payload.sample_types))


@router.post("/envmon/locations/{code}/retire", response=LocationOut, summary="Retire a sampling location")
def em_retire_location(request, code: str, payload: ReasonIn):
    require(request.user, "envmon.manage_programme", to="retire sampling locations")
    return services.retire_location(request.user, _found(Location, "location", code=code.upper()),
                                    reason=payload.reason)


@router.post("/envmon/rooms/{code}/floor-plan", response=dict, summary="Set a room's floor plan dimensions")
def em_floor_plan(request, code: str, payload: FloorPlanIn):
    require(request.user, "envmon.manage_programme", to="set a room's floor plan")
    room = services.set_floor_plan(request.user, _found(Room, "room", code=code), width_m=payload.width_m,
                                   length_m=payload.length_m, reason=payload.reason)
    return {"room": room.code, "width_m": str(room.width_m), "length_m": str(room.length_m)}


@router.get("/envmon/plans", response=list[PlanOut], summary="Sampling plans")
@paginate(Pagination)
def em_plans(request, filters: Query[RoomFilter]):
    require_to_see(request.user, "envmon.view")
    found = Plan.objects.select_related("location").order_by("location__code", "sample_type", "state")
    return found.filter(location__room__code=filters.room) if filters.room else found


@router.post("/envmon/plans", response={201: PlanOut}, summary="Add a sampling plan")
def em_create_plan(request, payload: PlanIn):
    require(request.user, "envmon.manage_programme", to="plan environmental sampling")
    return Status(201, services.create_plan(
        request.user, _found(Location, "location", code=payload.location.upper()), sample_type=payload.sample_type,
        frequency=payload.frequency, state=payload.state))


@router.post("/envmon/plans/{plan_id}/retire", response=PlanOut, summary="Retire a sampling plan")
def em_retire_plan(request, plan_id: int, payload: ReasonIn):
    require(request.user, "envmon.manage_programme", to="retire sampling plans")
    if not 0 < plan_id < 2**31:
        raise NotFound(f"No plan {plan_id}.")
    return services.retire_plan(request.user, _found(Plan, "plan", pk=plan_id), reason=payload.reason)


@router.get("/envmon/worklist", response=list[DueOut], summary="Samples due now")
def em_worklist(request):
    require_to_see(request.user, "envmon.view")
    return selectors.due_samples()


@router.get("/envmon/samples", response=list[SampleOut], summary="EM samples and results")
@paginate(Pagination)
def em_samples(request, filters: Query[SampleFilter]):
    require_to_see(request.user, "envmon.view")
    return selectors.samples(room=filters.room, sample_type=filters.sample_type, level=filters.level,
                             status=filters.status, date_from=filters.date_from, date_to=filters.date_to)


@router.post("/envmon/samples", response={201: SampleOut}, summary="Record a sample just collected")
def em_collect(request, payload: CollectIn):
    require(request.user, "envmon.sample", to="collect environmental samples")
    return Status(201, services.collect_sample(
        request.user, location=_found(Location, "location", code=payload.location.upper()),
        sample_type=payload.sample_type, state=payload.state, plan=payload.plan, batch=payload.batch or None,
        media_lot=payload.media_lot, exposure_minutes=payload.exposure_minutes, volume_litres=payload.volume_litres,
        instrument=payload.instrument or None, count=payload.count, comment=payload.comment,
        submission_id=payload.submission_id))


@router.get("/envmon/samples/{number}", response=SampleOut, summary="An EM sample")
def em_sample(request, number: str):
    require_to_see(request.user, "envmon.view")
    return _found(EmSample, "EM sample", number=number)


SAMPLE_STEPS = {
    "incubate": ("envmon.read_plates", lambda user, s, p: services.start_incubation(
        user, s, temperature_c=p.temperature_c)),
    "second-incubation": ("envmon.read_plates", lambda user, s, p: services.second_incubation(
        user, s, temperature_c=p.temperature_c)),
    "read": ("envmon.read_plates", lambda user, s, p: services.read_plate(user, s, count=p.count, comment=p.comment)),
    "identify": ("envmon.read_plates", lambda user, s, p: services.identify_organism(
        user, s, organism=p.organism, method=p.method, cfu=p.cfu)),
    "invalidate": ("envmon.review", lambda user, s, p: services.invalidate_sample(user, s, reason=p.reason)),
}


@router.post("/envmon/samples/{number}/{action}", response=SampleOut,
             summary="A step of a sample: incubate, second-incubation, read, identify, invalidate")
def em_sample_step(request, number: str, action: Literal["incubate", "second-incubation", "read", "identify",
                                                         "invalidate"], payload: SampleActionIn):
    permission, step = SAMPLE_STEPS[action]
    require(request.user, permission, to=f"{action.replace('-', ' ')} EM samples")
    sample = _found(EmSample, "EM sample", number=number)
    step(request.user, sample, payload)
    sample.refresh_from_db()
    return sample


@router.get("/envmon/excursions", response=list[ExcursionOut], summary="EM excursions")
@paginate(Pagination)
def em_excursions(request, filters: Query[ExcursionFilter]):
    require_to_see(request.user, "envmon.view")
    return selectors.excursions(status=filters.status, kind=filters.kind, room=filters.room).prefetch_related(
        "batches")


@router.get("/envmon/excursions/{number}", response=ExcursionOut, summary="An EM excursion")
def em_excursion(request, number: str):
    require_to_see(request.user, "envmon.view")
    return _found(Excursion, "EM excursion", number=number)


@router.post("/envmon/excursions/{number}/acknowledge", response=ExcursionOut,
             summary="Acknowledge an EM excursion with QA's assessment")
def em_acknowledge(request, number: str, payload: AcknowledgeIn):
    require(request.user, "envmon.acknowledge_excursions", to="acknowledge EM excursions")
    return services.acknowledge_excursion(request.user, _found(Excursion, "EM excursion", number=number),
                                          assessment=payload.assessment)


# --- Trends and batch summary ---

class TrendPointOut(Schema):
    number: str
    at: dt.datetime
    value: Decimal
    level: str
    state: str


class SignalOut(Schema):
    rule: int
    index: int
    description: str


class LocationSeriesOut(Schema):
    location: str
    points: list[TrendPointOut]
    signals: list[SignalOut]


class TrendOut(Schema):
    room: str
    sample_type: str
    unit: str
    state: str
    start: dt.datetime
    end: dt.datetime
    limits: dict
    series: list[LocationSeriesOut]


class TrendFilter(Schema):
    sample_type: str
    state: str | None = None
    start: dt.datetime | None = None
    end: dt.datetime | None = None


@router.get("/envmon/rooms/{code}/trend", response=TrendOut)
def em_room_trend(request, code: str, filters: Query[TrendFilter]):
    """A room's results of one sample type per location in time order, the limits in force and the
    Nelson-rule signals of each location's series (default window: the last 90 days)."""
    require_to_see(request.user, "envmon.view")
    trend = selectors.room_trend(selectors.room(code), sample_type=filters.sample_type, state=filters.state,
                                 start=filters.start, end=filters.end)
    return {"room": trend.room.code, "sample_type": trend.sample_type, "unit": trend.unit, "state": trend.state,
            "start": trend.start, "end": trend.end, "limits": trend.limits.as_record(),
            "series": [{"location": s.location.code, "points": s.points, "signals": s.signals} for s in trend.series]}


class ExcursionLineOut(Schema):
    number: str
    kind: str
    location: str
    names_batch: bool
    deviation: str | None
    deviation_status: str | None
    acknowledged_at: dt.datetime | None


class BatchSummaryOut(Schema):
    batch: str
    room: str
    start: dt.datetime | None
    end: dt.datetime | None
    state: str
    detail: str
    counts: dict[str, dict[str, int]]
    unread: int
    excursions: list[ExcursionLineOut]


@router.get("/envmon/batches/{number}/summary", response=BatchSummaryOut)
def em_batch_summary(request, number: str):
    """What the batch's room's environmental monitoring says about it while it was made."""
    summary = selectors.batch_em_summary(selectors.batch_by_number(request.user, number))
    return {"batch": summary.batch.number, "room": summary.room.code, "start": summary.start, "end": summary.end,
            "state": summary.state, "detail": summary.detail, "counts": summary.counts, "unread": summary.unread,
            "excursions": [{"number": e.excursion.number, "kind": e.excursion.kind, "location": e.excursion.location.code,
                            "names_batch": e.names_batch,
                            "deviation": e.excursion.deviation.number if e.excursion.deviation else None,
                            "deviation_status": e.excursion.deviation.status if e.excursion.deviation else None,
                            "acknowledged_at": e.excursion.acknowledged_at} for e in summary.excursions]}


# --- Alert and action levels, classification ---


class LevelSetOut(Schema):
    number: str
    status: str
    grade: str
    room: str | None = Field(None, alias="room.code")
    sample_type: str
    state: str
    alert_level: Decimal
    action_level: Decimal
    method: str
    parameters: dict
    history_from: dt.datetime | None
    history_to: dt.datetime | None
    history_count: int | None
    rationale: str
    effective_at: dt.datetime | None
    version: int


class LevelScopeIn(Schema):
    grade: str = Field(max_length=1)
    room: str | None = Field(None, max_length=16, description="a room's code; empty: every room of the grade")
    sample_type: str = Field(max_length=16)
    state: str = Field(max_length=16)
    method: str = Field(max_length=16, description="manual, percentile or mean_k_sigma")
    percentile: Decimal = Decimal(95)
    action_percentile: Decimal = Decimal(99)
    alert_k: Decimal = Decimal(2)
    action_k: Decimal = Decimal(3)
    history_from: dt.date | None = None
    history_to: dt.date | None = None


class LevelSetIn(LevelScopeIn):
    alert: Decimal | None = Field(None, description="set by hand: the alert level")
    action: Decimal | None = Field(None, description="set by hand: the action level")
    rationale: str = Field(max_length=4000)


class LevelSetChangeIn(Schema):
    alert_level: Decimal | None = None
    action_level: Decimal | None = None
    rationale: str | None = Field(None, max_length=4000)


class LevelPreviewOut(Schema):
    alert: Decimal
    action: Decimal
    n: int
    mean: Decimal
    sd: Decimal
    capped: bool
    notes: list[str]
    annex1: str
    history_from: dt.datetime
    history_to: dt.datetime


class LevelSetFilter(Schema):
    grade: str = Field("", max_length=1)
    room: str = Field("", max_length=16)
    sample_type: str = Field("", max_length=16)
    state: str = Field("", max_length=16)
    status: str = Field("", max_length=16)


class SignedActionIn(Schema):
    username: str = Field("", max_length=150, description="your user ID: every API signature re-enters both")
    password: str = Field("", max_length=200)
    comment: str = Field("", max_length=2000)
    reason: str = Field("", max_length=2000, description="required to retire or cancel")


def _signature(workflow, action: str, payload: SignedActionIn) -> SignatureInput | None:
    transition = workflow.get(action)
    if not transition.signature:
        return None
    return SignatureInput(meaning=transition.signature, password=payload.password, username=payload.username,
                          comment=payload.comment)


@router.get("/envmon/level-sets", response=list[LevelSetOut], summary="Alert and action level sets, filtered")
@paginate(Pagination)
def level_sets(request, filters: Query[LevelSetFilter]):
    require_to_see(request.user, "envmon.view")
    return selectors.level_sets(**filters.dict())


@router.post("/envmon/level-sets", response={201: LevelSetOut},
             summary="Propose levels: by hand or computed from history; never looser than Annex 1")
def propose_level_set(request, payload: LevelSetIn):
    return Status(201, services.propose_levels(request.user, **payload.dict()))


@router.post("/envmon/level-sets/preview", response=LevelPreviewOut,
             summary="The levels a method computes from history, without saving them")
def preview_level_set(request, payload: LevelScopeIn):
    require(request.user, "envmon.manage_programme", to="compute alert and action levels")
    preview = selectors.preview_levels(**payload.dict())
    c = preview.computed
    return {"alert": c.alert, "action": c.action, "n": c.n, "mean": c.mean, "sd": c.sd, "capped": c.capped,
            "notes": list(c.notes), "annex1": str(preview.annex1), "history_from": preview.history_from,
            "history_to": preview.history_to}


@router.get("/envmon/level-sets/{number}", response=LevelSetOut, summary="A level set")
def level_set(request, number: str):
    require_to_see(request.user, "envmon.view")
    return selectors.level_set(request.user, number)


@router.patch("/envmon/level-sets/{number}", response=LevelSetOut, summary="Change a draft level set")
def change_level_set(request, number: str, payload: LevelSetChangeIn):
    return services.update_level_set(request.user, selectors.level_set(request.user, number),
                                     **payload.dict(exclude_none=True))


@router.post("/envmon/level-sets/{number}/{action}", response=LevelSetOut,
             summary="Review ('Reviewed'), approve ('Approved') or retire (reason) a level set")
def transition_level_set(request, number: str, action: Literal["review", "approve", "retire"],
                         payload: SignedActionIn):
    return services.transition_level_set(
        request.user, selectors.level_set(request.user, number), action,
        signature=_signature(workflows.level_set_workflow, action, payload), reason=payload.reason)


class ReadingOut(Schema):
    point: int
    size: Decimal
    volume_litres: Decimal
    concentration: Decimal
    recorded_by: str = Field(alias="recorded_by.username")
    recorded_at: dt.datetime


class ClassificationOut(Schema):
    number: str
    status: str
    room: str = Field(alias="room.code")
    state: str
    iso_class: int
    area_m2: Decimal
    sizes: list[Decimal]
    location_count: int
    sample_volume_litres: Decimal
    instrument: str | None = Field(None, alias="instrument.number")
    performed_by: str | None = Field(None, alias="performed_by.username")
    performed_at: dt.datetime | None
    passed: bool | None
    readings: list[ReadingOut]

    @staticmethod
    def resolve_passed(obj):
        return obj.passed if obj.status in ("completed", "approved") else None

    @staticmethod
    def resolve_readings(obj):
        return list(obj.readings.select_related("recorded_by"))


class ClassificationIn(Schema):
    room: str = Field(max_length=16)
    state: str = Field(max_length=16)
    iso_class: int | None = Field(None, ge=1, le=9)
    sizes: list[Decimal] | None = Field(None, max_length=6)
    instrument: str | None = Field(None, max_length=32, description="the particle counter's number")


class ReadingIn(Schema):
    point: int
    size: Decimal
    volume_litres: Decimal
    count: int


class ClassificationFilter(Schema):
    room: str = Field("", max_length=16)
    status: str = Field("", max_length=16)
    state: str = Field("", max_length=16)


@router.get("/envmon/classifications", response=list[ClassificationOut], summary="Room classifications")
@paginate(Pagination)
def classifications(request, filters: Query[ClassificationFilter]):
    require_to_see(request.user, "envmon.view")
    return selectors.classifications(**filters.dict())


@router.post("/envmon/classifications", response={201: ClassificationOut},
             summary="Plan an ISO 14644-1 classification: locations and volume from the room's area and class")
def plan_classification(request, payload: ClassificationIn):
    return Status(201, services.plan_classification(request.user, payload.room, state=payload.state,
                                                    iso_class=payload.iso_class, sizes=payload.sizes,
                                                    instrument=payload.instrument))


@router.get("/envmon/classifications/{number}", response=ClassificationOut, summary="A room classification")
def classification(request, number: str):
    require_to_see(request.user, "envmon.view")
    return selectors.classification(request.user, number)


@router.post("/envmon/classifications/{number}/readings", response={201: ReadingOut},
             summary="Record a particle count at a classification location")
def record_classification_reading(request, number: str, payload: ReadingIn):
    return Status(201, services.record_reading(request.user, selectors.classification(request.user, number),
                                               **payload.dict()))


@router.post("/envmon/classifications/{number}/{action}", response=ClassificationOut,
             summary="Complete (verdict), approve ('Approved', not the performer) or cancel (reason)")
def transition_classification(request, number: str, action: Literal["complete", "approve", "cancel"],
                              payload: SignedActionIn):
    return services.transition_classification(
        request.user, selectors.classification(request.user, number), action,
        signature=_signature(workflows.classification_workflow, action, payload), reason=payload.reason)
