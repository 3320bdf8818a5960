"""Cryostorage pages and API operations: the shared view tests for each (anonymous → sign in or
401; without the permission → 403 with a message; with it → the page or the resource), the
operator's scan screen, the occupancy map and sponsor segregation."""

import itertools

import pytest
from django.test import Client
from django.urls import reverse

from opencdmo.core.domain.roles import Role
from opencdmo.identity import selectors, services
from opencdmo.identity.models import Box, Freezer, FreezerAlarm, Placement, Unit
from opencdmo.quality.models import Deviation
from tests.web.conftest import bearer, records_a, records_b, signed_in  # noqa: F401
from tests.web.viewtests import PermissionApiTest, PermissionPageTest

from . import builders

pytestmark = pytest.mark.req("P11-1d")

BOX = "LN2-01-R1-B01"
_unique = itertools.count(1)


def _manager(world):
    return builders.storage_manager(world.sponsor)


def _freezer(world) -> Freezer:
    """The freezer LN2-01 with one rack of one 5 × 5 box, built once per test world."""
    return Freezer.objects.filter(code="LN2-01").first() or builders.freezer(_manager(world))


def _unit(world) -> Unit:
    """A new unit of a new therapy of the world's sponsor."""
    return Unit.objects.get(number=builders.unit_for_sponsor(None, world.sponsor, "storage views"))


def _stored_unit(world) -> Unit:
    return Unit.objects.get(number=builders.stored_unit_for_sponsor(None, world.sponsor, "storage views"))


def _alarm(world) -> FreezerAlarm:
    return services.raise_alarm(_manager(world), _freezer(world), kind="lid", value="5 min")


# --- Pages -------------------------------------------------------------------------------------

class _Page(PermissionPageTest):
    roles = (Role.OPERATOR,)
    refused_roles = (Role.SPONSOR_VIEWER,)
    args = staticmethod(lambda world: ())

    def url(self, world):
        return reverse(self.route, args=self.args(world))


class TestStorageList(_Page):
    route = "identity:storage"


class TestFreezerPage(_Page):
    route = "identity:freezer"
    args = staticmethod(lambda world: (_freezer(world).code,))


class TestScanPage(_Page):
    route = "identity:storage_scan"
    refused_roles = (Role.QC_REVIEWER,)


class TestStorageNewPage(_Page):
    route = "identity:storage_new"
    roles = (Role.SUPERVISOR,)
    refused_roles = (Role.OPERATOR,)


# --- API -------------------------------------------------------------------------------------

class _Api(PermissionApiTest):
    roles = (Role.OPERATOR,)
    refused_roles = (Role.SPONSOR_VIEWER,)
    body = None
    path_args = staticmethod(lambda world: {})

    def url(self, world):
        return "/api/v1" + self.operation[1].format(**self.path_args(world))

    def data(self, world, user):
        return self.body(world) if self.body else None


class _CustodyApi(_Api):
    refused_roles = (Role.QC_REVIEWER,)
    status = 201


class _ManageApi(_Api):
    roles = (Role.MATERIAL_HANDLER,)
    refused_roles = (Role.OPERATOR,)
    status = 201


class TestApiFreezers(_Api):
    operation = ("GET", "/storage/freezers")


class TestApiFreezer(_Api):
    operation = ("GET", "/storage/freezers/{code}")
    path_args = staticmethod(lambda world: {"code": _freezer(world).code})


class TestApiCreateFreezer(_ManageApi):
    operation = ("POST", "/storage/freezers")
    body = staticmethod(lambda world: {"code": f"LN2-1{next(_unique)}", "name": "Vapour-phase LN2",
                                       "room": builders.storage_room(_manager(world)).code})


class TestApiAddRack(_ManageApi):
    operation = ("POST", "/storage/freezers/{code}/racks")
    path_args = staticmethod(lambda world: {"code": _freezer(world).code})
    body = staticmethod(lambda world: {"code": f"R{next(_unique) + 1}"})


class TestApiAddBox(_ManageApi):
    operation = ("POST", "/storage/freezers/{code}/racks/{rack}/boxes")
    path_args = staticmethod(lambda world: {"code": _freezer(world).code, "rack": "R1"})
    body = staticmethod(lambda world: {"code": f"LN2-01-R1-B{next(_unique) + 10}", "rows": 9, "columns": 9})


class TestApiRetireFreezer(_ManageApi):
    operation = ("POST", "/storage/freezers/{code}/retirement")
    status = 200
    path_args = staticmethod(lambda world: {"code": _freezer(world).code})
    body = staticmethod(lambda world: {"reason": "Replaced by a new freezer"})


