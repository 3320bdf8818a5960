"""Two operators filling one position at the same moment on PostgreSQL: exactly one placement
succeeds; the other is told the position was just filled, and writes nothing."""

import threading

import pytest
from django.db import connection

from opencdmo.core.domain.roles import Role
from opencdmo.core.errors import Conflict
from opencdmo.core.models import User
from opencdmo.identity import services
from opencdmo.identity.models import CustodyEvent, Placement

from . import builders

pytestmark = [
    pytest.mark.postgres(reason="SQLite serialises every writer behind one lock, so there is no race to test"),
    pytest.mark.xdist_group("pg-identity-storage"),
    pytest.mark.django_db(transaction=True),
]

WRITERS = 2


def test_two_units_placed_into_one_position_at_once_one_succeeds_the_other_gets_a_conflict(make_user, sponsor_a):
    supervisor = make_user("sup.race", Role.SUPERVISOR, sponsors=[sponsor_a])
    operators = [make_user(f"op.race{i}", Role.OPERATOR, sponsors=[sponsor_a]) for i in range(WRITERS)]
    builders.freezer(supervisor)
    planner = builders.planner(sponsor_a)
    order = builders.order(planner, builders.patient(planner, sponsor_a))
    units = builders.collected(order, bags=WRITERS)
    start, placed, refused, errors = threading.Barrier(WRITERS), [], [], []

    def place(index: int) -> None:
        try:
            actor = User.objects.get(pk=operators[index].pk)
            start.wait(timeout=30)
            placed.append(services.place_unit(actor, unit_scan=builders.unit_scan(units[index]),
                                              position_scan="LN2-01-R1-B01/C3"))
        except Conflict as exc:
            refused.append(exc)
        except Exception as exc:  # noqa: BLE001  (the assertion below shows what went wrong)
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=place, args=(i,)) for i in range(WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "a writer is stuck (deadlock?)"
    assert errors == []
    assert (len(placed), len(refused)) == (1, 1)
    assert "LN2-01-R1-B01/C3" in refused[0].message and "scan a free position" in refused[0].message
    assert Placement.objects.filter(removed_at__isnull=True).count() == 1
    # The refused placement left no trace: one custody event, one unit moved on.
    assert CustodyEvent.objects.filter(kind="cryo_in").count() == 1
    winner = placed[0].unit
    loser = next(u for u in units if u.pk != winner.pk)
    holder = loser.holder
    loser.refresh_from_db()
    assert loser.holder == holder
