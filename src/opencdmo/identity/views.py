"""Pages of patients, therapy orders and treatment centres: thin, they call selectors and services."""

import datetime as dt
from decimal import Decimal, InvalidOperation

from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from opencdmo.core import registry
from opencdmo.core import selectors as core_selectors
from opencdmo.core.access import require_to_see
from opencdmo.core.errors import DomainError, NotFound, RuleViolation
from opencdmo.core.signatures import SignatureInput
from opencdmo.core.views import invalid_input, paginate, signer_at_screen, sort_headers
from opencdmo.facilities import selectors as facilities_selectors
from opencdmo.sponsors import selectors as sponsor_selectors

from . import selectors, services
from .domain import custody
from .labels import LabelKind
from .models import (
    Collection,
    CustodyEvent,
    FreezerAlarm,
    Milestone,
    Patient,
    ProductIdentity,
    Shipment,
    TherapyOrder,
    TreatmentCentre,
)
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
        "signatures": core_selectors.record_signatures(user, order), **_custody_of(user, order),
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

def _status_label(record) -> str:
    """Where a unit is, or how far a collection or shipment got, as the pages say it."""
    states = {"unit": services.UNIT_STATES, "collection": services.COLLECTION_STATES,
              "shipment": services.SHIPMENT_STATES}[record._meta.model_name]
    return states.get(record.status, record.status)


def _labelled(records):
    """Units, collections or shipments ready for a table: status label, DIN as printed."""
    for record in records:
        record.status_label = _status_label(record)
        if getattr(record, "din", ""):
            record.printed_din = selectors.printed_din(record.din)
    return records


def _record_page(user, record) -> dict:
    """What core/record_page.html needs of a custody record (no transitions: handoffs move them)."""
    kind = registry.kind(f"identity.{record._meta.model_name}")
    return {"record": record, "reference": record.number, "kind": kind, "workflow": kind.workflow,
            "status_label": _status_label(record), "transitions": [],
            "signatures": core_selectors.record_signatures(user, record)}


def _signature_fields(post) -> tuple:
    """The second person at the same screen, signing 'Verified': who and their signature, or
    neither when the fields are left empty (the service says when a second person is needed)."""
    if not post.get("username", "").strip():
        return None, None
    return (signer_at_screen(post, "The second person"),
            SignatureInput(meaning="Verified", username=post.get("username", ""), password=post.get("password", "")))


def _refusal(exc: DomainError) -> dict:
    """What the page shows beside the scan field when a handoff is refused: the message, and the
    deviation a mismatch raised."""
    return {"error": exc.message, "deviation": getattr(exc, "deviation", None)}


def _whole_number(value: str, label: str) -> int:
    text = (value or "").strip()
    if not text.isdigit():
        raise RuleViolation(f"Give the {label} as a whole number.")
    return int(text)


def _custody_of(user, order: TherapyOrder) -> dict:
    """The order page's custody part: collections, containers, handoffs, shipments, and what the
    user may do next."""
    open_ = order.status == "ordered"
    return {
        "collections": _labelled(selectors.collections_of(order)),
        "units": _labelled(selectors.units_of(order)),
        "events": selectors.custody_events(user, order),
        "shipments": _labelled(order.shipments.all()),
        "may_book": open_ and user.has_permission(services.COLLECT),
        "may_register_product": open_ and user.has_permission("identity.custody"),
        "may_ship": open_ and (user.has_permission(services.SHIP) or user.has_permission(services.COLLECT)),
        "may_receive": user.has_permission("identity.custody"),
    }


