"""Reads of the chain of identity and custody (patients, therapies, their material, shipments,
storage, labels, timelines), always scoped to the user's sponsors."""

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass

from django.db.models import Count, F, OuterRef, Q, Subquery, Sum
from django.urls import reverse
from django.utils import timezone

from opencdmo.core import clock
from opencdmo.core.access import require_to_see
from opencdmo.core.errors import NotFound, RuleViolation
from opencdmo.core.scoping import get_scoped, may_see_sponsor, scoped
from opencdmo.core.tasks import Task
from opencdmo.sponsors.models import Product

from . import labels
from .domain import custody, isbt128, storage, vein_to_vein
from .models import (
    Box,
    Collection,
    CustodyEvent,
    CustodyWindow,
    Freezer,
    FreezerAlarm,
    LabelPrint,
    Milestone,
    MilestoneReached,
    Patient,
    Placement,
    ProductIdentity,
    Rack,
    Shipment,
    TherapyOrder,
    TreatmentCentre,
    Unit,
)
from .workflows import order_workflow, patient_workflow

VIEW = "identity.view"


@dataclass(frozen=True)
class PrintedCoi:
    """The chain of identity identifier as printed: eye-readable text and its check character K (boxed)."""

    text: str
    check: str


def printed_coi(coi: str) -> PrintedCoi:
    identifier = isbt128.ChainOfIdentity.from_content(coi)
    return PrintedCoi(identifier.eye_readable(), identifier.check_character)


def patients_for(user, *, sponsor: str = "", centre: str = "", status: str = "", text: str = ""):
    """The patients of the user's sponsors, each with its latest order's COI and planned collection."""
    require_to_see(user, VIEW)
    latest = TherapyOrder.objects.filter(patient=OuterRef("pk")).order_by("-created_at", "-id")
    queryset = scoped(Patient.objects.select_related("sponsor", "centre"), user).annotate(
        latest_coi=Subquery(latest.values("coi")[:1]),
        latest_collection=Subquery(latest.values("planned_collection")[:1]))
    if sponsor:
        queryset = queryset.filter(sponsor__code=sponsor)
    if centre:
        queryset = queryset.filter(centre__code=centre)
    if status in patient_workflow.states:
        queryset = queryset.filter(status=status)
    if text := str(text or "").strip():
        queryset = queryset.filter(Q(number__icontains=text) | Q(subject_id__icontains=text)
                                   | Q(orders__coi__icontains=text.replace(" ", ""))).distinct()
    return queryset


def patient(user, number: str) -> Patient:
    require_to_see(user, VIEW)
    return get_scoped(Patient.objects.select_related("sponsor", "centre", "created_by"), user,
                      number=str(number).strip())


def orders_of(patient: Patient):
    return patient.orders.select_related("product", "created_by")


def order(user, number: str) -> TherapyOrder:
    require_to_see(user, VIEW)
    return get_scoped(TherapyOrder.objects.select_related("patient__sponsor", "patient__centre", "product",
                                                          "created_by"), user, number=str(number).strip())


def centres_for(user, *, active_only: bool = False):
    require_to_see(user, VIEW)
    queryset = scoped(TreatmentCentre.objects.select_related("sponsor"), user)
    return queryset.filter(is_active=True) if active_only else queryset


def centre(user, key) -> TreatmentCentre:
    """A centre by its primary key, or by its code (unique within the sponsor: 'SPONSOR/CODE' or a code
    only one of the user's sponsors uses)."""
    require_to_see(user, VIEW)
    queryset = centres_for(user)
    key = str(key or "").strip()
    if key.isdigit():
        return get_scoped(queryset, user, pk=int(key))
    sponsor_code, _, code = key.rpartition("/")
    matches = queryset.filter(code__iexact=code, **({"sponsor__code": sponsor_code} if sponsor_code else {}))
    if len(found := list(matches[:2])) != 1:
        raise NotFound(f"No single treatment centre '{key}' among those you may see: choose it from the list."
                       if found else f"No treatment centre '{key}' among those you may see.")
    return found[0]


