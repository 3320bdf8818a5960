"""Deviations and CAPAs in each state, built through the services as users would build them."""

import datetime as dt

from opencdmo.quality import services
from tests.factories import signature

MAJOR = {"patient_safety": "no", "identity": "no", "product_quality": "yes"}
MINOR = {"patient_safety": "no", "identity": "no", "product_quality": "no", "gmp_breach": "no",
         "documentation_only": "yes"}

FIVE_WHYS = [
    {"why": "Why was the bag above 8 °C?", "because": "The shipper's cool packs were not conditioned."},
    {"why": "Why were they not conditioned?", "because": "The courier's SOP has no conditioning step."},
]


def raised(raiser, sponsor, title="Apheresis bag received above temperature limit", **fields):
    return services.raise_deviation(
        raiser, title=title, source=fields.pop("source", "manual"), sponsor=sponsor,
        description=fields.pop("description", "Data logger showed 9.4 °C for 42 min during transport."),
        area=fields.pop("area", "Goods receipt"), category=fields.pop("category", "material"), **fields)


def classified(deviation, classifier, investigator, answers=MAJOR, **kw):
    return services.classify_deviation(classifier, deviation, answers=answers, investigator=investigator, **kw)


def investigated(deviation, investigator, *, justification="Supplier-side cause; covered by supplier audit."):
    return services.record_investigation(
        investigator, deviation, impact_assessment="Only this apheresis bag; no other batches shipped that day.",
        root_cause_category="material", root_cause="Cool packs used unconditioned by the courier.",
        five_whys=FIVE_WHYS, conclusion="Product impact assessed as none; cells within viability spec.",
        no_capa_justification=justification)


def submitted(deviation, investigator):
    return services.transition_deviation(investigator, deviation, "submit",
                                         signature=signature(investigator, "Performed"))


def in_state(state, raiser, classifier, investigator, sponsor, closer=None):
    """A deviation in `state` (open, investigation, closure_review, closed, cancelled)."""
    deviation = raised(raiser, sponsor)
    if state == "open":
        return deviation
    if state == "cancelled":
        return services.transition_deviation(classifier, deviation, "cancel", reason="Duplicate of another report")
    deviation = classified(deviation, classifier, investigator)
    if state == "investigation":
        return deviation
    deviation = submitted(investigated(deviation, investigator), investigator)
    if state == "closure_review":
        return deviation
    return services.transition_deviation(closer, deviation, "close", signature=signature(closer, "Approved"))


def capa(creator, sponsor=None, *, deviation=None, owner=None, title="Condition cool packs before every shipment"):
    return services.raise_capa(creator, title=title, problem="Cool packs used unconditioned by the courier.",
                               source="audit" if deviation is None else "deviation",
                               source_reference="AUD-2026-03" if deviation is None else "",
                               sponsor=sponsor, owner=owner, deviation=deviation,
                               effectiveness_criteria="No temperature excursion in the next 20 shipments.")


def action(creator, capa, owner, *, kind="corrective", due_in_days=14):
    from opencdmo.quality.selectors import site_today  # noqa: PLC0415

    return services.add_capa_action(creator, capa, kind=kind, description="Add conditioning step to courier SOP",
                                    owner=owner, due_date=site_today() + dt.timedelta(days=due_in_days))


def approved(capa, approver):
    return services.transition_capa(approver, capa, "approve", signature=signature(approver, "Approved"))


# RECORD_BUILDERS of tests/web/conftest.py: (author, sponsor, title) → reference. The author is a
# QA specialist of the sponsor (raises, classifies, investigates, manages CAPAs).

def capa_for_sponsor(author, sponsor, title: str) -> str:
    """A draft CAPA of the sponsor, owned by the author, with one open action."""
    plan = services.raise_capa(author, title=f"CAPA: {title}"[:200], problem="Seal of the transfer bag found open.",
                               source="audit", source_reference=f"AUD-{sponsor.code}", sponsor=sponsor, owner=author,
                               effectiveness_criteria="No open seal in the next 30 transfers.")
    action(author, plan, author)
    return plan.number


def extension_for_sponsor(author, sponsor, title: str) -> str:
    """A requested extension of a deviation of the sponsor under investigation by the author."""
    deviation = classified(raised(author, sponsor, title=f"Extended: {title}"[:200]), author, author)
    return services.request_extension(author, deviation, requested_due_date=deviation.due_date + dt.timedelta(days=14),
                                      justification="Waiting for the supplier's investigation report.").number
