"""Pages of batch records: the list, planning a batch, the overview and the operator screen.
Thin: parse input, call a service or selector, render. Every rule lives in the services."""

import datetime as dt
import uuid
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db.models import Count, Q
from django.http import HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse
from django.utils.dateparse import parse_datetime
from django.views.decorators.http import require_http_methods, require_POST

from opencdmo.core import registry, tasks
from opencdmo.core import selectors as core_selectors
from opencdmo.core.access import require_to_see
from opencdmo.core.errors import DomainError, NotFound, RuleViolation
from opencdmo.core.signatures import SignatureInput
from opencdmo.core.views import SIGNED_IN_SESSION, invalid_input, paginate, signer_at_screen, sort_headers
from opencdmo.facilities import selectors as facility_selectors
from opencdmo.facilities.models import Equipment
from opencdmo.identity import selectors as identity_selectors
from opencdmo.processes import selectors as process_selectors
from opencdmo.processes.domain import entries as entry_rules
from opencdmo.processes.domain.definition import CRITICALITY_LABELS, Range
from opencdmo.sponsors import selectors as sponsor_selectors

from . import selectors, services
from .models import Batch, BatchEntry, BatchException, BatchStep, InterlockOverride
from .services import Interlocked
from .workflows import batch_workflow

OVERRIDE_MEANING = "Approved"  # QA approves going ahead despite the interlock


def _submission_id() -> str:
    """A fresh idempotency key for each form rendered (templates call it once per form)."""
    return uuid.uuid4().hex


def _optional_url(name: str, *args) -> str | None:
    """The URL of a page another part of the batch record provides, once it exists."""
    try:
        return reverse(name, args=args)
    except NoReverseMatch:
        return None


def _decimal(value: str, label: str) -> Decimal | None:
    value = (value or "").strip()
    if not value:
        return None
    try:
        return Decimal(value)
    except InvalidOperation:
        raise RuleViolation(f"Write the {label} as a number, e.g. 1.5.") from None


def _date(value: str, label: str) -> dt.date | None:
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise RuleViolation(f"Write the {label} as YYYY-MM-DD.") from None


def _moment(value: str) -> dt.datetime | None:
    """When a late entry's performer says the activity happened (kept beside the server time)."""
    if not value:
        return None
    try:
        moment = parse_datetime(value)
    except ValueError:
        moment = None
    if moment is None:
        raise RuleViolation("Write when the activity took place as YYYY-MM-DD HH:MM.")
    return moment


# --- The list and planning ---

BATCH_COLUMNS = [("Number", "number"), ("Product", "product"), ("Sponsor", "sponsor"), ("MBR version", "mbr"),
                 ("Room", "room"), ("Planned start", "planned"), ("Status", "status")]
BATCH_ORDER = {"number": ("number",), "product": ("product__code", "number"), "sponsor": ("sponsor__code", "number"),
               "mbr": ("mbr_version__number", "number"), "room": ("room__code", "number"),
               "planned": ("planned_start", "number"), "status": ("status", "number")}


def _sorted(batches, sort: str):
    """The list sorted in the database, so that paging keeps the order."""
    fields = BATCH_ORDER.get(sort.lstrip("-"), ("number",))
    return batches.order_by(*(f"-{f}" if sort.startswith("-") else f for f in fields))


def _with_progress(rows) -> None:
    """Steps done of all and open exceptions of each batch on the page, in two grouped queries."""
    ids = [b.pk for b in rows]
    steps = {r["batch"]: r for r in BatchStep.objects.filter(batch__in=ids).values("batch").annotate(
        total=Count("id"), done=Count("id", filter=Q(status__in=("completed", "skipped"))))}
    exceptions = dict(BatchException.objects.filter(batch__in=ids, status="open").values("batch").annotate(
        n=Count("id")).values_list("batch", "n"))
    for b in rows:
        b.steps_total = steps.get(b.pk, {}).get("total", 0)
        b.steps_done = steps.get(b.pk, {}).get("done", 0)
        b.open_exceptions = exceptions.get(b.pk, 0)


