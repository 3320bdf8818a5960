"""The QC laboratory: test methods, specifications, samples, results, OOS investigations and
stability studies. What a sample tests (a batch, a material lot, a stability pull) is named
generically by type and number, so the laboratory sits below the batch record (DESIGN.md)."""

from django.db import models
from django.db.models import Q

from opencdmo.core.models import Record, User

VALUE = {"max_digits": 30, "decimal_places": 10}


class ResultKind(models.TextChoices):
    """What a method reports (its result definition)."""

    NUMERIC = "numeric", "Number with unit"
    TEXT = "text", "Text"
    CHOICE = "choice", "One of a list"
    PASS_FAIL = "pass_fail", "Pass / fail"
    DETECTION = "detection", "Detected / not detected"
    GROWTH = "growth", "Growth / no growth"


class Stage(models.TextChoices):
    INCOMING = "incoming", "Incoming material"
    IN_PROCESS = "in_process", "In-process"
    RELEASE = "release", "Release"
    STABILITY = "stability", "Stability"


class TestMethod(models.Model):
    """How a test is done: its SOP, the instrument kinds it runs on and what it reports."""

    code = models.CharField(max_length=32, unique=True)
    name = models.CharField(max_length=200)
    sop = models.ForeignKey("documents.Document", null=True, blank=True, on_delete=models.PROTECT, related_name="+",
                            help_text="the SOP the analyst follows; a result needs it effective")
    instrument_kinds = models.JSONField(default=list, blank=True,
                                        help_text="facilities Equipment.Kind values the method may run on")
    result_kind = models.CharField(max_length=16, choices=ResultKind.choices)
    unit = models.CharField(max_length=32, blank=True)
    decimals = models.PositiveSmallIntegerField(null=True, blank=True, help_text="reported decimals (numeric)")
    choices = models.JSONField(default=list, blank=True, help_text="the allowed answers (choice)")
    turnaround_days = models.PositiveSmallIntegerField(default=1, help_text="e.g. 14 for sterility")
    is_active = models.BooleanField(default=True)

    sponsor_scope = None

    class Meta:
        ordering = ["code"]

    def __str__(self):
        return f"{self.code} {self.name}"


