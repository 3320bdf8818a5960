"""Every write of the environmental monitoring programme: permission, guards and audit event
in one transaction."""

import datetime as dt
import re
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal, InvalidOperation

from django.db import IntegrityError, transaction
from django.db.models import QuerySet

from opencdmo.batches.models import Batch
from opencdmo.core import clock
from opencdmo.core.access import require
from opencdmo.core.errors import Conflict, NotFound, PermissionDenied, RuleViolation
from opencdmo.core.inputs import text as _text
from opencdmo.core.presentation import local_time
from opencdmo.core.records import create_record, update_record
from opencdmo.core.scoping import scoped
from opencdmo.facilities import selectors as facilities_selectors
from opencdmo.facilities.models import Equipment, Room
from opencdmo.quality import services as quality_services

from . import conf, models, selectors, workflows
from .domain import iso14644, levels, limits, nelson, programme

# --- Locations, plans, samples and excursions ---

MAX_PLAN_METRES = Decimal(500)
MAX_EXPOSURE_MINUTES = 240  # settle plates: "a maximum of 4 hours" per plate (A1-3)
MAX_VOLUME_LITRES = Decimal(100000)
MAX_COUNT = 10**9
MAX_VALUE = Decimal(10**12)  # what EmSample.value holds
GLOVE_GRADES = ("A", "B")  # glove prints are taken in the aseptic core only (A1-3)
LOCATION_CODE = re.compile(r"[A-Z0-9-]+")  # codes stand in URLs and on labels


def _a(noun: str) -> str:
    return f"{'an' if noun[:1].lower() in 'aeiou' else 'a'} {noun}"


def _type_label(sample_type: str) -> str:
    return programme.SAMPLE_TYPES[sample_type][0] if sample_type in programme.SAMPLE_TYPES else str(sample_type)[:40]


def _takes(location, sample_type) -> str:
    """Why `sample_type` is refused at `location`, in labels."""
    return (f"{location.code} takes {', '.join(_type_label(t).lower() for t in location.sample_types)}: "
            f"not {_type_label(sample_type).lower()}.")


def _number(value, label: str, *, low: Decimal, high: Decimal, required: bool = True,
            low_inclusive: bool = True) -> Decimal | None:
    """A finite decimal in [low, high] (or (low, high]), from a form or JSON value."""
    if value is None or str(value).strip() == "":
        if required:
            raise RuleViolation(f"Enter the {label}.")
        return None
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise RuleViolation(f"The {label} '{str(value)[:20]}' is not a number.") from None
    if not number.is_finite() or number > high or number < low or (number == low and not low_inclusive):
        bound = f"{'at least' if low_inclusive else 'more than'} {low}"
        raise RuleViolation(f"The {label} must be {bound} and at most {high}; not {str(value)[:20]}.")
    return number


def _count(value, label: str = "count", *, required: bool = True) -> int | None:
    number = _number(value, label, low=Decimal(0), high=Decimal(MAX_COUNT), required=required)
    if number is None:
        return None
    if number != number.to_integral_value():
        raise RuleViolation(f"The {label} is a whole number; not {value}.")
    return int(number)


def _choice(value, options, label: str) -> str:
    if value not in options:
        raise RuleViolation(f"Choose the {label} from: {', '.join(options)}; not {str(value)[:40]!r}.")
    return value


def _row(rows, ref, *, by: str | None = "number"):
    """The row `ref` names among `rows` (a model or a query): the instance itself, else its `by`
    field (forms and the API name rows by number or code), else (by=None) its id."""
    rows = rows if isinstance(rows, QuerySet) else rows.objects.all()
    if isinstance(ref, rows.model):
        return rows.filter(pk=ref.pk).first()
    text = str(ref).strip()
    if by is None:
        return rows.filter(pk=int(text)).first() if text.isdigit() and len(text) < 10 else None
    return rows.filter(**{by: text}).first()


def _locked(model, obj):
    found = model.objects.select_for_update().filter(pk=getattr(obj, "pk", obj)).first()
    if found is None:
        raise NotFound(f"No such {model._meta.verbose_name}.")
    return found


@transaction.atomic
def set_floor_plan(actor, room, *, width_m, length_m, reason: str):
    require(actor, "envmon.manage_programme", to="set a room's floor plan")
    room = _locked(Room, room)
    reason = _text(reason, "reason for the change", max_length=1000, required=True)
    width = _number(width_m, "width (m)", low=Decimal("0.01"), high=MAX_PLAN_METRES)
    length = _number(length_m, "length (m)", low=Decimal("0.01"), high=MAX_PLAN_METRES)
    return update_record(actor, room, reason=reason, action="floor_plan",
                         width_m=width.quantize(Decimal("0.01")), length_m=length.quantize(Decimal("0.01")))


