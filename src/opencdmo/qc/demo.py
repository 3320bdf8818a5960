"""Demo laboratory: methods, specifications, samples, results (one OOS), a stability study.
Built through the services (called by `opencdmo seed-demo`)."""


# --- Methods and specifications (seed_methods_and_specifications) ---

# (code, name, reports, unit, decimals, choices, instrument kinds, turnaround days, SOP title)
_SPEC_METHODS = [
    ("STER-2627", "Sterility, Ph. Eur. 2.6.27 automated culture (aerobic + anaerobic)", "growth", "", None, (),
     ("microbial_detection",), 14, ""),
    ("MYCO-PCR", "Mycoplasma by validated PCR (Ph. Eur. 2.6.7)", "detection", "", None, (), ("pcr_system",), 2, ""),
    ("LAL-KCA", "Bacterial endotoxins, kinetic chromogenic LAL (USP <85>)", "numeric", "EU/mL", 2, (),
     ("plate_reader",), 1, ""),
    ("VIA-CC", "Viability by automated cell counter (AO/PI)", "numeric", "%", 1, (), ("cell_counter",), 1,
     "Cell counting with the automated cell counter"),
    ("CAR-FLOW", "CAR expression by flow cytometry (% CAR+ of viable CD3+)", "numeric", "%", 1, (),
     ("flow_cytometer",), 1, ""),
    ("VCN-DDPCR", "Vector copy number by ddPCR", "numeric", "copies/cell", 2, (), ("pcr_system",), 3, ""),
    ("CD3-FLOW", "Identity: CD3+ T cells by flow cytometry", "numeric", "%", 1, (), ("flow_cytometer",), 1, ""),
    ("IFNG-ELISA", "Potency: IFN-γ release on co-culture with CD19+ target cells", "numeric", "pg/mL", 0, (),
     ("plate_reader",), 3, ""),
    ("RCL-QPCR", "Replication-competent lentivirus (cell-based assay, qPCR end point)", "detection", "", None, (),
     ("pcr_system",), 21, ""),
    ("BEADS-MIC", "Residual activation beads by microscopy (per 3 × 10^6 cells)", "numeric", "beads", 0, (),
     ("microscope",), 1, ""),
    ("VG-DDPCR", "AAV vector genome titer by ddPCR", "numeric", "vg/mL", None, (), ("pcr_system",), 2, ""),
    ("FULL-AUC", "Full capsids by analytical ultracentrifugation", "numeric", "%", 1, (),
     ("analytical_ultracentrifuge",), 5, ""),
    ("HCD-QPCR", "Residual host-cell DNA by qPCR", "numeric", "ng/dose", 1, (), ("pcr_system",), 3, ""),
    ("PH", "pH (potentiometric)", "numeric", "", 1, (), ("ph_meter",), 1, ""),
    ("APP-VIS", "Appearance (visual inspection)", "choice", "", None,
     ("Clear, colourless", "Slightly opalescent", "Visible particles"), (), 1, ""),
    ("LV-TITER", "Lentiviral functional titer by transduction and flow cytometry", "numeric", "TU/mL", None, (),
     ("flow_cytometer",), 5, ""),
]


def _spec_rows(*rows) -> list[dict]:
    """(attribute, method, criterion, lower, upper, expected, unit, may be pending at release) → criteria."""
    return [{"attribute": a, "method": m, "criterion": c, "lower": lo, "upper": hi, "expected": ex, "unit": unit,
             "may_be_pending_at_release": pending} for a, m, c, lo, hi, ex, unit, pending in rows]


_SPEC_SAFETY = (
    ("Sterility", "STER-2627", "not_detected", None, None, "", "", True),
    ("Mycoplasma", "MYCO-PCR", "not_detected", None, None, "", "", False),
)

