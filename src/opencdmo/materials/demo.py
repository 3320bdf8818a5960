"""Demo data for the materials app, built through its services (called by `opencdmo seed-demo`).

Suppliers, storage locations and the materials of the three demo programs (CD19 CAR-T,
AAV9 gene therapy, allogeneic MSC); lots received by the material handler, released or
rejected by QA with signatures, some issued; one lot waits in quarantine and one is expired.
The expired lot was received a year and a half ago: that part of the history is written with
the clock set back, through the same services.
"""

import datetime as dt

from django.core.files.uploadedfile import SimpleUploadedFile

from opencdmo.core import clock
from opencdmo.core.pdf import render_pdf
from opencdmo.core.signatures import SignatureInput

from . import services
from .models import InventoryLocation, Material
from .selectors import site_date

PASSWORD = "OpenCDMO-demo-2026"  # demo/management/commands/seed_demo.py DEMO_PASSWORD

SUPPLIERS = [
    ("CELLMED", "CellMed Media Systems"),
    ("CYTOKINE", "Cytokine Biologics GmbH"),
    ("ACTIVA", "Activa Cell Reagents"),
    ("CRYOSOL", "CryoSolutions Inc."),
    ("BAGTEC", "BagTec Medical Disposables"),
    ("PLASMIDX", "PlasmidX Manufacturing"),
    ("TRANSFX", "TransFx Reagents"),
    ("HELIXSUP", "Helix Cell Therapeutics (sponsor-supplied)", "HELIX"),
    ("PLTLYS", "PL Bioscience Lysates"),
]

LOCATIONS = [
    ("WH-STORE", "Warehouse store, 15–25 °C", InventoryLocation.Kind.STORE),
    ("WH-COLD", "Cold room 2–8 °C", InventoryLocation.Kind.COLD),
    ("FRZ-20-01", "Freezer −20 °C no. 1", InventoryLocation.Kind.FREEZER),
    ("ULT-80-01", "Ultra-low freezer −80 °C no. 1", InventoryLocation.Kind.ULT),
    ("LN2-01", "LN2 vapour tank no. 1", InventoryLocation.Kind.LN2),
    ("QUAR-01", "Quarantine store (incoming goods)", InventoryLocation.Kind.QUARANTINE),
    ("PROD-B", "Production staging, grade B suite 1", InventoryLocation.Kind.PRODUCTION),
]

C = Material.Category
S = Material.Storage

# (code, name, category, storage, unit, shelf life after opening (days), supplier codes, sponsor code)
MATERIALS = [
    # Autologous CD19 CAR-T (Helix)
    ("LV-CD19", "Lentiviral vector anti-CD19 CAR (sponsor-supplied)", C.CRITICAL_REAGENT, S.ULT, "mL", None,
     ["HELIXSUP"], "HELIX"),
    ("IL2-RH", "Recombinant human IL-2, GMP grade", C.CRITICAL_REAGENT, S.FROZEN, "IU", 28, ["CYTOKINE"], None),
    ("CD3CD28", "Anti-CD3/CD28 T-cell activation reagent", C.REAGENT, S.REFRIGERATED, "mL", 30, ["ACTIVA"], None),
    ("TCM-SF", "Serum-free T-cell expansion medium", C.RAW_MATERIAL, S.REFRIGERATED, "mL", 30, ["CELLMED"], None),
    ("CS10", "Cryopreservation medium with 10 % DMSO", C.RAW_MATERIAL, S.REFRIGERATED, "mL", 1, ["CRYOSOL"], None),
    ("CRYOBAG-250", "Cryopreservation bag 250 mL, EVA", C.CONSUMABLE, S.AMBIENT, "bag", None, ["BAGTEC"], None),
    # AAV9-SMN1 (Nordvector)
    ("PDNA-HELPER", "Plasmid pHelper, GMP-source", C.STARTING_MATERIAL, S.FROZEN, "mg", None, ["PLASMIDX"], "NORDV"),
    ("PDNA-REPCAP9", "Plasmid pRepCap9, GMP-source", C.STARTING_MATERIAL, S.FROZEN, "mg", None, ["PLASMIDX"], "NORDV"),
    ("PDNA-SMN1", "Plasmid pAAV-CB-SMN1 (transgene), GMP-source", C.STARTING_MATERIAL, S.FROZEN, "mg", None,
     ["PLASMIDX"], "NORDV"),
    ("PEI-MAX", "PEI transfection reagent", C.REAGENT, S.REFRIGERATED, "mL", 90, ["TRANSFX"], None),
    ("HEK-MED", "HEK293 suspension culture medium, chemically defined", C.RAW_MATERIAL, S.REFRIGERATED, "mL", 30,
     ["CELLMED"], None),
    # Allogeneic MSC (Stroma)
    ("MSC-MED", "MSC expansion medium, xeno-free", C.RAW_MATERIAL, S.REFRIGERATED, "mL", 14, ["CELLMED"], None),
    ("HPL", "Human platelet lysate, pathogen-reduced", C.RAW_MATERIAL, S.FROZEN, "mL", 7, ["PLTLYS"], None),
]


