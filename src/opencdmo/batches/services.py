"""Every write to a batch record: plan, execute step by step with interlocks, verify, correct,
override, review by exception. Each service checks permission and workflow guards and writes
its audit event in the same transaction.

Submissions from the operator screens and the API carry a `submission_id` (a UUID made when the
form was shown, or by the client): a retried request finds the row it made the first time and
returns it, writing nothing twice (a lost connection never loses or duplicates an entry).
"""

import datetime as dt
import functools
from collections.abc import Callable
from decimal import Decimal, InvalidOperation

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from opencdmo.core import audit, clock
from opencdmo.core.access import require
from opencdmo.core.errors import Conflict, NotFound, RuleViolation
from opencdmo.core.presentation import local_time
from opencdmo.core.records import create_record, update_record
from opencdmo.core.scoping import get_scoped
from opencdmo.core.signatures import SignatureInput, authenticate_signer, sign
from opencdmo.documents.models import Document
from opencdmo.facilities import services as facilities_services
from opencdmo.facilities.models import Equipment, EquipmentUse, Room
from opencdmo.facilities.selectors import equipment_usability, verified_line_clearance
from opencdmo.facilities.workflows import room_workflow
from opencdmo.identity import selectors as identity_selectors
from opencdmo.identity import services as identity_services
from opencdmo.identity.domain.isbt128 import ChainOfIdentity
from opencdmo.materials import selectors as materials_selectors
from opencdmo.materials import services as materials_services
from opencdmo.materials.models import LotBalance
from opencdmo.processes.domain import entries, formula
from opencdmo.processes.domain.definition import Definition, Parameter, Step
from opencdmo.processes.models import MbrVersion
from opencdmo.processes.selectors import require_effective
from opencdmo.quality import services as quality_services
from opencdmo.training.selectors import training_gap

from . import selectors
from .domain import execution
from .models import (
    Batch,
    BatchEntry,
    BatchException,
    BatchSample,
    BatchStep,
    EquipmentScan,
    InterlockOverride,
    MaterialUse,
    PatientMaterialScan,
)
from .workflows import batch_workflow, reviewer_did_not_execute


class Interlocked(RuleViolation):
    """An action refused by an interlock QA may override (P11-1f, A11-12). Carries what the
    override form needs: the interlock, the step and the subject refused."""

    def __init__(self, message: str, *, interlock: str, subject: str, step_key: str | None):
        super().__init__(message)
        self.interlock = interlock
        self.subject = subject
        self.step_key = step_key


# The contract below is what views, the API, the demo and the benchmark call.
#
# create_batch(actor, *, mbr_version, scale, room, number="", patient_reference="", planned_start=None) -> Batch
# transition_batch(actor, batch, action, *, signature=None, first_in_session=True, reason="") -> Batch
# start_step(actor, batch, key) -> BatchStep
# record_entry(actor, batch, key, parameter, *, value, submission_id, comment="", late_reason="",
#              stated_activity_at=None) -> BatchEntry
# correct_entry(actor, entry, *, value, reason, submission_id, comment="") -> BatchEntry
# verify_entry(actor, entry, *, signature, first_in_session=True) -> BatchEntry
# scan_equipment(actor, batch, key, *, scanned, submission_id) -> EquipmentScan
# scan_patient_material(actor, batch, key, *, scanned, submission_id) -> PatientMaterialScan
# use_material(actor, batch, key, *, line, scanned_lot, quantity=None, unit="", submission_id) -> MaterialUse
# take_sample(actor, batch, key, point, *, submission_id) -> BatchSample
# skip_step(actor, batch, key, *, reason) -> BatchStep
# complete_step(actor, batch, key, *, signature, first_in_session=True) -> BatchStep
# override_interlock(actor, batch, *, step_key, interlock, subject, refusal, reason, signature,
#                    first_in_session=True) -> InterlockOverride
# disposition_exception(actor, exception, *, disposition) -> BatchException


EXECUTE = "batches.execute"
RUNNING = "in_progress"


# --- Reading what a service acts on ---------------------------------------------------------

def _locked_batch(actor, batch) -> Batch:
    """The batch, row-locked: the writes of one batch go one at a time (an entry, then the
    calculations and exceptions it causes, see a consistent record)."""
    return get_scoped(Batch.objects.select_for_update(of=("self",)).select_related("room", "mbr_version", "sponsor"),
                      actor, pk=getattr(batch, "pk", batch))


def _visible_batch(actor, batch) -> Batch:
    return get_scoped(Batch.objects.only("pk"), actor, pk=getattr(batch, "pk", batch))


def _require_running(batch: Batch) -> None:
    if batch.status == "on_hold":
        raise RuleViolation(f"{batch} is on hold: nothing can be recorded until it is resumed.")
    if batch.status != RUNNING:
        raise RuleViolation(f"{batch} is {batch_workflow.label(batch.status).lower()}: steps are executed only "
                            "while the batch is in progress.")


def _step(batch: Batch, key) -> BatchStep:
    step = BatchStep.objects.filter(batch=batch, key=str(key)).first()
    if step is None:
        raise NotFound(f"{batch} has no step '{str(key)[:32]}'.")
    step.batch = batch
    return step


def _started_step(batch: Batch, key) -> BatchStep:
    step = _step(batch, key)
    if step.status != BatchStep.Status.IN_PROGRESS:
        raise RuleViolation(f"Step {step.key} is {step.get_status_display().lower()}: entries are made only on a "
                            "started step that is not completed.")
    return step


def _definition(batch: Batch) -> Definition:
    return selectors.definition_of(batch)


def _parameter(mbr_step: Step, parameter_id) -> Parameter:
    found = next((p for p in mbr_step.parameters if p.id == parameter_id), None)
    if found is None:
        raise RuleViolation(f"Step {mbr_step.id} has no parameter '{str(parameter_id)[:64]}'.")
    return found