@transaction.atomic
def create_location(actor, room, *, code, name, x, y, sample_types) -> models.Location:
    require(actor, "envmon.manage_programme", to="define sampling locations")
    room = _locked(Room, room)
    code = _text(code, "location code", max_length=24, required=True).upper()
    if not LOCATION_CODE.fullmatch(code):
        raise RuleViolation(f"The location code {code[:24]!r} may hold only letters, digits and '-' "
                            "(no spaces or '/'), e.g. A1-SP-01.")
    if models.Location.objects.filter(code=code).exists():
        raise Conflict(f"There is already a sampling location {code}: choose another code.")
    types = list(dict.fromkeys(sample_types or []))
    if not types:
        raise RuleViolation("Choose at least one sample type taken at this location.")
    for sample_type in types:
        _choice(sample_type, programme.SAMPLE_TYPES, "sample type")
    if "glove_print" in types and room.grade not in GLOVE_GRADES:
        raise RuleViolation(f"Glove prints are taken in grade A and B rooms; {room.code} is grade {room.grade}.")
    return create_record(actor, models.Location(
        room=room, code=code, name=_text(name, "location name", max_length=200, required=True),
        x=_number(x, "x position (%)", low=Decimal(0), high=Decimal(100)).quantize(Decimal("0.01")),
        y=_number(y, "y position (%)", low=Decimal(0), high=Decimal(100)).quantize(Decimal("0.01")),
        sample_types=types, created_at=clock.now(), created_by=actor))


@transaction.atomic
def retire_location(actor, location, *, reason: str) -> models.Location:
    require(actor, "envmon.manage_programme", to="retire sampling locations")
    location = _locked(models.Location, location)
    reason = _text(reason, "reason for retiring the location", max_length=1000, required=True)
    if not location.is_active:
        raise Conflict(f"{location.code} is already retired.")
    for plan in location.plans.filter(is_active=True):
        update_record(actor, plan, reason=reason, action="retire", is_active=False)
    return update_record(actor, location, reason=reason, action="retire", is_active=False)


@transaction.atomic
def create_plan(actor, location, *, sample_type, frequency, state) -> models.Plan:
    require(actor, "envmon.manage_programme", to="plan environmental sampling")
    location = _locked(models.Location, location)
    if not location.is_active:
        raise RuleViolation(f"{location.code} is retired: plan sampling at an active location.")
    if sample_type not in location.sample_types:
        raise RuleViolation(_takes(location, sample_type))
    _choice(frequency, programme.FREQUENCIES, "frequency")
    _choice(state, programme.STATES, "room state")
    if location.plans.filter(is_active=True, sample_type=sample_type, state=state).exists():
        raise Conflict(f"{location.code} already has an active {_type_label(sample_type).lower()} plan "
                       f"{programme.STATES[state].lower()}: retire it first.")
    return create_record(actor, models.Plan(location=location, sample_type=sample_type, frequency=frequency,
                                            state=state, created_at=clock.now(), created_by=actor))


@transaction.atomic
def retire_plan(actor, plan, *, reason: str) -> models.Plan:
    require(actor, "envmon.manage_programme", to="retire sampling plans")
    plan = _locked(models.Plan, plan)
    reason = _text(reason, "reason for retiring the plan", max_length=1000, required=True)
    if not plan.is_active:
        raise Conflict(f"{plan} is already retired.")
    return update_record(actor, plan, reason=reason, action="retire", is_active=False)


def _instrument(instrument, kind: str, purpose: str) -> Equipment:
    """The instrument a result came from: of the kind `purpose` needs and usable now (P11-1h)."""
    label = Equipment.Kind(kind).label.lower()
    if instrument in (None, ""):
        raise RuleViolation(f"{purpose[:1].upper()}{purpose[1:]} names the {label} used.")
    equipment = _row(Equipment, instrument)
    if equipment is None:
        raise RuleViolation(f"No instrument {str(instrument)[:32]!r}: choose {_a(label)} from the list.")
    if equipment.kind != kind:
        raise RuleViolation(f"{equipment.number} is {_a(equipment.get_kind_display().lower())}: {purpose} needs "
                            f"{_a(label)}.")
    usable, reasons = facilities_selectors.equipment_usability(equipment)
    if not usable:
        raise RuleViolation(f"{equipment.number} may not be used: {'; '.join(str(r) for r in reasons)}.")
    return equipment


