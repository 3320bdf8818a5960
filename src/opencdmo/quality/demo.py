"""Demo data for the quality app, built through its services (called by `opencdmo seed-demo`).

# --- Deviations ---
A year of deviations across the CAR-T and AAV suites, so the trend report tells a story
(settle plates in B-101 come back; the AAV bioreactor suite has equipment trouble): closed
ones with their signatures, some under investigation (one overdue, one with an approved
extension), one awaiting closure, new ones to classify, one cancelled as a duplicate.
# --- CAPA ---
Four CAPAs: one closed after an effectiveness check, one in its effectiveness check, one
being implemented, one draft plan waiting for QA approval.
# --- Change control / Risk assessment ---
The site's default FMEA method; an approved FMEA of the HLX-101 CAR-T process; three change
controls: one awaiting Helix's approval, one approved and in implementation, one closed.
The history is written with the server clock set back to when each step happened.
"""

import datetime as dt
import functools

from opencdmo.core import clock
from opencdmo.core.signatures import SignatureInput

from . import services
from .domain import risk

# --- Deviations ---

MAJOR = {"patient_safety": "no", "identity": "no", "product_quality": "yes"}
MINOR = {"patient_safety": "no", "identity": "no", "product_quality": "no", "gmp_breach": "no",
         "documentation_only": "yes"}
CRITICAL = {"patient_safety": "yes"}

# (days ago, sponsor code or None, raiser, title, what happened, area, category, source, class answers,
#  investigator, root-cause category, root cause, end state)
DEVIATIONS = [
    (330, "HELIX", "mh.mueller", "Apheresis bag received above temperature limit",
     "Data logger of shipper SH-2231 showed 9.4 °C for 42 min (limit 2–8 °C) on arrival from the collection centre.",
     "Goods receipt", "material", "material", MAJOR, "sup.santos", "material",
     "Courier used cool packs that had not been conditioned.", "closed"),
    (285, "HELIX", "op.olsen", "Prodigy tubing set leak at the spike port",
     "Drip at the TS520 spike port during priming; run paused, set replaced before cells were connected.",
     "B-101", "equipment", "batch_exception", MAJOR, "sup.santos", "equipment",
     "Spike port of tubing set lot TS-88412 cracked in transit (supplier confirmed).", "closed"),
    (250, "NORDV", "op.garcia", "Bioreactor pH excursion during production run",
     "pH fell to 6.71 (limit 6.90–7.30) for 35 min on day 3 of AAV9 production run NVG-P-014.",
     "C-201", "process", "batch_exception", MAJOR, "pd.novak", "equipment",
     "pH probe drift: the two-point calibration had been skipped after the probe was replaced.", "closed"),
    (225, "HELIX", "op.olsen", "Grade B settle plate excursion during fill",
     "Settle plate SP-4 at the RABS glove port: 4 CFU (alert 3, action 5) during final formulation.",
     "B-101", "environmental", "environmental", MAJOR, "sup.santos", "human_error",
     "Operator's sleeve touched the plate while reaching through the glove port.", "closed"),
    (170, "HELIX", "qc.chen", "Missing second-person verification of cell count entry",
     "Day-7 viable cell count in the batch record was not verified by a second person.",
     "B-101", "documentation", "manual", MINOR, "qcr.ross", "procedure",
     "The batch record step did not show the verification field on the tablet view.", "closed"),
    (95, None, "op.garcia", "Grade D corridor differential pressure alarm",
     "D-001 to C-201 airlock differential pressure at 8 Pa (limit ≥ 10 Pa) for 12 min; doors interlocked.",
     "D-001", "facility", "environmental", MINOR, "sup.santos", "environment",
     "Air-handling unit filter change by the contractor without notice.", "closed"),
    (140, "NORDV", "op.garcia", "Filter integrity test failure after sterile filtration",
     "Post-use bubble point 2.9 bar (spec ≥ 3.2 bar) on the 0.2 µm filter of AAV9 drug substance lot NVG-DS-007.",
     "C-202", "process", "batch_exception", CRITICAL, "pd.novak", "", "", "investigation"),
    (120, "HELIX", "qc.chen", "Cell count outside expected range after expansion",
     "Day-9 total viable cells 0.9 × 10⁹ (expected 1.5–4 × 10⁹) for patient batch HLX-B-0005.",
     "U-301", "laboratory", "oos", MAJOR, "qcr.ross", "method",
     "Counting chamber loaded before the sample was mixed; repeat count within range.", "closure_review"),
    (60, "HELIX", "op.olsen", "Label printed with wrong expiry date",
     "Four final-product bag labels showed expiry 2027-13-01; found at label reconciliation before use.",
     "Labelling room", "labelling", "manual", MAJOR, "sup.santos", "", "", "extended"),
    (45, "HELIX", "op.garcia", "Second grade B settle plate excursion in B-101",
     "Settle plate SP-2 at 3 CFU (alert 3) during aseptic manipulation; second in B-101 in six months.",
     "B-101", "environmental", "environmental", MAJOR, "sup.santos", "", "", "investigation"),
    (21, "NORDV", "op.garcia", "Bioreactor pH alarm logged twice",
     "Same pH alarm as the day-3 event entered a second time by the night shift.",
     "C-201", "process", "manual", None, None, "", "", "cancelled"),
    (6, "NORDV", "op.garcia", "Bioreactor dissolved-oxygen probe reading drift",
     "DO reading 12 % below the handheld reference during run NVG-P-019; run continued on reference readings.",
     "C-201", "equipment", "equipment", None, None, "", "", "open"),
    (1, "HELIX", "mh.mueller", "Transfer bag seal found open at receipt",
     "Outer seal of a cryobag overwrap found open on receipt of returned material; bag itself intact.",
     "Goods receipt", "material", "custody", None, None, "", "", "open"),
]

