"""Every write to materials, lots, inventory and genealogy."""

from dataclasses import dataclass
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import F

from opencdmo.core import audit, clock, registry
from opencdmo.core import services as core_services
from opencdmo.core.access import require
from opencdmo.core.errors import Conflict, PermissionDenied, RuleViolation
from opencdmo.core.records import create_record, update_record
from opencdmo.core.scoping import get_scoped
from opencdmo.core.signatures import SignatureInput
from opencdmo.quality import services as quality_services

from .domain import units
from .models import GenealogyLink, InventoryLocation, InventoryTransaction, Lot, LotBalance, Material, Supplier
from .selectors import (
    issued_to,
    lot_status,
    lot_total,
    lot_usability,
    node_of,
    quantity_text,
    reaches,
    site_date,
)
from .workflows import lot_workflow

GENEALOGY_LOCK = 0x6F63_676E  # PostgreSQL advisory lock key of genealogy writes ('ocgn')


def link_genealogy(actor, parent, child, *, quantity: Decimal | None = None, unit: str = "",
                   child_label: str = "") -> GenealogyLink:
    """Record that `parent` went into `child`, in the caller's transaction.

    Any two records can be linked (lot → batch, batch → lot, lot → patient). A link that
    would make a record its own ancestor is refused, and nothing is written: genealogy has no
    cycles. The check sees every sponsor's links, and concurrent links cannot close a cycle
    between them: SQLite has one writer at a time (IMMEDIATE transactions); on PostgreSQL
    genealogy writers queue on a transaction-scoped advisory lock taken before the check.
    """
    parent_key, child_key = node_of(parent), node_of(child)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [GENEALOGY_LOCK])
    if parent_key == child_key:
        raise RuleViolation(f"{parent} cannot be linked into itself: genealogy has no cycles.")
    if reaches(child_key, parent_key):
        raise RuleViolation(f"{child} is already upstream of {parent}: linking {parent} into {child} "
                            f"would make a cycle in the genealogy.")
    sponsor_id = audit.sponsor_of(child)
    if sponsor_id is None:
        sponsor_id = audit.sponsor_of(parent)
    return create_record(actor, GenealogyLink(
        parent=parent_key, child=child_key,
        parent_label=str(getattr(parent, "number", "") or parent)[:200],
        child_label=(child_label or str(getattr(child, "number", "") or child))[:200],
        quantity=quantity, unit=unit, sponsor_id=sponsor_id,
        created_at=clock.now(), created_by=actor,
    ))


# ---------------------------------------------------------------------------------------------
# Materials, lots and inventory (everything above this line is genealogy).

MAX_CONTAINERS = 500



def _refusal(exc: ValidationError, model) -> RuleViolation:
    """A model's refusal of a value (length, format) as a domain error naming the field."""
    if not hasattr(exc, "error_dict"):
        return RuleViolation(" ".join(exc.messages))
    names = {f.name: str(getattr(f, "verbose_name", f.name)) for f in model._meta.get_fields()}
    return RuleViolation(" ".join(f"{names.get(field, field).capitalize()}: {' '.join(messages)}"
                                  for field, messages in exc.message_dict.items()))


def _create(actor, obj, **kwargs):
    try:
        return create_record(actor, obj, **kwargs)
    except ValidationError as exc:
        raise _refusal(exc, type(obj)) from None


def _update(actor, obj, **kwargs):
    try:
        return update_record(actor, obj, **kwargs)
    except ValidationError as exc:
        raise _refusal(exc, type(obj)) from None


def _text(value, what: str, *, required: bool = True) -> str:
    text = value.strip() if isinstance(value, str) else ""
    if required and not text:
        raise RuleViolation(f"Give {what}.")
    return text


def _amount(quantity, unit: str, stock_unit: str, *, allow_zero: bool = False) -> Decimal:
    """User input in any compatible unit, as a storable quantity of the stock unit (pint converts)."""
    try:
        return units.quantity_in(quantity, unit or "", stock_unit, allow_zero=allow_zero)
    except units.UnitError as exc:
        raise RuleViolation(str(exc)) from None


