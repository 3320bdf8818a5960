"""Reads of batch records for the pages, the API, the review and the services' own checks.

Kept to a few indexed queries each: the operator screen and the API read them on every entry.
"""

import datetime as dt
import json
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache
from pathlib import Path

from django.db.models import Count, Q
from django.urls import reverse

from opencdmo.core import audit, clock
from opencdmo.core.access import require_to_see
from opencdmo.core.errors import NotFound
from opencdmo.core.models import Signature
from opencdmo.core.pdf import render_pdf
from opencdmo.core.presentation import local_time
from opencdmo.core.scoping import get_scoped, scoped
from opencdmo.core.signatures import content_hash
from opencdmo.core.tasks import Task
from opencdmo.processes import selectors as process_selectors
from opencdmo.processes.domain import entries as entry_rules
from opencdmo.processes.domain.definition import Definition, Parameter, Range, Step
from opencdmo.quality.workflows import deviation_workflow

from .domain import execution
from .models import (
    Batch,
    BatchEntry,
    BatchException,
    BatchSample,
    BatchStep,
    EquipmentScan,
    MaterialUse,
    PatientMaterialScan,
)
from .workflows import BATCH_STATES, batch_workflow, no_open_exception, reviewer_did_not_execute


def batches_for(user, *, status: str = "", product: str = "", sponsor: str = "", text: str = ""):
    """The batches this user may see (their sponsors' only), newest first, filtered."""
    require_to_see(user, "batches.view")
    queryset = scoped(Batch.objects.select_related("product", "sponsor", "room", "mbr_version__mbr"), user)
    if status in BATCH_STATES:
        queryset = queryset.filter(status=status)
    if product:
        queryset = queryset.filter(product__code=product)
    if sponsor:
        queryset = queryset.filter(sponsor__code=sponsor)
    if text := str(text or "").strip():
        queryset = queryset.filter(Q(number__icontains=text) | Q(patient_reference__iexact=text)
                                   | Q(product__name__icontains=text) | Q(product__code__icontains=text))
    return queryset


def batch(user, number: str) -> Batch:
    require_to_see(user, "batches.view")
    return get_scoped(Batch.objects.select_related("product", "sponsor", "room", "mbr_version__mbr", "created_by"),
                      user, number=str(number).strip())


def definition_of(batch: Batch) -> Definition:
    """The MBR structure the batch is executed against (parsed once per process)."""
    return process_selectors.definition_of(batch.mbr_version)


def step_states(batch: Batch) -> list[BatchStep]:
    """Every step in order, each with `can_start`: pending and its predecessors done (P11-1f)."""
    steps = list(BatchStep.objects.filter(batch=batch).select_related("started_by", "completed_by"))
    statuses = {s.key: s.status for s in steps}
    definition = definition_of(batch)
    for step in steps:
        step.batch = batch
        step.can_start = execution.can_start(definition.step(step.key), statuses)
    return steps


def next_step_keys(batch: Batch) -> list[str]:
    statuses = dict(BatchStep.objects.filter(batch=batch).values_list("key", "status"))
    return execution.next_steps(definition_of(batch).steps(), statuses)


def current_entries(batch: Batch):
    """The entries not replaced by a correction: the values the record stands on."""
    return BatchEntry.objects.filter(batch=batch, corrected_by__isnull=True)


def _verified_parameters(definition: Definition) -> list[str]:
    return [p.id for p in definition.parameters().values() if p.verify]


def unverified_entries(batch: Batch) -> list[BatchEntry]:
    """Current entries of parameters that need second-person verification and have none yet."""
    needing = _verified_parameters(definition_of(batch))
    if not needing:
        return []
    return list(current_entries(batch).filter(parameter__in=needing, verified_by__isnull=True)
                .select_related("step", "recorded_by"))


def performers(batch: Batch) -> set[int]:
    """Everyone who executed the batch: recorded or verified entries, scanned, used material,
    took samples or completed steps (none of them may review it)."""
    ids = set()
    for row in BatchEntry.objects.filter(batch=batch).values_list("recorded_by_id", "verified_by_id").distinct():
        ids.update(row)
    ids.update(EquipmentScan.objects.filter(batch=batch).values_list("scanned_by_id", flat=True).distinct())
    ids.update(PatientMaterialScan.objects.filter(batch=batch).values_list("scanned_by_id", flat=True).distinct())
    ids.update(MaterialUse.objects.filter(batch=batch).values_list("used_by_id", flat=True).distinct())
    ids.update(BatchSample.objects.filter(batch=batch).values_list("taken_by_id", flat=True).distinct())
    ids.update(BatchStep.objects.filter(batch=batch).values_list("completed_by_id", flat=True).distinct())
    ids.discard(None)
    return ids


