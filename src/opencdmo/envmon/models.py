"""Environmental monitoring of cleanrooms: where and how often each room is sampled, what
was found, the site's alert and action levels, the excursions and their batches, and the
ISO 14644-1 classifications. Rooms are the CDMO's own, shared by sponsors: nothing here has
a sponsor, and a sponsor sees its batches' EM status through the disposition."""

from django.db import models
from django.db.models import Q

from opencdmo.batches.models import Batch
from opencdmo.core.models import Record, User
from opencdmo.facilities.models import Equipment, Grade, Room
from opencdmo.quality.models import Deviation

from .domain.programme import FREQUENCIES, LEVELS, SAMPLE_TYPES, STATES, choices

SAMPLE_TYPE_CHOICES = choices(SAMPLE_TYPES)
STATE_CHOICES = choices(STATES)


class Location(models.Model):
    """A sampling location on a room's floor plan; `x` and `y` are percent of the plan's width
    and length from its top-left corner. Retired, never deleted: its history stays."""

    room = models.ForeignKey(Room, on_delete=models.PROTECT, related_name="em_locations")
    code = models.CharField(max_length=24, unique=True)
    name = models.CharField(max_length=200)
    x = models.DecimalField(max_digits=5, decimal_places=2)
    y = models.DecimalField(max_digits=5, decimal_places=2)
    sample_types = models.JSONField(default=list, help_text="the sample types taken here")
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField()
    created_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")

    sponsor_scope = None

    class Meta:
        ordering = ["room", "code"]

    def __str__(self):
        return f"{self.code} {self.name}"


class Plan(models.Model):
    """One line of a room's monitoring plan: this sample type at this location, this often,
    in this room state."""

    location = models.ForeignKey(Location, on_delete=models.PROTECT, related_name="plans")
    sample_type = models.CharField(max_length=16, choices=SAMPLE_TYPE_CHOICES)
    frequency = models.CharField(max_length=16, choices=choices(FREQUENCIES))
    state = models.CharField(max_length=16, choices=STATE_CHOICES)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField()
    created_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")

    sponsor_scope = None

    class Meta:
        ordering = ["location", "sample_type", "state"]
        constraints = [models.UniqueConstraint(fields=["location", "sample_type", "state"], condition=Q(is_active=True),
                                               name="one_active_plan_per_location_type_state")]

    def __str__(self):
        return f"{self.location.code} {self.get_sample_type_display()} ({self.get_frequency_display()})"


class LevelSet(Record):
    """The site's alert and action levels for one grade (or one room), sample type and state:
    set by hand or computed from history, reviewed and approved with signatures. Never looser
    than Annex 1. An approved set supersedes the one it replaces."""

    class Method(models.TextChoices):
        MANUAL = "manual", "Set by hand"
        PERCENTILE = "percentile", "Percentile of history"
        MEAN_K_SIGMA = "mean_k_sigma", "Mean + k·σ of history"

    number_prefix = "EML"

    grade = models.CharField(max_length=1, choices=Grade.choices)
    room = models.ForeignKey(Room, null=True, blank=True, on_delete=models.PROTECT, related_name="+",
                             help_text="empty: the levels of every room of the grade")
    sample_type = models.CharField(max_length=16, choices=SAMPLE_TYPE_CHOICES)
    state = models.CharField(max_length=16, choices=STATE_CHOICES)
    alert_level = models.DecimalField(max_digits=14, decimal_places=2)
    action_level = models.DecimalField(max_digits=14, decimal_places=2)
    method = models.CharField(max_length=16, choices=Method.choices)
    parameters = models.JSONField(default=dict, blank=True,
                                  help_text="e.g. {percentile: 95} or {alert_k: 2, action_k: 3}, and the history used")
    history_from = models.DateTimeField(null=True, blank=True)
    history_to = models.DateTimeField(null=True, blank=True)
    history_count = models.PositiveIntegerField(null=True, blank=True)
    rationale = models.TextField(blank=True)
    effective_at = models.DateTimeField(null=True, blank=True)

    sponsor_scope = None
    signature_exclude = (*Record.signature_exclude, "effective_at")

    class Meta:
        ordering = ["grade", "room", "sample_type", "state", "-created_at"]
        indexes = [models.Index(fields=["status", "grade", "sample_type", "state"], name="em_levelset_effective_idx")]