def autologous_products(user, patient: Patient):
    """The products that may be ordered for this patient: their sponsor's autologous ones."""
    return scoped(Product.objects.select_related("program"), user).filter(
        program__sponsor=patient.sponsor_id, modality="autologous_cell")


def product(user, code: str) -> Product:
    return get_scoped(Product.objects.select_related("program"), user, code=str(code or "").strip())


def therapy_for_batch(user, reference: str, product) -> TherapyOrder:
    """The open therapy order a batch of an autologous product is made for, named by its chain of
    identity identifier as printed or typed (spaces and its check character may be included)."""
    text = "".join(str(reference or "").split()).upper()
    if len(text) == 16 and isbt128.is_valid_with_check(text):
        text = text[:15]
    order = scoped(TherapyOrder.objects.select_related("product"), user).filter(coi=text).first()
    if order is None:
        raise RuleViolation(f"No therapy order has the chain of identity identifier '{str(reference)[:40]}': give "
                            "the identifier of the patient's order (Patients → the patient).")
    if order.status != "ordered":
        raise RuleViolation(f"{order.number} is {order_workflow.label(order.status).lower()}: no batch is made for it.")
    if order.product_id != product.pk:
        raise RuleViolation(f"{order.number} orders {order.product.code}, not {product.code}.")
    return order


# --- Collections and handoffs ------------------------------------------------------------------

def printed_din(din: str) -> PrintedCoi:
    """A DIN as printed: its 13 characters grouped, and its check character K (boxed)."""
    identifier = isbt128.Din.from_content(din + "00")
    return PrintedCoi(identifier.eye_readable(), identifier.check_character)


def collections_of(order: TherapyOrder):
    return order.collections.select_related("centre", "created_by")


def collection(user, number: str) -> Collection:
    require_to_see(user, VIEW)
    return get_scoped(Collection.objects.select_related("order__patient__sponsor", "order__product", "centre",
                                                        "created_by"), user, number=str(number).strip())


def units_of(order: TherapyOrder):
    return order.units.select_related("collection")


def unit(user, number: str) -> Unit:
    require_to_see(user, VIEW)
    return get_scoped(Unit.objects.select_related("order__patient__sponsor", "order__product", "collection",
                                                  "created_by"), user, number=str(number).strip())


def custody_events(user, order: TherapyOrder):
    """The therapy's chain of custody as it happened, refused scans included, oldest first."""
    require_to_see(user, VIEW)
    return scoped(CustodyEvent.objects.select_related("unit", "shipment", "by", "verified_by", "deviation"),
                  user).filter(order=order).order_by("at", "id")


def custody_task_list(user) -> list[Task]:
    """What waits in the chain of custody for this person: shippers and bags to receive, held
    material to decide on, labelled product to release, collections due, sites' receipts to
    confirm, freezer alarms to acknowledge."""
    found = []
    if user.has_permission("identity.custody"):
        inbound = scoped(Shipment.objects.select_related("order__patient"), user).filter(
            direction=Shipment.Direction.INBOUND, units__status="in_transit").exclude(status="packing").distinct()
        found += [Task("Receive", f"{s.number} for {s.order.patient.number}",
                       f"{reverse('identity:receive')}?shipment={s.number}", s.status,
                       "Shipper on its way" if s.status == "in_transit" else "Bags to receive",
                       f"{s.courier} from {s.origin}") for s in inbound.order_by("dispatched_at", "id")[:50]]
    if user.has_permission("identity.release_for_shipment"):
        waiting = scoped(Unit.objects.select_related("order__patient"), user).filter(
            status__in=("rejected", "labeled")).order_by("status", "modified_at")[:50]
        found += [Task("Decide on held material" if u.status == "rejected" else "Release for shipment",
                       f"{u.number} for {u.order.patient.number}", reverse("identity:unit", args=[u.number]),
                       u.status, "Held" if u.status == "rejected" else "Labelled",
                       u.get_kind_display()) for u in waiting]
    if user.has_permission("identity.collect"):
        due = scoped(Collection.objects.select_related("order__patient", "centre"), user).filter(
            status="booked", planned_on__lte=clock.site_today() + dt.timedelta(days=2)).order_by("planned_on")[:50]
        found += [Task("Record the collection", f"{c.number} for {c.order.patient.number}",
                       reverse("identity:collection", args=[c.number]), "due", "Due",
                       f"planned {c.planned_on:%Y-%m-%d} at {c.centre.code}") for c in due]
        at_site = scoped(Shipment.objects.select_related("order__patient"), user).filter(
            direction=Shipment.Direction.OUTBOUND, status="in_transit").order_by("dispatched_at")[:50]
        found += [Task("Confirm receipt at the site", f"{s.number} for {s.order.patient.number}",
                       reverse("identity:shipment", args=[s.number]), s.status, "In transit",
                       f"to {s.destination}") for s in at_site]
    if user.has_permission("identity.manage_storage"):
        alarms = FreezerAlarm.objects.select_related("freezer").filter(acknowledged_at__isnull=True)
        found += [Task("Acknowledge the alarm", f"{a.freezer.code} {a.get_kind_display()}",
                       reverse("identity:freezer", args=[a.freezer.code]), "open", "Open",
                       a.value) for a in alarms.order_by("raised_at")[:50]]
    return found


