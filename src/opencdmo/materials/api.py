"""The materials app over HTTP. Thin: selectors and services do the work.

Quantities travel as decimal strings ("1500", "0.25") in the lot's unit of measure; input may be
given in any compatible unit (converted by pint). State changes are explicit sub-resources:
`POST /lots/{number}/transactions` moves stock, `POST /lots/{number}/{action}` is QA disposition.
"""

import datetime as dt
from decimal import Decimal
from typing import Literal

from ninja import Field, Query, Router, Schema, Status

from opencdmo.core.access import require_to_see
from opencdmo.core.errors import RuleViolation
from opencdmo.core.signatures import SignatureInput
from opencdmo.sponsors import selectors as sponsor_selectors

from . import selectors, services
from .workflows import lot_workflow

router = Router(tags=["Materials"])

def _may_view(request) -> None:
    require_to_see(request.user, "materials.view")


class SupplierOut(Schema):
    code: str
    name: str
    is_approved: bool
    sponsor: str | None = Field(None, description="the sponsor, when it supplies its own material")

    @staticmethod
    def resolve_sponsor(obj):
        return obj.sponsor.code if obj.sponsor_id else None


class LocationOut(Schema):
    code: str
    name: str
    kind: str


class MaterialOut(Schema):
    code: str
    name: str
    category: str
    storage: str
    unit: str
    shelf_life_after_opening_days: int | None
    sponsor: str | None = Field(None, description="sponsor code; null for the CDMO's own material")
    approved_suppliers: list[str]
    is_active: bool

    @staticmethod
    def resolve_sponsor(obj):
        return obj.sponsor.code if obj.sponsor_id else None

    @staticmethod
    def resolve_approved_suppliers(obj):
        return sorted(s.code for s in obj.approved_suppliers.all())


class MaterialIn(Schema):
    code: str = Field(max_length=32)
    name: str = Field(max_length=200)
    category: str = Field(max_length=32)
    storage: str = Field(max_length=16)
    unit: str = Field(max_length=32, description="unit of measure (mL, mg, IU, vial …), checked by pint")
    shelf_life_after_opening_days: int | None = Field(None, ge=1, le=3650)
    approved_suppliers: list[str] = Field(default_factory=list, max_length=100, description="supplier codes")
    sponsor: str | None = Field(None, max_length=16, description="sponsor code; empty for the CDMO's own")


class BalanceOut(Schema):
    location: str
    quantity: str


class LotOut(Schema):
    number: str
    material: str
    material_name: str
    supplier: str | None
    supplier_lot: str
    sponsor: str | None
    status: str = Field(description="stored workflow status")
    status_label: str
    effective_status: str = Field(description="'expired' once past the expiry or retest date, else the status")
    usable: bool
    reasons: list[str] = Field(description="why the lot may not be used now")
    unit: str
    quantity_received: str
    in_stock: str
    balances: list[BalanceOut]
    containers: int
    received_at: dt.datetime | None
    received_by: str
    expiry_date: dt.date | None
    retest_date: dt.date | None
    version: int

    @staticmethod
    def resolve_material(obj):
        return obj.material.code

    @staticmethod
    def resolve_material_name(obj):
        return obj.material.name

    @staticmethod
    def resolve_supplier(obj):
        return obj.supplier.code if obj.supplier_id else None

    @staticmethod
    def resolve_sponsor(obj):
        return obj.sponsor.code if obj.sponsor_id else None

    @staticmethod
    def resolve_status_label(obj):
        return lot_workflow.label(obj.status)

    @staticmethod
    def resolve_effective_status(obj):
        return selectors.lot_status(obj)

    @staticmethod
    def resolve_usable(obj):
        return selectors.lot_usability(obj)[0]

    @staticmethod
    def resolve_reasons(obj):
        return selectors.lot_usability(obj)[1]

    @staticmethod
    def resolve_quantity_received(obj):
        return selectors.quantity_text(obj.quantity_received)

    @staticmethod
    def resolve_in_stock(obj):
        return selectors.quantity_text(selectors.lot_total(obj))

    @staticmethod
    def resolve_balances(obj):
        return [{"location": b.location.code, "quantity": selectors.quantity_text(b.quantity)}
                for b in selectors.lot_balances(obj)]

    @staticmethod
    def resolve_received_by(obj):
        return obj.created_by.full_name


