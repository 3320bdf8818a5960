"""Controlled documents: the document's identity, its versions, periodic reviews and where it is cited."""

from django.db import models
from django.db.models import Q

from opencdmo.core.models import Record, User
from opencdmo.sponsors.models import Sponsor

from .domain.rules import version_label

OPEN_STATES = ("draft", "in_review", "reviewed")  # a version still being written or signed


class Document(Record):
    """SOP-0001 and the like: what stays the same across versions. Versions carry the content."""

    class Type(models.TextChoices):
        SOP = "sop", "Standard operating procedure"
        WORK_INSTRUCTION = "work_instruction", "Work instruction"
        FORM = "form", "Form"
        SPECIFICATION = "specification", "Specification"
        POLICY = "policy", "Policy"
        PROTOCOL = "protocol", "Protocol"
        REPORT = "report", "Report"

    doc_type = models.CharField("type", max_length=32, choices=Type.choices)
    title = models.CharField(max_length=200)
    owner = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    sponsor = models.ForeignKey(Sponsor, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    review_interval_months = models.PositiveSmallIntegerField(default=24)
    next_review_due = models.DateField(null=True, blank=True)
    obsoleted_at = models.DateTimeField(null=True, blank=True)

    sponsor_scope = "sponsor"
    sponsor_optional = True  # no sponsor: a CDMO-wide document, for the CDMO's staff only
    draft_states = ("active",)
    signature_exclude = (*Record.signature_exclude, "next_review_due")

    class Meta:
        ordering = ["number"]

    def __str__(self):
        return self.number


class DocumentVersion(Record):
    """One version of a document: content, change summary and its own signed lifecycle."""

    document = models.ForeignKey(Document, on_delete=models.PROTECT, related_name="versions")
    major = models.PositiveIntegerField()
    minor = models.PositiveIntegerField()
    effective_date = models.DateField(null=True, blank=True)
    # The instant it takes effect, fixed at approval: start of its effective date, never before approval.
    effective_from = models.DateTimeField(null=True, blank=True)
    content = models.TextField(blank=True)
    change_summary = models.TextField(blank=True)
    training_required = models.BooleanField(
        default=True, help_text="Off for an editorial change: training on the previous version still counts.")
    change_control = models.CharField("change control reference", max_length=64, blank=True)

    sponsor_scope = "document__sponsor"
    sponsor_optional = True
    signature_exclude = (*Record.signature_exclude, "effective_from")

    class Meta:
        ordering = ["document", "-major", "-minor"]
        constraints = [
            models.UniqueConstraint(fields=["document", "major", "minor"], name="one_version_number_per_document"),
            models.UniqueConstraint(fields=["document"], condition=Q(status__in=OPEN_STATES),
                                    name="one_open_version_per_document"),
        ]
        indexes = [models.Index(fields=["document", "effective_from"], name="docversion_effective_idx")]

    @property
    def label(self) -> str:
        return version_label(self.major, self.minor)


class PeriodicReview(models.Model):
    """A signed periodic review of a document: still fit for use, or revision needed."""

    class Outcome(models.TextChoices):
        NO_CHANGE = "no_change", "No change needed"
        REVISION_NEEDED = "revision_needed", "Revision needed"

    document = models.ForeignKey(Document, on_delete=models.PROTECT, related_name="periodic_reviews")
    document_version = models.ForeignKey(DocumentVersion, on_delete=models.PROTECT, related_name="+")
    reviewed_at = models.DateTimeField()
    reviewed_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    outcome = models.CharField(max_length=20, choices=Outcome.choices)
    comment = models.TextField(blank=True)

    sponsor_scope = "document__sponsor"
    sponsor_optional = True

    class Meta:
        ordering = ["-reviewed_at", "-id"]


class DocumentCitation(models.Model):
    """Where-used: a process, specification or method that cites a document."""

    document = models.ForeignKey(Document, on_delete=models.PROTECT, related_name="citations")
    record_type = models.CharField(max_length=64)
    record_id = models.CharField(max_length=64)
    record_label = models.CharField(max_length=200)
    # The citing record's sponsor: a CDMO-wide SOP cited by one sponsor's record shows that
    # citation only to those who may see that sponsor.
    sponsor_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    cited_at = models.DateTimeField()
    cited_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")

    sponsor_scope = "sponsor_id"
    sponsor_optional = True

    class Meta:
        ordering = ["record_type", "record_label"]
        constraints = [models.UniqueConstraint(fields=["document", "record_type", "record_id"],
                                               name="one_citation_per_record")]
