"""Demo chain of identity and custody of the autologous CAR-T program (called by `opencdmo seed-demo`).

Helix's two treatment centres and three patients, each with a therapy order whose chain of
identity identifier the demo batches carry, followed from vein to vein through the services:
- HLX101-0107: collected 22 days ago, received, manufactured; the final product bags are
  labelled and in the LN2 freezer, waiting for release (at risk of its collection-to-release window);
- HLX101-0112: collected, received — after a bag of another patient was scanned by mistake and
  refused, raising a deviation — and in manufacturing;
- HLX101-0115: collection booked for next week, its DIN issued.
The LN2 freezer has racks and boxes and a low-nitrogen alarm, acknowledged, from last month.
"""

import contextlib
import datetime as dt
import functools
from decimal import Decimal

from opencdmo.core import clock
from opencdmo.core.signatures import SignatureInput
from opencdmo.facilities.models import Equipment, Room
from opencdmo.sponsors.models import Product

from . import services
from .domain import isbt128
from .models import Unit

CENTRES = [("UMC-N", "University Medical Centre North", "Oncology day unit, building C"),
           ("STJ", "St. James Cancer Institute", "Cell therapy unit, level 4")]
# (subject id, centre, days from today to the planned collection)
PATIENTS = [("HLX101-0107", "UMC-N", -22), ("HLX101-0112", "STJ", -12), ("HLX101-0115", "UMC-N", 5)]
# Product description codes are the site's own, from its licensed ICCBBA database (ISBT-0): these
# are placeholders for the demo, marked as such in the admin guide.
LABELLING = {"collection_pdc": "S9001", "final_pdc": "S9002", "collection_type": "0",
             "storage": "Store at ≤ −150 °C in the vapour phase of liquid nitrogen. Do not irradiate.",
             "shelf_life_days": 180}
# (start, end, limit in hours, warn hours before the limit): HLX-101's stability and logistics.
WINDOWS = [("collection", "receipt", 48, 12), ("receipt", "issue_to_manufacturing", 24, 6),
           ("collection", "release_for_shipment", 28 * 24, 7 * 24), ("release_for_shipment", "site_receipt", 72, 24),
           ("collection", "infusion", 35 * 24, 7 * 24)]


def label_scan(unit: Unit) -> str:
    """What a scanner reads from a container's Data Matrix: its DIN and product code."""
    din = isbt128.Din.from_content(unit.din + "00")
    din = isbt128.Din.build(din.facility, din.year, din.sequence, din.type3_flags)
    return din.text + isbt128.ProductCode.from_content(unit.product_code).text


def seed(users: dict, sponsors: dict, *, password: str) -> list:
    """The therapy orders, in the order of PATIENTS (the batches demo makes one batch for each)."""
    planner, qa = users["plan.kim"], users["qa.patel"]
    helix = sponsors["HELIX"]
    now = clock.now()
    days_ago = functools.partial(clock.days_ago, now)
    product = Product.objects.get(code="HLX-101")
    with days_ago(60):
        centres = {code: services.create_centre(planner, sponsor=helix, code=code, name=name, address=address)
                   for code, name, address in CENTRES}
        services.set_product_identity(qa, product, **LABELLING)
        for start, end, limit, warn in WINDOWS:
            services.set_window(qa, product, start=start, end=end, limit_hours=limit, warn_hours=warn)
    orders = []
    for subject_id, centre, days in PATIENTS:
        with days_ago(9 - days):
            patient = services.enroll_patient(planner, centre=centres[centre], subject_id=subject_id)
            orders.append(services.order_therapy(planner, patient, product=product,
                                                 planned_collection=clock.site_today() + dt.timedelta(days=9)))
        with days_ago(7 - days):
            services.book_collection(planner, orders[-1], planned_on=clock.site_today() + dt.timedelta(days=7))
    _custody(users, orders, password=password)
    return orders


