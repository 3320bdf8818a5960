"""The compliance kernel's records: users, audit events, signatures, numbers, attachments."""

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.db import models
from django.db.models.functions import Lower

from . import clock
from .domain.roles import ROLE_LABELS, Role, permissions_of


class UserManager(BaseUserManager):
    def get_by_natural_key(self, username):
        return self.get(username__iexact=username)


class User(AbstractBaseUser):
    """A person's account. Deactivated, never deleted; usernames never reused (P11-5a)."""

    username = models.CharField(max_length=64, unique=True)
    full_name = models.CharField("printed name", max_length=200)
    email = models.EmailField(blank=True)
    is_active = models.BooleanField(default=True)
    sponsors = models.ManyToManyField("sponsors.Sponsor", blank=True, related_name="users")
    created_at = models.DateTimeField(default=clock.now)
    deactivated_at = models.DateTimeField(null=True, blank=True)
    failed_logins = models.PositiveIntegerField(default=0)
    first_failed_login_at = models.DateTimeField(null=True, blank=True)
    locked_at = models.DateTimeField(null=True, blank=True)
    must_change_password = models.BooleanField(
        default=False, help_text="Set when an administrator chose the password; cleared when the user changes it."
    )

    USERNAME_FIELD = "username"
    REQUIRED_FIELDS = ["full_name"]
    objects = UserManager()

    # Bookkeeping that changes on every login: kept out of the audit diff on purpose
    # (logins and failures are audited as their own events).
    audit_exclude = ("password", "last_login", "failed_logins", "first_failed_login_at")
    sponsor_scope = None

    class Meta:
        ordering = ["username"]
        constraints = [
            # 'QA.Patel' and 'qa.patel' are one user ID (P11-5a, P11-7a): enforced by the database,
            # so two simultaneous creations cannot both win.
            models.UniqueConstraint(Lower("username"), name="username_unique_ignoring_case"),
        ]

    def __str__(self):
        return f"{self.full_name} ({self.username})"

    @property
    def is_locked(self) -> bool:
        return self.locked_at is not None

    @property
    def role_codes(self) -> list[str]:
        if not hasattr(self, "_role_codes"):
            self._role_codes = sorted(self.role_grants.values_list("role", flat=True))
        return self._role_codes

    @property
    def role_labels(self) -> list[str]:
        return [ROLE_LABELS[Role(r)] for r in self.role_codes]

    def has_permission(self, permission: str) -> bool:
        return self.is_active and permission in permissions_of(self.role_codes)

    def sponsor_ids(self) -> list[int]:
        if not hasattr(self, "_sponsor_ids"):
            self._sponsor_ids = list(self.sponsors.values_list("pk", flat=True))
        return self._sponsor_ids

    def forget_cached_access(self) -> None:
        for attr in ("_role_codes", "_sponsor_ids"):
            self.__dict__.pop(attr, None)


class RoleGrant(models.Model):
    user = models.ForeignKey(User, on_delete=models.PROTECT, related_name="role_grants")
    role = models.CharField(max_length=32, choices=[(r.value, r.label) for r in Role])

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "role"], name="one_grant_per_role")]


class AuditChain(models.Model):
    """The sealed head of one lane of the audit trail (see domain/chain.py)."""

    lane = models.PositiveIntegerField(primary_key=True)
    last_seq = models.BigIntegerField(default=0)
    last_hash = models.CharField(max_length=64)
    seal = models.CharField(max_length=64)


