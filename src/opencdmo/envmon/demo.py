"""Demo environmental monitoring: floor plans, sampling locations and plans, six weeks of results,
the site's alert and action levels, excursions and a room classification. Built through the
services (called by `opencdmo seed-demo` after the batches and before their dispositions, so the
dispositions show each batch's EM status).

The history is written with the server clock set back to each event (see facilities/demo.py): a
plate is collected, incubated at 20–25 °C, moved to 30–35 °C three days later and read two days
after that, so each event happens when a laboratory's would.
"""

import datetime as dt
import functools
from collections import defaultdict

from opencdmo.batches.models import Batch
from opencdmo.core import clock
from opencdmo.core.signatures import SignatureInput
from opencdmo.facilities import services as facilities_services
from opencdmo.facilities.models import Room

from . import services
from .domain import programme

AIR_SAMPLER = "EQ-AS-01"
PARTICLE_COUNTER = "EQ-PC-01"
FIRST_C, SECOND_C = "22.5", "32.5"

# room → (width m, length m)
FLOOR_PLANS = {"B-101": ("6.00", "8.00"), "A-BSC-101": ("1.80", "0.75"), "C-201": ("9.00", "12.00"),
               "D-001": ("3.00", "24.00")}

# (room, code, name, x %, y %, {sample type: frequency}); grade A plates per batch, its particles per shift
_A_PLATES, _A_PARTICLES = "per_batch", "per_shift"
LOCATIONS = [
    ("A-BSC-101", "A101-01", "Work zone centre", 50, 50, {"active_air": _A_PLATES, "particles_0_5": _A_PARTICLES,
                                                          "particles_5": _A_PARTICLES}),
    ("A-BSC-101", "A101-02", "Work zone left", 15, 50, {"settle_plate": _A_PLATES}),
    ("A-BSC-101", "A101-03", "Work zone right", 85, 50, {"settle_plate": _A_PLATES}),
    ("A-BSC-101", "A101-04", "Operator gloves at the cabinet", 50, 90, {"glove_print": _A_PLATES}),
    ("B-101", "B101-01", "Airlock door, inner side", 10, 90, {"settle_plate": "daily", "contact_plate": "daily"}),
    ("B-101", "B101-02", "Centrifuge bench", 80, 25, {"settle_plate": "daily", "contact_plate": "daily"}),
    ("B-101", "B101-03", "Room centre", 50, 50, {"active_air": "daily", "particles_0_5": "daily",
                                                 "particles_5": "daily"}),
    ("B-101", "B101-04", "Floor in front of BSC 1", 30, 20, {"contact_plate": "daily"}),
    ("B-101", "B101-05", "Incubator front", 85, 70, {"settle_plate": "daily"}),
    ("C-201", "C201-01", "Floor by bioreactor 200 L", 30, 40, {"contact_plate": "weekly", "settle_plate": "weekly"}),
    ("C-201", "C201-02", "Sampling station wall", 70, 35, {"contact_plate": "weekly"}),
    ("C-201", "C201-03", "Room centre", 50, 60, {"active_air": "weekly", "settle_plate": "weekly"}),
    ("C-201", "C201-04", "Return air grille", 95, 90, {"contact_plate": "weekly"}),
    ("D-001", "D001-01", "Corridor by the C-201 airlock", 50, 20, {"contact_plate": "weekly",
                                                                   "settle_plate": "weekly"}),
    ("D-001", "D001-02", "Material airlock floor", 50, 60, {"contact_plate": "weekly"}),
    ("D-001", "D001-03", "Corridor centre", 50, 85, {"active_air": "weekly", "settle_plate": "weekly"}),
    ("D-001", "D001-04", "Gowning bench", 20, 95, {"contact_plate": "weekly"}),
]

