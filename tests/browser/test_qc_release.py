"""In a real browser, the laboratory to release path (issue 7): a QC analyst enters the last release
result of an autologous batch and sees it evaluated at once; QA's release attempt before the
second-person review is refused with the unmet prerequisite named (QC-3, REL-1); the QC reviewer
reviews it with a signature; the QA approver releases the batch with their signature and downloads
the certificate of analysis, which prints the result against its limit and the release
manifestation (P11-3)."""

import io
import re
from pathlib import Path

import pytest
from django.db import transaction
from pypdf import PdfReader

from opencdmo.qc import models as qc_models
from opencdmo.qc import selectors as qc_selectors
from opencdmo.qc import services as qc_services
from opencdmo.release.models import Disposition
from tests.conftest import PASSWORD
from tests.factories import signature
from tests.qc import builders as qc
from tests.release import builders as release

from .conftest import sign_in
from .test_signing import LOCAL_TIME

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser"), pytest.mark.django_db(transaction=True)]

VIABILITY = "86.4"


def _expect():
    from playwright.sync_api import expect  # noqa: PLC0415

    return expect


def _squashed(text: str) -> str:
    return re.sub(r"\s+", "", text)


def _batch_awaiting_viability(sponsor):
    """A reviewed autologous batch of the sponsor's product; its release sample received in the
    laboratory with sterility and endotoxin entered and reviewed, viability still to enter."""
    world = release.batches.world(sponsor, prefix="b.")
    release.reviewed(world)
    lab = qc.people(sponsor)
    with transaction.atomic():  # the builder numbers the specification: a transaction (no test-wide one here)
        spec = qc.approved_spec(lab["reviewer"], sponsor, product=world.product)
    instrument = qc.instrument(lab["supervisor"], lab["qa"])
    sample = qc.sample(lab["analyst"], spec, subject_ref=world.batch.number,
                       subject_label=f"{world.batch.number} {world.product.code}")
    for attribute, value in (("Sterility", "no growth"), ("Endotoxin", "0.10")):
        entered = qc_services.enter_result(lab["analyst"], sample, spec.tests.get(attribute=attribute), value=value,
                                           submission_id=qc.submission())
        qc_services.transition_result(lab["reviewer"], entered, "review", signature=signature(lab["reviewer"],
                                                                                               "Reviewed"))
    return world, lab, spec, sample, instrument


def _sign_out(page):
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(re.compile(r"/login/"))


def _fill_signature(form, username: str):
    """The disposition's signature fields: the user ID only at the first signing of the session."""
    user_id = form.get_by_label("User ID")
    if user_id.count():
        user_id.fill(username)
    form.get_by_label("Password").fill(PASSWORD)


