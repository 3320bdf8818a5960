"""Demo master batch records, built through the services (called by `opencdmo seed-demo`).

The HLX-101 CAR-T and NVG-201 AAV processes are imported from the shipped MBR files
(`mbr_files/`), authored by the process development scientist and made effective by the QP,
each under its own approved change control. A second CAR-T version that takes up the pending
MOI change waits in review, so the QP finds it in "My tasks".
"""

import dataclasses
from pathlib import Path

from opencdmo.core.signatures import SignatureInput
from opencdmo.quality import selectors as quality_selectors
from opencdmo.quality import services as quality_services

from . import selectors, services
from .domain.definition import Definition

MBR_FILES = Path(__file__).parent / "mbr_files"

# (file, sponsor code, change control title, what the new MBR introduces)
INTRODUCTIONS = [
    ("car-t.yaml", "HELIX", "HLX-101: introduce the electronic master batch record",
     "The paper batch record of the CD19 CAR-T process becomes an electronic MBR with in-line limit checks."),
    ("aav.yaml", "NORDV", "NVG-201: introduce the electronic master batch record",
     "The AAV9-SMN1 upstream and downstream process becomes an electronic MBR with in-line limit checks."),
]
MOI_CHANGE_TITLE = "HLX-101: raise the Prodigy transduction MOI from 2 to 3"  # seeded by quality.demo


def _sig(user, meaning: str, password: str, comment: str = "") -> SignatureInput:
    return SignatureInput(meaning=meaning, password=password, username=user.username, comment=comment)


def _approved_change(users, sponsor, title: str, description: str, *, password: str):
    """A process change proposed by PD, assessed by QA, approved by the sponsor when its quality
    agreement asks for it, and approved by the QP."""
    pd, qa, qp = users["pd.novak"], users["qa.patel"], users["qp.dubois"]
    change = quality_services.propose_change(pd, title=title, kind="process", sponsor=sponsor, description=description,
                                             justification="Paper batch records caused most documentation deviations.")
    quality_services.transition_change(pd, change, "submit", signature=_sig(pd, "Authored", password))
    quality_services.assess_change(qa, change, classification="major",
                                   risk_summary="Same process, same limits; the system now enforces them at entry.")
    quality_services.add_impact(qa, change, area="mbr", sponsor=sponsor,
                                assessment="New electronic master batch record, version 1.")
    quality_services.transition_change(qa, change, "request_approval")
    sponsor_user = next((u for u in users.values() if u.has_permission("quality.sponsor_approve_change")
                         and sponsor.pk in u.sponsor_ids()), None)
    for approval in quality_selectors.change_approvals(qa, change).filter(status="pending"):
        quality_services.decide_sponsor_approval(sponsor_user, approval, "approve",
                                                 signature=_sig(sponsor_user, "Approved", password))
    return quality_services.transition_change(qp, change, "approve", signature=_sig(qp, "Approved", password))


def _with_target(definition: Definition, parameter_id: str, target: str) -> Definition:
    """The definition with one parameter's target changed (the step of a pending change)."""
    def step(s):
        return dataclasses.replace(s, instructions=tuple(dataclasses.replace(i, parameters=tuple(
            dataclasses.replace(p, target=target) if p.id == parameter_id else p for p in i.parameters))
            for i in s.instructions))
    return dataclasses.replace(definition, stages=tuple(dataclasses.replace(st, steps=tuple(step(s) for s in st.steps))
                                                        for st in definition.stages))


def seed(users: dict, sponsors: dict, *, password: str) -> None:
    """users: user ID → User; sponsors: code → Sponsor (see demo/management/commands/seed_demo.py)."""
    pd, qp = users["pd.novak"], users["qp.dubois"]
    effective = {}
    for filename, code, title, description in INTRODUCTIONS:
        change = _approved_change(users, sponsors[code], title, description, password=password)
        version = services.import_version(pd, text=(MBR_FILES / filename).read_text(encoding="utf-8"),
                                          change_summary="First electronic version of the paper batch record.",
                                          change_control=change.number)
        services.transition_version(pd, version, "submit", signature=_sig(pd, "Authored", password))
        services.transition_version(qp, version, "approve", signature=_sig(qp, "Approved", password))
        effective[code] = services.transition_version(qp, version, "make_effective",
                                                      signature=_sig(qp, "QA Released", password))
    moi = quality_selectors.changes_for(pd, text=MOI_CHANGE_TITLE).get()
    car_t = effective["HELIX"]
    draft = services.new_version(pd, car_t.mbr, definition=_with_target(selectors.definition_of(car_t), "moi", "3"),
                                 change_summary="Transduction MOI 2 → 3 lentiviral particles per cell.",
                                 change_control=moi.number)
    services.transition_version(pd, draft, "submit", signature=_sig(pd, "Authored", password))