def _batch_named(actor, batch, room, now):
    """The batch a sample is taken for: running in the room (or the room the zone stands in) now."""
    found = _row(scoped(Batch, actor), batch)
    if found is None:
        raise RuleViolation("No such batch: choose the batch running in the room.")
    # a zone's batches are those of the room it stands in
    if found.room_id not in (room.pk, room.within_id):
        raise RuleViolation(f"{found.number} is made in another room: a sample of {room.code} names a batch of "
                            f"{room.within.code if room.within_id else room.code}.")
    if found.started_at is None or found.started_at > now:
        raise RuleViolation(f"{found.number} has not started: a sample names the batch running in the room now.")
    if found.completed_at is not None and found.completed_at <= now:
        raise RuleViolation(f"{found.number} was completed {found.completed_at:%Y-%m-%d %H:%M} UTC: a sample names "
                            "the batch running in the room now.")
    return found


def _same_submission(actor, done: models.EmSample, location, sample_type, state, batch) -> models.EmSample:
    """A retry of the submission that recorded `done` returns it; other data under its id is refused."""
    batch_number = getattr(batch, "number", None) or (str(batch).strip() if batch not in (None, "") else None)
    location_code = getattr(location, "code", str(location).strip().upper())
    if (done.collected_by_id, done.location.code, done.sample_type, done.state,
            done.batch.number if done.batch_id else None) == (actor.pk, location_code, sample_type, state,
                                                               batch_number):
        return done
    raise Conflict("This form was already submitted with other data; reload the collection form and record the "
                   "sample again.")


@transaction.atomic
def collect_sample(actor, *, location, sample_type, state, plan=None, batch=None, media_lot="",
                   exposure_minutes=None, volume_litres=None, instrument=None, count=None,
                   comment="", submission_id="") -> models.EmSample:
    """Record a sample taken now. A particle count is its own result at once; a plate waits for
    incubation and reading. A retry with the same `submission_id` (a double tap, a resent API call)
    returns the sample it recorded and writes nothing."""
    require(actor, "envmon.sample", to="collect environmental samples")
    submission_id = _text(submission_id, "submission id", max_length=64)
    if submission_id:
        done = (models.EmSample.objects.select_for_update(of=("self",)).select_related("location", "batch")
                .filter(submission_id=submission_id).first())
        if done is not None:
            return _same_submission(actor, done, location, sample_type, state, batch)
    location = _row(models.Location, location, by="code")
    if location is None or not location.is_active:
        raise RuleViolation("Choose an active sampling location.")
    room = location.room
    _choice(sample_type, programme.SAMPLE_TYPES, "sample type")
    _choice(state, programme.STATES, "room state")
    if sample_type not in location.sample_types:
        raise RuleViolation(_takes(location, sample_type))
    active = location.plans.filter(is_active=True, sample_type=sample_type, state=state)
    if plan not in (None, ""):
        plan = _row(active, plan, by=None)
        if plan is None:
            raise RuleViolation("The plan named is not an active plan of this location, sample type and state.")
    else:
        # a sample taken without naming its plan (a scanned location) still counts against it
        plan = active.first()
    now = clock.now()
    batch = None if batch in (None, "") else _batch_named(actor, batch, room, now)
    if plan is not None and plan.frequency == "per_batch" and batch is None:
        raise RuleViolation(f"{plan} is taken for each batch: name the batch running in {room.code}.")
    viable = sample_type in programme.VIABLE
    sample = models.EmSample(
        plan=plan, location=location, room=room, grade=room.grade, sample_type=sample_type, state=state,
        batch=batch, collected_by=actor, collected_at=now, status=workflows.sample_workflow.initial,
        submission_id=submission_id,
        media_lot=_text(media_lot, "media lot", max_length=64, required=viable),
        comment=_text(comment, "comment", max_length=2000))
    exposure = _number(exposure_minutes, "exposure (minutes)", low=Decimal(0), high=Decimal(100000),
                       required=sample_type == "settle_plate", low_inclusive=False)
    if exposure is not None:
        if sample_type not in ("settle_plate", "active_air"):
            raise RuleViolation("Exposure time is recorded for settle plates and active air samples only.")
        if sample_type == "settle_plate" and exposure > MAX_EXPOSURE_MINUTES:
            raise RuleViolation(f"A settle plate is exposed for at most 4 hours ({MAX_EXPOSURE_MINUTES} min); "
                                "change plates during longer operations (A1-3).")
        sample.exposure_started_at = now - dt.timedelta(minutes=float(exposure))
    if sample_type == "active_air" or sample_type in programme.PARTICLES:
        sample.volume_litres = _number(volume_litres, "volume sampled (L)", low=Decimal("0.1"),
                                       high=MAX_VOLUME_LITRES).quantize(Decimal("0.1"))
        sample.instrument = _instrument(instrument, Equipment.Kind.AIR_SAMPLER if viable
                                        else Equipment.Kind.PARTICLE_COUNTER,
                                        _a(f"{_type_label(sample_type).lower()} sample"))
    elif volume_litres not in (None, "") or instrument not in (None, ""):
        raise RuleViolation("Volume and instrument are recorded for active air and particle samples only.")
    if viable:
        if count not in (None, ""):
            raise RuleViolation("A plate is counted when it is read, after incubation: leave the count empty.")
        return _insert_sample(actor, sample)
    sample.count = _count(count, "particle count")
    sample.value = _per_cubic_metre(sample.count, sample.volume_litres)
    _insert_sample(actor, sample)
    return _record_result(actor, sample, read_comment="")


