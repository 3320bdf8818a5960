"""Small worlds of patients, therapy orders and treatment centres, built through the services."""

import datetime as dt
import itertools

from opencdmo.core.domain.roles import Role
from opencdmo.core.models import User
from opencdmo.identity import services
from opencdmo.identity.models import TreatmentCentre
from opencdmo.sponsors.models import Product
from tests.processes.builders import person

_subjects = itertools.count(1)
COLLECTION = dt.date(2026, 4, 1)


def centre(user, sponsor, code: str = "UKL") -> TreatmentCentre:
    """The sponsor's centre `code`, added by `user` (who may manage centres) the first time."""
    existing = TreatmentCentre.objects.filter(sponsor=sponsor, code=code).first()
    return existing or services.create_centre(user, sponsor=sponsor, code=code, name=f"University Hospital {code}",
                                              address="1 Hospital Road")


def patient(user, sponsor, subject_id: str = "", *, at: TreatmentCentre | None = None):
    return services.enroll_patient(user, centre=at or centre(user, sponsor),
                                   subject_id=subject_id or f"SUBJ-{next(_subjects):04d}")


def autologous_product(sponsor) -> Product:
    return Product.objects.get(program__sponsor=sponsor, modality="autologous_cell")


def order(user, patient, *, product: Product | None = None, planned_collection=COLLECTION):
    return services.order_therapy(user, patient, product=product or autologous_product(patient.sponsor),
                                  planned_collection=planned_collection)


def planner(sponsor) -> User:
    username = f"{sponsor.code.lower()}.coi.planner"
    return User.objects.filter(username=username).first() or person(username, Role.PLANNER, sponsor)


def patient_for_sponsor(author, sponsor, title: str) -> str:
    """A patient of the sponsor enrolled by its planner (RECORD_BUILDERS signature → patient number)."""
    return patient(planner(sponsor), sponsor).number


def order_for_sponsor(author, sponsor, title: str) -> str:
    """A therapy order (with its COI) for a new patient of the sponsor (→ order number).

    The sponsor needs an autologous product: sponsor B's fixture has none, so one is added."""
    if not Product.objects.filter(program__sponsor=sponsor, modality="autologous_cell").exists():
        program = sponsor.programs.first()
        Product.objects.create(program=program, code=f"{sponsor.code}-AUTO"[:32],
                               name=f"Autologous therapy {title}"[:200], modality="autologous_cell", phase="phase_1")
    enrolling = planner(sponsor)
    return order(enrolling, patient(enrolling, sponsor)).number
