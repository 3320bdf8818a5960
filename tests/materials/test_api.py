"""The materials API: every operation passes the shared access tests (401 / 403 / success, all JSON);
bad input is a 4xx JSON {"detail": …} and writes nothing."""

import datetime as dt

import pytest
from django.test import Client

from opencdmo.core import services as core_services
from opencdmo.core.domain.roles import Role
from opencdmo.materials.models import Lot
from tests.conftest import PASSWORD
from tests.web.conftest import bearer
from tests.web.viewtests import PermissionApiTest

from . import builders
from .conftest import written

pytestmark = [pytest.mark.req("P11-1d"), pytest.mark.usefixtures("api_urls")]

VIEWER, OPERATOR, HANDLER, QA, QP = (Role.SPONSOR_VIEWER, Role.OPERATOR, Role.MATERIAL_HANDLER, Role.QA_SPECIALIST,
                                     Role.QA_APPROVER)


class _Lot:
    def url(self, world):
        return "/api/v1" + self.operation[1].format(number=world.lot.number, code=world.material_code,
                                                    action="hold")


class TestSuppliers(PermissionApiTest):
    operation = ("GET", "/suppliers")
    roles = (VIEWER,)


class TestLocations(PermissionApiTest):
    operation = ("GET", "/inventory-locations")
    roles = (VIEWER,)


class TestMaterials(PermissionApiTest):
    operation = ("GET", "/materials")
    roles = (VIEWER,)


class TestMaterial(_Lot, PermissionApiTest):
    operation = ("GET", "/materials/{code}")
    roles = (VIEWER,)


class TestNewMaterial(PermissionApiTest):
    operation = ("POST", "/materials")
    roles = (QA,)
    refused_roles = (OPERATOR,)
    status = 201

    def data(self, world, user):
        return {"code": "IL2-RH", "name": "Recombinant human IL-2", "category": "critical_reagent",
                "storage": "frozen", "unit": "IU", "approved_suppliers": [world.lot.supplier.code],
                "sponsor": world.sponsor.code}


class TestLots(PermissionApiTest):
    operation = ("GET", "/lots")
    roles = (VIEWER,)


class TestReceive(PermissionApiTest):
    operation = ("POST", "/lots")
    roles = (HANDLER,)
    refused_roles = (QA,)
    status = 201

    def data(self, world, user):
        return {"material": world.material_code, "supplier": world.lot.supplier.code, "supplier_lot": "API-1",
                "quantity": "1.5", "unit": "mL", "location": "QUAR-01", "expiry_date": "2099-12-31"}


class TestLot(_Lot, PermissionApiTest):
    operation = ("GET", "/lots/{number}")
    roles = (VIEWER,)


class TestTransactions(_Lot, PermissionApiTest):
    operation = ("GET", "/lots/{number}/transactions")
    roles = (VIEWER,)


class TestMove(_Lot, PermissionApiTest):
    operation = ("POST", "/lots/{number}/transactions")
    roles = (OPERATOR,)
    refused_roles = (QP,)
    status = 201

    def data(self, world, user):
        return {"kind": "issue", "location": "QUAR-01", "quantity": 1, "for_label": "Engineering run ER-03"}


class TestTrace(_Lot, PermissionApiTest):
    operation = ("GET", "/lots/{number}/trace")
    roles = (QP,)
    refused_roles = (OPERATOR,)


class TestDisposition(_Lot, PermissionApiTest):
    operation = ("POST", "/lots/{number}/{action}")
    roles = (QP,)
    refused_roles = (HANDLER,)

    def data(self, world, user):
        return {"reason": "supplier notification"}


# What the API does ---------------------------------------------------------------------------

def _receipt(**changes) -> dict:
    return {"material": "TCM-SF", "supplier": "CELLMED", "supplier_lot": "TCM-2603-88", "quantity": "2.5",
            "unit": "L", "containers": 5, "location": "QUAR-01", "expiry_date": "2026-09-30", **changes}


def test_a_lot_is_received_released_and_issued_through_the_api(handler, qa, operator, medium, store, fake_clock):
    client = Client()
    received = client.post("/api/v1/lots", _receipt(), content_type="application/json", headers=bearer(handler))
    assert received.status_code == 201, received.content
    lot = received.json()
    assert (lot["number"], lot["status"], lot["quantity_received"], lot["unit"], lot["usable"]) == (
        "LOT-2026-0001", "quarantine", "2500", "mL", False)
    assert lot["reasons"] == ["LOT-2026-0001 is in quarantine: QA has not released it"]
    core_services.add_attachment(handler, Lot.objects.get(), builders.certificate())  # or POST …/attachments

    unsigned = client.post("/api/v1/lots/LOT-2026-0001/release", {"username": "qa.patel", "password": "wrong"},
                           content_type="application/json", headers=bearer(qa))
    assert unsigned.status_code == 403 and "Signature refused" in unsigned.json()["detail"]
    released = client.post("/api/v1/lots/LOT-2026-0001/release", {"username": "qa.patel", "password": PASSWORD,
                                                                   "comment": "CoA conforms"},
                           content_type="application/json", headers=bearer(qa))
    assert released.status_code == 200, released.content
    assert (released.json()["status"], released.json()["usable"]) == ("released", True)

    issued = client.post("/api/v1/lots/LOT-2026-0001/transactions", {
        "kind": "issue", "location": "QUAR-01", "quantity": "0.5", "unit": "L", "for_type": "external",
        "for_label": "HLX-101 batch B-2601"}, content_type="application/json", headers=bearer(operator))
    assert issued.status_code == 201, issued.content
    assert [(t["kind"], t["quantity"], t["balance_after"], t["unit"]) for t in issued.json()] == [
        ("issue", "-500", "2000", "mL")]
    history = client.get("/api/v1/lots/LOT-2026-0001/transactions", headers=bearer(operator)).json()
    assert [t["kind"] for t in history] == ["issue", "receive"]