# Days (ago) the history was sampled: B-101 on each, the others on the weekly ones.
HISTORY_DAYS = (42, 38, 35, 31, 28, 24, 21, 17, 14, 10, 7)
WEEKLY_DAYS = (42, 35, 28, 21, 14, 7)
# Colonies, cycled over the days: low counts, never above the levels later computed from them.
B_SETTLE = (0, 1, 0, 2, 1, 0, 3, 1, 0, 2, 1, 0)  # the 3 falls before the levels are set
B_SETTLE_AFTER = (0, 1, 2, 0, 1)
B_CONTACT = (0, 1, 0, 0, 2, 1, 0, 1, 0, 0, 1)
CD_COUNTS = {"contact_plate": (4, 7, 2, 9, 5, 3), "settle_plate": (2, 5, 1, 3, 6, 2), "active_air": (8, 15, 6, 11, 4, 9)}
# Particles counted in 100 L of air, cycled over the days; active air samples are 1 m³.
PARTICLE_COUNTS = {("A", "particles_0_5"): (42, 65, 38, 80, 51, 47, 70, 33, 58, 61, 44),
                   ("A", "particles_5"): (0,) * 11,
                   ("B", "particles_0_5"): (2410, 3650, 2980, 4120, 3300, 2750, 3890, 3120, 2600, 3470, 2890),
                   ("B", "particles_5"): (12, 20, 9, 16, 14, 11, 18, 8, 15, 13, 10)}
PARTICLE_LITRES = "100"
AIR_LITRES = "1000"


class _Timeline:
    """Events keyed by (days ago, hour), run oldest first, each under the clock of its moment."""

    def __init__(self, now: dt.datetime):
        self.now = now
        self.events = defaultdict(list)

    def at(self, days: int, hour: int, event) -> None:
        self.events[(days, hour)].append(event)

    def run(self) -> None:
        for days, hour in sorted(self.events, key=lambda key: (-key[0], key[1])):
            with clock.days_ago(self.now, days, hour):
                for event in self.events[(days, hour)]:
                    event()