# Master data ---------------------------------------------------------------------------------

@transaction.atomic
def create_supplier(actor, *, code: str, name: str, is_approved: bool = True, sponsor=None) -> Supplier:
    """A supplier of the CDMO, or (`sponsor`) a sponsor that supplies its own material."""
    require(actor, "materials.manage_master_data")
    code, name = _text(code, "the supplier a code").upper(), _text(name, "the supplier's name")
    if sponsor is not None:
        sponsor = get_scoped(type(sponsor), actor, pk=sponsor.pk)
    if Supplier.objects.filter(code__iexact=code).exists():
        raise Conflict(f"A supplier with code {code} exists already.")
    return _create(actor, Supplier(code=code, name=name, is_approved=bool(is_approved), sponsor=sponsor))


@transaction.atomic
def set_supplier_approval(actor, supplier: Supplier, *, approved: bool, reason: str) -> Supplier:
    """Approve or disqualify a supplier; a disqualified supplier's material is not received."""
    require(actor, "materials.manage_master_data")
    supplier = get_scoped(Supplier.objects.select_for_update(), actor, pk=supplier.pk)
    _text(reason, "a reason for the change of the supplier's approval")
    return _update(actor, supplier, reason=reason.strip(), action="approve" if approved else "disqualify",
                   is_approved=bool(approved))


@transaction.atomic
def create_location(actor, *, code: str, name: str, kind: str) -> InventoryLocation:
    require(actor, "materials.manage_master_data")
    code, name = _text(code, "the location a code").upper(), _text(name, "the location's name")
    if kind not in InventoryLocation.Kind.values:
        raise RuleViolation(f"Kind must be one of: {', '.join(InventoryLocation.Kind.values)}.")
    if InventoryLocation.objects.filter(code__iexact=code).exists():
        raise Conflict(f"A location with code {code} exists already.")
    return _create(actor, InventoryLocation(code=code, name=name, kind=kind))


def _shelf_life(days) -> int | None:
    if days in (None, ""):
        return None
    try:
        days = int(days)
    except (TypeError, ValueError):
        raise RuleViolation("Shelf life after opening: give a whole number of days.") from None
    if not 0 < days <= 3650:
        raise RuleViolation("Shelf life after opening: give a number of days from 1 to 3650.")
    return days


def _checked_choice(value, choices, what: str) -> str:
    if value not in choices.values:
        raise RuleViolation(f"{what} must be one of: {', '.join(choices.values)}.")
    return value


@transaction.atomic
def create_material(actor, *, code: str, name: str, category: str, storage: str, unit: str,
                    shelf_life_after_opening_days=None, suppliers=(), sponsor=None) -> Material:
    """A material of the master; `sponsor` None for the CDMO's own, a sponsor for one it supplies or owns."""
    require(actor, "materials.manage_master_data")
    code, name = _text(code, "the material a code").upper(), _text(name, "the material's name")
    if Material.objects.filter(code__iexact=code).exists():
        raise Conflict(f"A material with code {code} exists already.")
    try:
        stock_unit = units.stock_unit(unit)
    except units.UnitError as exc:
        raise RuleViolation(str(exc)) from None
    if sponsor is not None:
        sponsor = get_scoped(type(sponsor), actor, pk=sponsor.pk)
    material = _create(actor, Material(
        code=code, name=name, category=_checked_choice(category, Material.Category, "Category"),
        storage=_checked_choice(storage, Material.Storage, "Storage condition"), unit=stock_unit,
        shelf_life_after_opening_days=_shelf_life(shelf_life_after_opening_days), sponsor=sponsor))
    if suppliers:
        _set_suppliers(actor, material, suppliers, reason="approved suppliers of a new material")
    return material