class AuditEvent(models.Model):
    """One line of the audit trail: who, what (old → new), when, why. Append-only (P11-1e)."""

    id = models.BigIntegerField(primary_key=True)
    lane = models.PositiveIntegerField()
    seq = models.BigIntegerField()
    occurred_at = models.CharField(max_length=32, db_index=True)  # server UTC, ISO 8601, as hashed
    actor_id = models.BigIntegerField(null=True)
    actor_name = models.CharField(max_length=200)
    action = models.CharField(max_length=32, db_index=True)
    record_type = models.CharField(max_length=64)
    record_id = models.CharField(max_length=64)
    record_label = models.CharField(max_length=200)
    record_version = models.IntegerField(null=True)
    sponsor_id = models.BigIntegerField(null=True, db_index=True)
    changes = models.TextField()  # canonical JSON {field: [old, new]}
    reason = models.TextField()
    correlation_id = models.CharField(max_length=32, db_index=True)
    client_address = models.CharField(max_length=64)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)

    sponsor_scope = "sponsor_id"

    class Meta:
        ordering = ["-occurred_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["lane", "seq"], name="one_event_per_position")]
        indexes = [
            models.Index(fields=["record_type", "record_id"], name="audit_record_idx"),
            models.Index(fields=["actor_id", "occurred_at"], name="audit_actor_idx"),
        ]


class Signature(models.Model):
    """An electronic signature: its own immutable record, bound to the signed content (P11-4)."""

    class Meaning(models.TextChoices):
        AUTHORED = "Authored"
        REVIEWED = "Reviewed"
        APPROVED = "Approved"
        VERIFIED = "Verified"
        PERFORMED = "Performed"
        QA_RELEASED = "QA Released"
        REJECTED = "Rejected"
        RESPONSIBILITY = "Responsibility"
        READ_AND_UNDERSTOOD = "Read and Understood"
        TRAINER = "Trainer"

    signer = models.ForeignKey(User, on_delete=models.PROTECT, related_name="signatures")
    printed_name = models.CharField(max_length=200)
    meaning = models.CharField(max_length=32, choices=Meaning.choices)
    signed_at = models.DateTimeField()
    record_type = models.CharField(max_length=64)
    record_id = models.CharField(max_length=64)
    record_label = models.CharField(max_length=200)
    record_version = models.IntegerField()
    content_hash = models.CharField(max_length=64)
    sponsor_id = models.BigIntegerField(null=True, db_index=True)
    comment = models.TextField(blank=True)
    correlation_id = models.CharField(max_length=32)

    sponsor_scope = "sponsor_id"

    class Meta:
        ordering = ["signed_at", "id"]
        indexes = [models.Index(fields=["record_type", "record_id"], name="signature_record_idx")]


class NumberSequence(models.Model):
    """The last number issued per record type and year (DEV-2026-0001 …)."""

    prefix = models.CharField(max_length=16)
    year = models.PositiveIntegerField()
    last_value = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["prefix", "year"], name="one_sequence_per_year")]


class Attachment(models.Model):
    """A file linked to a record, stored under its SHA-256 and never overwritten."""

    sha256 = models.CharField(max_length=64, db_index=True)
    filename = models.CharField(max_length=255)
    content_type = models.CharField(max_length=100)
    size = models.BigIntegerField()
    record_type = models.CharField(max_length=64)
    record_id = models.CharField(max_length=64)
    sponsor_id = models.BigIntegerField(null=True, db_index=True)
    description = models.CharField(max_length=255, blank=True)
    uploaded_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    uploaded_at = models.DateTimeField()

    sponsor_scope = "sponsor_id"

    class Meta:
        ordering = ["uploaded_at", "id"]
        indexes = [models.Index(fields=["record_type", "record_id"], name="attachment_record_idx")]


class ApiToken(models.Model):
    """A personal API token; only its SHA-256 is kept, the token is shown once."""

    user = models.ForeignKey(User, on_delete=models.PROTECT, related_name="api_tokens")
    name = models.CharField(max_length=100)
    token_hash = models.CharField(max_length=64, unique=True)
    prefix = models.CharField(max_length=12)
    created_at = models.DateTimeField()
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    sponsor_scope = None
    audit_exclude = ("token_hash",)

    class Meta:
        ordering = ["-created_at"]


class Record(models.Model):
    """What every regulated record has: a number, a status, a version and server stamps.

    History lives in the audit trail, not in per-model history tables; there is no delete.
    """

    number = models.CharField(max_length=32, unique=True)
    status = models.CharField(max_length=32)
    version = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField()
    created_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    modified_at = models.DateTimeField()

    # Fields that are not the record's content: a signature stays valid when they change.
    signature_exclude = ("status", "version", "modified_at")
    draft_states = ("draft",)
    number_prefix = ""

    class Meta:
        abstract = True

    def __str__(self):
        return self.number

    @property
    def left_draft(self) -> bool:
        return self.status not in self.draft_states