def _insert_sample(actor, sample) -> models.EmSample:
    try:
        with transaction.atomic():
            return create_record(actor, sample)
    except IntegrityError:
        # the same submission id, recorded by a concurrent retry a moment ago
        raise Conflict("This form was submitted twice at the same moment: open the worklist or the samples list "
                       "to find the sample recorded.") from None


def _per_cubic_metre(count: int, volume_litres: Decimal) -> Decimal:
    value = limits.per_cubic_metre(count, volume_litres)
    if value >= MAX_VALUE:
        raise RuleViolation(f"{count} in {volume_litres} L would be {value:,} per m³: check the count and the volume.")
    return value


def _record_result(actor, sample, *, read_comment: str):
    """Judge the result against the limits in force, mark it read, and raise its excursions, in the
    caller's transaction so a result never stands without its excursion."""
    in_force = selectors.limits_in_force(sample.room, sample.sample_type, sample.state)
    verdict = in_force.judge(sample.value)
    comment = "\n".join(c for c in (sample.comment, read_comment) if c)
    update_record(actor, sample, action="read", status="read", read_by=actor, read_at=clock.now(),
                  level=verdict.level, limits={**in_force.as_record(), "verdict": verdict.reason}, comment=comment)
    if verdict.level in (programme.ALERT, programme.ACTION):
        _raise_excursion(actor, sample, kind=verdict.level, rule=verdict.reason)
    for rule in _trend_rules(sample):
        _raise_excursion(actor, sample, kind=models.Excursion.Kind.TREND, rule=rule)
    return sample


def excursion_window(sample) -> tuple[dt.datetime, dt.datetime]:
    """From the last time the location was known (its previous valid sample of the type), else the
    exposure start, else a default reach back, to the sample's collection."""
    end = sample.collected_at
    previous = (models.EmSample.objects.filter(location=sample.location_id, sample_type=sample.sample_type,
                                               collected_at__lt=end)
                .exclude(status="invalidated").exclude(pk=sample.pk).order_by("-collected_at")
                .values_list("collected_at", flat=True).first())
    start = previous or sample.exposure_started_at or end - dt.timedelta(hours=conf.default_window_hours())
    return start, end


def _raise_excursion(actor, sample, *, kind: str, rule: str):
    start, end = excursion_window(sample)
    excursion = create_record(actor, models.Excursion(
        kind=kind, sample=sample, room=sample.room, location=sample.location, rule=rule[:200],
        window_start=start, window_end=end, status=workflows.excursion_workflow.initial))
    if kind != models.Excursion.Kind.ACTION:
        return excursion
    batches = list(selectors.batches_in_room(sample.room, start, end))
    excursion.batches.set(batches)
    limit = sample.limits.get("action") or sample.limits.get("annex1_limit") or "no growth"
    unit = programme.SAMPLE_TYPES[sample.sample_type][1]
    deviation = quality_services.raise_deviation(
        actor, title=f"EM action excursion: {sample.location.code} in {sample.room.code} ({sample.number})",
        description=(f"Room {sample.room.code} (grade {sample.grade}), location {sample.location}, sample "
                     f"{sample.number} ({sample.get_sample_type_display()}, {sample.get_state_display()}): "
                     f"{sample.value} {unit} against the action limit {limit}. {rule}.\n"
                     f"Window {local_time(start)} to {local_time(end)}. "
                     # the deviation is CDMO-wide, its batches their sponsors': numbers only in its links
                     f"Batches in the room: {len(batches) or 'none'} (see the linked records)."),
        source="environmental", category="environmental", area=sample.room.code,
        records=[sample, sample.location, *batches])
    return update_record(actor, excursion, action="deviation_raised", deviation=deviation)


def _trend_rules(sample) -> list[str]:
    """The adverse-trend rules that fire at this newest result (Nelson rules over the location's
    latest results of its type; repeated alert-or-worse results), each raised once per sample."""
    recent = list(models.EmSample.objects.filter(location=sample.location_id, sample_type=sample.sample_type,
                                                 status="read", value__isnull=False)
                  .order_by("-collected_at", "-id").values("pk", "value", "collected_at", "level")[:conf.trend_points()])
    recent.reverse()
    if not recent or recent[-1]["pk"] != sample.pk:
        return []
    newest = len(recent) - 1
    rules = [f"Nelson rule {signal.rule}: {signal.description}"
             for signal in nelson.adverse_signals([float(r["value"]) for r in recent],
                                                  counts=sample.sample_type in programme.VIABLE)
             if signal.index == newest]
    flagged = [r["collected_at"] for r in recent if r["level"] in (programme.ALERT, programme.ACTION)]
    if sample.level in (programme.ALERT, programme.ACTION) and nelson.repeated_excursions(flagged):
        rules.append("3 alert-or-worse results in 30 days")
    already = set(sample.excursions.filter(kind=models.Excursion.Kind.TREND).values_list("rule", flat=True))
    return [rule for rule in dict.fromkeys(rules) if rule[:200] not in already]


