"""Demo controlled documents for a cell-therapy CDMO, built through the services (`opencdmo seed-demo`).

Written with the server clock set back to when each step happened (as the facilities demo does),
so effective dates, supersession and review due dates fall where a real site's would: SOPs in
force for a year, two with a second version (one major, one editorial), one approved to take
effect next week, one new version in review, a periodic review overdue and a sponsor's
release specification that only Helix's people and the CDMO's staff see.
"""

import datetime as dt
import functools

from django.utils import timezone

from opencdmo.core import clock
from opencdmo.core.signatures import SignatureInput

from . import services
from .models import Document

# (key, type, title, sponsor code or None, review months, content of v1.0)
DOCUMENTS = [
    ("gowning", "sop", "Gowning for grade B cleanrooms", None, 24,
     "1. Purpose\nHow to gown for work in grade B cleanrooms and grade A zones (EU GMP Annex 1 §7.12).\n"
     "2. Steps\n2.1 Remove jewellery and make-up; wash and dry hands.\n2.2 Put on hood, sterile coverall and "
     "overboots without touching the outside surfaces.\n2.3 Put on sterile goggles and two pairs of sterile "
     "gloves; disinfect the outer gloves with 70 % IPA.\n2.4 Check the gown in the mirror; enter through the "
     "airlock only when the door interlock shows green."),
    ("aseptic", "sop", "Aseptic technique in the grade A biosafety cabinet", None, 24,
     "1. Purpose\nOpen manipulations of cell products in the class II BSC.\n2. Steps\n2.1 Purge the BSC for "
     "15 minutes; record the airflow reading.\n2.2 Wipe all surfaces with sporicidal agent, then 70 % IPA.\n"
     "2.3 Introduce items sprayed and wiped; never block the front grille.\n2.4 Work at least 10 cm inside; "
     "slow movements; change outer gloves after every open manipulation."),
    ("counting", "sop", "Cell counting with the automated cell counter", None, 24,
     "1. Purpose\nViable cell concentration and viability with the NucleoCounter (AO/DAPI).\n2. Steps\n"
     "2.1 Mix the sample gently 10 times; take 60 µL.\n2.2 Load the Via2-Cassette; run the 'Viability and "
     "cell count' protocol.\n2.3 Count in duplicate; accept when the two counts differ by ≤ 15 %.\n"
     "2.4 Record the mean viable cells/mL and viability in the batch record."),
    ("prodigy", "work_instruction", "CliniMACS Prodigy operation: T-cell transduction (TCT) program", None, 24,
     "1. Purpose\nRunning the TCT process on the CliniMACS Prodigy for autologous CAR-T.\n2. Steps\n"
     "2.1 Install the TS520 tubing set; perform the integrity test.\n2.2 Scan the apheresis bag's COI label "
     "before connecting it by sterile welding.\n2.3 Start CD4/CD8 enrichment; then activation (TransAct), "
     "transduction on day 1, expansion to day 8.\n2.4 Document every alarm in the batch record."),
    ("cleaning", "sop", "Cleaning and disinfection of cleanrooms with sporicidal rotation", None, 24,
     "1. Purpose\nDaily and weekly cleaning of grade A–D areas.\n2. Agents\nDaily: quaternary ammonium "
     "disinfectant. Weekly: sporicidal agent (hydrogen peroxide / peracetic acid), contact time 10 minutes.\n"
     "3. Steps\nClean from clean to less clean, top to bottom; record agent, lot and contact time."),
    ("deviations", "sop", "Deviation management", None, 12,
     "1. Purpose\nRaising, classifying, investigating and closing deviations (EU GMP Chapter 1.4 (xiv)).\n"
     "2. Steps\nRaise within one working day; QA classifies minor / major / critical; root cause with 5-Why; "
     "CAPA where needed; close within 30 days unless QA approves an extension."),
    ("changes", "sop", "Change control", None, 24,
     "1. Purpose\nProposing, assessing and approving changes (ICH Q10 §3.2.3).\n2. Steps\nImpact assessment "
     "across documents, batch records, validation and sponsors; sponsor approval where the quality agreement "
     "requires it; QA approval before implementation."),
    ("clearance", "sop", "Line clearance before batch processing", None, 24,
     "1. Purpose\nMaking sure no material, label or document of a previous batch remains.\n2. Steps\n"
     "Check the room, the BSC, equipment and waste; a second person verifies and signs."),
    ("gdp", "sop", "Good documentation practice for batch records", None, 24,
     "1. Purpose\nALCOA+ entries in electronic and paper batch records.\n2. Rules\nRecord at the time of the "
     "activity; never back-date; correct with a reason; every entry attributable to its author."),
    ("hlx_spec", "specification", "HLX-101 release specification", "HELIX", 12,
     "Release tests for HLX-101 (autologous anti-CD19 CAR-T):\nSterility: no growth (Ph. Eur. 2.6.27)\n"
     "Mycoplasma: not detected (PCR)\nEndotoxin: ≤ 5.0 EU/kg\nViability: ≥ 70 %\nCAR expression: ≥ 15 % of "
     "viable CD3+\nVector copy number: ≤ 5 copies per transduced cell\nIdentity: ≥ 80 % CD3+"),
]


