"""Reads of deviations, scoped to the user's sponsors (CDMO-wide ones to CDMO staff)."""

from opencdmo.core import audit
from opencdmo.core.scoping import get_scoped, scoped

from .models import Deviation, DeviationLink


def deviations_for(user, *, status: str | None = None):
    queryset = scoped(Deviation, user).select_related("sponsor", "raised_by")
    return queryset.filter(status=status) if status else queryset


def deviation(user, number: str) -> Deviation:
    return get_scoped(Deviation.objects.select_related("sponsor", "raised_by"), user, number=number)


def deviations_about(user, record):
    """Deviations linked to a record (an equipment item, a lot, a batch …)."""
    links = DeviationLink.objects.filter(record_type=audit.record_type(record), record_id=str(record.pk))
    return deviations_for(user).filter(pk__in=links.values("deviation_id"))
