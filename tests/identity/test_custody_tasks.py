"""'My tasks' of the chain of custody: each person sees what waits for them, of their own sponsors only."""

import datetime as dt

import pytest
from django.urls import reverse

from opencdmo.core import clock
from opencdmo.core.domain.roles import Role
from opencdmo.core.tasks import tasks_for
from tests.web.conftest import signed_in

from . import builders

pytestmark = pytest.mark.django_db


def _titles(user) -> list[tuple[str, str]]:
    return [(t.title, t.record.split()[0]) for t in tasks_for(user) if t.url.startswith("/identity/")]


def test_each_person_sees_the_custody_work_waiting_for_them(order_a, other_order_a, sponsor_a, make_user, sponsor_b):
    on_its_way = builders.inbound_shipment(order_a, received=False)
    held = builders.held(other_order_a)
    planner = builders.planner(sponsor_a)
    booked = builders.booked(builders.order(planner, builders.patient(planner, sponsor_a)),
                             planned_on=clock.site_today() + dt.timedelta(days=1))

    assert ("Receive", on_its_way.number) in _titles(builders.handler(sponsor_a))
    assert ("Decide on held material", held.number) in _titles(builders.qa(sponsor_a))
    assert ("Record the collection", booked.number) in _titles(planner)
    assert ("Decide on held material", held.number) not in _titles(planner)  # QA decides
    assert _titles(make_user("other.handler", Role.MATERIAL_HANDLER, sponsors=[sponsor_b])) == []
    home = signed_in(builders.qa(sponsor_a)).get(reverse("core:home")).content.decode()
    assert "Decide on held material" in home and held.number in home
