"""Demo patients of the autologous CAR-T program (called by `opencdmo seed-demo`): two treatment
centres of Helix, patients enrolled by pseudonymized subject id, and a therapy order for each,
whose chain of identity identifiers the demo batches carry."""

import datetime as dt

from opencdmo.core import clock
from opencdmo.sponsors.models import Product

from . import services

CENTRES = [("UMC-N", "University Medical Centre North", "Oncology day unit, building C"),
           ("STJ", "St. James Cancer Institute", "Cell therapy unit, level 4")]
# (subject id, centre, days from today to the planned collection)
PATIENTS = [("HLX101-0107", "UMC-N", -21), ("HLX101-0112", "STJ", -12), ("HLX101-0115", "UMC-N", 5)]


def seed(users: dict, sponsors: dict, *, password: str) -> list:
    """The therapy orders, in the order of PATIENTS (the batches demo makes one batch for each)."""
    planner = users["plan.kim"]
    helix = sponsors["HELIX"]
    centres = {code: services.create_centre(planner, sponsor=helix, code=code, name=name, address=address)
               for code, name, address in CENTRES}
    product = Product.objects.get(code="HLX-101")
    today = clock.site_today()
    orders = []
    for subject_id, centre, days in PATIENTS:
        patient = services.enroll_patient(planner, centre=centres[centre], subject_id=subject_id)
        orders.append(services.order_therapy(planner, patient, product=product,
                                             planned_collection=today + dt.timedelta(days=days)))
    return orders
