"""Every write of the compliance kernel: accounts, roles, sponsor access, tokens, attachments."""

import hashlib
import secrets

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction

from . import audit, clock, filestore, signals
from .access import require
from .domain.roles import Role
from .errors import Conflict, NotFound, PermissionDenied, RuleViolation
from .models import ApiToken, Attachment, RoleGrant, User
from .records import create_record, update_record


def _check_password(password: str, user: User | None = None) -> None:
    try:
        validate_password(password, user)
    except ValidationError as exc:
        raise RuleViolation(" ".join(exc.messages)) from None


@transaction.atomic
def create_user(actor, *, username: str, full_name: str, password: str, email: str = "",
                roles=(), sponsor_ids=(), reason: str = "", must_change_password: bool | None = None) -> User:
    """A new account. A username once used stays used (P11-5a): deactivated users keep theirs."""
    if actor is not None:
        require(actor, "core.manage_users")
    username = username.strip()
    if not username or not full_name.strip():
        raise RuleViolation("A user needs a user ID and a printed name.")
    if User.objects.filter(username__iexact=username).exists():
        raise Conflict(f"The user ID '{username}' is taken, or was used before; user IDs are never reused.")
    user = User(username=username, full_name=full_name.strip(), email=email.strip(),
                must_change_password=actor is not None if must_change_password is None else must_change_password)
    _check_password(password, user)
    user.set_password(password)
    user.created_at = clock.now()
    create_record(actor, user, reason=reason)
    for role in roles:
        grant_role(actor, user, role, reason=reason)
    if sponsor_ids:
        set_sponsor_access(actor, user, sponsor_ids, reason=reason)
    return user


@transaction.atomic
def update_user(actor, user: User, *, reason: str, **changes) -> User:
    require(actor, "core.manage_users")
    allowed = {"full_name", "email"}
    if changes.keys() - allowed:
        raise RuleViolation(f"Only {', '.join(sorted(allowed))} can be changed; user IDs never change.")
    if not reason.strip():
        raise RuleViolation("Give a reason for changing a user account (A11-11).")
    return update_record(actor, User.objects.select_for_update().get(pk=user.pk), reason=reason, **changes)


@transaction.atomic
def grant_role(actor, user: User, role: str, *, reason: str = "") -> None:
    if actor is not None:
        require(actor, "core.manage_users")
    try:
        role = Role(role)
    except ValueError:
        raise RuleViolation(f"'{role}' is not a role.") from None
    _, created = RoleGrant.objects.get_or_create(user=user, role=role)
    if created:
        audit.log_event(actor, "permission_change", record=user,
                        changes={"roles": [None, role.value]}, reason=reason)
    user.forget_cached_access()
    if created:
        signals.role_granted.send(sender=RoleGrant, actor=actor, user=user, role=role)


@transaction.atomic
def revoke_role(actor, user: User, role: str, *, reason: str) -> None:
    require(actor, "core.manage_users")
    if not reason.strip():
        raise RuleViolation("Give a reason for removing a role.")
    deleted, _ = RoleGrant.objects.filter(user=user, role=role).delete()
    if deleted:
        audit.log_event(actor, "permission_change", record=user,
                        changes={"roles": [role, None]}, reason=reason)
    user.forget_cached_access()


@transaction.atomic
def set_sponsor_access(actor, user: User, sponsor_ids, *, reason: str = "") -> None:
    """Which sponsors' records the user may see (the whole of sponsor segregation hangs on this).

    An administrator grants only sponsors they can see themselves; access the user has to
    sponsors the administrator cannot see stays as it was. A sponsor outside the
    administrator's view is answered like one that does not exist.
    """
    try:
        wanted = {int(s) for s in sponsor_ids}
    except (TypeError, ValueError):
        raise RuleViolation("Choose sponsors from the list.") from None
    before = set(user.sponsors.values_list("pk", flat=True))
    if actor is not None:
        require(actor, "core.manage_users")
        visible = set(actor.sponsor_ids())
        if wanted - visible:
            raise NotFound("No sponsor matches that reference.")
        wanted |= before - visible
    if before == wanted:
        return
    user.sponsors.set(sorted(wanted))
    audit.log_event(actor, "permission_change", record=user,
                    changes={"sponsors": [sorted(before), sorted(wanted)]}, reason=reason)
    user.forget_cached_access()


@transaction.atomic
def give_creator_access(actor, sponsor_id: int, *, reason: str) -> None:
    """Whoever creates a sponsor must be able to see it: an access change, audited like any other."""
    _change_sponsor_access(actor, actor, [*actor.sponsors.values_list("pk", flat=True), sponsor_id], reason=reason)


def _change_sponsor_access(actor, user: User, sponsor_ids, *, reason: str) -> None:
    before = sorted(user.sponsors.values_list("pk", flat=True))
    after = sorted(set(int(s) for s in sponsor_ids))
    if before == after:
        return
    user.sponsors.set(after)
    audit.log_event(actor, "permission_change", record=user,
                    changes={"sponsors": [before, after]}, reason=reason)
    user.forget_cached_access()


