"""QC laboratory pages. Thin: selectors read, services write."""

import datetime as dt
import re
import uuid

from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse
from django.views.decorators.http import require_http_methods, require_POST

from opencdmo.core import clock, registry
from opencdmo.core import selectors as core_selectors
from opencdmo.core.access import require, require_to_see
from opencdmo.core.errors import DomainError, NotFound, RuleViolation
from opencdmo.core.scoping import get_scoped, scoped
from opencdmo.core.signatures import SignatureInput
from opencdmo.core.views import SIGNED_IN_SESSION, invalid_input, paginate, sort_headers
from opencdmo.facilities.models import Equipment
from opencdmo.materials import selectors as materials_selectors
from opencdmo.materials.models import Lot
from opencdmo.sponsors import selectors as sponsors_selectors

from . import models, selectors, services, workflows
from .domain import criteria, oos, stability
from .workflows import oos_workflow, specification_workflow

# --- Methods and specifications ---


SPEC_FORM_ROWS = 8  # empty criterion rows a new specification's form offers
_SPEC_ROW_FIELDS = ("attribute", "method", "criterion", "lower", "upper", "expected", "unit", "decimals")


def _pk(value) -> int | None:
    """A row id typed in a form, or None: ASCII digits only ('²' is a digit to Python, not to the database)."""
    text = str(value or "").strip()
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 18 else None

def _spec_method_form_context(user, form, error="") -> dict:
    return {"form": form, "error": error, "result_kinds": models.ResultKind.choices,
            "equipment_kinds": Equipment.Kind.choices, "chosen_kinds": form.getlist("instrument_kinds")
            if hasattr(form, "getlist") else form.get("instrument_kinds", [])}


@login_required
def method_list(request):
    require_to_see(request.user, "qc.view")
    filters = {name: request.GET.get(name, "").strip() for name in ("q", "result_kind", "active", "sort")}
    sort = filters["sort"] or "code"
    methods = selectors.methods_for(request.user, text=filters["q"], result_kind=filters["result_kind"],
                                          active=filters["active"], sort=sort)
    return render(request, "qc/method_list.html", {
        "page": paginate(request, methods), "filters": filters, "result_kinds": models.ResultKind.choices,
        "sort_headers": sort_headers(request, selectors.METHOD_COLUMNS, sort),
    })


@login_required
@require_http_methods(["GET", "POST"])
def method_new(request):
    require_to_see(request.user, "qc.manage_methods")
    post, error, status = request.POST, "", 200
    if request.method == "POST":
        try:
            method = services.create_method(
                request.user, code=post.get("code", ""), name=post.get("name", ""),
                result_kind=post.get("result_kind", ""), unit=post.get("unit", ""), decimals=post.get("decimals", ""),
                choices=post.get("choices", ""), instrument_kinds=post.getlist("instrument_kinds"),
                sop=post.get("sop", "").strip() or None, turnaround_days=post.get("turnaround_days", "1") or "1")
            return redirect("qc:method", code=method.code)
        except DomainError as exc:
            error, status = exc.message, exc.status
    return render(request, "qc/method_form.html", _spec_method_form_context(request.user, post, error),
                        status=status)


@login_required
def method_detail(request, code):
    require_to_see(request.user, "qc.view")
    method = selectors.method(request.user, code)
    kinds = dict(Equipment.Kind.choices)
    return render(request, "qc/method_detail.html", {
        "method": method, "sop": selectors.sop_state(method),
        "instrument_kinds": [kinds.get(k, k) for k in method.instrument_kinds],
        "specifications": [(s, specification_workflow.label(s.status))
                           for s in selectors.specifications_using(request.user, method)],
    })


