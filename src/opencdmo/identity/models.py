"""Patients, their therapies and every unit of their material: the chain of identity and custody.

A patient is known by the sponsor's pseudonymized subject id only (no more personal data than
needed; the date of birth is optional). Each patient therapy event (an order) gets one Chain of
Identity Identifier (ISBT 128 DS040) that every label, custody event and batch of that therapy
carries. Each collection gets a DIN; each container (unit) is a DIN and a product code with its
division. Every handoff of a unit is a custody event, kept for ever, refusals included."""

from django.db import models
from django.db.models import Q

from opencdmo.core.models import Record, User
from opencdmo.facilities.models import Equipment, Room
from opencdmo.quality.models import Deviation
from opencdmo.sponsors.models import Product, Sponsor


class Milestone(models.TextChoices):
    """The points of a therapy's way from vein to vein, in order; custody events reach them."""

    ORDERED = "ordered", "Ordered"
    COLLECTION = "collection", "Collection"
    COURIER_PICKUP = "courier_pickup", "Courier pickup"
    RECEIPT = "receipt", "Receipt at the CDMO"
    ISSUE_TO_MANUFACTURING = "issue_to_manufacturing", "Issue to manufacturing"
    QC_SAMPLING = "qc_sampling", "QC sampling"
    CRYO_IN = "cryo_in", "Into cryostorage"
    CRYO_OUT = "cryo_out", "Out of cryostorage"
    FINAL_LABELING = "final_labeling", "Final labeling"
    RELEASE_FOR_SHIPMENT = "release_for_shipment", "Release for shipment"
    SHIPMENT = "shipment", "Shipment"
    SITE_RECEIPT = "site_receipt", "Receipt at the treatment site"
    INFUSION = "infusion", "Infusion"


class TreatmentCentre(models.Model):
    """A hospital that collects a sponsor's patients' cells and infuses the product."""

    sponsor = models.ForeignKey(Sponsor, on_delete=models.PROTECT, related_name="treatment_centres")
    code = models.CharField(max_length=16)
    name = models.CharField(max_length=200)
    address = models.TextField(blank=True)
    is_active = models.BooleanField(default=True)
    version = models.PositiveIntegerField(default=1)

    sponsor_scope = "sponsor"

    class Meta:
        ordering = ["sponsor", "code"]
        constraints = [models.UniqueConstraint(fields=["sponsor", "code"], name="one_centre_code_per_sponsor")]

    def __str__(self):
        return f"{self.code} {self.name}"


class Patient(Record):
    number_prefix = "PT"

    sponsor = models.ForeignKey(Sponsor, on_delete=models.PROTECT, related_name="patients")
    subject_id = models.CharField("subject id", max_length=32, help_text="the sponsor's pseudonymized id")
    centre = models.ForeignKey(TreatmentCentre, on_delete=models.PROTECT, related_name="patients")
    date_of_birth = models.DateField(null=True, blank=True)

    sponsor_scope = "sponsor"
    draft_states = ("enrolled",)

    class Meta:
        ordering = ["sponsor", "subject_id"]
        constraints = [models.UniqueConstraint(fields=["sponsor", "subject_id"], name="one_subject_id_per_sponsor")]

    def __str__(self):
        return f"{self.number} ({self.subject_id})"


class TherapyOrder(Record):
    """One patient-specific therapy: its chain of identity identifier, issued once, never reused."""

    number_prefix = "ORD"

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="orders")
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="therapy_orders")
    coi = models.CharField("chain of identity identifier", max_length=15, unique=True,
                           help_text="the 15-character DS040 content, 'CH' + issuer FIN + year + sequence")
    planned_collection = models.DateField()
    # The furthest milestone reached (custody events move it on): what the in-flight board filters by.
    stage = models.CharField(max_length=32, choices=Milestone.choices, default=Milestone.ORDERED)

    sponsor_scope = "patient__sponsor"
    draft_states = ("ordered",)
    signature_exclude = (*Record.signature_exclude, "stage")

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["status", "stage"], name="order_in_flight_idx")]


