"""Pages of master batch records. Thin: parse input, call a service or selector, render."""

from django.contrib.auth.decorators import login_required
from django.db.models import Prefetch
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse
from django.views.decorators.http import require_http_methods

from opencdmo.core import registry
from opencdmo.core import selectors as core_selectors
from opencdmo.core.access import require_to_see
from opencdmo.core.errors import DomainError
from opencdmo.core.views import paginate, sort_headers
from opencdmo.sponsors import selectors as sponsor_selectors

from . import selectors, services
from .domain import entries
from .domain.definition import CRITICALITY_LABELS
from .models import MbrVersion
from .workflows import version_workflow

MBR_COLUMNS = [("Number", "number"), ("Title", "title"), ("Product", "product"), ("Sponsor", "sponsor")]
UPLOAD_LIMIT = 2 * 1024 * 1024  # an MBR file of a few hundred steps is far below this


def _signatures(user, record):
    return core_selectors.record_signatures(user, record) if user.has_permission("core.view_signatures") else []


@login_required
def mbr_list(request):
    filters = {name: request.GET.get(name, "").strip() for name in ("sponsor", "product", "q", "sort")}
    mbrs = selectors.mbrs_for(request.user, sponsor=filters["sponsor"], product=filters["product"],
                              text=filters["q"], sort=filters["sort"])
    page = paginate(request, mbrs.prefetch_related(Prefetch("versions", queryset=MbrVersion.objects.only(
        "mbr_id", "number", "version_number", "status", "effective_from"))), per_page=25)
    rows = []
    for m in page:
        versions = list(m.versions.all())
        rows.append((m, next((v for v in versions if v.status == "effective"), None),
                     next((v for v in versions if v.status in ("draft", "in_review", "approved")), None)))
    return render(request, "processes/list.html", {
        "page": page, "rows": rows, "filters": filters, "sort_headers": sort_headers(request, MBR_COLUMNS),
        "sponsors": sponsor_selectors.sponsors_for(request.user).prefetch_related(None),
        "products": sponsor_selectors.products_for(request.user),
    })


@login_required
def mbr_detail(request, number):
    mbr = selectors.mbr(request.user, number)
    return render(request, "processes/mbr_detail.html", {
        "record": mbr, "reference": mbr.number, "kind": registry.kind("processes.masterbatchrecord"),
        "signatures": [], "versions": selectors.versions_of(mbr), "effective": selectors.effective_version(mbr),
        "open_version": selectors.open_version(mbr), "version_states": version_workflow.states,
    })


def _file_text(request) -> str:
    """The pasted text, or the uploaded file's when one is given."""
    upload = request.FILES.get("file")
    if upload is None:
        return request.POST.get("text", "")
    if upload.size > UPLOAD_LIMIT:
        raise services.DefinitionErrors([(0, "The file is larger than 2 MB: is it really a master batch record?")])
    try:
        return upload.read().decode("utf-8-sig")
    except UnicodeDecodeError:
        raise services.DefinitionErrors([(0, "The file is not UTF-8 text: save it as YAML or JSON.")]) from None


def _form_context(request, error: DomainError | None, text: str) -> dict:
    """What every authoring form shows: the change controls to name and the errors, each line
    of the text numbered with the lines in error marked."""
    errors = getattr(error, "errors", None) or []
    marked = {line for line, _ in errors}
    return {
        "error": error.message if error is not None and not errors else "", "errors": errors,
        "lines": [(n, line, n in marked) for n, line in enumerate(text.splitlines(), start=1)] if errors else [],
        "changes": selectors.change_controls_to_cite(request.user), "text": text, "form": request.POST,
    }


@login_required
@require_http_methods(["GET", "POST"])
def mbr_import(request):
    require_to_see(request.user, "processes.author")
    error, text = None, ""
    if request.method == "POST":
        try:
            text = _file_text(request)
            version = services.import_version(request.user, text=text,
                                              change_summary=request.POST.get("change_summary", ""),
                                              change_control=request.POST.get("change_control", ""))
            return redirect("processes:version", number=version.number)
        except DomainError as exc:
            error = exc
    return render(request, "processes/import.html", _form_context(request, error, text),
                  status=error.status if error else 200)