class EmSample(Record):
    """One environmental sample and its result. A plate is collected, incubated (two
    temperatures) and read; a particle count is recorded at once. `value` is the result in the
    sample type's unit, `level` what it was against the limits in force when it was recorded."""

    number_prefix = "EM"

    plan = models.ForeignKey(Plan, null=True, blank=True, on_delete=models.PROTECT, related_name="samples")
    location = models.ForeignKey(Location, on_delete=models.PROTECT, related_name="samples")
    room = models.ForeignKey(Room, on_delete=models.PROTECT, related_name="+", help_text="copied from the location")
    grade = models.CharField(max_length=1, choices=Grade.choices, help_text="the room's grade when sampled")
    sample_type = models.CharField(max_length=16, choices=SAMPLE_TYPE_CHOICES)
    state = models.CharField(max_length=16, choices=STATE_CHOICES)
    batch = models.ForeignKey(Batch, null=True, blank=True, on_delete=models.PROTECT, related_name="+",
                              help_text="the batch or session a per-batch sample was taken for")
    collected_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    collected_at = models.DateTimeField()
    exposure_started_at = models.DateTimeField(null=True, blank=True, help_text="settle plates and active air")
    media_lot = models.CharField(max_length=64, blank=True)
    volume_litres = models.DecimalField(max_digits=10, decimal_places=1, null=True, blank=True,
                                        help_text="air sampled (active air, particles)")
    instrument = models.ForeignKey(Equipment, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    first_incubation_c = models.DecimalField(max_digits=4, decimal_places=1, null=True, blank=True)
    first_incubation_started_at = models.DateTimeField(null=True, blank=True)
    first_incubation_ended_at = models.DateTimeField(null=True, blank=True)
    second_incubation_c = models.DecimalField(max_digits=4, decimal_places=1, null=True, blank=True)
    second_incubation_started_at = models.DateTimeField(null=True, blank=True)
    second_incubation_ended_at = models.DateTimeField(null=True, blank=True)
    incubated_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    count = models.PositiveIntegerField(null=True, blank=True, help_text="CFU on the plate, or particles counted")
    value = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True,
                                help_text="the result in the sample type's unit")
    read_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    read_at = models.DateTimeField(null=True, blank=True)
    level = models.CharField(max_length=8, choices=list(LEVELS.items()), blank=True)
    limits = models.JSONField(default=dict, blank=True,
                              help_text="the limits applied: Annex 1 edition and value, site levels, comparison")
    comment = models.TextField(blank=True)
    submission_id = models.CharField(max_length=64, blank=True,
                                     help_text="the form or API call that recorded it: a retry records nothing twice")

    sponsor_scope = None
    signature_exclude = (*Record.signature_exclude, "level", "limits")

    class Meta:
        ordering = ["-collected_at", "-id"]
        indexes = [
            models.Index(fields=["room", "collected_at"], name="em_sample_room_time_idx"),
            models.Index(fields=["location", "sample_type", "collected_at"], name="em_sample_location_time_idx"),
            models.Index(fields=["status", "collected_at"], name="em_sample_status_idx"),
        ]
        constraints = [models.UniqueConstraint(fields=["submission_id"], condition=~Q(submission_id=""),
                                               name="one_em_sample_per_submission")]


class Identification(models.Model):
    """An organism found on a plate (grade A and B growth is identified to species)."""

    sample = models.ForeignKey(EmSample, on_delete=models.PROTECT, related_name="identifications")
    organism = models.CharField(max_length=200)
    method = models.CharField(max_length=100, blank=True, help_text="e.g. MALDI-TOF, 16S sequencing")
    cfu = models.PositiveIntegerField(null=True, blank=True)
    identified_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    identified_at = models.DateTimeField()

    sponsor_scope = None

    class Meta:
        ordering = ["sample", "identified_at", "id"]


class Excursion(Record):
    """A result at alert or action level, or an adverse trend. An action excursion raises a
    deviation and names every batch in the room during its window."""

    class Kind(models.TextChoices):
        ALERT = "alert", "Alert level"
        ACTION = "action", "Action level"
        TREND = "trend", "Adverse trend"

    number_prefix = "EXC"

    kind = models.CharField(max_length=8, choices=Kind.choices)
    sample = models.ForeignKey(EmSample, on_delete=models.PROTECT, related_name="excursions")
    room = models.ForeignKey(Room, on_delete=models.PROTECT, related_name="+")
    location = models.ForeignKey(Location, on_delete=models.PROTECT, related_name="+")
    rule = models.CharField(max_length=200, help_text="what was exceeded or which trend rule fired")
    window_start = models.DateTimeField()
    window_end = models.DateTimeField()
    batches = models.ManyToManyField(Batch, blank=True, related_name="+")
    deviation = models.ForeignKey(Deviation, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    acknowledged_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    assessment = models.TextField(blank=True)

    sponsor_scope = None

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["room", "window_end"], name="em_excursion_room_idx")]


class Classification(Record):
    """An ISO 14644-1 classification of a room: locations from its area, the minimum sample
    volume, the readings at each location and the verdict on each location's mean."""

    number_prefix = "CLS"

    room = models.ForeignKey(Room, on_delete=models.PROTECT, related_name="+")
    state = models.CharField(max_length=16, choices=STATE_CHOICES)
    iso_class = models.PositiveSmallIntegerField()
    area_m2 = models.DecimalField(max_digits=9, decimal_places=2)
    sizes = models.JSONField(default=list, help_text="particle sizes considered, µm, e.g. [0.5, 5]")
    location_count = models.PositiveSmallIntegerField()
    sample_volume_litres = models.DecimalField(max_digits=10, decimal_places=1)
    instrument = models.ForeignKey(Equipment, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    performed_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    performed_at = models.DateTimeField(null=True, blank=True)
    passed = models.BooleanField(null=True, blank=True, help_text="empty until the classification is completed")

    sponsor_scope = None

    class Meta:
        ordering = ["-created_at", "-id"]


class ClassificationReading(models.Model):
    """One particle count at one classification location (a location may have several)."""

    classification = models.ForeignKey(Classification, on_delete=models.PROTECT, related_name="readings")
    point = models.PositiveSmallIntegerField(help_text="classification location 1…N")
    size = models.DecimalField(max_digits=4, decimal_places=1, help_text="µm")
    volume_litres = models.DecimalField(max_digits=10, decimal_places=1)
    concentration = models.DecimalField(max_digits=14, decimal_places=1, help_text="particles/m³ ≥ size")
    recorded_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField()

    sponsor_scope = None

    class Meta:
        ordering = ["classification", "point", "size", "id"]