class TestApiPlace(_CustodyApi):
    operation = ("POST", "/storage/placements")
    body = staticmethod(lambda world: {"unit": _unit(world).number, "position": f"{_freezer(world).code}-R1-B01/"
                                                                                f"A{next(_unique) % 5 + 1}"})


class TestApiRetrieve(_CustodyApi):
    operation = ("POST", "/storage/retrievals")
    status = 200
    body = staticmethod(lambda world: {"unit": _stored_unit(world).number, "reason": "Thaw"})


class TestApiMove(_CustodyApi):
    operation = ("POST", "/storage/moves")
    body = staticmethod(lambda world: {"unit": _stored_unit(world).number, "position": f"{BOX}/C{next(_unique) % 5 + 1}"})


class TestApiRaiseAlarm(_CustodyApi):
    operation = ("POST", "/storage/freezers/{code}/alarms")
    path_args = staticmethod(lambda world: {"code": _freezer(world).code})
    body = staticmethod(lambda world: {"kind": "ln2_level", "value": "15 %"})


class TestApiAcknowledgeAlarm(_ManageApi):
    operation = ("POST", "/storage/alarms/{alarm_id}/acknowledgement")
    status = 200
    path_args = staticmethod(lambda world: {"alarm_id": _alarm(world).pk})
    body = staticmethod(lambda world: {"note": "Lid closed and checked"})


# --- What the pages do ---------------------------------------------------------------------------

@pytest.fixture
def operator(make_user, sponsor_a):
    return make_user("op.scan", Role.OPERATOR, sponsors=[sponsor_a])


@pytest.fixture
def world(records_a):  # noqa: F811
    _freezer(records_a)
    return records_a


@pytest.mark.django_db
def test_the_scan_screen_places_moves_and_retrieves_with_the_result_in_view(operator, world):
    unit, client, url = _unit(world), signed_in(operator), reverse("identity:storage_scan")
    html = client.get(url).content.decode()
    assert 'name="unit"' in html and "autofocus" in html and 'name="position"' in html
    response = client.post(url, {"action": "place", "unit": unit.number, "position": f" {BOX.lower()}/b2 "})
    assert response.status_code == 200
    assert f"{unit.number} is in {BOX}/B2." in response.content.decode()
    response = client.post(url, {"action": "move", "unit": unit.number, "position": f"{BOX}/B3"})
    assert f"{unit.number} is in {BOX}/B3." in response.content.decode()
    response = client.post(url, {"action": "retrieve", "unit": unit.number, "reason": "Thaw"})
    assert f"taken out of {BOX}/B3" in response.content.decode()
    assert not Placement.objects.filter(removed_at__isnull=True).exists()


@pytest.mark.django_db
def test_the_scan_screen_says_what_to_do_when_refused_and_keeps_the_scans(operator, world):
    first, second, client = _unit(world), _unit(world), signed_in(operator)
    url = reverse("identity:storage_scan")
    client.post(url, {"action": "place", "unit": first.number, "position": f"{BOX}/A1"})
    response = client.post(url, {"action": "place", "unit": second.number, "position": f"{BOX}/A1"})
    body = response.content.decode()
    assert response.status_code == 409
    assert 'role="alert"' in body and "holds another unit: scan a free position" in body
    assert f'value="{second.number}"' in body
    response = client.post(url, {"action": "place", "unit": second.number, "position": f"{BOX}/Q9"})
    assert response.status_code == 422 and "has no position Q9" in response.content.decode()


@pytest.mark.django_db
def test_the_freezer_page_shows_the_occupancy_map_without_other_sponsors_identifiers(make_user, operator, world,
                                                                                     records_b):  # noqa: F811
    ours = _stored_unit(world)
    theirs = _unit(records_b)
    their_operator = make_user("op.beta.scan", Role.OPERATOR, sponsors=[records_b.sponsor])
    services.place_unit(their_operator, unit_scan=theirs.number, position_scan=f"{BOX}/D4")
    body = signed_in(operator).get(reverse("identity:freezer", args=["ln2-01"])).content.decode()
    assert ours.number in body and selectors.printed_coi(ours.order.coi).text in body
    assert "D4" in body and theirs.number not in body
    for text in records_b.texts:
        assert text not in body
    assert body.count('role="gridcell"') == 25
    listing = signed_in(operator).get(reverse("identity:storage")).content.decode()
    assert "LN2-01" in listing