# --- CAPA ---

# title of the deviation → (CAPA title, owner, actions [(kind, description, owner)], end state)
CAPAS = {
    "Prodigy tubing set leak at the spike port": (
        "Incoming inspection of tubing set spike ports", "sup.santos",
        [("corrective", "Quarantine and inspect remaining TS520 sets of lot TS-88412", "mh.mueller"),
         ("preventive", "Add spike-port inspection to incoming goods checklist IG-07", "sup.santos")], "closed"),
    "Grade B settle plate excursion during fill": (
        "Retrain fill operators on RABS glove-port handling", "sup.santos",
        [("corrective", "Practical retraining of all fill operators, witnessed", "sup.santos"),
         ("preventive", "Add glove-port reach to the aseptic process simulation", "qa.patel")],
        "effectiveness_check"),
    "Bioreactor pH excursion during production run": (
        "Calibrate pH probes after every replacement", "pd.novak",
        [("corrective", "Recalibrate all bioreactor pH probes", "pd.novak"),
         ("preventive", "Make calibration after replacement a mandatory eBR step", "pd.novak")], "implementing"),
    "Second grade B settle plate excursion in B-101": (
        "Review B-101 gowning and airflow after repeated settle-plate excursions", "qa.patel",
        [("preventive", "Smoke study of the B-101 RABS with doors operated", "sup.santos")], "draft"),
}


