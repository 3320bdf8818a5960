"""Patients, therapy orders and treatment centres over HTTP. Thin: selectors and services do the work."""

import datetime as dt
from decimal import Decimal
from typing import Annotated, Literal

from django.http import HttpResponse
from ninja import Field, Query, Router, Schema, Status
from ninja.pagination import paginate

from opencdmo.core.api import Pagination
from opencdmo.core.errors import NotFound
from opencdmo.core.signatures import SignatureInput
from opencdmo.core.views import signer_at_screen
from opencdmo.facilities import selectors as facilities_selectors
from opencdmo.sponsors import selectors as sponsor_selectors

from . import selectors, services
from .workflows import order_workflow, patient_workflow

router = Router(tags=["Chain of identity"])


# --- Schemas ---

class CentreOut(Schema):
    id: int
    sponsor: str = Field(alias="sponsor.code")
    code: str
    name: str
    address: str
    is_active: bool


class CentreIn(Schema):
    sponsor: str = Field(max_length=64, description="the sponsor's code")
    code: str = Field(max_length=16)
    name: str = Field(max_length=200)
    address: str = Field("", max_length=2000)


class OrderOut(Schema):
    number: str
    patient: str = Field(alias="patient.number")
    product: str = Field(alias="product.code")
    coi: str = Field(description="the 15-character data content of the chain of identity identifier (DS040)")
    coi_printed: str = Field(description="eye-readable, as on labels")
    coi_check_character: str = Field(description="ISO/IEC 7064 MOD 37-2 check character K")
    planned_collection: dt.date
    status: str
    status_label: str
    version: int
    created_at: dt.datetime

    @staticmethod
    def resolve_coi_printed(obj):
        return selectors.printed_coi(obj.coi).text

    @staticmethod
    def resolve_coi_check_character(obj):
        return selectors.printed_coi(obj.coi).check

    @staticmethod
    def resolve_status_label(obj):
        return order_workflow.label(obj.status)


class PatientOut(Schema):
    number: str
    subject_id: str
    sponsor: str = Field(alias="sponsor.code")
    centre: str = Field(alias="centre.code")
    date_of_birth: dt.date | None
    status: str
    status_label: str
    version: int
    created_at: dt.datetime

    @staticmethod
    def resolve_status_label(obj):
        return patient_workflow.label(obj.status)


class PatientDetailOut(PatientOut):
    orders: list[OrderOut]

    @staticmethod
    def resolve_orders(obj):
        return list(selectors.orders_of(obj).select_related("patient"))


class PatientIn(Schema):
    centre: str = Field(max_length=90, description="the centre's id, its code, or 'SPONSOR/CODE'")
    subject_id: str = Field(max_length=32, description="the sponsor's pseudonymized subject id")
    date_of_birth: dt.date | None = None


class OrderIn(Schema):
    product: str = Field(max_length=64, description="code of an autologous product of the patient's sponsor")
    planned_collection: dt.date


class PatientFilter(Schema):
    sponsor: str = Field("", max_length=64)
    centre: str = Field("", max_length=16)
    status: str = Field("", max_length=32)
    q: str = Field("", max_length=100)
    sort: Literal["number", "-number", "subject_id", "-subject_id", "status", "-status"] = "-number"


# --- Operations ---

@router.get("/patients", response=list[PatientOut], summary="Patients of your sponsors, filtered and sorted")
@paginate(Pagination)
def patients(request, filters: Query[PatientFilter]):
    return selectors.patients_for(request.user, sponsor=filters.sponsor, centre=filters.centre,
                                  status=filters.status, text=filters.q).order_by(filters.sort, "number")


@router.post("/patients", response={201: PatientDetailOut}, summary="Enrol a patient at a treatment centre")
def enroll_patient(request, payload: PatientIn):
    return Status(201, services.enroll_patient(
        request.user, centre=selectors.centre(request.user, payload.centre), subject_id=payload.subject_id,
        date_of_birth=payload.date_of_birth))


@router.get("/patients/{number}", response=PatientDetailOut, summary="A patient and their therapy orders")
def patient(request, number: str):
    return selectors.patient(request.user, number)


@router.post("/patients/{number}/orders", response={201: OrderOut},
             summary="Order a therapy: its chain of identity identifier is issued now")