# --- Shipments ---------------------------------------------------------------------------------

def shipment(user, number: str) -> Shipment:
    require_to_see(user, VIEW)
    return get_scoped(Shipment.objects.select_related("order__patient__sponsor", "order__product", "created_by"),
                      user, number=str(number).strip())


def inbound_shipment(user, reference: str) -> Shipment:
    """The shipment a handler is receiving, by its number or by a scan of its shipper label's chain
    of identity barcode (then the patient's inbound shipper on its way)."""
    text = str(reference or "").strip()
    if text.upper().startswith(f"{Shipment.number_prefix}-"):
        return shipment(user, text.upper())
    try:
        chains = [s for s in custody.read_scans(text) if isinstance(s, isbt128.ChainOfIdentity)]
    except isbt128.Isbt128Error as exc:
        raise RuleViolation(f"Type the shipment number (SHP-…) or scan the shipper label. {exc}") from None
    if not chains:
        raise RuleViolation("Scan the chain of identity barcode of the shipper label, or type the shipment number.")
    require_to_see(user, VIEW)
    found = scoped(Shipment.objects.select_related("order__patient__sponsor", "order__product"), user).filter(
        order__coi=chains[0].data_content, direction=Shipment.Direction.INBOUND, status="in_transit").order_by(
        "-dispatched_at", "-id").first()
    if found is None:
        raise NotFound(f"No inbound shipper of {chains[0].eye_readable()} is on its way: check the label, or choose "
                       "the shipment from the list.")
    return found


def shipments_for(user, *, status: str = "", direction: str = ""):
    """The shipments of the user's sponsors, newest first, by status and direction when given."""
    require_to_see(user, VIEW)
    queryset = scoped(Shipment.objects.select_related("order__patient__sponsor"), user).prefetch_related("units")
    if status:
        queryset = queryset.filter(status=status)
    if direction in Shipment.Direction.values:
        queryset = queryset.filter(direction=direction)
    return queryset


# --- Cryostorage -------------------------------------------------------------------------------

# Freezers are the CDMO's: staff see them all (identity.view_storage). The units in them are the
# sponsors': a position shows who is in it only to users who may see that unit's sponsor.
VIEW_STORAGE = "identity.view_storage"


@dataclass(frozen=True)
class StorageCell:
    position: str
    occupied: bool
    unit: str = ""  # unit number, only when the user may see the unit's sponsor
    coi: str = ""  # eye-readable chain of identity identifier, likewise


@dataclass(frozen=True)
class BoxMap:
    box: Box
    rows: list[list[StorageCell]]

    @property
    def used(self) -> int:
        return sum(cell.occupied for row in self.rows for cell in row)

    @property
    def free(self) -> int:
        return self.box.rows * self.box.columns - self.used


@dataclass(frozen=True)
class FreezerRow:
    freezer: Freezer
    capacity: int
    used: int
    open_alarms: int

    @property
    def free(self) -> int:
        return self.capacity - self.used


