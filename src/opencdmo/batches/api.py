"""Batch records over HTTP. Thin: selectors and services do the work.

Writes from an execution client carry a `submission_id` (a UUID the client makes once per
entry): sending the same request again, e.g. after a lost answer, returns the row made the
first time, with the same status and body, and writes nothing."""

import datetime as dt
import functools
from decimal import Decimal
from typing import Literal

from django.http import HttpResponse, JsonResponse
from ninja import Field, Query, Router, Schema, Status
from ninja.pagination import paginate

from opencdmo.core.access import require
from opencdmo.core.api import Pagination
from opencdmo.core.errors import NotFound
from opencdmo.core.signatures import SignatureInput
from opencdmo.facilities import selectors as facility_selectors
from opencdmo.processes import selectors as process_selectors

from . import selectors, services
from .services import Interlocked
from .workflows import batch_workflow

router = Router(tags=["Batch records"])

SubmissionId = Field(min_length=8, max_length=64, description="idempotency key: a UUID made once per submission")


def _may_view(request) -> None:
    require(request.user, "batches.view", to="see this")


def interlocks(handler):
    """An interlock's refusal names what QA would override: the interlock, the subject and the step."""

    @functools.wraps(handler)
    def wrapper(request, *args, **kwargs):
        try:
            return handler(request, *args, **kwargs)
        except Interlocked as exc:
            return JsonResponse({"detail": exc.message, "interlock": exc.interlock, "subject": exc.subject,
                                 "step": exc.step_key}, status=exc.status)

    return wrapper


# --- Schemas ---

class StepOut(Schema):
    key: str
    position: int
    stage: str
    name: str
    status: str
    started_at: dt.datetime | None
    started_by: str | None = Field(None, alias="started_by.username")
    completed_at: dt.datetime | None
    completed_by: str | None = Field(None, alias="completed_by.username")
    skip_reason: str


class BatchOut(Schema):
    number: str
    product: str = Field(alias="product.code")
    sponsor: str = Field(alias="sponsor.code")
    mbr_version: str = Field(alias="mbr_version.number")
    scale: Decimal
    scale_unit: str
    room: str = Field(alias="room.code")
    patient_reference: str
    planned_start: dt.date | None
    status: str
    status_label: str
    version: int
    created_at: dt.datetime
    started_at: dt.datetime | None
    completed_at: dt.datetime | None
    reviewed_at: dt.datetime | None

    @staticmethod
    def resolve_status_label(obj):
        return batch_workflow.label(obj.status)


class BatchDetailOut(BatchOut):
    steps: list[StepOut]
    available_steps: list[str] = Field(description="keys of the steps that may start now (parallel branches)")
    open_exceptions: int

    @staticmethod
    def resolve_steps(obj):
        return list(selectors.step_states(obj))

    @staticmethod
    def resolve_available_steps(obj):
        return list(selectors.next_step_keys(obj))

    @staticmethod
    def resolve_open_exceptions(obj):
        return obj.exceptions.filter(status="open").count()


class EntryOut(Schema):
    id: int
    step: str = Field(alias="step.key")
    parameter: str
    value: str
    unit: str
    outcome: str
    comment: str
    recorded_at: dt.datetime
    recorded_by: str = Field(alias="recorded_by.username")
    corrects: int | None = Field(None, alias="corrects_id")
    correction_reason: str
    late_reason: str
    stated_activity_at: dt.datetime | None
    verified_by: str | None = Field(None, alias="verified_by.username")
    verified_at: dt.datetime | None
    submission_id: str


class ScanOut(Schema):
    id: int
    step: str = Field(alias="step.key")
    equipment: str = Field(alias="equipment.number")
    kind: str
    scanned_at: dt.datetime
    scanned_by: str = Field(alias="scanned_by.username")
    submission_id: str


class MaterialUseOut(Schema):
    id: int
    step: str = Field(alias="step.key")
    line: int
    lot: str = Field(alias="lot.number")
    quantity: Decimal
    unit: str
    used_at: dt.datetime
    used_by: str = Field(alias="used_by.username")
    submission_id: str


class SampleOut(Schema):
    number: str
    step: str = Field(alias="step.key")
    point: str
    name: str
    quantity: Decimal | None
    unit: str
    taken_at: dt.datetime
    taken_by: str = Field(alias="taken_by.username")


