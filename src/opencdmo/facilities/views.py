"""Pages of the facilities app. Thin: parse input, call a service or selector, render.

The small record forms (calibration, maintenance, cleaning, use, room cleaning, line clearance)
open in the page's dialog through HTMX and answer with HX-Redirect once saved; without
script they are pages of their own. A refused entry shows the service's message, 4xx.
"""

import datetime as dt
from urllib.parse import urlparse

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods, require_POST

from opencdmo.core import clock, registry
from opencdmo.core import selectors as core_selectors
from opencdmo.core.access import require_to_see
from opencdmo.core.errors import DomainError, NotFound, RuleViolation
from opencdmo.core.scoping import scoped
from opencdmo.quality import selectors as quality_selectors

from . import conf, selectors, services
from .models import CalibrationRecord, Equipment, MaintenanceRecord, RoomCleaning
from .workflows import EQUIPMENT_STATES, ROOM_STATES, equipment_workflow, line_clearance_workflow, room_workflow


def _form(request, template: str, context: dict, status: int = 200):
    """A record form: in the dialog when HTMX asked for it, else as a page of its own."""
    if request.htmx:
        return render(request, template, context, status=status)
    return render(request, "facilities/form_page.html", {**context, "form_template": template}, status=status)


def _done(request, url: str):
    if request.htmx:
        response = HttpResponse(status=204)
        response["HX-Redirect"] = url
        return response
    return redirect(url)


def _blocked(workflow, record, user) -> list[tuple[str, str]]:
    """Steps the user may take in general but not now, with the rule that stops them."""
    blocked = []
    for t in workflow.transitions:
        if record.status in t.sources and user.has_permission(t.permission):
            why = workflow.refusal(record, t.name, user)
            if why is not None:
                blocked.append((t.label, why))
    return blocked


def _back(request, fallback: str) -> str:
    """Where a dialog form returns to: the page it was opened from (same site only), else `fallback`."""
    target = request.POST.get("next", "")
    if target.startswith("/") and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return target
    return fallback


def _opened_from(request) -> str:
    if request.htmx and request.htmx.current_url:
        return urlparse(request.htmx.current_url).path
    return ""


def _signatures(user, record):
    return core_selectors.record_signatures(user, record) if user.has_permission("core.view_signatures") else []


def _room_from_form(user, code: str):
    if not code:
        return None
    try:
        return selectors.room(user, code)
    except NotFound:
        raise RuleViolation("Choose the room from the list.") from None


# Rooms

@login_required
def room_board(request):
    require_to_see(request.user, "facilities.view")
    rows = selectors.room_board(request.user)
    return render(request, "facilities/room_board.html", {
        "rows": rows, "rotation_days": conf.sporicidal_rotation().days, "states": ROOM_STATES,
    })


@login_required
@require_http_methods(["GET", "POST"])
def room_new(request):
    require_to_see(request.user, "facilities.manage_rooms")
    error, status = "", 200
    areas = [a for s in selectors.sites(request.user) for a in s.areas.all()]
    if request.method == "POST":
        post = request.POST
        try:
            area = next((a for a in areas if a.code == post.get("area", "")), None)
            if area is None:
                raise RuleViolation("Choose the area from the list.")
            room = services.create_room(request.user, area=area, code=post.get("code", ""),
                                        name=post.get("name", ""), grade=post.get("grade", ""),
                                        iso_class_at_rest=post.get("iso_class_at_rest", ""),
                                        iso_class_in_operation=post.get("iso_class_in_operation", ""),
                                        within=selectors.zone_host(request.user, post.get("within", "")))
            return redirect("facilities:room", code=room.code)
        except DomainError as exc:
            error, status = exc.message, exc.status
    return render(request, "facilities/room_form.html", {
        "areas": areas, "form": request.POST, "error": error, "grades": ["A", "B", "C", "D", "U"],
        "hosts": selectors.zone_hosts(request.user),
    }, status=status)


@login_required
def room_detail(request, code):
    require_to_see(request.user, "facilities.view")
    room = selectors.room(request.user, code)
    return render(request, "facilities/room_detail.html", {
        "record": room, "reference": room.code, "kind": registry.kind("facilities.room"),
        "workflow": room_workflow, "status_label": room_workflow.label(room.status),
        "transitions": room_workflow.available(room, request.user),
        "signatures": _signatures(request.user, room),
        "rotation": selectors.room_rotation(room), "cleanings": selectors.room_cleanings(room),
        "clearances": selectors.line_clearances(request.user, room=room)[:50],
        "equipment_rows": [selectors.equipment_row(e) for e in selectors.equipment_list(request.user, room=room)],
        "zones": selectors.zone_codes([room.pk]).get(room.pk, []),
    })


