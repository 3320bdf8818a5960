"""Every write of the chain of identity and custody: patients and therapy orders (issuing the
chain of identity identifier), collections, custody handoffs with their scan verification,
shipments, cryostorage and labels. Sponsor scoping on every read and write."""

import datetime as dt
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import IntegrityError, transaction

from opencdmo.core import audit, clock
from opencdmo.core.access import require
from opencdmo.core.errors import Conflict, NotFound, RuleViolation
from opencdmo.core.records import create_record, update_record
from opencdmo.core.scoping import get_scoped, scoped
from opencdmo.core.signatures import SignatureInput, VerifiedSigner, authenticate_signer, sign
from opencdmo.quality import services as quality_services
from opencdmo.sponsors.models import Product, Sponsor

from . import conf, selectors
from .domain import custody, isbt128, storage
from .labels import LabelKind, label_sheet_pdf
from .models import (
    Box,
    Collection,
    CustodyEvent,
    CustodyWindow,
    Freezer,
    FreezerAlarm,
    IdentifierSequence,
    LabelPrint,
    Milestone,
    MilestoneReached,
    Patient,
    Placement,
    ProductIdentity,
    Rack,
    Shipment,
    TherapyOrder,
    TreatmentCentre,
    Unit,
)
from .workflows import order_workflow, patient_workflow

ENROL = "identity.enroll"


def _text(value, what: str, *, max_length: int, required: bool = True) -> str:
    text = value.strip() if isinstance(value, str) else ""
    if required and not text:
        raise RuleViolation(f"{what} is required.")
    if len(text) > max_length:
        raise RuleViolation(f"{what} is at most {max_length} characters.")
    return text


@transaction.atomic
def create_centre(actor, *, sponsor: Sponsor, code: str, name: str, address: str = "") -> TreatmentCentre:
    require(actor, "identity.manage_centres", to="add treatment centres")
    sponsor = get_scoped(Sponsor, actor, pk=sponsor.pk)
    code = _text(code, "A centre code", max_length=16).upper()
    if TreatmentCentre.objects.filter(sponsor=sponsor, code=code).exists():
        raise Conflict(f"{sponsor.code} already has a treatment centre {code}.")
    return create_record(actor, TreatmentCentre(sponsor=sponsor, code=code, name=_text(name, "A name", max_length=200),
                                                address=_text(address, "The address", max_length=2000,
                                                              required=False)))


@transaction.atomic
def enroll_patient(actor, *, centre: TreatmentCentre, subject_id: str, date_of_birth=None) -> Patient:
    """A sponsor's patient, known by the pseudonymized subject id (unique within the sponsor)."""
    require(actor, ENROL, to="enrol patients")
    centre = get_scoped(TreatmentCentre.objects.select_related("sponsor"), actor, pk=centre.pk)
    if not centre.is_active:
        raise RuleViolation(f"{centre} no longer treats patients.")
    subject_id = _text(subject_id, "A subject id", max_length=32)
    if date_of_birth is not None and date_of_birth > clock.site_today():
        raise RuleViolation("A date of birth cannot be in the future.")
    if Patient.objects.filter(sponsor=centre.sponsor, subject_id=subject_id).exists():
        raise Conflict(f"{centre.sponsor.code} already has a patient with subject id {subject_id}.")
    return create_record(actor, Patient(sponsor=centre.sponsor, centre=centre, subject_id=subject_id,
                                        date_of_birth=date_of_birth, status=patient_workflow.initial))


def _issue(structure: str) -> isbt128.ChainOfIdentity | isbt128.Din:
    """The next chain of identity identifier or DIN of this site and year, issued in order under a
    row lock (never twice), in the caller's transaction."""
    issuer, year = conf.issuing_facility(), f"{clock.now().year % 100:02d}"
    IdentifierSequence.objects.bulk_create([IdentifierSequence(structure=structure, issuer=issuer, year=year,
                                                               last="")], ignore_conflicts=True)
    counter = IdentifierSequence.objects.select_for_update().get(structure=structure, issuer=issuer, year=year)
    try:
        if structure == IdentifierSequence.Structure.DIN:
            # A DIN's sequence is six digits (ISBT-3); a chain of identity's is alphanumeric (ISBT-6).
            issued = isbt128.Din.build(issuer, year, int(counter.last or 0) + 1)
            counter.last = issued.sequence
        else:
            counter.last = isbt128.next_sequence(counter.last) if counter.last else "000001"
            issued = isbt128.ChainOfIdentity.build(issuer, year, counter.last)
    except isbt128.Isbt128Error as exc:
        raise RuleViolation(str(exc)) from None
    counter.save(update_fields=["last"])
    return issued


def order_therapy(actor, patient: Patient, *, product: Product, planned_collection) -> TherapyOrder:
    """A therapy for an enrolled patient, with its chain of identity identifier issued now."""
    require(actor, ENROL, to="order therapies")
    try:
        with transaction.atomic():
            patient = get_scoped(Patient.objects.select_for_update(), actor, pk=patient.pk)
            if patient.status != "enrolled":
                raise RuleViolation(f"{patient} is {patient_workflow.label(patient.status)}: no therapy can be ordered.")
            product = get_scoped(Product.objects.select_related("program"), actor, pk=product.pk)
            if product.program.sponsor_id != patient.sponsor_id:
                raise RuleViolation(f"{product.code} is not a product of {patient.sponsor.code}.")
            if product.modality != "autologous_cell":
                raise RuleViolation(f"{product.code} is not an autologous product: it is not made for one patient.")
            if planned_collection is None:
                raise RuleViolation("Give the planned collection date.")
            coi = _issue(IdentifierSequence.Structure.COI)
            return create_record(actor, TherapyOrder(patient=patient, product=product, coi=coi.data_content,
                                                     planned_collection=planned_collection,
                                                     status=order_workflow.initial))
    except IntegrityError:
        raise Conflict("The chain of identity identifier was just issued to someone else: try again.") from None


def transition_patient(actor, patient: Patient, action: str, *, signature: SignatureInput | None = None,
                       first_in_session: bool = True, reason: str = "") -> Patient:
    transition = patient_workflow.get(action)
    require(actor, transition.permission, to=transition.label.lower())
    with transaction.atomic():
        patient = get_scoped(Patient.objects.select_for_update(), actor, pk=patient.pk)
        patient_workflow.apply(patient, action, actor=actor, reason=reason)
    return patient


def transition_order(actor, order: TherapyOrder, action: str, *, signature: SignatureInput | None = None,
                     first_in_session: bool = True, reason: str = "") -> TherapyOrder:
    transition = order_workflow.get(action)
    require(actor, transition.permission, to=transition.label.lower())
    with transaction.atomic():
        order = get_scoped(TherapyOrder.objects.select_for_update(), actor, pk=order.pk)
        order_workflow.apply(order, action, actor=actor, reason=reason)
    return order


# --- Custody: the one writer of custody events, used by collections, handoffs, shipments,
# storage, labels and the batch record's patient-material steps ------------------------------

# Handoffs where a mix-up would reach the patient: a second person verifies (two-person rule).
CRITICAL_HANDOFFS = frozenset({Milestone.RECEIPT, Milestone.FINAL_LABELING, Milestone.RELEASE_FOR_SHIPMENT})
_MILESTONE_ORDER = {value: position for position, value in enumerate(Milestone.values)}


