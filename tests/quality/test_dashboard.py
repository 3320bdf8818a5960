"""The quality dashboard's figures: cycle times from the database, open and overdue counts."""

import datetime as dt

import pytest

from opencdmo.quality import selectors, services
from tests.factories import signature

from .change_builders import assessed, awaiting_approval, proposed, qa_approved, submitted

pytestmark = pytest.mark.django_db


def _closed_after(days, proposer, qa, approver, sponsor, clock):
    change = proposed(proposer, sponsor, title=f"Closed after {days} days")
    start = clock.current
    change = qa_approved(awaiting_approval(assessed(submitted(change, proposer), qa), qa), approver)
    clock.set(start + dt.timedelta(days=days))
    services.transition_change(approver, change, "close", signature=signature(approver, "Approved"))
    clock.set(start)


def test_cycle_times_are_the_median_and_90th_percentile_days_to_closure(proposer, qa, qa_approver_ab, sponsor_a,
                                                                        fake_clock):
    for days in (10, 20, 40, 5, 30):
        _closed_after(days, proposer, qa, qa_approver_ab, sponsor_a, fake_clock)
    fake_clock.advance(days=60)
    board = selectors.dashboard(qa)
    changes = next(c for c in board["cycle_times"] if c["label"] == "Change controls")
    assert changes == {"label": "Change controls", "closed": 5, "median": 20.0, "p90": 40.0}
    assert next(c for c in board["cycle_times"] if c["label"] == "Deviations")["median"] is None


def test_closures_older_than_twelve_months_are_left_out(proposer, qa, qa_approver_ab, sponsor_a, fake_clock):
    _closed_after(10, proposer, qa, qa_approver_ab, sponsor_a, fake_clock)
    fake_clock.advance(days=400)
    changes = next(c for c in selectors.dashboard(qa)["cycle_times"] if c["label"] == "Change controls")
    assert changes["closed"] == 0


def test_open_change_tasks_count_by_owner_and_due_date(proposer, qa, qa_approver_ab, sponsor_a, fake_clock):
    change = qa_approved(awaiting_approval(assessed(submitted(proposed(proposer, sponsor_a), proposer), qa), qa),
                         qa_approver_ab)
    today = fake_clock.current.date()
    services.add_change_task(qa, change, description="late", owner=proposer, due_date=today - dt.timedelta(days=1))
    services.add_change_task(qa, change, description="later", owner=proposer, due_date=today + dt.timedelta(days=9))
    board = selectors.dashboard(qa)
    tasks = next(t for t in board["types"] if t["label"] == "Change tasks")
    assert (tasks["open"], tasks["overdue"]) == (2, 1)
    person = next(p for p in board["by_owner"] if p["name"] == proposer.full_name)
    assert person["by_type"]["Change tasks"] == 2 and person["overdue"] >= 1


def test_documents_and_training_figures_come_from_their_apps(qa, proposer, make_user, sponsor_a):
    from opencdmo.core.domain.roles import Role  # noqa: PLC0415

    labels = {t["label"]: t for t in selectors.dashboard(qa)["types"]}
    assert labels["Documents past periodic review"]["open"] == 0
    assert "Training assignments overdue" in labels  # QA may see everyone's training
    viewer = make_user("acme.viewer", Role.SPONSOR_VIEWER, sponsors=[sponsor_a])
    assert "Training assignments overdue" not in {t["label"] for t in selectors.dashboard(viewer)["types"]}
