"""Every write to patients and therapy orders: enrol, order a therapy (issuing its chain of
identity identifier), withdraw, cancel. Sponsor scoping on every read and write."""

from django.db import IntegrityError, transaction

from opencdmo.core import clock
from opencdmo.core.access import require
from opencdmo.core.errors import Conflict, RuleViolation
from opencdmo.core.records import create_record
from opencdmo.core.scoping import get_scoped
from opencdmo.core.signatures import SignatureInput
from opencdmo.sponsors.models import Product, Sponsor

from . import conf
from .domain import isbt128
from .models import CoiSequence, Patient, TherapyOrder, TreatmentCentre
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
    CoiSequence.objects.bulk_create([CoiSequence(issuer=issuer, year=year, last="")], ignore_conflicts=True)
    counter = CoiSequence.objects.select_for_update().get(issuer=issuer, year=year)
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