@login_required
@require_http_methods(["GET", "POST"])
def method_edit(request, code):
    require_to_see(request.user, "qc.manage_methods")
    method = selectors.method(request.user, code)
    post, error, status = request.POST, "", 200
    if request.method == "POST":
        try:
            services.update_method(
                request.user, method, reason=post.get("reason", ""), name=post.get("name", ""),
                unit=post.get("unit", ""), decimals=post.get("decimals", ""), choices=post.get("choices", ""),
                instrument_kinds=post.getlist("instrument_kinds"), sop=post.get("sop", "").strip() or None,
                turnaround_days=post.get("turnaround_days", "") or method.turnaround_days,
                is_active=post.get("is_active") == "yes")
            return redirect("qc:method", code=method.code)
        except DomainError as exc:
            error, status = exc.message, exc.status
        form = post
    else:
        form = {"name": method.name, "unit": method.unit, "decimals": "" if method.decimals is None else method.decimals,
                "choices": "; ".join(method.choices), "instrument_kinds": method.instrument_kinds,
                "sop": method.sop.number if method.sop else "", "turnaround_days": method.turnaround_days,
                "is_active": "yes" if method.is_active else "no"}
    return render(request, "qc/method_form.html", {
        **_spec_method_form_context(request.user, form, error), "method": method}, status=status)


@login_required
def specification_list(request):
    require_to_see(request.user, "qc.view")
    filters = {name: request.GET.get(name, "").strip() for name in ("q", "stage", "status", "sponsor", "sort")}
    sort = filters["sort"] or "code"
    specs = selectors.specifications_for(request.user, stage=filters["stage"], status=filters["status"],
                                               text=filters["q"], sponsor=filters["sponsor"], sort=sort)
    page = paginate(request, specs)
    for spec in page.object_list:
        spec.status_label = specification_workflow.label(spec.status)
    return render(request, "qc/spec_list.html", {
        "page": page, "filters": filters, "stages": models.Stage.choices, "states": specification_workflow.states,
        "sponsors": sponsors_selectors.sponsors_for(request.user).prefetch_related(None),
        "sort_headers": sort_headers(request, selectors.SPEC_COLUMNS, sort),
    })


def _spec_rows(post) -> list[dict]:
    """The criterion rows the author filled in (a row with neither attribute nor method is left out)."""
    rows = []
    for index in range(1, services.MAX_CRITERIA + 1):
        row = {field: post.get(f"{field}_{index}", "") for field in _SPEC_ROW_FIELDS}
        if not any(str(v).strip() for v in row.values()):
            continue
        if not (row["attribute"].strip() or row["method"].strip()):
            continue
        row["may_be_pending_at_release"] = post.get(f"pending_{index}") == "yes"
        rows.append(row)
    return rows


def _spec_form_rows(rows: list[dict], extra: int) -> list[dict]:
    filled = [{**row, "index": i} for i, row in enumerate(rows, 1)]
    return filled + [{"index": i} for i in range(len(filled) + 1, len(filled) + extra + 1)]


def _spec_form_context(user, form, rows, error="", spec=None) -> dict:
    return {"form": form, "rows": rows, "error": error, "spec": spec, "stages": models.Stage.choices,
            "criteria": models.SpecificationTest.Criterion.choices,
            "rounding": [(k, selectors.rounding_text(k)) for k in criteria.ROUNDING],
            "methods": selectors.active_methods(),
            "products": sponsors_selectors.products_for(user).order_by("code"),
            "materials": materials_selectors.materials_for(user, active_only=True).order_by("code")}


@login_required
@require_http_methods(["GET", "POST"])
def specification_new(request):
    require_to_see(request.user, "qc.author_specifications")
    post, error, status = request.POST, "", 200
    rows = _spec_rows(post) if request.method == "POST" else []
    if request.method == "POST":
        try:
            incoming = post.get("stage") == models.Stage.INCOMING
            spec = services.create_specification(
                request.user, code=post.get("code", ""), title=post.get("title", ""), stage=post.get("stage", ""),
                product=None if incoming else (post.get("product", "").strip() or None),
                material=(post.get("material", "").strip() or None) if incoming else None,
                rounding=post.get("rounding", "half_up"), tests=rows)
            return redirect("qc:specification", number=spec.number)
        except DomainError as exc:
            error, status = exc.message, exc.status
    return render(request, "qc/spec_form.html", _spec_form_context(
        request.user, post, _spec_form_rows(rows, SPEC_FORM_ROWS if not rows else 3), error), status=status)