@pytest.mark.parametrize(("body", "status", "detail"), [
    (_receipt(quantity="-1"), 422, "The quantity must be more than zero."),
    (_receipt(quantity="two"), 422, None),
    (_receipt(unit="kg"), 422, "kg cannot be converted to mL."),
    (_receipt(unit="zorkmids"), 422, "'zorkmids' is not a unit of measure this system knows."),
    (_receipt(expiry_date="2026-03-01"), 422, "The expiry date 2026-03-01 is before the receipt date 2026-03-02: expired material is not received."),
    (_receipt(expiry_date="tomorrow"), 422, None),
    (_receipt(containers=0), 422, None),
    (_receipt(supplier="NOPE"), 404, "There is no supplier 'NOPE'."),
    (_receipt(material="NOPE"), 404, "No material matches that reference."),
    (_receipt(supplier_lot="x" * 65), 422, None),
    ({"material": "TCM-SF"}, 422, None),
])
def test_bad_receipts_are_json_4xx_and_write_nothing(handler, medium, store, fake_clock, body, status, detail):
    before = written()

    response = Client().post("/api/v1/lots", body, content_type="application/json", headers=bearer(handler))

    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    assert response.json()["detail"]
    if detail:
        assert response.json()["detail"] == detail
    after = written()
    after["events"] -= 1  # the token was created (and audited) for this request
    assert after == before


def test_a_duplicate_supplier_lot_is_409(handler, medium, store, fake_clock):
    headers = bearer(handler)
    assert Client().post("/api/v1/lots", _receipt(), content_type="application/json", headers=headers).status_code == 201

    response = Client().post("/api/v1/lots", _receipt(), content_type="application/json", headers=headers)

    assert response.status_code == 409
    assert response.json()["detail"] == (
        "CellMed Media Systems lot TCM-2603-88 of TCM-SF was received already as LOT-2026-0001.")


@pytest.mark.parametrize("state", ["quarantine", "on_hold", "rejected", "expired"])
def test_a_lot_that_may_not_be_used_is_not_issued_through_the_api(quarantined, qa, operator, fake_clock, state):
    from opencdmo.materials import services  # noqa: PLC0415
    from tests.factories import signature  # noqa: PLC0415

    lot = quarantined
    if state != "quarantine":
        lot = builders.release(qa, lot)
    if state in ("on_hold", "rejected"):
        lot = services.transition_lot(qa, lot, "hold", reason="investigation")
    if state == "rejected":
        services.transition_lot(qa, lot, "reject", signature=signature(qa, "Rejected"), reason="confirmed")
    if state == "expired":
        fake_clock.set(dt.datetime.combine(lot.expiry_date + dt.timedelta(days=1), dt.time(12), tzinfo=dt.UTC))
    headers = bearer(operator)
    before = written()

    response = Client().post(f"/api/v1/lots/{lot.number}/transactions", {
        "kind": "issue", "location": "QUAR-01", "quantity": 1, "for_label": "B-2601"},
        content_type="application/json", headers=headers)

    assert response.status_code == 422
    assert response.json()["detail"].startswith("Not issued: ")
    assert written() == before


@pytest.mark.parametrize(("body", "status"), [
    ({"kind": "issue", "location": "WH-COLD", "quantity": 999999, "for_label": "B"}, 409),
    ({"kind": "issue", "location": "WH-COLD", "quantity": -1, "for_label": "B"}, 422),
    ({"kind": "issue", "location": "WH-COLD", "quantity": "NaN", "for_label": "B"}, 422),
    ({"kind": "issue", "location": "WH-COLD", "quantity": 1}, 422),
    ({"kind": "issue", "location": "WH-COLD", "quantity": 1, "for_type": "nope.nope", "for_reference": "X"}, 422),
    ({"kind": "teleport", "location": "WH-COLD", "quantity": 1}, 422),
    ({"kind": "transfer", "location": "WH-COLD", "quantity": 1}, 422),
    ({"kind": "adjust", "location": "WH-COLD", "quantity": 1}, 422),
    ({"kind": "destroy", "location": "WH-COLD", "quantity": 1}, 422),
    ({"kind": "issue", "location": "NOWHERE", "quantity": 1, "for_label": "B"}, 404),
])
def test_bad_movements_are_json_4xx_and_write_nothing(released, make_user, sponsor_a, body, status):
    user = make_user("mh.sup", HANDLER, Role.SUPERVISOR, sponsors=[sponsor_a])
    headers = bearer(user)
    before = written()

    response = Client().post(f"/api/v1/lots/{released.number}/transactions", body, content_type="application/json",
                             headers=headers)

    assert response.status_code == status, response.content
    assert response.json()["detail"]
    assert written() == before


@pytest.mark.parametrize(("path", "status"), [
    ("/api/v1/lots/LOT-1999-0001", 404),
    ("/api/v1/lots/LOT-1999-0001/transactions", 404),
    ("/api/v1/lots?status=lost", 422),
    ("/api/v1/lots?expiring_within=-1", 422),
    ("/api/v1/lots?expiring_within=99999999999999999999", 422),
    ("/api/v1/materials/NOPE", 404),
])
def test_reads_answer_bad_references_with_json_4xx(handler, path, status):
    response = Client().get(path, headers=bearer(handler))

    assert response.status_code == status
    assert response.json()["detail"]


def test_disposition_of_an_unknown_action_is_422(released, qa):
    response = Client().post(f"/api/v1/lots/{released.number}/publish", {}, content_type="application/json",
                             headers=bearer(qa))

    assert response.status_code == 422
