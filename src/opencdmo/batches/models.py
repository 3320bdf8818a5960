"""Electronic batch records: a batch made from an effective master batch record, and what
happened at each step. Entries are never changed: a correction is a new entry that names the
one it replaces, so the original stays visible with who, when and why (A11-7)."""

from django.db import models
from django.db.models import Q

from opencdmo.core.models import Record, User
from opencdmo.facilities.models import Equipment, Room
from opencdmo.materials.models import InventoryTransaction, Lot
from opencdmo.processes.models import MbrVersion
from opencdmo.quality.models import Deviation
from opencdmo.sponsors.models import Product, Sponsor


class Batch(Record):
    number_prefix = "B"

    mbr_version = models.ForeignKey(MbrVersion, on_delete=models.PROTECT, related_name="batches")
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="batches")
    sponsor = models.ForeignKey(Sponsor, on_delete=models.PROTECT, related_name="batches")
    scale = models.DecimalField(max_digits=20, decimal_places=6)
    scale_unit = models.CharField(max_length=32)
    room = models.ForeignKey(Room, on_delete=models.PROTECT, related_name="batches")
    patient_reference = models.CharField(
        max_length=64, blank=True, help_text="the chain-of-identity identifier of an autologous batch's patient")
    planned_start = models.DateField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    reviewed_at = models.DateTimeField(null=True, blank=True)

    sponsor_scope = "sponsor"
    draft_states = ("planned",)
    signature_exclude = (*Record.signature_exclude, "started_at", "completed_at", "reviewed_at")

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["room", "started_at"], name="batch_room_started_idx")]