@login_required
def batch_list(request):
    require_to_see(request.user, "batches.view")
    get = request.GET
    filters = {name: get.get(name, "").strip() for name in ("status", "product", "sponsor", "q", "sort")}
    sort = filters["sort"] or "-number"
    batches = selectors.batches_for(request.user, status=filters["status"], product=filters["product"],
                                    sponsor=filters["sponsor"], text=filters["q"])
    page = paginate(request, _sorted(batches, sort))
    _with_progress(page.object_list)
    for row in page.object_list:
        row.status_label = batch_workflow.label(row.status)
    return render(request, "batches/batches.html", {
        "page": page, "filters": filters, "states": batch_workflow.states,
        "products": sponsor_selectors.products_for(request.user),
        "sponsors": sponsor_selectors.sponsors_for(request.user).prefetch_related(None),
        "sort_headers": sort_headers(request, BATCH_COLUMNS, sort),
    })


def _effective_versions(user) -> list:
    """Effective MBR versions of the products the user may see, with their scale unit."""
    versions = []
    for mbr in process_selectors.mbrs_for(user):
        version = process_selectors.effective_version(mbr)
        if version is not None:
            version.scale_unit = process_selectors.definition_of(version).scale_unit
            version.autologous = mbr.product.modality == "autologous_cell"
            versions.append(version)
    return versions


@login_required
@require_http_methods(["GET", "POST"])
def batch_new(request):
    require_to_see(request.user, "batches.plan")
    user, post = request.user, request.POST
    error, status = "", 200
    if request.method == "POST":
        try:
            version = process_selectors.version(user, post.get("mbr_version", "").strip())
            room_code = post.get("room", "").strip()
            if not room_code:
                raise RuleViolation("Choose the room the batch is made in.")
            scale = _decimal(post.get("scale", ""), "scale")
            if scale is None:
                raise RuleViolation("Enter the batch scale.")
            batch = services.create_batch(
                user, mbr_version=version, scale=scale, room=facility_selectors.room(user, room_code),
                number=post.get("number", "").strip(), patient_reference=post.get("patient_reference", "").strip(),
                planned_start=_date(post.get("planned_start", ""), "planned start"))
            return redirect("batches:batch", number=batch.number)
        except DomainError as exc:
            error, status = exc.message, exc.status
        except ValidationError as exc:
            error, status = invalid_input(exc, Batch), 422
    return render(request, "batches/batch_form.html", {
        "form": post, "error": error, "versions": _effective_versions(user),
        "rooms": facility_selectors.rooms_for_choice(user),
    }, status=status)


# --- The batch overview ---

@dataclass
class StepRow:
    """A step of the batch as the pages show it: its MBR definition, its row, whether it may start now."""

    step: BatchStep
    definition: object
    available: bool = False
    status_label: str = ""


@dataclass
class StageRows:
    name: str
    steps: list[StepRow] = field(default_factory=list)


def _stages(batch, definition) -> tuple[list[StageRows], list[StepRow]]:
    running = batch.status == "in_progress"  # a step of a planned or held batch is not available
    stages: list[StageRows] = []
    rows = []
    for step in selectors.step_states(batch):
        row = StepRow(step=step, definition=definition.step(step.key), available=step.can_start and running,
                      status_label=step.get_status_display())
        if not stages or stages[-1].name != step.stage:
            stages.append(StageRows(step.stage))
        stages[-1].steps.append(row)
        rows.append(row)
    return stages, rows


def _record_links(batch) -> dict:
    return {name: _optional_url(f"batches:{name}", batch.number) for name in ("review", "record_pdf", "record_json")} | {
        "mbr_version": _optional_url("processes:version", batch.mbr_version.number)}


