"""Training: courses, curricula (which roles train on which documents and courses) and assignments."""

from django.db import models
from django.db.models import Q

from opencdmo.core.models import User
from opencdmo.documents.models import Document, DocumentVersion


class Course(models.Model):
    """Training that is not reading a document, e.g. 'Aseptic gowning qualification'."""

    name = models.CharField(max_length=200, unique=True)
    description = models.TextField(blank=True)
    trainer_led = models.BooleanField(default=True)
    is_active = models.BooleanField(default=True)

    sponsor_scope = None

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


class Curriculum(models.Model):
    """What the holders of some roles must be trained on, and within how many days."""

    name = models.CharField(max_length=200, unique=True)
    roles = models.JSONField(default=list, help_text="role codes, e.g. ['operator']")
    documents = models.ManyToManyField(Document, blank=True, related_name="+")
    courses = models.ManyToManyField(Course, blank=True, related_name="+")
    due_days = models.PositiveSmallIntegerField(default=30)
    is_active = models.BooleanField(default=True)

    sponsor_scope = None

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "curricula"

    def __str__(self):
        return self.name


class TrainingAssignment(models.Model):
    """One person's training on one document version or course, signed when completed.

    Not a kernel Record: assignments are mostly made by the system (a role granted, a version
    approved), so `assigned_by` may be empty where a Record's creator may not.
    """

    class Method(models.TextChoices):
        READ_AND_UNDERSTOOD = "read_and_understood", "Read and understood"
        TRAINER_LED = "trainer_led", "Trainer-led session"

    number = models.CharField(max_length=32, unique=True)
    status = models.CharField(max_length=16, default="assigned")
    user = models.ForeignKey(User, on_delete=models.PROTECT, related_name="training_assignments")
    document_version = models.ForeignKey(DocumentVersion, on_delete=models.PROTECT, null=True, blank=True,
                                         related_name="+")
    course = models.ForeignKey(Course, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    curriculum = models.ForeignKey(Curriculum, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    due_date = models.DateField()
    completed_at = models.DateTimeField(null=True, blank=True)
    method = models.CharField(max_length=24, choices=Method.choices, blank=True)
    trainer = models.ForeignKey(User, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    passed = models.BooleanField(null=True, blank=True)
    score = models.DecimalField(max_digits=5, decimal_places=1, null=True, blank=True)
    assigned_at = models.DateTimeField()
    assigned_by = models.ForeignKey(User, on_delete=models.PROTECT, null=True, blank=True, related_name="+")

    sponsor_scope = "document_version__document__sponsor"
    sponsor_optional = True  # courses and CDMO-wide documents
    # The signature vouches for who trained on what; status and outcome are written with it.
    signature_exclude = ("status", "completed_at", "method", "trainer", "passed", "score", "due_date")

    class Meta:
        ordering = ["due_date", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(document_version__isnull=False, course__isnull=True)
                | Q(document_version__isnull=True, course__isnull=False),
                name="assignment_is_for_a_version_or_a_course"),
            models.UniqueConstraint(fields=["user", "document_version"], condition=Q(status="assigned"),
                                    name="one_open_assignment_per_version"),
            models.UniqueConstraint(fields=["user", "course"], condition=Q(status="assigned"),
                                    name="one_open_assignment_per_course"),
        ]
        indexes = [
            # is_trained: has this user completed one of these versions by then?
            models.Index(fields=["user", "document_version", "status", "completed_at"], name="training_trained_idx"),
            models.Index(fields=["status", "due_date"], name="training_due_idx"),
        ]

    def __str__(self):
        return self.number

    @property
    def subject(self) -> str:
        if self.document_version_id:
            v = self.document_version
            return f"{v.document.number} v{v.label} {v.document.title}"
        return self.course.name
