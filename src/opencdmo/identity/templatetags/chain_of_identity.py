from django import template

from .. import selectors
from ..domain import isbt128

register = template.Library()


@register.inclusion_tag("identity/_coi.html")
def coi(content: str, large: bool = False) -> dict:
    """{% coi batch.patient_reference %}: the chain of identity identifier as printed on its labels,
    in groups with its check character boxed, so what people read matches what they type."""
    try:
        return {"coi": selectors.printed_coi(content), "large": large}
    except isbt128.Isbt128Error:
        return {"coi": {"text": content, "check": ""}, "large": large}


@register.inclusion_tag("identity/_coi.html")
def din(content: str) -> dict:
    """{% din unit.din %}: the DIN as printed on its label, in groups with its check character boxed."""
    return {"coi": selectors.printed_din(content), "large": False}
