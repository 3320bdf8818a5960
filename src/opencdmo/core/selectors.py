"""Reads of the compliance kernel: audit trail, signatures, attachments, users, alerts, tasks."""

import datetime as dt

from django.db.models import Q

from . import audit, registry, signatures
from .access import require_to_see
from .errors import NotFound
from .models import Attachment, AuditEvent, User
from .scoping import get_scoped, scoped


def record(user, type_name: str, reference: str):
    """A registered record by its type and reference, if this user may see it."""
    kind = registry.kind(type_name)
    if kind is None:
        raise NotFound(f"'{type_name}' is not a kind of record.")
    if getattr(kind.model, "sponsor_scope", None) is None and not user.has_permission("core.view_cdmo_records"):
        # The CDMO's own records (rooms, instruments, EM samples) are its staff's, never a sponsor's.
        raise NotFound(f"No {kind.label.lower()} matches that reference.")
    return kind, get_scoped(kind.model, user, **{kind.lookup: reference})


def _utc(value: dt.datetime | dt.date | None, *, end: bool = False) -> str | None:
    if value is None:
        return None
    if not isinstance(value, dt.datetime):
        value = dt.datetime.combine(value, dt.time.max if end else dt.time.min, tzinfo=dt.UTC)
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC).strftime(audit.TIMESTAMP_FORMAT)


def audit_events(user, *, record_type: str = "", record_id: str = "", actor: str = "", action: str = "",
                 since=None, until=None, text: str = ""):
    """The audit trail as this user may see it: their sponsors' events and CDMO-wide events
    (those with no sponsor) when they may read the whole trail."""
    require_to_see(user, "core.view_audit_trail")
    events = AuditEvent.objects.all()
    if user.has_permission("core.view_system_events"):
        events = events.filter(Q(sponsor_id__isnull=True) | Q(sponsor_id__in=user.sponsor_ids()))
    else:
        events = scoped(events, user)
    if record_type:
        events = events.filter(record_type=record_type)
    if record_id:  # the record's number as people know it, or its internal id
        events = events.filter(Q(record_id=record_id) | Q(record_label__iexact=record_id))
    if actor:
        events = events.filter(Q(actor_name__icontains=actor) | Q(actor_id__in=User.objects.filter(
            username__iexact=actor).values("pk")))
    if action:
        events = events.filter(action=action)
    if since := _utc(since):
        events = events.filter(occurred_at__gte=since)
    if until := _utc(until, end=True):
        events = events.filter(occurred_at__lte=until)
    if text:
        events = events.filter(Q(changes__icontains=text) | Q(reason__icontains=text) | Q(record_label__icontains=text))
    return events.order_by("-occurred_at", "-id")


def record_audit_trail(user, obj):
    """The history of one record the caller has already found through scoping: whoever may
    see the record may see all of its history (A11-8), CDMO-wide records included."""
    require_to_see(user, "core.view_audit_trail")
    return AuditEvent.objects.filter(record_type=audit.record_type(obj), record_id=str(obj.pk)).order_by(
        "-occurred_at", "-id")


def record_signatures(user, obj):
    require_to_see(user, "core.view_signatures")
    return signatures.with_validity(obj)


def record_attachments(user, obj):
    return scoped(Attachment, user).filter(record_type=audit.record_type(obj), record_id=str(obj.pk)).select_related(
        "uploaded_by")


def attachment(user, pk: int) -> Attachment:
    return get_scoped(Attachment, user, pk=pk)


def users(user):
    require_to_see(user, "core.manage_users")
    return User.objects.prefetch_related("role_grants", "sponsors")


def security_alerts(user, *, limit: int = 50):
    require_to_see(user, "core.view_security_alerts")
    return AuditEvent.objects.filter(action="security_alert").order_by("-occurred_at", "-id")[:limit]


def locked_users(user):
    require_to_see(user, "core.view_security_alerts")
    return User.objects.filter(locked_at__isnull=False, is_active=True)


ACTIONS = ["create", "update", "transition", "sign", "attach", "login", "logout", "failed_login",
           "failed_signature", "security_alert", "permission_change", "password_change", "deactivate",
           "unlock", "revoke", "export"]


def assignable_sponsors(user):
    """Sponsors an administrator may give access to: those they can see themselves."""
    return scoped(User._meta.get_field("sponsors").related_model, user)
