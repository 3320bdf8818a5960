"""Training rules with no Django in them: which versions' training counts, due dates, matrix cells."""

import datetime as dt
from collections.abc import Iterable, Sequence


def counting_versions(history: Sequence[tuple[int, bool]]) -> list[int]:
    """Of a document's versions in force, newest first as (id, training required), those whose
    completed training counts now: the current one and, while it and its predecessors were editorial
    changes needing no retraining, back to (and including) the latest one that did require it."""
    counting = []
    for version_id, training_required in history:
        counting.append(version_id)
        if training_required:
            break
    return counting


def due_date(today: dt.date, *, effective_date: dt.date | None, days: int) -> dt.date:
    """Due `days` after the version takes effect, or after today when that is later (a new role holder)."""
    start = max(today, effective_date) if effective_date else today
    return start + dt.timedelta(days=days)


def is_overdue(due: dt.date, today: dt.date) -> bool:
    return due < today


TRAINED, DUE, OVERDUE, NOT_ASSIGNED = "trained", "due", "overdue", "not_assigned"


def cell_state(*, completed: bool, open_due_dates: Iterable[dt.date], today: dt.date) -> str:
    """One cell of the training matrix."""
    if completed:
        return TRAINED
    dues = sorted(open_due_dates)
    if not dues:
        return NOT_ASSIGNED
    return OVERDUE if is_overdue(dues[0], today) else DUE