class CustodyMismatch(RuleViolation):
    """A scan naming another patient or container: the handoff is refused, the refused event is
    kept and a deviation raised (both committed before this is raised)."""

    def __init__(self, message: str, *, event: CustodyEvent, deviation):
        super().__init__(message)
        self.event = event
        self.deviation = deviation


def _handoff_name(kind: str) -> str:
    """'receipt at the CDMO', as a sentence says it (acronyms keep their capitals)."""
    label = Milestone(kind).label
    return label[:1].lower() + label[1:]


def expected_of(order: TherapyOrder, unit: Unit | None = None) -> custody.Expected:
    if unit is None:
        return custody.Expected(coi=order.coi)
    return custody.Expected(coi=order.coi, din=unit.din, product_code=unit.product_code)


def _scanned_text(scanned) -> str:
    entries = [scanned] if isinstance(scanned, str) else [s for s in (scanned or ()) if isinstance(s, str)]
    return "\n".join(entry.strip() for entry in entries)[:2000]


def verify_scan(actor, order: TherapyOrder, scanned, *, kind: str, unit: Unit | None = None, shipment=None,
                records=(), location: str = "", expected: custody.Expected | None = None) -> custody.Verification:
    """The scan must name this therapy (and this container, when one is given; `expected` names
    what a scan must match when there is no unit yet, e.g. a collection's DIN). An unreadable scan
    is refused with what to do (nothing written). A mismatch is refused too, and kept: the refused
    custody event and the deviation it raises are committed in their own transaction before
    CustodyMismatch is raised, so call this before opening the handoff's own transaction."""
    try:
        verification = custody.verify(expected or expected_of(order, unit), custody.read_scans(scanned))
    except isbt128.Isbt128Error as exc:
        raise RuleViolation(str(exc)) from None
    if verification.matched:
        return verification
    what = _handoff_name(kind)
    problem = " ".join(verification.problems)
    with transaction.atomic():
        deviation = quality_services.raise_deviation(
            actor, title=f"Identity mismatch at {what} for {order.number}"[:200],
            description=f"At {what} of {unit.number if unit else order.number} the scan was refused: {problem} "
                        "The material was not handed on.",
            source="custody", records=(order, *([unit] if unit else []), *records), sponsor=order.patient.sponsor,
            area=location, category="chain_of_identity", immediate_actions="Handoff blocked by the system.")
        event = create_record(actor, CustodyEvent(
            order=order, unit=unit, shipment=shipment, kind=kind, at=clock.now(), by=actor, location=location,
            scanned=_scanned_text(scanned), result=CustodyEvent.Result.REFUSED, problem=problem, deviation=deviation))
    raise CustodyMismatch(f"Refused: {problem} Deviation {deviation.number} is raised; do not hand the material on.",
                          event=event, deviation=deviation)


def second_person(actor, order: TherapyOrder, verifier, signature: SignatureInput | None, *,
                  first_in_session: bool = True) -> VerifiedSigner:
    """The second person of a critical handoff: someone else, allowed to verify custody for this
    sponsor, signing 'Verified' with their own user ID and password."""
    if verifier is None or signature is None:
        raise RuleViolation("This handoff needs a second person: they enter their user ID and password to verify.")
    if verifier.pk == actor.pk:
        raise RuleViolation("Segregation of duties: the second person must be someone else.")
    require(verifier, "identity.verify_custody", to="verify custody handoffs")
    get_scoped(TherapyOrder, verifier, pk=order.pk)
    signer = authenticate_signer(verifier, signature, first_in_session=first_in_session)
    if signer.meaning != "Verified":
        raise RuleViolation("The second person signs with the meaning 'Verified'.")
    return signer


def reach_milestone(actor, order: TherapyOrder, milestone: str, at) -> None:
    """The first time a therapy reaches a milestone; its stage only ever moves forward."""
    _, reached = MilestoneReached.objects.get_or_create(order=order, milestone=milestone, defaults={"at": at})
    if reached and _MILESTONE_ORDER[milestone] > _MILESTONE_ORDER[order.stage]:
        update_record(actor, order, action="custody", stage=milestone)


def record_event(actor, order: TherapyOrder, kind: str, *, unit: Unit | None = None, shipment=None,
                 scanned="", verified_by=None, from_party: str = "", to_party: str = "", location: str = "",
                 note: str = "") -> CustodyEvent:
    """A verified handoff, in the caller's transaction, stamped with server time; the therapy
    reaches the milestone. The caller has verified the scan and the second person."""
    event = create_record(actor, CustodyEvent(
        order=order, unit=unit, shipment=shipment, kind=kind, at=clock.now(), by=actor, verified_by=verified_by,
        from_party=from_party[:200], to_party=to_party[:200], location=location[:200],
        scanned=_scanned_text(scanned), result=CustodyEvent.Result.VERIFIED, note=note))
    reach_milestone(actor, order, kind, event.at)
    return event


def unit_from_scan(actor, scanned) -> Unit:
    """The container a scan names, among those the user may see: by its DIN and product code (the
    label's Data Matrix, or both Code 128 symbols), by a DIN alone when only one container has it,
    or by the unit number typed."""
    entries = [scanned] if isinstance(scanned, str) else list(scanned or ())
    typed = "".join(str(entries[0]).split()).upper() if len(entries) == 1 else ""
    if typed.startswith(f"{Unit.number_prefix}-"):
        return get_scoped(Unit.objects.select_related("order__patient__sponsor"), actor, number=typed)
    try:
        read = custody.read_scans(entries)
    except isbt128.Isbt128Error as exc:
        raise RuleViolation(str(exc)) from None
    dins = {s.din13 for s in read if isinstance(s, isbt128.Din)}
    codes = {s.data_content for s in read if isinstance(s, isbt128.ProductCode)}
    if len(dins) != 1 or len(codes) > 1:
        raise RuleViolation("Scan one container's DIN and product code (its Data Matrix holds both).")
    units = scoped(Unit.objects.select_related("order__patient__sponsor"), actor).filter(din=dins.pop())
    if codes:
        units = units.filter(product_code=codes.pop())
    found = list(units[:2])
    if not found:
        raise NotFound("No container with that DIN and product code is known among those you may see.")
    if len(found) > 1:
        raise RuleViolation("Several containers carry this DIN: scan the product code too, or the Data Matrix.")
    return found[0]


# --- Collections and handoffs ------------------------------------------------------------------

COLLECT = "identity.collect"
_DIVISIONS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"  # first division level of a product code (ISBT-5)

# Where a unit is (its status), as the pages say it.
UNIT_STATES = {
    "collected": "Collected", "in_transit": "In transit", "received": "Received at the CDMO",
    "in_manufacturing": "In manufacturing", "filled": "Filled", "labeled": "Labelled",
    "released": "Released for shipment", "shipped": "Shipped", "at_site": "At the treatment site",
    "infused": "Infused", "rejected": "Held: shipment rejected at receipt", "destroyed": "Destroyed",
}
COLLECTION_STATES = {"booked": "Booked", "collected": "Collected"}


@dataclass(frozen=True)
class Handoff:
    permission: str
    accepts: tuple[str, ...]  # the unit statuses it starts from
    leaves: str | None  # the status it leaves the unit in; None: the unit stays where it is


