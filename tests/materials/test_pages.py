"""The materials pages: anonymous → sign in; without the permission → 403 with a message; with it →
the page (the shared view tests of tests/web/viewtests.py); and what each page does with good and
bad input (4xx with a message, nothing written)."""

import datetime as dt
import json

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

from opencdmo.core.domain.roles import Role
from opencdmo.core.models import AuditEvent
from opencdmo.materials import services
from opencdmo.materials.models import Lot, Material, Supplier
from tests.conftest import PASSWORD
from tests.factories import signature
from tests.web.viewtests import PermissionPageTest

from . import builders
from .conftest import written

pytestmark = pytest.mark.req("P11-1d")
settings.STATIC_ROOT.mkdir(parents=True, exist_ok=True)

OPERATOR, HANDLER, QA, QP, VIEWER = (Role.OPERATOR, Role.MATERIAL_HANDLER, Role.QA_SPECIALIST, Role.QA_APPROVER,
                                     Role.SPONSOR_VIEWER)


class _LotPage:
    def url(self, world):
        return reverse(self.route, args=[world.lot.number])


class TestInventoryPage(PermissionPageTest):
    route = "materials:inventory"
    roles = (VIEWER,)


class TestScan(PermissionPageTest):
    route = "materials:scan"
    roles = (OPERATOR,)
    status = 302

    def url(self, world):
        return reverse(self.route) + f"?number={world.lot.number.lower()}"


class TestReceivePage(PermissionPageTest):
    route = "materials:receive"
    roles = (HANDLER,)
    refused_roles = (QA, OPERATOR)


class TestReceiving(TestReceivePage):
    method = "POST"
    status = 302

    def data(self, world, user):
        return {"material": world.material_code, "supplier": world.lot.supplier.code, "supplier_lot": "NEW-1",
                "quantity": "5", "unit": "mL", "containers": "1", "location": "QUAR-01",
                "expiry_date": "2099-01-31"}


class TestLotPage(_LotPage, PermissionPageTest):
    route = "materials:lot"
    roles = (VIEWER,)


class TestLabels(_LotPage, PermissionPageTest):
    route = "materials:labels"
    roles = (HANDLER,)
    refused_roles = (VIEWER, OPERATOR)


class _Movement:
    route = "materials:movement"
    kind = "issue"

    def url(self, world):
        return reverse(self.route, args=[world.lot.number, self.kind])


class TestIssuePage(_Movement, PermissionPageTest):
    roles = (OPERATOR,)
    refused_roles = (QP, VIEWER)


class TestIssuing(TestIssuePage):
    method = "POST"
    status = 302

    def data(self, world, user):
        return {"location": "QUAR-01", "quantity": "1", "unit": "mL", "for_type": "external",
                "for_label": "Engineering run ER-02 (paper record)"}


class TestTransferPage(_Movement, PermissionPageTest):
    kind = "transfer"
    roles = (HANDLER,)
    refused_roles = (OPERATOR,)


class TestAdjustPage(_Movement, PermissionPageTest):
    kind = "adjust"
    roles = (Role.SUPERVISOR,)
    refused_roles = (OPERATOR,)


class TestMaterialMaster(PermissionPageTest):
    route = "materials:materials"
    roles = (VIEWER,)


class TestNewMaterialPage(PermissionPageTest):
    route = "materials:material_new"
    roles = (QA,)
    refused_roles = (OPERATOR,)


class TestMaterialPage(PermissionPageTest):
    route = "materials:material"
    roles = (VIEWER,)

    def url(self, world):
        return reverse(self.route, args=[world.material_code])


class TestSuppliersPage(PermissionPageTest):
    route = "materials:suppliers"
    roles = (OPERATOR,)


class TestLocationsPage(PermissionPageTest):
    route = "materials:locations"
    roles = (OPERATOR,)


class TestTracePage(PermissionPageTest):
    route = "materials:trace"
    roles = (QP,)
    refused_roles = (OPERATOR,)

    def url(self, world):
        return reverse(self.route) + f"?lot={world.lot.number}"


class TestTraceExport(TestTracePage):
    def url(self, world):
        return reverse(self.route) + f"?lot={world.lot.number}&format=json"


# What the pages do ----------------------------------------------------------------------------

def client_of(user) -> Client:
    client = Client(raise_request_exception=False)
    client.force_login(user)
    return client