def _sample_for_update(sample) -> models.EmSample:
    return _locked(models.EmSample, sample)


def _temperature(value, stage: str) -> Decimal:
    rule = conf.incubation()[stage]
    return _number(value, f"{stage} incubation temperature (°C)", low=Decimal(rule["min_c"]),
                   high=Decimal(rule["max_c"]))


def _min_hours_passed(started_at, stage: str, sample) -> None:
    hours = conf.incubation()[stage]["min_hours"]
    if clock.now() < started_at + dt.timedelta(hours=hours):
        raise RuleViolation(f"{sample} has incubated less than the minimum {hours} h at its {stage} temperature "
                            f"(started {started_at:%Y-%m-%d %H:%M} UTC): wait until it is over.")


@transaction.atomic
def start_incubation(actor, sample, *, temperature_c) -> models.EmSample:
    require(actor, "envmon.read_plates", to="incubate plates")
    sample = _sample_for_update(sample)
    if sample.status != "collected" or sample.sample_type not in programme.VIABLE:
        raise Conflict(f"{sample} is {workflows.sample_workflow.label(sample.status).lower()}: only a collected "
                       "plate starts incubation.")
    return update_record(actor, sample, action="incubate", status="incubating", incubated_by=actor,
                         first_incubation_c=_temperature(temperature_c, "first"),
                         first_incubation_started_at=clock.now())


@transaction.atomic
def second_incubation(actor, sample, *, temperature_c) -> models.EmSample:
    require(actor, "envmon.read_plates", to="incubate plates")
    sample = _sample_for_update(sample)
    if sample.status != "incubating" or sample.second_incubation_started_at is not None:
        raise Conflict(f"{sample} is not in its first incubation.")
    _min_hours_passed(sample.first_incubation_started_at, "first", sample)
    now = clock.now()
    return update_record(actor, sample, action="incubate", first_incubation_ended_at=now,
                         second_incubation_c=_temperature(temperature_c, "second"),
                         second_incubation_started_at=now)


@transaction.atomic
def read_plate(actor, sample, *, count, comment="") -> models.EmSample:
    require(actor, "envmon.read_plates", to="read plates")
    sample = _sample_for_update(sample)
    if sample.status != "incubating" or sample.second_incubation_started_at is None:
        raise Conflict(f"{sample} is read after both incubations: it is "
                       f"{workflows.sample_workflow.label(sample.status).lower()}.")
    _min_hours_passed(sample.second_incubation_started_at, "second", sample)
    count = _count(count, "colony count (CFU)")
    comment = _text(comment, "comment", max_length=2000)
    value = (_per_cubic_metre(count, sample.volume_litres) if sample.sample_type == "active_air"
             else Decimal(count))
    update_record(actor, sample, action="read", count=count, value=value, second_incubation_ended_at=clock.now())
    return _record_result(actor, sample, read_comment=comment)


@transaction.atomic
def identify_organism(actor, sample, *, organism, method, cfu=None) -> models.Identification:
    require(actor, "envmon.read_plates", to="identify organisms")
    sample = _sample_for_update(sample)
    if sample.status != "read" or not sample.count:
        raise Conflict(f"{sample} has no growth read: an organism is identified on a read plate with colonies.")
    organism = _text(organism, "organism", max_length=200, required=True)
    method = _text(method, "identification method", max_length=100, required=True)
    cfu = _count(cfu, "CFU identified", required=False)
    # an identification without a CFU stands for one colony
    identified = sum(c or 1 for c in sample.identifications.values_list("cfu", flat=True))
    left = sample.count - identified
    if (cfu or 1) > left or (cfu is not None and cfu < 1):
        raise RuleViolation(f"{sample} was read {sample.count} CFU and {identified} are identified already: "
                            f"an identification takes 1 to {left} CFU." if left > 0 else
                            f"All {sample.count} CFU of {sample} are identified already.")
    return create_record(actor, models.Identification(
        sample=sample, organism=organism, method=method, cfu=cfu, identified_by=actor,
        identified_at=clock.now()))


@transaction.atomic
def invalidate_sample(actor, sample, *, reason: str) -> models.EmSample:
    require(actor, "envmon.review", to="invalidate environmental samples")
    sample = _sample_for_update(sample)
    reason = _text(reason, "reason for invalidating", max_length=1000, required=True)
    return workflows.sample_workflow.apply(sample, "invalidate", actor=actor, reason=reason)