# The handoffs of one unit (hand_over). Shipments move their units with the shipper; a collection
# creates its bags; registering the final product fills its bags.
HANDOFFS = {
    Milestone.COURIER_PICKUP: Handoff(COLLECT, ("collected",), "in_transit"),
    Milestone.RECEIPT: Handoff("identity.custody", ("in_transit",), "received"),
    Milestone.ISSUE_TO_MANUFACTURING: Handoff("identity.custody", ("received",), "in_manufacturing"),
    Milestone.QC_SAMPLING: Handoff("identity.custody", ("received", "in_manufacturing", "filled", "labeled"), None),
    Milestone.FINAL_LABELING: Handoff("identity.custody", ("filled",), "labeled"),
    Milestone.RELEASE_FOR_SHIPMENT: Handoff("identity.release_for_shipment", ("labeled",), "released"),
    Milestone.INFUSION: Handoff(COLLECT, ("at_site",), "infused"),
}


def _states(statuses) -> str:
    return " or ".join(UNIT_STATES.get(s, s).lower() for s in statuses)


def _open_order(actor, order: TherapyOrder) -> TherapyOrder:
    order = get_scoped(TherapyOrder.objects.select_related("patient__centre", "patient__sponsor", "product"), actor,
                       pk=order.pk)
    if order.status != "ordered":
        raise RuleViolation(f"{order.number} is {order_workflow.label(order.status).lower()}: its material is not "
                            "collected or made any more.")
    return order


def _labelling(order: TherapyOrder) -> ProductIdentity:
    labelling = ProductIdentity.objects.filter(product=order.product_id).first()
    if labelling is None:
        raise RuleViolation(f"{order.product.code} has no ISBT 128 labelling yet: someone who configures labelling "
                            "(identity.configure) must set its product description codes first.")
    return labelling


def _bag_count(bags) -> int:
    if isinstance(bags, bool) or not isinstance(bags, int) or not 1 <= bags <= len(_DIVISIONS):
        raise RuleViolation(f"Give the number of bags, 1 to {len(_DIVISIONS)}.")
    return bags


def _product_codes(pdc: str, collection_type: str, bags: int, *, divided: bool) -> list[str]:
    """One product code per bag: undivided ('00') for a single bag unless `divided`, else A0, B0, …"""
    divisions = ["00"] if bags == 1 and not divided else [f"{letter}0" for letter in _DIVISIONS[:bags]]
    try:
        return [isbt128.ProductCode.build(pdc, collection_type, d).data_content for d in divisions]
    except isbt128.Isbt128Error as exc:
        raise RuleViolation(f"The product's ISBT 128 labelling is wrong ({exc}): have it corrected "
                            "(identity.configure).") from None


def book_collection(actor, order: TherapyOrder, *, planned_on, centre: TreatmentCentre | None = None) -> Collection:
    """A collection booked at the patient's centre (or another active centre of the sponsor), its
    DIN issued now so the centre can print the bag labels before the collection (ISBT-3)."""
    require(actor, COLLECT, to="book collections")
    order = _open_order(actor, order)
    if not isinstance(planned_on, dt.date):
        raise RuleViolation("Give the planned collection date.")
    if planned_on < clock.site_today():
        raise RuleViolation("A collection is booked for today or a later day: give its planned date.")
    centre = order.patient.centre if centre is None else get_scoped(
        TreatmentCentre.objects.select_related("sponsor"), actor, pk=centre.pk)
    if centre.sponsor_id != order.patient.sponsor_id:
        raise RuleViolation(f"{centre} is not a centre of {order.patient.sponsor.code}.")
    if not centre.is_active:
        raise RuleViolation(f"{centre} no longer treats patients: choose an active centre.")
    try:
        with transaction.atomic():
            din = _issue(IdentifierSequence.Structure.DIN)
            return create_record(actor, Collection(order=order, centre=centre, din=din.din13, planned_on=planned_on,
                                                   status="booked"))
    except IntegrityError:
        raise Conflict("The DIN was just issued to someone else: try again.") from None


def record_collection(actor, collection: Collection, *, bags=1, scanned=None) -> list[Unit]:
    """The collection done: one unit per bag, each with the collection's DIN and its product code
    (divided A0, B0, … when there are several bags), held by the centre. A scan given must be the
    bag label's DIN of this collection (and, when on it, this patient's chain of identity)."""
    require(actor, COLLECT, to="record collections")
    collection = get_scoped(Collection.objects.select_related("order", "centre"), actor, pk=collection.pk)
    if collection.status != "booked":
        raise RuleViolation(f"{collection.number} is {COLLECTION_STATES[collection.status].lower()} already.")
    order = _open_order(actor, collection.order)
    labelling = _labelling(order)
    codes = _product_codes(labelling.collection_pdc, labelling.collection_type, _bag_count(bags), divided=False)
    place = collection.centre.name
    if scanned is not None:
        verify_scan(actor, order, scanned, kind=Milestone.COLLECTION, records=(collection,), location=place,
                    expected=custody.Expected(coi=order.coi, din=collection.din))
    with transaction.atomic():
        collection = Collection.objects.select_for_update().get(pk=collection.pk)
        if collection.status != "booked":
            raise Conflict(f"{collection.number} was just recorded by someone else.")
        units = []
        for code in codes:
            unit = create_record(actor, Unit(order=order, collection=collection, kind=Unit.Kind.COLLECTION_BAG,
                                             din=collection.din, product_code=code, status="collected", holder=place))
            record_event(actor, order, Milestone.COLLECTION, unit=unit, scanned=scanned or "", to_party=place,
                         location=place)
            units.append(unit)
        update_record(actor, collection, action="collect", status="collected", collected_at=clock.now())
    return units


# Checks a layer above adds to a handoff (the disposition: no release for shipment before QA has
# released the batch). Each takes the unit and returns None, or why the handoff may not happen.
HANDOFF_CHECKS: dict[str, list] = {kind: [] for kind in HANDOFFS}


def _handoff_guard(unit: Unit, kind: str, handoff: Handoff) -> None:
    for check in HANDOFF_CHECKS[kind]:
        if (why := check(unit)) is not None:
            raise RuleViolation(why)
    if unit.status not in handoff.accepts:
        raise RuleViolation(f"{unit.number} is {UNIT_STATES.get(unit.status, unit.status).lower()}: "
                            f"{_handoff_name(kind)} takes a unit that is {_states(handoff.accepts)}.")
    if kind == Milestone.RECEIPT and (shipper := unit.shipments.filter(status="in_transit").first()):
        raise RuleViolation(f"{unit.number} travels in {shipper.number}, not received yet: receive the shipper "
                            "first (its temperature logger), then each bag.")