# (code, title, stage, product code or None, material code or None, rounding, criteria)
_SPEC_SPECIFICATIONS = [
    ("HLX-101-REL", "HLX-101 autologous anti-CD19 CAR-T: release specification", "release", "HLX-101", None,
     "half_up", _spec_rows(
         *_SPEC_SAFETY,
         ("Endotoxin", "LAL-KCA", "at_most", None, "5.00", "", "EU/kg", False),
         ("Viability", "VIA-CC", "at_least", "70.0", None, "", "", False),
         ("CAR expression", "CAR-FLOW", "at_least", "15.0", None, "", "", False),
         ("Vector copy number", "VCN-DDPCR", "less_than", None, "5.00", "", "", False),
         ("Identity (CD3+)", "CD3-FLOW", "at_least", "80.0", None, "", "", False),
         ("Potency (IFN-γ release)", "IFNG-ELISA", "at_least", "500", None, "", "", False),
         ("Replication-competent lentivirus", "RCL-QPCR", "not_detected", None, None, "", "", True),
         ("Residual beads", "BEADS-MIC", "less_than", None, "100", "", "beads per 3 × 10^6 cells", False),
     )),
    ("HLX-101-IPC", "HLX-101: in-process controls (starting material and harvest)", "in_process", "HLX-101", None,
     "half_up", _spec_rows(
         ("Viability", "VIA-CC", "at_least", "70.0", None, "", "", False),
         ("CD3+ purity after selection", "CD3-FLOW", "at_least", "80.0", None, "", "", False),
         ("CAR expression (day 5)", "CAR-FLOW", "report_only", None, None, "", "", False),
     )),
    ("HLX-101-STB", "HLX-101: stability specification (≤ −150 °C)", "stability", "HLX-101", None, "half_up",
     _spec_rows(
         ("Viability", "VIA-CC", "at_least", "70.0", None, "", "", False),
         ("CAR expression", "CAR-FLOW", "at_least", "15.0", None, "", "", False),
         ("Potency (IFN-γ release)", "IFNG-ELISA", "at_least", "500", None, "", "", False),
         ("Sterility", "STER-2627", "not_detected", None, None, "", "", False),
     )),
    ("NVG-201-REL", "NVG-201 AAV9-SMN1 drug substance: release specification", "release", "NVG-201", None,
     "half_even", _spec_rows(
         ("Vector genome titer", "VG-DDPCR", "at_least", "1.0E13", None, "", "", False),
         ("Full capsids", "FULL-AUC", "at_least", "70.0", None, "", "", False),
         ("Residual host-cell DNA", "HCD-QPCR", "at_most", None, "10.0", "", "", False),
         ("pH", "PH", "range", "7.0", "7.4", "", "", False),
         ("Appearance", "APP-VIS", "equals", None, None, "Clear, colourless", "", False),
         ("Endotoxin", "LAL-KCA", "at_most", None, "0.50", "", "", False),
         ("Sterility", "STER-2627", "not_detected", None, None, "", "", False),
         ("Mycoplasma", "MYCO-PCR", "not_detected", None, None, "", "", False),
     )),
    ("LV-CD19-IN", "Lentiviral vector anti-CD19 CAR: incoming specification", "incoming", None, "LV-CD19", "half_up",
     _spec_rows(
         ("Functional titer", "LV-TITER", "at_least", "1E8", None, "", "", False),
         ("Endotoxin", "LAL-KCA", "at_most", None, "0.50", "", "", False),
         *_SPEC_SAFETY[:1],
         ("Mycoplasma", "MYCO-PCR", "not_detected", None, None, "", "", False),
         ("Replication-competent lentivirus", "RCL-QPCR", "not_detected", None, None, "", "", False),
     )),
]


def _spec_sop(title: str):
    from opencdmo.documents.models import Document  # noqa: PLC0415

    return Document.objects.filter(title=title, doc_type="sop").order_by("number").first() if title else None