class ReceiveIn(Schema):
    material: str = Field(max_length=32, description="material code")
    supplier: str = Field(max_length=16, description="supplier code")
    supplier_lot: str = Field(max_length=64)
    quantity: Decimal = Field(description="in `unit`, or in the material's unit when `unit` is empty")
    unit: str = Field("", max_length=32)
    containers: int = Field(1, ge=1, le=services.MAX_CONTAINERS)
    location: str = Field(max_length=32, description="location code (usually the quarantine store)")
    expiry_date: dt.date | None = None
    retest_date: dt.date | None = None
    notes: str = Field("", max_length=2000)


class TransactionIn(Schema):
    kind: Literal["issue", "return", "sample", "transfer", "adjust", "destroy"]
    location: str = Field(max_length=32, description="where the stock is taken from (adjust: where it was counted)")
    quantity: Decimal = Field(description="adjust: the quantity counted, else the quantity moved")
    unit: str = Field("", max_length=32, description="empty: the lot's unit")
    to_location: str = Field("", max_length=32, description="transfer: where the stock goes")
    for_type: str = Field("", max_length=64,
                          description="issue/return: a record type (e.g. 'batches.batch') or 'external' for one on paper")
    for_reference: str = Field("", max_length=64, description="issue/return: the record's number")
    for_label: str = Field("", max_length=200, description="issue/return to an 'external' record: its name")
    reason: str = Field("", max_length=2000, description="required to adjust and destroy")
    raise_deviation: bool = Field(False, description="adjust: raise a deviation for the discrepancy")


class TransactionOut(Schema):
    id: int
    kind: str
    location: str
    other_location: str | None
    quantity: str = Field(description="signed, in the lot's unit")
    balance_after: str
    unit: str
    performed_by: str
    performed_at: dt.datetime
    reason: str
    for_type: str
    for_id: str
    for_label: str

    @staticmethod
    def resolve_location(obj):
        return obj.location.code

    @staticmethod
    def resolve_other_location(obj):
        return obj.other_location.code if obj.other_location_id else None

    @staticmethod
    def resolve_quantity(obj):
        return selectors.quantity_text(obj.quantity)

    @staticmethod
    def resolve_balance_after(obj):
        return selectors.quantity_text(obj.balance_after)

    @staticmethod
    def resolve_unit(obj):
        return obj.lot.unit

    @staticmethod
    def resolve_performed_by(obj):
        return obj.performed_by.full_name


class DispositionIn(Schema):
    username: str = Field("", max_length=64, description="your user ID: every API signature re-enters both components")
    password: str = Field("", max_length=200)
    comment: str = Field("", max_length=2000)
    reason: str = Field("", max_length=2000, description="required to reject, hold and lift a hold")


class EdgeOut(Schema):
    direction: str
    depth: int
    parent: str
    parent_label: str
    child: str
    child_label: str
    quantity: str
    unit: str


class NodeOut(Schema):
    node: str = Field(alias="key")
    type: str = Field(alias="record_type")
    label: str
    depth: int


class TraceOut(Schema):
    lot: str
    backward: list[EdgeOut]
    forward: list[EdgeOut]
    upstream: list[NodeOut]
    affected: list[NodeOut]


# Master data ---------------------------------------------------------------------------------

@router.get("/suppliers", response=list[SupplierOut], summary="Suppliers and whether they are approved")
def supplier_list(request):
    _may_view(request)
    return list(selectors.suppliers(request.user))


@router.get("/inventory-locations", response=list[LocationOut])
def location_list(request):
    _may_view(request)
    return list(selectors.locations())


@router.get("/materials", response=list[MaterialOut], summary="The material master (your sponsors' and the CDMO's)")
def material_list(request, category: str = Query("", max_length=32)):
    _may_view(request)
    return list(selectors.materials_for(request.user, category=category))


@router.get("/materials/{code}", response=MaterialOut)
def material_detail(request, code: str):
    _may_view(request)
    return selectors.material(request.user, code)


@router.post("/materials", response={201: MaterialOut})
def material_create(request, payload: MaterialIn):
    data = payload.dict()
    sponsor = None
    if data.pop("sponsor", None):
        sponsor = sponsor_selectors.sponsor(request.user, payload.sponsor)
    suppliers = [selectors.supplier(request.user, code) for code in data.pop("approved_suppliers")]
    return Status(201, services.create_material(request.user, sponsor=sponsor, suppliers=suppliers, **data))