def hand_over(actor, unit: Unit, kind: str, *, scanned, from_party: str = "", to_party: str = "",
              location: str = "", note: str = "", verifier=None, signature: SignatureInput | None = None,
              first_in_session: bool = True) -> CustodyEvent:
    """One unit handed on, its label scanned and matched to the patient and the container; at a
    critical handoff a second person verifies and signs. A mismatch is refused and kept (with its
    deviation); the unit stays where it was."""
    handoff = HANDOFFS.get(kind)
    if handoff is None:
        raise RuleViolation(f"'{str(kind)[:40]}' is not a handoff of a unit: choose one of "
                            f"{', '.join(_handoff_name(k) for k in HANDOFFS)}.")
    require(actor, handoff.permission, to=f"record {_handoff_name(kind)}")
    unit = get_scoped(Unit.objects.select_related("order__patient__sponsor"), actor, pk=unit.pk)
    _handoff_guard(unit, kind, handoff)
    parties = {"from_party": _text(from_party, "From", max_length=200, required=False),
               "to_party": _text(to_party, "To", max_length=200, required=False),
               "location": _text(location, "The location", max_length=200, required=False)}
    note = _text(note, "The note", max_length=2000, required=False)
    verify_scan(actor, unit.order, scanned, kind=kind, unit=unit, location=parties["location"])
    signer = (second_person(actor, unit.order, verifier, signature, first_in_session=first_in_session)
              if kind in CRITICAL_HANDOFFS else None)
    with transaction.atomic():
        unit = Unit.objects.select_for_update(of=("self",)).select_related("order").get(pk=unit.pk)
        _handoff_guard(unit, kind, handoff)
        event = record_event(actor, unit.order, kind, unit=unit, scanned=scanned,
                             verified_by=signer.user if signer else None, note=note,
                             **{**parties, "from_party": parties["from_party"] or unit.holder})
        if signer:
            sign(signer, event)
        update_record(actor, unit, action="custody", status=handoff.leaves or unit.status,
                      holder=parties["to_party"] or unit.holder)
    return event


def register_final_product(actor, order: TherapyOrder, *, bags, expires_at=None) -> list[Unit]:
    """The final product filled into its bags: a new DIN (ISBT-3), product codes divided A0, B0, …,
    an expiry (by default the product's shelf life from now)."""
    require(actor, "identity.custody", to="register final product bags")
    order = _open_order(actor, order)
    labelling = _labelling(order)
    codes = _product_codes(labelling.final_pdc, labelling.collection_type, _bag_count(bags), divided=True)
    now = clock.now()
    if expires_at is None:
        expires_at = now + dt.timedelta(days=labelling.shelf_life_days)
    if not isinstance(expires_at, dt.datetime) or expires_at.tzinfo is None:
        raise RuleViolation("Give the expiry as a date and time with its time zone.")
    if expires_at <= now:
        raise RuleViolation("The expiry of the final product is after now.")
    if not order.units.filter(kind=Unit.Kind.COLLECTION_BAG, status="in_manufacturing").exists():
        raise RuleViolation(f"No collected material of {order.number} is in manufacturing: issue it to "
                            "manufacturing before registering the final product.")
    try:
        with transaction.atomic():
            din = _issue(IdentifierSequence.Structure.DIN)
            return [create_record(actor, Unit(order=order, kind=Unit.Kind.FINAL_PRODUCT_BAG, din=din.din13,
                                              product_code=code, expires_at=expires_at, status="filled",
                                              holder="Manufacturing"))
                    for code in codes]
    except IntegrityError:
        raise Conflict("The DIN was just issued to someone else: try again.") from None


# --- Shipments ---------------------------------------------------------------------------------

SHIP = "identity.ship"
SHIPMENT_STATES = {"packing": "Packing", "in_transit": "In transit", "received": "Received",
                   "cancelled": "Cancelled"}
# What each direction carries, the status its units leave from, and the custody events of its
# dispatch and receipt.
_INBOUND, _OUTBOUND = Shipment.Direction.INBOUND, Shipment.Direction.OUTBOUND
_CARRIES = {_INBOUND: Unit.Kind.COLLECTION_BAG, _OUTBOUND: Unit.Kind.FINAL_PRODUCT_BAG}
_DISPATCHED_FROM = {_INBOUND: "collected", _OUTBOUND: "released"}


def create_shipment(actor, order: TherapyOrder, *, direction: str, units, courier: str, origin: str,
                    destination: str, logger_id: str = "") -> Shipment:
    """A shipper packed with units of one therapy: collection bags to the CDMO (the case manager may
    book it) or final product bags to the treatment site."""
    if direction not in Shipment.Direction.values:
        raise RuleViolation("A shipment is inbound (collection to the CDMO) or outbound (product to the site).")
    if not (direction == _INBOUND and actor is not None and actor.has_permission(COLLECT)):
        require(actor, SHIP, to="book shipments")
    order = _open_order(actor, order)
    values = {"courier": _text(courier, "The courier", max_length=200),
              "origin": _text(origin, "The origin", max_length=200),
              "destination": _text(destination, "The destination", max_length=200),
              "logger_id": _text(logger_id, "The logger id", max_length=64, required=False)}
    wanted = {unit.pk for unit in units or ()}
    if not wanted:
        raise RuleViolation("Choose the units the shipper carries.")
    with transaction.atomic():
        packed = list(Unit.objects.select_for_update().filter(pk__in=wanted, order=order).order_by("id"))
        if len(packed) != len(wanted):
            raise RuleViolation(f"A shipment carries containers of {order.number} only.")
        for unit in packed:
            if unit.kind != _CARRIES[direction]:
                raise RuleViolation(f"{unit.number} is a {unit.get_kind_display().lower()}: an {direction} shipment "
                                    f"carries {Unit.Kind(_CARRIES[direction]).label.lower()}s.")
            if unit.status != _DISPATCHED_FROM[direction]:
                raise RuleViolation(f"{unit.number} is {UNIT_STATES.get(unit.status, unit.status).lower()}: an "
                                    f"{direction} shipment carries units that are {_states([_DISPATCHED_FROM[direction]])}.")
            if open_shipment := unit.shipments.filter(status__in=("packing", "in_transit")).first():
                raise Conflict(f"{unit.number} is already packed in {open_shipment.number}.")
        shipment = create_record(actor, Shipment(order=order, direction=direction, status="packing", **values))
        shipment.units.set(packed)
        audit.log_event(actor, "pack", record=shipment, changes={"units": [[], [u.number for u in packed]]})
    return shipment


def _shipment(actor, shipment: Shipment, status: str, what: str) -> Shipment:
    shipment = get_scoped(Shipment.objects.select_related("order__patient__sponsor"), actor, pk=shipment.pk)
    if shipment.status != status:
        raise RuleViolation(f"{shipment.number} is {SHIPMENT_STATES[shipment.status].lower()}: only a shipment "
                            f"{SHIPMENT_STATES[status].lower()} can be {what}.")
    return shipment


def _locked_shipment(shipment: Shipment, status: str) -> tuple[Shipment, list[Unit]]:
    shipment = Shipment.objects.select_for_update(of=("self",)).select_related("order__patient__sponsor").get(
        pk=shipment.pk)
    if shipment.status != status:
        raise Conflict(f"{shipment.number} was just changed by someone else: reload it.")
    units = Unit.objects.select_for_update(of=("self",)).filter(shipments=shipment).order_by("id")
    return shipment, list(units)


def _all_units_are(shipment: Shipment, units, status: str) -> None:
    if not_ready := [u.number for u in units if u.status != status]:
        raise RuleViolation(f"{shipment.number} carries {', '.join(not_ready)}, not {_states([status])}: every unit "
                            "must be before the shipper leaves.")