@login_required
@require_http_methods(["GET", "POST"])
def room_cleaning_new(request, code):
    require_to_see(request.user, "facilities.clean")
    room = selectors.room(request.user, code)
    context = {"room": room, "agent_types": RoomCleaning.AgentType.choices, "form": request.POST,
               "rotation": selectors.room_rotation(room), "next": request.POST.get("next") or _opened_from(request)}
    if request.method == "POST":
        post = request.POST
        try:
            services.record_room_cleaning(request.user, room, agent=post.get("agent", ""),
                                          agent_type=post.get("agent_type", ""), agent_lot=post.get("agent_lot", ""),
                                          notes=post.get("notes", ""))
            return _done(request, _back(request, reverse("facilities:room", args=[room.code])))
        except DomainError as exc:
            return _form(request, "facilities/_room_cleaning_form.html", {**context, "error": exc.message},
                         exc.status)
    return _form(request, "facilities/_room_cleaning_form.html", context)


# Line clearances

def _checklist(request, items: list[str], *, ticked: list[str]) -> dict:
    """The checklist to show: as given, or as the user posted it (kept when the entry is refused)."""
    if request.method == "POST":
        posted = [(item, str(i) in request.POST.getlist("ok")) for i, item in enumerate(request.POST.getlist("item"))
                  if item.strip()]
        items, ticked = [item for item, _ in posted], [str(i) for i, (_, ok) in enumerate(posted) if ok]
    return {"items": [*items, "", ""], "ticked": ticked}


def _checks_from_form(post) -> list[dict]:
    items = post.getlist("item")
    ticked = set(post.getlist("ok"))
    checks = [{"item": item, "ok": str(i) in ticked} for i, item in enumerate(items) if item.strip()]
    return checks


# Batches register under this name (a layer above facilities): a clearance names one by its number.
CLEARED_RECORD_TYPE = "batches.batch"


def _cleared_record(user, reference: str) -> tuple[str, str]:
    """(record type, id) of the batch a clearance is for, when `reference` names one the user may
    see: the batch's start checks for exactly that link. Free text (a campaign) links nothing."""
    kind = registry.kind(CLEARED_RECORD_TYPE)
    found = kind and scoped(kind.model, user).filter(**{kind.lookup: reference.strip()}).first()
    return (CLEARED_RECORD_TYPE, str(found.pk)) if found else ("", "")


@login_required
@require_http_methods(["GET", "POST"])
def line_clearance_new(request, code):
    require_to_see(request.user, "facilities.line_clearance")
    room = selectors.room(request.user, code)
    context = {"room": room, "form": request.POST if request.method == "POST" else request.GET,
               **_checklist(request, list(services.DEFAULT_LINE_CLEARANCE_CHECKS), ticked=[])}
    if request.method == "POST":
        try:
            for_record = request.POST.get("for_record", "")
            record_type, record_id = _cleared_record(request.user, str(for_record))
            clearance = services.start_line_clearance(
                request.user, room=room, for_record=for_record, for_record_type=record_type, for_record_id=record_id,
                checks=_checks_from_form(request.POST), comments=request.POST.get("comments", ""))
            return _done(request, reverse("facilities:line_clearance", args=[clearance.number]))
        except DomainError as exc:
            return _form(request, "facilities/_line_clearance_form.html", {**context, "error": exc.message},
                         exc.status)
    return _form(request, "facilities/_line_clearance_form.html", context)


@login_required
def line_clearance_list(request):
    require_to_see(request.user, "facilities.view")
    status = request.GET.get("status", "")
    return render(request, "facilities/line_clearances.html", {
        "clearances": selectors.line_clearances(request.user, status=status or None)[:500],
        "states": line_clearance_workflow.states, "status": status,
    })


def _line_clearance_context(request, clearance) -> dict:
    return {
        "record": clearance, "reference": clearance.number, "kind": registry.kind("facilities.lineclearance"),
        "workflow": line_clearance_workflow, "status_label": line_clearance_workflow.label(clearance.status),
        "transitions": line_clearance_workflow.available(clearance, request.user),
        "blocked": _blocked(line_clearance_workflow, clearance, request.user),
        "signatures": _signatures(request.user, clearance),
        "can_recheck": clearance.status == "open" and request.user.has_permission("facilities.line_clearance"),
    }


