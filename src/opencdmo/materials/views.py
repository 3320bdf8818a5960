"""Pages of the materials app. Thin: parse input, call a service or selector, render."""

import csv
import datetime as dt
import json

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from opencdmo.core import clock, registry
from opencdmo.core import selectors as core_selectors
from opencdmo.core.access import require_to_see
from opencdmo.core.barcodes import code128_svg
from opencdmo.core.errors import DomainError, NotFound, RuleViolation
from opencdmo.core.pdf import render_pdf
from opencdmo.sponsors import selectors as sponsor_selectors

from . import selectors, services
from .drawing import trace_svg
from .models import InventoryLocation, Material
from .workflows import STATUS_LABELS, lot_workflow


def _date(value: str, label: str) -> dt.date | None:
    value = (value or "").strip()
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise RuleViolation(f"Write the {label} as YYYY-MM-DD.") from None


def _days(value: str) -> int | None:
    value = (value or "").strip()
    if not value:
        return None
    try:
        return int(value)
    except ValueError:
        raise RuleViolation("Expiring within: give a whole number of days.") from None


# Inventory -----------------------------------------------------------------------------------

@login_required
def inventory(request):
    """Every lot the user may see, filtered by material, status, location and expiry window."""
    require_to_see(request.user, "materials.view")
    get = request.GET
    filters = {"material": get.get("material", "").strip(), "status": get.get("status", "").strip(),
               "location": get.get("location", "").strip(), "expiring_within": get.get("expiring_within", ""),
               "q": get.get("q", "").strip()}
    error, status, lots = "", 200, []
    try:
        lots = selectors.lots_for(request.user, material=filters["material"], status=filters["status"],
                                  location=filters["location"], expiring_within=_days(filters["expiring_within"]),
                                  text=filters["q"])
        lots = list(lots[:500])
    except DomainError as exc:
        error, status = exc.message, exc.status
    context = {"lots": lots, "filters": filters, "error": error, "statuses": STATUS_LABELS,
               "materials": selectors.materials_for(request.user), "locations": selectors.locations()}
    if request.htmx and not request.htmx.history_restore_request:
        return render(request, "materials/_lots_table.html", context, status=status)
    return render(request, "materials/inventory.html", context, status=status)


@login_required
def scan(request):
    """A scanned (or typed) lot number and Enter: straight to the lot's page."""
    require_to_see(request.user, "materials.view")
    found = selectors.find_lot(request.user, request.GET.get("number", ""))
    return redirect("materials:lot", number=found.number)


def _material_choices(user):
    return selectors.materials_for(user, active_only=True).prefetch_related("approved_suppliers")


@login_required
@require_http_methods(["GET", "POST"])
def receive(request):
    require_to_see(request.user, "materials.receive")
    error, status = "", 200
    if request.method == "POST":
        post = request.POST
        try:
            lot = services.receive_lot(
                request.user,
                material=selectors.material(request.user, post.get("material", "")),
                supplier=selectors.supplier(request.user, post.get("supplier", "")),
                supplier_lot=post.get("supplier_lot", ""), quantity=post.get("quantity", ""),
                unit=post.get("unit", ""), containers=post.get("containers", "") or 1,
                location=selectors.location(post.get("location", "")),
                expiry_date=_date(post.get("expiry_date"), "expiry date"),
                retest_date=_date(post.get("retest_date"), "retest date"),
                certificate=request.FILES.get("certificate"), notes=post.get("notes", ""))
            return redirect("materials:lot", number=lot.number)
        except DomainError as exc:
            error, status = exc.message, exc.status
    return render(request, "materials/receive.html", {
        "materials": _material_choices(request.user), "suppliers": selectors.suppliers(request.user, approved_only=True),
        "locations": selectors.locations().exclude(kind=InventoryLocation.Kind.PRODUCTION),
        "form": request.POST, "error": error,
    }, status=status)


# The lot record page -------------------------------------------------------------------------

