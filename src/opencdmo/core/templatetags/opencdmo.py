from django import template

from .. import presentation

register = template.Library()


@register.filter
def local_time(value):
    return presentation.local_time(value)


@register.filter
def change_rows(changes_json):
    return presentation.change_rows(changes_json)


@register.filter
def can(user, permission):
    """{% if user|can:"sponsors.author_agreement" %}: show only what the user may do."""
    return user.is_authenticated and user.has_permission(permission)


@register.inclusion_tag("core/_status_badge.html")
def status_badge(status, label=None):
    return {"status": status, "label": label or str(status).replace("_", " ").capitalize()}