@transaction.atomic
def acknowledge_excursion(actor, excursion, *, assessment: str) -> models.Excursion:
    require(actor, "envmon.acknowledge_excursions", to="acknowledge EM excursions")
    excursion = _locked(models.Excursion, excursion)
    assessment = _text(assessment, "assessment", max_length=4000, required=True)
    workflows.excursion_workflow.apply(excursion, "acknowledge", actor=actor, reason=assessment)
    return update_record(actor, excursion, action="acknowledge", acknowledged_by=actor,
                         acknowledged_at=clock.now(), assessment=assessment)


# --- Alert and action levels, classification ---

LEVEL_EDIT_FIELDS = {"alert_level", "action_level", "rationale"}
MAX_RATIONALE = 4000
MAX_PARTICLE_COUNT = 10**9
MAX_SAMPLE_LITRES = Decimal("100000")


def _rationale(value) -> str:
    text = str(value or "").strip()
    if not text:
        raise RuleViolation("Give the rationale: why these levels (history, trend, qualification data).")
    if len(text) > MAX_RATIONALE:
        raise RuleViolation(f"The rationale is too long: at most {MAX_RATIONALE} characters.")
    return text


def _annex1_of(level_set: models.LevelSet):
    return limits.annex1_limit(level_set.grade, level_set.sample_type, level_set.state,
                               edition=conf.annex1_edition())


def _level_value(value, name: str, sample_type: str) -> Decimal:
    """A level typed by hand: whole CFU for viable samples (a plate grows whole colonies), else 2 decimals."""
    if sample_type in programme.VIABLE:
        return selectors.parse_number(value, f"the {name} (CFU)", places=0, example="2")
    return selectors.parse_number(value, f"the {name}", places=2)


def _refuse_level_problems(alert, action, annex1) -> None:
    """Hand-set levels are never looser than Annex 1 and alert stays below action (A1-3, A1-5)."""
    if problems := levels.level_problems(alert, action, annex1):
        raise RuleViolation(" ".join(problems))


def propose_levels(actor, *, grade, room=None, sample_type, state, method, alert=None, action=None,
                   percentile=95, action_percentile=99, alert_k=2, action_k=3, history_from=None,
                   history_to=None, rationale="") -> models.LevelSet:
    """A draft level set: set by hand (checked against Annex 1) or computed from the scope's history
    (capped at Annex 1). It is in force once reviewed and approved. A recompute is a new proposal."""
    require(actor, "envmon.manage_programme", to="propose alert and action levels")
    method = selectors.parse_choice(method, dict(models.LevelSet.Method.choices), "how the levels are set")
    rationale = _rationale(rationale)
    if method == models.LevelSet.Method.MANUAL:
        grade, room, sample_type, state = selectors.level_scope(grade, room, sample_type, state)
        alert, action = _level_value(alert, "alert level", sample_type), _level_value(action, "action level", sample_type)
        _refuse_level_problems(alert, action, limits.annex1_limit(grade, sample_type, state,
                                                                  edition=conf.annex1_edition()))
        fields = {"alert_level": alert, "action_level": action, "parameters": {}}
    else:
        preview = selectors.preview_levels(grade=grade, room=room, sample_type=sample_type, state=state,
                                           method=method, percentile=percentile,
                                           action_percentile=action_percentile, alert_k=alert_k,
                                           action_k=action_k, history_from=history_from, history_to=history_to)
        grade, room, sample_type, state = selectors.level_scope(grade, room, sample_type, state)
        computed = preview.computed
        fields = {"alert_level": computed.alert, "action_level": computed.action,
                  "parameters": {**preview.parameters, "n": computed.n, "mean": str(computed.mean),
                                 "sd": str(computed.sd), "capped": computed.capped,
                                 "annex1": str(preview.annex1)},
                  "history_from": preview.history_from, "history_to": preview.history_to,
                  "history_count": computed.n}
        if computed.notes:
            rationale = f"{rationale}\n\n{' '.join(computed.notes)}"
    with transaction.atomic():
        return create_record(actor, models.LevelSet(
            grade=grade, room=room, sample_type=sample_type, state=state, method=method, rationale=rationale,
            status=workflows.level_set_workflow.initial, **fields))