MATERIAL_FIELDS = {"name", "category", "storage", "unit", "shelf_life_after_opening_days", "is_active"}


@transaction.atomic
def update_material(actor, material: Material, *, reason: str, **changes) -> Material:
    """Change the master data of a material; the unit only while no lot of it exists."""
    require(actor, "materials.manage_master_data")
    material = get_scoped(Material.objects.select_for_update(), actor, pk=material.pk)
    if unknown := changes.keys() - MATERIAL_FIELDS:
        raise RuleViolation(f"These fields cannot be changed: {', '.join(sorted(unknown))}.")
    _text(reason, "a reason for changing the material's master data")
    if "name" in changes:
        changes["name"] = _text(changes["name"], "the material's name")
    if "category" in changes:
        _checked_choice(changes["category"], Material.Category, "Category")
    if "storage" in changes:
        _checked_choice(changes["storage"], Material.Storage, "Storage condition")
    if "shelf_life_after_opening_days" in changes:
        changes["shelf_life_after_opening_days"] = _shelf_life(changes["shelf_life_after_opening_days"])
    if "is_active" in changes:
        changes["is_active"] = bool(changes["is_active"])
    if "unit" in changes:
        try:
            changes["unit"] = units.stock_unit(changes["unit"])
        except units.UnitError as exc:
            raise RuleViolation(str(exc)) from None
        if changes["unit"] != material.unit and material.lots.exists():
            raise RuleViolation(f"{material.code} has lots counted in {material.unit}: its unit cannot change.")
    return _update(actor, material, reason=reason.strip(), **changes)


def _set_suppliers(actor, material: Material, suppliers, *, reason: str) -> None:
    before = sorted(material.approved_suppliers.values_list("code", flat=True))
    wanted = {s.pk: s for s in suppliers}
    for supplier in wanted.values():
        if supplier.sponsor_id is not None and supplier.sponsor_id != material.sponsor_id:
            raise RuleViolation(f"{supplier} supplies only its own sponsor's materials, and {material.code} is not one.")
    after = sorted(s.code for s in wanted.values())
    if before == after:
        return
    material.approved_suppliers.set(list(wanted))
    audit.log_event(actor, "update", record=material, changes={"approved_suppliers": [before, after]},
                    reason=reason)


@transaction.atomic
def set_approved_suppliers(actor, material: Material, suppliers, *, reason: str) -> Material:
    """Which suppliers the material may be received from (supplier qualification)."""
    require(actor, "materials.manage_master_data")
    material = get_scoped(Material.objects.select_for_update(), actor, pk=material.pk)
    _text(reason, "a reason for changing the approved suppliers")
    _set_suppliers(actor, material, suppliers, reason=reason.strip())
    return material


# Receipt -------------------------------------------------------------------------------------