def seed(users: dict, sponsors: dict, *, password: str) -> None:
    """users: user ID → User (see demo/management/commands/seed_demo.py); sponsors: code → Sponsor."""
    now = clock.now()
    qa, qp = users["qa.patel"], users["qp.dubois"]

    def sign(user, meaning, comment=""):
        return SignatureInput(meaning=meaning, password=password, username=user.username, comment=comment)

    days_ago = functools.partial(clock.days_ago, now)

    def site_day(offset: int) -> dt.date:
        return services.site_today() + dt.timedelta(days=offset)

    for (days, sponsor, raiser, title, what, area, category, source, answers, investigator_id, cause_category,
         cause, end) in DEVIATIONS:
        with days_ago(days, 8):
            deviation = services.raise_deviation(
                users[raiser], title=title, description=what, source=source, area=area, category=category,
                sponsor=sponsors[sponsor] if sponsor else None,
                immediate_actions="Affected material segregated and QA informed." if days > 2 else "")
        if end == "open":
            continue
        if end == "cancelled":
            with days_ago(days - 1, 10):
                services.transition_deviation(qa, deviation, "cancel", reason="Duplicate of an earlier deviation")
            continue
        investigator = users[investigator_id]
        with days_ago(days - 1, 10):
            services.classify_deviation(qa, deviation, answers=answers, investigator=investigator)
        capa = CAPAS.get(title)
        if cause:
            with days_ago(days - 6, 14):
                services.record_investigation(
                    investigator, deviation, root_cause_category=cause_category, root_cause=cause,
                    impact_assessment="Only the batch named; no other batch used the same material or equipment "
                                      "in that period (checked in the equipment and material logs).",
                    five_whys=[{"why": f"Why did it happen? ({title.lower()})", "because": cause},
                               {"why": "Why was it not prevented?", "because": "No control step covered it."}],
                    conclusion="Root cause identified; product impact assessed and documented.",
                    no_capa_justification="" if capa else "Isolated event with an external cause; trended.")
        if capa:
            _capa(users, deviation, capa, days - 7, days_ago, sign, site_day, problem=cause or what)
        if end in ("closed", "closure_review"):
            with days_ago(days - 8, 16):
                services.transition_deviation(investigator, deviation, "submit",
                                              signature=sign(investigator, "Performed"))
        if end == "closed":
            with days_ago(days - 12, 11):
                services.transition_deviation(qp, deviation, "close",
                                              signature=sign(qp, "Approved", "Investigation and CAPA reviewed"))
        if end == "extended":
            with days_ago(days - 20, 9):
                extension = services.request_extension(
                    investigator, deviation, requested_due_date=deviation.due_date + dt.timedelta(days=45),
                    justification="Label printer vendor's root-cause report expected within six weeks.")
            with days_ago(days - 21, 15):
                services.transition_extension(qp, extension, "approve", signature=sign(qp, "Approved"))


# --- CAPA ---

def _capa(users, deviation, plan, days, days_ago, sign, site_day, *, problem: str):
    title, owner, actions, end = plan
    qa, qp = users["qa.patel"], users["qp.dubois"]
    with days_ago(days, 11):
        capa = services.raise_capa(qa, deviation=deviation, title=title, problem=problem,
                                   source="deviation", owner=users[owner], due_date=site_day(60),
                                   effectiveness_criteria="No recurrence of the event in the next 3 months of "
                                                          "production, confirmed from the deviation trend.")
        rows = [services.add_capa_action(qa, capa, kind=kind, description=text, owner=users[who],
                                         due_date=site_day(30)) for kind, text, who in actions]
    if end == "draft":
        return
    with days_ago(days - 1, 12):
        services.transition_capa(qp, capa, "approve", signature=sign(qp, "Approved", "Plan adequate"))
    for n, row in enumerate(rows):
        if end == "implementing" and n > 0:
            continue
        with days_ago(days - 10 - n, 10):
            services.complete_capa_action(row.owner, row, evidence=f"Done: {row.description} (records filed)")
        verifier = users["qcr.ross"] if row.owner.username == "qa.patel" else qa
        with days_ago(days - 11 - n, 14):
            services.verify_capa_action(verifier, row)
    if end == "implementing":
        return
    with days_ago(days - 14, 9):
        services.complete_implementation(qa, capa)
    if end == "closed":
        with days_ago(days - 100, 9):
            services.record_effectiveness(qa, capa, result="effective",
                                          evidence="No recurrence in 3 months; incoming inspections all passed.")
        with days_ago(days - 101, 15):
            services.transition_capa(qp, capa, "close", signature=sign(qp, "Approved", "Effective"))


# --- Change control / Risk assessment ---