@login_required
@require_http_methods(["GET", "POST"])
def specification_edit(request, number):
    require_to_see(request.user, "qc.author_specifications")
    spec = selectors.specification(request.user, number)
    post, error, status = request.POST, "", 200
    if request.method == "POST":
        rows = _spec_rows(post)
        try:
            services.update_specification(request.user, spec, reason=post.get("reason", ""),
                                                title=post.get("title", ""), rounding=post.get("rounding", ""),
                                                tests=rows)
            return redirect("qc:specification", number=spec.number)
        except DomainError as exc:
            error, status = exc.message, exc.status
        form = post
    else:
        rows = [{"attribute": t.attribute, "method": t.method.code, "criterion": t.criterion,
                 "lower": "" if t.lower is None else f"{t.lower.normalize():f}",
                 "upper": "" if t.upper is None else f"{t.upper.normalize():f}", "expected": t.expected,
                 "unit": t.unit, "decimals": "" if t.decimals is None else t.decimals,
                 "may_be_pending_at_release": t.may_be_pending_at_release}
                for t in spec.tests.select_related("method").order_by("position")]
        form = {"title": spec.title, "rounding": spec.rounding}
    return render(request, "qc/spec_form.html", _spec_form_context(
        request.user, form, _spec_form_rows(rows, 3), error, spec=spec), status=status)


def _spec_detail_context(user, spec, **extra) -> dict:
    transitions, blocked = specification_workflow.actions(spec, user)
    return {
        "record": spec, "reference": spec.number, "kind": registry.kind("qc.specification"),
        "workflow": specification_workflow, "status_label": specification_workflow.label(spec.status),
        "transitions": transitions, "blocked": blocked,
        "signatures": core_selectors.record_signatures(user, spec),
        "tests": selectors.specification_criteria(spec),
        "rounding_text": selectors.rounding_text(spec.rounding),
        "revisions": [(r, specification_workflow.label(r.status)) for r in selectors.revisions_of(user, spec.code)],
        "may_edit": spec.status == "draft" and user.has_permission("qc.author_specifications"),
        "may_revise": (spec.status == "approved" and user.has_permission("qc.author_specifications")
                       and selectors.draft_revision(spec) is None),
        **extra,
    }


@login_required
def specification_detail(request, number):
    require_to_see(request.user, "qc.view")
    spec = selectors.specification(request.user, number)
    return render(request, "qc/spec_detail.html", _spec_detail_context(request.user, spec))


@login_required
@require_http_methods(["GET", "POST"])
def specification_revise(request, number):
    require_to_see(request.user, "qc.author_specifications")
    spec = selectors.specification(request.user, number)
    post, error, status = request.POST, "", 200
    if request.method == "POST":
        try:
            revision = services.revise_specification(request.user, spec,
                                                           change_control=post.get("change_control", ""),
                                                           reason=post.get("reason", ""))
            return redirect("qc:specification", number=revision.number)
        except DomainError as exc:
            error, status = exc.message, exc.status
    return render(request, "qc/spec_revise.html", {
        "spec": spec, "form": post, "error": error, "status_label": specification_workflow.label(spec.status)},
        status=status)

# --- Samples and results ---


SUBJECT_TYPES = [("batches.batch", "Batch"), ("materials.lot", "Material lot")]  # services.SUBJECT_TYPES


def _smp_submission_id() -> str:
    """A fresh idempotency key for each result form rendered."""
    return uuid.uuid4().hex


def _smp_sponsors(user):
    return sponsors_selectors.sponsors_for(user).prefetch_related(None)


@login_required
def worklist(request):
    """The analyst's bench: samples due (most overdue first) and results to review."""
    user = request.user
    require_to_see(user, "qc.view")
    kind = "review" if request.GET.get("tab") == "review" else "due"
    filters = {"sponsor": request.GET.get("sponsor", "").strip(), "q": request.GET.get("q", "").strip()}
    rows = selectors.worklist(user, kind=kind, sponsor=filters["sponsor"], text=filters["q"])
    page = paginate(request, rows)
    if kind == "due":
        page.object_list = selectors.worklist_details(page.object_list)
    else:
        for r in page.object_list:
            r.status_label = workflows.result_workflow.label(r.status)
    return render(request, "qc/worklist.html", {
        "page": page, "tab": kind, "filters": filters, "sponsors": _smp_sponsors(user)})


