"""Disposition: QA's (or the Qualified Person's) signed decision on a batch or a material lot,
taken against the prerequisites it was shown (REL-1)."""

from django.db import models
from django.db.models import Q

from opencdmo.core.models import Record, User


class Disposition(Record):
    """open → released | conditionally released (→ released when the pending results come in)
    | rejected. One open or decided disposition per subject; a subject is a batch (B-…) or a lot."""

    number_prefix = "DSP"

    subject_type = models.CharField(max_length=64)  # "batches.batch" or "materials.lot"
    subject_ref = models.CharField(max_length=64)
    subject_label = models.CharField(max_length=200)
    sponsor = models.ForeignKey("sponsors.Sponsor", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    prerequisites = models.JSONField(default=list, help_text="what the decider saw: name, state, detail")
    risk_assessment = models.TextField(blank=True, help_text="conditional release: why it may ship now")
    pending_tests = models.JSONField(default=list, blank=True,
                                     help_text="conditional release: the results still to come")
    decision_comment = models.TextField(blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.PROTECT, related_name="+")

    sponsor_scope = "sponsor"
    sponsor_optional = True
    draft_states = ("open",)
    # A signature binds what was decided on (the subject, the risk assessment, the pending tests);
    # completing a conditional release is a second decision, not a change of the first one.
    signature_exclude = (*Record.signature_exclude, "prerequisites", "decision_comment", "decided_at", "decided_by_id")

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["subject_type", "subject_ref"], condition=~Q(status="cancelled"),
                                    name="one_disposition_per_subject"),
        ]


class PostReleaseNotice(Record):
    """A result that failed after a conditional release: the notification path (QC-1, REL-1
    ATMP Part IV) — a deviation, and QA's record of whom they told, when and what."""

    number_prefix = "PRN"

    disposition = models.ForeignKey(Disposition, on_delete=models.PROTECT, related_name="notices")
    sponsor = models.ForeignKey("sponsors.Sponsor", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    result_ref = models.CharField(max_length=64, help_text="the failing result RES-…")
    finding = models.TextField()
    deviation = models.ForeignKey("quality.Deviation", null=True, blank=True, on_delete=models.PROTECT,
                                  related_name="+")
    notified_at = models.DateTimeField(null=True, blank=True)
    notified_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    notified_whom = models.CharField(max_length=200, blank=True, help_text="e.g. the treating physician, the sponsor")
    notification = models.TextField(blank=True)

    sponsor_scope = "sponsor"
    sponsor_optional = True
    draft_states = ("open",)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["disposition", "result_ref"], name="one_notice_per_result")]
