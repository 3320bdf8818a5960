"""Collections, handoffs and shipments over the API: each operation anonymous → 401, without the
permission → 403, with it → the resource (the shared view tests, P11-1d); then what the API adds:
a mix-up comes back as 422 with the deviation raised, an unreadable scan as 422 with nothing
written, the second person signs with their user ID and password, and another sponsor's records
are 404."""

import pytest
from django.test import Client

from opencdmo.core import clock
from opencdmo.core.domain.roles import Role
from opencdmo.identity.models import CustodyEvent, Shipment, TherapyOrder, Unit
from opencdmo.quality.models import Deviation
from tests.conftest import PASSWORD
from tests.web.conftest import EVERY_STAFF_ROLE, bearer, records_a  # noqa: F401
from tests.web.viewtests import PermissionApiTest

from . import builders

pytestmark = pytest.mark.req("P11-1d")


def _cached(world, name: str, build):
    """A record of the test world, built the first time a request of the test needs it."""
    if getattr(world, name, None) is None:
        setattr(world, name, build())
    return getattr(world, name)


def _order(world) -> TherapyOrder:
    return _cached(world, "custody_order", lambda: TherapyOrder.objects.get(
        number=builders.order_for_sponsor(world.author, world.sponsor, "custody API")))


def _collected_unit(world) -> Unit:
    return _cached(world, "collected_unit", lambda: builders.collected(_order(world))[0])


def _manufacturing_order(world) -> TherapyOrder:
    def build():
        order = _order(world)
        for unit in builders.received(order):
            builders.services.hand_over(builders.handler(world.sponsor), unit, "issue_to_manufacturing",
                                        scanned=builders.unit_scan(unit))
        return order
    return _cached(world, "manufacturing_order", build)


def _inbound(world) -> Shipment:
    return _cached(world, "inbound_shipment", lambda: builders.services.create_shipment(
        builders.planner(world.sponsor), _order(world), direction="inbound", units=[_collected_unit(world)],
        courier="World Courier", origin="UKL", destination="CDMO", logger_id="LOG-7"))


def _dispatched(world) -> Shipment:
    return _cached(world, "dispatched_shipment", lambda: builders.services.dispatch_shipment(
        builders.planner(world.sponsor), _inbound(world), scanned=builders.shipper_scan(_order(world))))


class _Api(PermissionApiTest):
    roles = (Role.OPERATOR,)
    refused_roles = ()
    number = None  # world → the {number} of the path
    body = None  # world → the JSON body

    def url(self, world):
        path = self.operation[1]
        return "/api/v1" + (path.format(number=self.number(world)) if "{number}" in path else path)

    def data(self, world, user):
        return self.body(world) if self.body else None


class TestApiBookCollection(_Api):
    operation = ("POST", "/therapy-orders/{number}/collections")
    roles, refused_roles, status = (Role.PLANNER,), (Role.OPERATOR,), 201
    number = staticmethod(lambda world: _order(world).number)
    body = staticmethod(lambda world: {"planned_on": clock.site_today().isoformat()})


class TestApiRecordCollection(_Api):
    operation = ("POST", "/collections/{number}/collected")
    roles, refused_roles, status = (Role.PLANNER,), (Role.OPERATOR,), 201
    number = staticmethod(lambda world: _cached(world, "collection", lambda: builders.booked(_order(world))).number)
    body = staticmethod(lambda world: {"bags": 2})


class TestApiHandOver(_Api):
    operation = ("POST", "/units/{number}/handoffs")
    roles, refused_roles, status = (Role.PLANNER,), (Role.OPERATOR,), 201
    number = staticmethod(lambda world: _collected_unit(world).number)
    body = staticmethod(lambda world: {"kind": "courier_pickup", "scanned": builders.unit_scan(_collected_unit(world)),
                                       "to_party": "World Courier"})


class TestApiRegisterFinalProduct(_Api):
    operation = ("POST", "/therapy-orders/{number}/final-product")
    roles, refused_roles, status = (Role.OPERATOR,), (Role.PLANNER,), 201
    number = staticmethod(lambda world: _manufacturing_order(world).number)
    body = staticmethod(lambda world: {"bags": 2})


class TestApiCustodyEvents(_Api):
    operation = ("GET", "/therapy-orders/{number}/custody")
    number = staticmethod(lambda world: _order(world).number)


class TestApiUnit(_Api):
    operation = ("GET", "/units/{number}")
    number = staticmethod(lambda world: _collected_unit(world).number)