@login_required
def sample_list(request):
    user = request.user
    require_to_see(user, "qc.view")
    filters = {name: request.GET.get(name, "").strip() for name in ("sponsor", "status", "q")}
    samples = selectors.samples_for(user, sponsor=filters["sponsor"], status=filters["status"],
                                         text=filters["q"]).order_by("-created_at", "-id")
    page = paginate(request, samples)
    for s in page.object_list:
        s.status_label = workflows.sample_workflow.label(s.status)
    return render(request, "qc/sample_list.html", {
        "page": page, "filters": filters, "states": workflows.SAMPLE_STATES, "sponsors": _smp_sponsors(user)})


def _smp_subject_url(sample) -> str | None:

    kind = registry.kind(sample.subject_type)
    if kind is None or not kind.url_name:
        return None
    try:
        return reverse(kind.url_name, args=[sample.subject_ref])
    except NoReverseMatch:
        return None


def _smp_sample_context(user, sample, *, error="", form=None) -> dict:
    kind = registry.kind("qc.sample")
    rows = selectors.criteria_of(sample)
    may_enter = user.has_permission("qc.enter_results") and sample.status in ("received", "in_testing", "tested")
    for row in rows:
        row.instruments = selectors.usable_instruments(row.test.method) if may_enter else []
        row.needs_instrument = bool(row.test.method.instrument_kinds)
        row.standing = bool(row.valid)
        row.submission_id = _smp_submission_id()
        # A retest is offered only when an OOS investigation ordered one (OOS-1): of the result
        # standing, or of the one the investigation invalidated.
        original = row.valid[0] if row.valid else next(
            (r for r in reversed(row.results) if getattr(r, "investigation", None) is not None), None)
        row.retest_of = (original if may_enter and original is not None
                         and services.retest_refusal(original, user) is None else None)
        for r in row.results:
            r.status_label = workflows.result_workflow.label(r.status)
    unordered = []
    if sample.specification_id:
        ordered = {row.test.pk for row in rows}
        unordered = [t for t in sample.specification.tests.select_related("method").order_by("position")
                     if t.pk not in ordered]
    may_handle = user.has_permission("qc.handle_samples")
    return {
        "record": sample, "reference": sample.number, "kind": kind, "workflow": kind.workflow,
        "status_label": workflows.sample_workflow.label(sample.status), "transitions": [],
        "signatures": core_selectors.record_signatures(user, sample),
        "rows": rows, "unordered": unordered, "subject_url": _smp_subject_url(sample),
        "movements": sample.movements.select_related("moved_by"), "aliquots": sample.aliquots.all(),
        "may_enter": may_enter, "may_handle": may_handle, "error": error, "form": form or {},
        "specs": (scoped(models.Specification, user).filter(status="approved").filter(
            product=sample.product) if may_handle and not sample.results.exists() else []),
    }


@login_required
def sample_detail(request, number):
    require_to_see(request.user, "qc.view")
    sample = selectors.sample(request.user, number)
    return render(request, "qc/sample_detail.html", _smp_sample_context(request.user, sample))


def _smp_act(request, number, act):
    """Run one form of the sample page; a refusal re-renders the page with the reason (4xx)."""
    user = request.user
    sample = selectors.sample(user, number)
    try:
        act(user, sample, request.POST)
    except DomainError as exc:
        sample = selectors.sample(user, number)
        return render(request, "qc/sample_detail.html",
                           _smp_sample_context(user, sample, error=exc.message, form=request.POST), status=exc.status)
    return redirect("qc:sample", number=number)


@login_required
@require_POST
def sample_receive(request, number):
    return _smp_act(request, number, lambda user, sample, post: services.receive_sample(
        user, sample, location=post.get("location", "")))


@login_required
@require_POST
def sample_move(request, number):
    return _smp_act(request, number, lambda user, sample, post: services.move_sample(
        user, sample, to_location=post.get("to_location", ""), purpose=post.get("purpose", "")))


@login_required
@require_POST
def sample_aliquot(request, number):
    return _smp_act(request, number, lambda user, sample, post: services.make_aliquots(
        user, sample, count=post.get("count", ""), quantity=post.get("quantity", "") or None,
        unit=post.get("unit", "")))


@login_required
@require_POST
def sample_retain(request, number):
    return _smp_act(request, number, lambda user, sample, post: services.retain_sample(
        user, sample, location=post.get("location", "")))


@login_required
@require_POST
def sample_dispose(request, number):
    return _smp_act(request, number, lambda user, sample, post: services.dispose_sample(
        user, sample, reason=post.get("reason", "")))


