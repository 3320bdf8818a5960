"""Human-readable numbers per record type and year, gap-free under concurrent creation.

The counter row is locked in the creating transaction, so a rolled-back creation gives its
number back and two creators never get the same one.
"""

from django.db import connection

from . import clock
from .models import NumberSequence


def next_number(prefix: str, *, width: int = 4) -> str:
    if not connection.in_atomic_block:
        raise RuntimeError("numbers are issued inside the transaction that creates the record")
    year = clock.now().year
    NumberSequence.objects.bulk_create(
        [NumberSequence(prefix=prefix, year=year)], ignore_conflicts=True
    )
    sequence = NumberSequence.objects.select_for_update().get(prefix=prefix, year=year)
    sequence.last_value += 1
    sequence.save(update_fields=["last_value"])
    return f"{prefix}-{year}-{sequence.last_value:0{width}d}"
