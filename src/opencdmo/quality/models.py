"""Deviations: the one record every module raises when something did not go as it should."""

from django.db import models

from opencdmo.core.models import Record


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

    title = models.CharField(max_length=200)
    description = models.TextField()
    source = models.CharField(max_length=32, choices=Source.choices)
    sponsor = models.ForeignKey("sponsors.Sponsor", null=True, blank=True, on_delete=models.PROTECT,
                                related_name="deviations")
    raised_by = models.ForeignKey("core.User", on_delete=models.PROTECT, related_name="+")
    raised_at = models.DateTimeField()

    sponsor_scope = "sponsor"
    sponsor_optional = True  # CDMO-wide deviations (a failed pipette) have no sponsor

    class Meta:
        ordering = ["-raised_at"]


class DeviationLink(models.Model):
    """A record the deviation concerns: batch, lot, equipment, room, patient … (by type and id)."""

    deviation = models.ForeignKey(Deviation, on_delete=models.PROTECT, related_name="links")
    record_type = models.CharField(max_length=64)
    record_id = models.CharField(max_length=64)
    record_label = models.CharField(max_length=200)

    sponsor_scope = "deviation__sponsor"
    sponsor_optional = True

    class Meta:
        constraints = [models.UniqueConstraint(fields=["deviation", "record_type", "record_id"],
                                               name="one_link_per_record")]
