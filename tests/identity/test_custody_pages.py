"""Pages of collections, handoffs and shipments of patient material: the shared view tests for each
route (P11-1d), what the pages show (DINs eye-readable with their check character boxed, refused
handoffs in red with their deviation), the receipt screen refusing a bag of another patient beside
the scan field (ISBT-6), and sponsor segregation (another sponsor's user gets 404)."""

import re

import pytest
from django.test import Client
from django.urls import reverse
from django.utils.html import escape

from opencdmo.core.domain.roles import Role
from opencdmo.identity import services
from opencdmo.identity.domain import isbt128
from opencdmo.identity.models import Collection, CustodyEvent, Shipment, TherapyOrder, Unit
from opencdmo.quality.models import Deviation
from tests.conftest import PASSWORD
from tests.web.conftest import records_a, signed_in  # noqa: F401
from tests.web.viewtests import PermissionPageTest

from . import builders

pytestmark = pytest.mark.req("P11-1d")


@pytest.fixture(autouse=True)
def _site_clock(fake_clock):
    """Collections are booked for today or later: the builders' dates follow the test clock."""
    return fake_clock


def _new_order(sponsor) -> TherapyOrder:
    return TherapyOrder.objects.get(number=builders.order_for_sponsor(None, sponsor, "custody pages"))


def _cached(records, name: str, build):
    """One record per test world, built the first time a test asks for it."""
    if getattr(records, name, None) is None:
        setattr(records, name, build(records))
    return getattr(records, name)


def _collection(records) -> str:
    return _cached(records, "booked_collection", lambda r: builders.booked(_new_order(r.sponsor)).number)


def _unit(records) -> str:
    return _cached(records, "received_unit", lambda r: builders.received(_new_order(r.sponsor))[0].number)


def _order_with_units(records) -> str:
    return Unit.objects.get(number=_unit(records)).order.number


def _shipment(records) -> str:
    return _cached(records, "packed_shipment", lambda r: builders.shipment_for_sponsor(None, r.sponsor, "pages"))


def _shipment_in_transit(records) -> str:
    return _cached(records, "shipment_in_transit", lambda r: builders.inbound_shipment(_new_order(r.sponsor), received=False).number)


# --- The shared view tests, one class per route -------------------------------------------------

class _Page(PermissionPageTest):
    roles = (Role.OPERATOR,)
    refused_roles = ()
    args = staticmethod(lambda records: ())

    def url(self, world):
        return reverse(self.route, args=self.args(world))


class TestCollectionForm(_Page):
    route = "identity:collection_new"
    roles = (Role.PLANNER,)
    refused_roles = (Role.OPERATOR,)
    args = staticmethod(lambda records: (_order_with_units(records),))


class TestBookingCollection(TestCollectionForm):
    method = "POST"
    status = 302

    def data(self, world, user):
        return {"planned_on": "2026-03-09"}


class TestCollectionPage(_Page):
    route = "identity:collection"
    args = staticmethod(lambda records: (_collection(records),))


class TestRecordingCollection(TestCollectionPage):
    method = "POST"
    status = 302
    roles = (Role.PLANNER,)
    refused_roles = (Role.OPERATOR,)

    def data(self, world, user):
        return {"bags": "2"}


class TestUnitPage(_Page):
    route = "identity:unit"
    args = staticmethod(lambda records: (_unit(records),))


class TestHandoff(_Page):
    route = "identity:handoff"
    method = "POST"
    status = 302
    roles = (Role.MATERIAL_HANDLER,)
    refused_roles = (Role.PLANNER,)
    args = staticmethod(lambda records: (_unit(records),))

    def data(self, world, user):
        return {"kind": "issue_to_manufacturing", "scanned": builders.datamatrix(Unit.objects.get(number=_unit(world))),
                "to_party": "Suite B-1"}


class TestReceiveScreen(_Page):
    route = "identity:receive"
    roles = (Role.MATERIAL_HANDLER,)
    refused_roles = (Role.PLANNER,)