def dispatch_shipment(actor, shipment: Shipment, *, scanned, verifier=None, signature: SignatureInput | None = None,
                      first_in_session: bool = True) -> Shipment:
    """The shipper handed to the courier, its label scanned (it carries the patient's chain of
    identity). Outbound, every unit must be released for shipment and a second person verifies;
    inbound, it is the courier pickup at the centre."""
    shipment = _shipment(actor, shipment, "packing", "dispatched")
    outbound = shipment.direction == _OUTBOUND
    require(actor, SHIP if outbound else COLLECT,
            to="dispatch product to treatment sites" if outbound else "record courier pickups")
    order, kind = shipment.order, Milestone.SHIPMENT if outbound else Milestone.COURIER_PICKUP
    _all_units_are(shipment, Unit.objects.filter(shipments=shipment), _DISPATCHED_FROM[shipment.direction])
    verify_scan(actor, order, scanned, kind=kind, shipment=shipment, records=(shipment,), location=shipment.origin)
    signer = second_person(actor, order, verifier, signature, first_in_session=first_in_session) if outbound else None
    with transaction.atomic():
        shipment, units = _locked_shipment(shipment, "packing")
        _all_units_are(shipment, units, _DISPATCHED_FROM[shipment.direction])
        for unit in units:
            event = record_event(actor, order, kind, unit=unit, shipment=shipment, scanned=scanned,
                                 verified_by=signer.user if signer else None, from_party=shipment.origin,
                                 to_party=shipment.courier, location=shipment.origin)
            if signer:
                sign(signer, event)
            update_record(actor, unit, action="custody", status="shipped" if outbound else "in_transit",
                          holder=shipment.courier)
        update_record(actor, shipment, action="dispatch", status="in_transit", dispatched_at=clock.now())
    return shipment


def cancel_shipment(actor, shipment: Shipment, *, reason: str) -> Shipment:
    """A shipper still being packed that will not leave: cancelled with the reason, its units free to
    be packed again. A shipper on its way is received (or rejected), never cancelled."""
    shipment = _shipment(actor, shipment, "packing", "cancelled")
    if not (shipment.direction == _INBOUND and actor.has_permission(COLLECT)):
        require(actor, SHIP, to="cancel shipments")
    reason = _text(reason, "Why the shipment is cancelled", max_length=2000)
    with transaction.atomic():
        shipment, _ = _locked_shipment(shipment, "packing")
        update_record(actor, shipment, reason=reason, action="cancel", status="cancelled")
    return shipment


# QA's decision on material held after its shipment was rejected, and the meaning it is signed with.
HELD_DECISIONS = {"accept": "Approved", "destroy": "Rejected"}


def decide_held_unit(actor, unit: Unit, *, decision: str, reason: str, signature: SignatureInput,
                     first_in_session: bool = True) -> Unit:
    """QA's signed decision on a unit held since its shipment was rejected at receipt: accepted on
    the assessment written (it then awaits its own receipt, or stays at the treatment site), or
    destroyed. Either way the unit's history keeps the rejection and the decision."""
    require(actor, "identity.release_for_shipment", to="decide on held patient material")
    if decision not in HELD_DECISIONS:
        raise RuleViolation("Decide: accept the unit on your assessment, or destroy it.")
    reason = _text(reason, "Your assessment", max_length=2000)
    unit = get_scoped(Unit.objects.select_related("order__patient__sponsor"), actor, pk=unit.pk)
    if unit.status != "rejected":
        raise RuleViolation(f"{unit.number} is {UNIT_STATES.get(unit.status, unit.status).lower()}, not held: there "
                            "is nothing to decide.")
    signer = authenticate_signer(actor, signature, first_in_session=first_in_session)
    if signer.meaning != HELD_DECISIONS[decision]:
        raise RuleViolation(f"Sign this decision with the meaning '{HELD_DECISIONS[decision]}'.")
    with transaction.atomic():
        unit = Unit.objects.select_for_update(of=("self",)).get(pk=unit.pk)
        if unit.status != "rejected":
            raise Conflict(f"{unit.number} was just decided by someone else: reload it.")
        rejected = unit.shipments.filter(status="received", accepted=False).order_by("-received_at").first()
        accepted = "at_site" if rejected and rejected.direction == _OUTBOUND else "in_transit"
        update_record(actor, unit, reason=reason, action=decision,
                      status=accepted if decision == "accept" else "destroyed")
        sign(signer, unit)
    return unit


def _temperature(value, what: str) -> Decimal:
    """A temperature in °C as people write it ('-182.5', '−150 °C'), to 0.1 °C."""
    text = str(value).strip().replace("−", "-").removesuffix("°C").removesuffix("C").strip()
    try:
        reading = value if isinstance(value, Decimal) else Decimal(text)
    except (InvalidOperation, ValueError):
        raise RuleViolation(f"Give {what} in °C as a number, e.g. -182.5.") from None
    if isinstance(value, bool) or not reading.is_finite() or not Decimal("-273.1") <= reading <= Decimal("99.9"):
        raise RuleViolation(f"{what[0].upper()}{what[1:]} is between -273.1 and 99.9 °C.")
    if reading != reading.quantize(Decimal("0.1")):
        raise RuleViolation(f"Give {what} to 0.1 °C.")
    return reading.quantize(Decimal("0.1"))


def receive_shipment(actor, shipment: Shipment, *, scanned, logger_min_c, logger_max_c, minutes_out_of_range,
                     accepted: bool, note: str = "") -> Shipment:
    """The shipper received, its label scanned, its temperature logger read and the decision on it.
    Inbound (at the CDMO), each bag is then received on its own (hand_over 'receipt'); outbound, the
    site's confirmation puts the product at the site. A rejection holds every unit and raises a
    deviation with the logger summary."""
    shipment = _shipment(actor, shipment, "in_transit", "received")
    outbound = shipment.direction == _OUTBOUND
    require(actor, COLLECT if outbound else "identity.custody",
            to="confirm receipt at treatment sites" if outbound else "receive shipments")
    low, high = (_temperature(logger_min_c, "the logger's lowest temperature"),
                 _temperature(logger_max_c, "the logger's highest temperature"))
    if low > high:
        raise RuleViolation("The logger's lowest temperature cannot be above its highest.")
    if isinstance(minutes_out_of_range, bool) or not isinstance(minutes_out_of_range, int) \
            or not 0 <= minutes_out_of_range <= 10**6:
        raise RuleViolation("Give the minutes the logger was out of range as a whole number, 0 or more.")
    if not isinstance(accepted, bool):
        raise RuleViolation("Decide: accept the shipment or reject it.")
    note = _text(note, "Why the shipment is rejected" if not accepted else "The note", max_length=2000,
                 required=not accepted)
    order, kind = shipment.order, Milestone.SITE_RECEIPT if outbound else Milestone.RECEIPT
    verify_scan(actor, order, scanned, kind=kind, shipment=shipment, records=(shipment,),
                location=shipment.destination)
    summary = (f"Logger {shipment.logger_id or '(no id)'}: lowest {low} °C, highest {high} °C, "
               f"{minutes_out_of_range} min out of range.")
    with transaction.atomic():
        shipment, units = _locked_shipment(shipment, "in_transit")
        if not accepted:
            quality_services.raise_deviation(
                actor, title=f"Shipment {shipment.number} of {order.number} rejected at receipt",
                description=f"{shipment.get_direction_display()} shipment {shipment.number} ({shipment.courier}, "
                            f"{shipment.origin} → {shipment.destination}) was rejected at receipt. {summary} {note}",
                source="custody", records=(order, shipment), sponsor=order.patient.sponsor,
                area=shipment.destination[:100], category="material",
                immediate_actions="Every unit of the shipment is held; none is handed on.")
        for unit in units:
            if not accepted:
                update_record(actor, unit, action="custody", status="rejected")
            elif outbound:
                record_event(actor, order, kind, unit=unit, shipment=shipment, scanned=scanned,
                             from_party=shipment.courier, to_party=shipment.destination,
                             location=shipment.destination, note=note)
                update_record(actor, unit, action="custody", status="at_site", holder=shipment.destination)
        update_record(actor, shipment, action="receive", status="received", received_at=clock.now(),
                      logger_min_c=low, logger_max_c=high, minutes_out_of_range=minutes_out_of_range,
                      accepted=accepted, acceptance_note=note)
    return shipment