def seed_methods_and_specifications(users: dict, sponsors: dict, *, password: str) -> dict:
    """The laboratory's test methods and approved specifications: HLX-101 release (sterility may be pending at
    a conditional release), in-process and stability; NVG-201 release; the incoming specification of the
    sponsor-supplied lentiviral vector LV-CD19 (when the materials demo made it). Authored by the QC reviewer
    (qcr.ross), approved with a signature by QA (qp.dubois). Returns {"methods": {code: …}, "specifications":
    {code: …}}."""
    from opencdmo.core.signatures import SignatureInput  # noqa: PLC0415
    from opencdmo.materials.models import Material  # noqa: PLC0415

    from . import services  # noqa: PLC0415

    author, approver = users["qcr.ross"], users["qp.dubois"]
    methods = {}
    for code, name, kind, unit, decimals, choices, instruments, days, sop in _SPEC_METHODS:
        methods[code] = services.create_method(author, code=code, name=name, result_kind=kind, unit=unit,
                                               decimals=decimals, choices=choices, instrument_kinds=instruments,
                                               turnaround_days=days, sop=_spec_sop(sop))
    specifications = {}
    for code, title, stage, product, material, rounding, tests in _SPEC_SPECIFICATIONS:
        if material is not None and not Material.objects.filter(code=material).exists():
            continue
        spec = services.create_specification(author, code=code, title=title, stage=stage, product=product,
                                             material=material, rounding=rounding, tests=tests)
        specifications[code] = services.transition_specification(
            approver, spec, "approve",
            signature=SignatureInput(meaning="Approved", password=password, username=approver.username,
                                     comment=f"{code} approved for use"))
    return {"methods": methods, "specifications": specifications}


# --- The laboratory at work (seed_laboratory) ---

# The QC laboratory's own instruments (U-301), qualified and calibrated before the stability study
# began: (asset id, name, kind, maker, calibration tolerance). EQ-CC-01 and EQ-FC-01 (facilities demo)
# are the laboratory's first counter and cytometer; the counter is being serviced today.
_LAB_INSTRUMENTS = [
    ("EQ-CC-02", "Automated cell counter 2 (AO/PI)", "cell_counter", "ChemoMetec", "± 10 % on reference beads"),
    ("EQ-FC-02", "Flow cytometer 2 (QC release)", "flow_cytometer", "BD Biosciences", "CS&T bead performance check"),
    ("EQ-BTA-01", "BacT/ALERT 3D microbial detection system", "microbial_detection", "bioMérieux",
     "reference organisms detected"),
    ("EQ-QPCR-01", "Real-time PCR system", "pcr_system", "Thermo Fisher", "block uniformity ± 0.25 °C"),
    ("EQ-DDPCR-01", "Droplet digital PCR system", "pcr_system", "Bio-Rad", "reference DNA within ± 10 %"),
    ("EQ-PR-01", "Microplate reader (kinetic LAL, ELISA)", "plate_reader", "BioTek", "OD ± 1 % at 405 / 450 nm"),
    ("EQ-AUC-01", "Analytical ultracentrifuge", "analytical_ultracentrifuge", "Beckman Coulter",
     "temperature ± 0.5 °C; radial ± 0.01 cm"),
    ("EQ-PH-01", "pH meter", "ph_meter", "Mettler Toledo", "± 0.02 pH at 4.01 / 7.00 / 10.01"),
    ("EQ-MIC-01", "Inverted microscope with counting chamber", "microscope", "Olympus", "graticule verified"),
]
# The instrument each method's results are entered with.
_LAB_INSTRUMENT_OF = {"STER-2627": "EQ-BTA-01", "MYCO-PCR": "EQ-QPCR-01", "RCL-QPCR": "EQ-QPCR-01",
                      "HCD-QPCR": "EQ-QPCR-01", "LAL-KCA": "EQ-PR-01", "IFNG-ELISA": "EQ-PR-01",
                      "VCN-DDPCR": "EQ-DDPCR-01", "VG-DDPCR": "EQ-DDPCR-01", "FULL-AUC": "EQ-AUC-01",
                      "PH": "EQ-PH-01", "BEADS-MIC": "EQ-MIC-01", "VIA-CC": "EQ-CC-02", "CAR-FLOW": "EQ-FC-02",
                      "CD3-FLOW": "EQ-FC-02", "LV-TITER": "EQ-FC-02"}
LAB_LOCATION = "U-301 QC laboratory, sample fridge 2–8 °C"