class TestApiCreateShipment(_Api):
    operation = ("POST", "/shipments")
    roles, refused_roles, status = (Role.MATERIAL_HANDLER,), (Role.OPERATOR,), 201
    body = staticmethod(lambda world: {"order": _order(world).number, "direction": "inbound",
                                       "units": [_collected_unit(world).number], "courier": "World Courier",
                                       "origin": "UKL", "destination": "CDMO", "logger_id": "LOG-7"})


class TestApiShipments(_Api):
    operation = ("GET", "/shipments")


class TestApiShipment(_Api):
    operation = ("GET", "/shipments/{number}")
    number = staticmethod(lambda world: _inbound(world).number)


class TestApiDispatchShipment(_Api):
    operation = ("POST", "/shipments/{number}/dispatch")
    roles, refused_roles = (Role.PLANNER,), (Role.OPERATOR,)
    number = staticmethod(lambda world: _inbound(world).number)
    body = staticmethod(lambda world: {"scanned": [builders.shipper_scan(_order(world))]})


class TestApiCancelShipment(_Api):
    operation = ("POST", "/shipments/{number}/cancellation")
    roles, refused_roles = (Role.PLANNER,), (Role.OPERATOR,)
    number = staticmethod(lambda world: _cached(world, "packed_to_cancel", lambda: builders.shipment_for_sponsor(
        None, world.sponsor, "API cancel")))
    body = staticmethod(lambda world: {"reason": "Courier pickup moved to tomorrow."})


class TestApiHeldDecision(_Api):
    operation = ("POST", "/units/{number}/decision")
    roles, refused_roles = (Role.QA_SPECIALIST,), (Role.MATERIAL_HANDLER,)
    number = staticmethod(lambda world: _cached(world, "held_unit", lambda: builders.held_unit_for_sponsor(
        None, world.sponsor, "API held")))

    def data(self, world, user):
        return {"decision": "destroy", "reason": "Thawed in transit.", "username": user.username,
                "password": PASSWORD}


class TestApiReceiveShipment(_Api):
    operation = ("POST", "/shipments/{number}/receipt")
    roles, refused_roles = (Role.OPERATOR,), (Role.PLANNER,)
    number = staticmethod(lambda world: _dispatched(world).number)
    body = staticmethod(lambda world: {"scanned": [builders.shipper_scan(_order(world))], "logger_min_c": "-182.4",
                                       "logger_max_c": "-165.0", "minutes_out_of_range": 0, "accepted": True})


# --- Behaviour over the API ---

def _post(user, path: str, body: dict):
    return Client().post("/api/v1" + path, body, content_type="application/json", headers=bearer(user))


@pytest.fixture
def in_transit(records_a) -> Unit:  # noqa: F811
    unit = _collected_unit(records_a)
    builders.services.hand_over(builders.planner(records_a.sponsor), unit, "courier_pickup",
                                scanned=builders.unit_scan(unit))
    return Unit.objects.get(pk=unit.pk)


@pytest.mark.django_db
@pytest.mark.req("ISBT-6")
def test_a_mix_up_comes_back_as_422_with_the_deviation_raised(records_a, in_transit):  # noqa: F811
    other = builders.order(builders.planner(records_a.sponsor), builders.patient(builders.planner(records_a.sponsor),
                                                                                 records_a.sponsor))
    wrong = builders.collected(other)[0]
    handler, verifier = builders.handler(records_a.sponsor), builders.second(records_a.sponsor)
    response = _post(handler, f"/units/{in_transit.number}/handoffs", {
        "kind": "receipt", "scanned": builders.unit_scan(wrong), "verifier_username": verifier.username,
        "verifier_password": PASSWORD})
    assert response.status_code == 422, response.content
    deviation = Deviation.objects.get(source="custody")
    assert "Refused" in response.json()["detail"] and deviation.number in response.json()["detail"]
    assert CustodyEvent.objects.get(unit=in_transit, kind="receipt").result == "refused"
    assert Unit.objects.get(pk=in_transit.pk).status == "in_transit"


@pytest.mark.django_db
def test_an_unreadable_scan_comes_back_as_422_and_nothing_is_written(records_a, in_transit):  # noqa: F811
    handler, verifier = builders.handler(records_a.sponsor), builders.second(records_a.sponsor)
    before = CustodyEvent.objects.count(), Deviation.objects.count()
    for scanned in (["not a barcode"], [], ["=A9999"]):
        response = _post(handler, f"/units/{in_transit.number}/handoffs", {
            "kind": "receipt", "scanned": scanned, "verifier_username": verifier.username,
            "verifier_password": PASSWORD})
        assert response.status_code == 422, response.content
        assert response.json()["detail"]
    assert (CustodyEvent.objects.count(), Deviation.objects.count()) == before
    assert Unit.objects.get(pk=in_transit.pk).status == "in_transit"