def _text(value, what: str, *, required: bool = False) -> str:
    text = value.strip() if isinstance(value, str) else ""
    if required and not text:
        raise RuleViolation(f"{what} is required.")
    return text


def _submission(submission_id) -> str:
    try:
        return execution.check_submission_id(submission_id)
    except ValueError as exc:
        raise RuleViolation(str(exc)) from None


def _decimal(value, what: str, *, places: int = 6) -> Decimal:
    """A positive quantity as typed (no float surprises), with at most `places` decimals."""
    try:
        number = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise RuleViolation(f"{what}: '{str(value)[:40]}' is not a number.") from None
    if not number.is_finite() or number <= 0:
        raise RuleViolation(f"{what} must be a number greater than zero.")
    if number.as_tuple().exponent < -places or abs(number) >= Decimal(10) ** 14:
        raise RuleViolation(f"{what}: give at most {places} decimals and fewer than 14 digits before the point.")
    return number


# --- Idempotent submissions -----------------------------------------------------------------

def _once(actor, batch, model, submission_id: str, same: Callable[[object], bool], write: Callable[[Batch], object]):
    """Run `write(locked batch)` once per submission id of the batch. A retry gets the row written
    the first time, writing nothing; the id reused for other data is a conflict. A concurrent
    retry that loses the race on the unique constraint gets the winner's row."""

    def earlier():
        row = model.objects.filter(batch_id=getattr(batch, "pk", batch), submission_id=submission_id).first()
        if row is not None and not same(row):
            raise Conflict(f"Submission {submission_id} was already used for other data in {row.batch}: "
                           "reload the page and enter the value again.")
        return row

    try:
        with transaction.atomic():
            batch = _locked_batch(actor, batch)
            if (row := earlier()) is not None:
                return row
            return write(batch)
    except IntegrityError:
        if (row := earlier()) is not None:
            return row
        raise


# --- Interlocks (P11-1f): each refusal says why; QA may override it (A11-12) ----------------

def _interlock(batch: Batch, step: BatchStep | None, interlock: str, subject: str, message: str) -> InterlockOverride:
    """Refuse with `message` unless QA overrode this interlock for this subject (at this step,
    or for the whole batch); returns the override that lets the action go ahead."""
    where = Q(step__isnull=True) if step is None else Q(step=step) | Q(step__isnull=True)
    found = InterlockOverride.objects.filter(where, batch=batch, interlock=interlock, subject=subject).first()
    if found is None:
        raise Interlocked(message, interlock=interlock, subject=subject, step_key=step.key if step else None)
    return found


def _check_room(batch: Batch, step: BatchStep | None) -> None:
    room = batch.room
    where = f"step {step.key}" if step else str(batch)
    if room.status != "in_operation":
        _interlock(batch, step, InterlockOverride.Interlock.ROOM, room.code,
                   f"{room} is {room_workflow.label(room.status).lower()}: {where} can start only in a room in "
                   "operation.")
    if verified_line_clearance(room, for_record_type=audit.record_type(batch), for_record_id=str(batch.pk)) is None:
        _interlock(batch, step, InterlockOverride.Interlock.LINE_CLEARANCE, room.code,
                   f"No verified line clearance of {room} for {batch}: {where} can start once the line clearance "
                   "is performed and verified.")


def _check_training(batch: Batch, step: BatchStep, mbr_step: Step, user, *, what: str = "work on") -> None:
    """The person must be trained on every SOP of the step, each effective now (P11-1i)."""
    now = clock.now()
    for number in mbr_step.sops:
        document = Document.objects.filter(number=number).first()
        gap = f"{number} does not exist" if document is None else training_gap(user, document, now)
        if gap is not None:
            _interlock(batch, step, InterlockOverride.Interlock.TRAINING, user.username,
                       f"{user.full_name} may not {what} step {step.key}: {gap}.")


# --- Exceptions for the review ----------------------------------------------------------------

def _exception(actor, batch: Batch, step: BatchStep | None, kind: str, description: str, **links) -> BatchException:
    return create_record(actor, BatchException(batch=batch, step=step, kind=kind, description=description,
                                               raised_at=clock.now(), raised_by=actor, **links))


RANGE_NAMES = {"outside_normal": "normal operating range", "outside_acceptable": "proven acceptable range"}


def _outcome_exceptions(actor, batch: Batch, step: BatchStep, parameter: Parameter, entry: BatchEntry) -> None:
    """Outside the NOR or an unexpected answer: an exception. Outside the PAR: an exception and a
    deviation linked to the batch, raised once per entry (a retry returns the entry, never
    reaches here again; the unique constraint on entry and kind is the backstop)."""
    if entry.outcome == BatchEntry.Outcome.OK:
        return
    shown = f"{entry.value} {entry.unit}".strip()
    where = f"Step {step.key} {step.name}: {parameter.label}"
    if entry.outcome == BatchEntry.Outcome.UNEXPECTED:
        description = f"{where} answered '{shown}'; expected '{parameter.expected}'."
    else:
        description = (f"{where} = {shown} is outside the {RANGE_NAMES[entry.outcome]} "
                       f"({entries.limits_text(parameter)}).")
    if entry.comment:
        description += f" Comment: {entry.comment}"
    deviation = None
    if entry.outcome == BatchEntry.Outcome.OUTSIDE_ACCEPTABLE:
        deviation = quality_services.raise_deviation(
            actor, title=f"{batch.number} step {step.key}: {parameter.label} outside the proven acceptable range"[:200],
            description=description, source="batch_exception", records=(batch,), sponsor=batch.sponsor,
            area=batch.room.code, category="process")
    _exception(actor, batch, step, entry.outcome, description, entry=entry, deviation=deviation)


# --- Entries ----------------------------------------------------------------------------------

def _evaluate(parameter: Parameter, raw):
    try:
        return entries.evaluate(parameter, "" if raw is None else str(raw))
    except entries.EntryError as exc:
        raise RuleViolation(f"{parameter.label}: {exc}") from None


