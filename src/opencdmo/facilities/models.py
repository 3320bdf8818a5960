"""Places and things: site → area → room, and the equipment used in them (CDMO-wide records)."""

from django.db import models

from opencdmo.core.models import Record


class Site(models.Model):
    code = models.CharField(max_length=16, unique=True)
    name = models.CharField(max_length=200)
    address = models.TextField(blank=True)

    sponsor_scope = None

    class Meta:
        ordering = ["code"]

    def __str__(self):
        return f"{self.code} {self.name}"


class Area(models.Model):
    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="areas")
    code = models.CharField(max_length=16, unique=True)
    name = models.CharField(max_length=200)

    sponsor_scope = None

    class Meta:
        ordering = ["code"]

    def __str__(self):
        return f"{self.code} {self.name}"


class Grade(models.TextChoices):
    A = "A", "Grade A"
    B = "B", "Grade B"
    C = "C", "Grade C"
    D = "D", "Grade D"
    UNCLASSIFIED = "U", "Unclassified"


class Room(models.Model):
    class Status(models.TextChoices):
        IN_OPERATION = "in_operation", "In operation"
        AT_REST = "at_rest", "At rest"
        SHUT_DOWN = "shut_down", "Shut down"
        MAINTENANCE = "maintenance", "Maintenance"

    area = models.ForeignKey(Area, on_delete=models.PROTECT, related_name="rooms")
    code = models.CharField(max_length=16, unique=True)
    name = models.CharField(max_length=200)
    grade = models.CharField(max_length=1, choices=Grade.choices)
    iso_class_at_rest = models.PositiveSmallIntegerField(null=True, blank=True)
    iso_class_in_operation = models.PositiveSmallIntegerField(null=True, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.AT_REST)
    # The floor plan is the room's rectangle: environmental monitoring places its sampling
    # locations on it, and ISO 14644-1 counts classification locations from its area.
    width_m = models.DecimalField(max_digits=6, decimal_places=2, null=True, blank=True)
    length_m = models.DecimalField(max_digits=6, decimal_places=2, null=True, blank=True)
    # A grade A zone (a biosafety cabinet, an isolator) stands in a room: the batches made in the
    # room are made in its zones too, and the zone's monitoring bears on them.
    within = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="zones",
                               help_text="the room this zone stands in")
    version = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey("core.User", on_delete=models.PROTECT, related_name="+", null=True, blank=True)

    sponsor_scope = None

    class Meta:
        ordering = ["code"]

    def __str__(self):
        return f"{self.code} {self.name}"

    @property
    def floor_area_m2(self):
        if self.width_m is None or self.length_m is None:
            return None
        return self.width_m * self.length_m


class RoomCleaning(models.Model):
    """One cleaning of a room: who, when, which agent and lot (disinfectant rotation)."""

    class AgentType(models.TextChoices):
        DISINFECTANT = "disinfectant", "Disinfectant"
        SPORICIDAL = "sporicidal", "Sporicidal agent"
        DETERGENT = "detergent", "Detergent"

    room = models.ForeignKey(Room, on_delete=models.PROTECT, related_name="cleanings")
    agent = models.CharField(max_length=100)
    agent_type = models.CharField(max_length=16, choices=AgentType.choices)
    agent_lot = models.CharField(max_length=64)
    performed_by = models.ForeignKey("core.User", on_delete=models.PROTECT, related_name="+")
    performed_at = models.DateTimeField()
    notes = models.TextField(blank=True)

    sponsor_scope = None

    class Meta:
        ordering = ["-performed_at", "-id"]


class LineClearance(Record):
    """The check that a room is clear of the previous batch's materials, labels and documents,
    performed by one person and verified by another before a batch starts."""

    number_prefix = "LC"

    room = models.ForeignKey(Room, on_delete=models.PROTECT, related_name="line_clearances")
    for_record = models.CharField(max_length=200, help_text="the batch or campaign it clears the room for")
    for_record_type = models.CharField(max_length=64, blank=True, help_text="e.g. batches.batch, once batches exist")
    for_record_id = models.CharField(max_length=64, blank=True)
    checks = models.JSONField(default=list, help_text="[{item, ok}] as checked")
    comments = models.TextField(blank=True)

    sponsor_scope = None
    draft_states = ("open",)

    class Meta:
        ordering = ["-created_at", "-id"]