class IdentifierSequence(models.Model):
    """The last sequence issued per structure (chain of identity identifier or DIN), issuer and
    year; row-locked while issuing, so no identifier is ever issued twice."""

    class Structure(models.TextChoices):
        COI = "coi", "Chain of identity identifier"
        DIN = "din", "Donation identification number"

    structure = models.CharField(max_length=8, choices=Structure.choices, default=Structure.COI)
    issuer = models.CharField(max_length=5)
    year = models.CharField(max_length=2)
    last = models.CharField(max_length=6)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["structure", "issuer", "year"],
                                               name="one_identifier_sequence_per_year")]


class ProductIdentity(models.Model):
    """How a patient-specific product is labelled: the product description codes the site holds
    from its licensed ISBT 128 tables (ISBT-5), storage text and shelf life of the final product."""

    product = models.OneToOneField(Product, on_delete=models.PROTECT, related_name="identity_settings")
    collection_pdc = models.CharField("collection product description code", max_length=5)
    final_pdc = models.CharField("final product description code", max_length=5)
    collection_type = models.CharField(max_length=1, default="0")
    storage = models.CharField(max_length=200, default="Store at ≤ −150 °C in the vapour phase of liquid nitrogen")
    shelf_life_days = models.PositiveIntegerField(default=180)
    version = models.PositiveIntegerField(default=1)

    sponsor_scope = "product__program__sponsor"

    def __str__(self):
        return f"Labelling of {self.product.code}"


class CustodyWindow(models.Model):
    """A limit between two milestones of a product's therapies, e.g. collection to receipt within
    48 h; the in-flight board flags a therapy whose window is at risk (warn_hours before its end)
    or missed. Each product's own, because each process has its own stability data."""

    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="custody_windows")
    start = models.CharField(max_length=32, choices=Milestone.choices)
    end = models.CharField(max_length=32, choices=Milestone.choices)
    limit_hours = models.PositiveIntegerField()
    warn_hours = models.PositiveIntegerField(default=0)
    version = models.PositiveIntegerField(default=1)

    sponsor_scope = "product__program__sponsor"

    class Meta:
        ordering = ["product", "id"]
        constraints = [models.UniqueConstraint(fields=["product", "start", "end"], name="one_window_per_milestones")]

    def __str__(self):
        return f"{self.product.code}: {self.get_start_display()} → {self.get_end_display()} ≤ {self.limit_hours} h"


class MilestoneReached(models.Model):
    """When a therapy first reached a milestone: what the board reads instead of the events."""

    order = models.ForeignKey(TherapyOrder, on_delete=models.PROTECT, related_name="milestones")
    milestone = models.CharField(max_length=32, choices=Milestone.choices)
    at = models.DateTimeField()

    sponsor_scope = "order__patient__sponsor"

    class Meta:
        ordering = ["order", "at", "id"]
        constraints = [models.UniqueConstraint(fields=["order", "milestone"], name="milestone_reached_once")]


class Collection(Record):
    """One apheresis collection for a therapy, booked ahead; its DIN is issued when it is booked
    so the centre can print the bag labels before the collection."""

    number_prefix = "COL"

    order = models.ForeignKey(TherapyOrder, on_delete=models.PROTECT, related_name="collections")
    centre = models.ForeignKey(TreatmentCentre, on_delete=models.PROTECT, related_name="collections")
    din = models.CharField("DIN", max_length=13, unique=True, help_text="facility + year + sequence (ISBT-3)")
    planned_on = models.DateField()
    collected_at = models.DateTimeField(null=True, blank=True)

    sponsor_scope = "order__patient__sponsor"
    draft_states = ("booked",)

    class Meta:
        ordering = ["order", "planned_on", "id"]


class Unit(Record):
    """A container of one patient's material: a collection bag, an intermediate container, a
    final product bag. Known by its DIN and product code (with division); `status` is where it is."""

    class Kind(models.TextChoices):
        COLLECTION_BAG = "collection_bag", "Collection bag"
        INTERMEDIATE_CONTAINER = "intermediate_container", "Intermediate container"
        FINAL_PRODUCT_BAG = "final_product_bag", "Final product bag"

    number_prefix = "UN"

    order = models.ForeignKey(TherapyOrder, on_delete=models.PROTECT, related_name="units")
    collection = models.ForeignKey(Collection, on_delete=models.PROTECT, null=True, blank=True, related_name="units")
    kind = models.CharField(max_length=32, choices=Kind.choices)
    din = models.CharField("DIN", max_length=13)
    product_code = models.CharField(max_length=8, help_text="data content of the product code, division included")
    expires_at = models.DateTimeField(null=True, blank=True)
    holder = models.CharField(max_length=200, blank=True, help_text="who or where holds it now")

    sponsor_scope = "order__patient__sponsor"
    draft_states = ()

    class Meta:
        ordering = ["order", "id"]
        constraints = [models.UniqueConstraint(fields=["din", "product_code"], name="one_unit_per_din_and_product")]