# --- One step ----------------------------------------------------------------------------------

def _step_entries(step: BatchStep) -> list[BatchEntry]:
    return list(step.entries.select_related("recorded_by", "verified_by").order_by("recorded_at", "id"))


def _current(entries: list[BatchEntry]) -> dict[str, BatchEntry]:
    replaced = {e.corrects_id for e in entries if e.corrects_id}
    return {e.parameter: e for e in entries if e.pk not in replaced}


def _identity_needed(step: BatchStep, mbr_step: Step) -> bool:
    """A step handling the patient's material of an autologous batch, with no matching scan yet."""
    return bool(mbr_step.patient_material and step.batch.patient_reference and not step.identity_scans.exists())


def _missing(mbr_step: Step, current: dict[str, BatchEntry], scans, uses, samples, identity_needed: bool) -> list[str]:
    verify = {p.id for p in mbr_step.parameters if p.verify}
    return execution.missing(
        mbr_step, entered=current.keys(), scanned_kinds={s.kind for s in scans}, used_lines={u.line for u in uses},
        sampled={s.point for s in samples},
        unverified=[p for p, e in current.items() if p in verify and e.verified_by_id is None],
        identity_needed=identity_needed)


def missing(step: BatchStep, mbr_step: Step) -> list[str]:
    """What the step still lacks before it can be completed."""
    return _missing(mbr_step, _current(_step_entries(step)), step.equipment_scans.all(), step.material_uses.all(),
                    step.samples.all(), _identity_needed(step, mbr_step))


def step_data_hash(step: BatchStep) -> str:
    """SHA-256 over canonical JSON of the step's current entries, scans, uses and samples."""
    current = sorted(_current(list(step.entries.all())).values(), key=lambda e: e.parameter)
    return execution.data_hash(
        entries=[{"parameter": e.parameter, "value": e.value, "number": e.number, "unit": e.unit,
                  "outcome": e.outcome, "comment": e.comment, "recorded_by": e.recorded_by_id,
                  "recorded_at": e.recorded_at, "corrects": e.corrects_id} for e in current],
        scans=[{"equipment": s.equipment_id, "kind": s.kind, "scanned_by": s.scanned_by_id, "scanned_at": s.scanned_at}
               for s in step.equipment_scans.order_by("id")],
        uses=[{"line": u.line, "lot": u.lot_id, "quantity": u.quantity, "unit": u.unit, "used_by": u.used_by_id,
               "used_at": u.used_at} for u in step.material_uses.order_by("id")],
        samples=[{"point": s.point, "number": s.number, "taken_by": s.taken_by_id, "taken_at": s.taken_at}
                 for s in step.samples.order_by("id")],
        identity_scans=[{"scanned": s.scanned, "scanned_by": s.scanned_by_id, "scanned_at": s.scanned_at}
                        for s in step.identity_scans.order_by("id")])


@dataclass
class ParameterState:
    parameter: Parameter
    limits: str  # the MBR's limits in words, shown beside the field
    entry: BatchEntry | None  # the current value
    history: list[BatchEntry] = field(default_factory=list)  # the values it replaced, oldest first (A11-7)

    @property
    def awaiting_verification(self) -> bool:
        return self.parameter.verify and self.entry is not None and self.entry.verified_by_id is None


@dataclass
class MaterialLineState:
    index: int
    material: str
    quantity: Decimal | None  # the BOM formula at the batch's scale
    unit: str
    uses: list[MaterialUse]


@dataclass
class StepDetail:
    """Everything the operator screen shows for one step."""

    step: BatchStep
    definition: Step
    can_start: bool
    waiting_for: list[str]
    parameters: list[ParameterState]
    scans: list[EquipmentScan]
    materials: list[MaterialLineState]
    samples: list[BatchSample]
    identity_scans: list[PatientMaterialScan]
    identity_needed: bool  # the step handles the patient's material of an autologous batch
    missing: list[str]

    @property
    def can_complete(self) -> bool:
        return self.step.status == BatchStep.Status.IN_PROGRESS and not self.missing


