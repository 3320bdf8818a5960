"""Pages of the quality app. Thin: parse input, call a service or selector, render."""

import datetime as dt
import json

from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from opencdmo.core import clock, registry, tasks
from opencdmo.core import selectors as core_selectors
from opencdmo.core.access import require_to_see
from opencdmo.core.errors import DomainError, NotFound, RuleViolation
from opencdmo.core.models import User
from opencdmo.core.pdf import render_pdf
from opencdmo.core.views import invalid_input, paginate, sort_headers
from opencdmo.sponsors import selectors as sponsor_selectors

from . import conf, selectors, services, trend_charts
from .domain.risk import DEFAULT_LEVELS
from .models import (
    Capa,
    CapaAction,
    ChangeControl,
    ChangeImpact,
    Classification,
    Deviation,
    FailureMode,
    RiskAssessment,
)
from .workflows import (
    CAPA_FORM_STEPS,
    CHANGE_IMPLEMENTABLE_STATES,
    DEVIATION_FORM_STEPS,
    capa_workflow,
    change_workflow,
    deviation_workflow,
    extension_workflow,
    risk_assessment_workflow,
    risk_method_workflow,
    sponsor_approval_workflow,
)

# --- Deviations ---

def _deviation_filters(get) -> dict:
    filters = {name: get.get(name, "").strip() for name in ("status", "classification", "source", "sponsor", "q",
                                                              "sort")}
    filters["overdue"] = get.get("overdue", "") == "1"
    return filters


def _labelled(page, workflow):
    """Each row of a list page with its status as the workflow names it."""
    for row in page.object_list:
        row.status_label = workflow.label(row.status)
    return page


DEVIATION_COLUMNS = [("Number", "number"), ("Title", "title"), ("Source", "source"), ("Sponsor", "sponsor"),
                     ("Class", "class"), ("Raised", "raised"), ("Due", "due"), ("Status", "status")]


@login_required
def deviation_list(request):
    require_to_see(request.user, "quality.view")
    filters = _deviation_filters(request.GET)
    sort = filters["sort"] or selectors.DEVIATION_LIST_DEFAULT_SORT
    deviations = selectors.deviations_for(
        request.user, status=filters["status"], classification=filters["classification"], source=filters["source"],
        sponsor=filters["sponsor"], overdue=filters["overdue"], text=filters["q"], sort=sort)
    page = _labelled(paginate(request, deviations), deviation_workflow)
    return render(request, "quality/deviations.html", {
        "page": page, "filters": filters, "states": deviation_workflow.states,
        "classes": Classification.choices, "sources": Deviation.Source.choices,
        "sponsors": sponsor_selectors.sponsors_for(request.user).prefetch_related(None),
        "sort_headers": sort_headers(request, DEVIATION_COLUMNS, sort),
    })


@login_required
@require_http_methods(["GET", "POST"])
def deviation_new(request):
    require_to_see(request.user, "quality.raise_deviation")
    error, status = "", 200
    post = request.POST
    if request.method == "POST":
        try:
            sponsor = post.get("sponsor", "").strip()
            with transaction.atomic():
                deviation = services.raise_deviation(
                    request.user, title=post.get("title", ""), description=post.get("description", ""),
                    source="manual", area=post.get("area", ""), category=post.get("category", ""),
                    immediate_actions=post.get("immediate_actions", ""),
                    sponsor=sponsor_selectors.sponsor(request.user, sponsor) if sponsor else None)
                for type_name, reference in _record_references(post):
                    services.link_record(request.user, deviation, type_name=type_name, reference=reference)
            return redirect("quality:deviation", number=deviation.number)
        except DomainError as exc:
            error, status = exc.message, exc.status
        except ValidationError as exc:
            error, status = invalid_input(exc, Deviation), 422
    return render(request, "quality/deviation_form.html", {
        "form": post, "error": error, "categories": conf.deviation_categories(),
        "sponsors": sponsor_selectors.sponsors_for(request.user).prefetch_related(None),
        "record_kinds": _record_kinds(),
    }, status=status)


def _record_kinds():
    return sorted((k.type_name, k.label) for k in registry.kinds())


def _record_references(post) -> list[tuple[str, str]]:
    """'Concerns' rows of a form: (record type, reference) pairs; empty rows are skipped."""
    pairs = zip(post.getlist("record_type"), post.getlist("reference"), strict=False)
    return [(t.strip(), r.strip()) for t, r in pairs if r.strip()]