def _stored_number(number: Decimal | None) -> Decimal | None:
    """At most the 12 decimals the column keeps (a calculated value may carry more)."""
    if number is None or number.as_tuple().exponent >= -12:
        return number
    return number.quantize(Decimal("1e-12"))


def _late(step: BatchStep, late_reason: str, stated_activity_at, now: dt.datetime) -> tuple[str, dt.datetime | None]:
    late_reason = _text(late_reason, "Why the entry is late")
    if not late_reason and stated_activity_at is None:
        return "", None
    if not late_reason or stated_activity_at is None:
        raise RuleViolation("A late entry needs both why it is late and when the activity took place.")
    if not isinstance(stated_activity_at, dt.datetime):
        raise RuleViolation("When the activity took place: give a date and time.")
    if timezone.is_naive(stated_activity_at):
        stated_activity_at = timezone.make_aware(stated_activity_at)
    if stated_activity_at >= now:
        raise RuleViolation("When the activity took place must be in the past.")
    if step.started_at is not None and stated_activity_at < step.started_at:
        raise RuleViolation(f"When the activity took place must be after step {step.key} started "
                            f"({timezone.localtime(step.started_at):%Y-%m-%d %H:%M}).")
    return late_reason, stated_activity_at


def _write_entry(actor, batch: Batch, step: BatchStep, parameter: Parameter, evaluation, *, submission_id: str,
                 comment: str = "", corrects: BatchEntry | None = None, correction_reason: str = "",
                 late_reason: str = "", stated_activity_at=None) -> BatchEntry:
    """Write one entry and the exceptions it causes (range, late entry, correction)."""
    entry = create_record(actor, BatchEntry(
        batch=batch, step=step, parameter=parameter.id, value=evaluation.value,
        number=_stored_number(evaluation.number), unit=parameter.unit, outcome=evaluation.outcome, comment=comment,
        recorded_at=clock.now(), recorded_by=actor, corrects=corrects, correction_reason=correction_reason,
        late_reason=late_reason, stated_activity_at=stated_activity_at, submission_id=submission_id),
        reason=correction_reason or late_reason)
    if corrects is not None:
        _exception(actor, batch, step, BatchException.Kind.CORRECTION,
                   f"Step {step.key}: {parameter.label} corrected from {corrects.value} to {entry.value} "
                   f"{parameter.unit}".rstrip() + f". Reason: {correction_reason}", entry=entry)
    if late_reason:
        _exception(actor, batch, step, BatchException.Kind.LATE_ENTRY,
                   f"Step {step.key}: {parameter.label} entered late; the activity took place "
                   f"{timezone.localtime(stated_activity_at):%Y-%m-%d %H:%M}. Reason: {late_reason}", entry=entry)
    _outcome_exceptions(actor, batch, step, parameter, entry)
    return entry


def _need_comment(parameter: Parameter, evaluation, comment: str) -> None:
    if evaluation.outcome != BatchEntry.Outcome.OK and not comment:
        why = ("is not the expected answer" if evaluation.outcome == BatchEntry.Outcome.UNEXPECTED
               else f"is outside the {RANGE_NAMES[evaluation.outcome]}")
        raise RuleViolation(f"{parameter.label} {evaluation.value} {why}: add a comment saying what happened.")


def _current_entries(batch: Batch, parameter_ids) -> dict[str, BatchEntry]:
    return {e.parameter: e for e in BatchEntry.objects.filter(batch=batch, parameter__in=list(parameter_ids),
                                                              corrected_by__isnull=True)}


# The names a formula reads, parsed once per formula text (every entry asks which calculations depend on it).
_names = functools.lru_cache(maxsize=4096)(formula.names)


def _dependents(definition: Definition, changed: str) -> list[tuple[Step, Parameter]]:
    """The calculated parameters that depend, directly or through another calculation, on `changed`."""
    names = {changed}
    found = []
    for step in definition.steps():
        for p in step.parameters:
            if p.type == "calculated" and names & set(_names(p.formula)):
                found.append((step, p))
                names.add(p.id)
    return found


def _calculate(actor, batch: Batch, targets, *, submission_id: str, reason: str = "") -> set[int]:
    """Record each target calculated parameter whose inputs (current values, and `scale`) are all
    present, on its step if started: a new entry, or a correction when its value changed.
    Returns the ids of the steps whose data changed."""
    changed_steps: set[int] = set()
    if not targets:
        return changed_steps
    inputs = {n for _, p in targets for n in _names(p.formula)} - {"scale"}
    current = _current_entries(batch, inputs | {p.id for _, p in targets})
    steps = {s.key: s for s in BatchStep.objects.filter(batch=batch, key__in={s.id for s, _ in targets})}
    for mbr_step, parameter in targets:
        step = steps[mbr_step.id]
        step.batch = batch
        if step.status not in (BatchStep.Status.IN_PROGRESS, BatchStep.Status.COMPLETED):
            continue
        needed = set(_names(parameter.formula)) - {"scale"}
        if any(current.get(n) is None or current[n].number is None for n in needed):
            continue
        values = {n: current[n].number for n in needed} | {"scale": batch.scale}
        try:
            evaluation = entries.calculate(parameter, values)
        except entries.EntryError as exc:
            raise RuleViolation(f"{parameter.label} cannot be calculated from these values: {exc}") from None
        previous = current.get(parameter.id)
        if previous is not None and previous.value == evaluation.value:
            continue
        if previous is None and step.status == BatchStep.Status.COMPLETED:
            continue
        current[parameter.id] = _write_entry(
            actor, batch, step, parameter, evaluation, submission_id=f"{submission_id}:{parameter.id}"[:64],
            corrects=previous, correction_reason=f"recalculated: {reason}" if previous is not None else "")
        changed_steps.add(step.pk)
    return changed_steps