def _cell(user, position: str, placement: Placement | None) -> StorageCell:
    if placement is None:
        return StorageCell(position, False)
    order = placement.unit.order
    if not may_see_sponsor(user, order.patient.sponsor_id):
        return StorageCell(position, True)
    return StorageCell(position, True, placement.unit.number, printed_coi(order.coi).text)


def _box_maps(user, boxes) -> list[BoxMap]:
    boxes = list(boxes)
    placed = {(p.box_id, p.position): p for p in Placement.objects.filter(
        box__in=boxes, removed_at__isnull=True).select_related("unit__order__patient")}
    return [BoxMap(box, [[_cell(user, position, placed.get((box.pk, position))) for position in row]
                         for row in storage.grid(box.rows, box.columns)]) for box in boxes]


def freezers(user, *, active_only: bool = False) -> list[FreezerRow]:
    """Every freezer with its positions in use and free, and its open alarms."""
    require_to_see(user, VIEW_STORAGE)
    queryset = Freezer.objects.select_related("room")
    if active_only:
        queryset = queryset.filter(is_active=True)
    capacity = dict(Box.objects.values_list("rack__freezer").annotate(n=Sum(F("rows") * F("columns"))).order_by())
    used = dict(Placement.objects.filter(removed_at__isnull=True).values_list("box__rack__freezer")
                .annotate(n=Count("pk")).order_by())
    alarms = dict(FreezerAlarm.objects.filter(acknowledged_at__isnull=True).values_list("freezer")
                  .annotate(n=Count("pk")).order_by())
    return [FreezerRow(f, capacity.get(f.pk, 0), used.get(f.pk, 0), alarms.get(f.pk, 0)) for f in queryset]


def freezer(user, code: str) -> Freezer:
    require_to_see(user, VIEW_STORAGE)
    found = Freezer.objects.select_related("room", "equipment").filter(code=str(code or "").strip().upper()).first()
    if found is None:
        raise NotFound(f"No freezer '{str(code)[:32]}' is known: choose it from the freezer list.")
    return found


def freezer_map(user, freezer: Freezer) -> list[tuple[Rack, list[BoxMap]]]:
    """The freezer's racks, each with the occupancy map of its boxes."""
    require_to_see(user, VIEW_STORAGE)
    racks = list(freezer.racks.all())
    maps = _box_maps(user, Box.objects.filter(rack__freezer=freezer).select_related("rack"))
    return [(rack, [m for m in maps if m.box.rack_id == rack.pk]) for rack in racks]


def rack(user, freezer: Freezer, code: str) -> Rack:
    require_to_see(user, VIEW_STORAGE)
    found = freezer.racks.filter(code=str(code or "").strip().upper()).first()
    if found is None:
        raise NotFound(f"{freezer.code} has no rack '{str(code)[:16]}': choose it from the list.")
    return found


def racks(user):
    """The racks of the freezers in use, to choose where a new box goes."""
    require_to_see(user, VIEW_STORAGE)
    return Rack.objects.filter(freezer__is_active=True).select_related("freezer")


def box(user, code: str) -> Box:
    require_to_see(user, VIEW_STORAGE)
    found = Box.objects.select_related("rack__freezer").filter(code=str(code or "").strip().upper()).first()
    if found is None:
        raise NotFound(f"No box '{str(code)[:32]}' is known: scan the box label again.")
    return found


def occupancy(user, box: Box) -> BoxMap:
    """The box as seen from above: row by row, each position free or occupied."""
    require_to_see(user, VIEW_STORAGE)
    return _box_maps(user, [box])[0]


def alarms_of(user, freezer: Freezer, *, open_only: bool = False):
    require_to_see(user, VIEW_STORAGE)
    queryset = freezer.alarms.select_related("raised_by", "acknowledged_by", "deviation")
    return queryset.filter(acknowledged_at__isnull=True) if open_only else queryset


def alarm(user, pk) -> FreezerAlarm:
    require_to_see(user, VIEW_STORAGE)
    try:
        return FreezerAlarm.objects.select_related("freezer").get(pk=int(pk))
    except (FreezerAlarm.DoesNotExist, ValueError, TypeError):
        raise NotFound("No such freezer alarm: open the freezer's page to see its alarms.") from None


