"""Logins, lockout and security alerts (P11-7d: detect and report attempted unauthorised use)."""

import datetime as dt

from django.conf import settings
from django.db import transaction

from . import audit, clock
from .errors import PermissionDenied
from .models import AuditEvent, User

LOCKED_MESSAGE = (
    "This account is locked after repeated failed attempts. "
    "Ask a system administrator to unlock it."
)
LOGIN_REFUSED = "User ID or password is not correct."
FAILURE_ACTIONS = ("failed_login", "failed_signature")
# A successful login and an administrator's unlock start the count again.
RESET_ACTIONS = ("login", "unlock")


def find_user(username: str) -> User | None:
    return User.objects.filter(username__iexact=username.strip()).first()


def recent_failures(user: User, now: dt.datetime) -> list[str]:
    """When the user's failed logins and signings happened in the lockout window that ends
    `now`, since their last successful login or unlock, oldest first.

    The window slides: it is read from the audit trail, which holds every failure with its
    server time, so five failures within any 15 minutes lock (P11-7d), not just five within
    15 minutes of the first failure.
    """
    window = dt.timedelta(minutes=settings.LOCKOUT_WINDOW_MIN)
    events = AuditEvent.objects.filter(
        record_type=audit.record_type(User), record_id=str(user.pk),
        occurred_at__gte=canonical_time(now - window),
    )
    last_reset = events.filter(action__in=RESET_ACTIONS).order_by("-id").values_list("id", flat=True).first()
    failures = events.filter(action__in=FAILURE_ACTIONS)
    if last_reset is not None:
        failures = failures.filter(id__gt=last_reset)
    return list(failures.order_by("id").values_list("occurred_at", flat=True))


def record_failure(user: User | None, attempted_username: str, *, what: str = "login") -> str:
    """Count a failed login or signing; lock the account at the threshold. Commits by itself.

    Returns the message to show: a failed login never tells whether the user ID exists.
    """
    with transaction.atomic():
        if user is None:
            audit.log_event(
                None, "failed_login", record_type_name="core.user", record_id="",
                record_label=attempted_username[:200], actor_name=attempted_username[:200] or "(blank)",
                reason=f"failed {what}: unknown user ID",
            )
            return LOGIN_REFUSED
        user = User.objects.select_for_update().get(pk=user.pk)
        now = clock.now()
        earlier = recent_failures(user, now)
        user.failed_logins = len(earlier) + 1
        user.first_failed_login_at = (
            dt.datetime.strptime(earlier[0], audit.TIMESTAMP_FORMAT).replace(tzinfo=dt.UTC) if earlier else now
        )
        user.save(update_fields=["failed_logins", "first_failed_login_at"])
        audit.log_event(
            user, "failed_login" if what == "login" else "failed_signature", record=user,
            reason=(f"failed {what} on a locked account" if user.locked_at is not None
                    else f"failed {what} ({user.failed_logins} of {settings.LOCKOUT_FAILURES})"),
        )
        if user.locked_at is None and user.failed_logins >= settings.LOCKOUT_FAILURES:
            user.locked_at = now
            user.save(update_fields=["locked_at"])
            audit.log_event(
                user, "security_alert", record=user,
                changes={"locked_at": [None, canonical_time(now)]},
                reason=(
                    f"account locked: {user.failed_logins} failed attempts within "
                    f"{settings.LOCKOUT_WINDOW_MIN} minutes"
                ),
            )
    if user.locked_at is not None:
        return LOCKED_MESSAGE
    if what == "login":
        return LOGIN_REFUSED
    left = settings.LOCKOUT_FAILURES - user.failed_logins
    return f"{LOGIN_REFUSED} {left} attempt{'s' if left != 1 else ''} left before the account is locked."


def canonical_time(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime(audit.TIMESTAMP_FORMAT)


def check_credentials(username: str, password: str) -> User:
    """The user, if the ID and password are right and the account may sign in; else PermissionDenied."""
    user = find_user(username)
    if user is not None and user.is_active and user.is_locked:
        record_failure(user, username)
        raise PermissionDenied(LOCKED_MESSAGE)
    if user is None or not user.is_active or not user.check_password(password):
        raise PermissionDenied(record_failure(user if user and user.is_active else None, username))
    return user


@transaction.atomic
def record_login(user: User) -> None:
    User.objects.filter(pk=user.pk).update(
        failed_logins=0, first_failed_login_at=None, last_login=clock.now()
    )
    audit.log_event(user, "login", record=user)


@transaction.atomic
def record_logout(user: User, *, why: str = "") -> None:
    audit.log_event(user, "logout", record=user, reason=why)