def update_level_set(actor, level_set: models.LevelSet, **changes) -> models.LevelSet:
    """Change a draft: its rationale, and the levels of one set by hand (computed ones are recomputed
    as a new proposal)."""
    require(actor, "envmon.manage_programme", to="change alert and action levels")
    unknown = set(changes) - LEVEL_EDIT_FIELDS
    if unknown:
        raise RuleViolation(f"Only {', '.join(sorted(LEVEL_EDIT_FIELDS))} of a draft can be changed; "
                            f"not {', '.join(sorted(unknown))}.")
    with transaction.atomic():
        level_set = models.LevelSet.objects.select_for_update().get(pk=level_set.pk)
        if level_set.status != "draft":
            raise Conflict(f"{level_set} is {workflows.level_set_workflow.label(level_set.status)}: only a draft "
                           "can be changed. Propose new levels instead.")
        if level_set.created_by_id != actor.pk:
            # Four eyes: the reviewer and approver checks hold only if the draft stays its author's.
            raise PermissionDenied(f"Only {level_set.created_by}, who proposed {level_set}, may change it: ask "
                                   "them, or propose a set of your own.")
        if "rationale" in changes:
            changes["rationale"] = _rationale(changes["rationale"])
        new_levels = {k: changes[k] for k in ("alert_level", "action_level") if k in changes}
        if new_levels:
            if level_set.method != models.LevelSet.Method.MANUAL:
                raise RuleViolation(f"{level_set}'s levels were computed from history: propose a new set to "
                                    "recompute them, or one set by hand.")
            for name, value in new_levels.items():
                changes[name] = _level_value(value, name.replace("_", " "), level_set.sample_type)
            _refuse_level_problems(changes.get("alert_level", level_set.alert_level),
                                   changes.get("action_level", level_set.action_level), _annex1_of(level_set))
        return update_record(actor, level_set, **changes)


def _same_scope(level_set: models.LevelSet):
    scope = models.LevelSet.objects.filter(sample_type=level_set.sample_type, state=level_set.state)
    if level_set.room_id is not None:
        return scope.filter(room_id=level_set.room_id)
    return scope.filter(room__isnull=True, grade=level_set.grade)


def transition_level_set(actor, level_set: models.LevelSet, action: str, *, signature=None,
                         first_in_session: bool = True, reason: str = "") -> models.LevelSet:
    """Review (signed 'Reviewed'), approve (signed 'Approved': in force now, superseding the set of
    the same scope in the same transaction) or retire (with a reason)."""
    workflow = workflows.level_set_workflow
    transition = workflow.get(action)
    require(actor, transition.permission, to=f"{transition.label.lower()} alert and action levels")
    signer = workflow.authenticate(actor, action, signature, first_in_session=first_in_session)
    with transaction.atomic():
        level_set = models.LevelSet.objects.select_for_update().get(pk=level_set.pk)
        approving = action == "approve" and workflow.refusal(level_set, action, actor) is None
        if approving:
            # Annex 1 may have changed edition since the proposal: nothing looser goes into force.
            _refuse_level_problems(level_set.alert_level, level_set.action_level, _annex1_of(level_set))
            # Ordered by id: the model's ordering joins the room, which cannot be locked on its null side.
            for old in _same_scope(level_set).select_for_update().filter(status="approved").order_by("pk"):
                update_record(actor, old, action="transition", status="superseded",
                              reason=f"superseded by {level_set.number}")
        workflow.apply(level_set, action, actor=actor, signer=signer, reason=reason)
        if approving:
            update_record(actor, level_set, action="transition", effective_at=clock.now(),
                          reason="in force on approval")
    return level_set


def _classification_sizes(iso_class: int, sizes) -> list[Decimal]:
    if not sizes:
        return [Decimal(str(s)) for s in iso14644.considered_sizes(iso_class)]
    chosen = sorted({selectors.parse_number(s, "a particle size (µm)", maximum=Decimal(5)) for s in sizes})
    for size in chosen:
        try:
            limit = iso14644.class_limit(iso_class, size)
        except ValueError:
            limit = None
        if limit is None:
            raise RuleViolation(f"ISO class {iso_class} sets no limit for particles ≥{size} µm "
                                "(ISO 14644-1 Table 1): choose sizes the class has limits for.")
    return chosen