def order_therapy(request, number: str, payload: OrderIn):
    user = request.user
    return Status(201, services.order_therapy(user, selectors.patient(user, number),
                                              product=selectors.product(user, payload.product),
                                              planned_collection=payload.planned_collection))


@router.get("/therapy-orders/{number}", response=OrderOut, summary="A therapy order and its chain of identity")
def therapy_order(request, number: str):
    return selectors.order(request.user, number)


@router.get("/treatment-centres", response=list[CentreOut], summary="Treatment centres of your sponsors")
def centres(request):
    return list(selectors.centres_for(request.user))


@router.post("/treatment-centres", response={201: CentreOut}, summary="Add a treatment centre for a sponsor")
def create_centre(request, payload: CentreIn):
    user = request.user
    return Status(201, services.create_centre(user, sponsor=sponsor_selectors.sponsor(user, payload.sponsor),
                                              code=payload.code, name=payload.name, address=payload.address))


# --- Collections and handoffs ------------------------------------------------------------------

HANDOFF_KINDS = Literal["courier_pickup", "receipt", "issue_to_manufacturing", "qc_sampling", "final_labeling",
                        "release_for_shipment", "infusion"]
Scans = list[Annotated[str, Field(max_length=500)]]
_SCANNED = "each barcode read (or identifier typed with its check character), one entry per scan"


class CollectionIn(Schema):
    planned_on: dt.date
    centre: str = Field("", max_length=90, description="the centre's id or code; by default the patient's centre")


class CollectionOut(Schema):
    number: str
    order: str = Field(alias="order.number")
    centre: str = Field(alias="centre.code")
    din: str = Field(description="the 13-character DIN of the collection (ISBT-3)")
    din_printed: str = Field(description="eye-readable, as on labels")
    din_check_character: str = Field(description="ISO/IEC 7064 MOD 37-2 check character K")
    planned_on: dt.date
    collected_at: dt.datetime | None
    status: str
    version: int
    created_at: dt.datetime

    @staticmethod
    def resolve_din_printed(obj):
        return selectors.printed_din(obj.din).text

    @staticmethod
    def resolve_din_check_character(obj):
        return selectors.printed_din(obj.din).check


class CollectedIn(Schema):
    bags: int = Field(1, ge=1, le=26)
    scanned: Scans | None = Field(None, max_length=10, description="the bag label's DIN, scanned; " + _SCANNED)


class UnitOut(Schema):
    number: str
    order: str = Field(alias="order.number")
    collection: str | None = Field(None, alias="collection.number")
    kind: str
    din: str
    product_code: str
    expires_at: dt.datetime | None
    holder: str
    status: str
    status_label: str
    version: int

    @staticmethod
    def resolve_status_label(obj):
        return services.UNIT_STATES.get(obj.status, obj.status)


class CustodyEventOut(Schema):
    kind: str
    at: dt.datetime
    by: str = Field(alias="by.username")
    verified_by: str | None = Field(None, alias="verified_by.username")
    unit: str | None = Field(None, alias="unit.number")
    shipment: str | None = Field(None, alias="shipment.number")
    from_party: str
    to_party: str
    location: str
    scanned: str
    result: str
    problem: str
    deviation: str | None = Field(None, alias="deviation.number")
    note: str


class SecondPersonIn(Schema):
    verifier_username: str = Field("", max_length=150, description="the second person of a critical handoff")
    verifier_password: str = Field("", max_length=200)


class HandoffIn(SecondPersonIn):
    kind: HANDOFF_KINDS
    scanned: Scans = Field(max_length=10, description=_SCANNED)
    from_party: str = Field("", max_length=200)
    to_party: str = Field("", max_length=200)
    location: str = Field("", max_length=200)
    note: str = Field("", max_length=2000)


class FinalProductIn(Schema):
    bags: int = Field(ge=1, le=26)
    expires_at: dt.datetime | None = Field(None, description="by default the product's shelf life from now")


def _second_person(payload: SecondPersonIn):
    """The verifier and their signature, when a second person signs (the API re-authenticates every time)."""
    if not payload.verifier_username.strip():
        return None, None
    return (signer_at_screen({"username": payload.verifier_username}, "The second person"),
            SignatureInput(meaning="Verified", password=payload.verifier_password,
                           username=payload.verifier_username.strip()))