class BatchStep(models.Model):
    """One step of the batch, created from the MBR step with the same `key` when the batch is."""

    class Status(models.TextChoices):
        PENDING = "pending", "Not started"
        IN_PROGRESS = "in_progress", "In progress"
        COMPLETED = "completed", "Completed"
        SKIPPED = "skipped", "Skipped"

    batch = models.ForeignKey(Batch, on_delete=models.PROTECT, related_name="steps")
    key = models.CharField(max_length=32)  # the MBR step id, e.g. "S3.2"
    position = models.PositiveIntegerField()
    stage = models.CharField(max_length=200)
    name = models.CharField(max_length=200)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    started_at = models.DateTimeField(null=True, blank=True)
    started_by = models.ForeignKey(User, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    completed_at = models.DateTimeField(null=True, blank=True)
    completed_by = models.ForeignKey(User, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    skip_reason = models.TextField(blank=True)
    # SHA-256 of the step's current entries, set at completion and after a later correction:
    # the 'Performed' signature binds to it, so a changed step shows its signature as no longer valid.
    data_hash = models.CharField(max_length=64, blank=True)

    sponsor_scope = "batch__sponsor"
    signature_exclude = ("status",)

    class Meta:
        ordering = ["batch", "position"]
        constraints = [models.UniqueConstraint(fields=["batch", "key"], name="one_step_per_key")]

    def __str__(self):
        return f"{self.batch.number} step {self.key}"


class BatchEntry(models.Model):
    """A value recorded for a parameter of a step: stamped with server time and the performer."""

    class Outcome(models.TextChoices):
        OK = "ok", "Within limits"
        OUTSIDE_NORMAL = "outside_normal", "Outside the normal operating range"
        OUTSIDE_ACCEPTABLE = "outside_acceptable", "Outside the proven acceptable range"
        UNEXPECTED = "unexpected", "Not the expected answer"

    batch = models.ForeignKey(Batch, on_delete=models.PROTECT, related_name="entries")
    step = models.ForeignKey(BatchStep, on_delete=models.PROTECT, related_name="entries")
    parameter = models.CharField(max_length=64)  # the MBR parameter id
    value = models.TextField()  # as entered (or as calculated), the record of what was seen
    number = models.DecimalField(max_digits=40, decimal_places=12, null=True, blank=True)
    unit = models.CharField(max_length=32, blank=True)
    outcome = models.CharField(max_length=24, choices=Outcome.choices, default=Outcome.OK)
    comment = models.TextField(blank=True)
    recorded_at = models.DateTimeField()
    recorded_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    corrects = models.OneToOneField("self", on_delete=models.PROTECT, null=True, blank=True,
                                    related_name="corrected_by")
    correction_reason = models.TextField(blank=True)
    late_reason = models.TextField(blank=True, help_text="why this entry was not made at the time")
    stated_activity_at = models.DateTimeField(
        null=True, blank=True, help_text="a late entry: when the performer says the activity took place")
    verified_by = models.ForeignKey(User, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    verified_at = models.DateTimeField(null=True, blank=True)
    submission_id = models.CharField(max_length=64)  # idempotency key of the submitting form or client

    sponsor_scope = "batch__sponsor"
    signature_exclude = ("verified_by_id", "verified_at")  # attnames, as signed_content compares them

    class Meta:
        ordering = ["step", "recorded_at", "id"]
        constraints = [models.UniqueConstraint(fields=["batch", "submission_id"], name="one_entry_per_submission")]
        indexes = [models.Index(fields=["step", "parameter"], name="entry_step_parameter_idx")]

    def __str__(self):
        return f"{self.batch.number} {self.parameter}"


class EquipmentScan(models.Model):
    """A piece of equipment used at a step, checked usable and of the required kind when scanned."""

    batch = models.ForeignKey(Batch, on_delete=models.PROTECT, related_name="equipment_scans")
    step = models.ForeignKey(BatchStep, on_delete=models.PROTECT, related_name="equipment_scans")
    equipment = models.ForeignKey(Equipment, on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(max_length=32)
    scanned_at = models.DateTimeField()
    scanned_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    submission_id = models.CharField(max_length=64)

    sponsor_scope = "batch__sponsor"

    class Meta:
        ordering = ["step", "scanned_at", "id"]
        constraints = [models.UniqueConstraint(fields=["batch", "submission_id"], name="one_scan_per_submission")]


class PatientMaterialScan(models.Model):
    """The chain of identity label of the patient's material, scanned at a step that handles it and
    matched to the therapy the batch is made for (a refused scan is a custody event and a deviation)."""

    batch = models.ForeignKey(Batch, on_delete=models.PROTECT, related_name="identity_scans")
    step = models.ForeignKey(BatchStep, on_delete=models.PROTECT, related_name="identity_scans")
    scanned = models.TextField(help_text="exactly what was scanned or typed")
    scanned_at = models.DateTimeField()
    scanned_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    submission_id = models.CharField(max_length=64)

    sponsor_scope = "batch__sponsor"

    class Meta:
        ordering = ["step", "scanned_at", "id"]
        constraints = [models.UniqueConstraint(fields=["batch", "submission_id"],
                                               name="one_identity_scan_per_submission")]


class MaterialUse(models.Model):
    """A lot consumed at a step against a bill-of-materials line; posted to inventory and genealogy."""

    batch = models.ForeignKey(Batch, on_delete=models.PROTECT, related_name="material_uses")
    step = models.ForeignKey(BatchStep, on_delete=models.PROTECT, related_name="material_uses")
    line = models.PositiveSmallIntegerField()  # index of the MBR step's bill-of-materials line
    lot = models.ForeignKey(Lot, on_delete=models.PROTECT, related_name="+")
    quantity = models.DecimalField(max_digits=20, decimal_places=6)
    unit = models.CharField(max_length=32)
    transaction = models.ForeignKey(InventoryTransaction, on_delete=models.PROTECT, null=True, blank=True,
                                    related_name="+")
    used_at = models.DateTimeField()
    used_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    submission_id = models.CharField(max_length=64)

    sponsor_scope = "batch__sponsor"

    class Meta:
        ordering = ["step", "used_at", "id"]
        constraints = [models.UniqueConstraint(fields=["batch", "submission_id"], name="one_use_per_submission")]


class BatchSample(Record):
    """A QC sample taken at a sampling point of the MBR; the QC laboratory receives and tests it."""

    number_prefix = "SMP"

    batch = models.ForeignKey(Batch, on_delete=models.PROTECT, related_name="samples")
    step = models.ForeignKey(BatchStep, on_delete=models.PROTECT, related_name="samples")
    point = models.CharField(max_length=64)  # the MBR sampling point id
    name = models.CharField(max_length=200)
    quantity = models.DecimalField(max_digits=20, decimal_places=6, null=True, blank=True)
    unit = models.CharField(max_length=32, blank=True)
    taken_at = models.DateTimeField()
    taken_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")

    sponsor_scope = "batch__sponsor"
    draft_states = ("taken",)

    class Meta:
        ordering = ["batch", "id"]
        constraints = [models.UniqueConstraint(fields=["batch", "point"], name="one_sample_per_point")]


class InterlockOverride(models.Model):
    """QA's signed decision to let one refused action go ahead (e.g. one equipment, one lot, one
    person at one step). Always also an exception for the batch review."""

    class Interlock(models.TextChoices):
        EQUIPMENT = "equipment", "Equipment not usable or not of the required kind"
        MATERIAL = "material", "Lot not released, expired or the wrong material"
        TRAINING = "training", "Operator not trained on the step's procedures"
        ROOM = "room", "Room not in operation"
        LINE_CLEARANCE = "line_clearance", "Line clearance missing"

    batch = models.ForeignKey(Batch, on_delete=models.PROTECT, related_name="overrides")
    step = models.ForeignKey(BatchStep, on_delete=models.PROTECT, null=True, blank=True, related_name="overrides")
    interlock = models.CharField(max_length=16, choices=Interlock.choices)
    subject = models.CharField(max_length=200)  # what was refused: equipment number, lot number, username, room
    refusal = models.TextField()  # the interlock's reason, as the operator saw it
    reason = models.TextField()  # QA's justification
    overridden_at = models.DateTimeField()
    overridden_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")

    sponsor_scope = "batch__sponsor"

    class Meta:
        ordering = ["overridden_at", "id"]
        constraints = [models.UniqueConstraint(fields=["batch", "step", "interlock", "subject"],
                                               name="one_override_per_refusal")]

    def __str__(self):
        return f"{self.batch.number} override of {self.interlock} ({self.subject})"


class BatchException(models.Model):
    """Something in the record that needs QA's look in the review by exception."""

    class Kind(models.TextChoices):
        OUTSIDE_NORMAL = "outside_normal", "Value outside the normal operating range"
        OUTSIDE_ACCEPTABLE = "outside_acceptable", "Value outside the proven acceptable range"
        UNEXPECTED = "unexpected", "Unexpected answer"
        CORRECTION = "correction", "Correction"
        OVERRIDE = "override", "Interlock overridden"
        HOLD_TIME = "hold_time", "Hold time not met"
        LATE_ENTRY = "late_entry", "Late entry"
        SKIPPED_STEP = "skipped_step", "Optional step skipped"
        DEVIATION = "deviation", "Deviation"
        IDENTITY_MISMATCH = "identity_mismatch", "Chain of identity scan refused"
        LABEL_RECONCILIATION = "label_reconciliation", "Labels not reconciled"

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        DISPOSITIONED = "dispositioned", "Dispositioned"

    batch = models.ForeignKey(Batch, on_delete=models.PROTECT, related_name="exceptions")
    step = models.ForeignKey(BatchStep, on_delete=models.PROTECT, null=True, blank=True, related_name="exceptions")
    entry = models.ForeignKey(BatchEntry, on_delete=models.PROTECT, null=True, blank=True, related_name="exceptions")
    override = models.OneToOneField(InterlockOverride, on_delete=models.PROTECT, null=True, blank=True,
                                    related_name="exception")
    deviation = models.ForeignKey(Deviation, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    kind = models.CharField(max_length=24, choices=Kind.choices)
    description = models.TextField()
    raised_at = models.DateTimeField()
    raised_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)
    disposition = models.TextField(blank=True)
    dispositioned_at = models.DateTimeField(null=True, blank=True)
    dispositioned_by = models.ForeignKey(User, on_delete=models.PROTECT, null=True, blank=True, related_name="+")

    sponsor_scope = "batch__sponsor"

    class Meta:
        ordering = ["batch", "raised_at", "id"]
        constraints = [
            # One exception of a kind per entry: a retried request cannot raise a second deviation.
            models.UniqueConstraint(fields=["entry", "kind"], condition=Q(entry__isnull=False),
                                    name="one_exception_per_entry_and_kind"),
        ]
        indexes = [models.Index(fields=["batch", "status"], name="exception_batch_status_idx")]

    def __str__(self):
        return f"{self.batch.number} {self.get_kind_display().lower()}"