def test_the_inventory_filters_by_status_material_location_and_expiry(released, handler, qa, medium, store,
                                                                      fake_clock):
    quarantined = builders.receive(handler, medium)
    soon = builders.release(qa, builders.receive(handler, medium, expires_in_days=10))
    client = client_of(handler)

    def numbers(query: str) -> list[str]:
        response = client.get("/materials/?" + query)
        assert response.status_code == 200
        body = response.content.decode()
        return sorted(lot.number for lot in Lot.objects.all() if f">{lot.number}</a>" in body)

    assert numbers("status=quarantine") == [quarantined.number]
    assert numbers("status=released") == sorted([released.number, soon.number])
    assert numbers("location=WH-COLD") == [released.number]
    assert numbers("expiring_within=30") == [soon.number]
    assert numbers("material=TCM-SF") == sorted([released.number, quarantined.number, soon.number])
    fake_clock.advance(days=11)
    assert numbers("status=expired") == [soon.number]


def test_the_inventory_filter_answers_htmx_with_the_table_only(released, handler):
    response = client_of(handler).get("/materials/?status=released", headers={"HX-Request": "true"})

    body = response.content.decode()
    assert response.status_code == 200
    assert body.startswith('<div id="lots">') and "<html" not in body and released.number in body


@pytest.mark.parametrize(("query", "message"), [
    ("expiring_within=soon", "give a whole number of days"),
    ("expiring_within=-3", "from 0 to 3650"),
    ("expiring_within=99999999999999999999", "from 0 to 3650"),
    ("status=lost", "&#x27;lost&#x27; is not a lot status"),
])
def test_bad_inventory_filters_are_a_4xx_with_a_message(handler, query, message):
    response = client_of(handler).get("/materials/?" + query)

    assert response.status_code == 422
    assert message in response.content.decode()


def test_a_scanned_lot_number_opens_the_lot_and_an_unknown_one_says_so(released, handler):
    client = client_of(handler)

    assert client.get(f"/materials/scan/?number=%20{released.number.lower()}%20").url == (
        f"/materials/lots/{released.number}/")
    missing = client.get("/materials/scan/?number=LOT-1999-0001")
    assert missing.status_code == 404
    assert "No lot LOT-1999-0001 is known to you." in missing.content.decode()


def _receipt(**changes) -> dict:
    return {"material": "TCM-SF", "supplier": "CELLMED", "supplier_lot": "TCM-2603-77", "quantity": "2.5",
            "unit": "L", "containers": "5", "location": "QUAR-01", "expiry_date": "2026-09-30", **changes}


def test_a_delivery_is_received_through_the_form_with_its_certificate(handler, medium, store, fake_clock):
    form = _receipt(certificate=builders.certificate("CoA-TCM-2603-77.pdf"))

    response = client_of(handler).post("/materials/receive/", form)

    lot = Lot.objects.get()
    assert response.status_code == 302 and response.url == f"/materials/lots/{lot.number}/"
    assert (lot.status, lot.quantity_received, lot.containers) == ("quarantine", 2500, 5)
    page = client_of(handler).get(response.url).content.decode()
    assert "2500 mL (entered as 2.5 L) in 5 containers" in page


@pytest.mark.parametrize(("changes", "status", "message"), [
    ({"quantity": "-1"}, 422, "The quantity must be more than zero."),
    ({"quantity": "two"}, 422, "&#x27;two&#x27; is not a number."),
    ({"unit": "furlong"}, 422, "furlong cannot be converted to mL."),
    ({"unit": "mL/min"}, 422, "mL/min cannot be converted to mL."),
    ({"unit": "kg"}, 422, "kg cannot be converted to mL."),
    ({"unit": "zorkmids"}, 422, "is not a unit of measure this system knows."),
    ({"expiry_date": "2026-03-01"}, 422, "The expiry date 2026-03-01 is before the receipt date 2026-03-02"),
    ({"expiry_date": "31/12/2026"}, 422, "Write the expiry date as YYYY-MM-DD."),
    ({"containers": "0"}, 422, "Containers: give a number from 1 to 500."),
    ({"supplier": "NOPE"}, 404, "There is no supplier &#x27;NOPE&#x27;."),
    ({"material": "NOPE"}, 404, "No material matches that reference."),
    ({"location": "NOPE"}, 404, "There is no inventory location &#x27;NOPE&#x27;."),
    ({"supplier_lot": "x" * 65}, 422, "Supplier lot: Ensure this value has at most 64 characters"),
    ({"supplier_lot": " "}, 422, "Give the supplier&#x27;s lot number."),
])
def test_the_receive_form_refuses_bad_input_with_a_message_and_writes_nothing(handler, medium, store, fake_clock,
                                                                              changes, status, message):
    before = written()

    response = client_of(handler).post("/materials/receive/", _receipt(**changes))

    assert response.status_code == status
    body = response.content.decode()
    assert 'role="alert"' in body and message in body
    assert written() == before