# HLX-101's release results on the reviewed batch: (attribute, value). Sterility stays pending.
_HLX_RESULTS = [("Endotoxin", "0.42"), ("Viability", "91.4"), ("CAR expression", "38.6"),
                ("Vector copy number", "2.31"), ("Identity (CD3+)", "97.2"), ("Potency (IFN-γ release)", "1840"),
                ("Replication-competent lentivirus", "not detected"), ("Residual beads", "12"),
                ("Mycoplasma", "not detected")]
# The stability study's results at 0, 3, 6 and 9 months (≤ −150 °C): a slow, conforming decline.
_STABILITY_RESULTS = {
    "Viability": ("92.1", "90.6", "89.4", "88.2"),
    "CAR expression": ("41.8", "41.2", "40.5", "40.9"),
    "Potency (IFN-γ release)": ("2150", "2060", "1985", "1910"),
    "Sterility": ("no growth",) * 4,
}
_PHASE_ONE_ANSWERS = [
    ("calculations", "yes", "Sedimentation-velocity fit re-run independently by a second analyst: 62.0 % again."),
    ("method", "yes", "SOP version 3 followed; run sheet complete."),
    ("instrument", "yes", "EQ-AUC-01 in calibration; rotor temperature and radial calibration logs in order."),
    ("system_suitability", "yes", "Reference AAV standard within its full-capsid range (74.8 %)."),
    ("standards_reagents", "yes", "Buffers and reference standard in date."),
    ("sample_preparation", "yes", "Sample identity checked against the batch label; no dilution error."),
    ("analyst", "yes", "Analyst trained on the method; interviewed, nothing unusual during the run."),
    ("preparations_retained", "yes", "Cell assembly and remaining sample kept at 2–8 °C."),
]


class _Lab:
    def __init__(self, users: dict, password: str):
        self.users, self.password = users, password
        self.analyst, self.reviewer = users["qc.chen"], users["qcr.ross"]
        self.submissions = 0

    def sign(self, user, meaning: str, comment: str = ""):
        from opencdmo.core.signatures import SignatureInput  # noqa: PLC0415

        return SignatureInput(meaning=meaning, password=self.password, username=user.username, comment=comment)

    def instrument(self, method):
        """The usable instrument the method runs on: its own, else any usable one of its kinds."""
        from opencdmo.facilities.models import Equipment  # noqa: PLC0415
        from opencdmo.facilities.selectors import equipment_usability  # noqa: PLC0415

        if not method.instrument_kinds:
            return None
        preferred = _LAB_INSTRUMENT_OF.get(method.code)
        candidates = sorted(Equipment.objects.filter(kind__in=method.instrument_kinds),
                            key=lambda e: (e.number != preferred, e.number))
        return next((e for e in candidates if equipment_usability(e).usable), None)

    def enter(self, sample, test, value, *, comment: str = ""):
        from . import services  # noqa: PLC0415

        self.submissions += 1
        return services.enter_result(self.analyst, sample, test, value=value, instrument=self.instrument(test.method),
                                     comment=comment, submission_id=f"demo-qc-{self.submissions}")

    def review(self, result):
        from . import services  # noqa: PLC0415

        return services.transition_result(self.reviewer, result, "review", signature=self.sign(self.reviewer,
                                                                                               "Reviewed"))