@router.post("/therapy-orders/{number}/collections", response={201: CollectionOut},
             summary="Book a collection: its DIN is issued now")
def book_collection(request, number: str, payload: CollectionIn):
    user = request.user
    centre = selectors.centre(user, payload.centre) if payload.centre.strip() else None
    return Status(201, services.book_collection(user, selectors.order(user, number), planned_on=payload.planned_on,
                                                centre=centre))


@router.post("/collections/{number}/collected", response={201: list[UnitOut]},
             summary="Record a collection done: one unit per bag")
def record_collection(request, number: str, payload: CollectedIn):
    user = request.user
    return Status(201, services.record_collection(user, selectors.collection(user, number), bags=payload.bags,
                                                  scanned=payload.scanned))


@router.post("/units/{number}/handoffs", response={201: CustodyEventOut},
             summary="Hand a unit on: its label scanned and matched; a second person at critical handoffs")
def hand_over(request, number: str, payload: HandoffIn):
    user = request.user
    verifier, signature = _second_person(payload)
    return Status(201, services.hand_over(
        user, selectors.unit(user, number), payload.kind, scanned=payload.scanned, from_party=payload.from_party,
        to_party=payload.to_party, location=payload.location, note=payload.note, verifier=verifier,
        signature=signature))


class HeldDecisionIn(Schema):
    decision: Literal["accept", "destroy"]
    reason: str = Field(max_length=2000, description="your assessment; cite the deviation the rejection raised")
    username: str = Field("", max_length=150, description="your user ID: an API signature re-enters both components")
    password: str = Field("", max_length=200)


@router.post("/units/{number}/decision", response=UnitOut,
             summary="QA's signed decision on a unit held after its shipment was rejected: accept or destroy")
def decide_held_unit(request, number: str, payload: HeldDecisionIn):
    user = request.user
    return services.decide_held_unit(user, selectors.unit(user, number), decision=payload.decision,
                                     reason=payload.reason, signature=SignatureInput(
                                         meaning=services.HELD_DECISIONS[payload.decision],
                                         username=payload.username, password=payload.password))


@router.post("/therapy-orders/{number}/final-product", response={201: list[UnitOut]},
             summary="Register the final product's bags: a new DIN, divisions A0, B0, …")
def register_final_product(request, number: str, payload: FinalProductIn):
    user = request.user
    return Status(201, services.register_final_product(user, selectors.order(user, number), bags=payload.bags,
                                                       expires_at=payload.expires_at))


@router.get("/therapy-orders/{number}/custody", response=list[CustodyEventOut],
            summary="A therapy's chain of custody, refused scans included, oldest first")
def custody_events(request, number: str):
    user = request.user
    return list(selectors.custody_events(user, selectors.order(user, number)))


@router.get("/units/{number}", response=UnitOut, summary="A unit of patient material: where it is")
def unit(request, number: str):
    return selectors.unit(request.user, number)


# --- Shipments ---------------------------------------------------------------------------------

class ShipmentIn(Schema):
    order: str = Field(max_length=32, description="the therapy order's number")
    direction: Literal["inbound", "outbound"]
    units: list[Annotated[str, Field(max_length=32)]] = Field(min_length=1, max_length=26,
                                                              description="unit numbers (UN-…)")
    courier: str = Field(max_length=200)
    origin: str = Field(max_length=200)
    destination: str = Field(max_length=200)
    logger_id: str = Field("", max_length=64)


class ShipmentOut(Schema):
    number: str
    order: str = Field(alias="order.number")
    direction: str
    units: list[str]
    courier: str
    origin: str
    destination: str
    logger_id: str
    dispatched_at: dt.datetime | None
    received_at: dt.datetime | None
    logger_min_c: Decimal | None
    logger_max_c: Decimal | None
    minutes_out_of_range: int | None
    accepted: bool | None
    acceptance_note: str
    status: str
    version: int
    created_at: dt.datetime

    @staticmethod
    def resolve_units(obj):
        return [unit.number for unit in obj.units.all()]


class ShipmentFilter(Schema):
    status: Literal["", "packing", "in_transit", "received"] = ""
    direction: Literal["", "inbound", "outbound"] = ""