class Equipment(Record):
    """An asset with its lifecycle; `number` is the asset id, given by the site (e.g. EQ-BSC-01)."""

    class Kind(models.TextChoices):
        BIOSAFETY_CABINET = "biosafety_cabinet", "Biosafety cabinet"
        INCUBATOR = "incubator", "CO2 incubator"
        CENTRIFUGE = "centrifuge", "Centrifuge"
        BIOREACTOR = "bioreactor", "Bioreactor"
        CELL_COUNTER = "cell_counter", "Cell counter"
        FLOW_CYTOMETER = "flow_cytometer", "Flow cytometer"
        CONTROLLED_RATE_FREEZER = "controlled_rate_freezer", "Controlled-rate freezer"
        LN2_FREEZER = "ln2_freezer", "LN2 freezer"
        ULT_FREEZER = "ult_freezer", "−80 °C freezer"
        REFRIGERATOR = "refrigerator", "2–8 °C refrigerator"
        BALANCE = "balance", "Balance"
        PIPETTE = "pipette", "Pipette"
        PARTICLE_COUNTER = "particle_counter", "Particle counter"
        AIR_SAMPLER = "air_sampler", "Active air sampler"
        CELL_PROCESSOR = "cell_processor", "Closed cell-processing system"
        TUBE_WELDER = "tube_welder", "Sterile tube welder"
        # QC laboratory instruments: a test method names the kinds it runs on.
        MICROBIAL_DETECTION = "microbial_detection", "Automated microbial detection system"
        PCR_SYSTEM = "pcr_system", "PCR / ddPCR system"
        PLATE_READER = "plate_reader", "Microplate reader"
        ULTRACENTRIFUGE = "analytical_ultracentrifuge", "Analytical ultracentrifuge"
        PH_METER = "ph_meter", "pH meter"
        MICROSCOPE = "microscope", "Microscope"
        OTHER = "other", "Other"

    number_prefix = "EQ"

    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=32, choices=Kind.choices)
    manufacturer = models.CharField(max_length=100, blank=True)
    model_number = models.CharField(max_length=100, blank=True)
    serial_number = models.CharField(max_length=100, blank=True)
    room = models.ForeignKey(Room, on_delete=models.PROTECT, related_name="equipment", null=True, blank=True)
    iq_date = models.DateField("IQ date", null=True, blank=True)
    oq_date = models.DateField("OQ date", null=True, blank=True)
    pq_date = models.DateField("PQ date", null=True, blank=True)
    qualified_at = models.DateTimeField(null=True, blank=True, help_text="when QA last approved its qualification")
    requalification_interval_days = models.PositiveIntegerField(null=True, blank=True,
                                                                help_text="empty: no periodic requalification")
    requalification_due_at = models.DateTimeField(null=True, blank=True)
    calibration_interval_days = models.PositiveIntegerField(null=True, blank=True,
                                                            help_text="empty: no calibration needed")
    calibration_tolerance = models.CharField(max_length=200, blank=True)
    calibration_due_at = models.DateTimeField(null=True, blank=True)
    maintenance_interval_days = models.PositiveIntegerField(null=True, blank=True)
    maintenance_due_at = models.DateTimeField(null=True, blank=True)
    clean_hold_hours = models.PositiveIntegerField(null=True, blank=True,
                                                   help_text="empty: no cleaning before use needed")
    cleaned_at = models.DateTimeField(null=True, blank=True)
    dirty = models.BooleanField(default=False, help_text="used since it was last cleaned")

    sponsor_scope = None
    draft_states = ("commissioning",)
    # What a signature vouches for is the asset and its qualification, not the day-to-day state
    # derived from its logs (cleaned, used, next due): those change without voiding an approval.
    signature_exclude = (*Record.signature_exclude, "qualified_at", "requalification_due_at",
                         "calibration_due_at", "maintenance_due_at", "cleaned_at", "dirty")

    class Meta:
        ordering = ["number"]

    def __str__(self):
        return f"{self.number} {self.name}"


class CalibrationRecord(models.Model):
    class Result(models.TextChoices):
        PASS = "pass", "Pass"
        FAIL = "fail", "Fail (out of tolerance)"

    equipment = models.ForeignKey(Equipment, on_delete=models.PROTECT, related_name="calibrations")
    performed_at = models.DateTimeField()
    performed_by = models.ForeignKey("core.User", on_delete=models.PROTECT, related_name="+")
    result = models.CharField(max_length=8, choices=Result.choices)
    as_found = models.CharField(max_length=200, blank=True)
    as_left = models.CharField(max_length=200, blank=True)
    certificate = models.CharField(max_length=100, blank=True)
    notes = models.TextField(blank=True)
    next_due_at = models.DateTimeField(null=True, blank=True)
    deviation_number = models.CharField(max_length=32, blank=True, help_text="the deviation a failure raised")

    sponsor_scope = None

    class Meta:
        ordering = ["-performed_at", "-id"]


class MaintenanceRecord(models.Model):
    class Kind(models.TextChoices):
        PREVENTIVE = "preventive", "Preventive"
        CORRECTIVE = "corrective", "Corrective"

    equipment = models.ForeignKey(Equipment, on_delete=models.PROTECT, related_name="maintenance")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    performed_at = models.DateTimeField()
    performed_by = models.ForeignKey("core.User", on_delete=models.PROTECT, related_name="+")
    description = models.TextField()
    next_due_at = models.DateTimeField(null=True, blank=True)

    sponsor_scope = None

    class Meta:
        ordering = ["-performed_at", "-id"]


class EquipmentCleaning(models.Model):
    equipment = models.ForeignKey(Equipment, on_delete=models.PROTECT, related_name="cleanings")
    performed_at = models.DateTimeField()
    performed_by = models.ForeignKey("core.User", on_delete=models.PROTECT, related_name="+")
    agent = models.CharField(max_length=100)
    agent_lot = models.CharField(max_length=64, blank=True)
    clean_until = models.DateTimeField(null=True, blank=True, help_text="end of the clean hold it started")

    sponsor_scope = None

    class Meta:
        ordering = ["-performed_at", "-id"]


class EquipmentUse(models.Model):
    """The use logbook: who used it, when, for which record (a batch, later)."""

    equipment = models.ForeignKey(Equipment, on_delete=models.PROTECT, related_name="uses")
    used_by = models.ForeignKey("core.User", on_delete=models.PROTECT, related_name="+")
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)
    used_for_type = models.CharField(max_length=64, blank=True)
    used_for_id = models.CharField(max_length=64, blank=True)
    used_for_label = models.CharField(max_length=200)

    sponsor_scope = None

    class Meta:
        ordering = ["-started_at", "-id"]
