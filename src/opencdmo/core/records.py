"""Creating and changing audited rows: the two moves every service makes."""

from django.db import models

from . import audit, clock
from .errors import RuleViolation
from .models import Record
from .numbering import next_number


def create_record(actor, obj: models.Model, *, reason: str = "") -> models.Model:
    """Save a new row and write its `create` event with every audited field (None → value)."""
    if isinstance(obj, Record):
        now = clock.now()
        obj.created_at = obj.modified_at = now
        obj.created_by = actor
        if not obj.number:
            obj.number = next_number(obj.number_prefix)
    obj.full_clean(validate_unique=False)
    obj.save(force_insert=True)
    audit.log_event(actor, "create", record=obj, changes=audit.diff({}, audit.snapshot(obj)), reason=reason)
    return obj


def update_record(actor, obj: models.Model, *, reason: str = "", action: str = "update", **changes):
    """Apply field changes, bump the version, write old → new. A record out of draft needs a reason."""
    before = audit.snapshot(obj)
    for field, value in changes.items():
        setattr(obj, field, value)
    after = audit.snapshot(obj)
    delta = audit.diff(before, after)
    if not delta:
        return obj
    if isinstance(obj, Record):
        if obj.left_draft and action == "update" and not reason.strip():
            raise RuleViolation(
                f"{obj.number} has left draft ({obj.status}): give a reason for the change (A11-8)."
            )
        obj.version += 1
        obj.modified_at = clock.now()
    obj.full_clean(validate_unique=False)
    obj.save()
    audit.log_event(actor, action, record=obj, changes=delta, reason=reason)
    return obj