class TestReceiveScreenScan(TestReceiveScreen):
    """A bag scanned at the receipt screen: it is the one awaited, the second person is asked for."""

    method = "POST"

    def data(self, world, user):
        shipment = _cached(world, "shipper_received", lambda r: builders.inbound_shipment(_new_order(r.sponsor)))
        return {"shipment": shipment.number, "step": "scan", "scanned": builders.datamatrix(shipment.units.get())}


class TestFinalProductForm(_Page):
    route = "identity:final_product_new"
    roles = (Role.MATERIAL_HANDLER,)
    refused_roles = (Role.PLANNER,)
    args = staticmethod(lambda records: (_order_with_units(records),))


class TestShipmentList(_Page):
    route = "identity:shipments"


class TestShipmentPage(_Page):
    route = "identity:shipment"
    args = staticmethod(lambda records: (_shipment(records),))


class TestShipmentForm(_Page):
    route = "identity:shipment_new"
    roles = (Role.MATERIAL_HANDLER,)
    refused_roles = (Role.OPERATOR,)
    args = staticmethod(lambda records: (_order_with_units(records),))


class TestDispatch(_Page):
    """An inbound shipper's courier pickup is booked by the case manager (identity.collect)."""

    route = "identity:shipment_dispatch"
    method = "POST"
    status = 302
    roles = (Role.PLANNER,)
    refused_roles = (Role.OPERATOR,)
    args = staticmethod(lambda records: (_shipment(records),))

    def data(self, world, user):
        return {"scanned": builders.shipper_scan(Shipment.objects.get(number=_shipment(world)).order)}


class TestShipperReceipt(_Page):
    route = "identity:shipment_receive"
    method = "POST"
    status = 302
    roles = (Role.MATERIAL_HANDLER,)
    refused_roles = (Role.PLANNER,)
    args = staticmethod(lambda records: (_shipment_in_transit(records),))

    def data(self, world, user):
        order = Shipment.objects.get(number=_shipment_in_transit(world)).order
        return {"scanned": builders.shipper_scan(order), "logger_min_c": "-180.5", "logger_max_c": "-165",
                "minutes_out_of_range": "0", "accepted": "yes"}


class TestShipmentCancel(_Page):
    route = "identity:shipment_cancel"
    method = "POST"
    status = 302
    roles = (Role.PLANNER,)
    refused_roles = (Role.OPERATOR,)
    args = staticmethod(lambda records: (_shipment(records),))

    def data(self, world, user):
        return {"reason": "Courier pickup moved to tomorrow."}


class TestUnitDecision(_Page):
    route = "identity:unit_decision"
    method = "POST"
    status = 302
    roles = (Role.QA_SPECIALIST,)
    refused_roles = (Role.MATERIAL_HANDLER,)
    args = staticmethod(lambda records: (_cached(records, "held_unit", lambda r: builders.held_unit_for_sponsor(
        None, r.sponsor, "pages")),))

    def data(self, world, user):
        return {"decision": "destroy", "reason": "Thawed in transit.", "username": user.username,
                "password": PASSWORD}


# --- What the pages do ---------------------------------------------------------------------------

@pytest.fixture
def order_a(sponsor_a):
    return _new_order(sponsor_a)


def _text(response) -> str:
    return re.sub(r"\s+", " ", response.content.decode())


@pytest.mark.req("ISBT-3")
@pytest.mark.req("ISBT-4")
def test_a_collection_is_booked_and_recorded_through_its_pages_with_the_din_eye_readable(order_a, sponsor_a):
    builders.labelled(order_a.product)
    client = signed_in(builders.planner(sponsor_a))
    response = client.post(reverse("identity:collection_new", args=[order_a.number]), {"planned_on": "2026-03-04"})
    collection = Collection.objects.get(order=order_a)
    assert response.status_code == 302 and response["Location"] == reverse("identity:collection",
                                                                           args=[collection.number])
    din = isbt128.Din.from_content(collection.din + "00")
    page = _text(client.get(response["Location"]))
    # The DIN as its label prints it, its check character boxed apart.
    assert f'{din.eye_readable()} <span class="coi-check" title="check character"' in page
    assert f">{din.check_character}</span>" in page
    response = client.post(reverse("identity:collection", args=[collection.number]), {"bags": "2"})
    assert response.status_code == 302
    assert list(order_a.units.values_list("status", flat=True)) == ["collected", "collected"]
    page = _text(client.get(reverse("identity:order", args=[order_a.number])))
    assert collection.number in page and "Collected" in page
    assert page.count('href="/identity/units/UN-') >= 2