def record_entry(actor, batch, key, parameter, *, value, submission_id, comment="", late_reason="",
                 stated_activity_at=None) -> BatchEntry:
    """A value for a parameter of a started step, stamped with server time and the performer;
    range-checked, with the exceptions and deviation that follow; calculated values updated."""
    require(actor, EXECUTE, to="record batch entries")
    submission_id = _submission(submission_id)
    comment = _text(comment, "Comment")

    def same(row: BatchEntry) -> bool:
        if row.corrects_id is not None or row.parameter != parameter or row.step.key != key:
            return False
        mbr_step = _definition(row.batch).step(key)
        return _evaluate(_parameter(mbr_step, parameter), value).value == row.value

    def write(batch: Batch) -> BatchEntry:
        _require_running(batch)
        step = _started_step(batch, key)
        mbr_step = _definition(batch).step(step.key)
        param = _parameter(mbr_step, parameter)
        if param.type == "calculated":
            raise RuleViolation(f"{param.label} is calculated ({param.formula}): it is recorded from its inputs.")
        _check_training(batch, step, mbr_step, actor)
        if BatchEntry.objects.filter(step=step, parameter=param.id, corrected_by__isnull=True).exists():
            raise RuleViolation(f"{param.label} has a value already: use a correction to change it, with a reason.")
        evaluation = _evaluate(param, value)
        _need_comment(param, evaluation, comment)
        late, stated = _late(step, late_reason, stated_activity_at, clock.now())
        entry = _write_entry(actor, batch, step, param, evaluation, submission_id=submission_id, comment=comment,
                             late_reason=late, stated_activity_at=stated)
        _calculate(actor, batch, _dependents(_definition(batch), param.id), submission_id=submission_id)
        return entry

    return _once(actor, batch, BatchEntry, submission_id, same, write)


def _refresh_data_hashes(actor, batch: Batch, step_ids, *, reason: str) -> None:
    """A completed step whose data changed gets the new hash: its 'Performed' signature then shows
    as no longer valid (P11-4, A11-7)."""
    for step in BatchStep.objects.filter(pk__in=list(step_ids), status=BatchStep.Status.COMPLETED):
        step.batch = batch
        update_record(actor, step, reason=reason, data_hash=selectors.step_data_hash(step))


def correct_entry(actor, entry, *, value, reason, submission_id, comment="") -> BatchEntry:
    """A new entry replacing `entry`, with the reason; the original stays visible (A11-7, A11-8).
    Allowed until the batch is reviewed."""
    require(actor, EXECUTE, to="correct batch entries")
    submission_id = _submission(submission_id)
    reason = _text(reason, "The reason for the correction", required=True)
    comment = _text(comment, "Comment")
    original = get_scoped(BatchEntry.objects.select_related("batch"), actor, pk=getattr(entry, "pk", entry))

    def same(row: BatchEntry) -> bool:
        if row.corrects_id != original.pk:
            return False
        mbr_step = _definition(row.batch).step(original.step.key)
        return _evaluate(_parameter(mbr_step, original.parameter), value).value == row.value

    def write(batch: Batch) -> BatchEntry:
        if batch.status not in (RUNNING, "completed"):
            if batch.status == "on_hold":
                _require_running(batch)
            raise RuleViolation(f"{batch} is {batch_workflow.label(batch.status).lower()}: its entries can no longer "
                                "be corrected.")
        old = BatchEntry.objects.select_for_update().select_related("step").get(pk=original.pk)
        if BatchEntry.objects.filter(corrects=old).exists():
            raise RuleViolation(f"This value of {old.parameter} was corrected already: correct the current value.")
        step = old.step
        step.batch = batch
        mbr_step = _definition(batch).step(step.key)
        param = _parameter(mbr_step, old.parameter)
        if param.type == "calculated":
            raise RuleViolation(f"{param.label} is calculated: correct the values it is calculated from.")
        _check_training(batch, step, mbr_step, actor)
        evaluation = _evaluate(param, value)
        if evaluation.value == old.value:
            raise RuleViolation(f"{param.label} is {old.value} already: a correction changes the value.")
        _need_comment(param, evaluation, comment)
        new = _write_entry(actor, batch, step, param, evaluation, submission_id=submission_id, comment=comment,
                           corrects=old, correction_reason=reason)
        changed = {step.pk} | _calculate(actor, batch, _dependents(_definition(batch), param.id),
                                         submission_id=submission_id, reason=f"{param.label} corrected")
        _refresh_data_hashes(actor, batch, changed, reason=f"{param.label} corrected: {reason}")
        return new

    return _once(actor, original.batch, BatchEntry, submission_id, same, write)


def verify_entry(actor, entry, *, signature: SignatureInput, first_in_session=True) -> BatchEntry:
    """Second-person verification of an entry, signed 'Verified' (P11-4, §11.50); never by the
    person who recorded it. Only the current value can be verified."""
    require(actor, "batches.verify", to="verify batch entries")
    entry = get_scoped(BatchEntry.objects.select_related("batch"), actor, pk=getattr(entry, "pk", entry))
    signer = authenticate_signer(actor, signature, first_in_session=first_in_session)
    if signer.meaning != "Verified":
        raise RuleViolation("Verify an entry with the signature meaning 'Verified'.")
    with transaction.atomic():
        batch = _locked_batch(actor, entry.batch)
        _require_running(batch)
        entry = BatchEntry.objects.select_for_update().select_related("step").get(pk=entry.pk)
        entry.batch = entry.step.batch = batch
        mbr_step = _definition(batch).step(entry.step.key)
        param = _parameter(mbr_step, entry.parameter)
        if not param.verify:
            raise RuleViolation(f"{param.label} does not need second-person verification.")
        if BatchEntry.objects.filter(corrects=entry).exists():
            raise RuleViolation(f"This value of {param.label} was corrected: verify the current value.")
        if entry.verified_by_id is not None:
            raise RuleViolation(f"{param.label} was verified already by {entry.verified_by}.")
        if entry.recorded_by_id == actor.pk:
            raise RuleViolation(f"Segregation of duties: you recorded {param.label}, so someone else must verify it.")
        _check_training(batch, entry.step, mbr_step, actor, what="verify")
        sign(signer, entry)
        update_record(actor, entry, action="verify", verified_by=actor, verified_at=clock.now())
    return entry