# --- Cryostorage -------------------------------------------------------------------------------

# Freezers are the CDMO's (no sponsor); the units in them are the sponsors'. A position holds one
# unit and a unit one position: checked here with a message, and held by the database's partial
# unique constraints when two people fill the same position at the same moment.
MANAGE_STORAGE = "identity.manage_storage"
CUSTODY = "identity.custody"


def _storage(call, *args, **kwargs):
    """A pure storage rule (codes, sizes, positions) with its refusal as a RuleViolation."""
    try:
        return call(*args, **kwargs)
    except storage.StorageError as exc:
        raise RuleViolation(str(exc)) from None


@contextmanager
def _refused_as_duplicate(message: str):
    """The unique constraints as the backstop of a check made just before: a row written meanwhile
    by someone else is a Conflict, whether the model's constraint check (full_clean) or the
    database finds it (in a savepoint, so the caller's transaction stays usable)."""
    try:
        with transaction.atomic():
            yield
    except IntegrityError:
        raise Conflict(message) from None
    except ValidationError as exc:
        if NON_FIELD_ERRORS not in getattr(exc, "error_dict", {}):
            raise
        raise Conflict(message) from None


def _alarm_limit(value) -> Decimal:
    try:
        limit = Decimal(str(value).strip().replace("−", "-"))
    except (InvalidOperation, ValueError):
        raise RuleViolation("Give the alarm limit in °C as a number, e.g. -150.") from None
    if not limit.is_finite() or not Decimal(-200) <= limit <= Decimal(0):
        raise RuleViolation("The alarm limit of a freezer is between -200 and 0 °C.")
    return limit.quantize(Decimal("0.1"))


def create_freezer(actor, *, code: str, name: str, room, equipment=None, alarm_above_c=-150) -> Freezer:
    require(actor, MANAGE_STORAGE, to="add freezers")
    code = _storage(storage.storage_code, code, "A freezer code", max_length=32)
    if room is None:
        raise RuleViolation("Choose the room the freezer stands in.")
    with _refused_as_duplicate(f"A freezer {code} exists already, or its equipment is another freezer's."):
        if Freezer.objects.filter(code=code).exists():
            raise Conflict(f"A freezer {code} exists already: choose another code.")
        if equipment is not None and Freezer.objects.filter(equipment=equipment).exists():
            raise Conflict(f"{equipment} is already the equipment record of another freezer.")
        return create_record(actor, Freezer(code=code, name=_text(name, "A name", max_length=200), room=room,
                                            equipment=equipment, alarm_above_c=_alarm_limit(alarm_above_c)))


def _stored_in(freezer: Freezer):
    return Placement.objects.filter(box__rack__freezer=freezer, removed_at__isnull=True)


@transaction.atomic
def retire_freezer(actor, freezer: Freezer, *, reason: str) -> Freezer:
    """A freezer taken out of use is kept with its history (never deleted); it must be empty."""
    require(actor, MANAGE_STORAGE, to="retire freezers")
    reason = _text(reason, "A reason for retiring the freezer", max_length=2000)
    freezer = Freezer.objects.select_for_update().get(pk=freezer.pk)
    if not freezer.is_active:
        raise Conflict(f"{freezer.code} is retired already.")
    if stored := _stored_in(freezer).count():
        raise RuleViolation(f"{freezer.code} still holds {stored} unit(s): move or retrieve them first.")
    return update_record(actor, freezer, reason=reason, action="retire", is_active=False, version=freezer.version + 1)


def _active_freezer(freezer: Freezer) -> Freezer:
    if not freezer.is_active:
        raise RuleViolation(f"{freezer.code} is retired: choose a freezer in use.")
    return freezer


def add_rack(actor, freezer: Freezer, *, code: str) -> Rack:
    require(actor, MANAGE_STORAGE, to="add racks")
    code = _storage(storage.storage_code, code, "A rack code", max_length=16)
    with _refused_as_duplicate(f"{freezer.code} already has a rack {code}: choose another code."):
        freezer = _active_freezer(Freezer.objects.select_for_update().get(pk=freezer.pk))
        if freezer.racks.filter(code=code).exists():
            raise Conflict(f"{freezer.code} already has a rack {code}: choose another code.")
        return create_record(actor, Rack(freezer=freezer, code=code))


def add_box(actor, rack: Rack, *, code: str, rows=5, columns=5) -> Box:
    require(actor, MANAGE_STORAGE, to="add boxes")
    code = _storage(storage.storage_code, code, "A box code", max_length=32)
    rows, columns = _storage(storage.box_size, rows, columns)
    with _refused_as_duplicate(f"A box {code} exists already: box codes are unique across the site."):
        rack = Rack.objects.select_related("freezer").get(pk=rack.pk)
        _active_freezer(rack.freezer)
        if Box.objects.filter(code=code).exists():
            raise Conflict(f"A box {code} exists already: box codes are unique across the site.")
        return create_record(actor, Box(rack=rack, code=code, rows=rows, columns=columns))


def _position(scanned) -> tuple[Box, str]:
    """The box and position a position barcode names: the box must exist, in a freezer in use
    without an open alarm, and have that position."""
    target = _storage(storage.read_position_scan, scanned)
    box = Box.objects.select_related("rack__freezer").filter(code=target.box).first()
    if box is None:
        raise NotFound(f"No box {target.box} is known: scan the position label on the box again.")
    freezer = _active_freezer(box.rack.freezer)
    alarm = freezer.alarms.filter(acknowledged_at__isnull=True).first()
    if alarm is not None:
        raise RuleViolation(f"{freezer.code} has an open alarm ({alarm.get_kind_display().lower()}): place the unit "
                            "in another freezer, or have a supervisor acknowledge the alarm once the freezer is "
                            "back in range.")
    return box, _storage(storage.position_in_box, target.position, box.rows, box.columns, box=box.code)


def _where(placement: Placement) -> str:
    return f"{placement.box.code}/{placement.position}"


def _locked_unit(actor, unit_scan) -> Unit:
    """The scanned unit, row-locked: placements of one unit are made one after another."""
    unit = unit_from_scan(actor, unit_scan)
    return Unit.objects.select_for_update().select_related("order__patient__sponsor").get(pk=unit.pk)


def _open_placement(unit: Unit) -> Placement | None:
    return unit.placements.select_for_update().select_related("box").filter(removed_at__isnull=True).first()