def seed(users: dict, *, password: str, car_t: Batch | None = None) -> None:
    """users: user ID → User (see demo/management/commands/seed_demo.py); car_t: the reviewed HLX-101
    batch, whose biosafety cabinet is counted while it is processed."""
    now = clock.now()
    ross, chen, olsen, garcia, patel, dubois, santos = (users[u] for u in (
        "qcr.ross", "qc.chen", "op.olsen", "op.garcia", "qa.patel", "qp.dubois", "sup.santos"))

    def sign(user, meaning, comment=""):
        return SignatureInput(meaning=meaning, password=password, username=user.username, comment=comment)

    days_ago = functools.partial(clock.days_ago, now)
    rooms = {code: Room.objects.get(code=code) for code in FLOOR_PLANS}
    with days_ago(60, 9):
        sampler = facilities_services.register_equipment(
            santos, number=AIR_SAMPLER, name="Microbial air sampler (impaction)", kind="air_sampler",
            room=rooms["B-101"], manufacturer="MBV", serial_number="SN-AS01-40417", calibration_interval_days=365,
            calibration_tolerance="airflow 100 L/min ± 5 %", requalification_interval_days=730,
            iq_date=(now - dt.timedelta(days=62)).date(), oq_date=(now - dt.timedelta(days=61)).date(),
            pq_date=(now - dt.timedelta(days=61)).date())
        facilities_services.transition_equipment(patel, sampler, "qualify", signature=sign(patel, "Approved"))
        facilities_services.record_calibration(santos, sampler, result="pass", as_found="within tolerance",
                                               as_left="within tolerance", certificate="CAL-AS-01-0")
        facilities_services.transition_equipment(santos, sampler, "release", signature=sign(santos, "Approved"))

    # The programme, set up by the EM coordinator six weeks and a half ago.
    locations = {}
    with days_ago(45, 8):
        for code, (width, length) in FLOOR_PLANS.items():
            services.set_floor_plan(ross, rooms[code], width_m=width, length_m=length,
                                    reason="floor plan from the as-built drawings for the EM programme")
        for room, code, name, x, y, frequencies in LOCATIONS:
            locations[code] = services.create_location(ross, rooms[room], code=code, name=name, x=x, y=y,
                                                       sample_types=list(frequencies))
            for sample_type, frequency in frequencies.items():
                services.create_plan(ross, locations[code], sample_type=sample_type, frequency=frequency,
                                     state="in_operation")
    plans = {(p.location.code, p.sample_type): p for location in locations.values() for p in location.plans.all()}

    timeline = _Timeline(now)
    made = {}

    def plate(code, sample_type, days, count, *, by=olsen, read=True, then=None, per_batch=False):
        """A plate collected `days` ago at 08:00, incubated, and (if `read`) read five days later."""
        def collect():
            made[(code, sample_type, days)] = services.collect_sample(
                # grade A plates are per batch; no batch ran in B-101 in these weeks, so the cabinet's
                # weekly plates were taken at rest, outside any plan
                by, location=code, sample_type=sample_type, state="at_rest" if per_batch else "in_operation",
                media_lot=f"TSA-{2600 + days}", plan=None if per_batch else plans[(code, sample_type)].pk,
                exposure_minutes=240 if sample_type == "settle_plate" else None,
                volume_litres=AIR_LITRES if sample_type == "active_air" else None,
                instrument=AIR_SAMPLER if sample_type == "active_air" else None)

        def sample():
            return made[(code, sample_type, days)]

        timeline.at(days, 8, collect)
        timeline.at(days, 11, lambda: services.start_incubation(chen, sample(), temperature_c=FIRST_C))
        if days >= 3:
            timeline.at(days - 3, 12, lambda: services.second_incubation(chen, sample(), temperature_c=SECOND_C))
        if read and days >= 5:
            timeline.at(days - 5, 13, lambda: services.read_plate(chen, sample(), count=count))
            if then is not None:
                timeline.at(days - 5, 15, lambda: then(sample()))

    def particles(code, days, index, *, hour=9):
        grade = locations[code].room.grade
        for sample_type in ("particles_0_5", "particles_5"):
            count = PARTICLE_COUNTS[(grade, sample_type)][index % 11]
            timeline.at(days, hour, functools.partial(
                services.collect_sample, garcia, location=code, sample_type=sample_type, state="in_operation",
                plan=plans[(code, sample_type)].pk, volume_litres=PARTICLE_LITRES, instrument=PARTICLE_COUNTER,
                count=count))

    # Six weeks of results, mostly low.
    for i, days in enumerate(HISTORY_DAYS):
        # read before B-101's levels came into force (8 days ago), or judged by them
        settle = B_SETTLE if days - 5 > 8 else B_SETTLE_AFTER
        for j, code in enumerate(("B101-01", "B101-02", "B101-05")):
            plate(code, "settle_plate", days, settle[(i + 2 * j) % len(settle)])
        for j, code in enumerate(("B101-01", "B101-02", "B101-04")):
            plate(code, "contact_plate", days, B_CONTACT[(i + 3 * j) % len(B_CONTACT)])
        plate("B101-03", "active_air", days, B_CONTACT[(i + 5) % len(B_CONTACT)])
        particles("B101-03", days, i)
        if days in WEEKLY_DAYS:
            w = WEEKLY_DAYS.index(days)
            for code in ("A101-02", "A101-03"):
                plate(code, "settle_plate", days, 0, per_batch=True)
            plate("A101-01", "active_air", days, 0, per_batch=True)
            plate("A101-04", "glove_print", days, 0, per_batch=True, by=garcia)
            particles("A101-01", days, i, hour=10)
            for j, (code, sample_type) in enumerate((("C201-01", "contact_plate"), ("C201-02", "contact_plate"),
                                                     ("C201-03", "active_air"), ("C201-03", "settle_plate"),
                                                     ("D001-01", "contact_plate"), ("D001-03", "active_air"),
                                                     ("D001-03", "settle_plate"), ("D001-02", "contact_plate"))):
                counts = CD_COUNTS[sample_type]
                plate(code, sample_type, days, counts[(w + j) % len(counts)] * (2 if code[0] == "D" else 1),
                      by=garcia)

    def identify(organism, method="MALDI-TOF"):
        return lambda sample: services.identify_organism(chen, sample, organism=organism, method=method,
                                                         cfu=sample.count)

    # B-101's settle-plate levels, computed from its history, reviewed and approved (in force 8 days ago);
    # C-201's contact-plate levels set by hand a month ago; D-001's waiting for the QA approver.
    def level_set(proposal, proposed, reviewed, approved, note):
        def propose():
            made[note] = services.propose_levels(ross, **proposal)

        timeline.at(*proposed, propose)
        timeline.at(*reviewed, lambda: services.transition_level_set(
            patel, made[note], "review", signature=sign(patel, "Reviewed", note)))
        if approved:
            timeline.at(*approved, lambda: services.transition_level_set(
                dubois, made[note], "approve", signature=sign(dubois, "Approved", note)))

    level_set({"grade": "C", "sample_type": "contact_plate", "state": "in_operation", "method": "manual",
               "alert": "15", "action": "25",
               "rationale": "Site levels for grade C surfaces before history accrues: action at the Annex 1 "
                            "maximum of 25 CFU/plate, alert at 60 % of it."}, (44, 9), (44, 14), (43, 10),
              "Grade C contact plates, from the Annex 1 maximum")
    level_set({"grade": "B", "room": "B-101", "sample_type": "settle_plate", "state": "in_operation",
               "method": "mean_k_sigma", "alert_k": 2, "action_k": 3,
               "rationale": "Five weeks of B-101 settle plates in operation since the programme started."},
              (9, 9), (9, 14), (8, 10), "B-101 settle plates from its history")
    level_set({"grade": "D", "sample_type": "contact_plate", "state": "in_operation", "method": "manual",
               "alert": "25", "action": "50",
               "rationale": "Grade D surfaces: action at the Annex 1 maximum of 50 CFU/plate, alert at half of it."},
              (2, 9), (1, 10), None, "Grade D contact plates, from the Annex 1 maximum")

    # An alert in B-101 last week: Micrococcus from skin, assessed and acknowledged by QA.
    plate("B101-01", "settle_plate", 9, 4, then=identify("Micrococcus luteus"))
    timeline.at(3, 10, lambda: services.acknowledge_excursion(
        patel, made[("B101-01", "settle_plate", 9)].excursions.get(kind="alert"),
        assessment="Micrococcus luteus, skin flora; an isolated result, the location's other plates within "
                   "levels. Gowning refresher for the shift; no impact on product (closed processing)."))
    # Another alert read yesterday, still open for QA; and an action excursion in C-201 (its deviation).
    plate("B101-02", "settle_plate", 6, 4)
    plate("C201-01", "contact_plate", 6, 31, by=garcia, then=identify("Bacillus cereus"))
    # Plates still incubating; one ready to read today (its second incubation is over).
    plate("B101-05", "settle_plate", 6, 0, read=False)
    for code in ("B101-01", "B101-02"):
        plate(code, "settle_plate", 1, 0, read=False)
        plate(code, "contact_plate", 0, 0, read=False)

    # B-101 at rest, classified to ISO 5 a fortnight ago and approved by the QA approver.
    def classify():
        made["classification"] = c = services.plan_classification(ross, "B-101", state="at_rest",
                                                                  instrument=PARTICLE_COUNTER)
        for point in range(1, c.location_count + 1):
            for size in c.sizes:
                services.record_reading(chen, c, point=point, size=size, volume_litres=c.sample_volume_litres,
                                        count=(point * 7) % 13 if size < 1 else point % 2)

    timeline.at(14, 7, classify)
    timeline.at(14, 16, lambda: services.complete_classification(ross, made["classification"]))
    timeline.at(13, 10, lambda: services.transition_classification(
        dubois, made["classification"], "approve", signature=sign(dubois, "Approved", "ISO 5 at rest met")))
    timeline.run()

    # The CAR-T batch's cabinet particles, counted while it was processed (read at once: its EM is met).
    if car_t is not None and car_t.started_at is not None and car_t.completed_at is not None:
        during = car_t.started_at + (car_t.completed_at - car_t.started_at) / 2
        with clock.use_clock(lambda: during):
            for sample_type in programme.PARTICLES:
                services.collect_sample(garcia, location="A101-01", sample_type=sample_type, state="in_operation",
                                        plan=plans[("A101-01", sample_type)].pk, volume_litres=PARTICLE_LITRES,
                                        instrument=PARTICLE_COUNTER, count=PARTICLE_COUNTS[("A", sample_type)][0])

    # Then, in the CAR-T suite while the next batch runs: the shift's first count at the room centre,
    # and a minute later a burst of particles above the grade B limit (352,000/m³ in operation): an
    # action excursion, its deviation, and the running batch named in it. Counted after every earlier
    # batch of the room was completed, so the window holds the running batch only.
    running = Batch.objects.filter(room=rooms["B-101"], started_at__isnull=False, completed_at__isnull=True).first()
    if running is not None:
        after = max([running.started_at, *Batch.objects.filter(room=rooms["B-101"], completed_at__isnull=False)
                     .values_list("completed_at", flat=True)])
        for minutes, count in ((1, PARTICLE_COUNTS[("B", "particles_0_5")][0]), (2, 41_250)):
            moment = after + dt.timedelta(minutes=minutes)
            with clock.use_clock(lambda moment=moment: moment):
                services.collect_sample(
                    garcia, location="B101-03", sample_type="particles_0_5", state="in_operation",
                    plan=plans[("B101-03", "particles_0_5")].pk, volume_litres=PARTICLE_LITRES,
                    instrument=PARTICLE_COUNTER, count=count,
                    comment="" if minutes == 1 else "airlock door held open during a transfer")