class DispatchIn(SecondPersonIn):
    scanned: Scans = Field(max_length=10, description="the shipper label; " + _SCANNED)


class ShipmentReceiptIn(Schema):
    scanned: Scans = Field(max_length=10, description="the shipper label; " + _SCANNED)
    logger_min_c: Decimal = Field(max_digits=5, decimal_places=1)
    logger_max_c: Decimal = Field(max_digits=5, decimal_places=1)
    minutes_out_of_range: int = Field(ge=0, le=1_000_000)
    accepted: bool
    note: str = Field("", max_length=2000, description="required when the shipment is rejected")


@router.post("/shipments", response={201: ShipmentOut}, summary="Pack a shipper with units of one therapy")
def create_shipment(request, payload: ShipmentIn):
    user = request.user
    order = selectors.order(user, payload.order)
    return Status(201, services.create_shipment(
        user, order, direction=payload.direction, units=[selectors.unit(user, n) for n in payload.units],
        courier=payload.courier, origin=payload.origin, destination=payload.destination,
        logger_id=payload.logger_id))


@router.get("/shipments", response=list[ShipmentOut], summary="Shipments of your sponsors, newest first")
@paginate(Pagination)
def shipments(request, filters: Query[ShipmentFilter]):
    return selectors.shipments_for(request.user, status=filters.status, direction=filters.direction)


@router.get("/shipments/{number}", response=ShipmentOut, summary="A shipment and its temperature logger summary")
def shipment(request, number: str):
    return selectors.shipment(request.user, number)


@router.post("/shipments/{number}/dispatch", response=ShipmentOut,
             summary="Hand the shipper to the courier: its label scanned; outbound, a second person verifies")
def dispatch_shipment(request, number: str, payload: DispatchIn):
    user = request.user
    verifier, signature = _second_person(payload)
    return services.dispatch_shipment(user, selectors.shipment(user, number), scanned=payload.scanned,
                                      verifier=verifier, signature=signature)


class CancellationIn(Schema):
    reason: str = Field(max_length=2000)


@router.post("/shipments/{number}/cancellation", response=ShipmentOut,
             summary="Cancel a shipment still being packed; its containers are free to be packed again")
def cancel_shipment(request, number: str, payload: CancellationIn):
    user = request.user
    return services.cancel_shipment(user, selectors.shipment(user, number), reason=payload.reason)


@router.post("/shipments/{number}/receipt", response=ShipmentOut,
             summary="Receive the shipper: its label scanned, its logger summary and the decision on it")
def receive_shipment(request, number: str, payload: ShipmentReceiptIn):
    user = request.user
    return services.receive_shipment(
        user, selectors.shipment(user, number), scanned=payload.scanned, logger_min_c=payload.logger_min_c,
        logger_max_c=payload.logger_max_c, minutes_out_of_range=payload.minutes_out_of_range,
        accepted=payload.accepted, note=payload.note)


# --- Cryostorage -------------------------------------------------------------------------------

class FreezerOut(Schema):
    code: str
    name: str
    room: str = Field(description="the room's code")
    equipment: str | None = Field(None, description="number of the freezer's equipment record")
    alarm_above_c: Decimal
    is_active: bool
    capacity: int = Field(description="positions in its boxes")
    used: int
    free: int
    open_alarms: int


class StorageCellOut(Schema):
    position: str
    occupied: bool
    unit: str = Field(description="unit number: empty when the unit is another sponsor's")
    coi: str = Field(description="eye-readable chain of identity identifier: empty likewise")


class BoxOut(Schema):
    code: str
    rack: str
    rows: int
    columns: int
    used: int | None = None
    free: int | None = None
    positions: list[list[StorageCellOut]] | None = Field(None, description="row by row, as seen from above")


class RackOut(Schema):
    code: str
    boxes: list[BoxOut]


class AlarmOut(Schema):
    id: int
    freezer: str = Field(alias="freezer.code")
    kind: str
    value: str
    raised_at: dt.datetime
    raised_by: str = Field(alias="raised_by.full_name")
    acknowledged_at: dt.datetime | None
    acknowledged_by: str | None = None
    note: str
    deviation: str | None = None

    @staticmethod
    def resolve_acknowledged_by(obj):
        return obj.acknowledged_by.full_name if obj.acknowledged_by_id else None

    @staticmethod
    def resolve_deviation(obj):
        return obj.deviation.number if obj.deviation_id else None