CAR_T_FMEA = [
    # step, failure mode, effect, cause, current controls, S, O, D, mitigation, residual S, O, D
    ("Apheresis receipt", "Shipper above 8 °C on arrival", "Reduced viability; patient re-collection",
     "Cool packs not conditioned by the courier", "Data logger read at receipt", 8, 4, 3,
     "Courier SOP requires conditioned packs; logger alarm to QA", 8, 2, 2),
    ("Apheresis receipt", "Chain-of-identity label does not match the order", "Wrong patient's cells processed",
     "Manual transcription at the collection site", "Two-person label check", 10, 2, 3,
     "Scan-verified COI at receipt (ISBT 128)", 10, 1, 1),
    ("T-cell selection", "CD4/CD8 bead lot expired", "Poor selection purity", "Lot expiry not checked at issue",
     "Material issue check", 6, 2, 3, "System blocks issue of expired lots", 6, 1, 1),
    ("Transduction (Prodigy)", "MOI outside 2–3", "Low transduction efficiency or high VCN",
     "Vector titre of the thawed lot differs from the CoA", "Titre on CoA; calculation sheet", 7, 4, 5,
     "Titre re-confirmed per lot; MOI computed in the eBR with limits", 7, 2, 2),
    ("Transduction (Prodigy)", "Tubing set leak", "Loss of closed system; contamination", "Set damaged in handling",
     "Pressure test at set-up", 9, 2, 4, "Visual check added to line clearance", 9, 1, 3),
    ("Expansion", "IL-2/IL-7 media supplement omitted at feed", "Poor expansion; dose not reached",
     "Feed step not prompted", "Operator training", 6, 3, 5, "eBR step with verification at each feed", 6, 1, 2),
    ("Expansion", "Incubator CO₂ excursion", "Reduced viability", "Gas supply interruption", "Incubator alarm",
     6, 3, 2, "", None, None, None),
    ("Sampling", "Sterility breach while sampling", "Contaminated product released", "Open manipulation in grade B",
     "Aseptic technique training; EM", 10, 2, 6, "Closed sampling via sterile welder; media fill", 10, 1, 4),
    ("Harvest and formulation", "Cell count error", "Dose outside specification", "Counter not calibrated",
     "Calibration programme", 8, 2, 4, "Duplicate count by two analysts", 8, 1, 2),
    ("Cryopreservation", "Cells held in DMSO beyond 30 min before freezing", "Loss of viability after thaw",
     "Controlled-rate freezer not pre-cooled", "Time entered in the batch record", 8, 4, 5,
     "Freezer pre-cool verified before DMSO addition; 30-min timer with alarm", 8, 2, 2),
    ("Labelling", "Label mix-up between two patients' bags", "Wrong patient infused",
     "Two batches labelled in the same room", "Line clearance", 10, 2, 4,
     "One patient per room; scan-verified labelling", 10, 1, 1),
    ("Storage and shipment", "LN2 dry shipper above −150 °C", "Product loss", "Shipper not charged for 24 h",
     "Shipper weight check", 9, 2, 3, "Charge log with temperature data logger", 9, 1, 2),
]


def _change_sig(user, meaning: str, password: str, comment: str = "") -> SignatureInput:
    return SignatureInput(meaning=meaning, password=password, username=user.username, comment=comment)