def _five_why_rows(post) -> list[dict]:
    return [{"why": w, "because": b} for w, b in zip(post.getlist("why"), post.getlist("because"), strict=False)]


def _deviation_context(request, deviation, *, error: str = "") -> dict:
    user = request.user
    transitions, blocked = deviation_workflow.actions(deviation, user)
    status = deviation.status
    active = status not in ("closed", "cancelled")
    whys = list(deviation.five_whys) + [{"why": "", "because": ""}] * max(5 - len(deviation.five_whys), 1)
    context = {
        "record": deviation, "reference": deviation.number, "kind": registry.kind("quality.deviation"),
        "workflow": deviation_workflow, "status_label": deviation_workflow.label(status),
        "transitions": [t for t in transitions if t.name not in DEVIATION_FORM_STEPS],
        "blocked": [(label, why) for label, why in blocked if label != "Classify"],
        "signatures": core_selectors.record_signatures(user, deviation),
        "links": selectors.deviation_links(user, deviation), "capas": selectors.deviation_capas(deviation),
        "extensions": selectors.extensions_of(deviation),
        "overdue": selectors.is_overdue(deviation), "days_left": selectors.days_left(deviation),
        "root_causes": conf.root_cause_categories(), "categories": conf.deviation_categories(),
        "category_label": dict(conf.deviation_categories()).get(deviation.category, deviation.category),
        "root_cause_label": dict(conf.root_cause_categories()).get(deviation.root_cause_category,
                                                                   deviation.root_cause_category),
        "five_whys": whys, "record_kinds": _record_kinds(), "error": error,
        "can_edit": status == "open" and (deviation.raised_by_id == user.pk
                                           or user.has_permission("quality.classify_deviation")),
        "can_classify": deviation_workflow.refusal(deviation, "classify", user) is None,
        "can_assign": status == "investigation" and user.has_permission("quality.classify_deviation"),
        "can_investigate": status == "investigation" and deviation.investigator_id == user.pk
        and user.has_permission("quality.investigate"),
        "can_work": active and services.may_work_on(user, deviation),
        "can_extend": status in services.EXTENDABLE["deviation"] and user.has_permission("quality.investigate"),
        "can_capa": active and user.has_permission("quality.manage_capa"),
    }
    if context["can_classify"]:
        context["tree"] = conf.decision_tree()
    if context["can_classify"] or context["can_assign"]:
        context["investigators"] = selectors.investigators(user, deviation.sponsor)
    if context["can_capa"]:
        context["owners"] = selectors.capa_owners(user, deviation.sponsor)
        context["linkable_capas"] = selectors.linkable_capas(user, deviation)
    return context


def _deviation_page(request, deviation, *, error: str = "", status: int = 200):
    return render(request, "quality/deviation_detail.html", _deviation_context(request, deviation, error=error),
                  status=status)


@login_required
def deviation_detail(request, number):
    require_to_see(request.user, "quality.view")
    return _deviation_page(request, selectors.deviation(request.user, number))


def _person_from(post, name: str, label: str):
    username = post.get(name, "").strip()
    if not username:
        raise RuleViolation(f"Choose the {label}.")
    person = User.objects.filter(username=username, is_active=True).first()
    if person is None:
        raise RuleViolation(f"No active user '{username}'.")
    return person


def _deviation_step(request, deviation, step: str):
    """One form posted from the deviation page."""
    post, user = request.POST, request.user
    if step == "edit":
        return services.edit_deviation(user, deviation, title=post.get("title", ""),
                                       description=post.get("description", ""), area=post.get("area", ""),
                                       category=post.get("category", ""))
    if step == "classify":
        tree = conf.decision_tree()
        return services.classify_deviation(
            user, deviation, answers={q.key: post.get(q.key, "") for q in tree.questions},
            classification=post.get("classification", ""), rationale=post.get("rationale", ""),
            investigator=_person_from(post, "investigator", "investigator"))
    if step == "investigator":
        return services.assign_investigator(user, deviation, investigator=_person_from(post, "investigator",
                                                                                      "investigator"),
                                            reason=post.get("reason", ""))
    if step == "investigation":
        return services.record_investigation(
            user, deviation, five_whys=_five_why_rows(post),
            **{name: post.get(name, "") for name in services.INVESTIGATION_FIELDS if name != "five_whys"})
    if step == "immediate-actions":
        return services.record_immediate_actions(user, deviation, immediate_actions=post.get("immediate_actions", ""))
    if step == "links":
        return services.link_record(user, deviation, type_name=post.get("record_type", ""),
                                    reference=post.get("reference", ""))
    if step == "extensions":
        return services.request_extension(user, deviation,
                                          requested_due_date=_date(post.get("requested_due_date", ""), "new due date"),
                                          justification=post.get("justification", ""))
    if step == "capas":
        if post.get("capa"):
            return services.link_capa(user, deviation, selectors.capa(user, post.get("capa", "")))
        return services.raise_capa(user, deviation=deviation, title=post.get("title", ""),
                                   problem=post.get("problem", ""), source="deviation",
                                   owner=_person_from(post, "owner", "CAPA owner"),
                                   due_date=_date(post.get("due_date", ""), "due date"),
                                   effectiveness_criteria=post.get("effectiveness_criteria", ""))
    raise NotFound(f"There is no step '{step}' on a deviation.")


