"""Small worlds of patients, therapy orders and treatment centres, built through the services."""

import datetime as dt
import itertools

from opencdmo.core import clock
from opencdmo.core.domain.roles import Role
from opencdmo.core.models import User
from opencdmo.facilities import services as facilities
from opencdmo.facilities.models import Area, Room, Site
from opencdmo.identity import services
from opencdmo.identity.domain import isbt128, storage
from opencdmo.identity.models import Box, Freezer, Shipment, TherapyOrder, TreatmentCentre, Unit
from opencdmo.sponsors.models import Product
from tests.processes.builders import person

_subjects = itertools.count(1)
COLLECTION = dt.date(2026, 4, 1)


def centre(user, sponsor, code: str = "UKL") -> TreatmentCentre:
    """The sponsor's centre `code`, added by `user` (who may manage centres) the first time."""
    existing = TreatmentCentre.objects.filter(sponsor=sponsor, code=code).first()
    return existing or services.create_centre(user, sponsor=sponsor, code=code, name=f"University Hospital {code}",
                                              address="1 Hospital Road")


def patient(user, sponsor, subject_id: str = "", *, at: TreatmentCentre | None = None):
    return services.enroll_patient(user, centre=at or centre(user, sponsor),
                                   subject_id=subject_id or f"SUBJ-{next(_subjects):04d}")


def autologous_product(sponsor) -> Product:
    return Product.objects.get(program__sponsor=sponsor, modality="autologous_cell")


def order(user, patient, *, product: Product | None = None, planned_collection=COLLECTION):
    return services.order_therapy(user, patient, product=product or autologous_product(patient.sponsor),
                                  planned_collection=planned_collection)


def planner(sponsor) -> User:
    username = f"{sponsor.code.lower()}.coi.planner"
    return User.objects.filter(username=username).first() or person(username, Role.PLANNER, sponsor)


def patient_for_sponsor(author, sponsor, title: str) -> str:
    """A patient of the sponsor enrolled by its planner (RECORD_BUILDERS signature → patient number)."""
    return patient(planner(sponsor), sponsor).number


def order_for_sponsor(author, sponsor, title: str) -> str:
    """A therapy order (with its COI) for a new patient of the sponsor (→ order number).

    The sponsor needs an autologous product: sponsor B's fixture has none, so one is added."""
    if not Product.objects.filter(program__sponsor=sponsor, modality="autologous_cell").exists():
        program = sponsor.programs.first()
        Product.objects.create(program=program, code=f"{sponsor.code}-AUTO"[:32],
                               name=f"Autologous therapy {title}"[:200], modality="autologous_cell", phase="phase_1")
    enrolling = planner(sponsor)
    return order(enrolling, patient(enrolling, sponsor)).number


# --- Cryostorage: freezers with racks and boxes, and units to store ---------------------------
def storage_room(manager):
    """The cryostore room, added the first time (the manager needs facilities.manage_rooms)."""
    if room := Room.objects.filter(code="D-CRYO").first():
        return room
    site = Site.objects.first() or facilities.create_site(manager, code="CRYO", name="Cryostore site")
    area = Area.objects.filter(code="CRYO").first() or facilities.create_area(manager, site=site, code="CRYO",
                                                                              name="Cryostore")
    return facilities.create_room(manager, area=area, code="D-CRYO", name="Cryostore", grade="D")


def freezer(manager, code: str = "LN2-01", *, racks: int = 1, boxes: int = 1, rows: int = 5, columns: int = 5):
    """A freezer with racks R1… each holding boxes <code>-R<n>-B01…, added by `manager`
    (identity.manage_storage and facilities.manage_rooms: a supervisor)."""
    added = services.create_freezer(manager, code=code, name=f"LN2 freezer {code}", room=storage_room(manager))
    for r in range(1, racks + 1):
        rack = services.add_rack(manager, added, code=f"R{r}")
        for b in range(1, boxes + 1):
            services.add_box(manager, rack, code=f"{code}-R{r}-B{b:02d}", rows=rows, columns=columns)
    return added


def unit(order):
    """A collection bag of the therapy, collected through the services (a new collection each call)."""
    return collected(order)[0]


def unit_scan(unit) -> list[str]:
    """The two Code 128 symbols of the unit's label, scanned one after the other."""
    din = isbt128.Din.from_content(unit.din + "00")
    return [din.text, isbt128.ProductCode.from_content(unit.product_code).text]


def storage_manager(sponsor) -> User:
    """A supervisor of the sponsor: manages storage (and rooms), places and retrieves units."""
    username = f"{sponsor.code.lower()}.storage.sup"
    return User.objects.filter(username=username).first() or person(username, Role.SUPERVISOR, sponsor)


def unit_for_sponsor(author, sponsor, title: str) -> str:
    """A unit of a new therapy of the sponsor, not stored (→ unit number)."""
    return unit(TherapyOrder.objects.get(number=order_for_sponsor(author, sponsor, title))).number


