"""Logins, lockout and security alerts (P11-7d: detect and report attempted unauthorised use)."""

import datetime as dt

from django.conf import settings
from django.db import transaction

from . import audit, clock
from .errors import PermissionDenied
from .models import User

LOCKED_MESSAGE = (
    "This account is locked after repeated failed attempts. "
    "Ask a system administrator to unlock it."
)


def find_user(username: str) -> User | None:
    return User.objects.filter(username__iexact=username.strip()).first()


def record_failure(user: User | None, attempted_username: str, *, what: str = "login") -> str:
    """Count a failed login or signing; lock the account at the threshold. Commits by itself.

    Returns the message to show: it never tells whether the user ID exists.
    """
    with transaction.atomic():
        if user is None:
            audit.log_event(
                None, "failed_login", record_type_name="core.user", record_id="",
                record_label=attempted_username[:200], actor_name=attempted_username[:200] or "(blank)",
                reason=f"failed {what}: unknown user ID",
            )
            return "User ID or password is not correct."
        user = User.objects.select_for_update().get(pk=user.pk)
        now = clock.now()
        window = dt.timedelta(minutes=settings.LOCKOUT_WINDOW_MIN)
        if user.first_failed_login_at is None or now - user.first_failed_login_at > window:
            user.failed_logins, user.first_failed_login_at = 0, now
        user.failed_logins += 1
        user.save(update_fields=["failed_logins", "first_failed_login_at"])
        audit.log_event(
            user, "failed_login" if what == "login" else "failed_signature", record=user,
            reason=f"failed {what} ({user.failed_logins} of {settings.LOCKOUT_FAILURES})",
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
    left = settings.LOCKOUT_FAILURES - user.failed_logins
    noun = "password" if what != "login" else "User ID or password"
    return f"{noun} is not correct. {left} attempt{'s' if left != 1 else ''} left before the account is locked."


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