def _put(actor, unit: Unit, box: Box, position: str, *, at) -> Placement:
    """The new placement; an occupied position is refused (and the database refuses it too when
    another person fills it at the same moment)."""
    where = f"{box.code}/{position}"
    if Placement.objects.filter(box=box, position=position, removed_at__isnull=True).exists():
        raise Conflict(f"Position {where} holds another unit: scan a free position.")
    with _refused_as_duplicate(f"Position {where} was just filled by someone else: scan a free position."):
        return create_record(actor, Placement(unit=unit, box=box, position=position, placed_at=at, placed_by=actor))


def _scans(unit_scan, position_scan) -> list[str]:
    return [*([unit_scan] if isinstance(unit_scan, str) else list(unit_scan or ())), str(position_scan or "")]


def _take_out(actor, placement: Placement, *, at, reason: str = "") -> Placement:
    return update_record(actor, placement, reason=reason, action="remove", removed_at=at, removed_by=actor)


def place_unit(actor, *, unit_scan, position_scan) -> Placement:
    """Put a unit into a free position; its custody event (into cryostorage) and where it is now
    are written with the placement. The unit's status does not change."""
    require(actor, CUSTODY, to="place material into cryostorage")
    with transaction.atomic():
        unit = _locked_unit(actor, unit_scan)
        box, position = _position(position_scan)
        if (current := _open_placement(unit)) is not None:
            raise RuleViolation(f"{unit.number} is already in {_where(current)}: choose Move to put it elsewhere.")
        placement = _put(actor, unit, box, position, at=clock.now())
        where = _where(placement)
        record_event(actor, unit.order, Milestone.CRYO_IN, unit=unit, scanned=_scans(unit_scan, position_scan),
                     location=where, to_party=where)
        update_record(actor, unit, action="custody", holder=where)
    return placement


def retrieve_unit(actor, *, unit_scan, reason: str = "") -> Placement:
    """Take a unit out of cryostorage: the placement is closed, the person retrieving holds it."""
    require(actor, CUSTODY, to="take material out of cryostorage")
    reason = _text(reason, "The reason", max_length=2000, required=False)
    with transaction.atomic():
        unit = _locked_unit(actor, unit_scan)
        placement = _open_placement(unit)
        if placement is None:
            raise RuleViolation(f"{unit.number} is not in cryostorage: check the container's label.")
        placement = _take_out(actor, placement, at=clock.now(), reason=reason)
        where = _where(placement)
        record_event(actor, unit.order, Milestone.CRYO_OUT, unit=unit, scanned=unit_scan, location=where,
                     from_party=where, to_party=actor.full_name, note=reason)
        update_record(actor, unit, action="custody", holder=actor.full_name)
    return placement


def move_unit(actor, *, unit_scan, position_scan) -> Placement:
    """Move a stored unit to another position: the old placement closes and the new one opens at
    the same moment. One custody event records it (into cryostorage, from the old position to the
    new): the unit never left cryostorage, so the therapy does not reach 'out of cryostorage'."""
    require(actor, CUSTODY, to="move material in cryostorage")
    with transaction.atomic():
        unit = _locked_unit(actor, unit_scan)
        current = _open_placement(unit)
        if current is None:
            raise RuleViolation(f"{unit.number} is not in cryostorage: choose Place to put it into a position.")
        box, position = _position(position_scan)
        old, new = _where(current), f"{box.code}/{position}"
        if old == new:
            raise RuleViolation(f"{unit.number} is already in {old}: scan the position to move it to.")
        now = clock.now()  # the old position is left the moment the new one is taken
        _take_out(actor, current, at=now, reason=f"Moved to {new}")
        placement = _put(actor, unit, box, position, at=now)
        record_event(actor, unit.order, Milestone.CRYO_IN, unit=unit, scanned=_scans(unit_scan, position_scan),
                     location=new, from_party=old, to_party=new, note=f"Moved from {old} to {new}.")
        update_record(actor, unit, action="custody", holder=new)
    return placement


@transaction.atomic
def raise_alarm(actor, freezer: Freezer, *, kind: str, value: str = "", note: str = "") -> FreezerAlarm:
    """An alarm of a freezer, as read at it or sent by its monitoring. A temperature alarm puts
    every unit in it at risk: it raises one CDMO deviation naming how many units are in it and
    where (positions only: the units are several sponsors' and QA assesses each)."""
    require(actor, CUSTODY, to="raise freezer alarms")
    if kind not in FreezerAlarm.Kind.values:
        raise RuleViolation(f"Unknown alarm '{str(kind)[:40]}': choose one of "
                            f"{', '.join(FreezerAlarm.Kind.values)}.")
    value = _text(value, "The reading", max_length=64, required=kind == FreezerAlarm.Kind.TEMPERATURE)
    if kind == FreezerAlarm.Kind.TEMPERATURE:
        value = f"{_temperature(value, 'the temperature read')} °C"
    note = _text(note, "The note", max_length=2000, required=False)
    freezer = Freezer.objects.select_for_update().get(pk=freezer.pk)
    _active_freezer(freezer)
    if freezer.alarms.filter(kind=kind, acknowledged_at__isnull=True).exists():
        raise Conflict(f"{freezer.code} already has an open {FreezerAlarm.Kind(kind).label.lower()} alarm: "
                       "acknowledge it before raising another.")
    deviation = None
    if kind == FreezerAlarm.Kind.TEMPERATURE:
        positions = sorted(_where(p) for p in _stored_in(freezer).select_related("box"))
        stored = f"{len(positions)} unit(s) were stored in it" + (f": {', '.join(positions)}." if positions else ".")
        deviation = quality_services.raise_deviation(
            actor, title=f"Temperature alarm of freezer {freezer.code}",
            description=f"{freezer} read {value} (alarm above {freezer.alarm_above_c} °C). {stored}"
                        + (f" {note}" if note else ""),
            source="equipment", category="material", sponsor=None, area=freezer.room.code,
            records=(freezer, *([freezer.equipment] if freezer.equipment else [])),
            immediate_actions="Placement into the freezer is blocked until the alarm is acknowledged.")
    return create_record(actor, FreezerAlarm(freezer=freezer, kind=kind, value=value, raised_at=clock.now(),
                                             raised_by=actor, note=note, deviation=deviation))


@transaction.atomic
def acknowledge_alarm(actor, alarm: FreezerAlarm, *, note: str) -> FreezerAlarm:
    """A supervisor or material handler confirms the alarm is dealt with (what was done goes in
    the note and is the audit event's reason); the freezer takes units again."""
    require(actor, MANAGE_STORAGE, to="acknowledge freezer alarms")
    note = _text(note, "A note on what was done", max_length=2000)
    alarm = FreezerAlarm.objects.select_for_update().get(pk=alarm.pk)
    if alarm.acknowledged_at is not None:
        raise Conflict("This alarm is acknowledged already.")
    return update_record(actor, alarm, reason=note, action="acknowledge", acknowledged_at=clock.now(),
                         acknowledged_by=actor, note=f"{alarm.note}\nAcknowledged: {note}".strip())


# --- Labels and their reconciliation -----------------------------------------------------------

MAX_COPIES = 20