def _lab_instruments(lab: _Lab, days_ago) -> None:
    import datetime as dt  # noqa: PLC0415

    from opencdmo.core import clock  # noqa: PLC0415
    from opencdmo.facilities import services as facilities  # noqa: PLC0415
    from opencdmo.facilities.models import Equipment, Room  # noqa: PLC0415

    sup, qa = lab.users["sup.santos"], lab.users["qa.patel"]
    room = Room.objects.filter(code="U-301").first()
    made = []
    with days_ago(365, 10):
        today = clock.site_today()
        for number, name, kind, maker, tolerance in _LAB_INSTRUMENTS:
            if Equipment.objects.filter(number=number).exists():
                continue
            made.append(facilities.register_equipment(
                sup, number=number, name=name, kind=kind, room=room, manufacturer=maker,
                serial_number=f"SN-{number[3:].replace('-', '')}-QC", calibration_interval_days=365,
                calibration_tolerance=tolerance, requalification_interval_days=730,
                iq_date=today - dt.timedelta(days=20), oq_date=today - dt.timedelta(days=12),
                pq_date=today - dt.timedelta(days=5)))
    with days_ago(364, 11):
        for equipment in made:
            facilities.transition_equipment(qa, equipment, "qualify",
                                            signature=lab.sign(qa, "Approved", "IQ/OQ/PQ reports reviewed"))
    with days_ago(363, 9):
        for equipment in made:
            facilities.record_calibration(sup, equipment, result="pass", as_found="within tolerance",
                                          as_left="within tolerance", certificate=f"CAL-{equipment.number[3:]}-0")
            facilities.transition_equipment(sup, equipment, "release",
                                            signature=lab.sign(sup, "Approved", "qualified and calibrated"))
    # Recalibrated on the annual plan, so each is in calibration today.
    with days_ago(40, 9):
        for equipment in made:
            facilities.record_calibration(sup, equipment, result="pass", as_found="within tolerance",
                                          as_left="within tolerance", certificate=f"CAL-{equipment.number[3:]}-1")


def _test(spec, attribute: str):
    return spec.tests.select_related("method").get(attribute=attribute)


def _stability(lab: _Lab, specs: dict, days_ago) -> object:
    """HLX-101 on stability at ≤ −150 °C: 0/3/6/9-month pulls tested and reviewed, 12 months due next month."""
    from opencdmo.core import clock  # noqa: PLC0415

    from . import services  # noqa: PLC0415
    from .domain import stability  # noqa: PLC0415

    spec = specs.get("HLX-101-STB")
    if spec is None:
        return None
    today = clock.site_today()
    # The 12-month pull falls on the 15th of next month.
    start = stability.add_months(stability.add_months(today.replace(day=1), 1).replace(day=15), -12)
    ago = (today - start).days
    qp = lab.users["qp.dubois"]
    with days_ago(ago + 14, 10):
        study = services.create_study(
            lab.reviewer, title="HLX-101 drug product long-term stability (vapour-phase LN2)", product=spec.product,
            specification=spec, subject_ref="HLX-101 PPQ batch HLX-PPQ-02", conditions=["≤ −150 °C"],
            time_points=[0, 3, 6, 9, 12, 18, 24], start_date=start)
    with days_ago(ago + 10, 14):
        study = services.transition_study(qp, study, "approve",
                                          signature=lab.sign(qp, "Approved", "Protocol per ICH Q5C"))
    for index, pull in enumerate(study.pulls.filter(months__in=(0, 3, 6, 9)).order_by("months")):
        since = (today - pull.due_date).days
        with days_ago(since, 9):
            pull = services.pull(lab.analyst, pull, quantity="2", unit="vials")
            sample = services.receive_sample(lab.analyst, pull.sample, location="U-301 QC laboratory, thaw bench")
            pending = []
            for attribute, values in _STABILITY_RESULTS.items():
                test = _test(spec, attribute)
                if attribute == "Sterility":
                    pending.append((test, values[index]))
                else:
                    lab.enter(sample, test, values[index])
        with days_ago(since - 2, 11):
            for result in sample.results.filter(status="entered"):
                lab.review(result)
        with days_ago(since - 14, 10):  # sterility read at day 14
            for test, value in pending:
                lab.review(lab.enter(sample, test, value, comment="BacT/ALERT aerobic and anaerobic: no growth at "
                                                                  "day 14."))
    return study