def test_the_same_supplier_lot_twice_is_a_conflict(handler, medium, store, fake_clock):
    client = client_of(handler)
    assert client.post("/materials/receive/", _receipt()).status_code == 302
    before = written()

    response = client.post("/materials/receive/", _receipt(quantity="1"))

    assert response.status_code == 409
    assert "was received already as LOT-2026-0001" in response.content.decode()
    assert written() == before


def _hold(lot, qa, _clock):
    return services.transition_lot(qa, lot, "hold", reason="under investigation")


def _reject(lot, qa, _clock):
    return services.transition_lot(qa, _hold(lot, qa, _clock), "reject", signature=signature(qa, "Rejected"),
                                   reason="confirmed")


def _expire(lot, qa, clock):
    clock.set(dt.datetime.combine(lot.expiry_date + dt.timedelta(days=1), dt.time(12), tzinfo=dt.UTC))
    return lot


@pytest.mark.parametrize(("make", "why"), [
    (None, "is in quarantine: QA has not released it"),
    (_hold, "is on hold"),
    (_reject, "was rejected by QA"),
    (_expire, "cannot be used: it expired on"),
], ids=["quarantined", "on-hold", "rejected", "expired"])
def test_the_issue_form_refuses_a_lot_that_may_not_be_used(quarantined, qa, operator, store, fake_clock, make, why):
    lot = quarantined if make is None else make(builders.release(qa, quarantined), qa, fake_clock)
    client = client_of(operator)
    assert why in client.get(f"/materials/lots/{lot.number}/issue/").content.decode()
    before = written()

    response = client.post(f"/materials/lots/{lot.number}/issue/", {
        "location": "QUAR-01", "quantity": "1", "unit": "L", "for_type": "external", "for_label": "B-2601"})

    assert response.status_code == 422
    assert why in response.content.decode()
    assert written() == before


@pytest.mark.parametrize("quantity", ["-1", "1e999", "lots", ""])
def test_the_issue_form_refuses_a_bad_quantity(released, operator, quantity):
    before = written()

    response = client_of(operator).post(f"/materials/lots/{released.number}/issue/", {
        "location": "WH-COLD", "quantity": quantity, "for_label": "B-2601"})

    assert response.status_code == 422
    assert written() == before


def test_an_unknown_movement_is_a_404(released, handler):
    assert client_of(handler).get(f"/materials/lots/{released.number}/teleport/").status_code == 404


def test_stock_moves_through_the_forms(released, operator, handler, store):
    operator_client, handler_client = client_of(operator), client_of(handler)
    lot_url = f"/materials/lots/{released.number}/"

    assert operator_client.post(lot_url + "issue/", {"location": "WH-COLD", "quantity": "1", "unit": "L",
                                                     "for_type": "external", "for_label": "B-2601"}).url == lot_url
    assert operator_client.post(lot_url + "return/", {"location": "WH-COLD", "quantity": "250",
                                                      "source": "external||B-2601"}).url == lot_url
    assert handler_client.post(lot_url + "transfer/", {"location": "WH-COLD", "to_location": "ULT-80-01",
                                                       "quantity": "100", "reason": "aliquots"}).url == lot_url
    assert handler_client.post(lot_url + "sample/", {"location": "ULT-80-01", "quantity": "10"}).url == lot_url
    assert handler_client.post(lot_url + "adjust/", {"location": "ULT-80-01", "quantity": "80",
                                                     "reason": "recount", "raise_deviation": "on"}).url == lot_url
    assert handler_client.post(lot_url + "destroy/", {"location": "ULT-80-01", "quantity": "80",
                                                      "reason": "thawed by mistake"}).url == lot_url
    page = handler_client.get(lot_url).content.decode()
    for kind in ("Issue", "Return", "Transfer out", "Transfer in", "Sample", "Adjust", "Destroy", "Receive"):
        assert f'<td class="nowrap">{kind}</td>' in page
    assert "Stock: 9150 mL" in page


def test_a_return_of_something_never_issued_is_refused(released, operator):
    response = client_of(operator).post(f"/materials/lots/{released.number}/return/", {
        "location": "WH-COLD", "quantity": "1", "source": "external||never issued"})

    assert response.status_code == 422
    assert "Choose the record the stock comes back from." in response.content.decode()


def test_qa_releases_a_lot_in_the_signature_dialog(quarantined, qa):
    client = client_of(qa)
    page = client.get(f"/materials/lots/{quarantined.number}/").content.decode()
    assert f"/records/materials.lot/{quarantined.number}/actions/release/" in page

    response = client.post(f"/records/materials.lot/{quarantined.number}/actions/release/",
                           {"username": "qa.patel", "password": PASSWORD, "comment": "CoA conforms"})

    assert response.status_code == 302
    quarantined.refresh_from_db()
    assert quarantined.status == "released"