# --- Steps ------------------------------------------------------------------------------------

def start_step(actor, batch, key) -> BatchStep:
    """Start a step: in order (P11-1f), in a room in operation with its line clearance, by a person
    trained on its SOPs. A hold time not met is an exception, not a refusal. Starting a step that
    is already in progress returns it (a retried request)."""
    require(actor, EXECUTE, to="execute batch steps")
    with transaction.atomic():
        batch = _locked_batch(actor, batch)
        _require_running(batch)
        step = _step(batch, key)
        if step.status == BatchStep.Status.IN_PROGRESS:
            return step
        if step.status != BatchStep.Status.PENDING:
            raise RuleViolation(f"Step {step.key} is {step.get_status_display().lower()}.")
        definition = _definition(batch)
        mbr_step = definition.step(step.key)
        statuses = dict(BatchStep.objects.filter(batch=batch).values_list("key", "status"))
        if waiting := execution.waiting_for(mbr_step, statuses):
            raise RuleViolation(f"Step {step.key} cannot start before step{'s' if len(waiting) > 1 else ''} "
                                f"{', '.join(waiting)} {'are' if len(waiting) > 1 else 'is'} completed or skipped.")
        _check_room(batch, step)
        _check_training(batch, step, mbr_step, actor)
        now = clock.now()
        update_record(actor, step, action="transition", status=BatchStep.Status.IN_PROGRESS, started_at=now,
                      started_by=actor)
        if mbr_step.hold is not None:
            previous = BatchStep.objects.filter(batch=batch, key=mbr_step.hold.after).values_list(
                "completed_at", flat=True).first()
            if problem := execution.hold_time_problem(mbr_step.hold, previous, now):
                _exception(actor, batch, step, BatchException.Kind.HOLD_TIME, f"Step {step.key} {step.name} {problem}.")
        _calculate(actor, batch, [(mbr_step, p) for p in mbr_step.parameters if p.type == "calculated"],
                   submission_id=f"start:{step.pk}")
    return step


def skip_step(actor, batch, key, *, reason) -> BatchStep:
    """Skip an optional step, with the reason; an exception for the review."""
    require(actor, EXECUTE, to="execute batch steps")
    reason = _text(reason, "The reason for skipping the step", required=True)
    with transaction.atomic():
        batch = _locked_batch(actor, batch)
        _require_running(batch)
        step = _step(batch, key)
        if not _definition(batch).step(step.key).optional:
            raise RuleViolation(f"Step {step.key} is not optional: it must be performed.")
        if step.status != BatchStep.Status.PENDING:
            raise RuleViolation(f"Step {step.key} is {step.get_status_display().lower()}: only a step not started "
                                "can be skipped.")
        update_record(actor, step, action="transition", reason=reason, status=BatchStep.Status.SKIPPED,
                      skip_reason=reason)
        _exception(actor, batch, step, BatchException.Kind.SKIPPED_STEP,
                   f"Optional step {step.key} {step.name} skipped. Reason: {reason}")
    return step


def complete_step(actor, batch, key, *, signature: SignatureInput, first_in_session=True) -> BatchStep:
    """Complete a step once nothing is missing, signed 'Performed' over the SHA-256 of its data."""
    require(actor, EXECUTE, to="execute batch steps")
    _visible_batch(actor, batch)
    signer = authenticate_signer(actor, signature, first_in_session=first_in_session)
    if signer.meaning != "Performed":
        raise RuleViolation("Complete a step with the signature meaning 'Performed'.")
    with transaction.atomic():
        batch = _locked_batch(actor, batch)
        _require_running(batch)
        step = _started_step(batch, key)
        if lacking := selectors.missing(step, _definition(batch).step(step.key)):
            raise RuleViolation(f"Step {step.key} cannot be completed yet: it lacks {'; '.join(lacking)}.")
        update_record(actor, step, action="transition", status=BatchStep.Status.COMPLETED, completed_at=clock.now(),
                      completed_by=actor, data_hash=selectors.step_data_hash(step))
        sign(signer, step)
        for use in EquipmentUse.objects.filter(used_for_type=audit.record_type(batch), used_for_id=str(batch.pk),
                                               equipment__in=step.equipment_scans.values("equipment"),
                                               ended_at__isnull=True):
            facilities_services.end_equipment_use(actor, use)
    return step


# --- Equipment, materials, samples ------------------------------------------------------------

def scan_equipment(actor, batch, key, *, scanned, submission_id) -> EquipmentScan:
    """Equipment scanned at a step: of a kind the step needs and usable now; its logbook names the batch."""
    require(actor, EXECUTE, to="execute batch steps")
    submission_id = _submission(submission_id)
    number = "".join(str(scanned or "").split())
    if not number:
        raise RuleViolation("Scan or type the equipment number.")
    visible = _visible_batch(actor, batch)

    def same(row: EquipmentScan) -> bool:
        return row.step.key == key and row.equipment.number.lower() == number.lower()

    def write(batch: Batch) -> EquipmentScan:
        _require_running(batch)
        step = _started_step(batch, key)
        mbr_step = _definition(batch).step(step.key)
        equipment = Equipment.objects.filter(number__iexact=number).first()
        if equipment is None:
            raise NotFound(f"No equipment {number[:40]} is known.")
        if equipment.kind not in mbr_step.equipment:
            needed = ", ".join(Equipment.Kind(k).label for k in mbr_step.equipment) or "no equipment"
            _interlock(batch, step, InterlockOverride.Interlock.EQUIPMENT, equipment.number,
                       f"{equipment} is a {equipment.get_kind_display().lower()}; step {step.key} needs {needed}.")
        usability = equipment_usability(equipment, for_record=batch)
        if usability.usable:
            facilities_services.log_equipment_use(actor, equipment, record=batch)
        else:
            # Overridden: the override and its exception are the record; the logbook refuses unusable equipment.
            _interlock(batch, step, InterlockOverride.Interlock.EQUIPMENT, equipment.number,
                       f"{equipment} may not be used: " + "; ".join(map(str, usability.reasons)) + ".")
        return create_record(actor, EquipmentScan(batch=batch, step=step, equipment=equipment, kind=equipment.kind,
                                                  scanned_at=clock.now(), scanned_by=actor,
                                                  submission_id=submission_id))

    return _once(actor, visible, EquipmentScan, submission_id, same, write)


