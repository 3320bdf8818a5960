"""Pages of patients, therapy orders and treatment centres: thin, they call selectors and services."""

import datetime as dt

from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from opencdmo.core import registry
from opencdmo.core import selectors as core_selectors
from opencdmo.core.access import require_to_see
from opencdmo.core.errors import DomainError, RuleViolation
from opencdmo.core.views import invalid_input, paginate, sort_headers
from opencdmo.sponsors import selectors as sponsor_selectors

from . import selectors, services
from .models import Patient, TherapyOrder, TreatmentCentre
from .workflows import order_workflow, patient_workflow

PATIENT_COLUMNS = [("Number", "number"), ("Subject id", "subject"), ("Sponsor", "sponsor"), ("Centre", "centre"),
                   ("Status", "status"), ("Latest COI", "coi"), ("Planned collection", "collection")]
PATIENT_ORDER = {"number": ("number",), "subject": ("subject_id", "number"), "sponsor": ("sponsor__code", "number"),
                 "centre": ("centre__code", "number"), "status": ("status", "number"),
                 "coi": ("latest_coi", "number"), "collection": ("latest_collection", "number")}


def _date(value: str, label: str) -> dt.date | None:
    value = (value or "").strip()
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise RuleViolation(f"Write the {label} as YYYY-MM-DD.") from None


def _printed(order: TherapyOrder) -> TherapyOrder:
    order.printed = selectors.printed_coi(order.coi)
    order.status_label = order_workflow.label(order.status)
    return order


@login_required
def patient_list(request):
    require_to_see(request.user, "identity.view")
    get = request.GET
    filters = {name: get.get(name, "").strip() for name in ("sponsor", "centre", "status", "q", "sort")}
    sort = filters["sort"] or "-number"
    fields = PATIENT_ORDER.get(sort.lstrip("-"), ("number",))
    patients = selectors.patients_for(request.user, sponsor=filters["sponsor"], centre=filters["centre"],
                                      status=filters["status"], text=filters["q"])
    page = paginate(request, patients.order_by(*(f"-{f}" if sort.startswith("-") else f for f in fields)))
    for row in page.object_list:
        row.status_label = patient_workflow.label(row.status)
        row.printed = selectors.printed_coi(row.latest_coi) if row.latest_coi else None
    return render(request, "identity/patients.html", {
        "page": page, "filters": filters, "states": patient_workflow.states,
        "sponsors": sponsor_selectors.sponsors_for(request.user).prefetch_related(None),
        "centres": selectors.centres_for(request.user),
        "sort_headers": sort_headers(request, PATIENT_COLUMNS, sort),
    })


@login_required
@require_http_methods(["GET", "POST"])
def patient_new(request):
    require_to_see(request.user, "identity.enroll")
    user, post = request.user, request.POST
    error, status = "", 200
    if request.method == "POST":
        try:
            if not post.get("centre", "").strip():
                raise RuleViolation("Choose the treatment centre of the patient.")
            patient = services.enroll_patient(
                user, centre=selectors.centre(user, post.get("centre")), subject_id=post.get("subject_id", ""),
                date_of_birth=_date(post.get("date_of_birth", ""), "date of birth"))
            return redirect("identity:patient", number=patient.number)
        except DomainError as exc:
            error, status = exc.message, exc.status
        except ValidationError as exc:
            error, status = invalid_input(exc, Patient), 422
    return render(request, "identity/patient_form.html", {
        "form": post, "error": error, "centres": selectors.centres_for(user, active_only=True),
    }, status=status)


@login_required
def patient_detail(request, number):
    user = request.user
    patient = selectors.patient(user, number)
    transitions, blocked = patient_workflow.actions(patient, user)
    return render(request, "identity/patient_detail.html", {
        "record": patient, "reference": patient.number, "kind": registry.kind("identity.patient"),
        "workflow": patient_workflow, "status_label": patient_workflow.label(patient.status),
        "transitions": transitions, "blocked": blocked,
        "signatures": core_selectors.record_signatures(user, patient),
        "orders": [_printed(o) for o in selectors.orders_of(patient)],
        "may_order": user.has_permission("identity.enroll") and patient.status == "enrolled",
    })


@login_required
@require_http_methods(["GET", "POST"])
def order_new(request, number):
    require_to_see(request.user, "identity.enroll")
    user, post = request.user, request.POST
    patient = selectors.patient(user, number)
    error, status = "", 200
    if request.method == "POST":
        try:
            if not post.get("product", "").strip():
                raise RuleViolation("Choose the product to make for the patient.")
            order = services.order_therapy(
                user, patient, product=selectors.product(user, post.get("product")),
                planned_collection=_date(post.get("planned_collection", ""), "planned collection date"))
            return redirect("identity:order", number=order.number)
        except DomainError as exc:
            error, status = exc.message, exc.status
        except ValidationError as exc:
            error, status = invalid_input(exc, TherapyOrder), 422
    return render(request, "identity/order_form.html", {
        "patient": patient, "form": post, "error": error,
        "products": selectors.autologous_products(user, patient),
    }, status=status)


@login_required
def order_detail(request, number):
    user = request.user
    order = _printed(selectors.order(user, number))
    transitions, blocked = order_workflow.actions(order, user)
    return render(request, "identity/order_detail.html", {
        "record": order, "reference": order.number, "kind": registry.kind("identity.therapyorder"),
        "workflow": order_workflow, "status_label": order.status_label,
        "transitions": transitions, "blocked": blocked,
        "signatures": core_selectors.record_signatures(user, order),
    })


@login_required
def centre_list(request):
    return render(request, "identity/centres.html", {"centres": selectors.centres_for(request.user)})


@login_required
@require_http_methods(["GET", "POST"])
def centre_new(request):
    require_to_see(request.user, "identity.manage_centres")
    user, post = request.user, request.POST
    error, status = "", 200
    if request.method == "POST":
        try:
            if not post.get("sponsor", "").strip():
                raise RuleViolation("Choose the sponsor whose patients the centre treats.")
            centre = services.create_centre(
                user, sponsor=sponsor_selectors.sponsor(user, post.get("sponsor", "").strip()),
                code=post.get("code", ""), name=post.get("name", ""), address=post.get("address", ""))
            return redirect(reverse("identity:centres") + f"#centre-{centre.pk}")
        except DomainError as exc:
            error, status = exc.message, exc.status
        except ValidationError as exc:
            error, status = invalid_input(exc, TreatmentCentre), 422
    return render(request, "identity/centre_form.html", {
        "form": post, "error": error, "sponsors": sponsor_selectors.sponsors_for(user).prefetch_related(None),
    }, status=status)


# --- Collections and handoffs ------------------------------------------------------------------
# --- end of collections and handoffs ---

# --- Shipments ---------------------------------------------------------------------------------
# --- end of shipments ---

# --- Cryostorage -------------------------------------------------------------------------------
# --- end of cryostorage ---

# --- Labels and their reconciliation -----------------------------------------------------------
# --- end of labels ---

# --- Labelling settings, timeline and in-flight board ------------------------------------------
# --- end of settings, timeline and board ---
