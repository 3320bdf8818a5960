"""Sponsor segregation: the one mechanism every page, API endpoint and selector goes through.

A model says how it reaches its sponsor with `sponsor_scope` ("pk" for the sponsor itself,
a field path such as "program__sponsor", or None for CDMO-wide records). `scoped()` limits a
query to the sponsors assigned to the user; records outside it do not exist for that user.
"""

from django.db import models

from .errors import NotFound


def scoped(model_or_queryset, user) -> models.QuerySet:
    queryset = (
        model_or_queryset
        if isinstance(model_or_queryset, models.QuerySet)
        else model_or_queryset._default_manager.all()
    )
    path = getattr(queryset.model, "sponsor_scope", None)
    if path is None:
        return queryset
    if user is None or not user.is_authenticated or not user.is_active:
        return queryset.none()
    return queryset.filter(**{f"{path}__in": user.sponsor_ids()})


def get_scoped(model_or_queryset, user, **lookup):
    """The record if this user may see it; otherwise NotFound, the same as a missing record."""
    queryset = scoped(model_or_queryset, user)
    try:
        return queryset.get(**lookup)
    except (queryset.model.DoesNotExist, ValueError, TypeError):
        raise NotFound(f"No {queryset.model._meta.verbose_name} matches that reference.") from None


def may_see_sponsor(user, sponsor_id: int | None) -> bool:
    return sponsor_id is None or sponsor_id in user.sponsor_ids()