class FreezerDetailOut(FreezerOut):
    racks: list[RackOut]
    alarms: list[AlarmOut] = Field(description="open alarms")


class FreezerIn(Schema):
    code: str = Field(max_length=32)
    name: str = Field(max_length=200)
    room: str = Field(max_length=16, description="the room's code")
    equipment: str = Field("", max_length=32, description="number of the freezer's equipment record, if any")
    alarm_above_c: Decimal = Field(Decimal(-150), max_digits=6, decimal_places=1)


class CodeIn(Schema):
    code: str = Field(max_length=32)


class BoxIn(Schema):
    code: str = Field(max_length=32, description="unique across the site: printed on its position labels")
    rows: int = Field(5, ge=1, le=26)
    columns: int = Field(5, ge=1, le=99)


class RetirementIn(Schema):
    reason: str = Field(max_length=2000)


class PlacementIn(Schema):
    unit: Annotated[list[Annotated[str, Field(max_length=500)]], Field(max_length=4)] | Annotated[
        str, Field(max_length=500)] = Field(description="what was scanned from the unit's label (one or more "
                                                        "barcodes), or its unit number")
    position: str = Field(max_length=80, description="the position barcode: box code/position, e.g. LN2-01-R1-B03/A5")


class RetrievalIn(Schema):
    unit: Annotated[list[Annotated[str, Field(max_length=500)]], Field(max_length=4)] | Annotated[
        str, Field(max_length=500)]
    reason: str = Field("", max_length=2000)


class PlacementOut(Schema):
    unit: str = Field(alias="unit.number")
    box: str = Field(alias="box.code")
    position: str
    placed_at: dt.datetime
    placed_by: str = Field(alias="placed_by.full_name")
    removed_at: dt.datetime | None
    removed_by: str | None = None

    @staticmethod
    def resolve_removed_by(obj):
        return obj.removed_by.full_name if obj.removed_by_id else None


class AlarmIn(Schema):
    kind: Literal["temperature", "ln2_level", "lid", "power"]
    value: str = Field("", max_length=64, description="the reading, e.g. -128 °C")
    note: str = Field("", max_length=2000)


class AcknowledgementIn(Schema):
    note: str = Field(max_length=2000, description="what was done")


def _freezer_row(user, code: str):
    freezer = selectors.freezer(user, code)
    return next(row for row in selectors.freezers(user) if row.freezer.pk == freezer.pk)


def _freezer_out(row) -> dict:
    freezer = row.freezer
    return {"code": freezer.code, "name": freezer.name, "room": freezer.room.code,
            "equipment": freezer.equipment.number if freezer.equipment_id else None,
            "alarm_above_c": freezer.alarm_above_c, "is_active": freezer.is_active, "capacity": row.capacity,
            "used": row.used, "free": row.free, "open_alarms": row.open_alarms}


def _box_out(box_map) -> dict:
    box = box_map.box
    return {"code": box.code, "rack": box.rack.code, "rows": box.rows, "columns": box.columns,
            "used": box_map.used, "free": box_map.free, "positions": box_map.rows}


@router.get("/storage/freezers", response=list[FreezerOut], summary="Freezers with used and free positions")
def storage_freezers(request):
    return [_freezer_out(row) for row in selectors.freezers(request.user)]


@router.post("/storage/freezers", response={201: FreezerOut}, summary="Add a freezer")
def create_freezer(request, payload: FreezerIn):
    user = request.user
    freezer = services.create_freezer(
        user, code=payload.code, name=payload.name, room=facilities_selectors.room(user, payload.room.strip().upper()),
        equipment=facilities_selectors.equipment(user, payload.equipment.strip()) if payload.equipment.strip() else None,
        alarm_above_c=payload.alarm_above_c)
    return Status(201, _freezer_out(_freezer_row(user, freezer.code)))


@router.get("/storage/freezers/{code}", response=FreezerDetailOut,
            summary="A freezer with the occupancy of every box and its open alarms")