def test_a_booking_without_a_date_is_refused_with_the_services_message(order_a, sponsor_a):
    builders.labelled(order_a.product)
    response = signed_in(builders.planner(sponsor_a)).post(
        reverse("identity:collection_new", args=[order_a.number]), {"planned_on": ""})
    assert response.status_code == 422
    assert "Give the planned collection date" in response.content.decode()
    assert not Collection.objects.filter(order=order_a).exists()


def test_a_typo_in_the_number_of_bags_is_refused_not_an_error(order_a, sponsor_a):
    collection = builders.booked(order_a)
    response = signed_in(builders.planner(sponsor_a)).post(
        reverse("identity:collection", args=[collection.number]), {"bags": "two"})
    assert response.status_code == 422
    assert "whole number" in response.content.decode()
    assert not order_a.units.exists()


@pytest.mark.req("ISBT-6")
def test_a_refused_handoff_shows_the_refusal_and_its_deviation_beside_the_scan_field(order_a, sponsor_a):
    unit = builders.received(order_a)[0]
    other = builders.received(_new_order(sponsor_a))[0]
    response = signed_in(builders.handler(sponsor_a)).post(
        reverse("identity:handoff", args=[unit.number]),
        {"kind": "issue_to_manufacturing", "scanned": builders.datamatrix(other), "to_party": "Suite B-1"})
    assert response.status_code == 422
    refused = CustodyEvent.objects.get(unit=unit, result="refused")
    page = _text(response)
    form = page[page.index('id="handoff"'):page.index("</form>", page.index('id="handoff"'))]
    # The message and the deviation sit in the handoff form, just before the scan field.
    assert form.index('role="alert"') < form.index('name="scanned"')
    assert "another patient" in form and refused.deviation.number in form
    assert escape(refused.problem) in page  # the events list below shows the refused scan
    unit.refresh_from_db()
    assert unit.status == "received"  # not handed on


def test_the_order_page_lists_a_refused_handoff_in_red_with_its_deviation(order_a, sponsor_a):
    refused = builders.refused_scan(builders.handler(sponsor_a), order_a)
    page = _text(signed_in(builders.planner(sponsor_a)).get(reverse("identity:order", args=[order_a.number])))
    row = page[page.index('<tr class="refused">'):]
    row = row[:row.index("</tr>")]
    assert "Refused" in row and f'href="/quality/deviations/{refused.deviation.number}/"' in row


def test_a_critical_handoff_without_the_second_person_is_refused_and_nothing_moves(sponsor_a, order_a):
    unit = builders.filled(order_a)[0]
    response = signed_in(builders.handler(sponsor_a)).post(
        reverse("identity:handoff", args=[unit.number]), {"kind": "final_labeling", "scanned": builders.datamatrix(unit)})
    assert response.status_code == 422
    assert "second person" in response.content.decode()
    unit.refresh_from_db()
    assert unit.status == "filled" and not CustodyEvent.objects.filter(unit=unit, kind="final_labeling").exists()


def test_the_unit_page_offers_only_the_handoffs_that_take_the_unit_where_it_is(order_a, sponsor_a):
    unit = builders.received(order_a)[0]
    page = _text(signed_in(builders.handler(sponsor_a)).get(reverse("identity:unit", args=[unit.number])))
    offered = re.findall(r'<option value="([a-z_]+)" data-critical', page)
    assert offered == ["issue_to_manufacturing", "qc_sampling"]


# --- The receipt screen ----------------------------------------------------------------------

def _receive(client, shipment, **fields):
    return client.post(reverse("identity:receive"), {"shipment": shipment.number, **fields})