@pytest.mark.django_db
def test_alarms_are_raised_and_acknowledged_on_the_freezer_page(make_user, operator, world, sponsor_a):
    url = reverse("identity:freezer", args=["LN2-01"])
    response = signed_in(operator).post(url, {"action": "raise_alarm", "kind": "temperature", "value": "-120 °C"})
    assert response.status_code == 302
    html = signed_in(operator).get(url).content.decode()
    assert "alarm-banner" in html and "Temperature above the alarm limit" in html
    assert Deviation.objects.filter(source="equipment", sponsor=None).count() == 1
    alarm = FreezerAlarm.objects.get()
    refused = signed_in(operator).post(url, {"action": "acknowledge", "alarm": alarm.pk, "note": "Refilled"})
    assert refused.status_code == 403
    handler = make_user("mh.storage", Role.MATERIAL_HANDLER, sponsors=[sponsor_a])
    missing_note = signed_in(handler).post(url, {"action": "acknowledge", "alarm": alarm.pk, "note": ""})
    assert missing_note.status_code == 422 and "note" in missing_note.content.decode()
    assert signed_in(handler).post(url, {"action": "acknowledge", "alarm": alarm.pk, "note": "Refilled"}
                                   ).status_code == 302
    alarm.refresh_from_db()
    assert alarm.acknowledged_by == handler


@pytest.mark.django_db
def test_freezers_racks_and_boxes_are_added_on_the_storage_form(make_user, world, sponsor_a):
    manager = _manager(world)
    client, url = signed_in(manager), reverse("identity:storage_new")
    room = builders.storage_room(manager)
    response = client.post(url, {"what": "freezer", "code": "ln2-02", "name": "Second LN2", "room": room.code,
                                 "alarm_above_c": "-140"})
    assert response.status_code == 302 and response["Location"] == reverse("identity:freezer", args=["LN2-02"])
    assert client.post(url, {"what": "rack", "freezer": "LN2-02", "code": "R1"}).status_code == 302
    assert client.post(url, {"what": "box", "rack": "LN2-02/R1", "code": "LN2-02-R1-B01", "rows": "9",
                             "columns": "9"}).status_code == 302
    assert Box.objects.get(code="LN2-02-R1-B01").rows == 9
    duplicate = client.post(url, {"what": "rack", "freezer": "LN2-02", "code": "R1"})
    assert duplicate.status_code == 409 and "already has a rack R1" in duplicate.content.decode()
    assert signed_in(manager).get(url).status_code == 200


@pytest.mark.django_db
def test_another_sponsors_unit_is_not_found_on_the_scan_screen_or_the_api(make_user, world, records_b):  # noqa: F811
    theirs = _unit(records_b)
    operator_a = make_user("op.acme.api", Role.OPERATOR, sponsors=[world.sponsor])
    response = Client().post("/api/v1/storage/placements", {"unit": theirs.number, "position": f"{BOX}/A1"},
                             content_type="application/json", headers=bearer(operator_a))
    assert response.status_code == 404
    page_response = signed_in(operator_a).post(reverse("identity:storage_scan"), {
        "action": "place", "unit": theirs.number, "position": f"{BOX}/A1"})
    assert page_response.status_code == 404 and 'role="alert"' in page_response.content.decode()
    for action, body in (("retrievals", {"unit": theirs.number}), ("moves", {"unit": theirs.number,
                                                                           "position": f"{BOX}/A2"})):
        response = Client().post(f"/api/v1/storage/{action}", body, content_type="application/json",
                                 headers=bearer(operator_a))
        assert response.status_code == 404, action
    assert not Placement.objects.exists()


@pytest.mark.django_db
def test_the_api_freezer_shows_occupancy_with_identifiers_only_of_the_users_sponsors(make_user, world,
                                                                                    records_b):  # noqa: F811
    ours, theirs = _stored_unit(world), _unit(records_b)
    services.place_unit(make_user("op.beta.api", Role.OPERATOR, sponsors=[records_b.sponsor]),
                        unit_scan=theirs.number, position_scan=f"{BOX}/D4")
    viewer = make_user("op.acme.view", Role.OPERATOR, sponsors=[world.sponsor])
    body = Client().get("/api/v1/storage/freezers/LN2-01", headers=bearer(viewer)).json()
    cells = {c["position"]: c for row in body["racks"][0]["boxes"][0]["positions"] for c in row}
    assert cells["D4"] == {"position": "D4", "occupied": True, "unit": "", "coi": ""}
    assert ours.number in {c["unit"] for c in cells.values()}
    assert (body["used"], body["free"]) == (2, 23)
    assert theirs.number not in str(body)
