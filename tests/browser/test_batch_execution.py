"""On a tablet, as an operator would: start a batch, execute its steps one at a time, scan the
equipment and the vector lot with the scanner (keyboard wedge: the code typed, then Enter), enter
values, see an out-of-range value open the comment and get its amber or red badge, have a second
person verify a critical value on the same screen, lose the network without losing an entry, and
complete the batch with signatures (P11-1f, P11-4, P11-7).

`executed_batch(page, world)` leaves a completed batch for the review by exception to build on."""

import pytest

from opencdmo.batches.models import BatchEntry, BatchException
from opencdmo.core.models import Signature
from tests.batches import builders
from tests.conftest import PASSWORD

from .conftest import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser"), pytest.mark.django_db(transaction=True)]

LANDSCAPE = {"width": 1024, "height": 768}
PORTRAIT = {"width": 768, "height": 1024}


@pytest.fixture
def tablet(browser, live_server):
    """A tablet-sized page per viewport, each in its own browser context (own session)."""
    contexts = []

    def open_tablet(viewport=LANDSCAPE):
        context = browser.new_context(base_url=live_server.url, locale="en-GB", viewport=viewport, has_touch=True)
        context.set_default_timeout(10_000)
        contexts.append(context)
        return context.new_page()

    yield open_tablet
    for context in contexts:
        context.close()


def _expect():
    from playwright.sync_api import expect  # noqa: PLC0415

    return expect


def _parameter(page, parameter_id: str):
    return page.locator(f'[data-parameter="{parameter_id}"]')


def _record(page, parameter_id: str, value: str, *, comment: str = "", press_enter: bool = False) -> None:
    """Type a value into the parameter's field and record it (Enter, as a keyboard does, or the button)."""
    expect = _expect()
    block = _parameter(page, parameter_id)
    field = block.locator("input[name=value]")
    field.fill(value)
    if comment:
        expect(block.locator(".comment-field")).to_be_visible()  # revealed at once, before any submission
        block.locator("textarea[name=comment]").fill(comment)
    if press_enter:
        field.press("Enter")
    else:
        block.get_by_role("button", name="Record").click()
    expect(block.locator(".recorded .value")).to_be_visible()


def _scan(page, label: str, code: str) -> None:
    """A keyboard-wedge scanner: the field has the focus, the code arrives as keystrokes, then Enter."""
    expect = _expect()
    field = page.get_by_label(label)
    expect(field).to_be_focused()
    page.keyboard.type(code)
    page.keyboard.press("Enter")
    expect(page.locator(".step-card")).to_contain_text(code)


def _start_step(page, key: str) -> None:
    expect = _expect()
    page.locator("nav.steps").get_by_role("link", name=key, exact=False).first.click()
    expect(page.locator(".step-card h2")).to_contain_text(key)
    page.get_by_role("button", name="Start step").click()
    expect(page.locator(".step-card header")).to_contain_text("In progress")


def _complete_step(page, username: str) -> None:
    expect = _expect()
    form = page.locator("form.next-action.inline-sign")
    expect(form.get_by_role("button", name="Complete step")).to_have_class("primary")  # the obvious next action
    if form.get_by_label("User ID").count():
        form.get_by_label("User ID").fill(username)
    form.get_by_label("Password").fill(PASSWORD)
    form.get_by_role("button", name="Complete step").click()
    expect(page.locator(".step-card header")).to_contain_text("Completed")


def executed_batch(page, world: builders.World, *, verifier_page=None) -> builders.World:
    """Sign in as the world's operator, start its planned batch and execute every step on the
    operator screen; leaves the batch completed (signed 'Performed'). Returns the world."""
    expect = _expect()
    operator, second = world.operator, world.second_operator
    sign_in(page, operator.username)
    page.goto(f"/batches/{world.batch.number}/")
    page.get_by_role("button", name="Start", exact=True).click()
    page.locator("dialog#dialog").get_by_role("button", name="Start").click()
    expect(page.locator(".record-header")).to_contain_text("In progress")
    page.get_by_role("link", name="Execute").click()

    # A1: receive the apheresis bag, count the cells; a value outside the normal range is amber.
    expect(page.locator(".step-card h2")).to_contain_text("A1")
    page.get_by_role("button", name="Start step").click()
    _scan(page, "Scan chain of identity label", f"&/{world.batch.patient_reference}")  # the bag is the patient's
    block = _parameter(page, "bag_intact")
    block.get_by_label("Yes").check()
    block.get_by_role("button", name="Record").click()
    expect(block.locator(".badge-outcome-ok")).to_be_visible()
    _record(page, "viable_cells", "3e8", press_enter=True)
    _record(page, "viability", "75.0", comment="Long transport from the apheresis centre.")
    expect(_parameter(page, "viability").locator(".badge-outcome-outside_normal")).to_be_visible()

    # The second person verifies the critical count right on this screen: no one signs out.
    verify = _parameter(page, "viable_cells").locator("form.verify-form")
    expect(verify.get_by_role("button", name="Verify")).to_have_class("primary")
    verify.get_by_label("Second person: user ID").fill(second.username)
    verify.get_by_label("Password").fill(PASSWORD)
    verify.get_by_role("button", name="Verify").click()
    expect(_parameter(page, "viable_cells")).to_contain_text(f"Verified {second.full_name}")
    _complete_step(page, operator.username)

    # A2 and B1 may now run in parallel: both are offered.
    expect(page.locator("nav.steps a.available")).to_have_count(2)
    _start_step(page, "A2")
    page.get_by_role("button", name="Take sample").click()
    expect(page.locator(".step-card")).to_contain_text("SMP-")
    _complete_step(page, operator.username)

    # B1: scan the cabinet and the vector lot with the scanner, then the transduction values.
    _start_step(page, "B1")
    _scan(page, "Scan equipment", world.equipment.number)
    _scan(page, f"Scan lot of {world.material.code}", world.lot.number)
    # The network drops while the titer is sent: it waits in the tablet and goes when the network is back.
    page.context.set_offline(True)
    block = _parameter(page, "titer")
    block.locator("input[name=value]").fill("1e8")
    block.get_by_role("button", name="Record").click()
    expect(page.locator("#submission-status")).to_contain_text("Waiting for network")
    page.context.set_offline(False)
    expect(page.locator("#submission-status")).to_contain_text("Saved")
    expect(block.locator(".recorded .value")).to_contain_text("1e8")
    _record(page, "moi", "3")
    expect(_parameter(page, "vector_volume").locator(".recorded .value")).to_contain_text("9.00 mL")
    _complete_step(page, operator.username)

    # B2: an incubator temperature outside the proven acceptable range is red (and a deviation).
    _start_step(page, "B2")
    field = _parameter(page, "incubator_temperature").locator("input[name=value]")
    field.fill("38.5")
    expect(_parameter(page, "incubator_temperature").locator(".outcome-preview")).to_contain_text("deviation")
    _record(page, "incubator_temperature", "38.5", comment="Door left ajar during the transfer.")
    expect(_parameter(page, "incubator_temperature").locator(".badge-outcome-outside_acceptable")).to_be_visible()
    _complete_step(page, operator.username)

    _start_step(page, "B3")
    _complete_step(page, operator.username)

    # Every step done: the batch is completed with the operator's signature.
    page.goto(f"/batches/{world.batch.number}/")
    page.get_by_role("button", name="Complete", exact=True).click()
    dialog = page.locator("dialog#dialog")
    dialog.get_by_label("Password").fill(PASSWORD)
    dialog.get_by_role("button", name="Sign: Performed").click()
    expect(page.locator(".record-header")).to_contain_text("Completed")
    return world