def _history(entry: BatchEntry | None, by_pk: dict[int, BatchEntry]) -> list[BatchEntry]:
    chain = []
    while entry is not None and entry.corrects_id:
        entry = by_pk.get(entry.corrects_id)
        if entry is not None:
            chain.append(entry)
    return list(reversed(chain))


def step_detail(batch: Batch, key: str) -> StepDetail:
    step = BatchStep.objects.select_related("started_by", "completed_by").filter(batch=batch, key=str(key)).first()
    if step is None:
        raise NotFound(f"{batch} has no step '{str(key)[:32]}'.")
    step.batch = batch
    definition = definition_of(batch)
    mbr_step = definition.step(step.key)
    statuses = dict(BatchStep.objects.filter(batch=batch).values_list("key", "status"))
    entries = _step_entries(step)
    current = _current(entries)
    by_pk = {e.pk: e for e in entries}
    scans = list(step.equipment_scans.select_related("equipment", "scanned_by"))
    uses = list(step.material_uses.select_related("lot", "used_by"))
    samples = list(step.samples.select_related("taken_by"))
    identity_scans = list(step.identity_scans.select_related("scanned_by"))
    materials = []
    for index, line in enumerate(mbr_step.materials):
        try:
            quantity = entry_rules.material_quantity(line, batch.scale)
        except ValueError:  # an MBR formula that cannot be evaluated at this scale: shown as unknown
            quantity = None
        materials.append(MaterialLineState(index, line.material, quantity, line.unit,
                                           [u for u in uses if u.line == index]))
    return StepDetail(
        step=step, definition=mbr_step, can_start=execution.can_start(mbr_step, statuses),
        waiting_for=execution.waiting_for(mbr_step, statuses),
        parameters=[ParameterState(p, entry_rules.limits_text(p), current.get(p.id), _history(current.get(p.id), by_pk))
                    for p in mbr_step.parameters],
        scans=scans, materials=materials, samples=samples, identity_scans=identity_scans,
        identity_needed=bool(mbr_step.patient_material and batch.patient_reference),
        missing=_missing(mbr_step, current, scans, uses, samples,
                         bool(mbr_step.patient_material and batch.patient_reference and not identity_scans)))


# --- Review and record (H5) ---

BATCH_RECORD_FORMAT = "opencdmo-batch-record/1"
# QA dispositions exceptions as they come (an override can precede the start), until the review is signed.
DISPOSITION_STATES = ("planned", "in_progress", "on_hold", "completed")
BATCH_RECORD_SCHEMA = Path(__file__).parent / "schemas" / "batch-record-1.schema.json"
REVIEW_TASKS = 20  # batches listed in 'My tasks'; the batch list shows the rest


@lru_cache(maxsize=1)
def batch_record_schema() -> dict:
    """The published JSON Schema (draft 2020-12) every batch record export validates against."""
    return json.loads(BATCH_RECORD_SCHEMA.read_text(encoding="utf-8"))


def _iso(value) -> str | None:
    return value.astimezone(dt.UTC).isoformat() if value is not None else None


def _person(user) -> dict | None:
    return {"username": user.username, "name": user.full_name} if user is not None else None


def _decimal(value) -> str | None:
    return str(value) if value is not None else None


def _range(limits: Range | None) -> dict | None:
    if limits is None:
        return None
    return {"low": _decimal(limits.low), "high": _decimal(limits.high), "low_inclusive": limits.low_inclusive,
            "high_inclusive": limits.high_inclusive, "text": entry_rules.range_text(limits)}


def _signature(signature, valid: bool) -> dict:
    return {"meaning": signature.meaning, "printed_name": signature.printed_name,
            "username": signature.signer.username, "signed_at": _iso(signature.signed_at),
            "record_type": signature.record_type, "record_id": signature.record_id,
            "record_version": signature.record_version, "content_hash": signature.content_hash, "valid": valid,
            "comment": signature.comment}