@login_required
@require_http_methods(["GET", "POST"])
def new_version(request, number):
    """The next version of an MBR: a copy of the effective version, or a file."""
    require_to_see(request.user, "processes.author")
    mbr = selectors.mbr(request.user, number)
    error, text = None, ""
    if request.method == "POST":
        try:
            text = _file_text(request)
            version = services.new_version(request.user, mbr, text=text if text.strip() else None,
                                           change_summary=request.POST.get("change_summary", ""),
                                           change_control=request.POST.get("change_control", ""))
            return redirect("processes:version", number=version.number)
        except DomainError as exc:
            error = exc
    return render(request, "processes/new_version.html", {
        "mbr": mbr, "effective": selectors.effective_version(mbr), "open_version": selectors.open_version(mbr),
        **_form_context(request, error, text)}, status=error.status if error else 200)


def _parameter_rows(step) -> list[dict]:
    return [{"p": p, "instruction": i, "normal": entries.range_text(p.normal) if p.normal else "",
             "acceptable": entries.range_text(p.acceptable) if p.acceptable else "",
             "criticality": CRITICALITY_LABELS.get(p.criticality, "")}
            for i in step.instructions for p in i.parameters]


def _change_url(reference: str) -> str:
    try:
        return reverse("quality:change", args=[reference]) if reference else ""
    except NoReverseMatch:  # a reference that cannot be a change control number
        return ""


@login_required
def version_detail(request, number):
    version = selectors.version(request.user, number)
    definition = selectors.definition_of(version)
    stages = [(stage, [(step, _parameter_rows(step), [selectors.equipment_kind_label(k) for k in step.equipment])
                       for step in stage.steps]) for stage in definition.stages]
    can_edit = request.user.has_permission("processes.author") and version.status == "draft"
    return render(request, "processes/version_detail.html", {
        "record": version, "reference": version.number, "kind": registry.kind("processes.mbrversion"),
        "workflow": version_workflow, "status_label": version_workflow.label(version.status),
        "transitions": version_workflow.available(version, request.user),
        "signatures": _signatures(request.user, version), "mbr": version.mbr, "definition": definition,
        "stages": stages, "step_count": sum(len(s.steps) for s in definition.stages),
        "changed": selectors.changed_steps(version), "change_url": _change_url(version.change_control),
        # What would refuse the submission, for those who can fix it (the author's view of SOPs and materials).
        "problems": selectors.reference_problems(request.user, version) if can_edit else [], "can_edit": can_edit,
    })


@login_required
@require_http_methods(["GET", "POST"])
def version_edit(request, number):
    require_to_see(request.user, "processes.author")
    version = selectors.version(request.user, number)
    error, text = None, ""
    if request.method == "POST":
        text = request.POST.get("text", "")
        try:
            services.edit_version(request.user, version, text=text,
                                  change_summary=request.POST.get("change_summary", ""),
                                  change_control=request.POST.get("change_control", ""))
            return redirect("processes:version", number=version.number)
        except DomainError as exc:
            error = exc
    else:
        text = selectors.export_text(version, "yaml")
    context = _form_context(request, error, text) | {"version": version}
    if request.method == "GET":
        context["form"] = {"change_summary": version.change_summary, "change_control": version.change_control}
    return render(request, "processes/version_edit.html", context, status=error.status if error else 200)


@login_required
def version_export(request, number):
    version = selectors.version(request.user, number)
    fmt = request.GET.get("format", "yaml")
    text = selectors.export_text(version, fmt)
    services.record_export(request.user, version, file_format=fmt)
    content_type, extension = selectors.EXPORT_FORMATS[fmt]
    response = HttpResponse(text, content_type=f"{content_type}; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{version.number}.{extension}"'
    return response
