"""The quality interface other modules call: raise a deviation linked to the records it concerns."""

from django.db import transaction

from opencdmo.core import audit, clock
from opencdmo.core.errors import RuleViolation
from opencdmo.core.records import create_record

from .models import Deviation, DeviationLink


@transaction.atomic
def raise_deviation(actor, *, title: str, description: str, source: str, records=(), sponsor=None) -> Deviation:
    """Open a deviation; anyone may raise one, from any module, without a permission check
    (a person who sees something wrong must never be stopped from saying so)."""
    if not title.strip() or not description.strip():
        raise RuleViolation("A deviation needs a title and a description of what happened.")
    if source not in Deviation.Source.values:
        raise RuleViolation(f"Unknown deviation source '{source}'.")
    deviation = create_record(actor, Deviation(
        title=title.strip()[:200], description=description.strip(), source=source, sponsor=sponsor,
        status="open", raised_by=actor, raised_at=clock.now()))
    for record in records:
        link = DeviationLink(deviation=deviation, record_type=audit.record_type(record), record_id=str(record.pk),
                             record_label=str(getattr(record, "number", "") or record)[:200])
        create_record(actor, link)
    return deviation
