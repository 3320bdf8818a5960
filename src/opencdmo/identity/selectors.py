"""Reads of patients, therapy orders and treatment centres, always scoped to the user's sponsors."""

from dataclasses import dataclass

from django.db.models import OuterRef, Q, Subquery

from opencdmo.core.access import require_to_see
from opencdmo.core.errors import NotFound, RuleViolation
from opencdmo.core.scoping import get_scoped, scoped
from opencdmo.sponsors.models import Product

from .domain import isbt128
from .models import Patient, TherapyOrder, TreatmentCentre
from .workflows import order_workflow, patient_workflow

VIEW = "identity.view"


@dataclass(frozen=True)
class PrintedCoi:
    """The chain of identity identifier as printed: eye-readable text and its check character K (boxed)."""

    text: str
    check: str


def printed_coi(coi: str) -> PrintedCoi:
    identifier = isbt128.ChainOfIdentity.from_content(coi)
    return PrintedCoi(identifier.eye_readable(), identifier.check_character)


def patients_for(user, *, sponsor: str = "", centre: str = "", status: str = "", text: str = ""):
    """The patients of the user's sponsors, each with its latest order's COI and planned collection."""
    require_to_see(user, VIEW)
    latest = TherapyOrder.objects.filter(patient=OuterRef("pk")).order_by("-created_at", "-id")
    queryset = scoped(Patient.objects.select_related("sponsor", "centre"), user).annotate(
        latest_coi=Subquery(latest.values("coi")[:1]),
        latest_collection=Subquery(latest.values("planned_collection")[:1]))
    if sponsor:
        queryset = queryset.filter(sponsor__code=sponsor)
    if centre:
        queryset = queryset.filter(centre__code=centre)
    if status in patient_workflow.states:
        queryset = queryset.filter(status=status)
    if text := str(text or "").strip():
        queryset = queryset.filter(Q(number__icontains=text) | Q(subject_id__icontains=text)
                                   | Q(orders__coi__icontains=text.replace(" ", ""))).distinct()
    return queryset


def patient(user, number: str) -> Patient:
    require_to_see(user, VIEW)
    return get_scoped(Patient.objects.select_related("sponsor", "centre", "created_by"), user,
                      number=str(number).strip())


def orders_of(patient: Patient):
    return patient.orders.select_related("product", "created_by")


def order(user, number: str) -> TherapyOrder:
    require_to_see(user, VIEW)
    return get_scoped(TherapyOrder.objects.select_related("patient__sponsor", "patient__centre", "product",
                                                          "created_by"), user, number=str(number).strip())


def centres_for(user, *, active_only: bool = False):
    require_to_see(user, VIEW)
    queryset = scoped(TreatmentCentre.objects.select_related("sponsor"), user)
    return queryset.filter(is_active=True) if active_only else queryset


def centre(user, key) -> TreatmentCentre:
    """A centre by its primary key, or by its code (unique within the sponsor: 'SPONSOR/CODE' or a code
    only one of the user's sponsors uses)."""
    require_to_see(user, VIEW)
    queryset = centres_for(user)
    key = str(key or "").strip()
    if key.isdigit():
        return get_scoped(queryset, user, pk=int(key))
    sponsor_code, _, code = key.rpartition("/")
    matches = queryset.filter(code__iexact=code, **({"sponsor__code": sponsor_code} if sponsor_code else {}))
    if len(found := list(matches[:2])) != 1:
        raise NotFound(f"No single treatment centre '{key}' among those you may see: choose it from the list."
                       if found else f"No treatment centre '{key}' among those you may see.")
    return found[0]


def autologous_products(user, patient: Patient):
    """The products that may be ordered for this patient: their sponsor's autologous ones."""
    return scoped(Product.objects.select_related("program"), user).filter(
        program__sponsor=patient.sponsor_id, modality="autologous_cell")


def product(user, code: str) -> Product:
    return get_scoped(Product.objects.select_related("program"), user, code=str(code or "").strip())


def therapy_for_batch(user, reference: str, product) -> TherapyOrder:
    """The open therapy order a batch of an autologous product is made for, named by its chain of
    identity identifier as printed or typed (spaces and its check character may be included)."""
    text = "".join(str(reference or "").split()).upper()
    if len(text) == 16 and isbt128.is_valid_with_check(text):
        text = text[:15]
    order = scoped(TherapyOrder.objects.select_related("product"), user).filter(coi=text).first()
    if order is None:
        raise RuleViolation(f"No therapy order has the chain of identity identifier '{str(reference)[:40]}': give "
                            "the identifier of the patient's order (Patients → the patient).")
    if order.status != "ordered":
        raise RuleViolation(f"{order.number} is {order_workflow.label(order.status).lower()}: no batch is made for it.")
    if order.product_id != product.pk:
        raise RuleViolation(f"{order.number} orders {order.product.code}, not {product.code}.")
    return order


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
