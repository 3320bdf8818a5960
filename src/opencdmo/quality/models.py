"""The quality system's records (ICH Q10, Q10-1): deviations, CAPA, change control, risk (QRM-1).

Records of other apps are linked generically, by record type and id, so every module can
raise a deviation or be named in a change without this app importing it.
"""

from django.db import models

from opencdmo.core.models import Record


class Classification(models.TextChoices):
    """DEV-1: no regulation fixes the classes; these are the common ones."""

    MINOR = "minor", "Minor"
    MAJOR = "major", "Major"
    CRITICAL = "critical", "Critical"


class RecordLink(models.Model):
    """A record of another app that a quality record concerns (by type and id)."""

    record_type = models.CharField(max_length=64)
    record_id = models.CharField(max_length=64)
    record_label = models.CharField(max_length=200)

    class Meta:
        abstract = True


class Deviation(Record):
    class Source(models.TextChoices):
        MANUAL = "manual", "Raised by hand"
        BATCH_EXCEPTION = "batch_exception", "Batch record exception"
        ENVIRONMENTAL = "environmental", "Environmental excursion"
        OOS = "oos", "Out-of-specification result"
        EQUIPMENT = "equipment", "Equipment out of tolerance"
        CUSTODY = "custody", "Custody or identity mismatch"
        MATERIAL = "material", "Material or inventory"

    number_prefix = "DEV"
    draft_states = ("open",)  # until QA classifies it, the raiser may still correct what they wrote

    title = models.CharField(max_length=200)
    description = models.TextField()
    source = models.CharField(max_length=32, choices=Source.choices)
    sponsor = models.ForeignKey("sponsors.Sponsor", null=True, blank=True, on_delete=models.PROTECT,
                                related_name="deviations")
    raised_by = models.ForeignKey("core.User", on_delete=models.PROTECT, related_name="+")
    raised_at = models.DateTimeField()
    # Where and what: the trend report groups by these.
    area = models.CharField(max_length=100, blank=True, help_text="Room or area where it happened.")
    category = models.CharField(max_length=32, blank=True, help_text="What kind of event (see the site's list).")
    immediate_actions = models.TextField(blank=True)
    # QA classification, guided by the decision tree; the answers are kept as evidence.
    classification = models.CharField(max_length=16, choices=Classification.choices, blank=True)
    classification_answers = models.JSONField(default=dict, blank=True)
    classification_rationale = models.TextField(blank=True)
    classified_by = models.ForeignKey("core.User", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    classified_at = models.DateTimeField(null=True, blank=True)
    impact_assessment = models.TextField(blank=True)
    # Investigation (21 CFR 211.192: root cause, other batches, conclusions).
    investigator = models.ForeignKey("core.User", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    root_cause_category = models.CharField(max_length=32, blank=True)
    root_cause = models.TextField(blank=True, help_text="Investigation narrative and the root cause found.")
    five_whys = models.JSONField(default=list, blank=True, help_text="Structured 5-Why: list of {why, because}.")
    conclusion = models.TextField(blank=True)
    no_capa_justification = models.TextField(
        blank=True, help_text="Why no CAPA is needed, when the investigation links none.")
    # Closure target: raised_at + the class's days, moved only by QA-approved extensions.
    due_date = models.DateField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    sponsor_scope = "sponsor"
    sponsor_optional = True  # CDMO-wide deviations (a failed pipette) have no sponsor
    # An approved extension moves the due date: what the investigator signed stays valid.
    signature_exclude = (*Record.signature_exclude, "due_date", "closed_at")

    class Meta:
        ordering = ["-raised_at"]
        indexes = [
            models.Index(fields=["status", "due_date"], name="deviation_status_due_idx"),
            models.Index(fields=["raised_at"], name="deviation_raised_idx"),
            # --- Dashboard --- covering indexes: open/overdue by owner and cycle times read no table row.
            models.Index(fields=["investigator", "status", "due_date", "closed_at", "sponsor"],
                         name="deviation_dashboard_owner_idx"),
            models.Index(fields=["status", "closed_at", "raised_at", "sponsor"], name="deviation_dashboard_cycle_idx"),
        ]


class DeviationLink(RecordLink):
    """A record the deviation concerns: batch, lot, equipment, room, patient …"""

    deviation = models.ForeignKey(Deviation, on_delete=models.PROTECT, related_name="links")

    sponsor_scope = "deviation__sponsor"
    sponsor_optional = True

    class Meta:
        constraints = [models.UniqueConstraint(fields=["deviation", "record_type", "record_id"],
                                               name="one_link_per_record")]
        indexes = [models.Index(fields=["record_type", "record_id"], name="deviation_link_record_idx")]


class DueDateExtension(Record):
    """A request to move a deviation's or CAPA's due date; only a QA approval moves it."""

    number_prefix = "EXT"
    draft_states = ("requested",)

    deviation = models.ForeignKey(Deviation, null=True, blank=True, on_delete=models.PROTECT,
                                  related_name="extensions")
    capa = models.ForeignKey("Capa", null=True, blank=True, on_delete=models.PROTECT, related_name="extensions")
    current_due_date = models.DateField()
    requested_due_date = models.DateField()
    justification = models.TextField()
    sponsor = models.ForeignKey("sponsors.Sponsor", null=True, blank=True, on_delete=models.PROTECT, related_name="+",
                                help_text="The sponsor of the deviation or CAPA, copied for scoping.")
    decided_by = models.ForeignKey("core.User", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    decided_at = models.DateTimeField(null=True, blank=True)

    sponsor_scope = "sponsor"
    sponsor_optional = True

    class Meta:
        ordering = ["-created_at"]
        constraints = [models.CheckConstraint(
            condition=models.Q(deviation__isnull=False, capa__isnull=True)
            | models.Q(deviation__isnull=True, capa__isnull=False),
            name="extension_of_one_record")]


class Capa(Record):
    """Corrective and preventive action plan (Q10-1), checked for effect before it closes."""

    class Source(models.TextChoices):
        DEVIATION = "deviation", "Deviation"
        AUDIT = "audit", "Audit or inspection finding"
        COMPLAINT = "complaint", "Complaint"
        TREND = "trend", "Trend"
        CHANGE = "change", "Change control"
        RISK = "risk", "Risk assessment"

    class Effectiveness(models.TextChoices):
        EFFECTIVE = "effective", "Effective"
        NOT_EFFECTIVE = "not_effective", "Not effective"
        JUSTIFIED = "justified", "Not verified, justified"

    number_prefix = "CAPA"

    title = models.CharField(max_length=200)
    problem = models.TextField(help_text="The problem the plan addresses, and its root cause.")
    source = models.CharField(max_length=16, choices=Source.choices)
    source_reference = models.CharField(max_length=100, blank=True, help_text="Audit, complaint or trend reference.")
    sponsor = models.ForeignKey("sponsors.Sponsor", null=True, blank=True, on_delete=models.PROTECT,
                                related_name="capas")
    owner = models.ForeignKey("core.User", on_delete=models.PROTECT, related_name="+")
    due_date = models.DateField()
    # Effectiveness check (Q10-1: CAPA effectiveness should be evaluated).
    effectiveness_criteria = models.TextField(blank=True)
    effectiveness_due_date = models.DateField(null=True, blank=True)
    effectiveness_result = models.CharField(max_length=16, choices=Effectiveness.choices, blank=True)
    effectiveness_evidence = models.TextField(blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    sponsor_scope = "sponsor"
    sponsor_optional = True
    draft_states = ("draft",)
    # The approved plan is what QA signed; its due date (extensions) and the effectiveness
    # outcome recorded later are not part of it.
    signature_exclude = (*Record.signature_exclude, "due_date", "effectiveness_due_date", "effectiveness_result",
                         "effectiveness_evidence", "closed_at")

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status", "due_date"], name="capa_status_due_idx"),
                   # --- Dashboard --- covering indexes (see Deviation).
                   models.Index(fields=["owner", "status", "due_date", "closed_at", "sponsor"],
                                name="capa_dashboard_owner_idx"),
                   models.Index(fields=["status", "closed_at", "created_at", "sponsor"], name="capa_dashboard_cycle_idx")]


class DeviationCapa(models.Model):
    """A CAPA raised for, or addressing, a deviation (many deviations may share one CAPA)."""

    deviation = models.ForeignKey(Deviation, on_delete=models.PROTECT, related_name="capa_links")
    capa = models.ForeignKey(Capa, on_delete=models.PROTECT, related_name="deviation_links")

    sponsor_scope = "deviation__sponsor"
    sponsor_optional = True

    class Meta:
        constraints = [models.UniqueConstraint(fields=["deviation", "capa"], name="one_link_per_deviation_capa")]


class CapaAction(models.Model):
    """One action of a CAPA plan, with its owner, due date, evidence and verification."""

    class Kind(models.TextChoices):
        CORRECTIVE = "corrective", "Corrective"
        PREVENTIVE = "preventive", "Preventive"

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        DONE = "done", "Done, awaiting verification"
        VERIFIED = "verified", "Verified"
        CANCELLED = "cancelled", "Cancelled"

    capa = models.ForeignKey(Capa, on_delete=models.PROTECT, related_name="actions")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    description = models.TextField()
    owner = models.ForeignKey("core.User", on_delete=models.PROTECT, related_name="+")
    due_date = models.DateField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)
    evidence = models.TextField(blank=True)
    completed_by = models.ForeignKey("core.User", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    completed_at = models.DateTimeField(null=True, blank=True)
    verified_by = models.ForeignKey("core.User", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    verified_at = models.DateTimeField(null=True, blank=True)

    sponsor_scope = "capa__sponsor"
    sponsor_optional = True

    class Meta:
        ordering = ["due_date", "id"]
        indexes = [models.Index(fields=["owner", "status"], name="capa_action_owner_idx")]

    def __str__(self):
        return f"{self.capa.number} action {self.pk}"


class ChangeControl(Record):
    """A proposed change, assessed for impact, approved (by the sponsor where its quality
    agreement says so) before it is implemented (Q10-1 change management)."""

    class Kind(models.TextChoices):
        DOCUMENT = "document", "Document"
        PROCESS = "process", "Process / master batch record"
        SPECIFICATION = "specification", "Specification or method"
        EQUIPMENT = "equipment", "Equipment or facility"
        MATERIAL = "material", "Material or supplier"
        SYSTEM = "system", "Computerised system"
        ORGANISATION = "organisation", "Organisation"

    number_prefix = "CC"

    title = models.CharField(max_length=200)
    description = models.TextField(help_text="What changes, from what to what.")
    justification = models.TextField(help_text="Why the change is needed.")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    classification = models.CharField(max_length=16, choices=Classification.choices, blank=True)
    risk_summary = models.TextField(blank=True, help_text="QRM evaluation of the change (Q10-1).")
    regulatory_filing = models.BooleanField(
        default=False, help_text="The change must be notified to or approved by a regulator before use.")
    regulatory_notes = models.TextField(blank=True)
    proposed_by = models.ForeignKey("core.User", on_delete=models.PROTECT, related_name="+")
    target_date = models.DateField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    # A change of one sponsor's process has that sponsor; a CDMO-wide change (a shared room,
    # an SOP) has none, and each sponsor it touches sees it through its impacts and approval.
    sponsor = models.ForeignKey("sponsors.Sponsor", null=True, blank=True, on_delete=models.PROTECT, related_name="+")

    sponsor_scope = "sponsor"
    sponsor_optional = True
    # The proposer signs the proposal; QA's assessment (filled in after that signature, frozen
    # once approval is requested) and the closing stamp are not part of what the proposer signed.
    signature_exclude = (*Record.signature_exclude, "classification", "risk_summary", "regulatory_filing",
                         "regulatory_notes", "closed_at")

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status"], name="change_status_idx")]


class ChangeImpact(RecordLink):
    """One affected item in the impact assessment: a document, master batch record,
    specification, equipment, validation, filing or sponsor."""

    class Area(models.TextChoices):
        DOCUMENT = "document", "Documents"
        MBR = "mbr", "Master batch records"
        SPECIFICATION = "specification", "Specifications and methods"
        EQUIPMENT = "equipment", "Equipment and facilities"
        VALIDATION = "validation", "Validation"
        REGULATORY = "regulatory", "Regulatory filings"
        SPONSOR = "sponsor", "Sponsors"
        TRAINING = "training", "Training"

    change = models.ForeignKey(ChangeControl, on_delete=models.PROTECT, related_name="impacts")
    area = models.CharField(max_length=16, choices=Area.choices)
    # An impact may name one record, or the area as a whole (e.g. "regulatory filings").
    record_type = models.CharField(max_length=64, blank=True)
    record_id = models.CharField(max_length=64, blank=True)
    record_label = models.CharField(max_length=200, blank=True)
    sponsor = models.ForeignKey("sponsors.Sponsor", null=True, blank=True, on_delete=models.PROTECT, related_name="+",
                                help_text="The sponsor whose products or records this impact touches.")
    assessment = models.TextField(blank=True)

    sponsor_scope = "sponsor"
    sponsor_optional = True

    class Meta:
        ordering = ["area", "id"]


class SponsorApproval(Record):
    """A sponsor's decision on a change, signed in OpenCDMO by that sponsor's quality lead;
    required when the sponsor's approved quality agreement asks for it."""

    number_prefix = "SPA"
    draft_states = ("pending",)

    change = models.ForeignKey(ChangeControl, on_delete=models.PROTECT, related_name="sponsor_approvals")
    sponsor = models.ForeignKey("sponsors.Sponsor", on_delete=models.PROTECT, related_name="+")
    quality_agreement = models.CharField(max_length=32, help_text="Number of the agreement that requires it.")
    decided_by = models.ForeignKey("core.User", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    decided_at = models.DateTimeField(null=True, blank=True)
    comment = models.TextField(blank=True)

    sponsor_scope = "sponsor"

    class Meta:
        constraints = [models.UniqueConstraint(fields=["change", "sponsor"], name="one_approval_per_sponsor")]


class ChangeTask(RecordLink):
    """An implementation task; `record_*` name the new version it produced, once done."""

    change = models.ForeignKey(ChangeControl, on_delete=models.PROTECT, related_name="tasks")
    description = models.TextField()
    owner = models.ForeignKey("core.User", on_delete=models.PROTECT, related_name="+")
    due_date = models.DateField()
    done = models.BooleanField(default=False)
    completed_by = models.ForeignKey("core.User", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    completed_at = models.DateTimeField(null=True, blank=True)
    record_type = models.CharField(max_length=64, blank=True)
    record_id = models.CharField(max_length=64, blank=True)
    record_label = models.CharField(max_length=200, blank=True)

    sponsor_scope = "change__sponsor"
    sponsor_optional = True

    class Meta:
        ordering = ["due_date", "id"]


class RiskMethod(Record):
    """Scales and risk matrix of an FMEA (QRM-1: site conventions, configurable and versioned).

    `levels` maps a risk level to its rule, checked from the most severe down, e.g.
    [{"level": "high", "min_rpn": 100}, {"level": "high", "min_severity": 9},
     {"level": "medium", "min_rpn": 40}, {"level": "low"}].
    """

    number_prefix = "RM"

    name = models.CharField(max_length=100)
    severity_max = models.PositiveSmallIntegerField(default=10)
    occurrence_max = models.PositiveSmallIntegerField(default=10)
    detection_max = models.PositiveSmallIntegerField(default=10)
    scale_definitions = models.JSONField(default=dict, blank=True,
                                         help_text="Meaning of each score per scale, for the people scoring.")
    levels = models.JSONField(default=list)

    class Meta:
        ordering = ["name", "-version"]


class RiskAssessment(Record):
    """An FMEA of a process, product, equipment or change, approved with signatures."""

    number_prefix = "RA"

    title = models.CharField(max_length=200)
    scope = models.TextField(help_text="What is assessed and where its boundaries are.")
    method = models.ForeignKey(RiskMethod, on_delete=models.PROTECT, related_name="assessments")
    sponsor = models.ForeignKey("sponsors.Sponsor", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    subject_type = models.CharField(max_length=64, blank=True)
    subject_id = models.CharField(max_length=64, blank=True)
    subject_label = models.CharField(max_length=200, blank=True)
    change = models.ForeignKey(ChangeControl, null=True, blank=True, on_delete=models.PROTECT,
                               related_name="risk_assessments")

    sponsor_scope = "sponsor"
    sponsor_optional = True

    class Meta:
        ordering = ["-created_at"]


class FailureMode(models.Model):
    """One FMEA row: scored before and after mitigation (QRM-1: RPN = S × O × D)."""

    assessment = models.ForeignKey(RiskAssessment, on_delete=models.PROTECT, related_name="failure_modes")
    position = models.PositiveIntegerField(default=0)
    step = models.CharField(max_length=200, help_text="Process step or item.")
    failure_mode = models.TextField()
    effect = models.TextField()
    cause = models.TextField()
    current_controls = models.TextField(blank=True)
    severity = models.PositiveSmallIntegerField()
    occurrence = models.PositiveSmallIntegerField()
    detection = models.PositiveSmallIntegerField()
    rpn = models.PositiveIntegerField()
    risk_level = models.CharField(max_length=16)
    mitigation = models.TextField(blank=True)
    capa_action = models.ForeignKey(CapaAction, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    residual_severity = models.PositiveSmallIntegerField(null=True, blank=True)
    residual_occurrence = models.PositiveSmallIntegerField(null=True, blank=True)
    residual_detection = models.PositiveSmallIntegerField(null=True, blank=True)
    residual_rpn = models.PositiveIntegerField(null=True, blank=True)
    residual_level = models.CharField(max_length=16, blank=True)

    sponsor_scope = "assessment__sponsor"
    sponsor_optional = True

    class Meta:
        ordering = ["position", "id"]