def _smp_tests_of(sample, ids) -> list:
    if sample.specification_id is None:
        raise RuleViolation("Assign a specification first.")
    tests = []
    for value in ids:
        test = sample.specification.tests.filter(pk=pk).first() if (pk := _pk(value)) else None
        if test is None:
            raise RuleViolation("Choose tests of the sample's specification.")
        tests.append(test)
    return tests


@login_required
@require_POST
def sample_order(request, number):
    return _smp_act(request, number, lambda user, sample, post: services.order_tests(
        user, sample, _smp_tests_of(sample, post.getlist("tests"))))


@login_required
@require_POST
def sample_specification(request, number):
    def act(user, sample, post):
        spec = get_scoped(models.Specification, user, number=post.get("specification", "").strip())
        return services.assign_specification(user, sample, spec)

    return _smp_act(request, number, act)


@login_required
@require_POST
def sample_result(request, number):
    """Enter the result of one criterion (the form carries a server-made submission id)."""
    def act(user, sample, post):
        tests = _smp_tests_of(sample, [post.get("test", "")]) if _pk(post.get("test", "")) else []
        if not tests:
            raise RuleViolation("Choose the test the result is for.")
        instrument = None
        if post.get("instrument", "").strip():

            instrument = Equipment.objects.filter(number=post.get("instrument", "").strip()).first()
            if instrument is None:
                raise RuleViolation("No such instrument: choose one from the list.")
        retest_of = None
        if post.get("retest_of", "").strip():
            retest_of = scoped(models.TestResult, user).filter(
                number=post.get("retest_of", "").strip(), sample__subject_ref=sample.subject_ref).first()
            if retest_of is None:
                raise NotFound("No such original result.")
        return services.enter_result(user, sample, tests[0], value=post.get("value", ""), instrument=instrument,
                                          comment=post.get("comment", ""), submission_id=post.get("submission_id", ""),
                                          retest_of=retest_of)

    return _smp_act(request, number, act)


def _smp_form_context(user, form, error="") -> dict:
    return {"form": form, "error": error, "subject_types": SUBJECT_TYPES, "origins": models.Sample.Origin.choices,
            "specs": scoped(models.Specification.objects.select_related("product"), user).filter(
                status="approved").order_by("code"),
            "sponsors": _smp_sponsors(user)}


@login_required
@require_http_methods(["GET", "POST"])
def sample_new(request):
    """Register a sample by hand (origin "registered by hand")."""
    user = request.user
    require_to_see(user, "qc.handle_samples")
    if request.method == "GET":
        return render(request, "qc/sample_form.html", _smp_form_context(user, {}))
    post = request.POST
    try:
        spec = None
        if post.get("specification", "").strip():
            spec = get_scoped(models.Specification, user, number=post.get("specification", "").strip())
        sponsor = None
        if post.get("sponsor", "").strip():
            sponsor = sponsors_selectors.sponsor(user, post.get("sponsor", "").strip())
        sample = services.register_sample(
            user, subject_type=post.get("subject_type", ""), subject_ref=post.get("subject_ref", ""),
            subject_label=post.get("subject_label", "") or post.get("subject_ref", ""), origin="manual",
            description=post.get("description", ""), specification=spec, sponsor=sponsor,
            product=spec.product if spec else None, quantity=post.get("quantity", "") or None,
            unit=post.get("unit", ""), retained=post.get("retained") == "on")
    except DomainError as exc:
        return render(request, "qc/sample_form.html", _smp_form_context(user, post, exc.message),
                           status=exc.status)
    return redirect("qc:sample", number=sample.number)


@login_required
@require_http_methods(["GET", "POST"])
def lot_sample_new(request):
    """The incoming QC sample of a material lot in quarantine."""
    user = request.user
    require_to_see(user, "qc.handle_samples")
    form = request.POST if request.method == "POST" else {"lot": request.GET.get("lot", "")}
    if request.method == "GET":
        return render(request, "qc/sample_lot_form.html", {"form": form})
    try:

        lot = get_scoped(Lot, user, number=form.get("lot", "").strip())
        sample = services.register_lot_sample(user, lot, quantity=form.get("quantity", "") or None,
                                                   unit=form.get("unit", ""), description=form.get("description", ""))
    except DomainError as exc:
        return render(request, "qc/sample_lot_form.html", {"form": form, "error": exc.message},
                           status=exc.status)
    return redirect("qc:sample", number=sample.number)