class StepDetailOut(StepOut):
    entries: list[EntryOut] = Field(description="every entry, corrected ones included (see `corrects`)")
    equipment: list[ScanOut]
    materials: list[MaterialUseOut]
    samples: list[SampleOut]

    @staticmethod
    def resolve_entries(obj):
        return list(obj.entries.select_related("step", "recorded_by", "verified_by"))

    @staticmethod
    def resolve_equipment(obj):
        return list(obj.equipment_scans.select_related("step", "equipment", "scanned_by"))

    @staticmethod
    def resolve_materials(obj):
        return list(obj.material_uses.select_related("step", "lot", "used_by"))

    @staticmethod
    def resolve_samples(obj):
        return list(obj.samples.select_related("step", "taken_by"))


class OverrideOut(Schema):
    id: int
    step: str | None = Field(None, alias="step.key")
    interlock: str
    subject: str
    refusal: str
    reason: str
    overridden_at: dt.datetime
    overridden_by: str = Field(alias="overridden_by.username")


class BatchFilter(Schema):
    status: str = Field("", max_length=32)
    product: str = Field("", max_length=64)
    sponsor: str = Field("", max_length=64)
    q: str = Field("", max_length=100)
    sort: Literal["number", "-number", "status", "-status", "planned", "-planned"] = "-number"


SORTS = {"number": ("number",), "-number": ("-number",), "status": ("status", "number"),
         "-status": ("-status", "-number"), "planned": ("planned_start", "number"),
         "-planned": ("-planned_start", "-number")}


class BatchIn(Schema):
    mbr_version: str = Field(max_length=64, description="number of the effective MBR version")
    scale: Decimal = Field(gt=0, max_digits=20, decimal_places=6)
    room: str = Field(max_length=16, description="room code")
    number: str = Field("", max_length=40)
    patient_reference: str = Field("", max_length=64)
    planned_start: dt.date | None = None


class SignatureIn(Schema):
    username: str = Field("", description="your user ID: every API signature re-enters both components")
    password: str = ""
    comment: str = ""


class TransitionIn(SignatureIn):
    reason: str = ""


class EntryIn(Schema):
    parameter: str = Field(max_length=64)
    value: str = Field(max_length=10000)
    submission_id: str = SubmissionId
    comment: str = ""
    late_reason: str = ""
    stated_activity_at: dt.datetime | None = Field(
        None, description="a late entry: when the performer says it happened (the server still stamps its own time)")


class CorrectionIn(Schema):
    value: str = Field(max_length=10000)
    reason: str
    submission_id: str = SubmissionId
    comment: str = ""


class ScanIn(Schema):
    scanned: str = Field(max_length=200, description="the equipment's scanned code")
    submission_id: str = SubmissionId


class IdentityScanIn(Schema):
    scanned: str = Field(max_length=2000, description="the chain of identity label as scanned: its Data Matrix, "
                                                      "or its chain of identity barcode (&/CH…)")
    submission_id: str = SubmissionId


class IdentityScanOut(Schema):
    id: int
    step: str = Field(alias="step.key")
    scanned: str
    scanned_at: dt.datetime
    scanned_by: str = Field(alias="scanned_by.username")
    submission_id: str


class MaterialIn(Schema):
    line: int = Field(ge=0, le=1000, description="index of the step's bill-of-materials line")
    lot: str = Field(max_length=200, description="the lot's scanned code")
    quantity: Decimal | None = Field(None, gt=0, max_digits=20, decimal_places=6)
    unit: str = Field("", max_length=32)
    submission_id: str = SubmissionId


class SampleIn(Schema):
    point: str = Field(max_length=64, description="the MBR sampling point id")
    submission_id: str = SubmissionId


class ReasonIn(Schema):
    reason: str


class OverrideIn(SignatureIn):
    step: str | None = Field(None, max_length=32, description="step key, when the refusal was at a step")
    interlock: Literal["equipment", "material", "training", "room", "line_clearance"]
    subject: str = Field(max_length=200)
    refusal: str = Field(description="the refusal's message, as the operator saw it")
    reason: str


def _signature(payload: SignatureIn, meaning: str) -> SignatureInput:
    return SignatureInput(meaning=meaning, password=payload.password, username=payload.username,
                          comment=payload.comment)


def _batch(request, number: str):
    return selectors.batch(request.user, number)


def _entry(batch, entry_id: int):
    entry = batch.entries.filter(pk=entry_id).first()
    if entry is None:
        raise NotFound(f"{batch.number} has no entry {entry_id}.")
    return entry


def _step(batch, key: str):
    step = batch.steps.select_related("started_by", "completed_by").filter(key=key).first()
    if step is None:
        raise NotFound(f"{batch.number} has no step '{key}'.")
    return step


