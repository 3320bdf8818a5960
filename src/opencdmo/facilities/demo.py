"""Demo data for the facilities app, built through its services (called by `opencdmo seed-demo`).

One site with grade A/B/C/D rooms, and equipment with a history: qualified and released months
ago, calibrated, maintained, cleaned and used. The history is written with the server clock
set back to when each step happened (the only place the clock is moved outside tests), so due
dates fall where a real site's would: one calibration overdue, one due soon, a pipette that
failed its calibration today (out of service, with its deviation), a biosafety cabinet clean
and in its clean hold, and a line clearance waiting for its verifier.
"""

import datetime as dt
import functools
import zlib

from opencdmo.core import clock
from opencdmo.core.signatures import SignatureInput

from . import services

AREAS = [
    ("CT", "Cell therapy suites"),
    ("VV", "Viral vector suites"),
    ("GEN", "Corridors, airlocks and staging"),
    ("QCL", "QC laboratory"),
]

# (area, code, name, grade, status)
ROOMS = [
    ("CT", "B-101", "CAR-T processing suite 1", "B", "in_operation"),
    ("CT", "A-BSC-101", "Grade A zone: biosafety cabinet 1 in B-101", "A", "in_operation"),
    ("CT", "A-BSC-102", "Grade A zone: biosafety cabinet 2 in B-101", "A", "at_rest"),
    ("CT", "B-102", "CAR-T processing suite 2", "B", "maintenance"),
    ("VV", "C-201", "AAV upstream (bioreactors)", "C", "in_operation"),
    ("VV", "C-202", "AAV downstream purification", "C", "at_rest"),
    ("GEN", "D-001", "Grade D corridors and airlocks", "D", "in_operation"),
    ("GEN", "D-002", "Material staging and cold storage", "D", "at_rest"),
    ("QCL", "U-301", "QC laboratory", "U", "in_operation"),
]

ZONES = {"A-BSC-101": "B-101", "A-BSC-102": "B-101"}  # grade A zone → the room it stands in

ROOM_STATUS_REASONS = {
    "in_operation": "routine production per the campaign schedule",
    "maintenance": "HVAC terminal HEPA filter replacement (work order WO-2291)",
}