@login_required
def batch_detail(request, number):
    require_to_see(request.user, "batches.view")
    user = request.user
    batch = selectors.batch(user, number)
    definition = selectors.definition_of(batch)
    stages, rows = _stages(batch, definition)
    transitions, blocked = batch_workflow.actions(batch, user)
    return render(request, "batches/batch_detail.html", {
        "record": batch, "reference": batch.number, "kind": registry.kind("batches.batch"),
        "workflow": batch_workflow, "status_label": batch_workflow.label(batch.status),
        "transitions": transitions, "blocked": blocked,
        "signatures": core_selectors.record_signatures(user, batch),
        "definition": definition, "stages": stages,
        "done": sum(r.step.status in ("completed", "skipped") for r in rows), "total": len(rows),
        "open_exceptions": batch.exceptions.filter(status="open").count(),
        "samples": batch.samples.select_related("step", "taken_by"), "links": _record_links(batch),
        "may_execute": user.has_permission("batches.execute") and batch.status == "in_progress",
        # Starting the batch needs the room in operation and its line clearance: QA may override either.
        "start_interlocks": [(c, label) for c, label in InterlockOverride.Interlock.choices
                             if c in ("room", "line_clearance")] if batch.status == "planned" else [],
        "override_meaning": OVERRIDE_MEANING,
        "therapy": _therapy(user, batch),
    })


def _therapy(user, batch):
    """The therapy the batch is made for (its chain of custody and vein-to-vein timeline), if the
    user may read therapies."""
    if not batch.patient_reference or not user.has_permission("identity.view"):
        return None
    try:
        return identity_selectors.order_with_coi(user, batch.patient_reference)
    except NotFound:
        return None


@login_required
def sample_detail(request, number):
    require_to_see(request.user, "batches.view")
    kind, sample = core_selectors.record(request.user, "batches.batchsample", number)
    return render(request, "batches/sample_detail.html", {
        "record": sample, "reference": sample.number, "kind": kind,
        "signatures": core_selectors.record_signatures(request.user, sample),
    })


# --- The operator screen ---

def _range_data(prefix: str, r: Range | None) -> dict:
    """A range as data attributes for the limits preview in the browser."""
    if r is None:
        return {}
    return {f"{prefix}-low": "" if r.low is None else str(r.low),
            f"{prefix}-high": "" if r.high is None else str(r.high),
            f"{prefix}-low-inc": str(r.low_inclusive).lower(), f"{prefix}-high-inc": str(r.high_inclusive).lower()}


@dataclass
class ParameterRow:
    """A parameter of the step as the operator screen shows it (selectors.ParameterState), with
    its limits one by one and whether it holds the step's next action."""

    state: selectors.ParameterState
    primary: str = ""  # "record" or "verify" when this parameter holds the step's next action

    parameter = property(lambda self: self.state.parameter)
    entry = property(lambda self: self.state.entry)
    history = property(lambda self: self.state.history)
    awaiting_verification = property(lambda self: self.state.awaiting_verification)

    @property
    def normal_text(self) -> str:
        return entry_rules.range_text(self.parameter.normal) if self.parameter.normal else ""

    @property
    def acceptable_text(self) -> str:
        return entry_rules.range_text(self.parameter.acceptable) if self.parameter.acceptable else ""

    @property
    def criticality_label(self) -> str:
        return CRITICALITY_LABELS.get(self.parameter.criticality, "")

    @property
    def data(self) -> dict:
        p = self.parameter
        return {"type": p.type, **({"expected": p.expected} if p.expected else {}),
                **_range_data("nor", p.normal), **_range_data("par", p.acceptable)}


def _instructions(detail) -> list[tuple[str, list[ParameterRow]]]:
    """The step's instructions in order, each with its parameters."""
    states = {s.parameter.id: s for s in detail.parameters}
    return [(i.text, [ParameterRow(states[p.id]) for p in i.parameters]) for i in detail.definition.instructions]