def _sig(username: str, meaning: str, comment: str = "") -> SignatureInput:
    return SignatureInput(meaning=meaning, password=PASSWORD, username=username, comment=comment)


def certificate_of_analysis(material: Material, supplier_code: str, supplier_lot: str, expiry) -> SimpleUploadedFile:
    pdf = render_pdf("materials/demo_certificate.html", {
        "material": material, "supplier": supplier_code, "supplier_lot": supplier_lot, "expiry": expiry})
    return SimpleUploadedFile(f"CoA-{supplier_code}-{supplier_lot}.pdf", pdf, content_type="application/pdf")


def seed(users: dict, sponsors: dict) -> None:
    """users: user ID → User (see demo/management/commands/seed_demo.py); sponsors: code → Sponsor."""
    qa, qp, handler = users["qa.patel"], users["qp.dubois"], users["mh.mueller"]
    operator, supervisor = users["op.olsen"], users["sup.santos"]
    suppliers = {code: services.create_supplier(qa, code=code, name=name, sponsor=sponsors[owner[0]] if owner else None)
                 for code, name, *owner in SUPPLIERS}
    locations = {code: services.create_location(qa, code=code, name=name, kind=kind) for code, name, kind in LOCATIONS}
    materials = {}
    for code, name, category, storage, unit, shelf_life, supplier_codes, sponsor in MATERIALS:
        materials[code] = services.create_material(
            qa, code=code, name=name, category=category, storage=storage, unit=unit,
            shelf_life_after_opening_days=shelf_life, suppliers=[suppliers[s] for s in supplier_codes],
            sponsor=sponsors[sponsor] if sponsor else None)
    disqualified = services.create_supplier(qa, code="CHEAPLAB", name="Cheap Lab Supplies Ltd.")
    services.set_supplier_approval(qa, disqualified, approved=False,
                                   reason="Supplier audit 2026-02: no change control for raw material sources")

    today = site_date(clock.now())

    def receive(code, supplier, supplier_lot, quantity, unit, *, days_to_expiry, containers=1, location="QUAR-01",
                retest_in=None, certificate=True):
        material = materials[code]
        expiry = today + dt.timedelta(days=days_to_expiry) if days_to_expiry is not None else None
        return services.receive_lot(
            handler, material=material, supplier=suppliers[supplier], supplier_lot=supplier_lot, quantity=quantity,
            unit=unit, containers=containers, location=locations[location], expiry_date=expiry,
            retest_date=today + dt.timedelta(days=retest_in) if retest_in else None,
            certificate=certificate_of_analysis(material, supplier, supplier_lot, expiry) if certificate else None)

    def release(lot, signer=qa, username="qa.patel", comment="CoA reviewed against specification; identity test passed"):
        services.transition_lot(signer, lot, "release", signature=_sig(username, "QA Released", comment))

    def put_away(lot, quantity, to, unit=""):
        services.transfer_lot(handler, lot, from_location=locations["QUAR-01"], to_location=locations[to],
                              quantity=quantity, unit=unit, reason="put away after release")

    # The expired lot: received and released 18 months ago, its expiry passed last month, some still in stock.
    past = clock.now() - dt.timedelta(days=545)
    with clock.use_clock(lambda: past):
        old = services.receive_lot(
            handler, material=materials["IL2-RH"], supplier=suppliers["CYTOKINE"], supplier_lot="IL2-24-0113",
            quantity="20", unit="MIU", containers=20, location=locations["QUAR-01"],
            expiry_date=today - dt.timedelta(days=31),
            certificate=certificate_of_analysis(materials["IL2-RH"], "CYTOKINE", "IL2-24-0113", today - dt.timedelta(days=31)))
        release(old)
        put_away(old, "20", "FRZ-20-01", "MIU")
        services.issue_lot(operator, old, location=locations["FRZ-20-01"], quantity="3", unit="MIU",
                           to=services.destination(operator, for_label="HLX-101 engineering run ER-01 (paper record)"))

    # Current stock for the CAR-T program.
    il2 = receive("IL2-RH", "CYTOKINE", "IL2-26-0042", "10", "MIU", days_to_expiry=400, containers=10)
    release(il2)
    put_away(il2, "10", "FRZ-20-01", "MIU")
    media = receive("TCM-SF", "CELLMED", "TCM-2611-07", "20", "L", days_to_expiry=180, containers=20)
    release(media, qp, "qp.dubois")
    put_away(media, "20", "WH-COLD", "L")
    beads = receive("CD3CD28", "ACTIVA", "AC-88412", "50", "mL", days_to_expiry=240, containers=5)
    release(beads)
    put_away(beads, "50", "WH-COLD")
    cs10 = receive("CS10", "CRYOSOL", "CS10-5531", "1000", "mL", days_to_expiry=21, containers=10)
    release(cs10)  # expires within 30 days: on the material handler's task list
    put_away(cs10, "1000", "WH-COLD")
    bags = receive("CRYOBAG-250", "BAGTEC", "BT-250-19-331", "100", "bag", days_to_expiry=900, containers=2,
                   location="WH-STORE")
    release(bags, qp, "qp.dubois")
    vector_old = receive("LV-CD19", "HELIXSUP", "HLX-LV-0007", "12", "mL", days_to_expiry=700, containers=12)
    release(vector_old, qp, "qp.dubois", "Sponsor CoA and QP declaration on file; titre 2.1E8 TU/mL")
    put_away(vector_old, "12", "ULT-80-01")
    # The lot in quarantine: the sponsor's newest vector lot, awaiting QA disposition.
    receive("LV-CD19", "HELIXSUP", "HLX-LV-0009", "10", "mL", days_to_expiry=730, containers=10)

    # Issues to (paper) batch records of the CAR-T program.
    run = "HLX-101 batch B-2601 (paper batch record)"
    for lot, location, quantity, unit in ((media, "WH-COLD", "2.5", "L"), (il2, "FRZ-20-01", "1", "MIU"),
                                          (beads, "WH-COLD", "5", "mL"), (vector_old, "ULT-80-01", "2", "mL"),
                                          (cs10, "WH-COLD", "100", "mL"), (bags, "WH-STORE", "4", "bag")):
        services.issue_lot(operator, lot, location=locations[location], quantity=quantity, unit=unit,
                           to=services.destination(operator, for_label=run))
    services.return_lot(operator, media, location=locations["WH-COLD"], quantity="500", unit="mL",
                        source=services.destination(operator, for_label=run), reason="unopened bottle returned")
    services.sample_lot(handler, vector_old, location=locations["ULT-80-01"], quantity="0.5",
                        reason="retained sample for sponsor")

    # AAV9 program: plasmids and transfection.
    for code, supplier_lot, quantity in (("PDNA-HELPER", "PX-H-2602", "250"), ("PDNA-REPCAP9", "PX-RC9-2602", "200"),
                                         ("PDNA-SMN1", "PX-SMN-2603", "100")):
        plasmid = receive(code, "PLASMIDX", supplier_lot, quantity, "mg", days_to_expiry=540, containers=2,
                          retest_in=365)
        release(plasmid)
        put_away(plasmid, quantity, "FRZ-20-01", "mg")
    pei = receive("PEI-MAX", "TRANSFX", "PEI-31907", "100", "mL", days_to_expiry=300, containers=1)
    release(pei, qp, "qp.dubois")
    put_away(pei, "100", "WH-COLD")
    hek = receive("HEK-MED", "CELLMED", "HEK-2612-02", "50", "L", days_to_expiry=150, containers=50)
    release(hek)
    put_away(hek, "50", "WH-COLD", "L")
    services.transition_lot(qa, hek, "hold", reason="Supplier notification 2026-11: endotoxin trend under review")

    # MSC program: one lot rejected at incoming inspection, one destroyed after rejection.
    msc_media = receive("MSC-MED", "CELLMED", "MSC-2610-11", "10", "L", days_to_expiry=120, containers=10)
    release(msc_media)
    put_away(msc_media, "10", "WH-COLD", "L")
    hpl = receive("HPL", "PLTLYS", "HPL-26-0871", "2", "L", days_to_expiry=365, containers=4)
    services.transition_lot(qp, hpl, "reject", signature=_sig("qp.dubois", "Rejected", "CoA sterility result missing"),
                            reason="Certificate incomplete: no sterility result; supplier complaint raised")
    services.destroy_lot(supervisor, hpl, location=locations["QUAR-01"], quantity="2", unit="L",
                         reason="Rejected lot destroyed as biological waste, witnessed")
    # A count discrepancy with a deviation.
    services.adjust_lot(supervisor, bags, location=locations["WH-STORE"], counted="94",
                        reason="Cycle count: two bags found damaged and discarded without record", raise_deviation=True)