def signatures_by_record(records) -> dict[tuple[str, str], list[dict]]:
    """The signatures of many records in one query, each with whether its record still has the
    content signed: `core.signatures.with_validity` for a whole batch record at once."""
    wanted: dict[str, dict[str, object]] = defaultdict(dict)
    for record in records:
        wanted[audit.record_type(record)][str(record.pk)] = record
    if not wanted:
        return {}
    query = Q()
    for type_name, by_id in wanted.items():
        query |= Q(record_type=type_name, record_id__in=list(by_id))
    found: dict[tuple[str, str], list[dict]] = defaultdict(list)
    current: dict[tuple[str, str], str] = {}
    for signature in Signature.objects.filter(query).select_related("signer").order_by("signed_at", "id"):
        key = (signature.record_type, signature.record_id)
        if key not in current:
            current[key] = content_hash(wanted[signature.record_type][signature.record_id])
        found[key].append(_signature(signature, signature.content_hash == current[key]))
    return found


def _signed(signed: dict, record) -> list[dict]:
    return signed.get((audit.record_type(record), str(record.pk)), [])


def _deviation(deviation) -> dict | None:
    if deviation is None:
        return None
    return {"number": deviation.number, "status": deviation.status,
            "status_label": deviation_workflow.label(deviation.status)}


def exception_data(exception) -> dict:
    return {
        "id": exception.pk, "kind": exception.kind, "kind_label": exception.get_kind_display(),
        "step": exception.step.key if exception.step_id else None, "entry": exception.entry_id,
        "override": exception.override_id, "deviation": _deviation(exception.deviation),
        "description": exception.description, "raised_at": _iso(exception.raised_at),
        "raised_by": _person(exception.raised_by), "status": exception.status, "disposition": exception.disposition,
        "dispositioned_at": _iso(exception.dispositioned_at), "dispositioned_by": _person(exception.dispositioned_by),
    }


def _exceptions_of(batch):
    return (batch.exceptions.select_related("step", "entry", "deviation", "raised_by", "dispositioned_by",
                                            "override__overridden_by")
            .order_by("raised_at", "id"))