class Specification(Record):
    """A versioned set of acceptance criteria for a product (or a material) at a stage.
    draft → approved (signed; effective) → superseded by the next approved version / retired."""

    number_prefix = "SPEC"

    code = models.CharField(max_length=64, help_text="the same across versions, e.g. HLX-101-REL")
    revision = models.PositiveIntegerField(default=1)
    title = models.CharField(max_length=200)
    stage = models.CharField(max_length=16, choices=Stage.choices)
    sponsor = models.ForeignKey("sponsors.Sponsor", null=True, blank=True, on_delete=models.PROTECT,
                                related_name="+", help_text="empty: the CDMO's own material")
    product = models.ForeignKey("sponsors.Product", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    material = models.ForeignKey("materials.Material", null=True, blank=True, on_delete=models.PROTECT,
                                 related_name="+", help_text="incoming material specifications")
    rounding = models.CharField(max_length=16, default="half_up",
                                help_text="how a result is rounded to the reported decimals before comparison")
    supersedes = models.OneToOneField("self", null=True, blank=True, on_delete=models.PROTECT,
                                      related_name="superseded_by")
    change_control = models.ForeignKey("quality.ChangeControl", null=True, blank=True, on_delete=models.PROTECT,
                                       related_name="+", help_text="the approved change behind a new revision")
    effective_at = models.DateTimeField(null=True, blank=True)

    sponsor_scope = "sponsor"
    sponsor_optional = True
    signature_exclude = (*Record.signature_exclude, "effective_at")

    class Meta:
        ordering = ["code", "-revision"]
        constraints = [
            models.UniqueConstraint(fields=["code", "revision"], name="one_specification_revision"),
            models.UniqueConstraint(fields=["code"], condition=Q(status="approved"),
                                    name="one_effective_specification"),
        ]


class SpecificationTest(models.Model):
    """One acceptance criterion of a specification: attribute, method and limit."""

    class Criterion(models.TextChoices):
        AT_LEAST = "at_least", "≥"
        AT_MOST = "at_most", "≤"
        MORE_THAN = "more_than", ">"
        LESS_THAN = "less_than", "<"
        RANGE = "range", "Range (inclusive)"
        EQUALS = "equals", "Equals"
        NOT_DETECTED = "not_detected", "Not detected / no growth"
        REPORT_ONLY = "report_only", "Report only"

    specification = models.ForeignKey(Specification, on_delete=models.PROTECT, related_name="tests")
    position = models.PositiveSmallIntegerField()
    attribute = models.CharField(max_length=200, help_text="what is tested, e.g. Viability")
    method = models.ForeignKey(TestMethod, on_delete=models.PROTECT, related_name="+")
    criterion = models.CharField(max_length=16, choices=Criterion.choices)
    lower = models.DecimalField(**VALUE, null=True, blank=True)
    upper = models.DecimalField(**VALUE, null=True, blank=True)
    expected = models.CharField(max_length=200, blank=True, help_text="equals: the expected answer")
    unit = models.CharField(max_length=32, blank=True)
    decimals = models.PositiveSmallIntegerField(null=True, blank=True,
                                                help_text="reported decimals; the method's when empty")
    may_be_pending_at_release = models.BooleanField(
        default=False, help_text="a conditional release may go ahead before this result (e.g. 14-day sterility)")

    sponsor_scope = "specification__sponsor"
    sponsor_optional = True

    class Meta:
        ordering = ["specification", "position"]
        constraints = [models.UniqueConstraint(fields=["specification", "position"], name="one_test_per_position")]

    def __str__(self):
        return f"{self.specification.number} {self.attribute}"


class Sample(Record):
    """A QC sample. `subject` is what it tests (batches.batch B-…, materials.lot LOT-…,
    qc.stabilitystudy STB-…); `origin` how it came to the laboratory."""

    class Origin(models.TextChoices):
        BATCH_SAMPLING = "batch_sampling", "Batch record sampling point"
        MATERIAL_RECEIPT = "material_receipt", "Material receipt"
        STABILITY_PULL = "stability_pull", "Stability pull"
        MANUAL = "manual", "Registered by hand"
        ALIQUOT = "aliquot", "Aliquot"

    number_prefix = "QCS"

    subject_type = models.CharField(max_length=64)
    subject_ref = models.CharField(max_length=64)
    subject_label = models.CharField(max_length=200)
    origin = models.CharField(max_length=24, choices=Origin.choices)
    origin_ref = models.CharField(max_length=64, blank=True, help_text="e.g. the eBR sample SMP-…")
    sponsor = models.ForeignKey("sponsors.Sponsor", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    product = models.ForeignKey("sponsors.Product", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    specification = models.ForeignKey(Specification, null=True, blank=True, on_delete=models.PROTECT,
                                      related_name="samples")
    description = models.CharField(max_length=200)
    tests = models.ManyToManyField(SpecificationTest, blank=True, related_name="samples",
                                   help_text="the criteria ordered on this sample")
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="aliquots")
    retained = models.BooleanField(default=False, help_text="kept, not tested (retained sample)")
    quantity = models.DecimalField(max_digits=20, decimal_places=6, null=True, blank=True)
    unit = models.CharField(max_length=32, blank=True)
    taken_at = models.DateTimeField(null=True, blank=True)
    taken_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    received_at = models.DateTimeField(null=True, blank=True)
    received_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    location = models.CharField(max_length=100, blank=True, help_text="where it is in the laboratory")
    due_at = models.DateTimeField(null=True, blank=True, help_text="when its results are needed")

    sponsor_scope = "sponsor"
    sponsor_optional = True
    draft_states = ("registered",)
    signature_exclude = (*Record.signature_exclude, "received_at", "received_by_id", "location")

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["subject_type", "subject_ref"], name="sample_subject_idx"),
            models.Index(fields=["status", "due_at"], name="sample_worklist_idx"),
        ]


class SampleMovement(models.Model):
    """Custody inside the laboratory: who moved the sample from where to where, and why."""

    sample = models.ForeignKey(Sample, on_delete=models.PROTECT, related_name="movements")
    moved_at = models.DateTimeField()
    moved_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    from_location = models.CharField(max_length=100, blank=True)
    to_location = models.CharField(max_length=100)
    purpose = models.CharField(max_length=200, blank=True)

    sponsor_scope = "sample__sponsor"
    sponsor_optional = True

    class Meta:
        ordering = ["sample", "moved_at", "id"]


class TestResult(Record):
    """One result of one criterion on one sample. Never changed or removed: a retest is a new
    result naming the one it repeats; an invalidated result stays visible with its reason.
    entered → reviewed; entered/reviewed → invalidation requested → invalidated (QA)."""

    class Conformance(models.TextChoices):
        CONFORMS = "conforms", "Conforms"
        DOES_NOT_CONFORM = "does_not_conform", "Does not conform"
        REPORTED = "reported", "Reported"

    number_prefix = "RES"

    sample = models.ForeignKey(Sample, on_delete=models.PROTECT, related_name="results")
    test = models.ForeignKey(SpecificationTest, on_delete=models.PROTECT, related_name="results")
    attempt = models.PositiveSmallIntegerField(default=1, help_text="1 the original, 2… retests")
    retest_of = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="retests")
    value = models.CharField(max_length=200, help_text="as the analyst entered it")
    numeric_value = models.DecimalField(**VALUE, null=True, blank=True, help_text="the value read as a number")
    reported = models.CharField(max_length=200, help_text="rounded to the reported decimals, as compared")
    unit = models.CharField(max_length=32, blank=True)
    conformance = models.CharField(max_length=24, choices=Conformance.choices)
    out_of_trend = models.BooleanField(default=False)
    trend_note = models.CharField(max_length=200, blank=True)
    instrument = models.ForeignKey("facilities.Equipment", null=True, blank=True, on_delete=models.PROTECT,
                                   related_name="+")
    analyst = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    entered_at = models.DateTimeField()
    comment = models.TextField(blank=True)
    reviewed_at = models.DateTimeField(null=True, blank=True)
    reviewed_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    invalidation_reason = models.TextField(blank=True)
    invalidated_at = models.DateTimeField(null=True, blank=True)
    invalidated_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    submission_id = models.CharField(max_length=64)

    sponsor_scope = "sample__sponsor"
    sponsor_optional = True
    draft_states = ("entered",)
    signature_exclude = (*Record.signature_exclude, "reviewed_at", "reviewed_by_id", "invalidation_reason",
                         "invalidated_at", "invalidated_by_id", "out_of_trend", "trend_note")

    class Meta:
        ordering = ["sample", "test__position", "attempt", "id"]
        constraints = [
            models.UniqueConstraint(fields=["sample", "test", "attempt"], name="one_result_per_attempt"),
            models.UniqueConstraint(fields=["submission_id"], name="one_result_per_submission"),
        ]
        indexes = [
            models.Index(fields=["test", "entered_at"], name="result_test_history_idx"),
            models.Index(fields=["status", "entered_at"], name="result_review_idx"),
        ]


