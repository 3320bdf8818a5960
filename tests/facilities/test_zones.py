"""Zones: a grade A cabinet or isolator stands in a room (one level only), named on creation by
the form and the API, and shown on the room pages, the room board and the API."""

import pytest
from django.urls import reverse

from opencdmo.core.errors import RuleViolation
from opencdmo.core.models import AuditEvent
from opencdmo.facilities.models import Room
from tests.web.conftest import signed_in

from . import factories
from .test_api import as_user

pytestmark = [pytest.mark.urls("tests.facilities.api_urls"), pytest.mark.req("P11-1d")]

ZONE = {"area": "CT", "code": "A-BSC-101", "name": "Biosafety cabinet 1", "grade": "A", "within": "B-101"}


@pytest.fixture
def zone(supervisor, area, room):
    return factories.room(supervisor, area, "A-BSC-101", "A", within=room)


def _text(response) -> str:
    return response.content.decode()


def test_a_zone_is_created_from_the_form_and_shown_on_both_room_pages(supervisor, room):
    client = signed_in(supervisor)
    response = client.post(reverse("facilities:room_new"), ZONE)
    assert response.status_code == 302
    assert Room.objects.get(code="A-BSC-101").within == room
    assert "Zone of" in _text(client.get(reverse("facilities:room", args=["A-BSC-101"])))
    assert "Zones: " in _text(client.get(reverse("facilities:room", args=["B-101"])))
    assert "A-BSC-101" in _text(client.get(reverse("facilities:room", args=["B-101"])))


def test_the_room_form_offers_the_rooms_a_zone_may_stand_in(supervisor, zone):
    form = _text(signed_in(supervisor).get(reverse("facilities:room_new")))
    assert '<option value="B-101"' in form and '<option value="A-BSC-101"' not in form


def test_the_room_board_shows_zones_and_their_rooms(supervisor, zone):
    board = _text(signed_in(supervisor).get(reverse("facilities:rooms")))
    assert "Zone of B-101" in board and "Zones: A-BSC-101" in board


def test_a_zone_is_created_by_the_api_and_listed(supervisor, room):
    api = as_user(supervisor)
    created = api("post", "/rooms", ZONE)
    assert created.status_code == 201, created.content
    assert created.json()["within"] == "B-101" and created.json()["zones"] == []
    assert api("get", "/rooms/B-101").json()["zones"] == ["A-BSC-101"]
    assert api("get", "/rooms/A-BSC-101").json()["within"] == "B-101"


def test_a_room_without_within_is_no_zone(supervisor, area):
    created = as_user(supervisor)("post", "/rooms", {**ZONE, "code": "C-1", "grade": "C", "within": ""})
    assert created.status_code == 201 and created.json()["within"] is None


def test_a_zone_stands_in_a_room_not_in_another_zone(supervisor, area, zone):
    with pytest.raises(RuleViolation, match="not in another zone"):
        factories.room(supervisor, area, "A-ISO-1", "A", within=zone)
    api = as_user(supervisor)
    before = AuditEvent.objects.count()
    response = api("post", "/rooms", {**ZONE, "code": "A-ISO-1", "within": "A-BSC-101"})
    assert response.status_code == 422 and "not itself a zone" in response.json()["detail"]
    response = signed_in(supervisor).post(reverse("facilities:room_new"), {**ZONE, "code": "A-ISO-2",
                                                                           "within": "A-BSC-101"})
    assert response.status_code == 422
    assert AuditEvent.objects.count() == before and not Room.objects.filter(code__startswith="A-ISO").exists()


@pytest.mark.parametrize("code", ["NOPE-1", "x" * 40])
def test_an_unknown_room_to_stand_in_is_refused_with_a_4xx(supervisor, room, code):
    response = as_user(supervisor)("post", "/rooms", {**ZONE, "within": code})
    assert 400 <= response.status_code < 500
    page = signed_in(supervisor).post(reverse("facilities:room_new"), {**ZONE, "within": code})
    assert page.status_code == 422 and "No room" in _text(page)
    assert not Room.objects.filter(code="A-BSC-101").exists()