@login_required
def result_detail(request, number):
    user = request.user
    require_to_see(user, "qc.view")
    result = selectors.result(user, number)
    kind = registry.kind("qc.testresult")
    available, blocked = workflows.result_workflow.actions(result, user)
    return render(request, "qc/result_detail.html", {
        "record": result, "reference": result.number, "kind": kind, "workflow": kind.workflow,
        "status_label": workflows.result_workflow.label(result.status), "transitions": available,
        "blocked": blocked, "signatures": core_selectors.record_signatures(user, result),
        "limit": selectors.limit_text(result.test), "sample": result.sample,
        "retests": result.retests.all(), "investigation": getattr(result, "investigation", None),
    })

# --- OOS investigations ---


OOS_BADGES = {"phase_1": "Phase I", "phase_2": "Phase II", "closed": "Closed"}


@login_required
def investigation_list(request):
    require_to_see(request.user, "qc.view")
    filters = {name: request.GET.get(name, "").strip()[:100] for name in ("status", "sponsor", "q", "sort")}
    found = selectors.investigations_for(request.user, status=filters["status"], sponsor=filters["sponsor"],
                                              text=filters["q"], sort=filters["sort"])
    page = paginate(request, found)
    for inv in page.object_list:
        inv.status_label = oos_workflow.label(inv.status)
        inv.result_ref = inv.result.number
        inv.limit = selectors.limit_text(inv.result.test)
    return render(request, "qc/oos_list.html", {
        "page": page, "filters": filters, "states": oos_workflow.states,
        "sponsors": sponsors_selectors.sponsors_for(request.user).prefetch_related(None),
        "sort_headers": sort_headers(request, selectors.OOS_COLUMNS, filters["sort"]),
    })


def _oos_context(request, inv, *, error: str = "", form=None) -> dict:
    user = request.user
    available, blocked = oos_workflow.actions(inv, user)
    result = inv.result
    return {
        "record": inv, "reference": inv.number, "kind": registry.kind("qc.oosinvestigation"),
        "workflow": oos_workflow, "status_label": oos_workflow.label(inv.status),
        "transitions": [], "actions": available, "blocked": blocked,
        "signatures": core_selectors.record_signatures(user, inv),
        "result": result, "result_ref": result.number, "sample": result.sample,
        "limit": selectors.limit_text(result.test),
        "checklist": selectors.checklist_rows(inv), "answers": oos.ANSWERS,
        "results": selectors.investigation_results(inv),
        "timeline": selectors.investigation_timeline(inv),
        "retest_refusal": services.retest_refusal(result, user) if inv.status != "phase_1" else "",
        "conclusions": models.OosInvestigation.Conclusion.choices,
        "can_phase_one": inv.status == "phase_1" and user.has_permission("qc.investigate_oos"),
        "can_phase_two": inv.status == "phase_2" and user.has_permission("qc.investigate_oos"),
        "first_in_session": not request.session.get(SIGNED_IN_SESSION, False),
        "form": form or {}, "error": error,
    }


def _oos_page(request, inv, *, error: str = "", status: int = 200, form=None):
    return render(request, "qc/oos_detail.html", _oos_context(request, inv, error=error, form=form),
                       status=status)


@login_required
def investigation_detail(request, number):
    require_to_see(request.user, "qc.view")
    return _oos_page(request, selectors.investigation(request.user, number))


def _oos_answers(post) -> list[dict]:
    return [{"item": key, "answer": post.get(f"answer_{key}", "").strip(), "note": post.get(f"note_{key}", "")}
            for key in oos.ITEM_KEYS if f"answer_{key}" in post or f"note_{key}" in post]


def _oos_step(request, inv, action: str):
    post, user = request.POST, request.user
    if action == "phase-one":
        return services.record_phase_one(user, inv, answers=_oos_answers(post),
                                              assignable_cause=post.get("assignable_cause", ""))
    if action == "phase-two":
        return services.record_phase_two(user, inv, production_review=post.get("production_review", ""),
                                              batch_impact=post.get("batch_impact", ""))
    transition = oos_workflow.get(action)
    first = not request.session.get(SIGNED_IN_SESSION, False)
    signature = None
    if transition.signature:
        signature = SignatureInput(meaning=transition.signature, password=post.get("password", ""),
                                       username=post.get("username", ""), comment=post.get("comment", ""))
    inv = services.transition_investigation(
        user, inv, action, signature=signature, first_in_session=first, reason=post.get("reason", ""),
        conclusion=post.get("conclusion", ""), summary=post.get("summary", ""))
    if transition.signature:
        request.session[SIGNED_IN_SESSION] = True
    return inv


