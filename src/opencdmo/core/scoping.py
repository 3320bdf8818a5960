"""Sponsor segregation: the one mechanism every page, API endpoint and selector goes through.

A model says how it reaches its sponsor with `sponsor_scope` ("pk" for the sponsor itself,
a field path such as "program__sponsor", or None for CDMO-wide records); `sponsor_optional`
marks models whose rows may belong to a sponsor or to the CDMO itself. `scoped()` limits a
query to the sponsors assigned to the user; records outside it do not exist for that user.
"""

from django.db import models
from django.db.models import Q

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
    mine = Q(**{f"{path}__in": user.sponsor_ids()})
    if getattr(queryset.model, "sponsor_optional", False) and user.has_permission("core.view_cdmo_records"):
        # Records that belong to no sponsor (a CDMO-wide deviation, the CDMO's own reagent lot)
        # are the CDMO's, visible to its staff and never to a sponsor's users.
        mine |= Q(**{f"{path}__isnull": True})
    return queryset.filter(mine)


def get_scoped(model_or_queryset, user, **lookup):
    """The record if this user may see it; otherwise NotFound, the same as a missing record."""
    queryset = scoped(model_or_queryset, user)
    try:
        return queryset.get(**lookup)
    except (queryset.model.DoesNotExist, ValueError, TypeError):
        raise NotFound(f"No {queryset.model._meta.verbose_name} matches that reference.") from None


def may_see_sponsor(user, sponsor_id: int | None) -> bool:
    return sponsor_id is None or sponsor_id in user.sponsor_ids()