# --- Batches ---

@router.get("/batches", response=list[BatchOut], summary="Batches, filtered and sorted")
@paginate(Pagination)
def batches(request, filters: Query[BatchFilter]):
    _may_view(request)
    f = filters.dict()
    return selectors.batches_for(request.user, status=f["status"], product=f["product"], sponsor=f["sponsor"],
                                 text=f["q"]).order_by(*SORTS[f["sort"]])


@router.post("/batches", response={201: BatchDetailOut}, summary="Plan a batch from an effective MBR version")
def create_batch(request, payload: BatchIn):
    user = request.user
    require(user, "batches.plan", to="plan a batch")
    batch = services.create_batch(
        user, mbr_version=process_selectors.version(user, payload.mbr_version), scale=payload.scale,
        room=facility_selectors.room(user, payload.room), number=payload.number,
        patient_reference=payload.patient_reference, planned_start=payload.planned_start)
    return Status(201, batch)


@router.get("/batches/{number}", response=BatchDetailOut)
def batch(request, number: str):
    _may_view(request)
    return _batch(request, number)


@router.post("/batches/{number}/overrides", response={201: OverrideOut},
             summary="QA overrides an interlock (reason and signature 'Approved'; becomes an exception)")
@interlocks
def override_interlock(request, number: str, payload: OverrideIn):
    return Status(201, services.override_interlock(
        request.user, _batch(request, number), step_key=payload.step, interlock=payload.interlock,
        subject=payload.subject, refusal=payload.refusal, reason=payload.reason,
        signature=_signature(payload, "Approved"), first_in_session=True))


@router.post("/batches/{number}/{action}", response=BatchDetailOut,
             summary="Start, hold, resume, complete (signature 'Performed') or cancel a batch")
@interlocks
def transition_batch(request, number: str, action: Literal["start", "hold", "resume", "complete", "cancel"],
                     payload: TransitionIn):
    transition = batch_workflow.get(action)
    signature = _signature(payload, transition.signature) if transition.signature else None
    return services.transition_batch(request.user, _batch(request, number), action, signature=signature,
                                     first_in_session=True, reason=payload.reason)


# --- Steps ---

@router.get("/batches/{number}/steps/{key}", response=StepDetailOut,
            summary="A step with its entries, equipment, materials and samples")
def step(request, number: str, key: str):
    _may_view(request)
    return _step(_batch(request, number), key)


@router.post("/batches/{number}/steps/{key}/start", response=StepOut, summary="Start a step")
@interlocks
def start_step(request, number: str, key: str):
    return services.start_step(request.user, _batch(request, number), key)


@router.post("/batches/{number}/steps/{key}/entries", response={201: EntryOut},
             summary="Record a parameter's value (idempotent by submission_id)")
@interlocks
def record_entry(request, number: str, key: str, payload: EntryIn):
    return Status(201, services.record_entry(
        request.user, _batch(request, number), key, payload.parameter, value=payload.value,
        submission_id=payload.submission_id, comment=payload.comment, late_reason=payload.late_reason,
        stated_activity_at=payload.stated_activity_at))


@router.post("/batches/{number}/steps/{key}/equipment", response={201: ScanOut},
             summary="Scan a piece of equipment used at the step (idempotent by submission_id)")
@interlocks
def scan_equipment(request, number: str, key: str, payload: ScanIn):
    return Status(201, services.scan_equipment(request.user, _batch(request, number), key,
                                               scanned=payload.scanned, submission_id=payload.submission_id))


@router.post("/batches/{number}/steps/{key}/identity-scans", response={201: IdentityScanOut},
             summary="Scan the chain of identity label of the patient's material (idempotent by submission_id); "
                     "another patient's label is refused (422) and raises a deviation")
def scan_patient_material(request, number: str, key: str, payload: IdentityScanIn):
    return Status(201, services.scan_patient_material(request.user, _batch(request, number), key,
                                                      scanned=payload.scanned, submission_id=payload.submission_id))


@router.post("/batches/{number}/steps/{key}/materials", response={201: MaterialUseOut},
             summary="Use a lot against a bill-of-materials line (idempotent by submission_id)")
@interlocks
def use_material(request, number: str, key: str, payload: MaterialIn):
    return Status(201, services.use_material(request.user, _batch(request, number), key, line=payload.line,
                                             scanned_lot=payload.lot, quantity=payload.quantity, unit=payload.unit,
                                             submission_id=payload.submission_id))


@router.post("/batches/{number}/steps/{key}/samples", response={201: SampleOut},
             summary="Take the sample of a sampling point (idempotent by submission_id)")
