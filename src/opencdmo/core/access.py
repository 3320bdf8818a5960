"""The one permission check (P11-1g) that services, selectors and views call."""

from .errors import PermissionDenied


def require(user, permission: str, *, to: str = "do this") -> None:
    """Refuse unless the user holds `permission`; the message names it, so a user can ask for it."""
    if user is None or not user.has_permission(permission):
        raise PermissionDenied(f"You do not have the permission to {to} ({permission}).")


def require_to_see(user, permission: str) -> None:
    require(user, permission, to="see this")
