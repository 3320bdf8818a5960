"""Cryostorage in a real browser: the operator's scan screen driven the way a keyboard-wedge
scanner drives it (it types each code and presses Enter)."""

import pytest
from django.urls import reverse

from opencdmo.core.domain.roles import Role
from opencdmo.identity.models import Placement
from tests.identity import builders
from tests.web.conftest import records_a  # noqa: F401

from .conftest import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser"), pytest.mark.django_db(transaction=True)]

BOX = "LN2-01-R1-B01"


def test_a_scanner_typing_codes_and_enter_fills_the_fields_in_turn_and_submits(page, make_user, records_a):  # noqa: F811
    stored = builders.stored_unit_for_sponsor(None, records_a.sponsor, "stored before")
    unit = builders.unit_for_sponsor(None, records_a.sponsor, "scanned in")
    make_user("op.wedge", Role.OPERATOR, sponsors=[records_a.sponsor])
    sign_in(page, "op.wedge")
    page.goto(reverse("identity:storage_scan"))
    page.keyboard.type(unit)
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.name") == "position"  # the first Enter moves on
    page.keyboard.type(f"{BOX.lower()}/e5")
    with page.expect_navigation():
        page.keyboard.press("Enter")  # the second submits
    assert page.get_by_role("status").inner_text() == f"{unit} is in {BOX}/E5."
    assert Placement.objects.get(removed_at__isnull=True, unit__number=unit).position == "E5"
    # Retrieving needs no position: the unit's Enter goes to the reason, the next submits.
    page.get_by_text("Retrieve", exact=True).click()
    assert page.locator("input[name=position]").is_hidden()
    page.locator("input[name=unit]").focus()
    page.keyboard.type(stored)
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.name") == "reason"
    page.keyboard.type("Thaw for manufacture")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert "taken out of" in page.get_by_role("status").inner_text()
    assert not Placement.objects.filter(removed_at__isnull=True, unit__number=stored).exists()