def storage_freezer(request, code: str):
    user = request.user
    row = _freezer_row(user, code)
    freezer = row.freezer
    return {**_freezer_out(row), "racks": [{"code": rack.code, "boxes": [_box_out(m) for m in maps]}
                             for rack, maps in selectors.freezer_map(user, freezer)],
            "alarms": list(selectors.alarms_of(user, freezer, open_only=True))}


@router.post("/storage/freezers/{code}/racks", response={201: RackOut}, summary="Add a rack to a freezer")
def add_rack(request, code: str, payload: CodeIn):
    user = request.user
    rack = services.add_rack(user, selectors.freezer(user, code), code=payload.code)
    return Status(201, {"code": rack.code, "boxes": []})


@router.post("/storage/freezers/{code}/racks/{rack}/boxes", response={201: BoxOut}, summary="Add a box to a rack")
def add_box(request, code: str, rack: str, payload: BoxIn):
    user = request.user
    box = services.add_box(user, selectors.rack(user, selectors.freezer(user, code), rack), code=payload.code,
                           rows=payload.rows, columns=payload.columns)
    return Status(201, _box_out(selectors.occupancy(user, box)))


@router.post("/storage/freezers/{code}/retirement", response=FreezerOut,
             summary="Retire an empty freezer, with the reason")
def retire_freezer(request, code: str, payload: RetirementIn):
    user = request.user
    services.retire_freezer(user, selectors.freezer(user, code), reason=payload.reason)
    return _freezer_out(_freezer_row(user, code))


@router.post("/storage/placements", response={201: PlacementOut},
             summary="Place a unit into a free position (scan of the unit and of the position)")
def place_unit(request, payload: PlacementIn):
    return Status(201, services.place_unit(request.user, unit_scan=payload.unit, position_scan=payload.position))


@router.post("/storage/retrievals", response=PlacementOut, summary="Take a unit out of cryostorage")
def retrieve_unit(request, payload: RetrievalIn):
    return services.retrieve_unit(request.user, unit_scan=payload.unit, reason=payload.reason)


@router.post("/storage/moves", response={201: PlacementOut}, summary="Move a stored unit to another position")
def move_unit(request, payload: PlacementIn):
    return Status(201, services.move_unit(request.user, unit_scan=payload.unit, position_scan=payload.position))


@router.post("/storage/freezers/{code}/alarms", response={201: AlarmOut},
             summary="Raise a freezer alarm (a temperature alarm raises a deviation)")
def raise_alarm(request, code: str, payload: AlarmIn):
    user = request.user
    return Status(201, services.raise_alarm(user, selectors.freezer(user, code), kind=payload.kind,
                                            value=payload.value, note=payload.note))


@router.post("/storage/alarms/{alarm_id}/acknowledgement", response=AlarmOut,
             summary="Acknowledge a freezer alarm, saying what was done")
def acknowledge_alarm(request, alarm_id: int, payload: AcknowledgementIn):
    user = request.user
    return services.acknowledge_alarm(user, selectors.alarm(user, alarm_id), note=payload.note)


# --- Labels and their reconciliation -----------------------------------------------------------

class LabelPrintIn(Schema):
    kind: Literal["collection_bag", "intermediate_container", "final_product_bag", "shipper"]
    units: list[str] = Field([], max_length=50, description="unit numbers (UN-…) of the containers to label")
    shipment: str = Field("", max_length=32, description="the shipment number, for a shipper label")
    copies: int = Field(1, ge=1, le=20, description="copies of each label")


class LabelCountOut(Schema):
    kind: str
    printed: int
    applied: int
    destroyed: int
    unaccounted: int


class LabelPrintOut(Schema):
    id: int
    kind: str
    unit: str | None = Field(None, alias="unit.number")
    shipment: str | None = Field(None, alias="shipment.number")
    copies: int
    applied: int
    destroyed: int
    printed_at: dt.datetime
    printed_by: str = Field(alias="printed_by.username")
    version: int


class LabelReconciliationOut(Schema):
    order: str
    reconciled: bool
    kinds: list[LabelCountOut]
    prints: list[LabelPrintOut]


class ReconcileIn(Schema):
    applied: int = Field(ge=0, le=1000)
    destroyed: int = Field(ge=0, le=1000)
    note: str = Field("", max_length=2000, description="why, when a count already recorded is lowered")


