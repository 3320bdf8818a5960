"""In a real browser, as the people who do each step: raise a deviation → QA classifies → the
investigator records the root cause and raises a CAPA → its action is done and verified, its
effectiveness recorded → QA closes the CAPA and the deviation with signatures (DEV-1, Q10-1, P11-3)."""

import pytest

from opencdmo.core.domain.roles import Role
from opencdmo.core.models import Signature
from opencdmo.quality.models import Capa, Deviation
from tests.conftest import PASSWORD

from .conftest import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser"), pytest.mark.django_db(transaction=True)]


@pytest.fixture
def as_user(browser, live_server):
    """A signed-in page per person, each in its own browser context (own session)."""
    contexts = []

    def open_as(username):
        context = browser.new_context(base_url=live_server.url, locale="en-GB")
        context.set_default_timeout(10_000)
        contexts.append(context)
        page = context.new_page()
        sign_in(page, username)
        return page

    yield open_as
    for context in contexts:
        context.close()


def _sign(page, button: str, meaning: str, *, user_id: str | None):
    from playwright.sync_api import expect  # noqa: PLC0415

    page.get_by_role("button", name=button, exact=True).click()
    dialog = page.locator("dialog#dialog")
    expect(dialog).to_contain_text(f"with the meaning {meaning}")
    if user_id:
        dialog.get_by_label("User ID").fill(user_id)
    dialog.get_by_label("Password").fill(PASSWORD)
    dialog.get_by_role("button", name=f"Sign: {meaning}").click()
    expect(dialog).to_be_hidden()


@pytest.mark.req("DEV-1")
@pytest.mark.req("Q10-1")
@pytest.mark.req("P11-3")
def test_deviation_to_capa_to_closure_with_signatures(as_user, make_user, sponsor_a):
    from playwright.sync_api import expect  # noqa: PLC0415

    make_user("op.olsen", Role.OPERATOR, sponsors=[sponsor_a])
    make_user("qa.patel", Role.QA_SPECIALIST, sponsors=[sponsor_a])
    make_user("sup.santos", Role.SUPERVISOR, sponsors=[sponsor_a])
    make_user("qp.dubois", Role.QA_APPROVER, sponsors=[sponsor_a])

    # An operator raises it.
    operator = as_user("op.olsen")
    operator.get_by_role("link", name="Deviations", exact=True).click()
    operator.get_by_role("link", name="Raise a deviation").click()
    operator.get_by_label("Title").fill("Grade B settle plate excursion in B-101")
    operator.get_by_label("What happened").fill("Settle plate SP-4 at 3 CFU (action limit 5; alert 3) during fill.")
    operator.get_by_label("Area").fill("B-101")
    operator.get_by_label("Category").select_option("environmental")
    operator.locator("select[name=sponsor]").select_option(sponsor_a.code)
    operator.get_by_role("button", name="Raise deviation").click()
    expect(operator.locator(".record-header")).to_contain_text("Open, to classify")
    number = Deviation.objects.get().number

    # QA classifies it with the decision tree and assigns the investigator.
    qa = as_user("qa.patel")
    qa.goto(f"/quality/deviations/{number}/")
    form = qa.locator("#classify")
    for key in ("patient_safety", "identity"):
        form.locator(f"input[name={key}][value=no]").check()
    form.locator("input[name=product_quality][value=yes]").check()
    form.get_by_label("Investigator").select_option("sup.santos")
    form.get_by_role("button", name="Classify").click()
    expect(qa.locator(".record-header")).to_contain_text("Under investigation")
    expect(qa.locator("strong.classification")).to_have_text("Major")

    # The investigator records the root cause and raises a CAPA with one action.
    investigator = as_user("sup.santos")
    investigator.goto(f"/quality/deviations/{number}/")
    form = investigator.locator("#investigation")
    form.get_by_label("Impact assessment").fill("Batch HLX-B-0007 only; sterility test scheduled.")
    form.get_by_label("Root-cause category").select_option("human_error")
    form.get_by_label("Narrative and root cause").fill("Gowning breach at the RABS glove port.")
    form.get_by_label("Why 1?").fill("Why was the plate contaminated?")
    form.get_by_label("Because").first.fill("An operator's sleeve touched the plate.")
    form.get_by_label("Conclusion").fill("No impact on sterility assurance; retraining needed.")
    form.get_by_role("button", name="Save investigation").click()
    investigator.locator("#raise-capa summary").click()
    capa_form = investigator.locator("#raise-capa")
    capa_form.get_by_label("Title").fill("Retrain fill operators on RABS glove-port handling")
    capa_form.get_by_role("button", name="Raise CAPA").click()
    expect(investigator.locator(".record-header")).to_contain_text("Draft plan")
    capa_number = Capa.objects.get().number
    action_form = investigator.locator("#add-action")
    action_form.get_by_label("What will be done").fill("Practical retraining of all fill operators")
    action_form.get_by_label("Due date").fill("2030-01-31")
    action_form.get_by_role("button", name="Add action").click()
    expect(investigator.locator("table.capa-actions")).to_contain_text("Practical retraining")

    # QA approves the plan (not its creator).
    approver = as_user("qp.dubois")
    approver.goto(f"/quality/capas/{capa_number}/")
    _sign(approver, "Approve plan", "Approved", user_id="qp.dubois")
    expect(approver.locator(".record-header")).to_contain_text("Implementing")

    # The action's owner does it; someone else verifies it; implementation and effectiveness.
    investigator.goto(f"/quality/capas/{capa_number}/")
    investigator.get_by_label("Evidence").fill("Training records TR-2026-031 to 037")
    investigator.get_by_role("button", name="Mark done").click()
    qa.goto(f"/quality/capas/{capa_number}/")
    qa.get_by_role("button", name="Verify").click()
    expect(qa.locator("table.capa-actions")).to_contain_text("Verified")
    qa.locator("#complete").get_by_label("Effectiveness criteria").fill("No glove-port excursion in 3 months")
    qa.locator("#complete").get_by_role("button", name="Implementation complete").click()
    expect(qa.locator(".record-header")).to_contain_text("Effectiveness check")
    qa.locator("#effectiveness").get_by_label("Result").select_option("effective")
    qa.locator("#effectiveness").get_by_label("Evidence").fill("EM trend: no excursion at the glove ports")
    qa.locator("#effectiveness").get_by_role("button", name="Record result").click()

    # QA closes the CAPA (not its owner) with a signature.
    approver.goto(f"/quality/capas/{capa_number}/")
    _sign(approver, "Close", "Approved", user_id=None)
    expect(approver.locator(".record-header")).to_contain_text("Closed")

    # The investigator submits; QA (neither raiser nor investigator) closes the deviation.
    investigator.goto(f"/quality/deviations/{number}/")
    _sign(investigator, "Submit for closure", "Performed", user_id="sup.santos")
    expect(investigator.locator(".record-header")).to_contain_text("Awaiting closure")
    approver.goto(f"/quality/deviations/{number}/")
    _sign(approver, "Close", "Approved", user_id=None)
    expect(approver.locator(".record-header")).to_contain_text("Closed")
    row = approver.locator("#tab-details table.signatures tbody tr", has_text="Performed")
    expect(row.locator(".manifest-name")).to_have_text("Sup Santos")

    assert Deviation.objects.get().status == "closed" and Capa.objects.get().status == "closed"
    assert sorted(Signature.objects.values_list("record_label", "meaning")) == sorted([
        (capa_number, "Approved"), (capa_number, "Approved"), (number, "Performed"), (number, "Approved")])
