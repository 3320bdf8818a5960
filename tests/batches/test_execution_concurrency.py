"""Retries racing on PostgreSQL: a client that sends the same submission twice at once gets one
entry, and an entry outside the proven acceptable range raises one deviation, not two."""

import threading

import pytest
from django.db import connection

from opencdmo.batches import services
from opencdmo.batches.models import BatchEntry, BatchException
from opencdmo.core import context
from opencdmo.core.models import User
from opencdmo.quality.models import Deviation

from . import builders

pytestmark = [
    pytest.mark.postgres(reason="SQLite serialises every writer behind one lock, so there is no race to test"),
    pytest.mark.xdist_group("pg-batches"),
    pytest.mark.django_db(transaction=True),
]


def test_the_same_submission_sent_twice_at_once_writes_one_entry_and_one_deviation(started):
    w = started
    builders.run_step(w, "A1")
    services.start_step(w.operator, w.batch, "B1")
    start, results, errors = threading.Barrier(2), [], []

    def submit(index: int) -> None:
        try:
            actor = User.objects.get(pk=w.operator.pk)
            start.wait(timeout=30)
            with context.action(client_address=f"10.40.0.{index}"):
                results.append(services.record_entry(actor, w.batch.pk, "B1", "moi", value="7",
                                                     submission_id="retry-1", comment="vector overdosed"))
        except Exception as exc:  # noqa: BLE001  (the assertion below shows what went wrong)
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=submit, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors
    assert len({r.pk for r in results}) == 1
    assert BatchEntry.objects.filter(parameter="moi").count() == 1
    assert Deviation.objects.count() == 1
    assert BatchException.objects.filter(kind="outside_acceptable").count() == 1