@transaction.atomic
def set_access(actor, user: User, *, roles, sponsor_ids, reason: str) -> None:
    """Roles and sponsor access in one change: all of it is saved, or none of it."""
    wanted, held = set(roles), set(user.role_codes)
    for role in sorted(wanted - held):
        grant_role(actor, user, role, reason=reason)
    for role in sorted(held - wanted):
        revoke_role(actor, user, role, reason=reason)
    set_sponsor_access(actor, user, sponsor_ids, reason=reason)


@transaction.atomic
def deactivate_user(actor, user: User, *, reason: str) -> User:
    """Deactivated, never deleted: the user's name stays on every record they touched."""
    require(actor, "core.manage_users")
    if user.pk == actor.pk:
        raise RuleViolation("You cannot deactivate your own account.")
    if not reason.strip():
        raise RuleViolation("Give a reason for deactivating the account.")
    user = User.objects.select_for_update().get(pk=user.pk)
    return update_record(actor, user, reason=reason, action="deactivate",
                         is_active=False, deactivated_at=clock.now())


@transaction.atomic
def unlock_user(actor, user: User, *, reason: str) -> User:
    require(actor, "core.manage_users")
    if not reason.strip():
        raise RuleViolation("Give a reason for unlocking the account (for example, identity confirmed by phone).")
    user = User.objects.select_for_update().get(pk=user.pk)
    user.failed_logins, user.first_failed_login_at = 0, None
    return update_record(actor, user, reason=reason, action="unlock", locked_at=None)


@transaction.atomic
def change_password(actor, *, current_password: str, new_password: str) -> None:
    user = User.objects.select_for_update().get(pk=actor.pk)
    if not user.check_password(current_password):
        raise PermissionDenied("The current password is not correct.")
    if current_password == new_password:
        raise RuleViolation("Choose a new password that differs from the current one.")
    _check_password(new_password, user)
    user.set_password(new_password)
    user.must_change_password = False
    user.save(update_fields=["password", "must_change_password"])
    audit.log_event(actor, "password_change", record=user)


@transaction.atomic
def reset_password(actor, user: User, *, new_password: str, reason: str) -> User:
    """An administrator sets a temporary password; the user must change it at next sign-in."""
    require(actor, "core.manage_users")
    if not reason.strip():
        raise RuleViolation("Give a reason for resetting the password (for example, identity confirmed in person).")
    user = User.objects.select_for_update().get(pk=user.pk)
    _check_password(new_password, user)
    user.set_password(new_password)
    user.save(update_fields=["password"])
    return update_record(actor, user, reason=reason, action="password_reset", must_change_password=True)


@transaction.atomic
def create_api_token(actor, *, name: str) -> str:
    """A personal API token; the plain token is returned once and only its hash is kept."""
    if not name.strip():
        raise RuleViolation("Name the token after what will use it.")
    token = "ocd_" + secrets.token_urlsafe(32)
    record = ApiToken(user=actor, name=name.strip()[:100], prefix=token[:12],
                      token_hash=hashlib.sha256(token.encode()).hexdigest(), created_at=clock.now())
    create_record(actor, record)
    return token


@transaction.atomic
def revoke_api_token(actor, token: ApiToken) -> None:
    if token.user_id != actor.pk:
        require(actor, "core.manage_users")
    update_record(actor, token, action="revoke", revoked_at=clock.now())


@transaction.atomic
def add_attachment(actor, record, upload, *, description: str = "") -> Attachment:
    """Link a file to a record. The file is stored by its SHA-256 and can never be replaced."""
    require(actor, "core.add_attachment")
    if upload.size == 0:
        raise RuleViolation("The file is empty.")
    sha256, size = filestore.put(upload.chunks())
    attachment = Attachment(
        sha256=sha256, size=size, filename=upload.name[:255],
        content_type=(getattr(upload, "content_type", "") or "application/octet-stream")[:100],
        record_type=audit.record_type(record), record_id=str(record.pk),
        sponsor_id=audit.sponsor_of(record), description=description.strip()[:255],
        uploaded_by=actor, uploaded_at=clock.now(),
    )
    attachment.save()
    audit.log_event(actor, "attach", record=record,
                    changes={"attachment": [None, {"id": attachment.pk, "filename": attachment.filename,
                                                   "sha256": sha256, "size": size}]},
                    reason=description)
    return attachment


@transaction.atomic
def record_export(actor, *, what: str, count: int, file_format: str, filters: dict | None = None) -> None:
    """Exports are audited too (DI-4): who took which records out, and in what form."""
    require(actor, "core.export_audit_trail")
    audit.log_event(actor, "export", record_type_name="core.auditevent", record_label=what,
                    changes={"export": [None, {"format": file_format, "count": count, "filters": filters or {}}]})