def _line_index(line, mbr_step: Step) -> int:
    try:
        index = int(line)
    except (TypeError, ValueError):
        index = -1
    if not 0 <= index < len(mbr_step.materials):
        raise RuleViolation(f"Step {mbr_step.id} has no bill-of-materials line {str(line)[:8]}.")
    return index


def use_material(actor, batch, key, *, line, scanned_lot, quantity=None, unit="", submission_id) -> MaterialUse:
    """A lot consumed against a bill-of-materials line: the right material, released, not expired;
    issued from the location holding most of it, which posts inventory and genealogy (lot → batch)."""
    require(actor, EXECUTE, to="execute batch steps")
    submission_id = _submission(submission_id)
    visible = _visible_batch(actor, batch)
    lot = materials_selectors.find_lot(actor, scanned_lot)

    def same(row: MaterialUse) -> bool:
        return row.step.key == key and str(row.line) == str(line) and row.lot_id == lot.pk

    def write(batch: Batch) -> MaterialUse:
        _require_running(batch)
        step = _started_step(batch, key)
        mbr_step = _definition(batch).step(step.key)
        index = _line_index(line, mbr_step)
        bom = mbr_step.materials[index]
        if lot.material.code != bom.material:
            _interlock(batch, step, InterlockOverride.Interlock.MATERIAL, lot.number,
                       f"{lot} is {lot.material.code} {lot.material.name}; line {index + 1} of step {step.key} "
                       f"needs {bom.material}.")
        usable, reasons = materials_selectors.lot_usability(lot)
        override = None if usable else _interlock(batch, step, InterlockOverride.Interlock.MATERIAL, lot.number,
                                                  "; ".join(reasons) + ".")
        if quantity is None or str(quantity).strip() == "":
            amount, amount_unit = entries.material_quantity(bom, batch.scale), bom.unit
        else:
            amount, amount_unit = _decimal(quantity, "Quantity"), _text(unit, "Unit") or bom.unit
        amount = amount.quantize(Decimal("1e-6")) if amount.as_tuple().exponent < -6 else amount
        balance = LotBalance.objects.filter(lot=lot, quantity__gt=0).select_related("location").order_by(
            "-quantity", "pk").first()
        if balance is None:
            raise RuleViolation(f"{lot} has no stock left to issue.")
        issued = materials_services.issue_lot(
            actor, lot, location=balance.location, quantity=amount, unit=amount_unit,
            to=materials_services.destination(actor, record=batch),
            override_reason=f"interlock overridden by QA: {override.reason}" if override else "")
        return create_record(actor, MaterialUse(batch=batch, step=step, line=index, lot=lot, quantity=amount,
                                                unit=amount_unit, transaction=issued, used_at=clock.now(),
                                                used_by=actor, submission_id=submission_id))

    return _once(actor, visible, MaterialUse, submission_id, same, write)


def take_sample(actor, batch, key, point, *, submission_id) -> BatchSample:
    """The QC sample of a sampling point of the step (SMP-…), once per point: taking it again
    (a retried request) returns the sample taken."""
    require(actor, EXECUTE, to="execute batch steps")
    _submission(submission_id)
    with transaction.atomic():
        batch = _locked_batch(actor, batch)
        taken = BatchSample.objects.filter(batch=batch, point=str(point)).select_related("step").first()
        if taken is not None:
            if taken.step.key != key:
                raise Conflict(f"The sample {taken.name} of {batch} was taken at step {taken.step.key}.")
            return taken
        _require_running(batch)
        step = _started_step(batch, key)
        sampling = next((s for s in _definition(batch).step(step.key).samples if s.id == point), None)
        if sampling is None:
            raise RuleViolation(f"Step {step.key} has no sampling point '{str(point)[:64]}'.")
        taken = create_record(actor, BatchSample(batch=batch, step=step, point=sampling.id, name=sampling.name,
                                                 quantity=sampling.quantity, unit=sampling.unit, status="taken",
                                                 taken_at=clock.now(), taken_by=actor))
        # The QC laboratory registers the sample in the same transaction (issue 7): it arrives on the
        # laboratory's worklist the moment the operator takes it.
        from opencdmo.qc import services as qc_services  # noqa: PLC0415

        qc_services.register_batch_sample(
            actor, batch_number=batch.number, batch_label=f"{batch.number} {batch.product.code}",
            sample_ref=taken.number, description=sampling.name, sponsor=batch.sponsor, product=batch.product,
            quantity=sampling.quantity, unit=sampling.unit, taken_at=taken.taken_at, taken_by=actor,
            stage=sampling.stage)
        return taken


# --- Patient material: the chain of identity scan of an autologous batch's steps -------------

# The custody point a refused scan is recorded at: the patient's material is in manufacturing.
IN_MANUFACTURING = "issue_to_manufacturing"


def _patient_material_step(batch: Batch, key) -> BatchStep:
    _require_running(batch)
    step = _started_step(batch, key)
    if not _definition(batch).step(step.key).patient_material:
        raise RuleViolation(f"Step {step.key} does not handle the patient's material: it needs no chain of "
                            "identity scan.")
    if not batch.patient_reference:
        raise RuleViolation(f"{batch} is not made for a patient: it has no chain of identity to scan.")
    return step


