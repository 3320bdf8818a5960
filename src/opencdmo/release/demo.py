"""Demo dispositions, decided through the services (called by `opencdmo seed-demo`).

The reviewed HLX-101 CAR-T batch is released conditionally by the Qualified Person, who took no part
in making it, before its 14-day sterility result (Annex 2 / ATMP Part IV: a cell therapy may ship
on a documented risk assessment); its certificate of analysis shows the pending test. The NVG-201
AAV batch has its disposition opened by QA and left undecided: its batch record waits for review and
its full-capsid OOS is in Phase II, so its disposition page shows what is still red.
"""

from opencdmo.batches.models import Batch
from opencdmo.core.signatures import SignatureInput

from . import services

RISK_ASSESSMENT = (
    "Sterility (Ph. Eur. 2.6.27, BacT/ALERT aerobic and anaerobic, 14 days) is pending: Gram stain of the final "
    "product negative, BacT/ALERT bottles without growth at the latest read, mycoplasma (PCR) of the harvest "
    "not detected, endotoxin 0.42 EU/kg against ≤ 5.00. The patient's "
    "collection-to-release window does not allow waiting for day 14. Every other release criterion is within "
    "specification and reviewed. If the sterility result turns positive, QA notifies the treating physician "
    "and Helix's QP at once (post-release notice), the organism is identified and its susceptibility tested.")


def batches_on_test() -> tuple[Batch | None, Batch | None]:
    """(the reviewed HLX-101 CAR-T batch, the NVG-201 AAV batch) that the batches demo made."""
    car_t = Batch.objects.filter(product__code="HLX-101", status="reviewed").order_by("created_at", "id").first()
    aav = (Batch.objects.filter(product__code="NVG-201").exclude(status__in=("planned", "cancelled"))
           .order_by("created_at", "id").first())
    return car_t, aav


def seed(users: dict, sponsors: dict, *, password: str, car_t: Batch | None = None, aav: Batch | None = None) -> dict:
    """The dispositions; returns {"car_t": Disposition, "aav": Disposition} for the batches given."""
    qp, qa = users["qp.dubois"], users["qa.patel"]
    made = {}
    if car_t is not None:
        disposition = services.open_disposition(qp, car_t)
        made["car_t"] = services.decide(
            qp, disposition, "conditional_release", risk_assessment=RISK_ASSESSMENT,
            comment="Conditional release for infusion; final release when sterility reports no growth at day 14.",
            signature=SignatureInput(meaning="QA Released", password=password, username=qp.username,
                                     comment="Conditionally released: sterility pending"))
    if aav is not None:
        made["aav"] = services.open_disposition(qa, aav)
    return made
