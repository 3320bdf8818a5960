"""One record shape, two ways of keeping its history.

`BenchRecord` is audited the OpenCDMO way (records.update_record → audit.log_event);
`BenchRecordSH` is the same shape with django-simple-history's HistoricalRecords.
"""

from django.db import models
from simple_history.models import HistoricalRecords


class RecordShape(models.Model):
    """A typical GMP row: identifier, a few text fields, a quantity, a status and a version."""

    number = models.CharField(max_length=32, unique=True)
    title = models.CharField(max_length=200)
    status = models.CharField(max_length=32, default="draft")
    quantity = models.DecimalField(max_digits=12, decimal_places=3, default=0)
    unit = models.CharField(max_length=16, default="mL")
    notes = models.TextField(blank=True)
    version = models.PositiveIntegerField(default=1)

    class Meta:
        abstract = True

    def __str__(self):
        return self.number


class BenchRecord(RecordShape):
    sponsor_scope = None  # audit.sponsor_of: not sponsor-scoped


class BenchRecordSH(RecordShape):
    history = HistoricalRecords()
