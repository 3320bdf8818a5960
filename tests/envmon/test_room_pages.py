"""The EM rooms, room, location, monthly report and batch summary pages and their API: who may
open them (every staff role; never a sponsor viewer: EM data is the CDMO's own) and what they show."""

import datetime as dt
import re

import pytest
from django.urls import reverse

from opencdmo.core import clock
from opencdmo.core.domain.roles import Role
from opencdmo.envmon.models import Location
from opencdmo.facilities.models import Room
from tests.batches import builders as batch_builders
from tests.web.conftest import bearer, records_a, records_b, signed_in  # noqa: F401
from tests.web.viewtests import PermissionApiTest, PermissionPageTest

from . import builders

ROOM = "EM-P01"
DAY = dt.timedelta(days=1)


def _room(world) -> Room:
    """A monitored grade B room with three locations and a week of settle plates (built once)."""
    if (found := Room.objects.filter(code=ROOM).first()) is not None:
        return found
    room = builders.room(ROOM, grade="B")
    builders.level_set(world.author, "B", "settle_plate", 2, 4)
    for i, loc in enumerate(builders.locations(room, world.author, 3, sample_types=("settle_plate",))):
        builders.samples(loc, world.author, [0, 1, 3, i, 5 * (i == 2)], sample_type="settle_plate",
                         start=clock.now() - 6 * DAY)
    return room


def _location(world) -> str:
    return Location.objects.filter(room=_room(world)).order_by("code").first().code


def _batch(world) -> str:
    return batch_builders.batch_for_sponsor(None, world.sponsor, "")


# --- The shared view tests, one class per route -------------------------------------------------

class _Page(PermissionPageTest):
    roles = (Role.OPERATOR,)
    refused_roles = (Role.SPONSOR_VIEWER,)
    args = staticmethod(lambda world: ())

    def url(self, world):
        return reverse(self.route, args=self.args(world))


class TestRooms(_Page):
    route = "envmon:rooms"


class TestRoom(_Page):
    route = "envmon:room"
    args = staticmethod(lambda world: (_room(world).code,))


class TestLocation(_Page):
    route = "envmon:location"
    args = staticmethod(lambda world: (_location(world),))


class TestMonthlyReport(_Page):
    route = "envmon:report"
    roles = (Role.QA_SPECIALIST,)


class TestMonthlyReportPdf(_Page):
    route = "envmon:report_pdf"
    roles = (Role.QC_REVIEWER,)

    def url(self, world):
        return reverse(self.route) + f"?month=2026-02&room={_room(world).code}"


class TestBatchSummary(_Page):
    route = "envmon:batch_summary"
    roles = (Role.SUPERVISOR,)
    args = staticmethod(lambda world: (_batch(world),))


class _Api(PermissionApiTest):
    roles = (Role.QC_ANALYST,)
    refused_roles = (Role.SPONSOR_VIEWER,)
    fill = staticmethod(lambda world: {})

    def url(self, world):
        return "/api/v1" + self.operation[1].format(**self.fill(world))


class TestApiRoomTrend(_Api):
    operation = ("GET", "/envmon/rooms/{code}/trend")
    fill = staticmethod(lambda world: {"code": _room(world).code})

    def url(self, world):
        return super().url(world) + "?sample_type=settle_plate"


class TestApiBatchSummary(_Api):
    operation = ("GET", "/envmon/batches/{number}/summary")
    fill = staticmethod(lambda world: {"number": _batch(world)})


# --- What the pages show ------------------------------------------------------------------------

@pytest.fixture
def staff(records_a, make_user, fake_clock):  # noqa: F811
    _room(records_a)
    return signed_in(make_user("em.analyst", Role.QC_ANALYST))


def test_room_page_shows_the_heat_map_trend_limits_and_signals(staff):
    body = staff.get(reverse("envmon:room", args=[ROOM]) + "?sample_type=settle_plate&window=30d").content.decode()
    assert body.count('class="spot level-') == 3
    assert 'data-level="action"' in body and 'data-level="within"' in body
    assert "Alert 2" in body and "Action 4" in body  # the chart's labelled lines
    assert reverse("envmon:room_programme", args=[ROOM]) in body and reverse("envmon:classifications") in body


def test_rooms_page_lists_the_room_with_its_recent_alerts(staff):
    body = staff.get(reverse("envmon:rooms") + "?sort=-alerts").content.decode()
    row = re.search(rf"<tr><td class=\"nowrap\"><a href=\"[^\"]+\">{ROOM}</a>.*?</tr>", body, re.S).group(0)
    assert "Grade B" in row and '<td data-value="3">3</td>' in row  # a 3 at each location, above the alert level of 2


def test_location_page_lists_each_broken_rule_with_its_description(staff):
    code = Location.objects.filter(room__code=ROOM).order_by("code").first().code
    body = staff.get(reverse("envmon:location", args=[code])).content.decode()
    assert "individuals chart" in body and "Mean" in body


@pytest.mark.parametrize("query, message", [
    ("?sample_type=nonsense", "Choose a sample type"),
    ("?window=custom&start=2026-13-01", "Enter the start date as YYYY-MM-DD"),
    ("?window=custom&start=2026-03-01&end=2026-02-01", "must start before it ends"),
])
def test_room_page_refuses_bad_filters_with_422(staff, query, message):
    response = staff.get(reverse("envmon:room", args=[ROOM]) + query)
    assert response.status_code == 422 and message in response.content.decode()


def test_unknown_room_is_404(staff):
    assert staff.get(reverse("envmon:room", args=["NOPE"])).status_code == 404


def test_trend_api_returns_series_limits_and_signals(records_a, make_user, fake_clock):  # noqa: F811
    _room(records_a)
    user = make_user("em.api", Role.QC_ANALYST)
    data = signed_in(user).get(f"/api/v1/envmon/rooms/{ROOM}/trend?sample_type=settle_plate").json()
    assert data["limits"]["alert"] == "2.00" and data["limits"]["action"] == "4.00"
    assert [len(s["points"]) for s in data["series"]] == [5, 5, 5]
    bad = signed_in(user).get(f"/api/v1/envmon/rooms/{ROOM}/trend?sample_type=nonsense")
    assert bad.status_code == 422 and "Choose a sample type" in bad.json()["detail"]
    naive = signed_in(user).get(f"/api/v1/envmon/rooms/{ROOM}/trend?sample_type=settle_plate&start=2026-02-01T00:00")
    assert naive.status_code == 200 and naive.json()["start"].startswith("2026-02-01T00:00:00")
    ancient = signed_in(user).get(f"/api/v1/envmon/rooms/{ROOM}/trend?sample_type=settle_plate&end=0001-01-01T00:00")
    assert ancient.status_code == 422 and "between the years 2000 and 2100" in ancient.json()["detail"]
