"""In a real browser: the signature dialog (P11-6: user ID and password at the first signing of a
session, the password alone afterwards), the manifestation it leaves (P11-3), and the lockout
message a user needs (P11-7)."""

import re

import pytest
from django.conf import settings

from opencdmo.core.models import Signature
from tests import factories
from tests.conftest import PASSWORD

from .conftest import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser"), pytest.mark.django_db(transaction=True)]

LOCAL_TIME = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \S+ \(UTC[+-]\d\d:\d\d\)")


def _approve_in_dialog(page, number: str, *, user_id: str | None):
    from playwright.sync_api import expect  # noqa: PLC0415

    page.goto(f"/sponsors/quality-agreements/{number}/")
    page.get_by_role("button", name="Approve", exact=True).click()
    dialog = page.locator("dialog#dialog")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text(f"You are signing {number} with the meaning Approved")
    if user_id is None:
        expect(dialog.get_by_label("User ID")).to_have_count(0)
        expect(dialog).to_contain_text("Signing as Qa Approver (qa.approver)")
    else:
        dialog.get_by_label("User ID").fill(user_id)
    dialog.get_by_label("Password").fill(PASSWORD)
    dialog.get_by_role("button", name="Sign: Approved").click()
    page.wait_for_url(f"**/sponsors/quality-agreements/{number}/")
    expect(page.locator(".record-header")).to_contain_text("Approved")
    row = page.locator("#tab-details table.signatures tbody tr", has_text="Approved")
    expect(row.locator(".manifest-name")).to_have_text("Qa Approver")
    expect(row.locator(".manifest-meaning")).to_have_text("Approved")
    expect(row.locator(".manifest-time")).to_have_text(LOCAL_TIME)
    expect(row).to_contain_text("Valid")


@pytest.mark.req("P11-6")
@pytest.mark.req("P11-3")
def test_first_signing_asks_user_id_and_password_the_next_only_the_password(page, qa_author, qa_approver,
                                                                             sponsor_a):
    from playwright.sync_api import expect  # noqa: PLC0415

    first = factories.submitted_agreement(qa_author, sponsor_a, title="Quality agreement, clinical supply")
    second = factories.submitted_agreement(qa_author, sponsor_a, title="Quality agreement, commercial supply")
    sign_in(page, "qa.approver")
    expect(page.get_by_role("heading", name="My tasks")).to_be_visible()

    _approve_in_dialog(page, first.number, user_id="qa.approver")
    _approve_in_dialog(page, second.number, user_id=None)

    signatures = Signature.objects.filter(meaning="Approved", signer=qa_approver)
    assert sorted(s.record_label for s in signatures) == sorted([first.number, second.number])


@pytest.mark.req("P11-7")
def test_lockout_after_failed_logins_tells_the_user_to_ask_an_administrator(page, qa_author):
    from playwright.sync_api import expect  # noqa: PLC0415

    for _ in range(settings.LOCKOUT_FAILURES - 1):
        sign_in(page, "qa.author", "not the password")
        expect(page.get_by_role("alert")).to_have_text("User ID or password is not correct.")

    sign_in(page, "qa.author", "not the password")
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("locked")
    expect(alert).to_contain_text("Ask a system administrator")

    sign_in(page, "qa.author")  # even the right password: the account stays locked
    expect(page.get_by_role("alert")).to_contain_text("locked")
    expect(page).to_have_url(re.compile(r"/login/$"))
    qa_author.refresh_from_db()
    assert qa_author.is_locked