def stored_unit_for_sponsor(author, sponsor, title: str) -> str:
    """A unit of a new therapy of the sponsor placed in the first free position of freezer LN2-01,
    made the first time (→ unit number): what another sponsor's user sees only as 'occupied'."""
    manager = storage_manager(sponsor)
    store = Freezer.objects.filter(code="LN2-01").first() or freezer(manager)
    box = Box.objects.filter(rack__freezer=store).order_by("code").first()
    used = set(box.placements.filter(removed_at__isnull=True).values_list("position", flat=True))
    position = next(p for row in storage.grid(box.rows, box.columns) for p in row if p not in used)
    number = unit_for_sponsor(author, sponsor, title)
    services.place_unit(manager, unit_scan=number, position_scan=f"{box.code}/{position}")
    return number


# --- Vein-to-vein: custody windows and a therapy's way, at times the test chooses --------------


def windows(product, *limits):
    """Custody windows of the product, (start, end, limit_hours, warn_hours) each, set by its planner."""
    configurer = planner(product.program.sponsor)
    return [services.set_window(configurer, product, start=start, end=end, limit_hours=limit, warn_hours=warn)
            for start, end, limit, warn in limits]


def reach(order, *steps, clock, by=None):
    """Verified custody events of the therapy, (milestone, hours after the previous step) each,
    with the fake clock moved on before each: the milestones are reached at those times."""
    actor, events = by or order.created_by, []
    for kind, hours in steps:
        clock.advance(hours=hours)
        events.append(services.record_event(actor, order, kind, location="Test site", from_party="Sender",
                                            to_party="Receiver"))
    return events


def refused_scan(actor, order, *, kind: str = "receipt"):
    """A scan of another therapy's identifier at a handoff of `order`: refused, with its deviation."""
    other = TherapyOrder.objects.exclude(pk=order.pk).filter(product=order.product).first() or services.order_therapy(
        order.created_by, patient(order.created_by, order.patient.sponsor), product=order.product,
        planned_collection=COLLECTION)
    try:
        services.verify_scan(actor, order, isbt128.ChainOfIdentity.from_content(other.coi).text, kind=kind,
                             location="Goods-in")
    except services.CustodyMismatch as refused:
        return refused.event
    raise AssertionError("the scan of another therapy was not refused")


# --- Collections, handoffs and shipments: a therapy's material moved through the services -----
def custody_person(sponsor, role: Role, name: str) -> User:
    username = f"{sponsor.code.lower()}.custody.{name}"
    return User.objects.filter(username=username).first() or person(username, role, sponsor)


def handler(sponsor) -> User:
    """Moves material and ships it (identity.custody, identity.ship, identity.verify_custody)."""
    return custody_person(sponsor, Role.MATERIAL_HANDLER, "handler")


def second(sponsor) -> User:
    """The second person of critical handoffs (an operator: identity.verify_custody)."""
    return custody_person(sponsor, Role.OPERATOR, "second")


def qa(sponsor) -> User:
    """Releases for shipment (identity.release_for_shipment), and may verify custody."""
    return custody_person(sponsor, Role.QA_SPECIALIST, "qa")


def verified(verifier, password: str = "") -> dict:
    """hand_over / dispatch_shipment keywords for `verifier` signing 'Verified' with their user ID and password."""
    from opencdmo.core.signatures import SignatureInput  # noqa: PLC0415
    from tests.conftest import PASSWORD  # noqa: PLC0415

    return {"verifier": verifier, "signature": SignatureInput(meaning="Verified", password=password or PASSWORD,
                                                             username=verifier.username)}


def labelled(product):
    """The product's ISBT 128 labelling, set by its sponsor's planner the first time."""
    from opencdmo.identity.models import ProductIdentity  # noqa: PLC0415

    return ProductIdentity.objects.filter(product=product).first() or services.set_product_identity(
        planner(product.program.sponsor), product, collection_pdc="S1234", final_pdc="S5678", collection_type="1",
        storage="Store at ≤ −150 °C", shelf_life_days=180)


def booked(order, *, planned_on=None):
    """A collection booked for `planned_on`, by default today (the site's, by the test clock)."""
    labelled(order.product)
    return services.book_collection(planner(order.patient.sponsor), order,
                                    planned_on=planned_on or clock.site_today())


def collected(order, *, bags: int = 1):
    """A collection of `bags` bags, booked and recorded: the units, at the centre."""
    return services.record_collection(planner(order.patient.sponsor), booked(order), bags=bags)


def received(order, *, bags: int = 1):
    """Collection bags picked up by the courier and received at the CDMO, each verified by a second person."""
    sponsor = order.patient.sponsor
    units = collected(order, bags=bags)
    for unit in units:
        services.hand_over(planner(sponsor), unit, "courier_pickup", scanned=unit_scan(unit), to_party="Courier")
        services.hand_over(handler(sponsor), unit, "receipt", scanned=unit_scan(unit), to_party="CDMO goods-in",
                           **verified(second(sponsor)))
    return [Unit.objects.get(pk=unit.pk) for unit in units]