def batch_record(batch: Batch) -> dict:
    """The complete batch record as JSON-able data, format `opencdmo-batch-record/1` (P11-1b): the
    source of the PDF and of the JSON export. A fixed number of queries, whatever the batch's size."""
    batch = Batch.objects.select_related("product", "sponsor", "mbr_version__mbr", "room", "created_by").get(pk=batch.pk)
    definition = definition_of(batch)
    parameters = definition.parameters()
    steps = list(batch.steps.select_related("started_by", "completed_by").order_by("position"))
    entries = list(batch.entries.select_related("recorded_by", "verified_by").order_by("recorded_at", "id"))
    overrides = list(batch.overrides.select_related("step", "overridden_by"))
    exceptions = list(_exceptions_of(batch))
    signed = signatures_by_record([batch, *steps, *entries, *overrides])
    corrected_by = {e.corrects_id: e.pk for e in entries if e.corrects_id}
    by_step = defaultdict(lambda: {"entries": [], "equipment": [], "materials": [], "samples": [],
                                   "identity_scans": []})
    for e in entries:
        parameter = parameters.get(e.parameter)
        by_step[e.step_id]["entries"].append({
            "id": e.pk, "parameter": e.parameter, "label": parameter.label if parameter else e.parameter,
            "value": e.value, "unit": e.unit, "outcome": e.outcome,
            "target": parameter.target if parameter else "",
            "normal": _range(parameter.normal if parameter else None),
            "acceptable": _range(parameter.acceptable if parameter else None),
            "criticality": parameter.criticality if parameter else "none",
            "comment": e.comment, "recorded_at": _iso(e.recorded_at), "recorded_by": _person(e.recorded_by),
            "verified_at": _iso(e.verified_at), "verified_by": _person(e.verified_by), "late_reason": e.late_reason,
            "stated_activity_at": _iso(e.stated_activity_at), "corrects": e.corrects_id,
            "corrected_by": corrected_by.get(e.pk), "correction_reason": e.correction_reason,
            "changed_since_original": bool(e.corrects_id or e.pk in corrected_by), "signatures": _signed(signed, e),
        })
    for scan in batch.equipment_scans.select_related("equipment", "scanned_by"):
        by_step[scan.step_id]["equipment"].append({
            "equipment": scan.equipment.number, "name": scan.equipment.name, "kind": scan.kind,
            "scanned_at": _iso(scan.scanned_at), "scanned_by": _person(scan.scanned_by)})
    for scan in batch.identity_scans.select_related("scanned_by"):
        by_step[scan.step_id]["identity_scans"].append({
            "scanned": scan.scanned, "scanned_at": _iso(scan.scanned_at), "scanned_by": _person(scan.scanned_by)})
    for use in batch.material_uses.select_related("lot__material", "used_by"):
        by_step[use.step_id]["materials"].append({
            "line": use.line, "lot": use.lot.number,
            "material": {"code": use.lot.material.code, "name": use.lot.material.name},
            "quantity": _decimal(use.quantity), "unit": use.unit, "used_at": _iso(use.used_at),
            "used_by": _person(use.used_by)})
    for sample in batch.samples.select_related("taken_by"):
        by_step[sample.step_id]["samples"].append({
            "number": sample.number, "point": sample.point, "name": sample.name,
            "quantity": _decimal(sample.quantity), "unit": sample.unit, "status": sample.status,
            "taken_at": _iso(sample.taken_at), "taken_by": _person(sample.taken_by)})
    stages: list[dict] = []
    for step in steps:
        stage = definition.stage_of(step.key)
        if not stages or stages[-1]["id"] != stage.id:
            stages.append({"id": stage.id, "name": stage.name, "steps": []})
        stages[-1]["steps"].append({
            "key": step.key, "position": step.position, "name": step.name, "status": step.status,
            "optional": definition.step(step.key).optional, "started_at": _iso(step.started_at),
            "started_by": _person(step.started_by), "completed_at": _iso(step.completed_at),
            "completed_by": _person(step.completed_by), "skip_reason": step.skip_reason,
            **by_step[step.pk], "signatures": _signed(signed, step)})
    version = batch.mbr_version
    return {
        "format": BATCH_RECORD_FORMAT,
        "generated_at": _iso(clock.now()),
        "batch": {
            "number": batch.number, "status": batch.status, "status_label": batch_workflow.label(batch.status),
            "version": batch.version, "product": {"code": batch.product.code, "name": batch.product.name},
            "sponsor": {"code": batch.sponsor.code, "name": batch.sponsor.name},
            "mbr": {"number": version.number, "version_number": version.version_number, "version": version.label,
                    "title": version.mbr.title},
            "scale": _decimal(batch.scale), "scale_unit": batch.scale_unit,
            "room": {"code": batch.room.code, "name": batch.room.name}, "patient_reference": batch.patient_reference,
            "planned_start": batch.planned_start.isoformat() if batch.planned_start else None,
            "created_at": _iso(batch.created_at), "created_by": _person(batch.created_by),
            "started_at": _iso(batch.started_at), "completed_at": _iso(batch.completed_at),
            "reviewed_at": _iso(batch.reviewed_at),
        },
        "stages": stages,
        "overrides": [{
            "id": o.pk, "step": o.step.key if o.step_id else None, "interlock": o.interlock, "subject": o.subject,
            "refusal": o.refusal, "reason": o.reason, "overridden_at": _iso(o.overridden_at),
            "overridden_by": _person(o.overridden_by), "signatures": _signed(signed, o)} for o in overrides],
        "exceptions": [exception_data(x) for x in exceptions],
        "signatures": _signed(signed, batch),
    }


@dataclass(frozen=True)
class ReviewItem:
    """One exception as the reviewer sees it, with what is needed to judge it without leaving the page."""

    exception: BatchException
    parameter: str = ""
    limits: str = ""
    deviation_status: str = ""
    signatures: tuple = ()


