"""{% em_batch_summary batch %}: the batch's EM summary partial, for pages of the layers above
(the disposition page shows it to the batch's sponsor, who has no envmon permission)."""

from django import template

from opencdmo.envmon import selectors

register = template.Library()


@register.inclusion_tag("envmon/_batch_summary.html")
def em_batch_summary(batch):
    return {"summary": selectors.batch_em_summary(batch)}