def filled(order, *, bags: int = 1):
    """The final product registered after the collected material went into manufacturing."""
    sponsor = order.patient.sponsor
    for unit in received(order):
        services.hand_over(handler(sponsor), unit, "issue_to_manufacturing", scanned=unit_scan(unit),
                           to_party="Suite B-1")
    return services.register_final_product(handler(sponsor), order, bags=bags)


def released(order, *, bags: int = 1):
    """Final product bags labelled and released for shipment, each with its second person."""
    sponsor = order.patient.sponsor
    units = filled(order, bags=bags)
    for unit in units:
        services.hand_over(handler(sponsor), unit, "final_labeling", scanned=unit_scan(unit),
                           **verified(second(sponsor)))
        services.hand_over(qa(sponsor), unit, "release_for_shipment", scanned=unit_scan(unit),
                           **verified(second(sponsor)))
    return [Unit.objects.get(pk=unit.pk) for unit in units]


def shipper_scan(order) -> str:
    """The shipper label's chain of identity barcode."""
    return isbt128.ChainOfIdentity.from_content(order.coi).text


def outbound(order, *, bags: int = 1):
    """A packed shipper of released final product to the patient's centre."""
    sponsor = order.patient.sponsor
    return services.create_shipment(handler(sponsor), order, direction="outbound", units=released(order, bags=bags),
                                     courier="Cryoport", origin="CDMO", destination=order.patient.centre.name,
                                     logger_id="LOG-1")


def collection_for_sponsor(author, sponsor, title: str) -> str:
    """A booked collection of a new therapy of the sponsor (→ collection number)."""
    return booked(TherapyOrder.objects.get(number=order_for_sponsor(author, sponsor, title))).number


def collected_unit_for_sponsor(author, sponsor, title: str) -> str:
    """A collection bag of a new therapy of the sponsor, at the centre (→ unit number)."""
    return collected(TherapyOrder.objects.get(number=order_for_sponsor(author, sponsor, title)))[0].number


def shipment_for_sponsor(author, sponsor, title: str) -> str:
    """An inbound shipper packed with a new therapy's collection bag (→ shipment number)."""
    order = TherapyOrder.objects.get(number=order_for_sponsor(author, sponsor, title))
    return services.create_shipment(planner(sponsor), order, direction="inbound", units=collected(order),
                                    courier="World Courier", origin=order.patient.centre.name, destination="CDMO",
                                    logger_id="LOG-7").number


# --- Receiving: what a scanner types, and a shipper on its way ----------------------------------

def datamatrix(unit) -> str:
    """What a scanner types from the unit label's Data Matrix: a compound message of the DIN, the
    product code and the chain of identity identifier (ISBT-8)."""
    structures = (isbt128.Din.from_content(unit.din + "00"), isbt128.ProductCode.from_content(unit.product_code),
                  isbt128.ChainOfIdentity.from_content(unit.order.coi))
    return isbt128.CompoundMessage(len(structures)).text + "".join(s.text for s in structures)


def inbound_shipment(order, *, bags: int = 1, received: bool = True) -> Shipment:
    """An inbound shipper of the therapy's collection bags, dispatched by the courier and, when
    `received`, its shipper received at the CDMO (logger read): each bag awaits its own receipt."""
    sponsor = order.patient.sponsor
    shipment = services.create_shipment(planner(sponsor), order, direction="inbound",
                                        units=collected(order, bags=bags), courier="World Courier",
                                        origin=order.patient.centre.name, destination="CDMO", logger_id="LOG-7")
    services.dispatch_shipment(planner(sponsor), shipment, scanned=shipper_scan(order))
    if received:
        services.receive_shipment(handler(sponsor), shipment, scanned=shipper_scan(order),
                                  logger_min_c="-182.0", logger_max_c="-160.5", minutes_out_of_range=0, accepted=True)
    return Shipment.objects.get(pk=shipment.pk)


def held(order) -> Unit:
    """A collection bag whose shipper was rejected at receipt (warm on arrival): held for QA's decision."""
    shipment = inbound_shipment(order, received=False)
    services.receive_shipment(handler(order.patient.sponsor), shipment, scanned=shipper_scan(order),
                              logger_min_c="-120.5", logger_max_c="-60.0", minutes_out_of_range=95, accepted=False,
                              note="Dry shipper warm on arrival.")
    return Unit.objects.get(shipments=shipment)


def held_unit_for_sponsor(author, sponsor, title: str) -> str:
    """A held unit of a new therapy of the sponsor (→ unit number)."""
    return held(TherapyOrder.objects.get(number=order_for_sponsor(author, sponsor, title))).number