def scan_patient_material(actor, batch, key, *, scanned, submission_id) -> PatientMaterialScan:
    """The chain of identity label of the bag or container, scanned at a step handling the patient's
    material, must name the therapy the batch is made for (ISBT-6). A scan of another patient's label
    is refused: the refused custody event and its deviation are kept (committed by identity before
    the refusal), and the batch records an exception linked to that deviation for its review."""
    require(actor, EXECUTE, to="execute batch steps")
    submission_id = _submission(submission_id)
    text = str(scanned or "").strip()
    if not text:
        raise RuleViolation("Scan the chain of identity label of the patient's bag or container.")
    batch = get_scoped(Batch.objects.select_related("room", "mbr_version"), actor, pk=getattr(batch, "pk", batch))

    def same(row: PatientMaterialScan) -> bool:
        return row.step.key == key and row.scanned == text

    def write(batch: Batch) -> PatientMaterialScan:
        return create_record(actor, PatientMaterialScan(
            batch=batch, step=_patient_material_step(batch, key), scanned=text, scanned_at=clock.now(),
            scanned_by=actor, submission_id=submission_id))

    if PatientMaterialScan.objects.filter(batch=batch, submission_id=submission_id).exists():
        return _once(actor, batch, PatientMaterialScan, submission_id, same, write)  # a retry: not verified again
    step = _patient_material_step(batch, key)
    order = identity_selectors.order_with_coi(actor, batch.patient_reference)
    try:
        verification = identity_services.verify_scan(actor, order, text, kind=IN_MANUFACTURING, records=(batch,),
                                                     location=batch.room.code)
    except identity_services.CustodyMismatch as exc:
        with transaction.atomic():
            _exception(actor, _locked_batch(actor, batch), step, BatchException.Kind.IDENTITY_MISMATCH,
                       f"At step {step.key} {step.name} the scan of the patient's material was refused: "
                       f"{exc.event.problem}", deviation=exc.deviation)
        raise
    if not any(isinstance(s, ChainOfIdentity) for s in verification.read):
        raise RuleViolation("Scan the chain of identity barcode (or the Data Matrix) of the label: the DIN alone "
                            "does not say whose material it is.")
    return _once(actor, batch, PatientMaterialScan, submission_id, same, write)


def _label_reconciliation_exception(actor, batch: Batch) -> None:
    """At completion, labels printed for the batch's therapy and not yet applied or destroyed are an
    exception for the review: a stray label of a patient could end up on another's bag."""
    if not batch.patient_reference:
        return
    found = identity_selectors.label_reconciliation(identity_selectors.order_with_coi(actor, batch.patient_reference))
    if not found.reconciled:
        open_kinds = "; ".join(f"{c.kind.replace('_', ' ')}: {c.unaccounted} of {c.printed} unaccounted"
                               for c in found.kinds if c.unaccounted)
        _exception(actor, batch, None, BatchException.Kind.LABEL_RECONCILIATION,
                   f"At completion the labels of {batch.patient_reference} were not reconciled ({open_kinds}).")


# --- Overrides --------------------------------------------------------------------------------

def override_interlock(actor, batch, *, step_key, interlock, subject, refusal, reason, signature: SignatureInput,
                       first_in_session=True) -> InterlockOverride:
    """QA lets one refused action go ahead, signed 'Approved' with a reason; an exception for the review."""
    require(actor, "batches.override_interlock", to="override an interlock")
    if interlock not in InterlockOverride.Interlock.values:
        raise RuleViolation(f"'{str(interlock)[:32]}' is not an interlock.")
    subject = _text(subject, "What was refused", required=True)[:200]
    refusal = _text(refusal, "The refusal")
    reason = _text(reason, "The reason for the override", required=True)
    _visible_batch(actor, batch)
    signer = authenticate_signer(actor, signature, first_in_session=first_in_session)
    if signer.meaning != "Approved":
        raise RuleViolation("Override an interlock with the signature meaning 'Approved'.")
    with transaction.atomic():
        batch = _locked_batch(actor, batch)
        if batch.status not in ("planned", RUNNING, "on_hold"):
            raise RuleViolation(f"{batch} is {batch_workflow.label(batch.status).lower()}: nothing is left to override.")
        step = _step(batch, step_key) if step_key else None
        if InterlockOverride.objects.filter(batch=batch, step=step, interlock=interlock, subject=subject).exists():
            raise Conflict(f"This interlock was overridden already for {subject}.")
        override = create_record(actor, InterlockOverride(
            batch=batch, step=step, interlock=interlock, subject=subject, refusal=refusal, reason=reason,
            overridden_at=clock.now(), overridden_by=actor), reason=reason)
        sign(signer, override)
        label = InterlockOverride.Interlock(interlock).label
        where = f" at step {step.key}" if step else ""
        _exception(actor, batch, step, BatchException.Kind.OVERRIDE,
                   f"QA overrode the interlock '{label}' for {subject}{where}. Refusal: {refusal or '—'} "
                   f"Reason: {reason}", override=override)
    return override


# --- The batch ---------------------------------------------------------------------------------