DEVIATION_STEPS = ("edit", "classify", "investigator", "investigation", "immediate-actions", "links", "extensions",
                   "capas")


@login_required
@require_POST
def deviation_step(request, number, step):
    require_to_see(request.user, "quality.raise_deviation")
    deviation = selectors.deviation(request.user, number)
    if step not in DEVIATION_STEPS:
        raise NotFound(f"There is no step '{step}' on a deviation.")
    try:
        result = _deviation_step(request, deviation, step)
    except DomainError as exc:
        return _deviation_page(request, selectors.deviation(request.user, number), error=exc.message,
                               status=exc.status)
    except ValidationError as exc:
        return _deviation_page(request, selectors.deviation(request.user, number),
                               error=invalid_input(exc, Deviation), status=422)
    if isinstance(result, Capa):
        return redirect("quality:capa", number=result.number)
    return redirect("quality:deviation", number=deviation.number)


@login_required
def deviation_pdf(request, number):
    require_to_see(request.user, "quality.view")
    deviation = selectors.deviation(request.user, number)
    context = _deviation_context(request, deviation) | {"printed_by": request.user, "printed_at": clock.now()}
    pdf = render_pdf("quality/deviation_pdf.html", context, request=request)
    response = HttpResponse(pdf, content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="{deviation.number}.pdf"'
    return response


@login_required
def deviation_trends(request):
    require_to_see(request.user, "quality.view")
    filters = {"sponsor": request.GET.get("sponsor", "").strip(),
               "classification": request.GET.get("classification", "").strip()}
    trend = selectors.deviation_trend(request.user, **filters)
    tables = [("By month", "Month", trend["by_month"]), ("By category", "Category", trend["by_category"]),
              ("By area", "Area", trend["by_area"]), ("By root-cause category", "Root cause", trend["by_root_cause"])]
    return render(request, "quality/trends.html", {
        "trend": trend, "filters": filters, "classes": Classification.choices,
        "sponsors": sponsor_selectors.sponsors_for(request.user).prefetch_related(None),
        "sections": [(title, column, rows, trend_charts.bar_chart(title, rows, by_time=column == "Month"))
                     for title, column, rows in tables],
    })


@login_required
def extension_detail(request, number):
    require_to_see(request.user, "quality.view")
    extension = selectors.extension(request.user, number)
    target = extension.deviation or extension.capa
    return render(request, "quality/extension_detail.html", {
        "record": extension, "reference": extension.number, "kind": registry.kind("quality.duedateextension"),
        "workflow": extension_workflow, "status_label": extension_workflow.label(extension.status),
        "transitions": extension_workflow.actions(extension, request.user)[0],
        "blocked": extension_workflow.actions(extension, request.user)[1],
        "signatures": core_selectors.record_signatures(request.user, extension), "target": target,
        "target_url": reverse("quality:deviation" if extension.deviation_id else "quality:capa",
                              args=[target.number]),
    })


# --- CAPA ---

CAPA_COLUMNS = [("Number", "number"), ("Title", "title"), ("Source", "source"), ("Sponsor", "sponsor"),
                ("Owner", "owner"), ("Due", "due"), ("Status", "status")]


@login_required
def capa_list(request):
    require_to_see(request.user, "quality.view")
    get = request.GET
    filters = {name: get.get(name, "").strip() for name in ("status", "source", "sponsor", "q", "sort")}
    filters["overdue"] = get.get("overdue", "") == "1"
    sort = filters["sort"] or selectors.CAPA_LIST_DEFAULT_SORT
    capas = selectors.capas_for(request.user, status=filters["status"], source=filters["source"],
                                sponsor=filters["sponsor"], overdue=filters["overdue"], text=filters["q"], sort=sort)
    page = _labelled(paginate(request, capas), capa_workflow)
    return render(request, "quality/capas.html", {
        "page": page, "filters": filters, "states": capa_workflow.states,
        "sources": Capa.Source.choices,
        "sponsors": sponsor_selectors.sponsors_for(request.user).prefetch_related(None),
        "sort_headers": sort_headers(request, CAPA_COLUMNS, sort),
    })


@login_required
@require_http_methods(["GET", "POST"])
def capa_new(request):
    require_to_see(request.user, "quality.manage_capa")
    error, status = "", 200
    post = request.POST
    if request.method == "POST":
        try:
            sponsor = post.get("sponsor", "").strip()
            capa = services.raise_capa(
                request.user, title=post.get("title", ""), problem=post.get("problem", ""),
                source=post.get("source", ""), source_reference=post.get("source_reference", ""),
                sponsor=sponsor_selectors.sponsor(request.user, sponsor) if sponsor else None,
                owner=_person_from(post, "owner", "CAPA owner"), due_date=_date(post.get("due_date", ""), "due date"),
                effectiveness_criteria=post.get("effectiveness_criteria", ""))
            return redirect("quality:capa", number=capa.number)
        except DomainError as exc:
            error, status = exc.message, exc.status
        except ValidationError as exc:
            error, status = invalid_input(exc, Capa), 422
    return render(request, "quality/capa_form.html", {
        "form": post, "error": error, "sources": [c for c in Capa.Source.choices if c[0] != "deviation"],
        "sponsors": sponsor_selectors.sponsors_for(request.user).prefetch_related(None),
        "owners": selectors.capa_owners(request.user), "user": request.user,
    }, status=status)


def _capa_context(request, capa, *, error: str = "") -> dict:
    user = request.user
    transitions, blocked = capa_workflow.actions(capa, user)
    manage = user.has_permission("quality.manage_capa")
    actions = selectors.capa_actions(capa)
    for a in actions:
        a.may_complete = a.status == "open" and a.owner_id == user.pk and capa.status == "implementing"
        a.may_verify = a.status == "done" and manage and a.completed_by_id != user.pk
        a.may_cancel = a.status in ("open", "done") and manage and capa.status in ("draft", "implementing")
    return {
        "record": capa, "reference": capa.number, "kind": registry.kind("quality.capa"),
        "workflow": capa_workflow, "status_label": capa_workflow.label(capa.status),
        "transitions": [t for t in transitions if t.name not in CAPA_FORM_STEPS],
        "blocked": blocked, "signatures": core_selectors.record_signatures(user, capa),
        "actions": actions, "deviations": selectors.capa_deviations(user, capa),
        "extensions": selectors.extensions_of(capa), "overdue": selectors.is_overdue(capa),
        "kinds": CapaAction.Kind.choices, "results": Capa.Effectiveness.choices, "error": error,
        "owners": selectors.action_owners(user, capa.sponsor) if manage else [],
        "can_add_action": manage and capa.status in ("draft", "implementing"),
        "can_complete": capa_workflow.refusal(capa, "complete", user) is None,
        "can_record_effectiveness": manage and capa.status == "effectiveness_check",
        "can_extend": manage and capa.status in services.EXTENDABLE["capa"],
    }


def _capa_page(request, capa, *, error: str = "", status: int = 200):
    return render(request, "quality/capa_detail.html", _capa_context(request, capa, error=error), status=status)


@login_required
def capa_detail(request, number):
    require_to_see(request.user, "quality.view")
    return _capa_page(request, selectors.capa(request.user, number))


def _capa_step(request, capa, step: str):
    post, user = request.POST, request.user
    if step == "actions":
        return services.add_capa_action(user, capa, kind=post.get("kind", ""), description=post.get("description", ""),
                                        owner=_person_from(post, "owner", "action owner"),
                                        due_date=_date(post.get("due_date", ""), "due date"))
    if step == "completion":
        return services.complete_implementation(user, capa,
                                                effectiveness_criteria=post.get("effectiveness_criteria", ""))
    if step == "effectiveness":
        return services.record_effectiveness(user, capa, result=post.get("result", ""),
                                             evidence=post.get("evidence", ""))
    if step == "extensions":
        return services.request_extension(user, capa,
                                          requested_due_date=_date(post.get("requested_due_date", ""), "new due date"),
                                          justification=post.get("justification", ""))
    raise NotFound(f"There is no step '{step}' on a CAPA.")


def _capa_post(request, number, do):
    capa = selectors.capa(request.user, number)
    try:
        do(capa)
    except DomainError as exc:
        return _capa_page(request, selectors.capa(request.user, number), error=exc.message, status=exc.status)
    except ValidationError as exc:
        return _capa_page(request, selectors.capa(request.user, number), error=invalid_input(exc, CapaAction),
                          status=422)
    return redirect("quality:capa", number=capa.number)


@login_required
@require_POST
def capa_step(request, number, step):
    require_to_see(request.user, "quality.view")
    return _capa_post(request, number, lambda capa: _capa_step(request, capa, step))


ACTION_STEPS = {
    "complete": lambda request, action: services.complete_capa_action(request.user, action,
                                                                      evidence=request.POST.get("evidence", "")),
    "verify": lambda request, action: services.verify_capa_action(request.user, action),
    "cancel": lambda request, action: services.cancel_capa_action(request.user, action,
                                                                  reason=request.POST.get("reason", "")),
}


@login_required
@require_POST
def capa_action_step(request, number, pk, step):
    require_to_see(request.user, "quality.view")

    def do(capa):
        action = selectors.capa_action(request.user, capa, pk)
        if step not in ACTION_STEPS:
            raise NotFound(f"There is no step '{step}' on a CAPA action.")
        ACTION_STEPS[step](request, action)

    return _capa_post(request, number, do)


# --- Change control ---

def _date(value: str, label: str):
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise RuleViolation(f"Write the {label} as YYYY-MM-DD.") from None


CHANGE_COLUMNS = [("Number", "number"), ("Title", "title"), ("Kind", "kind"), ("Class", "classification"),
                  ("Status", "status"), ("Target date", "target"), ("Proposed", "created")]
RISK_ASSESSMENT_COLUMNS = [("Number", "number"), ("Title", "title"), ("Status", "status"), ("Rows", "rows"),
                           ("Highest RPN", "top_rpn"), ("Created", "created")]


def _change_filters(get) -> dict:
    return {name: get.get(name, "").strip() for name in ("status", "kind", "classification", "sponsor", "q", "sort")}


@login_required
def change_list(request):
    filters = _change_filters(request.GET)
    changes = selectors.changes_for(request.user, status=filters["status"], kind=filters["kind"],
                                    classification=filters["classification"], sponsor=filters["sponsor"],
                                    text=filters["q"], sort=filters["sort"])
    return render(request, "quality/changes.html", {
        "page": paginate(request, changes), "filters": filters, "states": change_workflow.states,
        "kinds": ChangeControl.Kind.choices, "classes": Classification.choices,
        "sponsors": sponsor_selectors.sponsors_for(request.user).prefetch_related(None),
        "sort_headers": sort_headers(request, CHANGE_COLUMNS),
    })


def _proposal_form(request) -> dict:
    post = request.POST
    sponsor = post.get("sponsor", "").strip()
    return {"title": post.get("title", ""), "description": post.get("description", ""),
            "justification": post.get("justification", ""), "kind": post.get("kind", ""),
            "target_date": _date(post.get("target_date", ""), "target date"),
            "sponsor": sponsor_selectors.sponsor(request.user, sponsor) if sponsor else None}


@login_required
@require_http_methods(["GET", "POST"])
def change_new(request):
    require_to_see(request.user, "quality.propose_change")
    error, status = "", 200
    if request.method == "POST":
        try:
            change = services.propose_change(request.user, **_proposal_form(request))
            return redirect("quality:change", number=change.number)
        except DomainError as exc:
            error, status = exc.message, exc.status
        except ValidationError as exc:
            error, status = invalid_input(exc, ChangeControl), 422
    return render(request, "quality/change_form.html", {
        "form": request.POST, "error": error, "kinds": ChangeControl.Kind.choices,
        "sponsors": sponsor_selectors.sponsors_for(request.user).prefetch_related(None)}, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def change_edit(request, number):
    require_to_see(request.user, "quality.propose_change")
    change = selectors.change(request.user, number)
    error, status = "", 200
    if request.method == "POST":
        try:
            services.edit_change(request.user, change, reason=request.POST.get("reason", ""),
                                 **_proposal_form(request))
            return redirect("quality:change", number=change.number)
        except DomainError as exc:
            error, status = exc.message, exc.status
        except ValidationError as exc:
            error, status = invalid_input(exc, ChangeControl), 422
    return render(request, "quality/change_form.html", {
        "change": change, "form": request.POST or None, "error": error, "kinds": ChangeControl.Kind.choices,
        "sponsors": sponsor_selectors.sponsors_for(request.user).prefetch_related(None)}, status=status)


def _change_context(request, change) -> dict:
    user = request.user
    transitions, blocked = change_workflow.actions(change, user)
    impacts = list(selectors.change_impacts(user, change))
    areas = [(label, [i for i in impacts if i.area == code]) for code, label in ChangeImpact.Area.choices]
    return {
        "record": change, "reference": change.number, "kind": registry.kind("quality.changecontrol"),
        "workflow": change_workflow, "status_label": change_workflow.label(change.status),
        "transitions": transitions, "blocked": blocked,
        "signatures": core_selectors.record_signatures(user, change),
        "impact_areas": [(label, rows) for label, rows in areas if rows], "impact_count": len(impacts),
        "approvals": selectors.change_approvals(user, change), "tasks": selectors.change_tasks(user, change),
        "risk_assessments": selectors.risk_assessments_for(user).filter(change=change),
        "area_choices": ChangeImpact.Area.choices, "classes": Classification.choices,
        "record_kinds": sorted((k.type_name, k.label) for k in registry.kinds()),
        "approval_states": sponsor_approval_workflow.states,
        "can_edit": user.has_permission("quality.propose_change") and change.status == "draft",
        "can_assess": user.has_permission("quality.assess_change") and change.status == "assessment",
        "can_add_impact": change.status in services.IMPACT_EDITABLE_STATES and user.has_permission(
            "quality.propose_change" if change.status == "draft" else "quality.assess_change"),
        "can_plan": change.status in services.TASK_PLANNING_STATES and (
            user.has_permission("quality.assess_change") or change.proposed_by_id == user.pk),
        "can_complete": change.status in CHANGE_IMPLEMENTABLE_STATES,
        "linkable_risks": selectors.risk_assessments_for(user).filter(change__isnull=True).exclude(status="void"),
        "sponsors": sponsor_selectors.sponsors_for(user).prefetch_related(None),
        "people": _people(),
    }


def _people():
    return User.objects.filter(is_active=True).order_by("full_name")


def _change_page(request, change, *, error: str = "", status: int = 200):
    context = _change_context(request, change) | {"error": error}
    return render(request, "quality/change_detail.html", context, status=status)


@login_required
def change_detail(request, number):
    return _change_page(request, selectors.change(request.user, number))


def _change_post(request, number, save):
    """A form posted from the change page: do it, then back to the page, or the page with the error."""
    change = selectors.change(request.user, number)
    try:
        save(change)
    except DomainError as exc:
        return _change_page(request, selectors.change(request.user, number), error=exc.message, status=exc.status)
    except ValidationError as exc:
        return _change_page(request, selectors.change(request.user, number), error=invalid_input(exc, ChangeImpact),
                            status=422)
    return redirect("quality:change", number=change.number)


@login_required
@require_POST
def change_assessment(request, number):
    require_to_see(request.user, "quality.assess_change")
    post = request.POST

    def save(change):
        risk_number = post.get("risk_assessment", "").strip()
        services.assess_change(
            request.user, change, classification=post.get("classification", ""),
            risk_summary=post.get("risk_summary", ""), regulatory_filing=post.get("regulatory_filing") == "on",
            regulatory_notes=post.get("regulatory_notes", ""),
            risk_assessment=selectors.risk_assessment(request.user, risk_number) if risk_number else None)

    return _change_post(request, number, save)


@login_required
@require_POST
def change_impacts(request, number):
    """Add an impact row, or (with `impact`) write the assessment of an existing one."""
    require_to_see(request.user, "quality.view")
    post = request.POST

    def save(change):
        if post.get("impact"):
            impact = selectors.change_impacts(request.user, change).filter(pk=_whole(post["impact"])).first()
            if impact is None:
                raise NotFound("No impact row of this change matches that reference.")
            services.assess_impact(request.user, impact, assessment=post.get("assessment", ""))
            return
        sponsor = post.get("sponsor", "").strip()
        services.add_impact(request.user, change, area=post.get("area", ""), assessment=post.get("assessment", ""),
                            record_type=post.get("record_type", "").strip(), reference=post.get("reference", ""),
                            sponsor=sponsor_selectors.sponsor(request.user, sponsor) if sponsor else None)

    return _change_post(request, number, save)


def _whole(value: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise RuleViolation(f"'{value}' is not a row number.") from None


@login_required
@require_POST
def change_tasks(request, number):
    """Plan an implementation task, or (with `task`) complete one and link what it produced."""
    require_to_see(request.user, "quality.view")
    post = request.POST

    def save(change):
        if post.get("task"):
            task = selectors.change_tasks(request.user, change).filter(pk=_whole(post["task"])).first()
            if task is None:
                raise NotFound("No task of this change matches that reference.")
            services.complete_change_task(request.user, task, record_type=post.get("record_type", "").strip(),
                                          reference=post.get("reference", ""))
            return
        owner = _people().filter(username=post.get("owner", "")).first()
        services.add_change_task(request.user, change, description=post.get("description", ""), owner=owner,
                                 due_date=_date(post.get("due_date", ""), "due date"),
                                 produces=post.get("produces", "").strip())

    return _change_post(request, number, save)


@login_required
def change_pdf(request, number):
    change = selectors.change(request.user, number)
    context = _change_context(request, change) | {"printed_by": request.user}
    pdf = render_pdf("quality/change_pdf.html", context, request=request)
    response = HttpResponse(pdf, content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="{change.number}.pdf"'
    return response


@login_required
def sponsor_approval(request, number):
    """What the sponsor's quality lead sees: the change's summary and their own sponsor's impacts."""
    approval = selectors.sponsor_approval(request.user, number)
    change = approval.change
    transitions, blocked = sponsor_approval_workflow.actions(approval, request.user)
    return render(request, "quality/change_sponsor_approval.html", {
        "record": approval, "reference": approval.number, "change": change,
        "kind": registry.kind("quality.sponsorapproval"), "workflow": sponsor_approval_workflow,
        "status_label": sponsor_approval_workflow.label(approval.status),
        "change_status_label": change_workflow.label(change.status),
        "transitions": transitions, "blocked": blocked,
        "impacts": selectors.change_impacts(request.user, change).filter(sponsor=approval.sponsor),
        "signatures": core_selectors.record_signatures(request.user, approval),
    })


# --- Risk assessment ---

@login_required
def risk_assessment_list(request):
    get = request.GET
    filters = {"status": get.get("status", "").strip(), "q": get.get("q", "").strip(),
               "sort": get.get("sort", "").strip()}
    assessments = selectors.risk_assessments_for(request.user, status=filters["status"], text=filters["q"],
                                                 sort=filters["sort"])
    return render(request, "quality/risk_assessments.html", {
        "page": paginate(request, assessments), "filters": filters, "states": risk_assessment_workflow.states,
        "sort_headers": sort_headers(request, RISK_ASSESSMENT_COLUMNS),
    })


@login_required
@require_http_methods(["GET", "POST"])
def risk_assessment_new(request):
    require_to_see(request.user, "quality.assess_risk")
    error, status = "", 200
    if request.method == "POST":
        post = request.POST
        try:
            method = selectors.approved_risk_methods().filter(number=post.get("method", "")).first()
            if method is None:
                raise RuleViolation("Choose an approved risk method.")
            sponsor, change = post.get("sponsor", "").strip(), post.get("change", "").strip()
            assessment = services.create_risk_assessment(
                request.user, title=post.get("title", ""), scope=post.get("scope", ""), method=method,
                sponsor=sponsor_selectors.sponsor(request.user, sponsor) if sponsor else None,
                subject_type=post.get("subject_type", "").strip(), subject_reference=post.get("subject", ""),
                change=selectors.change(request.user, change) if change else None)
            return redirect("quality:risk_assessment", number=assessment.number)
        except DomainError as exc:
            error, status = exc.message, exc.status
        except ValidationError as exc:
            error, status = invalid_input(exc, RiskAssessment), 422
    return render(request, "quality/risk_form.html", {
        "form": request.POST, "error": error, "methods": selectors.approved_risk_methods(),
        "sponsors": sponsor_selectors.sponsors_for(request.user).prefetch_related(None),
        "record_kinds": sorted((k.type_name, k.label) for k in registry.kinds()),
    }, status=status)


def _risk_context(request, assessment) -> dict:
    transitions, blocked = risk_assessment_workflow.actions(assessment, request.user)
    sort = request.GET.get("sort", "")
    rows = list(selectors.failure_modes(request.user, assessment, sort=sort))
    return {
        "record": assessment, "reference": assessment.number, "kind": registry.kind("quality.riskassessment"),
        "workflow": risk_assessment_workflow, "status_label": risk_assessment_workflow.label(assessment.status),
        "transitions": transitions, "blocked": blocked, "rows": rows, "sort": sort,
        "heat": selectors.heat_maps(assessment, rows),
        "signatures": core_selectors.record_signatures(request.user, assessment),
        "can_edit_rows": assessment.status == "draft" and request.user.has_permission("quality.assess_risk"),
    }


@login_required
def risk_assessment_detail(request, number):
    assessment = selectors.risk_assessment(request.user, number)
    return render(request, "quality/risk_detail.html", _risk_context(request, assessment))


FAILURE_MODE_NUMBERS = ("severity", "occurrence", "detection", "residual_severity", "residual_occurrence",
                        "residual_detection")


def _failure_mode_form(request) -> dict:
    post = request.POST
    fields = {name: post.get(name, "") for name in services.FAILURE_MODE_TEXT}
    for name in FAILURE_MODE_NUMBERS:
        value = post.get(name, "").strip()
        try:
            fields[name] = int(value) if value else None
        except ValueError:
            raise RuleViolation(f"{name.replace('_', ' ').capitalize()} must be a whole number.") from None
    action = post.get("capa_action", "").strip()
    fields["capa_action"] = _whole(action) if action else None
    return fields


@login_required
@require_http_methods(["GET", "POST"])
def failure_modes(request, number):
    """The form for a new FMEA row, or (with ?row= / row) for editing one while in draft."""
    require_to_see(request.user, "quality.assess_risk")
    assessment = selectors.risk_assessment(request.user, number)
    row_id = request.POST.get("row") or request.GET.get("row")
    row = None
    if row_id:
        row = selectors.failure_modes(request.user, assessment).filter(pk=_whole(row_id)).first()
        if row is None:
            raise NotFound("No row of this assessment matches that reference.")
    error, status = "", 200
    if request.method == "POST":
        try:
            fields = _failure_mode_form(request)
            if row is None:
                services.add_failure_mode(request.user, assessment, **fields)
            else:
                services.edit_failure_mode(request.user, row, **fields)
            return redirect("quality:risk_assessment", number=assessment.number)
        except DomainError as exc:
            error, status = exc.message, exc.status
        except ValidationError as exc:
            error, status = invalid_input(exc, FailureMode), 422
    return render(request, "quality/risk_failure_mode_form.html", {
        "assessment": assessment, "row": row, "form": request.POST or None, "error": error,
        "method": assessment.method, "capa_actions": selectors.capa_actions_to_link(request.user)[:200],
    }, status=status)


@login_required
def risk_method_list(request):
    return render(request, "quality/risk_methods.html", {"methods": selectors.risk_methods_for(request.user)})


@login_required
def risk_method_detail(request, number):
    method = selectors.risk_method(request.user, number)
    transitions, blocked = risk_method_workflow.actions(method, request.user)
    return render(request, "quality/risk_method_detail.html", {
        "record": method, "reference": method.number, "kind": registry.kind("quality.riskmethod"),
        "workflow": risk_method_workflow, "status_label": risk_method_workflow.label(method.status),
        "transitions": transitions, "blocked": blocked,
        "signatures": core_selectors.record_signatures(request.user, method),
        "definitions": sorted(method.scale_definitions.items()),
    })


def _json_field(value: str, label: str, default):
    if not value.strip():
        return default
    try:
        return json.loads(value)
    except ValueError:
        raise RuleViolation(f"{label}: write valid JSON (see the example).") from None


@login_required
@require_http_methods(["GET", "POST"])
def risk_method_new(request):
    require_to_see(request.user, "quality.assess_risk")
    error, status = "", 200
    if request.method == "POST":
        post = request.POST
        try:
            maxima = {}
            for name in ("severity_max", "occurrence_max", "detection_max"):
                maxima[name] = _whole(post.get(name, "10"))
            method = services.create_risk_method(
                request.user, name=post.get("name", ""), levels=_json_field(post.get("levels", ""), "Level rules", []),
                scale_definitions=_json_field(post.get("scale_definitions", ""), "Scale definitions", {}), **maxima)
            return redirect("quality:risk_method", number=method.number)
        except DomainError as exc:
            error, status = exc.message, exc.status
    return render(request, "quality/risk_method_form.html", {
        "form": request.POST, "error": error, "example_levels": json.dumps(DEFAULT_LEVELS)}, status=status)


# --- Dashboard ---

@login_required
def dashboard(request):
    return render(request, "quality/dashboard.html", {"board": selectors.dashboard(request.user)})


@login_required
def dashboard_tasks(request):
    """'My tasks' on the dashboard, loaded after the figures so that they show at once."""
    require_to_see(request.user, "quality.view")
    return render(request, "quality/dashboard_tasks.html", {"tasks": tasks.tasks_for(request.user)})
