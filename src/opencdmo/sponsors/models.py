"""Sponsors (the CDMO's clients), their programs and products, and quality agreements."""

from django.db import models

from opencdmo.core.models import Record


class Sponsor(models.Model):
    code = models.CharField(max_length=16, unique=True)
    name = models.CharField(max_length=200)
    is_active = models.BooleanField(default=True)

    sponsor_scope = "pk"

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


class Program(models.Model):
    sponsor = models.ForeignKey(Sponsor, on_delete=models.PROTECT, related_name="programs")
    code = models.CharField(max_length=32, unique=True)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    is_active = models.BooleanField(default=True)

    sponsor_scope = "sponsor"

    class Meta:
        ordering = ["code"]

    def __str__(self):
        return f"{self.code} {self.name}"


class Product(models.Model):
    class Modality(models.TextChoices):
        AUTOLOGOUS_CELL = "autologous_cell", "Autologous cell therapy"
        ALLOGENEIC_CELL = "allogeneic_cell", "Allogeneic cell therapy"
        AAV_VECTOR = "aav_vector", "AAV vector"
        LENTIVIRAL_VECTOR = "lentiviral_vector", "Lentiviral vector"
        PLASMID = "plasmid", "Plasmid"

    class Phase(models.TextChoices):
        PRECLINICAL = "preclinical", "Preclinical"
        PHASE_1 = "phase_1", "Clinical phase 1"
        PHASE_2 = "phase_2", "Clinical phase 2"
        PHASE_3 = "phase_3", "Clinical phase 3"
        COMMERCIAL = "commercial", "Commercial"

    program = models.ForeignKey(Program, on_delete=models.PROTECT, related_name="products")
    code = models.CharField(max_length=32, unique=True)
    name = models.CharField(max_length=200)
    modality = models.CharField(max_length=32, choices=Modality.choices)
    phase = models.CharField(max_length=16, choices=Phase.choices)
    is_active = models.BooleanField(default=True)

    sponsor_scope = "program__sponsor"

    class Meta:
        ordering = ["code"]

    def __str__(self):
        return f"{self.code} {self.name}"

    @property
    def is_patient_specific(self) -> bool:
        return self.modality == self.Modality.AUTOLOGOUS_CELL


class QualityAgreement(Record):
    """The GMP rules agreed with a sponsor, e.g. whether changes need the sponsor's approval."""

    number_prefix = "QAG"

    sponsor = models.ForeignKey(Sponsor, on_delete=models.PROTECT, related_name="quality_agreements")
    title = models.CharField(max_length=200)
    sponsor_approval_for_changes = models.BooleanField(
        default=True, help_text="Changes affecting this sponsor need the sponsor's approval."
    )
    deviation_notification_days = models.PositiveIntegerField(
        default=2, help_text="Working days within which major and critical deviations are notified."
    )
    effective_date = models.DateField(null=True, blank=True)
    terms = models.TextField(blank=True)

    sponsor_scope = "sponsor"

    class Meta:
        ordering = ["-created_at"]