class OosInvestigation(Record):
    """OOS-1: Phase I (laboratory) → assignable cause: the result is invalidated and a retest
    ordered; none → Phase II (full-scale, batch impact, a deviation) → closed with a conclusion."""

    class Conclusion(models.TextChoices):
        # No third way: without a documented laboratory error the original result stands,
        # whatever retests show (no testing into compliance, OOS-1).
        LABORATORY_ERROR = "laboratory_error", "Laboratory error: original result invalid"
        CONFIRMED = "confirmed", "OOS confirmed"

    number_prefix = "OOS"

    result = models.OneToOneField(TestResult, on_delete=models.PROTECT, related_name="investigation")
    sponsor = models.ForeignKey("sponsors.Sponsor", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    opened_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    opened_at = models.DateTimeField()
    checklist = models.JSONField(default=list, blank=True, help_text="Phase I answers: item, answer, note")
    assignable_cause = models.TextField(blank=True)
    phase_one_closed_at = models.DateTimeField(null=True, blank=True)
    deviation = models.ForeignKey("quality.Deviation", null=True, blank=True, on_delete=models.PROTECT,
                                  related_name="+")
    production_review = models.TextField(blank=True, help_text="Phase II: batch record, process and sampling")
    batch_impact = models.TextField(blank=True, help_text="Phase II: this and other batches")
    retests_allowed = models.PositiveSmallIntegerField(default=0)
    conclusion = models.CharField(max_length=24, choices=Conclusion.choices, blank=True)
    summary = models.TextField(blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    sponsor_scope = "sponsor"
    sponsor_optional = True
    draft_states = ("phase_1",)
    signature_exclude = (*Record.signature_exclude, "phase_one_closed_at", "closed_at")

    class Meta:
        ordering = ["-opened_at", "-id"]


class StabilityStudy(Record):
    """ICH Q5C (QC-8): a protocol of storage conditions, time points and the specification tested."""

    number_prefix = "STB"

    title = models.CharField(max_length=200)
    sponsor = models.ForeignKey("sponsors.Sponsor", on_delete=models.PROTECT, related_name="+")
    product = models.ForeignKey("sponsors.Product", on_delete=models.PROTECT, related_name="+")
    specification = models.ForeignKey(Specification, on_delete=models.PROTECT, related_name="+")
    subject_ref = models.CharField(max_length=64, help_text="the batch or lot on study")
    conditions = models.JSONField(default=list, help_text="storage conditions, e.g. ['≤ −150 °C', '25 °C']")
    time_points = models.JSONField(default=list, help_text="months, e.g. [0, 3, 6, 9, 12, 18, 24]")
    window_days = models.PositiveSmallIntegerField(default=7, help_text="a pull is on time within ± this")
    start_date = models.DateField()

    sponsor_scope = "sponsor"

    class Meta:
        ordering = ["-created_at", "-id"]


class StabilityPull(models.Model):
    """One time point of one condition: due on a date, pulled as a sample."""

    study = models.ForeignKey(StabilityStudy, on_delete=models.PROTECT, related_name="pulls")
    condition = models.CharField(max_length=100)
    months = models.PositiveSmallIntegerField()
    due_date = models.DateField()
    sample = models.OneToOneField(Sample, null=True, blank=True, on_delete=models.PROTECT, related_name="pull")
    pulled_at = models.DateTimeField(null=True, blank=True)
    pulled_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.PROTECT, related_name="+")

    sponsor_scope = "study__sponsor"

    class Meta:
        ordering = ["due_date", "id"]
        constraints = [models.UniqueConstraint(fields=["study", "condition", "months"], name="one_pull_per_point")]
        indexes = [models.Index(fields=["pulled_at", "due_date"], name="pull_due_idx")]
