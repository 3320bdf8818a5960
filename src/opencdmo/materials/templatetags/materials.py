from django import template

from .. import selectors
from ..workflows import STATUS_LABELS

register = template.Library()


@register.filter
def qty(value):
    """{{ lot.total|qty }}: 1500, 0.25 — never 1.5E+3 or 1500.000000."""
    return selectors.quantity_text(value)


@register.filter
def lot_status(lot):
    return selectors.lot_status(lot)


@register.inclusion_tag("core/_status_badge.html")
def lot_badge(lot):
    """The lot's status as people must see it: expired whatever is stored, once past its dates."""
    status = selectors.lot_status(lot)
    return {"status": status, "label": STATUS_LABELS[status]}