OOS_STEPS = ("phase-one", "phase-two", "invalidate", "escalate", "close")
OOS_STEP_PERMISSIONS = {"phase-one": "qc.investigate_oos", "phase-two": "qc.investigate_oos",
                        "invalidate": "qc.approve_invalidation", "escalate": "qc.investigate_oos",
                        "close": "qc.close_oos"}


@login_required
@require_POST
def investigation_step(request, number, step):
    """One form posted from the investigation page: Phase I, Phase II, or an action with its signature."""
    if step not in OOS_STEPS:
        raise NotFound(f"There is no step '{step[:40]}' on an OOS investigation.")
    require_to_see(request.user, "qc.view")
    inv = selectors.investigation(request.user, number)
    try:
        require(request.user, OOS_STEP_PERMISSIONS[step], to="do this step of the OOS investigation")
        _oos_step(request, inv, step)
    except DomainError as exc:
        return _oos_page(request, selectors.investigation(request.user, number), error=exc.message,
                         status=exc.status, form=request.POST)
    return redirect("qc:investigation", number=number)

# --- Stability ---


STUDY_COLUMNS = [("Study", "number"), ("Title", "title"), ("Sponsor", "sponsor"), ("Product", "product"),
                 ("Batch or lot", "subject"), ("Start", "start"), ("Status", "status")]
DEFAULT_SHELF_LIFE_MONTHS = 24


def _stability_date(value: str, label: str) -> dt.date:
    try:
        return dt.date.fromisoformat((value or "").strip())
    except ValueError:
        raise RuleViolation(f"Write the {label} as YYYY-MM-DD.") from None


def _stability_months(text: str) -> list[int]:
    parts = [p for p in re.split(r"[,;\s]+", (text or "").strip()) if p]
    if not all(p.isascii() and p.isdigit() and len(p) <= 4 for p in parts):
        raise RuleViolation("Write the time points as whole months separated by commas, e.g. 0, 3, 6, 9, 12.")
    return [int(p) for p in parts]


def _stability_whole(text: str, label: str, default: int) -> int:
    text = (text or "").strip()
    if not text:
        return default
    if not (text.isascii() and text.isdigit()) or len(text) > 4:
        raise RuleViolation(f"Give the {label} as a whole number.")
    return int(text)


@login_required
def stability_studies(request):
    user, get = request.user, request.GET
    require_to_see(user, "qc.view")
    filters = {name: get.get(name, "").strip()[:100] for name in ("status", "sponsor", "product", "q", "sort")}
    sort = filters["sort"] or "-number"
    from .workflows import stability_workflow  # noqa: PLC0415

    studies = selectors.studies_for(user, status=filters["status"], sponsor=filters["sponsor"],
                                               product=filters["product"], text=filters["q"], sort=sort)
    page = paginate(request, studies)
    for row in page.object_list:
        row.status_label = stability_workflow.label(row.status)
    return render(request, "qc/stability_studies.html", {
        "page": page, "filters": filters, "states": stability_workflow.states,
        "sponsors": sponsors_selectors.sponsors_for(user).prefetch_related(None),
        "products": sponsors_selectors.products_for(user),
        "sort_headers": sort_headers(request, STUDY_COLUMNS, sort),
    })