@interlocks
def take_sample(request, number: str, key: str, payload: SampleIn):
    return Status(201, services.take_sample(request.user, _batch(request, number), key, payload.point,
                                            submission_id=payload.submission_id))


@router.post("/batches/{number}/steps/{key}/skip", response=StepOut, summary="Skip an optional step, with a reason")
def skip_step(request, number: str, key: str, payload: ReasonIn):
    return services.skip_step(request.user, _batch(request, number), key, reason=payload.reason)


@router.post("/batches/{number}/steps/{key}/complete", response=StepOut,
             summary="Complete a step (signature 'Performed': user ID and password)")
@interlocks
def complete_step(request, number: str, key: str, payload: SignatureIn):
    return services.complete_step(request.user, _batch(request, number), key,
                                  signature=_signature(payload, "Performed"), first_in_session=True)


# --- Entries ---

@router.post("/batches/{number}/entries/{entry_id}/corrections", response={201: EntryOut},
             summary="Correct an entry: a new entry replaces it, the original stays (idempotent by submission_id)")
def correct_entry(request, number: str, entry_id: int, payload: CorrectionIn):
    batch = _batch(request, number)
    return Status(201, services.correct_entry(request.user, _entry(batch, entry_id), value=payload.value,
                                              reason=payload.reason, submission_id=payload.submission_id,
                                              comment=payload.comment))


@router.post("/batches/{number}/entries/{entry_id}/verification", response=EntryOut,
             summary="Second-person verification of an entry (signature 'Verified': user ID and password)")
def verify_entry(request, number: str, entry_id: int, payload: SignatureIn):
    batch = _batch(request, number)
    return services.verify_entry(request.user, _entry(batch, entry_id), signature=_signature(payload, "Verified"),
                                 first_in_session=True)


# --- Review by exception and record (H5) ---

class ReviewPersonOut(Schema):
    username: str
    name: str


class ReviewDeviationOut(Schema):
    number: str
    status: str
    status_label: str


class BatchExceptionOut(Schema):
    id: int
    kind: str
    kind_label: str
    step: str | None
    entry: int | None
    override: int | None
    deviation: ReviewDeviationOut | None
    description: str
    raised_at: dt.datetime
    raised_by: ReviewPersonOut
    status: str
    disposition: str
    dispositioned_at: dt.datetime | None
    dispositioned_by: ReviewPersonOut | None


class ReviewOut(Schema):
    batch: str
    status: str
    total: int
    open: int
    dispositioned: int
    may_sign: bool
    blockers: list[str]
    exceptions: list[BatchExceptionOut]


class DispositionIn(Schema):
    disposition: str


@router.get("/batches/{number}/review/exceptions", response=ReviewOut, summary="The review by exception: every exception, "
            "its disposition, and why the review cannot be signed yet")
def get_review(request, number: str):
    batch = selectors.batch(request.user, number)
    review = selectors.review(request.user, batch)
    return {**review, "batch": batch.number, "status": batch.status,
            "exceptions": [selectors.exception_data(item.exception) for _, items in review["groups"] for item in items]}


@router.post("/batches/{number}/exceptions/{exception_id}/disposition", response=BatchExceptionOut,
             summary="Disposition one exception (QA)")
def disposition_exception(request, number: str, exception_id: int, payload: DispositionIn):
    exception = selectors.exception_of(request.user, number, exception_id)
    exception = services.disposition_exception(request.user, exception, disposition=payload.disposition)
    return selectors.exception_data(exception)


@router.get("/batches/{number}/record/json", response=dict, summary="The complete batch record as JSON "
            "(format opencdmo-batch-record/1, schema at /batches/schemas/batch-record-1.schema.json)")
def get_batch_record(request, number: str):
    _may_view(request)
    batch = selectors.batch(request.user, number)
    record = selectors.batch_record(batch)
    services.record_batch_record_export(request.user, batch, file_format="json")
    return record


@router.get("/batches/{number}/record/pdf", summary="The batch record as PDF",
            openapi_extra={"responses": {200: {"description": "The PDF", "content": {"application/pdf": {}}}}})
def get_batch_record_pdf(request, number: str):
    _may_view(request)
    batch = selectors.batch(request.user, number)
    pdf = selectors.batch_record_pdf(batch, printed_by=request.user, request=request)
    services.record_batch_record_export(request.user, batch, file_format="pdf")
    response = HttpResponse(pdf, content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="{batch.number}-batch-record.pdf"'
    return response