def receive_lot(actor, *, material: Material, supplier: Supplier, supplier_lot: str, quantity, unit: str = "",
                containers=1, location: InventoryLocation, expiry_date=None, retest_date=None,
                certificate=None, notes: str = "") -> Lot:
    """Receive a delivery: a new lot in quarantine, its stock at `location`, the supplier's CoA attached.

    All or nothing: a refusal (unapproved supplier, duplicate supplier lot, expiry before receipt,
    a quantity or unit that does not fit) writes nothing.
    """
    require(actor, "materials.receive")
    with transaction.atomic():
        material = get_scoped(Material, actor, pk=material.pk)
        if not material.is_active:
            raise RuleViolation(f"{material.code} is retired and is not received any more.")
        supplier = get_scoped(Supplier, actor, pk=supplier.pk)
        if not supplier.is_approved:
            raise RuleViolation(f"{supplier} is not an approved supplier: its deliveries are not received.")
        if not material.approved_suppliers.filter(pk=supplier.pk).exists():
            raise RuleViolation(f"{supplier} is not an approved supplier of {material.code} {material.name}.")
        supplier_lot = _text(supplier_lot, "the supplier's lot number")
        amount = _amount(quantity, unit, material.unit)
        try:
            containers = int(containers)
        except (TypeError, ValueError):
            raise RuleViolation("Containers: give a whole number.") from None
        if not 1 <= containers <= MAX_CONTAINERS:
            raise RuleViolation(f"Containers: give a number from 1 to {MAX_CONTAINERS}.")
        now = clock.now()
        received_on = site_date(now)
        for label, date in (("expiry date", expiry_date), ("retest date", retest_date)):
            if date is not None and date < received_on:
                raise RuleViolation(f"The {label} {date:%Y-%m-%d} is before the receipt date {received_on:%Y-%m-%d}: "
                                    "expired material is not received.")
        if expiry_date is not None and retest_date is not None and retest_date > expiry_date:
            raise RuleViolation("The retest date cannot be after the expiry date.")
        if location.kind == InventoryLocation.Kind.PRODUCTION:
            raise RuleViolation(f"Receive into a store or the quarantine store, not into {location}.")
        earlier = Lot.objects.filter(material=material, supplier=supplier, supplier_lot__iexact=supplier_lot).first()
        if earlier is not None:
            raise Conflict(f"{supplier} lot {supplier_lot} of {material.code} was received already as {earlier.number}.")
        lot = Lot(material=material, supplier=supplier, supplier_lot=supplier_lot, sponsor=material.sponsor,
                  received_at=now, quantity_received=amount, unit=material.unit, containers=containers,
                  entered_quantity=_as_entered(quantity), entered_unit=units.canonical(unit or material.unit),
                  expiry_date=expiry_date, retest_date=retest_date, notes=str(notes or "").strip(),
                  status=lot_workflow.initial)
        try:
            with transaction.atomic():
                _create(actor, lot)
        except IntegrityError:  # the same supplier lot received at the same moment by someone else
            raise Conflict(f"{supplier} lot {supplier_lot} of {material.code} was received already.") from None
        row = _post(actor, lot, location, "receive", amount)
        _log(actor, lot, "receive", [row], entered=(quantity, unit or material.unit))
        if certificate is not None:
            core_services.add_attachment(actor, lot, certificate, description="Supplier certificate of analysis")
    return lot


def _as_entered(quantity) -> Decimal | None:
    """The quantity as typed, when it fits the column (the audit event keeps it exactly anyway)."""
    value = units.parse_quantity(quantity)
    try:
        return units.storable(value) if value == units.storable(value) else None
    except units.UnitError:
        return None


# QA disposition ------------------------------------------------------------------------------

def transition_lot(actor, lot: Lot, action: str, *, signature: SignatureInput | None = None,
                   first_in_session: bool = True, reason: str = "") -> Lot:
    """Release, reject, hold or lift a hold. Signing re-authenticates before the transaction,
    so a wrong password is counted even though the step is refused."""
    signer = lot_workflow.authenticate(actor, action, signature, first_in_session=first_in_session)
    with transaction.atomic():
        lot = get_scoped(Lot.objects.select_for_update(), actor, pk=lot.pk)
        lot_workflow.apply(lot, action, actor=actor, signer=signer, reason=reason)
    return lot


# Stock movements -----------------------------------------------------------------------------

def _locked(actor, lot: Lot) -> Lot:
    """The lot, row-locked: every movement of one lot (and its QA status changes) goes one at a time."""
    return get_scoped(Lot.objects.select_for_update(), actor, pk=lot.pk)


