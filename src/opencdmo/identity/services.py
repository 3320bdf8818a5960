"""Every write of the chain of identity and custody: patients and therapy orders (issuing the
chain of identity identifier), collections, custody handoffs with their scan verification,
shipments, cryostorage and labels. Sponsor scoping on every read and write."""

from django.db import IntegrityError, transaction

from opencdmo.core import clock
from opencdmo.core.access import require
from opencdmo.core.errors import Conflict, NotFound, RuleViolation
from opencdmo.core.records import create_record, update_record
from opencdmo.core.scoping import get_scoped, scoped
from opencdmo.core.signatures import SignatureInput, VerifiedSigner, authenticate_signer
from opencdmo.quality import services as quality_services
from opencdmo.sponsors.models import Product, Sponsor

from . import conf
from .domain import custody, isbt128
from .models import (
    CustodyEvent,
    IdentifierSequence,
    Milestone,
    MilestoneReached,
    Patient,
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


def _next_coi() -> isbt128.ChainOfIdentity:
    """The next identifier of this site and year, issued in order under a row lock (never twice)."""
    issuer, year = conf.issuing_facility(), f"{clock.now().year % 100:02d}"
    IdentifierSequence.objects.bulk_create([IdentifierSequence(structure="coi", issuer=issuer, year=year, last="")],
                                           ignore_conflicts=True)
    counter = IdentifierSequence.objects.select_for_update().get(structure="coi", issuer=issuer, year=year)
    counter.last = isbt128.next_sequence(counter.last) if counter.last else "000001"
    counter.save(update_fields=["last"])
    return isbt128.ChainOfIdentity.build(issuer, year, counter.last)


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
            coi = _next_coi()
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


def expected_of(order: TherapyOrder, unit: Unit | None = None) -> custody.Expected:
    if unit is None:
        return custody.Expected(coi=order.coi)
    return custody.Expected(coi=order.coi, din=unit.din, product_code=unit.product_code)


def _scanned_text(scanned) -> str:
    entries = [scanned] if isinstance(scanned, str) else [s for s in (scanned or ()) if isinstance(s, str)]
    return "\n".join(entry.strip() for entry in entries)[:2000]


def verify_scan(actor, order: TherapyOrder, scanned, *, kind: str, unit: Unit | None = None, shipment=None,
                records=(), location: str = "") -> custody.Verification:
    """The scan must name this therapy (and this container, when one is given). An unreadable scan
    is refused with what to do (nothing written). A mismatch is refused too, and kept: the refused
    custody event and the deviation it raises are committed in their own transaction before
    CustodyMismatch is raised, so call this before opening the handoff's own transaction."""
    try:
        verification = custody.verify(expected_of(order, unit), custody.read_scans(scanned))
    except isbt128.Isbt128Error as exc:
        raise RuleViolation(str(exc)) from None
    if verification.matched:
        return verification
    what = Milestone(kind).label.lower()
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
# --- end of collections and handoffs ---

# --- Shipments ---------------------------------------------------------------------------------
# --- end of shipments ---

# --- Cryostorage -------------------------------------------------------------------------------
# --- end of cryostorage ---

# --- Labels and their reconciliation -----------------------------------------------------------
# --- end of labels ---

# --- Labelling settings and vein-to-vein windows -----------------------------------------------
# --- end of settings ---
