"""Demo laboratory: methods, specifications, samples, results (one OOS), a stability study.
Built through the services (called by `opencdmo seed-demo`)."""


# ===== methods and specifications (seed_methods_and_specifications) =====

# (code, name, reports, unit, decimals, choices, instrument kinds, turnaround days, SOP title)
_SPEC_METHODS = [
    ("STER-2627", "Sterility, Ph. Eur. 2.6.27 automated culture (aerobic + anaerobic)", "growth", "", None, (),
     ("other",), 14, ""),
    ("MYCO-PCR", "Mycoplasma by validated PCR (Ph. Eur. 2.6.7)", "detection", "", None, (), ("other",), 2, ""),
    ("LAL-KCA", "Bacterial endotoxins, kinetic chromogenic LAL (USP <85>)", "numeric", "EU/mL", 2, (), ("other",), 1,
     ""),
    ("VIA-CC", "Viability by automated cell counter (AO/PI)", "numeric", "%", 1, (), ("cell_counter",), 1,
     "Cell counting with the automated cell counter"),
    ("CAR-FLOW", "CAR expression by flow cytometry (% CAR+ of viable CD3+)", "numeric", "%", 1, (),
     ("flow_cytometer",), 1, ""),
    ("VCN-DDPCR", "Vector copy number by ddPCR", "numeric", "copies/cell", 2, (), ("other",), 3, ""),
    ("CD3-FLOW", "Identity: CD3+ T cells by flow cytometry", "numeric", "%", 1, (), ("flow_cytometer",), 1, ""),
    ("IFNG-ELISA", "Potency: IFN-γ release on co-culture with CD19+ target cells", "numeric", "pg/mL", 0, (),
     ("other",), 3, ""),
    ("RCL-QPCR", "Replication-competent lentivirus (cell-based assay, qPCR end point)", "detection", "", None, (),
     ("other",), 21, ""),
    ("BEADS-MIC", "Residual activation beads by microscopy (per 3 × 10^6 cells)", "numeric", "beads", 0, (),
     ("other",), 1, ""),
    ("VG-DDPCR", "AAV vector genome titer by ddPCR", "numeric", "vg/mL", None, (), ("other",), 2, ""),
    ("FULL-AUC", "Full capsids by analytical ultracentrifugation", "numeric", "%", 1, (), ("other",), 5, ""),
    ("HCD-QPCR", "Residual host-cell DNA by qPCR", "numeric", "ng/dose", 1, (), ("other",), 3, ""),
    ("PH", "pH (potentiometric)", "numeric", "", 1, (), ("other",), 1, ""),
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