def plan_classification(actor, room, *, state, iso_class=None, sizes=None, instrument=None) -> models.Classification:
    """An ISO 14644-1 classification of `room` in `state`: the number of locations from its floor
    area and the minimum sample volume from the class limit of the largest size (ISO-3)."""
    require(actor, "envmon.manage_programme", to="plan room classifications")
    found = room if isinstance(room, Room) else Room.objects.filter(code=str(room or "").strip()[:16]).first()
    if found is None:
        raise NotFound(f"No room {str(room)[:16]!r}: choose one from the list.")
    room = found
    state = selectors.parse_choice(state, programme.STATES, "the room state")
    area = room.floor_area_m2
    if not area:
        raise RuleViolation(f"{room.code} has no floor plan dimensions: set its width and length on the floor "
                            "plan first; the number of locations comes from its area.")
    if iso_class in (None, ""):
        iso_class = getattr(room, f"iso_class_{state}") or iso14644.iso_class_for(room.grade, state)
        if iso_class is None:
            raise RuleViolation(f"{room.code} has no ISO class {programme.STATES[state].lower()}: give the class.")
    iso_class = int(selectors.parse_number(iso_class, "the ISO class", maximum=Decimal(9), integer=True, example="7"))
    if iso_class < 1:
        raise RuleViolation("The ISO class is 1 to 9.")
    sizes = _classification_sizes(iso_class, sizes)
    with transaction.atomic():
        return create_record(actor, models.Classification(
            room=room, state=state, iso_class=iso_class, area_m2=Decimal(area).quantize(Decimal("0.01")),
            sizes=[float(s) for s in sizes], location_count=iso14644.location_count(area),
            sample_volume_litres=Decimal(str(iso14644.sample_volume_litres(iso_class, max(sizes))))
            .quantize(Decimal("0.1"), ROUND_CEILING),
            instrument=None if instrument in (None, "") else _instrument(
                instrument, Equipment.Kind.PARTICLE_COUNTER, "a classification"),
            status=workflows.classification_workflow.initial))


def record_reading(actor, classification: models.Classification, *, point, size, volume_litres,
                   count) -> models.ClassificationReading:
    """One particle count at one classification location, as a concentration per m³. A volume
    below the classification's minimum is refused: the count could not show the class limit."""
    require(actor, "envmon.sample", to="record classification readings")
    point = int(selectors.parse_number(point, "the location number", maximum=Decimal(10_000), integer=True))
    size = selectors.parse_number(size, "the particle size (µm)", maximum=Decimal(5))
    volume = selectors.parse_number(volume_litres, "the volume sampled (litres)", maximum=MAX_SAMPLE_LITRES,
                                    places=1)
    count = int(selectors.parse_number(count, "the particle count", maximum=Decimal(MAX_PARTICLE_COUNT), integer=True))
    with transaction.atomic():
        classification = models.Classification.objects.select_for_update().get(pk=classification.pk)
        if classification.status != "draft":
            raise Conflict(f"{classification} is {workflows.classification_workflow.label(classification.status)}: "
                           "readings are recorded only while it is in progress.")
        if not 1 <= point <= classification.location_count:
            raise RuleViolation(f"{classification} has locations 1 to {classification.location_count}; "
                                f"not {point}.")
        sizes = selectors.classification_sizes(classification)
        if size not in sizes:
            raise RuleViolation(f"{classification} counts particles ≥{', ≥'.join(str(s) for s in sizes)} µm; "
                                f"not ≥{size} µm.")
        if volume < classification.sample_volume_litres:
            raise RuleViolation(f"{volume} L is below the minimum sample volume of "
                                f"{classification.sample_volume_litres} L at each location (ISO 14644-1 A.4.2: "
                                "at least 20 particles at the class limit of the largest size): sample again "
                                "for longer.")
        concentration = limits.per_cubic_metre(count, volume).quantize(Decimal("0.1"), ROUND_HALF_UP)
        return create_record(actor, models.ClassificationReading(
            classification=classification, point=point, size=size, volume_litres=volume,
            concentration=concentration, recorded_by=actor, recorded_at=clock.now()),
            reason=f"{count} particles ≥{size} µm in {volume} L at location {point} of {classification.number}")


def transition_classification(actor, classification: models.Classification, action: str, *, signature=None,
                              first_in_session: bool = True, reason: str = "") -> models.Classification:
    """Complete (every location has a reading of every size: the verdict is recorded), approve
    (signed 'Approved', not by the performer) or cancel (with a reason)."""
    workflow = workflows.classification_workflow
    transition = workflow.get(action)
    require(actor, transition.permission, to=f"{transition.label.lower()} room classifications")
    comment = str(reason or "").strip() or (signature.comment.strip() if signature else "")
    if action == "approve" and classification.passed is False and not comment:
        raise RuleViolation(f"{classification} failed ISO class {classification.iso_class}: give a comment on the "
                            "failure (what is done about it) to approve it; the room stays due for classification.")
    signer = workflow.authenticate(actor, action, signature, first_in_session=first_in_session)
    with transaction.atomic():
        classification = models.Classification.objects.select_for_update().get(pk=classification.pk)
        if action == "complete" and workflow.refusal(classification, action, actor) is None:
            outcome = selectors.classification_verdict(classification)
            update_record(actor, classification, passed=outcome.passed, performed_by=actor,
                          performed_at=clock.now())
        if action == "approve" and classification.passed is False:
            reason = f"Approved as FAILED (ISO class {classification.iso_class} not met): {comment}"
        workflow.apply(classification, action, actor=actor, signer=signer, reason=reason)
    return classification


def complete_classification(actor, classification: models.Classification) -> models.Classification:
    return transition_classification(actor, classification, "complete")