def _next_action(row: StepRow | None, instructions, scans_missing: list, lines, *, identity: bool = False) -> str:
    """The one thing to do next on this step: its form carries the primary button (and the focus)."""
    if row is None:
        return ""
    status = row.step.status
    if status == "pending":
        return "start" if row.available else ""
    if status != "in_progress":
        return ""
    if identity:  # the patient's material is identified before anything is done with it
        return "identity"
    if scans_missing:
        return "scan"
    if missing := next((line.key for line in lines if not line.uses), None):
        return missing
    rows = [r for _, rs in instructions for r in rs]
    for what, waiting in (("record", lambda r: r.entry is None and r.parameter.type != "calculated"
                           and r.parameter.required), ("verify", lambda r: r.awaiting_verification)):
        if first := next((r for r in rows if waiting(r)), None):
            first.primary = what
            return what
    return "complete"


def _execute_context(request, batch, key: str = "", *, error: str = "", interlock: Interlocked | None = None) -> dict:
    definition = selectors.definition_of(batch)
    stages, rows = _stages(batch, definition)
    row = next((r for r in rows if r.step.key == key), None)
    if row is None and key:
        raise NotFound(f"{batch.number} has no step '{key[:32]}'.")
    if row is None:  # the step in progress, else the first one available now
        row = next((r for r in rows if r.step.status == "in_progress"), None) or next(
            (r for r in rows if r.available), None)
    context = {
        "batch": batch, "status_label": batch_workflow.label(batch.status), "stages": stages, "row": row,
        "error": error, "interlock": interlock, "submission_id": _submission_id,
        "first_in_session": not request.session.get(SIGNED_IN_SESSION, False),
        "override_meaning": OVERRIDE_MEANING,
        "yes_no": (("yes", "Yes"), ("no", "No")),
        "open_exceptions": batch.exceptions.filter(status="open").count(),
    }
    if row is None:
        return context
    detail = selectors.step_detail(batch, row.step.key)
    scanned_kinds = {s.kind for s in detail.scans}
    scans_missing = [k for k in detail.definition.equipment if k not in scanned_kinds]
    for line in detail.materials:
        line.key = f"material-{line.index}"
    instructions = _instructions(detail)
    samples = {s.point: s for s in detail.samples}
    context.update({
        "step": detail.step, "step_definition": detail.definition, "detail": detail, "instructions": instructions,
        "scans": detail.scans, "scans_missing": scans_missing, "lines": detail.materials,
        "equipment_needed": [(k, dict(Equipment.Kind.choices).get(k, k)) for k in detail.definition.equipment],
        "sampling_points": [(point, samples.get(point.id)) for point in detail.definition.samples],
        "identity_scans": detail.identity_scans, "identity_needed": detail.identity_needed,
        "next_action": _next_action(row, instructions, scans_missing, detail.materials,
                                    identity=detail.identity_needed and not detail.identity_scans),
    })
    return context


def _execute_page(request, batch, key: str = "", *, error: str = "", interlock=None, status: int = 200):
    return render(request, "batches/execute.html",
                  _execute_context(request, batch, key, error=error, interlock=interlock), status=status)


@login_required
def execute(request, number):
    require_to_see(request.user, "batches.view")
    batch = selectors.batch(request.user, number)
    return _execute_page(request, batch, request.GET.get("step", "").strip())


def _entry(batch, post) -> BatchEntry:
    pk = post.get("entry", "")
    entry = batch.entries.filter(pk=int(pk)).first() if pk.isdigit() else None
    if entry is None:
        raise NotFound(f"{batch.number} has no such entry.")
    return entry


def _signature(post, meaning: str) -> SignatureInput:
    return SignatureInput(meaning=meaning, password=post.get("password", ""), username=post.get("username", ""),
                          comment=post.get("comment", ""))