def review(user, batch: Batch) -> dict:
    """What the review by exception shows: only the exceptions, grouped by kind, each with its step,
    value, limits, comment, people and times, deviation and override signature; the progress; and why
    the review cannot be signed yet, if it cannot."""
    require_to_see(user, "batches.view")
    definition = definition_of(batch)
    parameters = definition.parameters()
    exceptions = list(_exceptions_of(batch).select_related("entry__recorded_by", "entry__verified_by"))
    signed = signatures_by_record([x.override for x in exceptions if x.override_id])
    groups: dict[str, list[ReviewItem]] = {kind: [] for kind in BatchException.Kind.values}
    for x in exceptions:
        parameter = parameters.get(x.entry.parameter) if x.entry_id else None
        groups[x.kind].append(ReviewItem(
            exception=x, parameter=parameter.label if parameter else "",
            limits=entry_rules.limits_text(parameter) if parameter else "",
            deviation_status=deviation_workflow.label(x.deviation.status) if x.deviation_id else "",
            signatures=tuple(_signed(signed, x.override) if x.override_id else ())))
    total = len(exceptions)
    open_count = sum(1 for x in exceptions if x.status == BatchException.Status.OPEN)
    steps = dict(batch.steps.values_list("status").annotate(n=Count("id")))
    executed = reviewer_did_not_execute(batch, user)
    blockers = [why for why in (_review_state(batch, user), no_open_exception(batch, user), executed) if why]
    return {
        "batch": batch,
        "groups": [(BatchException.Kind(kind).label, items) for kind, items in groups.items() if items],
        "total": total, "open": open_count, "dispositioned": total - open_count,
        "steps": {label: steps[status] for status, label in BatchStep.Status.choices if steps.get(status)},
        "step_count": sum(steps.values()),
        "identity_scans": list(batch.identity_scans.select_related("step", "scanned_by")),
        "may_disposition": user.has_permission("batches.review") and batch.status in DISPOSITION_STATES
                           and executed is None,
        "may_sign": user.has_permission("batches.review") and not blockers,
        "blockers": blockers,
    }


def _review_state(batch, user):
    if batch.status != "completed":
        return f"{batch} is {batch_workflow.label(batch.status).lower()}: the review is signed once the batch is completed."
    return None


def exception_of(user, number: str, exception_id: int) -> BatchException:
    """One exception of a batch the user may see (NotFound otherwise, the same as a missing one)."""
    require_to_see(user, "batches.view")
    if not 0 < int(exception_id) < 2**63:  # beyond any row id (and beyond what SQLite can compare)
        raise NotFound("No exception of this batch has that number.")
    return get_scoped(BatchException.objects.select_related("batch", "deviation"), user,
                      batch__number=number, pk=exception_id)


def review_tasks(user) -> list[Task]:
    """QA: completed batches awaiting the review by exception that the user did not execute."""
    if not user.has_permission("batches.review"):
        return []
    waiting = (scoped(Batch, user).filter(status="completed")
               .annotate(open_exceptions=Count("exceptions", filter=Q(exceptions__status="open")))
               .order_by("completed_at", "id"))
    tasks = []
    for batch in waiting[:REVIEW_TASKS]:
        if user.pk in performers(batch):
            continue
        n = batch.open_exceptions
        tasks.append(Task(title="Review batch record", record=batch.number,
                          url=reverse("batches:review", args=[batch.number]), status=batch.status,
                          status_label=batch_workflow.label(batch.status),
                          detail=f"{n} open exception{'' if n == 1 else 's'}" if n else "no open exception"))
    return tasks


def printable(record: dict) -> dict:
    """The batch record as the PDF prints it: every time in the site's zone with its offset (P11-3),
    and the corrections trail, each correction beside the original value it replaced (A11-7)."""
    def local(node):
        if isinstance(node, dict):
            return {key: local_time(dt.datetime.fromisoformat(value)) if key.endswith("_at") and isinstance(value, str)
                    else local(value) for key, value in node.items()}
        if isinstance(node, list):
            return [local(value) for value in node]
        return node

    shown = local(record)
    entries = {e["id"]: (step["key"], e) for stage in shown["stages"] for step in stage["steps"] for e in step["entries"]}
    shown["corrections"] = [{"step": key, "original": entries[e["corrects"]][1], "correction": e}
                            for key, e in entries.values() if e["corrects"] in entries]
    return shown


def batch_record_pdf(batch: Batch, *, printed_by, request=None) -> bytes:
    """The human-readable copy of the batch record (P11-1b): cover, every step, overrides,
    exceptions, corrections trail, signature manifestations; page x of y on every page."""
    record = batch_record(batch)
    return render_pdf("batches/record_pdf.html", {
        "record": printable(record), "printed_by": printed_by, "printed_at": local_time(clock.now()),
        "open_exceptions": sum(1 for x in record["exceptions"] if x["status"] == "open"),
    }, request=request)