def print_labels(actor, order: TherapyOrder, *, kind: str, units=(), shipment=None,
                 copies=1) -> tuple[list[LabelPrint], bytes]:
    """Print `copies` labels of each container (or of the shipper) and record each print, to be
    reconciled later: a reprint is another print, so the counts add up."""
    require(actor, "identity.custody", to="print labels")
    if isinstance(copies, bool) or not isinstance(copies, int) or not 1 <= copies <= MAX_COPIES:
        raise RuleViolation(f"Print 1 to {MAX_COPIES} copies of each label.")
    with transaction.atomic():
        order = get_scoped(TherapyOrder.objects.select_for_update(of=("self",)).select_related("product"), actor,
                           pk=order.pk)
        if order.status != "ordered":
            raise RuleViolation(f"{order.number} is {order_workflow.label(order.status).lower()}: no labels are "
                                "printed for it.")
        units = [get_scoped(Unit, actor, pk=unit.pk) for unit in units]
        shipment = get_scoped(Shipment, actor, pk=shipment.pk) if shipment is not None else None
        built = selectors.labels_for(order, kind=kind, units=units, shipment=shipment)
        now = clock.now()
        # One print per container labelled, or one for the shipper.
        shipper = kind == LabelKind.SHIPPER
        prints = [create_record(actor, LabelPrint(order=order, kind=kind, unit=unit,
                                                  shipment=shipment if shipper else None, copies=copies,
                                                  printed_at=now, printed_by=actor))
                  for unit in ([None] if shipper else units)]
    return prints, label_sheet_pdf([label for label in built for _ in range(copies)])


def _count(value, what: str) -> int:
    try:
        number = int(str(value).strip())
    except (TypeError, ValueError):
        raise RuleViolation(f"{what}: give a whole number.") from None
    if number < 0:
        raise RuleViolation(f"{what} cannot be negative.")
    return number


def reconcile_labels(actor, label_print: LabelPrint, *, applied, destroyed, note: str = "") -> LabelPrint:
    """How many labels of a print were applied and how many destroyed (totals, not additions); never
    more than were printed. Lowering a count already recorded is a correction: say why."""
    require(actor, "identity.custody", to="reconcile labels")
    applied, destroyed = _count(applied, "Labels applied"), _count(destroyed, "Labels destroyed")
    note = _text(note, "The note", max_length=2000, required=False)
    with transaction.atomic():
        label_print = get_scoped(LabelPrint.objects.select_for_update(), actor, pk=label_print.pk)
        if applied + destroyed > label_print.copies:
            raise RuleViolation(f"{label_print.copies} label{'s were' if label_print.copies > 1 else ' was'} printed: "
                                f"applied and destroyed together cannot be {applied + destroyed}.")
        if (applied < label_print.applied or destroyed < label_print.destroyed) and not note:
            raise RuleViolation("You are lowering a count already recorded: write in the note why it was wrong.")
        return update_record(actor, label_print, action="reconcile", reason=note, applied=applied,
                             destroyed=destroyed, version=label_print.version + 1)


# --- Labelling settings and vein-to-vein windows -----------------------------------------------

CONFIGURE = "identity.configure"


def _pdc(value, what: str, collection_type: str) -> str:
    """A product description code as the site holds it from its licensed tables (ISBT-5)."""
    pdc = "".join(str(value or "").split()).upper()
    try:
        isbt128.ProductCode.build(pdc, collection_type)
    except isbt128.Isbt128Error as exc:
        raise RuleViolation(f"{what}: {exc}") from None
    return pdc


def _configurable(actor, product: Product) -> Product:
    product = get_scoped(Product.objects.select_related("program"), actor, pk=product.pk)
    if product.modality != "autologous_cell":
        raise RuleViolation(f"{product.code} is not an autologous product: it has no chain of identity to configure.")
    return product


def _whole(value, what: str, *, minimum: int = 0, maximum: int = 100_000) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str) or not str(value).strip().isdigit():
        raise RuleViolation(f"{what} is a whole number.")
    number = int(value)
    if not minimum <= number <= maximum:
        raise RuleViolation(f"{what} is at least {minimum} and at most {maximum}.")
    return number


def set_product_identity(actor, product: Product, *, collection_pdc: str, final_pdc: str,
                         collection_type: str = "0", storage: str, shelf_life_days, reason: str = "") -> ProductIdentity:
    """How the product's labels read: its product description codes, storage text and shelf life.
    Set once, then changed only with a reason (labels already printed keep what they carried)."""
    require(actor, CONFIGURE, to="configure product labelling")
    collection_type = _text(collection_type, "A collection type", max_length=1).upper()
    values = {
        "collection_pdc": _pdc(collection_pdc, "The collection product description code", collection_type),
        "final_pdc": _pdc(final_pdc, "The final product description code", collection_type),
        "collection_type": collection_type,
        "storage": _text(storage, "The storage text", max_length=200),
        "shelf_life_days": _whole(shelf_life_days, "The shelf life in days", minimum=1, maximum=36_500),
    }
    reason = reason.strip() if isinstance(reason, str) else ""
    try:
        with transaction.atomic():
            product = _configurable(actor, product)
            settings = ProductIdentity.objects.select_for_update().filter(product=product).first()
            if settings is None:
                return create_record(actor, ProductIdentity(product=product, **values), reason=reason)
            if all(getattr(settings, field) == value for field, value in values.items()):
                return settings
            if not reason:
                raise RuleViolation(f"Give a reason for changing how {product.code} is labelled.")
            return update_record(actor, settings, reason=reason, version=settings.version + 1, **values)
    except IntegrityError:  # set by someone else between our read and our insert
        raise Conflict("Someone else has just set this product's labelling: reload and try again.") from None


def set_window(actor, product: Product, *, start: str, end: str, limit_hours, warn_hours=0,
               reason: str = "") -> CustodyWindow:
    """The product's limit between two milestones (one per pair): added, or changed with a reason.
    A window is never deleted; one no longer wanted is widened (the board flags by what is set)."""
    require(actor, CONFIGURE, to="configure custody windows")
    if start not in _MILESTONE_ORDER or end not in _MILESTONE_ORDER:
        raise RuleViolation("Choose the start and end milestones from the list.")
    if _MILESTONE_ORDER[start] >= _MILESTONE_ORDER[end]:
        raise RuleViolation(f"{Milestone(start).label} must come before {Milestone(end).label} on the way "
                            "from vein to vein.")
    limit_hours = _whole(limit_hours, "The limit in hours", minimum=1)
    warn_hours = _whole(warn_hours or 0, "The warning margin in hours")
    if warn_hours >= limit_hours:
        raise RuleViolation(f"The warning margin ({warn_hours} h) must be shorter than the limit ({limit_hours} h).")
    reason = reason.strip() if isinstance(reason, str) else ""
    try:
        with transaction.atomic():
            product = _configurable(actor, product)
            window = CustodyWindow.objects.select_for_update().filter(product=product, start=start, end=end).first()
            if window is None:
                return create_record(actor, CustodyWindow(product=product, start=start, end=end,
                                                          limit_hours=limit_hours, warn_hours=warn_hours), reason=reason)
            if (window.limit_hours, window.warn_hours) == (limit_hours, warn_hours):
                return window
            if not reason:
                raise RuleViolation(f"Give a reason for changing the window {window}.")
            return update_record(actor, window, reason=reason, version=window.version + 1,
                                 limit_hours=limit_hours, warn_hours=warn_hours)
    except IntegrityError:  # added by someone else between our read and our insert
        raise Conflict("Someone else has just added this window: reload and try again.") from None


