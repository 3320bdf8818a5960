"""Master batch records: the approved recipe of a product, versioned, with its signed lifecycle."""

from django.db import models
from django.db.models import Q

from opencdmo.core.models import Record
from opencdmo.sponsors.models import Product

OPEN_STATES = ("draft", "in_review", "approved")  # a version still being written, signed or awaiting effect


class MasterBatchRecord(Record):
    """What stays the same across versions: the product and the process's name."""

    number_prefix = "MBR"

    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="master_batch_records")
    title = models.CharField(max_length=200)

    sponsor_scope = "product__program__sponsor"
    draft_states = ("active",)

    class Meta:
        ordering = ["number"]


class MbrVersion(Record):
    """One version of a master batch record. `definition` is the whole structure as canonical
    JSON (processes.domain.definition), so a signature binds to every stage, step and limit."""

    mbr = models.ForeignKey(MasterBatchRecord, on_delete=models.PROTECT, related_name="versions")
    version_number = models.PositiveIntegerField()
    definition = models.JSONField()
    change_summary = models.TextField(blank=True)
    change_control = models.CharField("change control reference", max_length=64, blank=True)
    effective_from = models.DateTimeField(null=True, blank=True)

    sponsor_scope = "mbr__product__program__sponsor"
    signature_exclude = (*Record.signature_exclude, "effective_from")

    class Meta:
        ordering = ["mbr", "-version_number"]
        constraints = [
            models.UniqueConstraint(fields=["mbr", "version_number"], name="one_number_per_mbr_version"),
            models.UniqueConstraint(fields=["mbr"], condition=Q(status__in=OPEN_STATES),
                                    name="one_open_version_per_mbr"),
            models.UniqueConstraint(fields=["mbr"], condition=Q(status="effective"),
                                    name="one_effective_version_per_mbr"),
        ]

    @property
    def label(self) -> str:
        return f"v{self.version_number}"