@pytest.mark.req("ISBT-6")
def test_the_right_bag_is_received_once_the_second_person_signs_on_the_receipt_screen(order_a, sponsor_a):
    shipment = builders.inbound_shipment(order_a)
    bag = shipment.units.get()
    client = signed_in(builders.handler(sponsor_a))
    assert shipment.number in _text(client.get(reverse("identity:receive")))  # awaited: offered to choose
    scanned = _receive(client, shipment, step="scan", scanned=builders.datamatrix(bag))
    assert scanned.status_code == 200
    page = _text(scanned)
    assert f"{bag.number} matches" in page and 'name="username"' in page
    assert not CustodyEvent.objects.filter(unit=bag, kind="receipt").exists()  # nothing until the second person
    second = builders.second(sponsor_a)
    done = _receive(client, shipment, step="verify", unit=bag.number, scanned=builders.datamatrix(bag),
                    username=second.username, password=PASSWORD)
    assert done.status_code == 302
    page = _text(client.get(done["Location"]))
    assert "Verified</strong> — " + bag.number in page
    assert f"Every bag is received</strong> from {shipment.number}" in page  # the last one awaited
    event = CustodyEvent.objects.get(unit=bag, kind="receipt")
    assert event.result == "verified" and event.verified_by == second
    bag.refresh_from_db()
    assert bag.status == "received"


@pytest.mark.req("ISBT-6")
def test_a_bag_of_another_patient_is_refused_on_the_receipt_screen_and_nothing_is_received(order_a, sponsor_a):
    shipment = builders.inbound_shipment(order_a)
    awaited = shipment.units.get()
    stranger = builders.inbound_shipment(_new_order(sponsor_a)).units.get()
    response = _receive(signed_in(builders.handler(sponsor_a)), shipment, step="scan", scanned=builders.datamatrix(stranger))
    assert response.status_code == 422
    deviation = Deviation.objects.get(category="chain_of_identity")
    page = _text(response)
    alert = page[page.index('role="alert"'):]
    assert alert.index(deviation.number) < alert.index('name="scanned"')  # in view, above the scan field
    assert "another patient" in alert and "Verified</strong>" not in page
    refused = CustodyEvent.objects.get(result="refused")  # the shipment's, never pinned on the awaited bag
    assert (refused.unit, refused.shipment, refused.scanned) == (None, shipment, builders.datamatrix(stranger))
    assert not CustodyEvent.objects.filter(kind="receipt", result="verified").exists()
    assert set(Unit.objects.filter(pk__in=[awaited.pk, stranger.pk]).values_list("status", flat=True)) == {"in_transit"}


def test_a_wrong_password_of_the_second_person_keeps_the_bag_on_screen_to_sign_again(order_a, sponsor_a):
    shipment = builders.inbound_shipment(order_a)
    bag = shipment.units.get()
    response = _receive(signed_in(builders.handler(sponsor_a)), shipment, step="verify", unit=bag.number,
                        scanned=builders.datamatrix(bag), username=builders.second(sponsor_a).username, password="wrong")
    assert response.status_code in (403, 422)
    page = _text(response)
    assert f"{bag.number} matches" in page and 'role="alert"' in page
    bag.refresh_from_db()
    assert bag.status == "in_transit" and not CustodyEvent.objects.filter(unit=bag, kind="receipt").exists()


def test_the_shipper_is_received_on_the_receipt_screen_before_its_bags(order_a, sponsor_a):
    shipment = builders.inbound_shipment(order_a, received=False)
    client = signed_in(builders.handler(sponsor_a))
    page = _text(client.get(reverse("identity:receive") + f"?shipment={shipment.number}"))
    assert "First the shipper" in page and 'value="scan"' not in page
    response = _receive(client, shipment, step="shipper", scanned=builders.shipper_scan(order_a),
                        logger_min_c="−181.5", logger_max_c="-162", minutes_out_of_range="0", accepted="yes")
    assert response.status_code == 302
    shipment.refresh_from_db()
    assert shipment.status == "received" and shipment.logger_min_c == -181.5
    page = _text(client.get(response["Location"]))
    assert "First the shipper" not in page and "Scan the bag" in page