def _reconciliation(user, order):
    found = selectors.label_reconciliation(order)
    return {"order": order.number, "reconciled": found.reconciled, "prints": list(selectors.label_prints(user, order)),
            "kinds": [{**vars(count), "unaccounted": count.unaccounted} for count in found.kinds]}


@router.post("/therapy-orders/{number}/labels", summary="Print labels: recorded for reconciliation; the PDF",
             openapi_extra={"responses": {200: {"description": "The label PDF", "content": {"application/pdf": {}}}}})
def print_labels(request, number: str, payload: LabelPrintIn):
    user = request.user
    order = selectors.order(user, number)
    units = [order.units.filter(number=n.strip()).first() for n in payload.units]
    if None in units:
        raise NotFound("A container named is not one of this therapy's.")
    shipment = order.shipments.filter(number=payload.shipment.strip()).first() if payload.shipment.strip() else None
    if payload.shipment.strip() and shipment is None:
        raise NotFound("The shipment named is not one of this therapy's.")
    prints, pdf = services.print_labels(user, order, kind=payload.kind, units=units, shipment=shipment,
                                        copies=payload.copies)
    response = HttpResponse(pdf, content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{order.number}-labels-{prints[0].pk}.pdf"'
    return response


@router.get("/therapy-orders/{number}/labels", response=LabelReconciliationOut,
            summary="Labels printed for a therapy and their reconciliation")
def label_reconciliation(request, number: str):
    return _reconciliation(request.user, selectors.order(request.user, number))


@router.post("/label-prints/{print_id}/reconciliation", response=LabelReconciliationOut,
             summary="Record how many labels of a print were applied and destroyed")
def reconcile_labels(request, print_id: int, payload: ReconcileIn):
    user = request.user
    label_print = services.reconcile_labels(user, selectors.label_print(user, print_id), applied=payload.applied,
                                            destroyed=payload.destroyed, note=payload.note)
    return _reconciliation(user, label_print.order)


# --- Labelling settings, timeline and in-flight board ------------------------------------------

def _hours(span: dt.timedelta | None) -> float | None:
    return None if span is None else round(span.total_seconds() / 3600, 3)


class WindowStateOut(Schema):
    start: str
    end: str
    limit_hours: int
    warn_hours: int
    state: str = Field(description="not_started, running, at_risk, missed or met")
    started_at: dt.datetime | None
    ended_at: dt.datetime | None
    deadline: dt.datetime | None
    elapsed_hours: float | None
    remaining_hours: float | None = Field(description="negative once the limit is exceeded")

    @staticmethod
    def resolve_start(obj):
        return obj.window.start

    @staticmethod
    def resolve_end(obj):
        return obj.window.end

    @staticmethod
    def resolve_limit_hours(obj):
        return obj.window.limit_hours

    @staticmethod
    def resolve_warn_hours(obj):
        return obj.window.warn_hours

    @staticmethod
    def resolve_elapsed_hours(obj):
        return _hours(obj.elapsed)

    @staticmethod
    def resolve_remaining_hours(obj):
        return _hours(obj.remaining)


class TimelineEntryOut(Schema):
    at: dt.datetime
    kind: str = Field(description="the milestone of the event")
    result: str | None = Field(description="verified or refused; null for a milestone reached without an event")
    reaches_milestone: bool
    by: str | None
    verified_by: str | None
    from_party: str
    to_party: str
    location: str
    unit: str | None
    shipment: str | None
    problem: str
    deviation: str | None
    hours_since_collection: float | None
    hours_since_previous: float | None

    @staticmethod
    def resolve_result(obj):
        return obj.event.result if obj.event else None

    @staticmethod
    def resolve_by(obj):
        return obj.event.by.username if obj.event else None

    @staticmethod
    def resolve_verified_by(obj):
        return obj.event.verified_by.username if obj.event and obj.event.verified_by else None

    @staticmethod
    def resolve_from_party(obj):
        return obj.event.from_party if obj.event else ""

    @staticmethod
    def resolve_to_party(obj):
        return obj.event.to_party if obj.event else ""

    @staticmethod
    def resolve_location(obj):
        return obj.event.location if obj.event else ""

    @staticmethod
    def resolve_unit(obj):
        return obj.event.unit.number if obj.event and obj.event.unit else None

    @staticmethod
    def resolve_shipment(obj):
        return obj.event.shipment.number if obj.event and obj.event.shipment else None

    @staticmethod
    def resolve_problem(obj):
        return obj.event.problem if obj.event else ""

    @staticmethod
    def resolve_deviation(obj):
        return obj.event.deviation.number if obj.event and obj.event.deviation else None

    @staticmethod
    def resolve_hours_since_collection(obj):
        return _hours(obj.since_collection)

    @staticmethod
    def resolve_hours_since_previous(obj):
        return _hours(obj.since_previous)


class TimelineOut(Schema):
    order: str = Field(alias="order.number")
    coi: str = Field(alias="order.coi")
    stage: str = Field(alias="order.stage")
    infused: bool
    hours_since_collection: float | None = Field(description="vein to vein so far, or in total once infused")
    entries: list[TimelineEntryOut]
    windows: list[WindowStateOut]

    @staticmethod
    def resolve_hours_since_collection(obj):
        return _hours(obj.vein_to_vein)


class BoardRowOut(Schema):
    number: str
    coi: str
    patient: str
    subject_id: str
    sponsor: str
    product: str
    stage: str
    flag: str | None = Field(description="missed, at_risk, or null")
    days_since_collection: float | None
    next_deadline: dt.datetime | None
    next_window: WindowStateOut | None
    windows: list[WindowStateOut]

    @staticmethod
    def resolve_next_deadline(obj):
        return obj.next_window.deadline if obj.next_window else None


class BoardFilter(Schema):
    sponsor: str = Field("", max_length=64)
    product: str = Field("", max_length=32)
    at_risk: bool = Field(False, description="only therapies with a window at risk or missed")


class CustodyWindowOut(Schema):
    id: int
    start: str
    end: str
    limit_hours: int
    warn_hours: int
    version: int


class IdentityIn(Schema):
    collection_pdc: str = Field(max_length=5, description="collection product description code (licensed table)")
    final_pdc: str = Field(max_length=5, description="final product description code (licensed table)")
    collection_type: str = Field("0", max_length=1)
    storage: str = Field(max_length=200)
    shelf_life_days: int = Field(ge=1, le=36500)
    reason: str = Field("", max_length=500, description="required when changing")


class IdentityOut(Schema):
    collection_pdc: str
    final_pdc: str
    collection_type: str
    storage: str
    shelf_life_days: int
    version: int


class ProductSettingsOut(Schema):
    product: str = Field(alias="product.code")
    identity: IdentityOut | None
    windows: list[CustodyWindowOut]


class CustodyWindowIn(Schema):
    start: str = Field(max_length=32, description="start milestone")
    end: str = Field(max_length=32, description="end milestone, after the start")
    limit_hours: int = Field(ge=1, le=100_000)
    warn_hours: int = Field(0, ge=0, le=100_000)
    reason: str = Field("", max_length=500, description="required when changing a window")


@router.get("/therapy-orders/{number}/timeline", response=TimelineOut,
            summary="A therapy's custody events, milestones and custody windows, with elapsed times")
def therapy_timeline(request, number: str):
    return selectors.timeline(request.user, number)


@router.get("/in-flight", response=list[BoardRowOut], summary="Therapies in flight, most urgent first")
def in_flight(request, filters: Query[BoardFilter]):
    return selectors.board(request.user, sponsor=filters.sponsor, product=filters.product,
                           at_risk_only=filters.at_risk)


@router.get("/products/{code}/identity-settings", response=ProductSettingsOut,
            summary="How a product is labelled, and its custody windows")
def identity_settings(request, code: str):
    return selectors.product_settings(request.user, code)


@router.put("/products/{code}/identity-settings", response=ProductSettingsOut,
            summary="Set how a product is labelled (a change needs a reason)")
def set_identity_settings(request, code: str, payload: IdentityIn):
    user = request.user
    services.set_product_identity(user, selectors.product(user, code), **payload.dict())
    return selectors.product_settings(user, code)


@router.post("/products/{code}/custody-windows", response={201: CustodyWindowOut},
             summary="Add a custody window between two milestones, or change one (with a reason)")
def set_custody_window(request, code: str, payload: CustodyWindowIn):
    user = request.user
    return Status(201, services.set_window(user, selectors.product(user, code), **payload.dict()))


