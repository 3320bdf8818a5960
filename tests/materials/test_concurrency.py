"""Two issues racing for the last units on PostgreSQL: one wins, the other is told why; the balance
never goes below zero (row locks first, the database's check constraint behind them)."""

import threading
from decimal import Decimal

import pytest
from django.db import connection

from opencdmo.core import context
from opencdmo.core.errors import DomainError
from opencdmo.core.models import User
from opencdmo.core.verification import verify_audit_trail
from opencdmo.materials import selectors, services
from opencdmo.materials.models import InventoryTransaction, Lot, LotBalance

from . import builders

pytestmark = [
    pytest.mark.postgres(reason="SQLite serialises every writer behind one lock, so there is no race to test"),
    pytest.mark.xdist_group("pg-materials"),
    pytest.mark.django_db(transaction=True),
]

PAPER = services.Destination("external", "", "HLX-101 batch B-2601 (paper batch record)")


def race(operator_pk: int, lot_pk: int, location, quantities: list[str]) -> tuple[list, list]:
    """Each quantity issued by its own thread, with its own database connection, all at once."""
    start = threading.Barrier(len(quantities))
    issued, refused = [], []

    def issuer(index: int, quantity: str) -> None:
        try:
            actor, lot = User.objects.get(pk=operator_pk), Lot.objects.get(pk=lot_pk)
            start.wait(timeout=30)
            with context.action(client_address=f"10.40.0.{index}"):
                issued.append(services.issue_lot(actor, lot, location=location, quantity=quantity, to=PAPER))
        except DomainError as exc:
            refused.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=issuer, args=(i, q)) for i, q in enumerate(quantities)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "an issuer is stuck (deadlock?)"
    return issued, refused


def _lot_with(qa, handler, medium, store, quantity: str) -> Lot:
    lot = builders.release(qa, builders.receive(handler, medium, quantity=quantity, into=store["cold"]))
    return lot


def test_two_issues_racing_for_the_last_units_one_wins_and_the_other_is_told(qa, handler, operator, medium, store):
    lot = _lot_with(qa, handler, medium, store, "5")

    issued, refused = race(operator.pk, lot.pk, store["cold"], ["3", "3"])

    assert len(issued) == 1 and len(refused) == 1
    assert refused[0].status == 409
    assert refused[0].message == (f"Only 2 mL of {lot.number} is at WH-COLD: 3 mL cannot be taken from there.")
    assert LotBalance.objects.get(lot=lot, location=store["cold"]).quantity == Decimal("2")
    assert InventoryTransaction.objects.filter(lot=lot, kind="issue").count() == 1
    assert verify_audit_trail().intact


def test_many_issues_racing_never_take_more_than_there_is(qa, handler, operator, medium, store):
    lot = _lot_with(qa, handler, medium, store, "3")

    issued, refused = race(operator.pk, lot.pk, store["cold"], ["1"] * 6)

    assert (len(issued), len(refused)) == (3, 3)
    assert all(r.status in (409, 422) for r in refused)  # the stock is gone, or the lot is depleted by then
    assert LotBalance.objects.get(lot=lot, location=store["cold"]).quantity == 0
    lot.refresh_from_db()
    assert lot.status == "depleted"
    assert sorted(t.balance_after for t in InventoryTransaction.objects.filter(lot=lot, kind="issue")) == [0, 1, 2]
    assert selectors.lot_total(lot) == 0
