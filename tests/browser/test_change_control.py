"""In a real browser (Q10-1): QA requests approval of a change affecting a sponsor, that sponsor's
quality lead signs the approval in OpenCDMO, then QA approves the change with a signature."""

import pytest

from opencdmo.core.domain.roles import Role
from opencdmo.quality.models import ChangeControl
from tests.conftest import PASSWORD
from tests.quality.change_builders import agreement_requiring_approval, assessed, proposed, submitted

from .conftest import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser"), pytest.mark.django_db(transaction=True)]


def _session(browser, live_server, username: str):
    context = browser.new_context(base_url=live_server.url, locale="en-GB")
    context.set_default_timeout(10_000)
    page = context.new_page()
    sign_in(page, username)
    return context, page


def _sign(page, button: str, meaning: str | None = None, user_id: str = ""):
    """Open the action's dialog; sign it (first signature of the session: user ID and password)."""
    from playwright.sync_api import expect  # noqa: PLC0415

    page.get_by_role("button", name=button, exact=True).click()
    dialog = page.locator("dialog#dialog")
    expect(dialog).to_be_visible()
    if meaning:
        dialog.get_by_label("User ID").fill(user_id)
        dialog.get_by_label("Password").fill(PASSWORD)
        dialog.get_by_role("button", name=f"Sign: {meaning}").click()
    else:
        dialog.get_by_role("button", name=button).click()


@pytest.mark.req("Q10-1")
@pytest.mark.req("P11-3")
def test_sponsor_approves_in_the_browser_before_qa_approves_the_change(browser, live_server, make_user, sponsor_a):
    from playwright.sync_api import expect  # noqa: PLC0415

    qa = make_user("qa.assessor", Role.QA_SPECIALIST, sponsors=[sponsor_a])
    make_user("qp.approver", Role.QA_APPROVER, sponsors=[sponsor_a])
    make_user("acme.quality", Role.SPONSOR_VIEWER, sponsors=[sponsor_a])
    proposer = make_user("sup.proposer", Role.SUPERVISOR, sponsors=[sponsor_a])
    agreement_requiring_approval(sponsor_a)
    change = submitted(proposed(proposer, sponsor_a), proposer)
    assessed(change, qa, sponsors=[sponsor_a])
    url = f"/quality/changes/{change.number}/"

    # QA requests approval: the sponsor's approval is created from its quality agreement.
    context, page = _session(browser, live_server, "qa.assessor")
    page.goto(url)
    _sign(page, "Request approval")
    page.wait_for_url(f"**{url}")
    expect(page.locator(".record-header")).to_contain_text("Awaiting approval")
    expect(page.locator("#tab-details")).to_contain_text(sponsor_a.name)
    context.close()

    # The sponsor's quality lead finds it among their tasks and signs it.
    context, page = _session(browser, live_server, "acme.quality")
    page.get_by_role("link", name="Approve or reject the change for your sponsor").click()
    expect(page.locator("#tab-details")).to_contain_text("Master batch record of ACME")
    _sign(page, "Approve the change", "Approved", "acme.quality")
    expect(page.locator(".record-header")).to_contain_text("Approved")
    row = page.locator("#tab-details table.signatures tbody tr", has_text="Approved")
    expect(row.locator(".manifest-name")).to_have_text("Acme Quality")
    context.close()

    # QA approves the change: possible now that the sponsor has approved.
    context, page = _session(browser, live_server, "qp.approver")
    page.goto(url)
    _sign(page, "Approve", "Approved", "qp.approver")
    page.wait_for_url(f"**{url}")
    expect(page.locator(".record-header")).to_contain_text("Approved")
    context.close()

    change = ChangeControl.objects.get(pk=change.pk)
    assert change.status == "approved"
    approval = change.sponsor_approvals.get()
    assert (approval.status, approval.decided_by.username) == ("approved", "acme.quality")