def test_the_receiver_sees_no_release_button_and_qa_sees_why_release_is_blocked(handler, medium, qa, fake_clock):
    lot = builders.receive(handler, medium, with_certificate=False)

    handler_page = client_of(handler).get(f"/materials/lots/{lot.number}/").content.decode()
    qa_page = client_of(qa).get(f"/materials/lots/{lot.number}/").content.decode()

    assert "/actions/release/" not in handler_page
    assert "no supplier certificate of analysis attached" in qa_page
    assert "/actions/reject/" in qa_page


def test_the_trace_page_exports_csv_and_json_and_the_export_is_audited(released, operator, handler, qa, medium,
                                                                       store):
    intermediate = builders.material(qa, "MSC-INT", name="MSC intermediate", category="intermediate",
                                     suppliers=list(medium.approved_suppliers.all()))
    target = builders.release(qa, builders.receive(handler, intermediate))
    services.issue_lot(operator, released, location=store["cold"], quantity="100",
                       to=services.destination(operator, for_type="materials.lot", for_reference=target.number))
    client = client_of(qa)

    page = client.get(f"/materials/trace/?lot={released.number}").content.decode()
    as_json = client.get(f"/materials/trace/?lot={released.number}&format=json")
    as_csv = client.get(f"/materials/trace/?lot={released.number}&format=csv")

    assert f'<a href="/materials/lots/{target.number}/">{target.number}</a>' in page
    assert page.count("<svg") == 1  # the forward trace is drawn; a received lot has nothing backward to draw
    body = json.loads(as_json.content)
    assert body["lot"] == released.number
    assert [r["child_label"] for r in body["forward"]] == [target.number]
    assert [a["label"] for a in body["affected_records"]] == [target.number]
    assert as_csv.content.decode().splitlines()[1].startswith(f"forward,1,materials.lot:{released.pk},")
    assert AuditEvent.objects.filter(record_id=str(released.pk), action="export").count() == 2


def test_the_trace_page_for_an_unknown_lot_says_so(qa):
    response = client_of(qa).get("/materials/trace/?lot=LOT-1999-0001")

    assert response.status_code == 404
    assert "No lot LOT-1999-0001 is known to you." in response.content.decode()


def test_master_data_is_kept_through_the_pages(qa, store, sponsor_a):
    client = client_of(qa)
    assert client.post("/materials/suppliers/", {"action": "create", "code": "cytokine",
                                                 "name": "Cytokine Biologics"}).status_code == 302
    assert client.post("/materials/locations/", {"code": "frz-20-01", "name": "Freezer −20 °C",
                                                 "kind": "freezer"}).status_code == 302
    created = client.post("/materials/master/new/", {
        "code": "il2-rh", "name": "Recombinant human IL-2", "category": "critical_reagent", "storage": "frozen",
        "unit": "IU", "shelf_life_after_opening_days": "28", "suppliers": ["CYTOKINE"], "sponsor": ""})
    assert created.status_code == 302 and created.url == "/materials/master/IL2-RH/"
    material = Material.objects.get(code="IL2-RH")
    assert (material.unit, material.sponsor, [s.code for s in material.approved_suppliers.all()]) == (
        "IU", None, ["CYTOKINE"])

    refused = client.post("/materials/suppliers/", {"action": "disqualify", "supplier": "CYTOKINE", "reason": ""})
    assert refused.status_code == 422 and Supplier.objects.get(code="CYTOKINE").is_approved
    again = client.post("/materials/master/new/", {"code": "IL2-RH", "name": "again", "category": "reagent",
                                                   "storage": "frozen", "unit": "IU"})
    assert again.status_code == 409
    edit = client.post("/materials/master/IL2-RH/", {"action": "edit", "name": "rhIL-2", "category": "reagent",
                                                     "storage": "frozen", "unit": "IU", "is_active": "on",
                                                     "reason": ""})
    assert edit.status_code == 422 and "reason" in edit.content.decode()


def test_my_tasks_shows_qa_the_lots_awaiting_disposition(quarantined, qa):
    page = client_of(qa).get("/").content.decode()

    assert "Release or reject" in page and quarantined.number in page


def test_the_navigation_has_inventory_for_whoever_may_see_it(make_user, sponsor_a):
    assert ">Inventory</a>" in client_of(make_user("op", OPERATOR, sponsors=[sponsor_a])).get("/").content.decode()
    assert ">Inventory</a>" not in client_of(make_user("nobody", sponsors=[sponsor_a])).get("/").content.decode()