@login_required
def line_clearance_detail(request, number):
    require_to_see(request.user, "facilities.view")
    clearance = selectors.line_clearance(request.user, number)
    return render(request, "facilities/line_clearance_detail.html", _line_clearance_context(request, clearance))


@login_required
@require_http_methods(["GET", "POST"])
def line_clearance_checks(request, number):
    require_to_see(request.user, "facilities.line_clearance")
    clearance = selectors.line_clearance(request.user, number)
    context = {"clearance": clearance, "room": clearance.room, "form": request.POST,
               **_checklist(request, [c["item"] for c in clearance.checks],
                            ticked=[str(i) for i, c in enumerate(clearance.checks) if c.get("ok")])}
    if request.method == "POST":
        try:
            services.record_line_clearance_checks(request.user, clearance, checks=_checks_from_form(request.POST),
                                                  comments=request.POST.get("comments", ""))
            return _done(request, reverse("facilities:line_clearance", args=[clearance.number]))
        except DomainError as exc:
            return _form(request, "facilities/_line_clearance_form.html", {**context, "error": exc.message},
                         exc.status)
    return _form(request, "facilities/_line_clearance_form.html", context)


# Equipment

def _flag(value: str) -> bool | None:
    return {"yes": True, "no": False}.get(value)


@login_required
def equipment_board(request):
    require_to_see(request.user, "facilities.view")
    get = request.GET
    room = None
    if get.get("room"):
        room = next((r for r in selectors.rooms(request.user) if r.code == get["room"]), None)
    status = get.get("status", "") if get.get("status", "") in EQUIPMENT_STATES else ""
    rows = selectors.equipment_board(request.user, status=status or None, room=room, usable=_flag(get.get("usable", "")))
    return render(request, "facilities/equipment_board.html", {
        "rows": rows, "states": EQUIPMENT_STATES, "rooms": selectors.rooms_for_choice(request.user),
        "filters": {"status": status, "room": room.code if room else "", "usable": get.get("usable", "")},
        "warning_days": conf.due_warning().days,
    })


@login_required
def equipment_due(request):
    require_to_see(request.user, "facilities.view")
    now = clock.now()
    horizon = request.GET.get("horizon", "month")
    warning_days = conf.due_warning().days
    if horizon == "ahead":
        until, title = now + dt.timedelta(days=warning_days), f"Due in the next {warning_days} days"
    else:
        horizon = "month"
        until, title = selectors.end_of_month(now), f"Due by the end of {selectors.end_of_month(now) - dt.timedelta(seconds=1):%B %Y}"
    items = selectors.equipment_due(request.user, until=until, at=now)
    return render(request, "facilities/equipment_due.html", {
        "items": items, "horizon": horizon, "title": title, "warning_days": warning_days,
        "overdue": sum(1 for i in items if i.state == "overdue"),
    })


EQUIPMENT_FORM_FIELDS = ("name", "kind", "manufacturer", "model_number", "serial_number", "calibration_interval_days",
                         "calibration_tolerance", "maintenance_interval_days", "requalification_interval_days",
                         "clean_hold_hours", "iq_date", "oq_date", "pq_date")


def _equipment_form(request) -> dict:
    post = request.POST
    values = {f: post.get(f, "") for f in EQUIPMENT_FORM_FIELDS}
    values["room"] = _room_from_form(request.user, post.get("room", ""))
    return values


def _equipment_form_context(request, **extra) -> dict:
    return {"kinds": Equipment.Kind.choices, "rooms": selectors.rooms_for_choice(request.user), **extra}


@login_required
@require_http_methods(["GET", "POST"])
def equipment_new(request):
    require_to_see(request.user, "facilities.manage_equipment")
    error, status = "", 200
    if request.method == "POST":
        try:
            equipment = services.register_equipment(request.user, number=request.POST.get("number", ""),
                                                    **_equipment_form(request))
            return redirect("facilities:equipment", number=equipment.number)
        except DomainError as exc:
            error, status = exc.message, exc.status
    return render(request, "facilities/equipment_form.html",
                  _equipment_form_context(request, form=request.POST, error=error), status=status)