def _post(actor, lot: Lot, location: InventoryLocation, kind: str, delta: Decimal, *, reason: str = "",
          for_type: str = "", for_id: str = "", for_label: str = "",
          other_location: InventoryLocation | None = None) -> InventoryTransaction:
    """Change the lot's balance at `location` by `delta` and write the transaction row.

    The balance row is locked and checked, so the refusal names what is left; the database's
    check constraint refuses a negative balance too, whatever got past this code.
    """
    if delta > 0:
        LotBalance.objects.get_or_create(lot=lot, location=location, defaults={"quantity": Decimal(0)})
    balance = LotBalance.objects.select_for_update().filter(lot=lot, location=location).first()
    before = balance.quantity if balance is not None else Decimal(0)
    if before + delta < 0:
        raise Conflict(f"Only {quantity_text(before)} {lot.unit} of {lot} is at {location.code}: "
                       f"{quantity_text(-delta)} {lot.unit} cannot be taken from there.")
    try:
        with transaction.atomic():
            LotBalance.objects.filter(pk=balance.pk).update(quantity=F("quantity") + delta)
    except IntegrityError:
        raise Conflict(f"The stock of {lot} at {location.code} changed meanwhile and would fall below zero; "
                       "nothing was taken. Look at the balance and try again.") from None
    row = InventoryTransaction(
        lot=lot, location=location, kind=kind, quantity=delta, balance_after=before + delta,
        performed_by=actor, performed_at=clock.now(), reason=reason, for_type=for_type, for_id=for_id,
        for_label=for_label, other_location=other_location)
    try:
        row.full_clean()
    except ValidationError as exc:
        raise _refusal(exc, InventoryTransaction) from None
    row.save()
    return row


def _log(actor, lot: Lot, action: str, rows, *, reason: str = "", entered=None) -> None:
    """One audit event on the lot per movement: the transactions and each balance, old → new."""
    changes = {
        f"balance at {row.location.code}": [quantity_text(row.balance_after - row.quantity),
                                            quantity_text(row.balance_after)]
        for row in rows
    }
    changes["transaction"] = [None, [{
        "id": row.pk, "kind": row.kind, "location": row.location.code, "quantity": quantity_text(row.quantity),
        "unit": lot.unit, **({"for": row.for_label} if row.for_label else {}),
        **({"entered": f"{entered[0]} {entered[1]}".strip()} if entered else {}),
    } for row in rows]]
    audit.log_event(actor, action, record=lot, changes=changes, reason=reason)


def _settle_status(actor, lot: Lot) -> None:
    """Depleted when the last of a released lot is used; released again when some comes back."""
    total = lot_total(lot)
    if lot.status == "released" and total == 0:
        lot_workflow.apply(lot, "deplete", actor=actor, reason="the last of the lot was used")
    elif lot.status == "depleted" and total > 0:
        lot_workflow.apply(lot, "restock", actor=actor, reason="stock came back")


@dataclass(frozen=True)
class Destination:
    """The record stock is issued to or returned from: a registered record, or one on paper."""

    type: str
    id: str
    label: str
    record: object | None = None


EXTERNAL = "external"


def destination(actor, *, record=None, for_type: str = "", for_reference: str = "", for_label: str = "") -> Destination:
    """A registered record (by its type and reference, as the user may see it) or, for a record
    the system does not hold (a paper batch record), type 'external' and its name."""
    if record is not None:
        return Destination(audit.record_type(record), str(record.pk),
                           str(getattr(record, "number", "") or record)[:200], record)
    for_type = for_type.strip() if isinstance(for_type, str) else ""
    for_reference = for_reference.strip() if isinstance(for_reference, str) else ""
    for_label = for_label.strip() if isinstance(for_label, str) else ""
    if for_type in ("", EXTERNAL):
        if not for_label:
            raise RuleViolation("Say which record the material is for (for example the batch number).")
        return Destination(EXTERNAL, for_reference[:64], for_label[:200])
    kind = registry.kind(for_type)
    if kind is None:
        raise RuleViolation(f"'{for_type[:64]}' is not a kind of record.")
    found = get_scoped(kind.model, actor, **{kind.lookup: for_reference})
    return Destination(kind.type_name, str(found.pk), str(getattr(found, kind.lookup))[:200], found)


