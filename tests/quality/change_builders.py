"""Change controls, sponsor approvals and FMEAs in each state, built through the services."""

import datetime as dt
import itertools

from opencdmo.core import services as core_services
from opencdmo.core.domain.roles import Role
from opencdmo.quality import services
from opencdmo.quality.domain.risk import DEFAULT_LEVELS, DEFAULT_SCALE_DEFINITIONS
from tests.conftest import PASSWORD
from tests.factories import approved_agreement, signature


def proposed(proposer, sponsor=None, title="Increase Prodigy transduction MOI from 2 to 3", **fields):
    return services.propose_change(
        proposer, title=title, sponsor=sponsor, kind=fields.pop("kind", "process"),
        description=fields.pop("description", "Transduction step of the MBR: MOI 2 → 3."),
        justification=fields.pop("justification", "Transduction efficiency below 20 % in 3 of the last 10 lots."),
        target_date=fields.pop("target_date", dt.date(2026, 6, 1)), **fields)


def submitted(change, proposer):
    return services.transition_change(proposer, change, "submit", signature=signature(proposer, "Authored"))


def assessed(change, qa, *, sponsors=(), classification="major"):
    """Classified, with a document impact and one impact per sponsor in `sponsors`."""
    services.assess_change(qa, change, classification=classification,
                           risk_summary="Higher vector exposure; VCN stays within 5 copies per cell.")
    services.add_impact(qa, change, area="document", assessment="SOP-TRD-004 to be revised.")
    for sponsor in sponsors:
        services.add_impact(qa, change, area="mbr", sponsor=sponsor,
                            assessment=f"Master batch record of {sponsor.code} changes at step 7.")
    return change


def awaiting_approval(change, qa):
    return services.transition_change(qa, change, "request_approval")


def qa_approved(change, approver):
    return services.transition_change(approver, change, "approve", signature=signature(approver, "Approved"))


def agreement_requiring_approval(sponsor, *, requires: bool = True, prefix: str = ""):
    """An approved quality agreement for `sponsor` (its own author and approver)."""
    author = user(f"{prefix or sponsor.code.lower()}.qag.author", Role.QA_SPECIALIST, sponsor)
    approver = user(f"{prefix or sponsor.code.lower()}.qag.approver", Role.QA_APPROVER, sponsor)
    return approved_agreement(author, approver, sponsor, title=f"Quality agreement {sponsor.code} (changes)",
                              sponsor_approval_for_changes=requires)


def user(username: str, role: Role, *sponsors):
    return core_services.create_user(None, username=username, full_name=username.replace(".", " ").title(),
                                     password=PASSWORD, roles=[role.value], sponsor_ids=[s.pk for s in sponsors])


def risk_method(author, approver, name="FMEA 1–10"):
    method = services.create_risk_method(author, name=name, levels=DEFAULT_LEVELS,
                                         scale_definitions=DEFAULT_SCALE_DEFINITIONS)
    return services.transition_risk_method(approver, method, "approve", signature=signature(approver, "Approved"))


# Builders for the shared page and API tests (tests/web/conftest.py RECORD_BUILDERS).

def change_for_sponsor(author, sponsor, title: str) -> str:
    """A change in impact assessment, with one planned implementation task."""
    change = submitted(proposed(author, sponsor, title=f"Change: {title}"), author)
    services.add_change_task(author, change, description=f"Revise the SOP ({title})", owner=author,
                             due_date=dt.date(2026, 6, 1))
    return change.number


def sponsor_approval_for_sponsor(author, sponsor, title: str) -> str:
    agreement_requiring_approval(sponsor)
    change = submitted(proposed(author, sponsor, title=f"Approval: {title}"), author)
    assessed(change, author, sponsors=[sponsor])
    awaiting_approval(change, author)
    return change.sponsor_approvals.get().number


_method_numbers = itertools.count(1)


def risk_assessment_for_sponsor(author, sponsor, title: str) -> str:
    approver = user(f"{sponsor.code.lower()}.risk.approver", Role.QA_APPROVER, sponsor)
    # A risk method is CDMO-wide: its name must not name the sponsor, whose users it never belongs to.
    method = risk_method(author, approver, name=f"FMEA scale {next(_method_numbers)}")
    assessment = services.create_risk_assessment(author, title=f"FMEA: {title}", scope="Whole process.",
                                                 method=method, sponsor=sponsor)
    services.add_failure_mode(author, assessment, **FAILURE_MODE)
    return assessment.number


FAILURE_MODE = {"step": "Apheresis receipt", "failure_mode": "Shipper above 8 °C on arrival",
                "effect": "Reduced cell viability", "cause": "Cool packs not conditioned",
                "current_controls": "Data logger read at receipt", "severity": 7, "occurrence": 3, "detection": 2}