def placement_of(user, unit: Unit) -> Placement | None:
    """Where a unit of the user's sponsors is stored now, if it is."""
    unit = get_scoped(Unit, user, pk=unit.pk)
    return unit.placements.select_related("box__rack__freezer").filter(removed_at__isnull=True).first()


# --- Labels and their reconciliation -----------------------------------------------------------

def order_with_coi(user, coi: str) -> TherapyOrder:
    """The therapy order with this chain of identity identifier (an autologous batch's patient
    reference), with its patient: for the batch record's identity scans and label reconciliation."""
    return get_scoped(TherapyOrder.objects.select_related("patient__sponsor", "product"), user, coi=str(coi).strip())


def labels_for(order: TherapyOrder, *, kind: str, units=(), shipment=None) -> list[labels.Label]:
    """The labels of the given containers (or of the shipper), built from their records; what
    each kind carries is decided in identity.labels. Refuses what cannot be labelled, saying why."""
    try:
        kind = labels.LabelKind(kind)
    except ValueError:
        raise RuleViolation(f"'{str(kind)[:32]}' is not a kind of label: choose one of "
                            f"{', '.join(labels.LabelKind)}.") from None
    product = f"{order.product.code} {order.product.name}"
    if kind is labels.LabelKind.SHIPPER:
        if shipment is None or shipment.order_id != order.pk:
            raise RuleViolation(f"Choose a shipment of {order.number} to print its shipper label.")
        dins = list(shipment.units.order_by("id").values_list("din", flat=True))
        if not dins:
            raise RuleViolation(f"{shipment.number} holds no container yet: pack the units first.")
        return [labels.shipper_label(product=product, coi=order.coi, dins=dins, shipment=shipment.number)]
    units = list(units)
    if not units:
        raise RuleViolation(f"Choose the containers to print {kind.heading.lower()} labels for.")
    setting = ProductIdentity.objects.filter(product=order.product_id).first()
    sets = {}  # the containers of one kind sharing a DIN, in the order they were made
    for din, pk in Unit.objects.filter(order=order, kind=kind).order_by("id").values_list("din", "pk"):
        sets.setdefault(din, []).append(pk)
    built = []
    for unit in units:
        if unit.order_id != order.pk or unit.kind != kind:
            raise RuleViolation(f"{unit.number} is not a {kind.heading.lower()} of {order.number}.")
        if kind is labels.LabelKind.FINAL_PRODUCT_BAG and unit.expires_at is None:
            raise RuleViolation(f"{unit.number} has no expiry yet: a final product bag is labelled with it.")
        if kind is labels.LabelKind.FINAL_PRODUCT_BAG and setting is None:
            raise RuleViolation(f"The labelling of {order.product.code} is not set: set its storage conditions first.")
        siblings = sets[unit.din]
        built.append(labels.container_label(
            kind, product=product, coi=order.coi,
            din=labels.container_din(unit.din, position=siblings.index(unit.pk) + 1, of=len(siblings)),
            product_code=unit.product_code,
            expires_at=timezone.localtime(unit.expires_at) if unit.expires_at else None,
            storage=setting.storage if setting else ""))
    return built


def label_prints(user, order: TherapyOrder):
    require_to_see(user, VIEW)
    return scoped(LabelPrint.objects.select_related("unit", "shipment", "printed_by"), user).filter(order=order)


def label_print(user, pk) -> LabelPrint:
    require_to_see(user, VIEW)
    if not str(pk).isdigit() or not 0 < int(pk) < 2**63:
        raise NotFound("No label print has that number.")
    return get_scoped(LabelPrint.objects.select_related("order__patient__sponsor", "order__product", "unit",
                                                        "shipment"), user, pk=int(pk))


@dataclass(frozen=True)
class LabelCount:
    """Labels of one kind printed for a therapy and what became of them."""

    kind: str
    printed: int
    applied: int
    destroyed: int

    @property
    def unaccounted(self) -> int:
        return self.printed - self.applied - self.destroyed

    @property
    def label(self) -> str:
        return labels.LabelKind(self.kind).label