def _do(request, batch, key: str, action: str):
    """One form posted from the operator screen, handed to its service."""
    post, user = request.POST, request.user
    submission_id = post.get("submission_id", "").strip()
    if action == "start":
        return services.start_step(user, batch, key)
    if action == "record":
        return services.record_entry(
            user, batch, key, post.get("parameter", ""), value=post.get("value", ""), submission_id=submission_id,
            comment=post.get("comment", ""), late_reason=post.get("late_reason", ""),
            stated_activity_at=_moment(post.get("stated_activity_at", "")))
    if action == "correct":
        return services.correct_entry(user, _entry(batch, post), value=post.get("value", ""),
                                      reason=post.get("reason", ""), submission_id=submission_id,
                                      comment=post.get("comment", ""))
    if action == "verify":
        return services.verify_entry(signer_at_screen(post, "The second person"), _entry(batch, post),
                                     signature=_signature(post, "Verified"), first_in_session=True)
    if action == "scan":
        return services.scan_equipment(user, batch, key, scanned=post.get("scanned", "").strip(),
                                       submission_id=submission_id)
    if action == "identity":
        return services.scan_patient_material(user, batch, key, scanned=post.get("scanned", ""),
                                              submission_id=submission_id)
    if action == "material":
        line = post.get("line", "")
        if not line.isdigit():
            raise RuleViolation("Choose the bill-of-materials line the lot is used for.")
        return services.use_material(user, batch, key, line=int(line), scanned_lot=post.get("scanned", "").strip(),
                                     quantity=_decimal(post.get("quantity", ""), "quantity"),
                                     unit=post.get("unit", ""), submission_id=submission_id)
    if action == "sample":
        return services.take_sample(user, batch, key, post.get("point", ""), submission_id=submission_id)
    if action == "skip":
        return services.skip_step(user, batch, key, reason=post.get("reason", ""))
    if action == "complete":
        first = not request.session.get(SIGNED_IN_SESSION, False)
        done = services.complete_step(user, batch, key, signature=_signature(post, "Performed"),
                                      first_in_session=first)
        request.session[SIGNED_IN_SESSION] = True
        return done
    raise NotFound(f"There is no action '{action}' on a batch step.")


STEP_ACTIONS = ("start", "record", "correct", "verify", "scan", "identity", "material", "sample", "skip", "complete")


def _after(request, batch, key, run):
    """Run a posted action: back to the step when done, or the step again with the refusal."""
    try:
        run()
    except Interlocked as exc:
        return _execute_page(request, selectors.batch(request.user, batch.number), key, error=exc.message,
                             interlock=exc, status=exc.status)
    except DomainError as exc:
        return _execute_page(request, selectors.batch(request.user, batch.number), key, error=exc.message,
                             status=exc.status)
    except ValidationError as exc:
        return _execute_page(request, selectors.batch(request.user, batch.number), key,
                             error=invalid_input(exc, BatchEntry), status=422)
    if not key:  # an override at the start of the batch: back to its overview
        return redirect("batches:batch", number=batch.number)
    return redirect(f"{reverse('batches:execute', args=[batch.number])}?step={key}")


@login_required
@require_POST
def step_action(request, number, key, action):
    require_to_see(request.user, "batches.view")
    if action not in STEP_ACTIONS:
        raise NotFound(f"There is no action '{action}' on a batch step.")
    batch = selectors.batch(request.user, number)
    return _after(request, batch, key, lambda: _do(request, batch, key, action))


@login_required
@require_POST
def override(request, number):
    """QA lets one refused action go ahead, with a reason and their signature, at the operator's
    screen; the override becomes an exception for the review."""
    require_to_see(request.user, "batches.view")
    batch = selectors.batch(request.user, number)
    post = request.POST
    key = post.get("step_key", "").strip()
    return _after(request, batch, key, lambda: services.override_interlock(
        signer_at_screen(post, "QA"), batch, step_key=key or None, interlock=post.get("interlock", ""),
        subject=post.get("subject", ""), refusal=post.get("refusal", ""), reason=post.get("reason", ""),
        signature=_signature(post, OVERRIDE_MEANING), first_in_session=True))