@login_required
@require_http_methods(["GET", "POST"])
def stability_study_new(request):
    user, post = request.user, request.POST
    require_to_see(user, "qc.manage_stability")
    error, status = "", 200
    form = post
    try:
        shelf_life = _stability_whole(request.GET.get("shelf_life", ""), "shelf life in months",
                                      DEFAULT_SHELF_LIFE_MONTHS)
        suggested = stability.ich_q5c_time_points(shelf_life)
    except (DomainError, stability.InvalidProtocol) as exc:
        shelf_life, suggested = DEFAULT_SHELF_LIFE_MONTHS, stability.ich_q5c_time_points(
            DEFAULT_SHELF_LIFE_MONTHS)
        error, status = getattr(exc, "message", str(exc)), 422
    if request.method == "GET":
        form = {"time_points": ", ".join(map(str, suggested)), "window_days": "7",
                "start_date": f"{clock.site_today():%Y-%m-%d}"}
    else:
        try:
            specification = post.get("specification", "").strip()
            if not specification:
                raise RuleViolation("Choose the approved stability specification to test against.")
            spec = selectors.stability_specifications(user).filter(pk=pk).first() \
                if (pk := _pk(specification)) else None
            if spec is None:
                raise RuleViolation("Choose an approved stability specification of your sponsors.")
            study = services.create_study(
                user, title=post.get("title", ""), product=spec.product, specification=spec,
                subject_ref=post.get("subject_ref", ""),
                conditions=[line for line in post.get("conditions", "").splitlines() if line.strip()],
                time_points=_stability_months(post.get("time_points", "")),
                start_date=_stability_date(post.get("start_date", ""), "start date"),
                window_days=_stability_whole(post.get("window_days", ""), "pull window in days", 7))
            return redirect("qc:stability_study", number=study.number)
        except DomainError as exc:
            error, status = exc.message, exc.status
        except ValidationError as exc:
            error, status = invalid_input(exc, models.StabilityStudy), 422
    return render(request, "qc/stability_study_form.html", {
        "form": form, "error": error, "shelf_life": shelf_life, "suggested": suggested,
        "specifications": selectors.stability_specifications(user),
    }, status=status)


def _stability_page(request, study, *, error: str = "", status: int = 200):
    from .workflows import stability_workflow  # noqa: PLC0415

    user = request.user
    transitions, blocked = stability_workflow.actions(study, user)
    columns, rows = selectors.results_by_time_point(study)
    charts = [(row.test, chart) for row in rows
              if (chart := selectors.trend_chart(study, row.test))]
    return render(request, "qc/stability_study_detail.html", {
        "record": study, "reference": study.number, "kind": registry.kind("qc.stabilitystudy"),
        "workflow": stability_workflow, "status_label": stability_workflow.label(study.status),
        "transitions": [t for t in transitions if t.name != "complete"],
        "may_complete": any(t.name == "complete" for t in transitions), "blocked": blocked,
        "signatures": core_selectors.record_signatures(user, study),
        "pulls": selectors.pulls_of(study), "columns": columns, "rows": rows, "charts": charts,
        "tests": study.specification.tests.select_related("method").order_by("position"),
        "may_pull": user.has_permission("qc.pull_stability") and study.status == "active",
        "error": error,
    }, status=status)


@login_required
def stability_study(request, number):
    return _stability_page(request, selectors.study(request.user, number))


@login_required
@require_POST
def stability_pull(request, pk: int):
    user, post = request.user, request.POST
    require_to_see(user, "qc.pull_stability")
    pull = selectors.stability_pull(user, pk)
    try:
        quantity = post.get("quantity", "").strip() or None
        services.pull(user, pull, quantity=quantity, unit=post.get("unit", ""))
    except DomainError as exc:
        study = selectors.study(user, pull.study.number)
        return _stability_page(request, study, error=exc.message, status=exc.status)
    return redirect(reverse("qc:stability_study", args=[pull.study.number]) + f"#pull-{pull.pk}")


@login_required
def stability_pulls_due(request):
    user, get = request.user, request.GET
    require_to_see(user, "qc.view")
    today = clock.site_today()
    next_month = stability.end_of_next_month(today)
    error, status = "", 200
    try:
        until = _stability_date(get["until"], "date") if get.get("until", "").strip() else next_month
    except DomainError as exc:
        until, error, status = next_month, exc.message, exc.status
    sponsor = get.get("sponsor", "").strip()[:64]
    rows = selectors.pulls_due(user, until=until, sponsor=sponsor)
    return render(request, "qc/stability_pulls_due.html", {
        "rows": rows, "until": until, "today": today, "next_month": next_month, "sponsor": sponsor,
        "overdue": sum(1 for r in rows if r.overdue), "error": error,
        "sponsors": sponsors_selectors.sponsors_for(user).prefetch_related(None),
    }, status=status)
