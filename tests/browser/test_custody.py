"""At goods receipt, as a material handler would: choose the inbound shipment, receive its shipper
(label scanned, temperature logger read), scan each bag with the scanner (keyboard wedge: the
label's Data Matrix text typed, then Enter), have the second person sign on the same screen and see
"Verified"; a bag of another patient is refused beside the scan field with its deviation, and
nothing of it is received (ISBT-6)."""

import re

import pytest

from opencdmo.identity.models import CustodyEvent, Unit
from opencdmo.quality.models import Deviation
from tests.conftest import PASSWORD
from tests.identity import builders

from .conftest import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser"), pytest.mark.django_db(transaction=True)]

TABLET = {"width": 1024, "height": 768}


def _expect():
    from playwright.sync_api import expect  # noqa: PLC0415

    return expect


def _scan(page, code: str) -> None:
    """A keyboard-wedge scanner: the scan field has the focus, the code arrives as keystrokes, then Enter."""
    field = page.get_by_label("Scan the bag")
    _expect()(field).to_be_focused()
    page.keyboard.type(code)
    page.keyboard.press("Enter")


@pytest.mark.req("ISBT-6")
def test_a_material_handler_receives_the_right_bag_and_a_bag_of_another_patient_is_refused(
        browser, live_server, sponsor_a):
    expect = _expect()
    ours = builders.order(builders.planner(sponsor_a), builders.patient(builders.planner(sponsor_a), sponsor_a))
    theirs = builders.order(builders.planner(sponsor_a), builders.patient(builders.planner(sponsor_a), sponsor_a))
    builders.labelled(ours.product)
    shipment = builders.inbound_shipment(ours, bags=2, received=False)
    first, second_bag = shipment.units.order_by("id")
    stranger = builders.inbound_shipment(theirs).units.get()
    handler, second = builders.handler(sponsor_a), builders.second(sponsor_a)

    context = browser.new_context(base_url=live_server.url, locale="en-GB", viewport=TABLET, has_touch=True)
    context.set_default_timeout(10_000)
    page = context.new_page()
    try:
        sign_in(page, handler.username)
        page.goto("/identity/receive/")
        page.get_by_role("link", name=re.compile(shipment.number)).click()
        expect(page.locator(".expected-bar")).to_contain_text(ours.patient.number)

        # First the shipper: its label scanned, the temperature logger read, accepted.
        expect(page.get_by_label("Scan the shipper label")).to_be_focused()
        page.keyboard.type(builders.shipper_scan(ours))
        page.get_by_label("Lowest temperature (°C)").fill("-181.5")
        page.get_by_label("Highest temperature (°C)").fill("-163.0")
        page.get_by_label("Accept", exact=True).check()
        page.get_by_role("button", name="Receive shipper").click()

        # The right bag: matched, then the second person signs on this screen and it is verified.
        _scan(page, builders.datamatrix(first))
        expect(page.locator(".bag-matched")).to_contain_text(f"{first.number} matches")
        expect(page.get_by_label("Second person: user ID")).to_be_focused()
        page.get_by_label("Second person: user ID").fill(second.username)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Verify receipt").click()
        expect(page.locator(".verified-message")).to_contain_text(f"Verified — {first.number}")
        expect(page.locator(".verified-message")).to_be_in_viewport()

        # Another patient's bag: refused beside the scan field, with the deviation it raised.
        _scan(page, builders.datamatrix(stranger))
        refusal = page.locator("#refusal")
        expect(refusal).to_contain_text("Refused")
        expect(refusal).to_contain_text("another patient")
        expect(refusal).to_be_in_viewport()
        deviation = Deviation.objects.get(category="chain_of_identity")
        expect(refusal.locator(".deviation-number")).to_have_text(deviation.number)
        expect(page.get_by_label("Scan the bag")).to_be_focused()  # ready for the right bag
        box = page.get_by_label("Scan the bag").bounding_box()
        assert box["height"] >= 48  # a gloved finger's target
    finally:
        context.close()

    shipment.refresh_from_db()
    assert shipment.status == "received" and shipment.accepted and str(shipment.logger_min_c) == "-181.5"
    receipt = CustodyEvent.objects.get(unit=first, kind="receipt", result="verified")
    assert receipt.by == handler and receipt.verified_by == second
    # Nothing was verified for the wrong bag: the refusal is kept against the shipment (not pinned on
    # the bag awaited), with its deviation.
    assert not CustodyEvent.objects.filter(unit=stranger, result="verified", kind="receipt").exists()
    refused = CustodyEvent.objects.get(result="refused")
    assert (refused.unit, refused.shipment, refused.deviation, refused.verified_by) == (None, shipment, deviation,
                                                                                        None)
    assert Unit.objects.get(pk=stranger.pk).status == "in_transit"
    assert Unit.objects.get(pk=second_bag.pk).status == "in_transit"
