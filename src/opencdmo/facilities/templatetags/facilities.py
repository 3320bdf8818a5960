from django import template
from django.utils import timezone

register = template.Library()


@register.filter
def local_date(value):
    """'2026-03-02' in the site's zone: for due dates in dense tables (the full time is in the title)."""
    if not value:
        return ""
    return f"{timezone.localtime(value):%Y-%m-%d}"


@register.filter
def local_minute(value):
    """'2026-03-02 09:30 CET': logs and lists (signatures keep the full time with its offset)."""
    from ..selectors import when  # noqa: PLC0415

    return when(value) if value else ""


@register.filter
def is_in(value, collection):
    return value in collection