@pytest.mark.req("QC-3")
@pytest.mark.req("REL-1")
@pytest.mark.req("P11-3")
def test_analyst_enters_reviewer_reviews_qa_releases_and_downloads_the_certificate(page, sponsor_a):
    expect = _expect()
    world, lab, spec, sample, instrument = _batch_awaiting_viability(sponsor_a)
    batch = world.batch
    viability = spec.tests.get(attribute="Viability")
    limit = qc_selectors.limit_text(viability)
    analyst, reviewer, approver = lab["analyst"], lab["reviewer"], lab["qp"]

    # 1. The analyst: worklist → the sample → the viability result with the cell counter used.
    sign_in(page, analyst.username)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="QC worklist").click()
    expect(page.get_by_role("heading", name="QC worklist")).to_be_visible()
    row = page.locator("table.worklist tbody tr", has_text=sample.number)
    expect(row).to_contain_text(batch.number)
    expect(row).to_contain_text("Viability")
    row.get_by_role("link", name=sample.number).click()
    page.wait_for_url(f"**/qc/samples/{sample.number}/")
    form = page.locator("form.result-form", has_text="Viability")
    expect(form).to_have_count(1)
    expect(form).to_contain_text(limit)
    form.get_by_label(re.compile(r"^Result")).fill(VIABILITY)
    form.get_by_label("Instrument used").select_option(instrument.number)
    form.get_by_role("button", name="Enter result").click()
    page.wait_for_url(f"**/qc/samples/{sample.number}/")
    entered = page.locator("table.results tbody tr", has_text=VIABILITY)
    expect(entered).to_contain_text("Conforms")
    expect(entered).to_contain_text(instrument.number)
    expect(entered).to_contain_text("Entered, awaiting review")
    expect(page.locator("form.result-form")).to_have_count(0)  # nothing left to enter
    _sign_out(page)
    result = qc_models.TestResult.objects.get(sample=sample, test=viability)
    assert (result.analyst, result.instrument, result.conformance, result.status) == (
        analyst, instrument, qc_models.TestResult.Conformance.CONFORMS, "entered")

    # 2. QA before the review: the batch awaits disposition; its release is refused, naming the
    # unmet prerequisite.
    sign_in(page, approver.username)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Disposition").click()
    page.locator("table.dispositions tbody tr", has_text=batch.number).get_by_role(
        "link", name=batch.number).click()
    page.wait_for_url(f"**/release/batches/{batch.number}/")
    release_form = page.locator("form#release-form")
    expect(release_form).to_contain_text("Cannot release")
    expect(release_form).to_contain_text("Viability")
    expect(page.locator("table.prerequisites tbody tr", has_text="Release tests")).to_have_attribute(
        "data-state", "unmet")
    expect(release_form).to_contain_text(f"Viability: awaiting review ({result.number})")
    # Nobody types a password only to be told no: the signature fields wait until it may be released.
    expect(release_form.get_by_role("button", name="Sign: QA Released")).to_be_disabled()
    expect(release_form.get_by_label("Password")).to_be_disabled()
    page.locator("table.release-tests").get_by_role("link", name=result.number).click()
    page.wait_for_url(f"**/qc/results/{result.number}/")
    expect(page.locator("main")).to_contain_text("Viability")
    assert not Disposition.objects.filter(subject_ref=batch.number).exists()
    _sign_out(page)

    # 3. The reviewer: the worklist's "To review" tab → the result → Review, signed "Reviewed".
    sign_in(page, reviewer.username)
    expect(page.locator("tbody tr", has_text=result.number)).to_contain_text("Review the result")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="QC worklist").click()
    page.get_by_role("tab", name="To review").click()
    to_review = page.locator("table.worklist tbody tr", has_text=result.number)
    expect(to_review).to_contain_text(VIABILITY)
    expect(to_review).to_contain_text("Conforms")
    to_review.get_by_role("link", name=result.number).click()
    page.wait_for_url(f"**/qc/results/{result.number}/")
    page.get_by_role("button", name="Review", exact=True).click()
    dialog = page.locator("dialog#dialog")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text(f"You are signing {result.number} with the meaning Reviewed")
    dialog.get_by_label("User ID").fill(reviewer.username)
    dialog.get_by_label("Password").fill(PASSWORD)
    dialog.get_by_role("button", name="Sign: Reviewed").click()
    expect(page.locator(".record-header")).to_contain_text("Reviewed")
    expect(page.locator("#tab-details")).to_contain_text(reviewer.full_name)
    _sign_out(page)
    result.refresh_from_db()
    assert (result.status, result.reviewed_by) == ("reviewed", reviewer)

    # 4. QA: every prerequisite met, released with a signature, the certificate downloaded.
    sign_in(page, approver.username)
    expect(page.get_by_role("heading", name="My tasks")).to_be_visible()
    page.locator("tbody tr", has_text=batch.number).get_by_role("link", name="Decide the disposition").click()
    page.wait_for_url(f"**/release/batches/{batch.number}/")
    states = page.locator("table.prerequisites tbody tr")
    expect(states.first).to_be_visible()
    assert set(states.evaluate_all("rows => rows.map(r => r.dataset.state)")) <= {"met", "not_applicable"}
    expect(page.locator("table.release-tests")).to_contain_text(VIABILITY)
    release_form = page.locator("form#release-form")
    expect(release_form).not_to_contain_text("Cannot release")
    _fill_signature(release_form, approver.username)
    release_form.get_by_role("button", name="Sign: QA Released").click()
    expect(page.locator(".record-header")).to_contain_text("Released")
    manifestation = page.locator("table.signatures tr", has_text="QA Released")
    expect(manifestation).to_contain_text(approver.full_name)
    expect(manifestation).to_contain_text(LOCAL_TIME)
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Certificate of analysis (PDF)").click()
    download = download_info.value
    assert download.suggested_filename.endswith(".pdf")
    pdf = Path(download.path()).read_bytes()
    assert pdf.startswith(b"%PDF")
    text = " ".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf)).pages)
    for shown in (VIABILITY, limit, approver.full_name, "QA Released", batch.number):
        assert _squashed(shown) in _squashed(text), shown

    disposition = Disposition.objects.get(subject_ref=batch.number)
    assert (disposition.status, disposition.decided_by) == ("released", approver)