@login_required
@require_http_methods(["GET", "POST"])
def collection_new(request, number):
    require_to_see(request.user, services.COLLECT)
    user, post = request.user, request.POST
    order = _printed(selectors.order(user, number))
    error, status = "", 200
    if request.method == "POST":
        try:
            centre = selectors.centre(user, post.get("centre")) if post.get("centre", "").strip() else None
            collection = services.book_collection(
                user, order, planned_on=_date(post.get("planned_on", ""), "planned collection date"), centre=centre)
            return redirect("identity:collection", number=collection.number)
        except DomainError as exc:
            error, status = exc.message, exc.status
        except ValidationError as exc:
            error, status = invalid_input(exc, Collection), 422
    return render(request, "identity/collection_form.html", {
        "order": order, "form": post, "error": error,
        "centres": selectors.centres_for(user, active_only=True).filter(sponsor=order.patient.sponsor_id),
    }, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def collection_detail(request, number):
    """A booked collection: its DIN for the bag labels, and the form that records it took place."""
    user, post = request.user, request.POST
    collection = selectors.collection(user, number)
    refusal, status = {}, 200
    if request.method == "POST":
        try:
            services.record_collection(user, collection, bags=_whole_number(post.get("bags", ""), "number of bags"),
                                       scanned=post.get("scanned", "").strip() or None)
            return redirect("identity:collection", number=collection.number)
        except DomainError as exc:
            refusal, status = _refusal(exc), exc.status
        collection = selectors.collection(user, number)
    return render(request, "identity/collection_detail.html", {
        **_record_page(user, collection), "order": _printed(collection.order),
        "printed_din": selectors.printed_din(collection.din), "units": _labelled(collection.units.all()),
        "may_record": user.has_permission(services.COLLECT) and collection.status == "booked",
        "form": post, **refusal,
    }, status=status)


def _unit_context(user, unit, *, form=None, refusal=None) -> dict:
    order = _printed(unit.order)
    # The handoffs that take a unit where this one is, among those the user may record.
    kinds = [(Milestone(kind), kind in services.CRITICAL_HANDOFFS) for kind, handoff in services.HANDOFFS.items()
             if unit.status in handoff.accepts and user.has_permission(handoff.permission)]
    return {
        **_record_page(user, unit), "order": order, "printed_din": selectors.printed_din(unit.din),
        "events": selectors.custody_events(user, order).filter(unit=unit),
        "handoff_kinds": kinds, "next_kind": (form or {}).get("kind") or (kinds[0][0] if kinds else ""),
        "form": form or {}, **(refusal or {}), "placement": selectors.placement_of(user, unit),
        "may_see_storage": user.has_permission("identity.view_storage"),
        "may_decide": unit.status == "rejected" and user.has_permission("identity.release_for_shipment"),
    }


@login_required
def unit_detail(request, number):
    unit = selectors.unit(request.user, number)
    return render(request, "identity/unit_detail.html", _unit_context(request.user, unit))


@login_required
@require_POST
def unit_decision(request, number):
    """QA's signed decision on a unit held after its shipment was rejected: accept or destroy."""
    user, post = request.user, request.POST
    unit = selectors.unit(user, number)
    decision = post.get("decision", "")
    try:
        services.decide_held_unit(user, unit, decision=decision, reason=post.get("reason", ""), signature=SignatureInput(
            meaning=services.HELD_DECISIONS.get(decision, ""), username=post.get("username", ""),
            password=post.get("password", "")))
    except DomainError as exc:
        unit = selectors.unit(user, number)
        return render(request, "identity/unit_detail.html", _unit_context(user, unit, form=post, refusal=_refusal(exc)),
                      status=exc.status)
    return redirect("identity:unit", number=unit.number)


@login_required
@require_POST
def handoff(request, number):
    """One handoff of a unit: the scan must name it (a mismatch is refused, kept and raises a
    deviation); receipt, final labeling and release for shipment need a second person here. Who
    may record which handoff is the service's to say (the case manager records pickups and infusions)."""
    user, post = request.user, request.POST
    unit = selectors.unit(user, number)
    try:
        verifier, signature = _signature_fields(post)
        services.hand_over(user, unit, post.get("kind", ""), scanned=post.get("scanned", ""),
                           from_party=post.get("from_party", ""), to_party=post.get("to_party", ""),
                           location=post.get("location", ""), note=post.get("note", ""), verifier=verifier,
                           signature=signature, first_in_session=True)
    except DomainError as exc:
        unit = selectors.unit(user, number)
        return render(request, "identity/unit_detail.html",
                      _unit_context(user, unit, form=post, refusal=_refusal(exc)), status=exc.status)
    return redirect(reverse("identity:unit", args=[unit.number]) + "#events")


@login_required
@require_http_methods(["GET", "POST"])
def final_product_new(request, number):
    """The final product bags of a therapy, registered with a new DIN and the final product code."""
    require_to_see(request.user, "identity.custody")
    user, post = request.user, request.POST
    order = _printed(selectors.order(user, number))
    error, status = "", 200
    if request.method == "POST":
        try:
            services.register_final_product(user, order, bags=_whole_number(post.get("bags", ""), "number of bags"))
            return redirect(reverse("identity:order", args=[order.number]) + "#units")
        except DomainError as exc:
            error, status = exc.message, exc.status
    return render(request, "identity/unit_form.html", {"order": order, "form": post, "error": error},
                  status=status)


# The receipt screen at the CDMO's goods receipt.
RECEIVED_AT = "Goods receipt"


def _expected(user, query) -> tuple:
    """What the handler is receiving: a shipment, or a therapy's units in transit (by its order)."""
    if reference := query.get("shipment", "").strip():
        shipment = selectors.inbound_shipment(user, reference)
        return shipment, shipment.order, list(shipment.units.all())
    if number := query.get("order", "").strip():
        order = selectors.order(user, number)
        return None, order, [u for u in selectors.units_of(order) if u.status in ("in_transit", "received")]
    return None, None, []


def _receive_query(shipment, order) -> str:
    return f"shipment={shipment.number}" if shipment else f"order={order.number}"


def _bag_scanned(user, shipment, order, units, scanned):
    """The awaited bag this scan names. Any other bag is checked against the therapy and the DIN
    awaited, so a bag of another patient or another collection is refused, kept and raises its
    deviation."""
    waiting = [u for u in units if u.status == "in_transit"]
    try:
        found = services.unit_from_scan(user, scanned)
    except NotFound:
        found = None
    bag = next((u for u in units if found and u.pk == found.pk), None)
    if bag is not None and bag not in waiting:
        raise RuleViolation(f"{bag.number} is {_status_label(bag).lower()}: it is not awaited any more.")
    if bag is not None:
        return bag
    # Refused against what is awaited (the therapy and its collection's DIN), never pinned on one of
    # the awaited bags: the refusal is the shipment's, with the scan as it was read.
    services.verify_scan(user, order, scanned, kind=Milestone.RECEIPT, shipment=shipment, location=RECEIVED_AT,
                         expected=custody.Expected(coi=order.coi, din=waiting[0].din if waiting else ""))
    raise RuleViolation("This bag is not awaited here: set it aside and ask who sent it.")


def _receive_bag(user, post, shipment, units):
    """The bag scanned before, received now that the second person signs for it."""
    bag = next((u for u in units if u.number == post.get("unit", "").strip()), None)
    if bag is None:
        raise RuleViolation("That bag is not awaited here: scan it again.")
    verifier, signature = _signature_fields(post)
    if verifier is None:
        raise RuleViolation("The second person enters their user ID and password to verify the receipt.")
    services.hand_over(user, bag, Milestone.RECEIPT, scanned=post.get("scanned", ""), location=RECEIVED_AT,
                       from_party=shipment.courier if shipment else "", to_party=RECEIVED_AT,
                       verifier=verifier, signature=signature, first_in_session=True)
    return bag


@login_required
@require_http_methods(["GET", "POST"])
def receive(request):
    """The material handler's receipt screen: choose the shipment expected, receive its shipper
    (logger summary), then scan each bag. A bag of another patient or another container is refused
    here with its deviation and nothing is received; the right bag is received once the second
    person signs on this screen."""
    require_to_see(request.user, "identity.custody")
    user, post = request.user, request.POST
    context, status = {"form": {}, "bag": None}, 200
    try:
        shipment, order, units = _expected(user, post if request.method == "POST" else request.GET)
    except DomainError as exc:
        if request.method == "POST":
            raise
        # A shipper label or number that names nothing on its way: say so on the choice screen.
        (shipment, order, units), status = (None, None, []), exc.status
        context.update(_refusal(exc))
    context.update({"shipment": shipment, "order": order})
    if request.method == "POST" and order is not None:
        step = post.get("step", "")
        try:
            if step == "shipper" and shipment is not None:
                _receive_shipper(user, shipment, post)
                return redirect(f"{reverse('identity:receive')}?{_receive_query(shipment, order)}")
            if step == "verify":
                bag = _receive_bag(user, post, shipment, units)
                return redirect(f"{reverse('identity:receive')}?{_receive_query(shipment, order)}"
                                f"&verified={bag.number}")
            context["bag"] = _bag_scanned(user, shipment, order, units, post.get("scanned", ""))
            context["form"] = {"scanned": post.get("scanned", "")}
        except DomainError as exc:
            context.update(_refusal(exc))
            status = exc.status
            if step == "verify" and not isinstance(exc, services.CustodyMismatch):  # sign again
                context["bag"] = next((u for u in units if u.number == post.get("unit", "").strip()), None)
                context["form"] = {"scanned": post.get("scanned", "")}
            elif step == "shipper":
                context["form"] = post
    if order is None:
        context["inbound"] = selectors.shipments_for(user, direction=Shipment.Direction.INBOUND).filter(
            units__status="in_transit").distinct()[:50]
        return render(request, "identity/receive.html", context, status=status)
    receipts = {e.unit_id: e for e in selectors.custody_events(user, order).filter(
        kind=Milestone.RECEIPT, result=CustodyEvent.Result.VERIFIED)}
    context.update({
        "shipment": shipment, "order": _printed(order),
        "units": [(u, receipts.get(u.pk)) for u in _labelled(units)],
        "shipper_awaited": shipment is not None and shipment.received_at is None,
        "all_received": bool(units) and all(u.pk in receipts for u in units),
        "verified": next((u for u in units if u.number == request.GET.get("verified") and u.pk in receipts), None),
    })
    return render(request, "identity/receive.html", context, status=status)


# --- Shipments ---------------------------------------------------------------------------------

SHIPMENT_COLUMNS = [("Number", "number"), ("Order", "order"), ("Direction", "direction"), ("Status", "status"),
                    ("Courier", "courier"), ("From → to", "origin"), ("Dispatched", "dispatched"),
                    ("Received", "received")]
SHIPMENT_ORDER = {"number": ("number",), "order": ("order__number", "number"), "direction": ("direction", "number"),
                  "status": ("status", "number"), "courier": ("courier", "number"), "origin": ("origin", "number"),
                  "dispatched": ("dispatched_at", "number"), "received": ("received_at", "number")}


def _decimal(value: str, label: str) -> Decimal:
    try:
        return Decimal((value or "").strip().replace(",", ".").replace("−", "-"))
    except InvalidOperation:
        raise RuleViolation(f"Give the {label} in °C as a number, e.g. -152.5.") from None


def _receive_shipper(user, shipment, post) -> None:
    """The shipper received: its label scanned, its temperature logger read, accepted or rejected."""
    if post.get("accepted", "") not in ("yes", "no"):
        raise RuleViolation("Accept or reject the shipment.")
    services.receive_shipment(
        user, shipment, scanned=post.get("scanned", ""),
        logger_min_c=_decimal(post.get("logger_min_c", ""), "lowest logger temperature"),
        logger_max_c=_decimal(post.get("logger_max_c", ""), "highest logger temperature"),
        minutes_out_of_range=_whole_number(post.get("minutes_out_of_range", ""), "minutes out of range"),
        accepted=post.get("accepted") == "yes", note=post.get("note", ""))


@login_required
def shipment_list(request):
    require_to_see(request.user, "identity.view")
    filters = {name: request.GET.get(name, "").strip() for name in ("status", "direction", "sort")}
    sort = filters["sort"] or "-number"
    fields = SHIPMENT_ORDER.get(sort.lstrip("-"), ("number",))
    shipments = selectors.shipments_for(request.user, status=filters["status"], direction=filters["direction"])
    page = paginate(request, shipments.order_by(*(f"-{f}" if sort.startswith("-") else f for f in fields)))
    _labelled(page.object_list)
    return render(request, "identity/shipments.html", {
        "page": page, "filters": filters, "directions": Shipment.Direction.choices,
        "states": services.SHIPMENT_STATES, "sort_headers": sort_headers(request, SHIPMENT_COLUMNS, sort),
    })


def _shipment_context(user, shipment, *, form=None, refusal=None, action: str = "") -> dict:
    order = _printed(shipment.order)
    # Inbound, the case manager books the courier pickup and the CDMO receives; outbound, the CDMO
    # ships and the case manager confirms the site's receipt.
    outbound = shipment.direction == Shipment.Direction.OUTBOUND
    return {
        **_record_page(user, shipment), "order": order, "units": _labelled(shipment.units.all()),
        "events": selectors.custody_events(user, order).filter(shipment=shipment),
        "may_dispatch": shipment.status == "packing" and user.has_permission(
            services.SHIP if outbound else services.COLLECT),
        "may_receive": shipment.status == "in_transit" and user.has_permission(
            services.COLLECT if outbound else "identity.custody"),
        "form": form or {}, "action": action, **(refusal or {}),
    }


@login_required
def shipment_detail(request, number):
    shipment = selectors.shipment(request.user, number)
    return render(request, "identity/shipment_detail.html", _shipment_context(request.user, shipment))


@login_required
@require_http_methods(["GET", "POST"])
def shipment_new(request, number):
    if not request.user.has_permission(services.COLLECT):  # the case manager books inbound shipments
        require_to_see(request.user, services.SHIP)
    user, post = request.user, request.POST
    order = _printed(selectors.order(user, number))
    units = _labelled(selectors.units_of(order))
    error, status = "", 200
    if request.method == "POST":
        try:
            shipment = services.create_shipment(
                user, order, direction=post.get("direction", ""), units=[u for u in units if u.number in
                                                                         post.getlist("units")],
                courier=post.get("courier", ""), origin=post.get("origin", ""),
                destination=post.get("destination", ""), logger_id=post.get("logger_id", ""))
            return redirect("identity:shipment", number=shipment.number)
        except DomainError as exc:
            error, status = exc.message, exc.status
        except ValidationError as exc:
            error, status = invalid_input(exc, Shipment), 422
    return render(request, "identity/shipment_form.html", {
        "order": order, "units": units, "form": post, "chosen": post.getlist("units"), "error": error,
        "directions": Shipment.Direction.choices,
    }, status=status)


def _shipment_post(request, number, action: str, run):
    """A dispatch or receipt posted from the shipment's page (the service checks who may): back to
    it, or it again with the refusal."""
    shipment = selectors.shipment(request.user, number)
    try:
        run(shipment)
    except DomainError as exc:
        shipment = selectors.shipment(request.user, number)
        return render(request, "identity/shipment_detail.html", _shipment_context(
            request.user, shipment, form=request.POST, refusal=_refusal(exc), action=action), status=exc.status)
    return redirect("identity:shipment", number=shipment.number)


@login_required
@require_POST
def shipment_dispatch(request, number):
    post = request.POST

    def dispatch(shipment):
        verifier, signature = _signature_fields(post)
        services.dispatch_shipment(request.user, shipment, scanned=post.get("scanned", ""), verifier=verifier,
                                   signature=signature, first_in_session=True)

    return _shipment_post(request, number, "dispatch", dispatch)


@login_required
@require_POST
def shipment_receive(request, number):
    return _shipment_post(request, number, "receipt",
                          lambda shipment: _receive_shipper(request.user, shipment, request.POST))


@login_required
@require_POST
def shipment_cancel(request, number):
    return _shipment_post(request, number, "cancel", lambda shipment: services.cancel_shipment(
        request.user, shipment, reason=request.POST.get("reason", "")))


# --- Cryostorage -------------------------------------------------------------------------------

STORAGE_ACTIONS = {"place": "Place", "move": "Move", "retrieve": "Retrieve"}


@login_required
def storage_list(request):
    return render(request, "identity/storage_list.html", {"rows": selectors.freezers(request.user)})


@login_required
@require_http_methods(["GET", "POST"])
def freezer_detail(request, code):
    """The freezer's racks and boxes as occupancy maps; forms to raise and acknowledge alarms and
    to retire the freezer (each service checks its own permission)."""
    user, post = request.user, request.POST
    freezer = selectors.freezer(user, code)
    error, status = "", 200
    if request.method == "POST":
        action = post.get("action", "")
        try:
            if action == "raise_alarm":
                services.raise_alarm(user, freezer, kind=post.get("kind", ""), value=post.get("value", ""),
                                     note=post.get("note", ""))
            elif action == "acknowledge":
                alarm = selectors.alarm(user, post.get("alarm"))
                if alarm.freezer_id != freezer.pk:
                    raise NotFound("No such alarm of this freezer: reload the page.")
                services.acknowledge_alarm(user, alarm, note=post.get("note", ""))
            elif action == "retire":
                services.retire_freezer(user, freezer, reason=post.get("reason", ""))
            else:
                raise RuleViolation("Choose what to do: raise an alarm, acknowledge one, or retire the freezer.")
            return redirect("identity:freezer", code=freezer.code)
        except DomainError as exc:
            error, status = exc.message, exc.status
    return render(request, "identity/storage_freezer.html", {
        "freezer": freezer, "racks": selectors.freezer_map(user, freezer),
        "alarms": selectors.alarms_of(user, freezer)[:50],
        "open_alarms": selectors.alarms_of(user, freezer, open_only=True),
        "alarm_kinds": FreezerAlarm.Kind.choices, "form": post, "error": error,
    }, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def storage_scan(request):
    """The operator's screen at the freezer: scan the unit, scan the position, place / move / retrieve."""
    require_to_see(request.user, "identity.custody")
    user, post = request.user, request.POST
    action = post.get("action") if post.get("action") in STORAGE_ACTIONS else "place"
    result, error, status = None, "", 200
    if request.method == "POST":
        unit_scan, position_scan = post.get("unit", ""), post.get("position", "")
        try:
            if action == "retrieve":
                placement = services.retrieve_unit(user, unit_scan=unit_scan, reason=post.get("reason", ""))
                result = f"{placement.unit.number} taken out of {placement.box.code}/{placement.position}: you hold it."
            else:
                do = services.place_unit if action == "place" else services.move_unit
                placement = do(user, unit_scan=unit_scan, position_scan=position_scan)
                result = f"{placement.unit.number} is in {placement.box.code}/{placement.position}."
        except DomainError as exc:
            error, status = exc.message, exc.status
    return render(request, "identity/storage_scan.html", {
        "action": action, "actions": STORAGE_ACTIONS, "result": result, "error": error,
        "form": post if error else {},
    }, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def storage_new(request):
    """Add a freezer, a rack to a freezer, or a box to a rack."""
    require_to_see(request.user, "identity.manage_storage")
    user, post = request.user, request.POST
    error, status = "", 200
    if request.method == "POST":
        what = post.get("what", "")
        try:
            if what == "freezer":
                room_code = post.get("room", "").strip()
                if not room_code:
                    raise RuleViolation("Choose the room the freezer stands in.")
                equipment = post.get("equipment", "").strip()
                freezer = services.create_freezer(
                    user, code=post.get("code", ""), name=post.get("name", ""),
                    room=facilities_selectors.room(user, room_code),
                    equipment=facilities_selectors.equipment(user, equipment) if equipment else None,
                    alarm_above_c=post.get("alarm_above_c", "") or -150)
            elif what == "rack":
                freezer = selectors.freezer(user, post.get("freezer", ""))
                services.add_rack(user, freezer, code=post.get("code", ""))
            elif what == "box":
                freezer_code, _, rack_code = post.get("rack", "").partition("/")
                freezer = selectors.freezer(user, freezer_code)
                services.add_box(user, selectors.rack(user, freezer, rack_code), code=post.get("code", ""),
                                 rows=post.get("rows", "") or 5, columns=post.get("columns", "") or 5)
            else:
                raise RuleViolation("Choose what to add: a freezer, a rack or a box.")
            return redirect("identity:freezer", code=freezer.code)
        except DomainError as exc:
            error, status = exc.message, exc.status
    return render(request, "identity/storage_new.html", {
        "form": post, "error": error, "rooms": facilities_selectors.rooms_for_choice(user),
        "freezers": [row.freezer for row in selectors.freezers(user, active_only=True)],
        "racks": selectors.racks(user),
    }, status=status)


# --- Labels and their reconciliation -----------------------------------------------------------

def _label_page(request, order, *, error: str = "", status: int = 200, form=None):
    user = request.user
    prints = list(selectors.label_prints(user, order))
    for row in prints:
        row.kind_label = LabelKind(row.kind).label
    return render(request, "identity/order_labels.html", {
        "order": _printed(order), "error": error, "form": form or {},
        "prints": prints, "reconciliation": selectors.label_reconciliation(order),
        "units": order.units.order_by("kind", "id"), "shipments": order.shipments.order_by("-created_at", "-id"),
        "kinds": list(LabelKind), "may_print": user.has_permission("identity.custody") and order.status == "ordered",
        "may_reconcile": user.has_permission("identity.custody"),
    }, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def order_labels(request, number):
    """The labels printed for a therapy and their reconciliation; printing answers with the PDF."""
    user, post = request.user, request.POST
    order = selectors.order(user, number)
    if request.method == "GET":
        return _label_page(request, order)
    try:
        if post.get("action") == "reconcile":
            label_print = selectors.label_print(user, post.get("print", ""))
            if label_print.order_id != order.pk:
                raise NotFound("No label print of this therapy has that number.")
            services.reconcile_labels(user, label_print, applied=post.get("applied", ""),
                                      destroyed=post.get("destroyed", ""), note=post.get("note", ""))
            return redirect(reverse("identity:order_labels", args=[order.number]) + f"#print-{label_print.pk}")
        copies = post.get("copies", "1").strip()
        if not copies.isdigit():
            raise RuleViolation("Give the number of copies as a whole number.")
        units = [order.units.filter(number=n).first() for n in post.getlist("unit")]
        if None in units:
            raise NotFound("A container chosen is not one of this therapy's.")
        shipment = None
        if post.get("kind") == LabelKind.SHIPPER:
            shipment = order.shipments.filter(number=post.get("shipment", "").strip()).first()
        prints, pdf = services.print_labels(user, order, kind=post.get("kind", ""), units=units, shipment=shipment,
                                            copies=int(copies))
    except DomainError as exc:
        return _label_page(request, order, error=exc.message, status=exc.status, form=post)
    response = HttpResponse(pdf, content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{order.number}-labels-{prints[0].pk}.pdf"'
    return response


# --- Labelling settings, timeline and in-flight board ------------------------------------------

MILESTONES = list(Milestone.values)
BOARD_COLUMNS = [("Urgency", "urgency"), ("Order", "number"), ("Sponsor", "sponsor"), ("Product", "product"),
                 ("Stage", "stage"), ("Since collection", "collection"), ("Next deadline", "deadline")]
BOARD_ORDER = {
    "urgency": lambda row: row.urgency,
    "number": lambda row: row.number,
    "sponsor": lambda row: (row.sponsor, row.urgency),
    "product": lambda row: (row.product, row.urgency),
    "stage": lambda row: (MILESTONES.index(row.stage), row.urgency),
    "collection": lambda row: (row.since_collection is None, row.since_collection or dt.timedelta(0), row.number),
    "deadline": lambda row: (row.next_window is None, row.next_window.deadline if row.next_window else 0, row.number),
}


@login_required
def timeline(request, number):
    found = selectors.timeline(request.user, number)
    return render(request, "identity/timeline.html", {
        "timeline": found, "printed": selectors.printed_coi(found.order.coi),
        # One reverse for the page, not one per event: a therapy has a hundred of them.
        "units_path": reverse("identity:unit", args=["-"]).removesuffix("-/"),
    })


@login_required
def board(request):
    user, get = request.user, request.GET
    filters = {name: get.get(name, "").strip() for name in ("sponsor", "product", "at_risk", "sort")}
    rows = selectors.board(user, sponsor=filters["sponsor"], product=filters["product"],
                           at_risk_only=filters["at_risk"] == "1")
    sort = filters["sort"] if filters["sort"].lstrip("-") in BOARD_ORDER else "urgency"
    rows.sort(key=BOARD_ORDER[sort.lstrip("-")], reverse=sort.startswith("-"))
    return render(request, "identity/board.html", {
        "page": paginate(request, rows), "count": len(rows), "filters": filters,
        "sponsors": sponsor_selectors.sponsors_for(user).prefetch_related(None),
        "products": selectors.therapy_products(user),
        "sort_headers": sort_headers(request, BOARD_COLUMNS, sort),
    })


@login_required
@require_http_methods(["GET", "POST"])
def product_settings(request, code):
    require_to_see(request.user, services.CONFIGURE)
    user, post = request.user, request.POST
    settings = selectors.product_settings(user, code)
    error, status = "", 200
    if request.method == "POST":
        try:
            if post.get("form") == "window":
                services.set_window(user, settings.product, start=post.get("start", ""), end=post.get("end", ""),
                                    limit_hours=post.get("limit_hours", ""), warn_hours=post.get("warn_hours") or 0,
                                    reason=post.get("reason", ""))
            else:
                services.set_product_identity(
                    user, settings.product, collection_pdc=post.get("collection_pdc", ""),
                    final_pdc=post.get("final_pdc", ""), collection_type=post.get("collection_type", ""),
                    storage=post.get("storage", ""), shelf_life_days=post.get("shelf_life_days", ""),
                    reason=post.get("reason", ""))
            return redirect("identity:product_settings", code=settings.product.code)
        except DomainError as exc:
            error, status = exc.message, exc.status
        except ValidationError as exc:
            error, status = invalid_input(exc, ProductIdentity), 422
    current = settings.identity or ProductIdentity()  # a new one shows the model's defaults
    fields = ("collection_pdc", "final_pdc", "collection_type", "storage", "shelf_life_days")
    posted = post.get("form", "")
    return render(request, "identity/product_settings.html", {
        "settings": settings, "form": post, "error": error, "posted": posted,
        "identity_form": post if posted == "identity" else {name: getattr(current, name) for name in fields},
        "milestones": Milestone.choices,
    }, status=status)