@pytest.mark.django_db
def test_the_second_person_signs_with_their_user_id_and_password(records_a, in_transit):  # noqa: F811
    handler, verifier = builders.handler(records_a.sponsor), builders.second(records_a.sponsor)
    body = {"kind": "receipt", "scanned": builders.unit_scan(in_transit), "to_party": "CDMO goods-in"}
    missing = _post(handler, f"/units/{in_transit.number}/handoffs", body)
    assert missing.status_code == 422 and "second person" in missing.json()["detail"]
    wrong = _post(handler, f"/units/{in_transit.number}/handoffs",
                  {**body, "verifier_username": verifier.username, "verifier_password": "guess"})
    assert wrong.status_code == 403 and "Signature refused" in wrong.json()["detail"]
    unknown = _post(handler, f"/units/{in_transit.number}/handoffs",
                    {**body, "verifier_username": "nobody", "verifier_password": PASSWORD})
    assert unknown.status_code == 403
    response = _post(handler, f"/units/{in_transit.number}/handoffs",
                     {**body, "verifier_username": verifier.username, "verifier_password": PASSWORD})
    assert response.status_code == 201, response.content
    assert response.json()["verified_by"] == verifier.username and response.json()["result"] == "verified"
    unit = Client().get(f"/api/v1/units/{in_transit.number}", headers=bearer(handler)).json()
    assert (unit["status"], unit["holder"]) == ("received", "CDMO goods-in")
    events = Client().get(f"/api/v1/therapy-orders/{in_transit.order.number}/custody", headers=bearer(handler)).json()
    assert [e["kind"] for e in events] == ["collection", "courier_pickup", "receipt"]


@pytest.mark.django_db
def test_a_rejected_shipment_over_the_api_keeps_the_logger_summary(records_a):  # noqa: F811
    shipment = _dispatched(records_a)
    handler = builders.handler(records_a.sponsor)
    body = {"scanned": [builders.shipper_scan(_order(records_a))], "logger_min_c": "-120.5", "logger_max_c": "-60.0",
            "minutes_out_of_range": 95, "accepted": False}
    assert _post(handler, f"/shipments/{shipment.number}/receipt", body).status_code == 422
    response = _post(handler, f"/shipments/{shipment.number}/receipt", {**body, "note": "Shipper warm."})
    assert response.status_code == 200, response.content
    found = response.json()
    assert (found["status"], found["accepted"], found["minutes_out_of_range"]) == ("received", False, 95)
    assert float(found["logger_max_c"]) == -60.0 and found["units"] == [_collected_unit(records_a).number]
    listed = Client().get("/api/v1/shipments?status=received&direction=inbound", headers=bearer(handler)).json()
    assert [s["number"] for s in listed["items"]] == [shipment.number]


@pytest.mark.django_db
def test_another_sponsors_user_gets_404_for_collections_units_custody_and_shipments(
        records_a, make_user, sponsor_b):  # noqa: F811
    collection = builders.booked(_order(records_a))
    unit, shipment = _collected_unit(records_a), _inbound(records_a)
    outsider = make_user("beta.all", *EVERY_STAFF_ROLE, Role.PLANNER, sponsors=[sponsor_b])
    order = _order(records_a).number
    headers = bearer(outsider)
    for path in (f"/units/{unit.number}", f"/shipments/{shipment.number}", f"/therapy-orders/{order}/custody"):
        assert Client().get("/api/v1" + path, headers=headers).status_code == 404, path
    for path, body in ((f"/therapy-orders/{order}/collections", {"planned_on": "2026-05-04"}),
                       (f"/collections/{collection.number}/collected", {"bags": 1}),
                       (f"/units/{unit.number}/handoffs", {"kind": "courier_pickup",
                                                           "scanned": builders.unit_scan(unit)}),
                       (f"/therapy-orders/{order}/final-product", {"bags": 1}),
                       ("/shipments", {"order": order, "direction": "inbound", "units": [unit.number],
                                       "courier": "X", "origin": "Y", "destination": "Z"}),
                       (f"/shipments/{shipment.number}/dispatch", {"scanned": [builders.shipper_scan(
                           _order(records_a))]})):
        response = _post(outsider, path, body)
        assert response.status_code == 404, (path, response.content)
        assert unit.number not in response.content.decode() and order not in response.content.decode()
    listed = Client().get("/api/v1/shipments", headers=headers).json()
    assert listed["items"] == []
    assert Unit.objects.get(pk=unit.pk).status == "collected"
    assert Shipment.objects.get(pk=shipment.pk).status == "packing"