def test_a_logger_reading_that_is_no_number_is_refused_with_what_to_do(order_a, sponsor_a):
    shipment = builders.inbound_shipment(order_a, received=False)
    response = signed_in(builders.handler(sponsor_a)).post(
        reverse("identity:shipment_receive", args=[shipment.number]),
        {"scanned": builders.shipper_scan(order_a), "logger_min_c": "cold", "logger_max_c": "-160",
         "minutes_out_of_range": "0", "accepted": "yes"})
    assert response.status_code == 422
    assert "as a number" in response.content.decode()
    shipment.refresh_from_db()
    assert shipment.status == "in_transit"


def test_a_shipment_is_created_from_the_order_page_with_the_chosen_bags(order_a, sponsor_a):
    bags = builders.collected(order_a, bags=2)
    response = signed_in(builders.planner(sponsor_a)).post(
        reverse("identity:shipment_new", args=[order_a.number]),
        {"direction": "inbound", "units": [bags[0].number], "courier": "World Courier",
         "origin": "UKL", "destination": "CDMO"})
    assert response.status_code == 302
    shipment = Shipment.objects.get(order=order_a)
    assert list(shipment.units.all()) == [bags[0]]


# --- Sponsor segregation -----------------------------------------------------------------------

@pytest.mark.req("P11-1g")
def test_another_sponsors_user_gets_404_on_every_custody_page(make_user, sponsor_a, sponsor_b, order_a):
    shipment = builders.inbound_shipment(order_a)
    unit = shipment.units.get()
    collection = unit.collection
    outsider = signed_in(make_user("beta.handler", Role.MATERIAL_HANDLER, Role.PLANNER, sponsors=[sponsor_b]))
    for url in (reverse("identity:collection", args=[collection.number]),
                reverse("identity:unit", args=[unit.number]),
                reverse("identity:shipment", args=[shipment.number]),
                reverse("identity:receive") + f"?shipment={shipment.number}",
                reverse("identity:collection_new", args=[order_a.number]),
                reverse("identity:final_product_new", args=[order_a.number]),
                reverse("identity:shipment_new", args=[order_a.number])):
        assert outsider.get(url).status_code == 404, url
    for url, data in ((reverse("identity:handoff", args=[unit.number]), {"kind": "receipt"}),
                      (reverse("identity:shipment_receive", args=[shipment.number]), {}),
                      (reverse("identity:shipment_dispatch", args=[shipment.number]), {}),
                      (reverse("identity:receive"), {"shipment": shipment.number, "scanned": builders.datamatrix(unit)})):
        assert outsider.post(url, data).status_code == 404, url
    listing = _text(outsider.get(reverse("identity:shipments")))
    assert shipment.number not in listing
    assert shipment.number not in _text(outsider.get(reverse("identity:receive")))
    # Nor can the outsider's scan of the bag find it.
    assert not CustodyEvent.objects.filter(by__username="beta.handler").exists()


def test_anonymous_visitors_are_sent_to_sign_in_from_the_receipt_screen(db):
    response = Client().get(reverse("identity:receive"))
    assert response.status_code == 302 and response["Location"].startswith(reverse("core:login"))


@pytest.mark.req("ISBT-6")
def test_a_bag_of_another_patient_is_refused_even_when_every_bag_awaited_is_received(order_a, sponsor_a):
    shipment = builders.inbound_shipment(order_a)
    bag = shipment.units.get()
    services.hand_over(builders.handler(sponsor_a), bag, "receipt", scanned=builders.datamatrix(bag),
                       **builders.verified(builders.second(sponsor_a)))
    stranger = builders.inbound_shipment(_new_order(sponsor_a)).units.get()
    client = signed_in(builders.handler(sponsor_a))
    response = _receive(client, shipment, step="scan", scanned=builders.datamatrix(stranger))
    assert response.status_code == 422
    refused = CustodyEvent.objects.get(result="refused")
    assert refused.shipment == shipment and refused.deviation.number in response.content.decode()
    again = _receive(client, shipment, step="scan", scanned=builders.datamatrix(bag))
    assert again.status_code == 422 and "not awaited any more" in again.content.decode()


