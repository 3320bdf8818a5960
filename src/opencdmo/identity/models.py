"""Patients and their therapy orders: the start of the chain of identity.

A patient is known by the sponsor's pseudonymized subject id only (no more personal data than
needed; the date of birth is optional). Each patient therapy event (an order) gets one Chain of
Identity Identifier (ISBT 128 DS040) that every label, custody event and batch of that therapy
carries."""

from django.db import models

from opencdmo.core.models import Record
from opencdmo.sponsors.models import Product, Sponsor


class TreatmentCentre(models.Model):
    """A hospital that collects a sponsor's patients' cells and infuses the product."""

    sponsor = models.ForeignKey(Sponsor, on_delete=models.PROTECT, related_name="treatment_centres")
    code = models.CharField(max_length=16)
    name = models.CharField(max_length=200)
    address = models.TextField(blank=True)
    is_active = models.BooleanField(default=True)
    version = models.PositiveIntegerField(default=1)

    sponsor_scope = "sponsor"

    class Meta:
        ordering = ["sponsor", "code"]
        constraints = [models.UniqueConstraint(fields=["sponsor", "code"], name="one_centre_code_per_sponsor")]

    def __str__(self):
        return f"{self.code} {self.name}"


class Patient(Record):
    number_prefix = "PT"

    sponsor = models.ForeignKey(Sponsor, on_delete=models.PROTECT, related_name="patients")
    subject_id = models.CharField("subject id", max_length=32, help_text="the sponsor's pseudonymized id")
    centre = models.ForeignKey(TreatmentCentre, on_delete=models.PROTECT, related_name="patients")
    date_of_birth = models.DateField(null=True, blank=True)

    sponsor_scope = "sponsor"
    draft_states = ("enrolled",)

    class Meta:
        ordering = ["sponsor", "subject_id"]
        constraints = [models.UniqueConstraint(fields=["sponsor", "subject_id"], name="one_subject_id_per_sponsor")]

    def __str__(self):
        return f"{self.number} ({self.subject_id})"


class TherapyOrder(Record):
    """One patient-specific therapy: its chain of identity identifier, issued once, never reused."""

    number_prefix = "ORD"

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="orders")
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="therapy_orders")
    coi = models.CharField("chain of identity identifier", max_length=15, unique=True,
                           help_text="the 15-character DS040 content, 'CH' + issuer FIN + year + sequence")
    planned_collection = models.DateField()

    sponsor_scope = "patient__sponsor"
    draft_states = ("ordered",)

    class Meta:
        ordering = ["-created_at", "-id"]


class CoiSequence(models.Model):
    """The last chain of identity sequence issued per issuer and year; locked while issuing."""

    issuer = models.CharField(max_length=5)
    year = models.CharField(max_length=2)
    last = models.CharField(max_length=6)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["issuer", "year"], name="one_coi_sequence_per_year")]