def seed(users: dict, sponsors: dict, *, password: str) -> None:
    """users: user ID → User (see demo/management/commands/seed_demo.py); sponsors: code → Sponsor."""
    now = clock.now()
    sup, qa, olsen, garcia, admin = (users[u] for u in ("sup.santos", "qa.patel", "op.olsen", "op.garcia", "admin"))

    def sign(user, meaning, comment=""):
        return SignatureInput(meaning=meaning, password=password, username=user.username, comment=comment)

    days_ago = functools.partial(clock.days_ago, now)

    # The site, its areas and rooms, half a year ago.
    with days_ago(200, 8):
        site = services.create_site(admin, code="S1", name="OpenCDMO demo site", address="1 Cleanroom Way")
        areas = {code: services.create_area(admin, site=site, code=code, name=name) for code, name in AREAS}
        rooms = {}
        for area, code, name, grade, _ in ROOMS:
            rooms[code] = services.create_room(admin, area=areas[area], code=code, name=name, grade=grade,
                                               within=rooms.get(ZONES.get(code)))

    # (asset id, name, class, room, calibration days, tolerance, maintenance days, clean hold h, manufacturer)
    assets = [
        ("EQ-BSC-01", "Biosafety cabinet class II, BSC 1", "biosafety_cabinet", "A-BSC-101", 365,
         "downflow 0.25–0.50 m/s; HEPA leak < 0.01 %", 180, 24, "Thermo Fisher"),
        ("EQ-BSC-02", "Biosafety cabinet class II, BSC 2", "biosafety_cabinet", "A-BSC-102", 365,
         "downflow 0.25–0.50 m/s; HEPA leak < 0.01 %", 180, 24, "Thermo Fisher"),
        ("EQ-INC-01", "CO2 incubator 1", "incubator", "B-101", 180, "37.0 ± 0.5 °C; 5.0 ± 0.3 % CO2", 90, None,
         "Binder"),
        ("EQ-CEN-01", "Refrigerated centrifuge", "centrifuge", "B-101", 365, "speed ± 1 %; 4 ± 2 °C", 180, None,
         "Eppendorf"),
        ("EQ-PIP-07", "Pipette P1000", "pipette", "B-101", 90, "± 0.8 % at 1000 µL", None, None, "Gilson"),
        ("EQ-CRF-01", "Controlled-rate freezer", "controlled_rate_freezer", "B-101", 365, "± 1 °C", 365, None,
         "Cytiva"),
        ("EQ-TW-01", "Sterile tube welder", "tube_welder", "B-101", None, "", 365, None, "Terumo BCT"),
        ("EQ-BAL-01", "Analytical balance", "balance", "C-201", 30, "± 0.1 mg (check weight 100 g)", None, None,
         "Mettler Toledo"),
        ("EQ-PC-01", "Portable particle counter", "particle_counter", "D-001", 180, "counting efficiency 50 ± 20 %",
         None, None, "Particle Measuring Systems"),
        ("EQ-ULT-02", "−80 °C freezer 2", "ult_freezer", "D-002", 365, "−80 ± 5 °C", 365, None, "Thermo Fisher"),
        ("EQ-LN2-01", "LN2 vapour-phase freezer 1", "ln2_freezer", "D-002", 365, "≤ −150 °C at the top rack", 365,
         None, "Chart MVE"),
        ("EQ-FC-01", "Flow cytometer", "flow_cytometer", "U-301", 180, "CS&T bead performance check", 365, None,
         "BD Biosciences"),
        ("EQ-CC-01", "Automated cell counter", "cell_counter", "U-301", 180, "± 10 % on reference beads", 180, None,
         "ChemoMetec"),
        ("EQ-BR-01", "Stirred-tank bioreactor 50 L", "bioreactor", "C-201", 365, "pH ± 0.05; DO ± 2 %", 180, None,
         "Sartorius"),
        ("EQ-BR-02", "Stirred-tank bioreactor 200 L", "bioreactor", "C-201", 365, "pH ± 0.05; DO ± 2 %", 180, None,
         "Sartorius"),
    ]
    installed = (now - dt.timedelta(days=199)).date()
    equipment = {}
    with days_ago(198, 10):
        for number, name, kind, room, calibration, tolerance, maintenance, hold, maker in assets:
            commissioning = number == "EQ-BR-01"  # arrived later; its PQ is still to be done
            equipment[number] = services.register_equipment(
                sup, number=number, name=name, kind=kind, room=rooms[room], manufacturer=maker,
                serial_number=f"SN-{number[3:].replace('-', '')}-{zlib.crc32(number.encode()) % 90000 + 10000}",
                calibration_interval_days=calibration, calibration_tolerance=tolerance,
                maintenance_interval_days=maintenance, clean_hold_hours=hold,
                requalification_interval_days=None if commissioning else 730,
                iq_date=installed + dt.timedelta(days=150 if commissioning else 0),
                oq_date=installed + dt.timedelta(days=160 if commissioning else 1),
                pq_date=None if commissioning else installed + dt.timedelta(days=3))
    with days_ago(194, 11):
        for number, *_ in assets:
            if number == "EQ-BR-01":
                continue
            services.transition_equipment(qa, equipment[number], "qualify",
                                          signature=sign(qa, "Approved", "IQ/OQ/PQ reports reviewed"))
    # Calibrated and released for service; some recalibrated since (the particle counter 165 days
    # ago: due soon; the balance, monthly, 40 days ago: overdue).
    with days_ago(193, 9):
        for number, _, _, _, calibration, *_ in assets:
            if calibration and number != "EQ-BR-01":
                services.record_calibration(sup, equipment[number], result="pass", as_found="within tolerance",
                                            as_left="within tolerance", certificate=f"CAL-{number[3:]}-0")
    with days_ago(192, 14):
        for number, *_ in assets:
            if number != "EQ-BR-01":
                services.transition_equipment(sup, equipment[number], "release",
                                              signature=sign(sup, "Approved", "qualified and calibrated"))
    recalibrated_days_ago = {"EQ-PC-01": 165, "EQ-INC-01": 120, "EQ-CC-01": 120, "EQ-PIP-07": 85,
                             "EQ-BAL-01": 40, "EQ-FC-01": 30}
    for number, days in recalibrated_days_ago.items():
        with days_ago(days, 10):
            services.record_calibration(sup, equipment[number], result="pass", as_found="within tolerance",
                                        as_left="within tolerance", certificate=f"CAL-{number[3:]}-{days}")

    # Preventive maintenance kept on schedule.
    with days_ago(50, 13):
        services.record_maintenance(sup, equipment["EQ-INC-01"], kind="preventive",
                                    description="Door gasket inspected, HEPA filter and water pan replaced.")
    for number in ("EQ-BSC-01", "EQ-BSC-02", "EQ-CEN-01", "EQ-CC-01", "EQ-BR-01", "EQ-BR-02"):
        with days_ago(20, 15):
            services.record_maintenance(sup, equipment[number], kind="preventive",
                                        description="Preventive maintenance per the service plan; no findings.")

    # Rooms go into operation; cleaning with a disinfectant rotation.
    with days_ago(60, 7):
        for _, code, _, _, status in ROOMS:
            if status in ROOM_STATUS_REASONS:
                services.change_room_status(sup, rooms[code], status=status, reason=ROOM_STATUS_REASONS[status])
    cleanings = [  # (room, days ago, agent, type, lot)
        ("C-201", 9, "Hydrogen peroxide / peracetic acid 0.5 %", "sporicidal", "SP-24-117"),
        ("C-202", 5, "Hydrogen peroxide / peracetic acid 0.5 %", "sporicidal", "SP-24-117"),
        ("D-001", 4, "Hydrogen peroxide / peracetic acid 0.5 %", "sporicidal", "SP-24-117"),
        ("D-002", 4, "Hydrogen peroxide / peracetic acid 0.5 %", "sporicidal", "SP-24-117"),
        ("U-301", 6, "Hydrogen peroxide / peracetic acid 0.5 %", "sporicidal", "SP-24-117"),
        ("B-101", 3, "Hydrogen peroxide / peracetic acid 0.5 %", "sporicidal", "SP-24-131"),
        ("A-BSC-101", 2, "Sterile hydrogen peroxide 6 %", "sporicidal", "SP-24-131"),
        ("A-BSC-102", 2, "Sterile hydrogen peroxide 6 %", "sporicidal", "SP-24-131"),
        ("C-201", 1, "Quaternary ammonium disinfectant", "disinfectant", "QA-24-088"),
        ("D-001", 1, "Neutral detergent", "detergent", "DT-24-040"),
        ("B-101", 1, "Sterile 70 % IPA", "disinfectant", "IPA-24-512"),
        ("A-BSC-101", 1, "Sterile 70 % IPA", "disinfectant", "IPA-24-512"),
    ]
    for code, days, agent, agent_type, lot in cleanings:
        with days_ago(days, 6):
            services.record_room_cleaning(garcia, rooms[code], agent=agent, agent_type=agent_type, agent_lot=lot)

    # Yesterday: BSC 1 and the pipette used for a batch; a verified line clearance in C-201.
    with days_ago(3, 7):
        clearance = services.start_line_clearance(
            garcia, room=rooms["C-201"], for_record="NVG-201 upstream run NV-U-0003",
            checks=[{"item": item, "ok": True} for item in services.DEFAULT_LINE_CLEARANCE_CHECKS])
        services.transition_line_clearance(garcia, clearance, "perform", signature=sign(garcia, "Performed"))
        services.transition_line_clearance(sup, clearance, "verify", signature=sign(sup, "Verified"))
    with days_ago(2, 8):
        services.clean_equipment(olsen, equipment["EQ-BSC-02"], agent="Sterile 70 % IPA", agent_lot="IPA-24-512")
    with days_ago(1, 7):
        services.clean_equipment(olsen, equipment["EQ-BSC-01"], agent="Sterile 70 % IPA", agent_lot="IPA-24-512")
        for number in ("EQ-BSC-01", "EQ-PIP-07", "EQ-CEN-01"):
            use = services.log_equipment_use(olsen, equipment[number], used_for_label="HLX-101 batch HLX-B-0006")
            services.end_equipment_use(olsen, use)

    # Today (real time): the pipette fails its calibration; BSC 1 is cleaned and in its clean hold;
    # a line clearance in B-101 waits for its verifier; a freezer is quarantined; the cell counter is serviced.
    services.record_calibration(sup, equipment["EQ-PIP-07"], result="fail", as_found="1000 µL: 1012.4 µL (+1.24 %)",
                                as_left="removed from use, sent for repair", certificate="CAL-PIP-07-F",
                                notes="Gravimetric check, 10 replicates; mean outside ± 0.8 %.")
    services.clean_equipment(olsen, equipment["EQ-BSC-01"], agent="Sterile 70 % IPA", agent_lot="IPA-24-512")
    clearance = services.start_line_clearance(
        olsen, room=rooms["B-101"], for_record="HLX-101 batch HLX-B-0007",
        checks=[{"item": item, "ok": True} for item in services.DEFAULT_LINE_CLEARANCE_CHECKS],
        comments="Previous batch HLX-B-0006 labels reconciled and removed.")
    services.transition_line_clearance(olsen, clearance, "perform", signature=sign(olsen, "Performed"))
    services.transition_equipment(qa, equipment["EQ-ULT-02"], "quarantine",
                                  reason="temperature alarm −68 °C overnight; contents assessed under investigation")
    services.transition_equipment(sup, equipment["EQ-CC-01"], "start_maintenance",
                                  reason="service visit: optics cleaning and firmware update")