@login_required
@require_http_methods(["GET", "POST"])
def equipment_edit(request, number):
    require_to_see(request.user, "facilities.manage_equipment")
    equipment = selectors.equipment(request.user, number)
    error, status = "", 200
    if request.method == "POST":
        try:
            values = _equipment_form(request)
            if equipment.status != "commissioning":  # qualification dates are not on the form then
                for f in ("iq_date", "oq_date", "pq_date"):
                    values.pop(f)
            services.edit_equipment(request.user, equipment, reason=request.POST.get("reason", ""), **values)
            return redirect("facilities:equipment", number=equipment.number)
        except DomainError as exc:
            error, status = exc.message, exc.status
    return render(request, "facilities/equipment_form.html", _equipment_form_context(
        request, equipment=equipment, form=request.POST or None, error=error), status=status)


def _equipment_context(request, equipment) -> dict:
    user = request.user
    return {
        "record": equipment, "reference": equipment.number, "kind": registry.kind("facilities.equipment"),
        "workflow": equipment_workflow, "status_label": equipment_workflow.label(equipment.status),
        "transitions": equipment_workflow.available(equipment, user),
        "blocked": _blocked(equipment_workflow, equipment, user),
        "signatures": _signatures(user, equipment),
        "row": selectors.equipment_row(equipment),
        "calibrations": selectors.calibrations(equipment), "maintenance": selectors.maintenance(equipment),
        "cleanings": selectors.cleanings(equipment), "uses": selectors.uses(equipment),
        "deviations": quality_selectors.deviations_about(user, equipment)[:50],
        "can_edit": user.has_permission("facilities.manage_equipment") and equipment.status != "retired",
        "active": equipment.status != "retired",
    }


@login_required
def equipment_detail(request, number):
    require_to_see(request.user, "facilities.view")
    equipment = selectors.equipment(request.user, number)
    return render(request, "facilities/equipment_detail.html", _equipment_context(request, equipment))


def _equipment_record_form(request, number, *, permission: str, template: str, save, extra=None):
    """GET: the form; POST: call `save(user, equipment, post)`, then back to the equipment page."""
    require_to_see(request.user, permission)
    equipment = selectors.equipment(request.user, number)
    context = {"equipment": equipment, "form": request.POST, "row": selectors.equipment_row(equipment),
               **(extra or {})}
    if request.method == "POST":
        try:
            save(request.user, equipment, request.POST)
            return _done(request, reverse("facilities:equipment", args=[equipment.number]))
        except DomainError as exc:
            return _form(request, template, {**context, "error": exc.message}, exc.status)
    return _form(request, template, context)


@login_required
@require_http_methods(["GET", "POST"])
def calibration_new(request, number):
    return _equipment_record_form(
        request, number, permission="facilities.calibrate", template="facilities/_calibration_form.html",
        extra={"results": CalibrationRecord.Result.choices},
        save=lambda user, e, post: services.record_calibration(
            user, e, result=post.get("result", ""), as_found=post.get("as_found", ""),
            as_left=post.get("as_left", ""), certificate=post.get("certificate", ""), notes=post.get("notes", "")))


@login_required
@require_http_methods(["GET", "POST"])
def maintenance_new(request, number):
    return _equipment_record_form(
        request, number, permission="facilities.maintain", template="facilities/_maintenance_form.html",
        extra={"kinds": MaintenanceRecord.Kind.choices},
        save=lambda user, e, post: services.record_maintenance(
            user, e, kind=post.get("kind", ""), description=post.get("description", "")))


@login_required
@require_http_methods(["GET", "POST"])
def equipment_cleaning_new(request, number):
    return _equipment_record_form(
        request, number, permission="facilities.clean", template="facilities/_equipment_cleaning_form.html",
        save=lambda user, e, post: services.clean_equipment(
            user, e, agent=post.get("agent", ""), agent_lot=post.get("agent_lot", "")))


@login_required
@require_http_methods(["GET", "POST"])
def use_new(request, number):
    return _equipment_record_form(
        request, number, permission=services.USE_PERMISSION, template="facilities/_use_form.html",
        save=lambda user, e, post: services.log_equipment_use(user, e, used_for_label=post.get("used_for_label", "")))


@login_required
@require_POST
def use_end(request, number, pk):
    require_to_see(request.user, services.USE_PERMISSION)
    equipment = selectors.equipment(request.user, number)
    services.end_equipment_use(request.user, selectors.use(request.user, equipment, pk))
    return _done(request, reverse("facilities:equipment", args=[equipment.number]))