@dataclass(frozen=True)
class LabelReconciliation:
    kinds: list[LabelCount]

    @property
    def reconciled(self) -> bool:
        """Every label printed is accounted for: applied or destroyed."""
        return all(count.unaccounted == 0 for count in self.kinds)


def label_reconciliation(order: TherapyOrder) -> LabelReconciliation:
    """Per kind of label: printed = applied + destroyed, or how many are unaccounted for."""
    rows = (LabelPrint.objects.filter(order=order).values("kind")
            .annotate(printed=Sum("copies"), applied=Sum("applied"), destroyed=Sum("destroyed")).order_by("kind"))
    return LabelReconciliation([LabelCount(r["kind"], r["printed"], r["applied"], r["destroyed"]) for r in rows])


# --- Labelling settings, timeline and in-flight board ------------------------------------------

@dataclass(frozen=True)
class ProductSettings:
    """How a product's patient-specific material is labelled, and its custody windows."""

    product: Product
    identity: ProductIdentity | None
    windows: list


def therapy_products(user):
    """The autologous products of the user's sponsors: those made for one patient."""
    return scoped(Product.objects.select_related("program"), user).filter(modality="autologous_cell").order_by("code")


def product_settings(user, code: str) -> ProductSettings:
    require_to_see(user, VIEW)
    found = product(user, code)
    return ProductSettings(found, ProductIdentity.objects.filter(product=found).first(),
                           list(CustodyWindow.objects.filter(product=found).order_by("id")))


def _windows_by_product(product_ids) -> dict[int, list[vein_to_vein.Window]]:
    windows = defaultdict(list)
    for product_id, start, end, limit_hours, warn_hours in CustodyWindow.objects.filter(
            product__in=product_ids).order_by("id").values_list("product", "start", "end", "limit_hours",
                                                                "warn_hours"):
        windows[product_id].append(vein_to_vein.Window(start, end, limit_hours, warn_hours))
    return windows


def _reached(ordered_at: dt.datetime, rows) -> dict[str, dt.datetime]:
    """Milestones reached, first time each; a therapy is ordered from its creation even when no
    milestone row says so."""
    return {Milestone.ORDERED.value: ordered_at, **dict(rows)}


@dataclass(frozen=True)
class TimelineEntry:
    """A custody event (verified or refused), or a milestone reached without one."""

    at: dt.datetime
    kind: str
    event: CustodyEvent | None
    reaches_milestone: bool
    since_collection: dt.timedelta | None
    since_previous: dt.timedelta | None
    label: str = ""
    refused: bool = False

    @property
    def elapsed(self) -> str:
        """'2 d 1 h 00 min since collection · 1 h 00 min since the previous entry'."""
        parts = [f"{vein_to_vein.duration_text(abs(span))} {'before' if span < dt.timedelta(0) else 'since'} {what}"
                 for span, what in ((self.since_collection, "collection"), (self.since_previous, "the previous entry"))
                 if span is not None]
        return " · ".join(parts)

    @property
    def handoff(self) -> str:
        """Who handed what on, where, from whom to whom: 'By A, verified by B at L: X → Y'."""
        event = self.event
        if event is None:
            return ""
        text = f"By {event.by}" + (f", verified by {event.verified_by}" if event.verified_by_id else "")
        text += f" at {event.location}" if event.location else ""
        if event.from_party or event.to_party:
            text += f": {event.from_party or '—'} → {event.to_party or '—'}"
        return text


@dataclass(frozen=True)
class Timeline:
    order: TherapyOrder
    entries: list[TimelineEntry]
    windows: list[vein_to_vein.WindowState]
    vein_to_vein: dt.timedelta | None
    infused: bool

    @property
    def vein_to_vein_text(self) -> str:
        return vein_to_vein.duration_text(self.vein_to_vein)

    @property
    def window_rows(self) -> list[tuple[vein_to_vein.WindowState, str, str]]:
        """Each window's state with the names of its start and end milestones."""
        return [(s, Milestone(s.window.start).label, Milestone(s.window.end).label) for s in self.windows]