def seed_changes_and_risk(users, sponsors, *, password: str) -> None:
    """A default risk method, an approved CAR-T FMEA, and three change controls: one awaiting
    Helix's approval (helix.quality sees a task), one approved in implementation, one closed."""
    qa, qp, sup, pd = users["qa.patel"], users["qp.dubois"], users["sup.santos"], users["pd.novak"]
    helix = sponsors["HELIX"]
    today = clock.now().date()

    method = services.create_risk_method(qa, name="FMEA 1–10 (site default)", levels=risk.DEFAULT_LEVELS,
                                         scale_definitions=risk.DEFAULT_SCALE_DEFINITIONS)
    services.transition_risk_method(qp, method, "approve", signature=_change_sig(qp, "Approved", password))
    fmea = services.create_risk_assessment(
        pd, title="HLX-101 CAR-T manufacturing process FMEA", method=method, sponsor=helix,
        scope="From apheresis receipt to shipment of the cryopreserved product; excludes QC testing.")
    for position, row in enumerate(CAR_T_FMEA, start=1):
        step, mode, effect, cause, controls, s, o, d, mitigation, rs, ro, rd = row
        services.add_failure_mode(pd, fmea, position=position, step=step, failure_mode=mode, effect=effect,
                                  cause=cause, current_controls=controls, severity=s, occurrence=o, detection=d,
                                  mitigation=mitigation, residual_severity=rs, residual_occurrence=ro,
                                  residual_detection=rd)
    services.transition_risk_assessment(pd, fmea, "submit", signature=_change_sig(pd, "Authored", password))
    services.transition_risk_assessment(sup, fmea, "review", signature=_change_sig(sup, "Reviewed", password))
    services.transition_risk_assessment(qp, fmea, "approve", signature=_change_sig(qp, "Approved", password))

    # Awaiting Helix's approval: its quality agreement asks for it.
    moi = services.propose_change(
        sup, title="HLX-101: raise the Prodigy transduction MOI from 2 to 3", kind="process", sponsor=helix,
        description="Master batch record HLX-101 step 7 (transduction): MOI 2 → 3 lentiviral particles per cell.",
        justification="Transduction efficiency below 20 % in 3 of the last 10 lots; development data at MOI 3 "
                      "give 35–45 % with VCN below 3 copies per cell.", target_date=today + dt.timedelta(days=45))
    services.transition_change(sup, moi, "submit", signature=_change_sig(sup, "Authored", password))
    services.assess_change(qa, moi, classification="major", regulatory_filing=True,
                           regulatory_notes="IND amendment (CMC section 3.2.S.2.2) by Helix before use",
                           risk_summary="Higher vector exposure: VCN limit ≤ 5 kept; FMEA row 'MOI outside 2–3' "
                                        "re-scored.", risk_assessment=fmea)
    for area, text in [("mbr", "HLX-101 MBR step 7: new MOI and vector volume calculation."),
                       ("specification", "VCN specification unchanged (≤ 5 copies/cell); trend the first 5 lots."),
                       ("training", "Operators of suite B1 retrained on the revised step."),
                       ("regulatory", "Helix files the IND amendment; CDMO provides the comparability data.")]:
        services.add_impact(qa, moi, area=area, assessment=text, sponsor=helix)
    services.transition_change(qa, moi, "request_approval")

    # Approved and in implementation: a CDMO-wide equipment change.
    freezer = services.propose_change(
        sup, title="Replace controlled-rate freezer CRF-02", kind="equipment",
        description="CRF-02 (end of support) replaced by a new controlled-rate freezer of the same type.",
        justification="Vendor ends support; two alarms in the last quarter.", target_date=today + dt.timedelta(days=20))
    services.transition_change(sup, freezer, "submit", signature=_change_sig(sup, "Authored", password))
    services.assess_change(qa, freezer, classification="minor",
                           risk_summary="Same freezing profile; IQ/OQ/PQ before first GMP use.")
    services.add_impact(qa, freezer, area="equipment", assessment="New asset record; CRF-02 retired.")
    services.add_impact(qa, freezer, area="validation", assessment="IQ/OQ and a PQ run with the standard profile.")
    services.transition_change(qa, freezer, "request_approval")
    services.transition_change(qp, freezer, "approve", signature=_change_sig(qp, "Approved", password))
    services.transition_change(sup, freezer, "implement")
    iq = services.add_change_task(qa, freezer, description="Execute IQ/OQ", owner=sup,
                                  due_date=today + dt.timedelta(days=5))
    services.complete_change_task(sup, iq)
    services.add_change_task(qa, freezer, description="PQ run with the standard freezing profile", owner=sup,
                             due_date=today + dt.timedelta(days=15))

    # Closed: a document change.
    gowning = services.propose_change(
        qa, title="Gowning SOP: add a mirror check before grade B entry", kind="document",
        description="SOP-GOW-001 section 5: add a mirror check step.",
        justification="Two EM glove-print excursions traced to gown fit.")
    services.transition_change(qa, gowning, "submit", signature=_change_sig(qa, "Authored", password))
    services.assess_change(qa, gowning, classification="minor", risk_summary="No product impact.")
    services.add_impact(qa, gowning, area="document", assessment="SOP-GOW-001 revised.")
    services.add_impact(qa, gowning, area="training", assessment="Read-and-understood for all grade B staff.")
    services.transition_change(qa, gowning, "request_approval")
    services.transition_change(qp, gowning, "approve", signature=_change_sig(qp, "Approved", password))
    task = services.add_change_task(qa, gowning, description="Issue the revised SOP and train", owner=qa,
                                    due_date=today)
    services.complete_change_task(qa, task)
    services.transition_change(qp, gowning, "close", signature=_change_sig(qp, "Approved", password))