def _helpers(now, password, author, reviewer, approver):
    """The demo's clock (days ago), dates relative to today, and the three signatures that release a version."""

    def sign(user, meaning):
        return SignatureInput(meaning=meaning, password=password, username=user.username)

    days_ago = functools.partial(clock.days_ago, now)

    def date_in(days: int) -> dt.date:
        return timezone.localdate(now) + dt.timedelta(days=days)

    signers = {"submit": (author, "Authored"), "review": (reviewer, "Reviewed"), "approve": (approver, "Approved")}

    def release(version, *, steps=("submit", "review", "approve")):
        for action in steps:
            who, meaning = signers[action]
            services.transition_version(who, version, action, signature=sign(who, meaning))

    return days_ago, date_in, release


def seed(users: dict, sponsors: dict, *, password: str) -> None:
    """The first issue of every document, a year ago. users: user ID → User; sponsors: code → Sponsor."""
    now = clock.now()
    author, reviewer, approver = users["sup.santos"], users["qa.patel"], users["qp.dubois"]

    days_ago, date_in, release = _helpers(now, password, author, reviewer, approver)

    documents = {}
    with days_ago(400):
        for key, doc_type, title, sponsor, months, content in DOCUMENTS:
            documents[key] = services.create_document(
                author if sponsor is None else reviewer, doc_type=doc_type, title=title,
                sponsor=sponsors[sponsor] if sponsor else None, review_interval_months=months, content=content,
                effective_date=date_in(-390), change_summary="First issue.")
    with days_ago(392):
        for document in documents.values():
            release(document.versions.get())
    with days_ago(390, 1):
        services.take_effect_due(None)


def seed_revisions(users: dict, *, password: str) -> None:
    """The year since: called after training's first round, so people trained on the first issue."""
    now = clock.now()
    author, reviewer, approver = users["sup.santos"], users["qa.patel"], users["qp.dubois"]
    documents = {key: Document.objects.get(title=title) for key, _, title, *_ in DOCUMENTS}
    days_ago, date_in, release = _helpers(now, password, author, reviewer, approver)

    # Gowning v2.0: a major change everyone retrains on; in force for 50 days.
    with days_ago(65):
        v2 = services.new_version(author, documents["gowning"], major_change=True, effective_date=date_in(-50),
                                  change_summary="Second pair of sterile gloves and mirror check added "
                                                 "after the deviation trend review.", change_control="CC-2026-0003")
        services.edit_version(author, v2, content=documents["gowning"].versions.get(major=1).content
                              + "\n2.5 Change the outer gloves when leaving the grade A zone.")
        release(v2)
    with days_ago(50, 1):
        services.take_effect_due(None)
    # Cell counting v1.1: editorial (no retraining), in force for 20 days.
    with days_ago(25):
        v11 = services.new_version(author, documents["counting"], major_change=False, effective_date=date_in(-20),
                                   change_summary="Cassette name corrected (Via2-Cassette); no change in practice.")
        release(v11)
    with days_ago(20, 1):
        services.take_effect_due(None)
    # Cleaning v2.0: approved, takes effect in a week, people train on it now.
    with days_ago(5):
        v2 = services.new_version(author, documents["cleaning"], major_change=True, effective_date=date_in(7),
                                  change_summary="Sporicidal agent twice weekly in grade A/B (Annex 1 §6.12).",
                                  change_control="CC-2026-0007")
        services.edit_version(author, v2, content=documents["cleaning"].versions.get(major=1).content.replace(
            "Weekly: sporicidal agent", "Twice weekly in grade A/B, weekly elsewhere: sporicidal agent"))
        release(v2)
    # GDP v2.0: in review, waiting for the reviewer.
    with days_ago(2):
        v2 = services.new_version(author, documents["gdp"], major_change=True, effective_date=date_in(30),
                                  change_summary="Rules for electronic entries and review by exception.")
        release(v2, steps=("submit",))