def _incoming(lab: _Lab, days_ago) -> object:
    """The quarantined lentiviral vector lot: incoming QC sampled, titer, endotoxin and mycoplasma in and
    reviewed; sterility and RCL still running."""
    from opencdmo.materials.models import Lot  # noqa: PLC0415

    from . import selectors, services  # noqa: PLC0415

    lot = Lot.objects.filter(material__code="LV-CD19", status="quarantine").order_by("-created_at").first()
    if lot is None or selectors.effective_specification(stage="incoming", material=lot.material) is None:
        return None
    with days_ago(6, 10):
        sample = services.register_lot_sample(lab.analyst, lot, quantity="0.5", unit="mL",
                                              description=f"Incoming QC of {lot.number}: two 0.25 mL aliquots")
        sample = services.receive_sample(lab.analyst, sample, location="U-301 QC laboratory, −80 °C box QC-IN-03")
        spec = sample.specification
    with days_ago(5, 15):
        for attribute, value in (("Functional titer", "3.2E8"), ("Endotoxin", "0.08"), ("Mycoplasma", "not detected")):
            lab.enter(sample, _test(spec, attribute), value)
    with days_ago(4, 10):
        for result in sample.results.filter(status="entered"):
            lab.review(result)
    return sample


def _batch_samples(batch) -> list:
    from .models import Sample  # noqa: PLC0415

    return list(Sample.objects.filter(subject_type="batches.batch", subject_ref=batch.number).order_by("id"))


def _sample_for(samples: list, words: str):
    return next(s for s in samples if words.lower() in s.description.lower())


def _car_t_batch(lab: _Lab, batch) -> dict:
    """The reviewed HLX-101 batch: every sample received; every release criterion tested and reviewed
    but sterility (14 days), which may be pending at release."""
    from . import services  # noqa: PLC0415

    samples = _batch_samples(batch)
    where = {"Endotoxin": "endotoxin", "Viability": "viability and viable", "CAR expression": "identity and car",
             "Vector copy number": "vector copy number", "Identity (CD3+)": "identity and car",
             "Potency (IFN-γ release)": "potency", "Replication-competent lentivirus": "replication-competent",
             "Residual beads": "viability and viable", "Mycoplasma": "mycoplasma of the harvest"}
    tested = {_sample_for(samples, words) for words in [*where.values(), "sterility of the final product"]}
    # The release samples come to the laboratory; the retained sample goes to the retain store. The
    # starting-material and in-process samples are not release samples: they stay with manufacturing.
    for sample in samples:
        if "retained" in sample.description.lower():
            services.retain_sample(lab.analyst, sample, location="LN2-01 retain box R2-B01")
        elif sample in tested and sample.status == "registered":
            services.receive_sample(lab.analyst, sample, location=LAB_LOCATION)
    final = _sample_for(samples, "viability and viable cell count of the final product")
    spec = final.specification  # the release specification (starting-material samples have the in-process one)
    flow = _sample_for(samples, "identity and car expression")
    potency = _sample_for(samples, "potency")
    services.order_tests(lab.analyst, final, [_test(spec, "Residual beads")])
    services.order_tests(lab.analyst, flow, [_test(spec, "Identity (CD3+)")])
    services.order_tests(lab.analyst, potency, [_test(spec, "Potency (IFN-γ release)")])
    results = [lab.enter(_sample_for(samples, where[attribute]), _test(spec, attribute), value)
               for attribute, value in _HLX_RESULTS]
    for result in results:
        lab.review(result)
    sterility = _sample_for(samples, "sterility of the final product")
    services.move_sample(lab.analyst, sterility, to_location="EQ-BTA-01 BacT/ALERT, bottles BA/BN 2611",
                         purpose="inoculated: aerobic and anaerobic bottles, 14 days")
    return {"batch": batch, "samples": samples, "results": results, "sterility": sterility}