def test_the_case_manager_records_the_courier_pickup_on_the_unit_page(order_a, sponsor_a):
    bag = builders.collected(order_a)[0]
    client = signed_in(builders.planner(sponsor_a))
    page = _text(client.get(reverse("identity:unit", args=[bag.number])))
    assert re.findall(r'<option value="([a-z_]+)" data-critical', page) == ["courier_pickup"]
    response = client.post(reverse("identity:handoff", args=[bag.number]),
                           {"kind": "courier_pickup", "scanned": builders.datamatrix(bag), "to_party": "World Courier"})
    assert response.status_code == 302
    bag.refresh_from_db()
    assert bag.status == "in_transit" and bag.holder == "World Courier"


def test_a_bag_picked_up_without_a_shipper_is_received_by_its_order(order_a, sponsor_a):
    bag = builders.collected(order_a)[0]
    services.hand_over(builders.planner(sponsor_a), bag, "courier_pickup", scanned=builders.datamatrix(bag),
                       to_party="Hospital driver")
    client = signed_in(builders.handler(sponsor_a))
    page = _text(client.get(reverse("identity:order", args=[order_a.number])))
    assert f'href="/identity/receive/?order={order_a.number}"' in page
    fields = {"order": order_a.number, "scanned": builders.datamatrix(bag)}
    assert f"{bag.number} matches" in _text(client.post(reverse("identity:receive"), {**fields, "step": "scan"}))
    second = builders.second(sponsor_a)
    done = client.post(reverse("identity:receive"), {**fields, "step": "verify", "unit": bag.number,
                                                     "username": second.username, "password": PASSWORD})
    assert done.status_code == 302 and f"order={order_a.number}" in done["Location"]
    bag.refresh_from_db()
    assert bag.status == "received"
    assert CustodyEvent.objects.get(unit=bag, kind="receipt").verified_by == second


def test_the_handler_opens_the_shipment_by_scanning_its_shipper_label(order_a, sponsor_a):
    shipment = builders.inbound_shipment(order_a, received=False)
    client = signed_in(builders.handler(sponsor_a))

    opened = client.get(reverse("identity:receive"), {"shipment": builders.shipper_scan(order_a)})

    assert opened.status_code == 200 and shipment.number in opened.content.decode()
    assert "First the shipper" in opened.content.decode()
    nothing = client.get(reverse("identity:receive"), {"shipment": "&/CHA999926999999"})
    assert nothing.status_code == 404 and "No inbound shipper of CH A9999 26 999999 is on its way" in \
        nothing.content.decode()
    unreadable = client.get(reverse("identity:receive"), {"shipment": "no such label"})
    assert unreadable.status_code == 422 and "scan the shipper label" in unreadable.content.decode()


def test_qa_decides_on_a_held_unit_on_its_page_and_a_wrong_password_is_said_there(sponsor_a):
    unit, qa = builders.held(_new_order(sponsor_a)), builders.qa(sponsor_a)
    client = signed_in(qa)
    page = client.get(reverse("identity:unit", args=[unit.number])).content.decode()
    assert "Decide on the held unit" in page and "Held: shipment rejected at receipt" in page
    refused = client.post(reverse("identity:unit_decision", args=[unit.number]), {
        "decision": "accept", "reason": "Viability within spec.", "username": qa.username, "password": "wrong"})
    assert refused.status_code == 403 and "Signature refused" in refused.content.decode()
    assert Unit.objects.get(pk=unit.pk).status == "rejected"
    done = client.post(reverse("identity:unit_decision", args=[unit.number]), {
        "decision": "accept", "reason": "Viability within spec.", "username": qa.username, "password": PASSWORD})
    assert done.status_code == 302 and Unit.objects.get(pk=unit.pk).status == "in_transit"
    assert "Decide on the held unit" not in signed_in(builders.handler(sponsor_a)).get(
        reverse("identity:unit", args=[unit.number])).content.decode()
