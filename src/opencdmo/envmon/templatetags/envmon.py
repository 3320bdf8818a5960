"""{% em_batch_summary batch %}: the batch's EM summary partial, for pages of the layers above
(the disposition page shows it to the batch's sponsor, who has no envmon permission).
`em_value` prints a result the one way every page shows it; `em_types` names sample types; `em_visible_to` says whether a deviation may be linked;
`em_label_at` keeps a floor-plan disc and its label inside the plan."""

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from django import template

from opencdmo.core.scoping import scoped
from opencdmo.envmon import selectors
from opencdmo.envmon.domain import programme

register = template.Library()


@register.inclusion_tag("envmon/_batch_summary.html", takes_context=True)
def em_batch_summary(context, batch):
    return {"summary": selectors.batch_em_summary(batch), "user": context.get("user")}


@register.filter
def em_value(value, sample_type=""):
    """A result with its unit: whole numbers without decimals ("31 CFU/plate"), thousands separated
    ("412,500 particles/m³"), a fraction to at most two decimals; particles are counted whole."""
    if value is None or value == "":
        return "—"
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return str(value)
    if sample_type in programme.PARTICLES:
        number = number.quantize(Decimal(1), ROUND_HALF_UP)
    text = f"{number:,.0f}" if number == number.to_integral_value() else f"{number:,.2f}".rstrip("0").rstrip(".")
    unit = programme.SAMPLE_TYPES.get(sample_type, ("", ""))[1]
    return f"{text} {unit}" if unit else text


@register.filter
def em_visible_to(deviation, user) -> bool:
    """Whether `user` may open `deviation` (a sponsor's user never sees a CDMO-wide one)."""
    return (user is not None and user.is_authenticated and user.has_permission("quality.view")
            and scoped(type(deviation).objects.filter(pk=deviation.pk), user).exists())


@register.filter
def em_types(sample_types) -> str:
    """Sample type codes as their labels, e.g. "Settle plate, Glove print"."""
    return ", ".join(programme.SAMPLE_TYPES.get(t, (t,))[0] for t in sample_types or [])


@register.simple_tag
def em_label_at(spot, plan) -> dict:
    """Where a location's disc and label are drawn: the disc moved in from the edges by its radius,
    the label below it (above it near the bottom edge), anchored so its text stays on the plan."""
    r = plan.radius
    cx = min(max(spot.cx, r), plan.width - r)
    cy = min(max(spot.cy, r), plan.length - r)
    label_width = plan.font * Decimal("0.6") * len(spot.location.code)
    if cx - label_width / 2 < 0:
        anchor, x = "start", Decimal(0)
    elif cx + label_width / 2 > plan.width:
        anchor, x = "end", plan.width
    else:
        anchor, x = "middle", cx
    below = cy + r + plan.font <= plan.length
    return {"cx": cx, "cy": cy, "x": x, "anchor": anchor, "y": cy + r if below else cy - r,
            "baseline": "hanging" if below else "auto"}
