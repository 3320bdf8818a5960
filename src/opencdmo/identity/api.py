"""Patients, therapy orders and treatment centres over HTTP. Thin: selectors and services do the work."""

import datetime as dt
from typing import Literal

from ninja import Field, Query, Router, Schema, Status
from ninja.pagination import paginate

from opencdmo.core.api import Pagination
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
# --- end of collections and handoffs ---

# --- Shipments ---------------------------------------------------------------------------------
# --- end of shipments ---

# --- Cryostorage -------------------------------------------------------------------------------
# --- end of cryostorage ---

# --- Labels and their reconciliation -----------------------------------------------------------
# --- end of labels ---

# --- Labelling settings, timeline and in-flight board ------------------------------------------
# --- end of settings, timeline and board ---