def timeline(user, number: str) -> Timeline:
    """A therapy's custody events in time order, refusals included (with who, where, from → to,
    the second person and the deviation), the milestones they reached, the time since collection
    and since the previous entry, and where each custody window of its product stands."""
    found = order(user, number)
    now = clock.now()
    reached = _reached(found.created_at, MilestoneReached.objects.filter(order=found).values_list("milestone", "at"))
    items, marked = [], set()
    for event in CustodyEvent.objects.filter(order=found).select_related(
            "by", "verified_by", "unit", "shipment", "deviation").order_by("at", "id"):
        first = (event.result == CustodyEvent.Result.VERIFIED and event.kind not in marked
                 and reached.get(event.kind) == event.at)
        if first:
            marked.add(event.kind)
        items.append((event.at, event.kind, event, first))
    items += [(at, milestone, None, True) for milestone, at in reached.items() if milestone not in marked]
    items.sort(key=lambda item: (item[0], item[2] is not None))  # stable: events keep their (at, id) order
    marks = vein_to_vein.elapsed_marks([item[0] for item in items], reached.get(Milestone.COLLECTION))
    labels = dict(Milestone.choices)
    entries = [TimelineEntry(*item, *mark, label=labels[item[1]],
                             refused=item[2] is not None and item[2].result == CustodyEvent.Result.REFUSED)
               for item, mark in zip(items, marks, strict=True)]
    windows = vein_to_vein.window_states(_windows_by_product([found.product_id])[found.product_id], reached, now)
    return Timeline(found, entries, windows, vein_to_vein.vein_to_vein(reached, now),
                    Milestone.INFUSION in reached)


@dataclass(frozen=True)
class BoardRow:
    """A therapy in flight as the board shows it."""

    number: str
    coi: str
    patient: str
    subject_id: str
    sponsor: str
    product: str
    stage: str
    since_collection: dt.timedelta | None
    windows: list
    next_window: vein_to_vein.WindowState | None
    flag: vein_to_vein.State | None
    urgency: tuple

    @property
    def stage_label(self) -> str:
        return Milestone(self.stage).label

    @property
    def days_since_collection(self) -> float | None:
        return None if self.since_collection is None else self.since_collection / vein_to_vein.DAY


def board(user, *, sponsor: str = "", product: str = "", at_risk_only: bool = False) -> list[BoardRow]:
    """Every therapy in flight of the user's sponsors (ordered, not yet infused), most urgent
    first. Reads the orders (by their in-flight index), their milestones and the windows of
    their products — never the custody events, which grow for ever."""
    require_to_see(user, VIEW)
    now = clock.now()
    orders = scoped(TherapyOrder, user).filter(status="ordered").exclude(stage=Milestone.INFUSION)
    if sponsor:
        orders = orders.filter(patient__sponsor__code=sponsor)
    if product:
        orders = orders.filter(product__code=product)
    rows = list(orders.order_by().values_list(
        "id", "number", "coi", "stage", "created_at", "product_id", "product__code", "patient__number",
        "patient__subject_id", "patient__sponsor__code"))
    windows = _windows_by_product({row[5] for row in rows})
    # Only the milestones that start or end a window, and collection (time since): half the rows.
    needed = {Milestone.COLLECTION, Milestone.INFUSION} | {
        milestone for product_windows in windows.values() for w in product_windows for milestone in (w.start, w.end)}
    reached = defaultdict(list)
    for order_id, milestone, at in MilestoneReached.objects.filter(
            order__in=orders.order_by().values("id"), milestone__in=needed).order_by().values_list(
            "order", "milestone", "at"):
        reached[order_id].append((milestone, at))
    found = []
    for order_id, number, coi, stage, created_at, product_id, product_code, patient_number, subject, sponsor_code in rows:
        milestones = _reached(created_at, reached[order_id])
        states = vein_to_vein.window_states(windows[product_id], milestones, now)
        flagged = vein_to_vein.flag(states)
        if at_risk_only and flagged is None:
            continue
        found.append(BoardRow(number, coi, patient_number, subject, sponsor_code, product_code, stage,
                              vein_to_vein.vein_to_vein(milestones, now), states, vein_to_vein.next_deadline(states),
                              flagged, (*vein_to_vein.urgency(states), number)))
    found.sort(key=lambda row: row.urgency)
    return found