def create_batch(actor, *, mbr_version, scale, room, number="", patient_reference="", planned_start=None) -> Batch:
    """A planned batch from the effective MBR version, with one step row per MBR step."""
    require(actor, "batches.plan", to="plan batches")
    version = get_scoped(MbrVersion.objects.select_related("mbr__product__program__sponsor"), actor,
                         pk=getattr(mbr_version, "pk", mbr_version))
    definition = require_effective(version)
    product = version.mbr.product
    scale = _decimal(scale, "Scale")
    room = Room.objects.filter(pk=getattr(room, "pk", room)).first()
    if room is None:
        raise NotFound("No room matches that reference.")
    number = _text(number, "Batch number")
    if len(number) > 32:
        raise RuleViolation("A batch number is at most 32 characters.")
    patient_reference = _text(patient_reference, "Patient reference")
    therapy = None
    if product.modality == "autologous_cell":
        if not patient_reference:
            raise RuleViolation(f"{product.code} is an autologous product: give the patient's chain of identity "
                                "identifier.")
        # Made for exactly one patient therapy: an open order of this product, and no other batch of it.
        therapy = identity_selectors.therapy_for_batch(actor, patient_reference, product)
        patient_reference = therapy.coi
        if made := Batch.objects.filter(patient_reference=patient_reference).exclude(status="cancelled").first():
            raise Conflict(f"{made.number} is already made for {patient_reference}: an autologous therapy is made "
                           "in one batch (cancel that one first).")
    if len(patient_reference) > 64:
        raise RuleViolation("A patient reference is at most 64 characters.")
    if isinstance(planned_start, str):
        try:
            planned_start = dt.date.fromisoformat(planned_start) if planned_start.strip() else None
        except ValueError:
            raise RuleViolation("Planned start: give a date as YYYY-MM-DD.") from None
    if number and Batch.objects.filter(number__iexact=number).exists():
        raise Conflict(f"A batch {number} exists already: give another number, or leave it empty for the next one.")
    try:
        with transaction.atomic():
            batch = create_record(actor, Batch(
                number=number, status=batch_workflow.initial, mbr_version=version, product=product,
                sponsor=product.program.sponsor, scale=scale, scale_unit=definition.scale_unit, room=room,
                patient_reference=patient_reference, planned_start=planned_start))
            steps = [BatchStep(batch=batch, key=step.id, position=position, stage=stage.name, name=step.name)
                     for position, (stage, step) in enumerate(
                         ((stage, step) for stage in definition.stages for step in stage.steps), start=1)]
            BatchStep.objects.bulk_create(steps)
            if therapy is not None:  # the patient is downstream of every lot the batch uses (recall)
                patient = therapy.patient
                materials_services.link_genealogy(actor, batch, patient,
                                                  child_label=f"{patient.number} ({patient.subject_id})")
            audit.log_event(actor, "update", record=batch, changes={"steps": [None, [
                {"key": s.key, "position": s.position, "stage": s.stage, "name": s.name} for s in steps]]},
                reason=f"steps of {version.number}")
    except IntegrityError:
        raise Conflict(f"A batch {number} exists already: give another number.") from None
    return batch


STAMPS = {"start": "started_at", "complete": "completed_at", "review": "reviewed_at"}


def transition_batch(actor, batch, action: str, *, signature: SignatureInput | None = None,
                     first_in_session: bool = True, reason: str = "") -> Batch:
    """Start, hold, resume, complete, review or cancel a batch (workflows.batch_workflow). Starting
    needs the room in operation and its verified line clearance for this batch (interlocks)."""
    transition = batch_workflow.get(action)
    require(actor, transition.permission, to=transition.label.lower())
    signer = batch_workflow.authenticate(actor, action, signature, first_in_session=first_in_session)
    with transaction.atomic():
        batch = _locked_batch(actor, batch)
        if action == "start" and batch.status == "planned":
            _check_room(batch, None)
        batch_workflow.apply(batch, action, actor=actor, signer=signer, reason=reason)
        if action == "complete":
            _label_reconciliation_exception(actor, batch)
        if action in STAMPS:
            update_record(actor, batch, action="transition", **{STAMPS[action]: clock.now()})
    batch.refresh_from_db()
    return batch


# --- Review by exception (H5) ---

def _assessment(text: str, deviation_number: str) -> str:
    """What a disposition says besides the deviation it cites (the form offers 'See deviation …:')."""
    return text.replace(f"See deviation {deviation_number}", "").replace(deviation_number, "").strip(" :;,.-")


def disposition_exception(actor, exception: BatchException, *, disposition: str) -> BatchException:
    """QA's decision on one exception of the review by exception (A11-8: the reason is recorded).

    QA may disposition while the batch is still running (in progress or on hold) as well as once it
    is completed: concurrent review shortens the time to release, and an exception raised later is
    open until it too is dispositioned, so nothing escapes the review signature. Whoever recorded or
    verified entries of the batch may not disposition its exceptions, as they may not sign its review.
    An exception whose value raised a deviation is closed by citing the deviation: the deviation
    itself is investigated and closed in the quality module.
    """
    require(actor, "batches.review", to="disposition batch exceptions")
    text = disposition.strip()
    if not text:
        raise RuleViolation("Write the disposition: what you assessed and why the record can stand as it is.")
    with transaction.atomic():
        exception = get_scoped(BatchException.objects.select_for_update(of=("self",)), actor, pk=exception.pk)
        batch = exception.batch
        if batch.status not in selectors.DISPOSITION_STATES:
            raise RuleViolation(f"{batch} is {batch_workflow.label(batch.status).lower()}: exceptions are "
                                "dispositioned while the batch runs or once it is completed, before its review is signed.")
        if why := reviewer_did_not_execute(batch, actor):
            raise RuleViolation(why)
        if exception.status == BatchException.Status.DISPOSITIONED:
            raise Conflict(f"This exception was already dispositioned by {exception.dispositioned_by.full_name} "
                           f"on {local_time(exception.dispositioned_at)}.")
        if exception.deviation_id and exception.deviation.number not in text:
            raise RuleViolation(f"Cite deviation {exception.deviation.number} in the disposition: it is investigated "
                                "and closed in the quality module, and the batch record refers to it.")
        if exception.deviation_id and not _assessment(text, exception.deviation.number):
            raise RuleViolation(f"Write your assessment after citing {exception.deviation.number}: a citation alone "
                                "is not a disposition.")
        update_record(actor, exception, action="disposition", status=BatchException.Status.DISPOSITIONED,
                      disposition=text, dispositioned_at=clock.now(), dispositioned_by=actor)
    return exception


@transaction.atomic
def record_batch_record_export(actor, batch: Batch, *, file_format: str) -> None:
    """A printout or export of the batch record is audited (DI-4): who took which record out, and in what form."""
    require(actor, "batches.view", to="see batch records")
    audit.log_event(actor, "export", record=batch,
                    changes={"export": [None, {"what": "batch record", "format": file_format,
                                               "record_format": selectors.BATCH_RECORD_FORMAT}]})