def _lot_context(request, lot) -> dict:
    user = request.user
    usable, reasons = selectors.lot_usability(lot)
    return {
        "record": lot, "reference": lot.number, "kind": registry.kind("materials.lot"),
        "workflow": lot_workflow, "status_label": lot_workflow.label(lot.status),
        "transitions": lot_workflow.available(lot, user),
        "signatures": core_selectors.record_signatures(user, lot),
        "derived_status": selectors.lot_status(lot), "usable": usable, "reasons": reasons,
        "blockers": selectors.disposition_blockers(user, lot),
        "balances": selectors.lot_balances(lot), "total": selectors.lot_total(lot),
        "transactions": selectors.lot_transactions(lot)[:1000],
        "movements": selectors.lot_page_actions(user, lot),
        "outstanding": selectors.outstanding_issues(lot),
        "has_certificate": selectors.has_certificate(lot),
        "may_trace": user.has_permission("materials.view_genealogy"),
        "may_print_labels": services.may_print_labels(user),
    }


@login_required
def lot_detail(request, number):
    require_to_see(request.user, "materials.view")
    lot = selectors.lot(request.user, number)
    return render(request, "materials/lot_detail.html", _lot_context(request, lot))


@login_required
def lot_labels(request, number):
    """One container label per container, as PDF: barcode of the lot number and the eye-readable text."""
    require_to_see(request.user, "materials.view")
    lot = selectors.lot(request.user, number)
    services.record_label_print(request.user, lot, labels=lot.containers)
    pdf = render_pdf("materials/labels_pdf.html", {
        "lot": lot, "barcode": code128_svg(lot.number), "containers": range(1, lot.containers + 1),
        "status": selectors.lot_status(lot), "status_label": selectors.lot_status_label(lot),
        "printed_at": clock.now(), "printed_by": request.user,
    }, request=request)
    response = HttpResponse(pdf, content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="{lot.number}-labels.pdf"'
    return response


MOVEMENTS = {
    "issue": ("Issue", "materials.issue"),
    "return": ("Return", "materials.issue"),
    "sample": ("Sample", "materials.receive"),
    "transfer": ("Transfer", "materials.transfer"),
    "adjust": ("Adjust count", "materials.adjust"),
    "destroy": ("Destroy", "materials.adjust"),
}


def _source(request, lot, key: str):
    for item in selectors.outstanding_issues(lot):
        if item.key == key:
            return services.Destination(item.for_type, item.for_id, item.for_label)
    raise RuleViolation("Choose the record the stock comes back from.")


def _move(request, lot, kind: str):
    post, user = request.POST, request.user
    common = {"quantity": post.get("quantity", ""), "unit": post.get("unit", "")}
    if kind == "issue":
        return services.issue_lot(user, lot, location=selectors.location(post.get("location", "")), **common,
                                  to=services.destination(user, for_type=post.get("for_type", ""),
                                                          for_reference=post.get("for_reference", ""),
                                                          for_label=post.get("for_label", "")))
    if kind == "return":
        return services.return_lot(user, lot, location=selectors.location(post.get("location", "")), **common,
                                   source=_source(request, lot, post.get("source", "")),
                                   reason=post.get("reason", ""))
    if kind == "sample":
        return services.sample_lot(user, lot, location=selectors.location(post.get("location", "")), **common,
                                   reason=post.get("reason", ""))
    if kind == "transfer":
        return services.transfer_lot(user, lot, from_location=selectors.location(post.get("location", "")),
                                     to_location=selectors.location(post.get("to_location", "")), **common,
                                     reason=post.get("reason", ""))
    if kind == "adjust":
        return services.adjust_lot(user, lot, location=selectors.location(post.get("location", "")),
                                   counted=post.get("quantity", ""), unit=post.get("unit", ""),
                                   reason=post.get("reason", ""), raise_deviation=post.get("raise_deviation") == "on")
    return services.destroy_lot(user, lot, location=selectors.location(post.get("location", "")), **common,
                                reason=post.get("reason", ""))


@login_required
@require_http_methods(["GET", "POST"])
def movement(request, number, kind):
    """Issue, return, sample, transfer, adjust or destroy stock of one lot."""
    if kind not in MOVEMENTS:
        raise NotFound(f"There is no stock movement '{kind[:40]}'.")
    label, permission = MOVEMENTS[kind]
    require_to_see(request.user, permission)
    lot = selectors.lot(request.user, number)
    error, status = "", 200
    if request.method == "POST":
        try:
            _move(request, lot, kind)
            return redirect("materials:lot", number=lot.number)
        except DomainError as exc:
            error, status = exc.message, exc.status
    usable, reasons = selectors.lot_usability(lot)
    return render(request, "materials/movement.html", {
        "lot": lot, "kind": kind, "label": label, "form": request.POST, "error": error,
        "usable": usable, "reasons": reasons, "balances": selectors.lot_balances(lot),
        "locations": selectors.locations(), "outstanding": selectors.outstanding_issues(lot),
        "record_kinds": registry.kinds(),
    }, status=status)


# Material master -----------------------------------------------------------------------------

@login_required
def material_list(request):
    require_to_see(request.user, "materials.view")
    category, sponsor = request.GET.get("category", ""), request.GET.get("sponsor", "")
    return render(request, "materials/materials.html", {
        "materials": selectors.materials_for(request.user, category=category, sponsor=sponsor,
                                             text=request.GET.get("q", "").strip()),
        "categories": Material.Category.choices, "category": category, "sponsor": sponsor,
        "sponsors": sponsor_selectors.sponsors_for(request.user),
    })


def _material_fields(post) -> dict:
    return {"name": post.get("name", ""), "category": post.get("category", ""), "storage": post.get("storage", ""),
            "unit": post.get("unit", ""), "shelf_life_after_opening_days": post.get("shelf_life_after_opening_days", "")}


def _chosen_suppliers(request):
    return [selectors.supplier(request.user, code) for code in request.POST.getlist("suppliers")]


def _choices(request) -> dict:
    return {"categories": Material.Category.choices, "storages": Material.Storage.choices,
            "suppliers": selectors.suppliers(request.user),
            "sponsors": sponsor_selectors.sponsors_for(request.user)}


@login_required
@require_http_methods(["GET", "POST"])
def material_new(request):
    require_to_see(request.user, "materials.manage_master_data")
    error, status = "", 200
    if request.method == "POST":
        post = request.POST
        try:
            sponsor = sponsor_selectors.sponsor(request.user, post["sponsor"]) if post.get("sponsor") else None
            material = services.create_material(request.user, code=post.get("code", ""), sponsor=sponsor,
                                                suppliers=_chosen_suppliers(request), **_material_fields(post))
            return redirect("materials:material", code=material.code)
        except DomainError as exc:
            error, status = exc.message, exc.status
    return render(request, "materials/material_form.html", {
        **_choices(request), "form": request.POST, "error": error,
        "chosen": request.POST.getlist("suppliers")}, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def material_detail(request, code):
    require_to_see(request.user, "materials.view")
    material = selectors.material(request.user, code)
    error, status = "", 200
    if request.method == "POST":
        require_to_see(request.user, "materials.manage_master_data")
        post = request.POST
        try:
            if post.get("action") == "suppliers":
                services.set_approved_suppliers(request.user, material, _chosen_suppliers(request),
                                                reason=post.get("reason", ""))
            else:
                services.update_material(request.user, material, reason=post.get("reason", ""),
                                         is_active=post.get("is_active") == "on", **_material_fields(post))
            return redirect("materials:material", code=material.code)
        except DomainError as exc:
            error, status = exc.message, exc.status
            material = selectors.material(request.user, code)
    return render(request, "materials/material_detail.html", {
        **_choices(request), "material": material, "error": error,
        "chosen": [s.code for s in material.approved_suppliers.all()],
        "lots": selectors.lots_for(request.user, material=material.code)[:200],
        "can_edit": request.user.has_permission("materials.manage_master_data"),
        "events": core_selectors.record_audit_trail(request.user, material)[:100]
        if request.user.has_permission("core.view_audit_trail") else None,
    }, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def supplier_list(request):
    require_to_see(request.user, "materials.view")
    error, status = "", 200
    if request.method == "POST":
        post = request.POST
        try:
            if post.get("action") in ("approve", "disqualify"):
                services.set_supplier_approval(request.user, selectors.supplier(request.user, post.get("supplier", "")),
                                               approved=post["action"] == "approve", reason=post.get("reason", ""))
            else:
                services.create_supplier(request.user, code=post.get("code", ""), name=post.get("name", ""))
            return redirect("materials:suppliers")
        except DomainError as exc:
            error, status = exc.message, exc.status
    listed = [(s, selectors.supplied_materials(request.user, s)) for s in selectors.suppliers(request.user)]
    return render(request, "materials/suppliers.html", {
        "suppliers": listed, "error": error, "form": request.POST,
        "can_edit": request.user.has_permission("materials.manage_master_data")}, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def location_list(request):
    require_to_see(request.user, "materials.view")
    error, status = "", 200
    if request.method == "POST":
        try:
            services.create_location(request.user, code=request.POST.get("code", ""),
                                     name=request.POST.get("name", ""), kind=request.POST.get("kind", ""))
            return redirect("materials:locations")
        except DomainError as exc:
            error, status = exc.message, exc.status
    return render(request, "materials/locations.html", {
        "locations": selectors.locations(), "kinds": InventoryLocation.Kind.choices, "error": error,
        "form": request.POST, "can_edit": request.user.has_permission("materials.manage_master_data")},
        status=status)


# Recall: trace a lot backward and forward ----------------------------------------------------

@login_required
def trace(request):
    require_to_see(request.user, "materials.view_genealogy")
    number = request.GET.get("lot", "").strip()
    context = {"number": number, "recall": None, "error": ""}
    if not number:
        return render(request, "materials/trace.html", context)
    try:
        found = selectors.find_lot(request.user, number)
    except DomainError as exc:
        context["error"] = exc.message
        return render(request, "materials/trace.html", context, status=exc.status)
    result = selectors.recall(request.user, found)
    fmt = request.GET.get("format", "")
    if fmt in ("csv", "json"):
        return _export_trace(request, result, fmt)
    context.update(recall=result, number=found.number,
                   drawings=[(t.direction, trace_svg(t)) for t in (result.backward, result.forward) if t.edges])
    return render(request, "materials/trace.html", context)


def _export_trace(request, result, fmt: str) -> HttpResponse:
    rows = selectors.trace_rows(result.backward) + selectors.trace_rows(result.forward)
    services.record_trace_export(request.user, result.lot, file_format=fmt, links=len(rows))
    lot = result.lot
    name = f"{lot.number}-trace.{fmt}"
    if fmt == "json":
        body = {
            "lot": lot.number, "material": f"{lot.material.code} {lot.material.name}",
            "exported_at": clock.now().isoformat(), "exported_by": request.user.full_name,
            "backward": [r for r in rows if r["direction"] == "backward"],
            "forward": [r for r in rows if r["direction"] == "forward"],
            "affected_records": [{"node": n.key, "type": n.record_type, "label": n.label, "depth": n.depth}
                                 for n in result.downstream],
            "source_records": [{"node": n.key, "type": n.record_type, "label": n.label, "depth": n.depth}
                               for n in result.upstream],
        }
        response = HttpResponse(json.dumps(body, indent=2, ensure_ascii=False), content_type="application/json")
    else:
        response = HttpResponse(content_type="text/csv; charset=utf-8")
        writer = csv.writer(response)
        columns = ["direction", "depth", "parent", "parent_label", "child", "child_label", "quantity", "unit"]
        writer.writerow(columns)
        for row in rows:
            writer.writerow([row[c] for c in columns])
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response