# Lots ----------------------------------------------------------------------------------------

@router.get("/lots", response=list[LotOut], summary="Lots, filtered (at most 500, newest first)")
def lot_list(request, material: str = Query("", max_length=32),
             status: Literal["", "quarantine", "released", "rejected", "on_hold", "depleted", "expired"] = "",
             location: str = Query("", max_length=32), expiring_within: int | None = Query(None, ge=0, le=3650)):
    _may_view(request)
    return list(selectors.lots_for(request.user, material=material, status=status, location=location,
                                   expiring_within=expiring_within)[:500])


@router.post("/lots", response={201: LotOut}, summary="Receive a delivery: a new lot in quarantine")
def lot_receive(request, payload: ReceiveIn):
    lot = services.receive_lot(
        request.user, material=selectors.material(request.user, payload.material),
        supplier=selectors.supplier(request.user, payload.supplier), supplier_lot=payload.supplier_lot,
        quantity=payload.quantity, unit=payload.unit, containers=payload.containers,
        location=selectors.location(payload.location), expiry_date=payload.expiry_date,
        retest_date=payload.retest_date, notes=payload.notes)
    return Status(201, selectors.lot(request.user, lot.number))


@router.get("/lots/{number}", response=LotOut)
def lot_detail(request, number: str):
    _may_view(request)
    return selectors.lot(request.user, number)


@router.get("/lots/{number}/transactions", response=list[TransactionOut], summary="The lot's stock movements")
def lot_transactions(request, number: str):
    _may_view(request)
    return list(selectors.lot_transactions(selectors.lot(request.user, number)).select_related("lot")[:1000])


@router.post("/lots/{number}/transactions", response={201: list[TransactionOut]},
             summary="Issue, return, sample, transfer, adjust or destroy stock")
def lot_move(request, number: str, payload: TransactionIn):
    user, lot = request.user, selectors.lot(request.user, number)
    location = selectors.location(payload.location)
    common = {"quantity": payload.quantity, "unit": payload.unit}
    kind = payload.kind
    if kind == "issue":
        rows = [services.issue_lot(user, lot, location=location, **common, to=services.destination(
            user, for_type=payload.for_type, for_reference=payload.for_reference, for_label=payload.for_label))]
    elif kind == "return":
        rows = [services.return_lot(user, lot, location=location, **common, reason=payload.reason,
                                    source=services.destination(user, for_type=payload.for_type,
                                                                for_reference=payload.for_reference,
                                                                for_label=payload.for_label))]
    elif kind == "sample":
        rows = [services.sample_lot(user, lot, location=location, **common, reason=payload.reason)]
    elif kind == "transfer":
        if not payload.to_location:
            raise RuleViolation("Say where the stock goes (to_location).")
        rows = list(services.transfer_lot(user, lot, from_location=location,
                                          to_location=selectors.location(payload.to_location), **common,
                                          reason=payload.reason))
    elif kind == "adjust":
        rows = [services.adjust_lot(user, lot, location=location, counted=payload.quantity, unit=payload.unit,
                                    reason=payload.reason, raise_deviation=payload.raise_deviation)]
    else:
        rows = [services.destroy_lot(user, lot, location=location, **common, reason=payload.reason)]
    return Status(201, rows)


@router.get("/lots/{number}/trace", response=TraceOut, summary="Where the lot went and what it was made from")
def lot_trace(request, number: str):
    result = selectors.recall(request.user, selectors.lot(request.user, number))
    return {"lot": result.lot.number, "backward": selectors.trace_rows(result.backward),
            "forward": selectors.trace_rows(result.forward), "upstream": result.upstream,
            "affected": result.downstream}


@router.post("/lots/{number}/{action}", response=LotOut,
             summary="QA disposition: release, reject, hold, lift_hold (signing actions need user ID and password)")
def lot_disposition(request, number: str, action: Literal["release", "reject", "hold", "lift_hold"],
                    payload: DispositionIn):
    transition = lot_workflow.get(action)
    signature = None
    if transition.signature:
        signature = SignatureInput(meaning=transition.signature, password=payload.password,
                                   username=payload.username, comment=payload.comment)
    lot = services.transition_lot(request.user, selectors.lot(request.user, number), action,
                                  signature=signature, first_in_session=True, reason=payload.reason)
    return selectors.lot(request.user, lot.number)

