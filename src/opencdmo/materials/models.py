"""Materials, suppliers, lots, inventory and the genealogy that links what was used to what was made."""

from django.db import models
from django.db.models import Q

from opencdmo.core.models import Record

QUANTITY = {"max_digits": 18, "decimal_places": 6}


class Supplier(models.Model):
    """Who delivers material. A sponsor that supplies its own material (a vector, a plasmid) is a
    supplier belonging to that sponsor: seen only by those who may see the sponsor."""

    code = models.CharField(max_length=16, unique=True)
    name = models.CharField(max_length=200)
    is_approved = models.BooleanField(default=True)
    sponsor = models.ForeignKey("sponsors.Sponsor", null=True, blank=True, on_delete=models.PROTECT,
                                related_name="+", help_text="set when the sponsor itself supplies the material")

    sponsor_scope = "sponsor"
    sponsor_optional = True

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


class Material(models.Model):
    class Category(models.TextChoices):
        RAW_MATERIAL = "raw_material", "Raw material"
        CONSUMABLE = "consumable", "Consumable"
        REAGENT = "reagent", "Reagent"
        CRITICAL_REAGENT = "critical_reagent", "Critical reagent (e.g. vector, cytokine)"
        STARTING_MATERIAL = "starting_material", "Starting material"
        INTERMEDIATE = "intermediate", "Intermediate"
        FINAL_PRODUCT = "final_product", "Final product"

    class Storage(models.TextChoices):
        AMBIENT = "ambient", "15–25 °C"
        REFRIGERATED = "refrigerated", "2–8 °C"
        FROZEN = "frozen", "−20 °C"
        ULT = "ult", "−80 °C"
        LN2 = "ln2", "LN2 vapour ≤ −150 °C"

    code = models.CharField(max_length=32, unique=True)
    name = models.CharField(max_length=200)
    category = models.CharField(max_length=32, choices=Category.choices)
    storage = models.CharField(max_length=16, choices=Storage.choices)
    unit = models.CharField(max_length=32, help_text="unit of measure, e.g. mL, mg, unit, vial")
    shelf_life_after_opening_days = models.PositiveIntegerField(null=True, blank=True)
    approved_suppliers = models.ManyToManyField(Supplier, blank=True, related_name="materials")
    sponsor = models.ForeignKey("sponsors.Sponsor", null=True, blank=True, on_delete=models.PROTECT,
                                related_name="materials", help_text="empty: the CDMO's own material")
    is_active = models.BooleanField(default=True)

    sponsor_scope = "sponsor"
    sponsor_optional = True

    class Meta:
        ordering = ["code"]

    def __str__(self):
        return f"{self.code} {self.name}"


class InventoryLocation(models.Model):
    class Kind(models.TextChoices):
        STORE = "store", "Store (15–25 °C)"
        COLD = "cold", "2–8 °C"
        FREEZER = "freezer", "−20 °C"
        ULT = "ult", "−80 °C"
        LN2 = "ln2", "LN2"
        QUARANTINE = "quarantine", "Quarantine store"
        PRODUCTION = "production", "Production (issued)"

    code = models.CharField(max_length=32, unique=True)
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=16, choices=Kind.choices)

    sponsor_scope = None

    class Meta:
        ordering = ["code"]

    def __str__(self):
        return f"{self.code} {self.name}"


class Lot(Record):
    """A received (or produced) lot. Status quarantine → released / rejected by QA with a
    signature; on hold; depleted. Expiry is not a stored status: a lot past its expiry or
    retest date is expired at that moment, whatever the status says."""

    number_prefix = "LOT"

    material = models.ForeignKey(Material, on_delete=models.PROTECT, related_name="lots")
    supplier = models.ForeignKey(Supplier, null=True, blank=True, on_delete=models.PROTECT, related_name="lots")
    supplier_lot = models.CharField(max_length=64, blank=True)
    sponsor = models.ForeignKey("sponsors.Sponsor", null=True, blank=True, on_delete=models.PROTECT,
                                related_name="lots")
    received_at = models.DateTimeField(null=True, blank=True)
    quantity_received = models.DecimalField(**QUANTITY, help_text="in the material's unit of measure")
    unit = models.CharField(max_length=32, help_text="the material's unit of measure at receipt")
    entered_quantity = models.DecimalField(**QUANTITY, null=True, blank=True,
                                           help_text="the quantity as the receiver entered it, before conversion")
    entered_unit = models.CharField(max_length=32, blank=True)
    containers = models.PositiveIntegerField(default=1)
    expiry_date = models.DateField(null=True, blank=True)
    retest_date = models.DateField(null=True, blank=True)
    notes = models.TextField(blank=True)

    sponsor_scope = "sponsor"
    sponsor_optional = True
    draft_states = ("quarantine",)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["material", "supplier", "supplier_lot"],
                                    condition=~Q(supplier_lot=""), name="one_lot_per_supplier_lot"),
        ]