class Shipment(Record):
    """A shipper carrying units of one therapy: inbound (centre → CDMO) or outbound (CDMO →
    treatment site), with the summary of its temperature logger and its acceptance at receipt."""

    class Direction(models.TextChoices):
        INBOUND = "inbound", "Collection to the CDMO"
        OUTBOUND = "outbound", "Product to the treatment site"

    number_prefix = "SHP"

    order = models.ForeignKey(TherapyOrder, on_delete=models.PROTECT, related_name="shipments")
    direction = models.CharField(max_length=16, choices=Direction.choices)
    units = models.ManyToManyField(Unit, related_name="shipments")
    courier = models.CharField(max_length=200)
    origin = models.CharField(max_length=200)
    destination = models.CharField(max_length=200)
    logger_id = models.CharField(max_length=64, blank=True)
    dispatched_at = models.DateTimeField(null=True, blank=True)
    received_at = models.DateTimeField(null=True, blank=True)
    # The logger summary read at receipt, and the receiver's decision on it.
    logger_min_c = models.DecimalField(max_digits=6, decimal_places=1, null=True, blank=True)
    logger_max_c = models.DecimalField(max_digits=6, decimal_places=1, null=True, blank=True)
    minutes_out_of_range = models.PositiveIntegerField(null=True, blank=True)
    accepted = models.BooleanField(null=True, blank=True)
    acceptance_note = models.TextField(blank=True)

    sponsor_scope = "order__patient__sponsor"
    draft_states = ("packing",)

    class Meta:
        ordering = ["-created_at", "-id"]