def _check_same_sponsor(lot: Lot, target: Destination) -> None:
    if target.record is None:
        return
    if target.record == lot:
        raise RuleViolation(f"{lot} cannot be issued to itself.")
    if lot.sponsor_id is None:
        return
    owner = audit.sponsor_of(target.record)
    if owner is not None and owner != lot.sponsor_id:
        raise RuleViolation(f"{lot} belongs to {lot.sponsor} and cannot be used for another sponsor's record.")


def _link(actor, lot: Lot, target: Destination, amount: Decimal) -> None:
    if target.record is None or target.record == lot:
        return
    exists = GenealogyLink.objects.filter(parent=node_of(lot), child=node_of(target.record)).exists()
    if not exists:
        link_genealogy(actor, lot, target.record, quantity=amount, unit=lot.unit)


def issue_lot(actor, lot: Lot, *, location: InventoryLocation, quantity, unit: str = "",
              to: Destination, override_reason: str = "") -> InventoryTransaction:
    """Issue stock to a record (a batch …). Only a released lot within its dates is issued; the
    refusal says why and writes nothing. The lot is linked into the record's genealogy.

    `override_reason`: QA overrode this refusal for the record (a signed batch interlock
    override, checked by the caller); the lot is issued anyway and the audit event says why."""
    require(actor, "materials.issue")
    with transaction.atomic():
        lot = _locked(actor, lot)
        usable, reasons = lot_usability(lot, clock.now())
        if not usable and not override_reason.strip():
            raise RuleViolation("Not issued: " + "; ".join(reasons) + ".")
        _check_same_sponsor(lot, to)
        amount = _amount(quantity, unit, lot.unit)
        row = _post(actor, lot, location, "issue", -amount, for_type=to.type, for_id=to.id, for_label=to.label)
        _log(actor, lot, "issue", [row], entered=(quantity, unit or lot.unit),
             reason="" if usable else override_reason.strip())
        _link(actor, lot, to, amount)
        _settle_status(actor, lot)
    return row


def return_lot(actor, lot: Lot, *, location: InventoryLocation, quantity, unit: str = "", source: Destination,
               reason: str = "") -> InventoryTransaction:
    """Stock that was issued to a record and not used comes back; never more than went out."""
    require(actor, "materials.issue")
    with transaction.atomic():
        lot = _locked(actor, lot)
        amount = _amount(quantity, unit, lot.unit)
        outstanding = issued_to(lot, source.type, source.id, source.label)
        if amount > outstanding:
            raise RuleViolation(f"{quantity_text(outstanding)} {lot.unit} of {lot} is issued to {source.label} and not "
                                f"returned: {quantity_text(amount)} {lot.unit} cannot come back from it.")
        if location.kind == InventoryLocation.Kind.PRODUCTION:
            raise RuleViolation(f"Return the stock to a store, not to {location}.")
        row = _post(actor, lot, location, "return", amount, for_type=source.type, for_id=source.id,
                    for_label=source.label, reason=str(reason or "").strip())
        _log(actor, lot, "return", [row], reason=row.reason, entered=(quantity, unit or lot.unit))
        _settle_status(actor, lot)
    return row


def sample_lot(actor, lot: Lot, *, location: InventoryLocation, quantity, unit: str = "",
               reason: str = "") -> InventoryTransaction:
    """Take a sample (incoming inspection, QC testing): allowed in any status, quarantine included."""
    require(actor, "materials.receive")
    with transaction.atomic():
        lot = _locked(actor, lot)
        amount = _amount(quantity, unit, lot.unit)
        reason = str(reason or "").strip() or "sample"
        row = _post(actor, lot, location, "sample", -amount, reason=reason)
        _log(actor, lot, "sample", [row], reason=reason, entered=(quantity, unit or lot.unit))
        _settle_status(actor, lot)
    return row