def _custody(users: dict, orders: list, *, password: str) -> None:
    planner, handler, operator, verifier, qa = (users[u] for u in ("plan.kim", "mh.mueller", "op.olsen",
                                                                   "op.garcia", "qa.patel"))
    days_ago = functools.partial(clock.days_ago, clock.now())

    def verified(user):
        return {"verifier": user, "signature": SignatureInput(meaning="Verified", password=password,
                                                              username=user.username)}

    freezer = _freezer(users)
    first, second, _ = orders
    received = {}
    for order, days, bags in ((first, 22, 2), (second, 12, 1)):
        collection = order.collections.get()
        centre = collection.centre.name
        with days_ago(days, 9):
            units = services.record_collection(planner, collection, bags=bags)
        with days_ago(days, 13):
            shipment = services.create_shipment(planner, order, direction="inbound", units=units,
                                                courier="Cryoport Express", origin=centre,
                                                destination="OpenCDMO demo site, goods-in", logger_id=f"LG-{days}07")
            services.dispatch_shipment(planner, shipment, scanned=f"&/{order.coi}")
        with days_ago(days - 1, 8):
            services.receive_shipment(handler, shipment, scanned=f"&/{order.coi}", logger_min_c=Decimal("3.4"),
                                      logger_max_c=Decimal("6.8"), minutes_out_of_range=0, accepted=True,
                                      note="Logger within 2–8 °C for the whole journey.")
            if order is second:
                # The first patient's bag label, scanned by mistake: refused, and a deviation raised.
                with contextlib.suppress(services.CustodyMismatch):
                    services.hand_over(handler, units[0], "receipt", scanned=label_scan(received[first][0]),
                                       to_party="CDMO goods-in", location="D-002", **verified(verifier))
            for unit in units:
                services.hand_over(handler, unit, "receipt", scanned=label_scan(unit), from_party="Cryoport Express",
                                   to_party="CDMO goods-in", location="D-002", **verified(verifier))
        with days_ago(days - 2, 7):
            for unit in units:
                services.hand_over(operator, unit, "issue_to_manufacturing", scanned=label_scan(unit),
                                   from_party="CDMO goods-in", to_party="B-101 CAR-T processing suite 1",
                                   location="B-101")
        received[order] = units

    # The first patient's product: two bags filled, labelled, sampled for QC and frozen.
    with days_ago(9, 10):
        bags = services.register_final_product(operator, first, bags=2)
        services.print_labels(operator, first, kind="final_product_bag", units=bags)
        for bag in bags:
            services.hand_over(operator, bag, "final_labeling", scanned=label_scan(bag), location="B-101",
                               **verified(verifier))
        for label_print in first.label_prints.all():
            services.reconcile_labels(operator, label_print, applied=label_print.copies, destroyed=0)
        services.hand_over(operator, bags[0], "qc_sampling", scanned=label_scan(bags[0]), to_party="QC laboratory",
                           location="B-101", note="Retain and sterility samples taken from the sampling pigtail.")
    with days_ago(9, 15):
        box = freezer.racks.get(code="R1").boxes.order_by("code").first()
        for position, bag in zip(("A1", "A2"), bags, strict=True):
            services.place_unit(handler, unit_scan=label_scan(bag), position_scan=f"{box.code}/{position}")


def _freezer(users: dict):
    supervisor, handler = users["sup.santos"], users["mh.mueller"]
    days_ago = functools.partial(clock.days_ago, clock.now())
    with days_ago(120, 9):
        freezer = services.create_freezer(supervisor, code="LN2-01", name="LN2 vapour-phase freezer 1",
                                          room=Room.objects.get(code="D-002"),
                                          equipment=Equipment.objects.filter(number="EQ-LN2-01").first())
        for rack_code, boxes in (("R1", 2), ("R2", 1)):
            rack = services.add_rack(supervisor, freezer, code=rack_code)
            for n in range(1, boxes + 1):
                services.add_box(supervisor, rack, code=f"LN2-01-{rack_code}-B{n:02d}", rows=5, columns=5)
    with days_ago(33, 2):
        alarm = services.raise_alarm(handler, freezer, kind="ln2_level", value="18 % fill",
                                     note="Auto-fill valve slow to open; level alarm at night.")
    with days_ago(33, 7):
        services.acknowledge_alarm(supervisor, alarm, note="Tank changed, auto-fill valve cycled; level back to 62 %. "
                                                          "Temperature stayed below −185 °C throughout.")
    return freezer