def _aav_batch(lab: _Lab, batch) -> dict:
    """The NVG-201 batch: results in progress; full capsids 62 % against ≥ 70 % opened an OOS
    investigation, Phase I found no laboratory error, so it is in Phase II with a deviation; the
    endotoxin result waits for review; the host-cell DNA sample is due today."""
    import datetime as dt  # noqa: PLC0415

    from django.utils import timezone  # noqa: PLC0415

    from opencdmo.core import clock  # noqa: PLC0415

    from . import services  # noqa: PLC0415

    samples = _batch_samples(batch)
    final = [s for s in samples if s.origin_ref and any(
        w in s.description for w in ("Sterility (Ph. Eur. 2.6.1)", "Endotoxin (LAL)", "Vector genome titer (ddPCR)",
                                     "Full capsids (AUC)", "Mycoplasma of the unprocessed bulk"))]
    for sample in final:
        services.receive_sample(lab.analyst, sample, location=LAB_LOCATION)
    spec = final[0].specification
    titer = lab.enter(_sample_for(final, "vector genome titer (ddpcr)"), _test(spec, "Vector genome titer"),
                      "2.4E13")
    lab.review(titer)
    full = _sample_for(final, "full capsids (auc)")
    services.order_tests(lab.analyst, full, [_test(spec, "pH"), _test(spec, "Appearance")])
    for attribute, value in (("pH", "7.2"), ("Appearance", "Clear, colourless")):
        lab.review(lab.enter(full, _test(spec, attribute), value))
    oos_result = lab.enter(full, _test(spec, "Full capsids"), "62.0",
                           comment="Sedimentation-velocity AUC, two cells; both 62 % full.")
    investigation = oos_result.investigation
    lab.review(oos_result)  # the data checked by a second person; the investigation goes on
    services.record_phase_one(lab.reviewer, investigation,
                              answers=[{"item": i, "answer": a, "note": n} for i, a, n in _PHASE_ONE_ANSWERS])
    investigation = services.transition_investigation(
        lab.reviewer, investigation, "escalate",
        reason="Phase I found no assignable laboratory cause: full-scale investigation.")
    investigation = services.record_phase_two(
        lab.reviewer, investigation, production_review=(
            "Batch record under review: AEX elution step S7.3 ran at the upper conductivity limit; the "
            "separation of empty and full capsids is being assessed with process development."),
        batch_impact="")
    endotoxin = lab.enter(_sample_for(final, "endotoxin (lal)"), _test(spec, "Endotoxin"), "0.08")
    # Residual host-cell DNA: registered by hand on the drug substance, received, due by the end of today.
    now = timezone.localtime(clock.now())
    due = now.replace(hour=23, minute=0, second=0, microsecond=0)
    due = due if due > now else now + dt.timedelta(minutes=30)
    hcd = services.register_sample(
        lab.analyst, subject_type="batches.batch", subject_ref=batch.number,
        subject_label=f"{batch.number} {batch.product.code}", origin="manual",
        description="Residual host-cell DNA (qPCR) of the drug substance", specification=spec,
        tests=[_test(spec, "Residual host-cell DNA")], sponsor=batch.sponsor, product=batch.product,
        quantity="0.5", unit="mL", taken_at=clock.now(), taken_by=lab.analyst, due_at=due)
    hcd = services.receive_sample(lab.analyst, hcd, location=LAB_LOCATION)
    return {"batch": batch, "oos": investigation, "awaiting_review": endotoxin, "due_today": hcd}


def seed_laboratory(users: dict, sponsors: dict, *, password: str, car_t=None, aav=None) -> dict:
    """The laboratory at work, after the batches demo: its instruments; an HLX-101 stability study with
    four pulls tested and the next due next month; the incoming QC of the quarantined lentiviral vector;
    `car_t` (the reviewed CAR-T batch) fully tested but for its 14-day sterility; `aav` (the AAV batch)
    with an OOS in Phase II, a result awaiting review and a sample due today. The batches are given by
    the caller (the laboratory sits below the batch record). Returns what it made, by name."""
    import functools  # noqa: PLC0415

    from opencdmo.core import clock  # noqa: PLC0415

    from .models import Specification  # noqa: PLC0415

    lab = _Lab(users, password)
    days_ago = functools.partial(clock.days_ago, clock.now())
    specs = {s.code: s for s in Specification.objects.filter(status="approved").select_related("product")}
    _lab_instruments(lab, days_ago)
    made = {"study": _stability(lab, specs, days_ago), "incoming": _incoming(lab, days_ago)}
    if car_t is not None:
        made["car_t"] = _car_t_batch(lab, car_t)
    if aav is not None:
        made["aav"] = _aav_batch(lab, aav)
    return made