class LotBalance(models.Model):
    """How much of a lot is at a location. Never negative: the database refuses it too."""

    lot = models.ForeignKey(Lot, on_delete=models.PROTECT, related_name="balances")
    location = models.ForeignKey(InventoryLocation, on_delete=models.PROTECT, related_name="balances")
    quantity = models.DecimalField(**QUANTITY)

    sponsor_scope = "lot__sponsor"
    sponsor_optional = True

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["lot", "location"], name="one_balance_per_location"),
            models.CheckConstraint(condition=Q(quantity__gte=0), name="balance_never_negative"),
        ]


class InventoryTransaction(models.Model):
    class Kind(models.TextChoices):
        RECEIVE = "receive", "Receive"
        SAMPLE = "sample", "Sample"
        ISSUE = "issue", "Issue"
        RETURN = "return", "Return"
        TRANSFER_OUT = "transfer_out", "Transfer out"
        TRANSFER_IN = "transfer_in", "Transfer in"
        ADJUST = "adjust", "Adjust"
        DESTROY = "destroy", "Destroy"
        PRODUCE = "produce", "Produce"

    lot = models.ForeignKey(Lot, on_delete=models.PROTECT, related_name="transactions")
    location = models.ForeignKey(InventoryLocation, on_delete=models.PROTECT, related_name="transactions")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    quantity = models.DecimalField(**QUANTITY, help_text="signed, in the lot's unit")
    balance_after = models.DecimalField(**QUANTITY)
    performed_by = models.ForeignKey("core.User", on_delete=models.PROTECT, related_name="+")
    performed_at = models.DateTimeField()
    reason = models.TextField(blank=True)
    for_type = models.CharField(max_length=64, blank=True)
    for_id = models.CharField(max_length=64, blank=True)
    for_label = models.CharField(max_length=200, blank=True)
    other_location = models.ForeignKey(InventoryLocation, null=True, blank=True, on_delete=models.PROTECT,
                                       related_name="+", help_text="a transfer's other end")

    sponsor_scope = "lot__sponsor"
    sponsor_optional = True

    class Meta:
        ordering = ["-performed_at", "-id"]
        indexes = [models.Index(fields=["lot", "performed_at"], name="transaction_lot_idx")]


class GenealogyLink(models.Model):
    """`parent` went into `child`: a lot into a batch, a batch into a product lot, a product
    lot to a patient. Nodes are 'type:id' keys, so batches and patients join the same trace."""

    parent = models.CharField(max_length=80)
    child = models.CharField(max_length=80)
    parent_label = models.CharField(max_length=200)
    child_label = models.CharField(max_length=200)
    quantity = models.DecimalField(**QUANTITY, null=True, blank=True)
    unit = models.CharField(max_length=32, blank=True)
    sponsor_id = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField()
    created_by = models.ForeignKey("core.User", on_delete=models.PROTECT, related_name="+")

    sponsor_scope = None  # traces are read through the scoped records at their ends

    class Meta:
        # sponsor_id last: a trace's recursion (which links leave this node, may the user see
        # them?) reads the index alone, never the table (bench/genealogy.py).
        indexes = [
            models.Index(fields=["parent", "child", "sponsor_id"], name="genealogy_forward_idx"),
            models.Index(fields=["child", "parent", "sponsor_id"], name="genealogy_backward_idx"),
        ]
