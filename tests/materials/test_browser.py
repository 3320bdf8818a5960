"""In a real browser (Debian's Chromium through Playwright): a material handler receives a delivery
with its certificate, QA releases the lot in the signature dialog, and the inventory shows it released.

The browser runs in a thread of its own: tests/browser keeps a session-wide Playwright in the main
thread, and the synchronous Playwright API allows one per thread.
"""

import os
import re
import threading

import pytest
from django.db import connection

from opencdmo.core.models import Signature
from opencdmo.materials.models import Lot
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, sign_in

from . import builders

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser"), pytest.mark.django_db(transaction=True)]


@pytest.fixture
def in_browser(live_server):
    """Run `scenario(page)` against the live server in Chromium, in a thread of its own."""
    sync_api = pytest.importorskip("playwright.sync_api")
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"Debian's Chromium is not installed at {CHROMIUM}")

    def run(scenario):
        failure = []

        def target():
            try:
                with sync_api.sync_playwright() as playwright:
                    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                    context = browser.new_context(base_url=live_server.url, locale="en-GB")
                    context.set_default_timeout(10_000)
                    try:
                        scenario(context.new_page())
                    finally:
                        context.close()
                        browser.close()
            except BaseException as exc:  # handed to the test's thread
                failure.append(exc)
            finally:
                connection.close()

        thread = threading.Thread(target=target)
        thread.start()
        thread.join(timeout=120)
        assert not thread.is_alive(), "the browser scenario did not finish"
        if failure:
            raise failure[0]

    return run


def sign_out(page):
    page.get_by_role("button", name="Sign out").click()


@pytest.mark.req("P11-3")
def test_a_delivery_is_received_released_with_a_signature_and_shown_in_the_inventory(in_browser, handler, qa,
                                                                                    medium, store, tmp_path):
    in_browser(lambda page: _receive_release_and_find(page, tmp_path))


def _receive_release_and_find(page, tmp_path):
    from playwright.sync_api import expect  # noqa: PLC0415

    coa = tmp_path / "CoA-TCM-2611-07.pdf"
    coa.write_bytes(b"%PDF-1.4 certificate of analysis TCM-2611-07")

    sign_in(page, "mh.mueller")
    page.get_by_role("link", name="Inventory").click()
    page.get_by_role("link", name="Receive a delivery").click()
    form = page.locator("main form.card")
    form.locator("select[name=material]").select_option("TCM-SF")
    form.locator("select[name=supplier]").select_option("CELLMED")
    page.get_by_label("Supplier's lot number").fill("TCM-2611-07")
    page.get_by_label("Quantity").fill("2.5")
    page.get_by_label("Unit").fill("L")
    page.get_by_label("Containers").fill("5")
    page.get_by_label("Expiry date").fill("2099-06-30")
    page.get_by_label("Supplier certificate of analysis").set_input_files(str(coa))
    page.get_by_role("button", name="Receive into quarantine").click()

    page.wait_for_url(re.compile(r"/materials/lots/LOT-\d{4}-0001/$"))
    number = Lot.objects.get().number
    expect(page.locator(".record-header")).to_contain_text("Quarantine")
    expect(page.locator("#tab-details")).to_contain_text("2500 mL (entered as 2.5 L) in 5 containers")
    expect(page.get_by_role("button", name="Release")).to_have_count(0)  # the receiver does not release
    sign_out(page)

    sign_in(page, "qa.patel")
    expect(page.get_by_role("link", name="Release or reject")).to_be_visible()  # QA's task list
    page.get_by_role("link", name="Release or reject").click()
    page.get_by_role("button", name="Release").click()
    dialog = page.locator("dialog#dialog")
    expect(dialog).to_contain_text(f"You are signing {number} with the meaning QA Released")
    dialog.get_by_label("User ID").fill("qa.patel")
    dialog.get_by_label("Password").fill(builders.PASSWORD)
    dialog.get_by_role("button", name="Sign: QA Released").click()
    page.wait_for_url(f"**/materials/lots/{number}/")
    expect(page.locator(".record-header")).to_contain_text("Released")
    row = page.locator("#tab-details table.signatures tbody tr", has_text="QA Released")
    expect(row.locator(".manifest-name")).to_have_text("Qa Patel")

    page.get_by_role("link", name="Inventory").click()
    page.locator("form.filters select[name=status]").select_option("released")
    lot_row = page.locator("#lots tbody tr", has_text=number)
    expect(lot_row).to_contain_text("Released")
    expect(lot_row).to_contain_text("2500 mL")
    assert Signature.objects.get(meaning="QA Released").record_label == number

    # The scan field: a barcode scanner types the number and Enter.
    page.get_by_label("Scan or type a lot number").fill(number.lower())
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/materials/lots/{number}/")