class CustodyEvent(models.Model):
    """One handoff of a unit (or a shipper), as it happened: who, where, when, from → to, what was
    scanned and whether it matched. Never changed; a refused scan is kept with its deviation and
    moves nothing on."""

    class Result(models.TextChoices):
        VERIFIED = "verified", "Verified"
        REFUSED = "refused", "Refused: mismatch"

    order = models.ForeignKey(TherapyOrder, on_delete=models.PROTECT, related_name="custody_events")
    unit = models.ForeignKey(Unit, on_delete=models.PROTECT, null=True, blank=True, related_name="custody_events")
    shipment = models.ForeignKey(Shipment, on_delete=models.PROTECT, null=True, blank=True,
                                 related_name="custody_events")
    kind = models.CharField(max_length=32, choices=Milestone.choices)
    at = models.DateTimeField()
    by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    verified_by = models.ForeignKey(User, on_delete=models.PROTECT, null=True, blank=True, related_name="+",
                                    help_text="the second person of a critical handoff")
    from_party = models.CharField(max_length=200, blank=True)
    to_party = models.CharField(max_length=200, blank=True)
    location = models.CharField(max_length=200, blank=True)
    scanned = models.TextField(blank=True, help_text="exactly what was scanned or typed")
    result = models.CharField(max_length=16, choices=Result.choices)
    problem = models.TextField(blank=True, help_text="why a scan was refused")
    deviation = models.ForeignKey(Deviation, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    note = models.TextField(blank=True)

    sponsor_scope = "order__patient__sponsor"

    class Meta:
        ordering = ["order", "at", "id"]
        indexes = [models.Index(fields=["order", "at"], name="custody_order_at_idx")]


class Freezer(models.Model):
    """A liquid nitrogen (or −80 °C) freezer of the CDMO: racks of boxes of positions."""

    code = models.CharField(max_length=32, unique=True)
    name = models.CharField(max_length=200)
    room = models.ForeignKey(Room, on_delete=models.PROTECT, related_name="freezers")
    equipment = models.OneToOneField(Equipment, on_delete=models.PROTECT, null=True, blank=True,
                                     related_name="freezer")
    alarm_above_c = models.DecimalField(max_digits=6, decimal_places=1, default=-150)
    is_active = models.BooleanField(default=True)
    version = models.PositiveIntegerField(default=1)

    sponsor_scope = None

    class Meta:
        ordering = ["code"]

    def __str__(self):
        return f"{self.code} {self.name}"


class Rack(models.Model):
    freezer = models.ForeignKey(Freezer, on_delete=models.PROTECT, related_name="racks")
    code = models.CharField(max_length=16)
    version = models.PositiveIntegerField(default=1)

    sponsor_scope = None

    class Meta:
        ordering = ["freezer", "code"]
        constraints = [models.UniqueConstraint(fields=["freezer", "code"], name="one_rack_code_per_freezer")]

    def __str__(self):
        return f"{self.freezer.code}/{self.code}"


class Box(models.Model):
    """A box of `rows` × `columns` positions, named A1 … by row letter and column number. Its code
    is unique across the site: a position's barcode is the box code, '/', the position."""

    rack = models.ForeignKey(Rack, on_delete=models.PROTECT, related_name="boxes")
    code = models.CharField(max_length=32, unique=True)
    rows = models.PositiveSmallIntegerField(default=5)
    columns = models.PositiveSmallIntegerField(default=5)
    version = models.PositiveIntegerField(default=1)

    sponsor_scope = None

    class Meta:
        ordering = ["rack", "code"]

    def __str__(self):
        return self.code


class Placement(models.Model):
    """A unit in a box position from `placed_at` until `removed_at`. The database refuses a second
    unit in an occupied position and a unit in two positions at once (the partial unique
    constraints hold under concurrent placement, on SQLite and PostgreSQL)."""

    unit = models.ForeignKey(Unit, on_delete=models.PROTECT, related_name="placements")
    box = models.ForeignKey(Box, on_delete=models.PROTECT, related_name="placements")
    position = models.CharField(max_length=4)
    placed_at = models.DateTimeField()
    placed_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    removed_at = models.DateTimeField(null=True, blank=True)
    removed_by = models.ForeignKey(User, on_delete=models.PROTECT, null=True, blank=True, related_name="+")

    sponsor_scope = "unit__order__patient__sponsor"

    class Meta:
        ordering = ["box", "position", "placed_at"]
        constraints = [
            models.UniqueConstraint(fields=["box", "position"], condition=Q(removed_at__isnull=True),
                                    name="one_unit_per_position"),
            models.UniqueConstraint(fields=["unit"], condition=Q(removed_at__isnull=True),
                                    name="one_position_per_unit"),
        ]


class FreezerAlarm(models.Model):
    """An alarm of a freezer (temperature, nitrogen level, lid), acknowledged by a person."""

    class Kind(models.TextChoices):
        TEMPERATURE = "temperature", "Temperature above the alarm limit"
        LN2_LEVEL = "ln2_level", "Liquid nitrogen level low"
        LID = "lid", "Lid open too long"
        POWER = "power", "Power or controller failure"

    freezer = models.ForeignKey(Freezer, on_delete=models.PROTECT, related_name="alarms")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    value = models.CharField(max_length=64, blank=True, help_text="the reading, e.g. −128 °C")
    raised_at = models.DateTimeField()
    raised_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(User, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    note = models.TextField(blank=True)
    deviation = models.ForeignKey(Deviation, on_delete=models.PROTECT, null=True, blank=True, related_name="+")

    sponsor_scope = None

    class Meta:
        ordering = ["-raised_at", "-id"]


class LabelPrint(models.Model):
    """Labels printed for a therapy's containers, and what became of them: applied to a unit or
    destroyed. Reconciled per batch: printed = applied + destroyed, else an exception."""

    order = models.ForeignKey(TherapyOrder, on_delete=models.PROTECT, related_name="label_prints")
    kind = models.CharField(max_length=32)  # identity.labels.LabelKind
    unit = models.ForeignKey(Unit, on_delete=models.PROTECT, null=True, blank=True, related_name="label_prints")
    shipment = models.ForeignKey(Shipment, on_delete=models.PROTECT, null=True, blank=True,
                                 related_name="label_prints")
    copies = models.PositiveIntegerField(default=1)
    applied = models.PositiveIntegerField(default=0)
    destroyed = models.PositiveIntegerField(default=0)
    printed_at = models.DateTimeField()
    printed_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    version = models.PositiveIntegerField(default=1)

    sponsor_scope = "order__patient__sponsor"

    class Meta:
        ordering = ["order", "printed_at", "id"]