@pytest.mark.req("P11-1f")
@pytest.mark.req("P11-4")
def test_an_operator_executes_a_short_batch_on_a_tablet(tablet, sponsor_a):
    world = executed_batch(tablet(LANDSCAPE), builders.world(sponsor_a))
    batch = world.batch
    batch.refresh_from_db()
    assert batch.status == "completed"
    assert BatchEntry.objects.filter(batch=batch, parameter="titer").count() == 1  # the retried post made one entry
    cells = BatchEntry.objects.get(batch=batch, parameter="viable_cells")
    assert cells.verified_by == world.second_operator
    kinds = set(BatchException.objects.filter(batch=batch).values_list("kind", flat=True))
    assert {"outside_normal", "outside_acceptable"} <= kinds
    assert Signature.objects.filter(record_type="batches.batchstep", meaning="Performed").count() == 5


def test_the_operator_screen_fits_a_portrait_tablet_with_large_targets(tablet, sponsor_a):
    expect = _expect()
    world = builders.world(sponsor_a)
    builders.start(world)
    page = tablet(PORTRAIT)
    sign_in(page, world.operator.username)
    page.goto(f"/batches/{world.batch.number}/execute/")
    page.get_by_role("button", name="Start step").click()
    expect(_parameter(page, "viable_cells").locator("input[name=value]")).to_be_visible()
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PORTRAIT["width"]  # no sideways scrolling
    for target in (page.get_by_role("button", name="Record").first, page.locator("nav.steps a").first,
                   _parameter(page, "viable_cells").locator("input[name=value]")):
        box = target.bounding_box()
        assert box["height"] >= 48, target  # a gloved finger's target


@pytest.mark.req("P11-3")
def test_qa_reviews_the_executed_batch_by_exception_and_signs(tablet, sponsor_a):
    """QA sees only the exceptions, cannot sign while one is open, dispositions each in place and
    signs the review 'Reviewed' (issue 5, review by exception)."""
    expect = _expect()
    world = executed_batch(tablet(LANDSCAPE), builders.world(sponsor_a))
    waiting = BatchException.objects.filter(batch=world.batch, status="open").count()
    page = tablet(LANDSCAPE)
    sign_in(page, world.qa.username)
    page.goto(f"/batches/{world.batch.number}/review/")
    expect(page.locator(".review-progress")).to_contain_text(f"0 of {waiting} dispositioned")
    expect(page.get_by_role("button", name="Sign the review")).to_be_disabled()
    expect(page.locator("#review-blockers")).to_contain_text("open exception")
    for done in range(1, waiting + 1):
        form = page.locator("article.review-exception form").first
        field = form.get_by_label("Disposition")
        field.fill(field.input_value() + "Assessed: no impact on product quality.")  # keeps a cited deviation
        form.get_by_role("button", name="Disposition").click()
        expect(page.locator(".review-progress")).to_contain_text(f"{done} of {waiting} dispositioned")
    page.get_by_role("button", name="Sign the review").click()
    dialog = page.locator("dialog#dialog")
    dialog.get_by_label("User ID").fill(world.qa.username)
    dialog.get_by_label("Password").fill(PASSWORD)
    dialog.get_by_role("button", name="Sign: Reviewed").click()
    expect(page.locator(".record-header")).to_contain_text("Reviewed")
    world.batch.refresh_from_db()
    assert (world.batch.status, world.batch.reviewed_at is not None) == ("reviewed", True)
    assert Signature.objects.filter(record_type="batches.batch", meaning="Reviewed", signer=world.qa).count() == 1