# --- My tasks ---

def batch_tasks(user) -> list[tasks.Task]:
    """Batches with steps the user may do now, entries awaiting someone else's verification, and
    planned batches to start."""
    if not user.has_permission("batches.view"):
        return []
    found = []
    execute_ = user.has_permission("batches.execute")
    for batch in selectors.batches_for(user, status="in_progress")[:50]:
        url = reverse("batches:execute", args=[batch.number])
        label = batch_workflow.label(batch.status)
        record = f"{batch.number} {batch.product.code}"
        if execute_ and (keys := list(selectors.next_step_keys(batch))):
            found.append(tasks.Task(title="Steps to do", record=record, url=url, status=batch.status,
                                    status_label=label, detail=", ".join(keys[:6])))
        if user.has_permission("batches.verify"):
            waiting = [e for e in selectors.unverified_entries(batch) if e.recorded_by_id != user.pk]
            if waiting:
                found.append(tasks.Task(title="Entries to verify", record=record, url=url, status="pending",
                                        status_label=f"{len(waiting)} waiting",
                                        detail=", ".join(sorted({e.parameter for e in waiting})[:6])))
    if execute_:
        found += [tasks.Task(title="Batch to start", record=f"{b.number} {b.product.code}",
                             url=reverse("batches:batch", args=[b.number]), status=b.status,
                             status_label=batch_workflow.label(b.status),
                             detail=f"planned {b.planned_start:%Y-%m-%d}" if b.planned_start else "")
                  for b in selectors.batches_for(user, status="planned")[:20]]
    return found


# --- Review by exception and record (H5) ---

def _review_page(request, batch, *, error: str = "", status: int = 200):
    context = selectors.review(request.user, batch) | {"error": error,
                                                        "status_label": batch_workflow.label(batch.status)}
    return render(request, "batches/review.html", context, status=status)


@login_required
def review(request, number):
    require_to_see(request.user, "batches.view")
    return _review_page(request, selectors.batch(request.user, number))


@login_required
@require_POST
def disposition(request, number, exception_id):
    exception = selectors.exception_of(request.user, number, exception_id)
    try:
        services.disposition_exception(request.user, exception, disposition=request.POST.get("disposition", ""))
    except DomainError as exc:
        return _review_page(request, selectors.batch(request.user, number), error=exc.message, status=exc.status)
    if request.htmx:  # the form swaps the review section in place: progress, this exception, the sign button
        return _review_page(request, selectors.batch(request.user, number))
    return redirect(f"{reverse('batches:review', args=[number])}#exception-{exception.pk}")


@login_required
def record_pdf(request, number):
    require_to_see(request.user, "batches.view")
    batch = selectors.batch(request.user, number)
    pdf = selectors.batch_record_pdf(batch, printed_by=request.user, request=request)
    services.record_batch_record_export(request.user, batch, file_format="pdf")
    response = HttpResponse(pdf, content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="{batch.number}-batch-record.pdf"'
    return response


@login_required
def record_json(request, number):
    require_to_see(request.user, "batches.view")
    batch = selectors.batch(request.user, number)
    record = selectors.batch_record(batch)
    services.record_batch_record_export(request.user, batch, file_format="json")
    response = JsonResponse(record, json_dumps_params={"ensure_ascii": False, "indent": 1})
    response["Content-Disposition"] = f'attachment; filename="{batch.number}-batch-record.json"'
    return response


@login_required
def record_schema(request):
    """The published JSON Schema of the batch record export (format opencdmo-batch-record/1)."""
    return JsonResponse(selectors.batch_record_schema(), json_dumps_params={"ensure_ascii": False, "indent": 1})