def transfer_lot(actor, lot: Lot, *, from_location: InventoryLocation, to_location: InventoryLocation, quantity,
                 unit: str = "", reason: str = "") -> tuple[InventoryTransaction, InventoryTransaction]:
    require(actor, "materials.transfer")
    if from_location.pk == to_location.pk:
        raise RuleViolation("Choose two different locations to transfer between.")
    with transaction.atomic():
        lot = _locked(actor, lot)
        amount = _amount(quantity, unit, lot.unit)
        reason = str(reason or "").strip()
        out = _post(actor, lot, from_location, "transfer_out", -amount, reason=reason, other_location=to_location)
        into = _post(actor, lot, to_location, "transfer_in", amount, reason=reason, other_location=from_location)
        _log(actor, lot, "transfer", [out, into], reason=reason, entered=(quantity, unit or lot.unit))
    return out, into


def adjust_lot(actor, lot: Lot, *, location: InventoryLocation, counted, unit: str = "", reason: str,
               raise_deviation: bool = False) -> InventoryTransaction:
    """Set the balance at a location to what was counted there, with the reason for the difference;
    optionally raise a deviation for the discrepancy."""
    require(actor, "materials.adjust")
    reason = _text(reason, "a reason for the adjustment")
    with transaction.atomic():
        lot = _locked(actor, lot)
        counted = _amount(counted, unit, lot.unit, allow_zero=True)
        balance = LotBalance.objects.select_for_update().filter(lot=lot, location=location).first()
        before = balance.quantity if balance is not None else Decimal(0)
        if counted == before:
            raise RuleViolation(f"{lot} at {location.code} is {quantity_text(before)} {lot.unit} already: "
                                "there is nothing to adjust.")
        row = _post(actor, lot, location, "adjust", counted - before, reason=reason)
        _log(actor, lot, "adjust", [row], reason=reason)
        if raise_deviation:
            quality_services.raise_deviation(
                actor, title=f"Inventory discrepancy: {lot} at {location.code}"[:200],
                description=(f"Counted {quantity_text(counted)} {lot.unit} of {lot} ({lot.material}) at {location}, "
                             f"the record said {quantity_text(before)} {lot.unit}. Reason given: {reason}"),
                source="material", records=[lot], sponsor=lot.sponsor)
        _settle_status(actor, lot)
    return row


def destroy_lot(actor, lot: Lot, *, location: InventoryLocation, quantity, unit: str = "",
                reason: str) -> InventoryTransaction:
    """Destroy stock (rejected, expired, damaged): the reason is required."""
    require(actor, "materials.adjust")
    reason = _text(reason, "a reason for destroying the stock")
    with transaction.atomic():
        lot = _locked(actor, lot)
        amount = _amount(quantity, unit, lot.unit)
        row = _post(actor, lot, location, "destroy", -amount, reason=reason)
        _log(actor, lot, "destroy", [row], reason=reason, entered=(quantity, unit or lot.unit))
        _settle_status(actor, lot)
    return row


# Printouts and exports (audited: who took what out of the system) -----------------------------

# Who prints container labels: the warehouse at receipt and put-away, QA after disposition.
LABEL_PRINTERS = ("materials.receive", "materials.transfer", "materials.disposition")


def may_print_labels(actor) -> bool:
    return actor is not None and any(actor.has_permission(p) for p in LABEL_PRINTERS)


@transaction.atomic
def record_label_print(actor, lot: Lot, *, labels: int) -> None:
    """Container labels printed for the lot: how many, with the status they show."""
    if not may_print_labels(actor):
        raise PermissionDenied(f"You do not have the permission to print labels ({' or '.join(LABEL_PRINTERS)}).")
    audit.log_event(actor, "print_labels", record=lot,
                    changes={"labels": [None, {"count": labels, "status shown": lot_status(lot)}]})


@transaction.atomic
def record_trace_export(actor, lot: Lot, *, file_format: str, links: int) -> None:
    require(actor, "materials.view_genealogy")
    audit.log_event(actor, "export", record=lot,
                    changes={"export": [None, {"what": "trace", "format": file_format, "links": links}]})
