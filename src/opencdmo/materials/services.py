"""Every write to materials, lots, inventory and genealogy."""

from decimal import Decimal

from opencdmo.core import audit, clock
from opencdmo.core.errors import RuleViolation
from opencdmo.core.records import create_record

from .models import GenealogyLink
from .selectors import node_of, reaches


def link_genealogy(actor, parent, child, *, quantity: Decimal | None = None, unit: str = "") -> GenealogyLink:
    """Record that `parent` went into `child`, in the caller's transaction.

    Any two records can be linked (lot → batch, batch → lot, lot → patient). A link that
    would make a record its own ancestor is refused: genealogy has no cycles.
    """
    parent_key, child_key = node_of(parent), node_of(child)
    if reaches(child_key, parent_key):
        raise RuleViolation(f"{child} is already upstream of {parent}: linking them would make a cycle.")
    sponsor_id = audit.sponsor_of(child)
    if sponsor_id is None:
        sponsor_id = audit.sponsor_of(parent)
    return create_record(actor, GenealogyLink(
        parent=parent_key, child=child_key,
        parent_label=str(getattr(parent, "number", "") or parent)[:200],
        child_label=str(getattr(child, "number", "") or child)[:200],
        quantity=quantity, unit=unit, sponsor_id=sponsor_id,
        created_at=clock.now(), created_by=actor,
    ))
