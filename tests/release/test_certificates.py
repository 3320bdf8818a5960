"""Certificates of analysis (issue 7 item 6): every result against its limit, conformance, the
specification, and the signature manifestation of the person who released the batch or lot
(P11-3: printed name, date and time, meaning; P11-4: linked to the disposition it was given on);
a conditional release prints what was pending and the risk assessment (REL-1); every result of
the subject is accounted for, invalidated and investigated ones in footnotes (OOS-1); refused
before a release decision; never shown to another sponsor's users; each issue audited."""

import datetime as dt
import io
import json
import re
import uuid

import pytest
from django.db import transaction
from django.test import Client
from django.urls import reverse
from pypdf import PdfReader

from opencdmo.core import signatures
from opencdmo.core.domain.roles import Role
from opencdmo.core.errors import NotFound, PermissionDenied, RuleViolation
from opencdmo.core.models import AuditEvent
from opencdmo.core.records import create_record, update_record
from opencdmo.identity.selectors import printed_coi
from opencdmo.materials.models import Lot
from opencdmo.qc import models as qc_models
from opencdmo.qc import selectors as qc
from opencdmo.qc.models import OosInvestigation, Sample, Specification, SpecificationTest
from opencdmo.release import certificates
from opencdmo.release import services as release_services
from opencdmo.release.models import Disposition
from tests.batches import builders
from tests.factories import signature
from tests.materials import builders as materials_builders
from tests.web.conftest import records_a  # noqa: F401  (the shared view tests' world)
from tests.web.viewtests import PermissionApiTest, PermissionPageTest

BATCH, LOT = "batches.batch", "materials.lot"
RISK = "RA-2026-0007: 14-day sterility pending; BacT/ALERT negative at 72 h, Gram stain negative."

# (attribute, method code, method name, kind, unit, decimals, criterion, lower, upper, pending allowed, value)
RELEASE_TESTS = [
    ("Viability", "VIA-01", "Viability by flow cytometry (7-AAD)", "numeric", "%", 1, "at_least", "70", None, False,
     "92.46"),
    ("CAR expression", "CAR-01", "CAR+ of viable CD3+ by flow", "numeric", "%", 1, "range", "10", "80", False, "34.04"),
    ("Endotoxin", "LAL-01", "Bacterial endotoxins (kinetic chromogenic LAL)", "numeric", "EU/mL", 2, "at_most", None,
     "3.50", False, "0.25"),
    ("Vector copy number", "VCN-01", "VCN by ddPCR", "numeric", "copies/cell", 2, "less_than", None, "5", False,
     "1.87"),
    ("Mycoplasma", "MYC-01", "Mycoplasma by NAT", "detection", "", None, "not_detected", None, None, False,
     "not detected"),
    ("Sterility", "STE-01", "Sterility (Ph. Eur. 2.6.1, 14 days)", "growth", "", None, "not_detected", None, None,
     True, "no growth"),
    ("Total viable cells", "TVC-01", "Viable cell count", "numeric", "cells", 0, "report_only", None, None, False,
     "312000000"),
]
INVALIDATED_VIABILITY = "55.0"
INVALIDATION_REASON = "Pipetting error: the stained tube was diluted twice."


@pytest.fixture(autouse=True)
def _server_clock(fake_clock):
    """2026-03-02 08:30 UTC, moved only by the test."""
    return fake_clock


def pdf_text(pdf: bytes) -> tuple[list[str], str]:
    pages = [page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages]
    return pages, re.sub(r"\s+", " ", " ".join(pages))


def in_cells(shown: str, text: str) -> bool:
    """`shown` is printed, perhaps wrapped over lines inside its table cell."""
    return re.sub(r"\s+", "", shown) in re.sub(r"\s+", "", text)


# --- Builders (ORM rows where the QC and disposition services are built in parallel) ------------

def _method(code, name, kind, unit, decimals) -> qc_models.TestMethod:
    return qc_models.TestMethod.objects.get_or_create(code=code, defaults={
        "name": name, "result_kind": kind, "unit": unit, "decimals": decimals,
        "turnaround_days": 14 if code == "STE-01" else 1})[0]


def specification(author, *, stage, code, title, tests=RELEASE_TESTS, sponsor=None, product=None,
                  material=None) -> Specification:
    """An approved specification with the given criteria."""
    with transaction.atomic():
        spec = create_record(author, Specification(
            code=code, revision=2, title=title, stage=stage, sponsor=sponsor, product=product, material=material,
            status="approved", effective_at=dt.datetime(2026, 2, 1, 9, 0, tzinfo=dt.UTC)))
        for position, (attribute, mcode, mname, kind, unit, decimals, criterion, lower, upper, pending, _) in \
                enumerate(tests, start=1):
            SpecificationTest.objects.create(
                specification=spec, position=position, attribute=attribute,
                method=_method(mcode, mname, kind, unit, decimals), criterion=criterion, lower=lower, upper=upper,
                unit=unit, may_be_pending_at_release=pending)
    return spec


def sample(author, spec, *, subject_type, subject_ref, sponsor=None, product=None) -> Sample:
    with transaction.atomic():
        found = create_record(author, Sample(
            subject_type=subject_type, subject_ref=subject_ref, subject_label=subject_ref, origin="manual",
            sponsor=sponsor, product=product, specification=spec, description=f"Release sample of {subject_ref}",
            status="received", taken_at=dt.datetime(2026, 3, 1, 9, tzinfo=dt.UTC)))
        found.tests.set(spec.tests.all())
    return found


def result(analyst, reviewer, on: Sample, test: SpecificationTest, value: str, *, attempt=1, retest_of=None,
           status="reviewed") -> qc_models.TestResult:
    """A result evaluated against its criterion, entered by `analyst`, reviewed by `reviewer`."""
    evaluation = qc.evaluate(test, value)
    with transaction.atomic():
        return create_record(analyst, qc_models.TestResult(
            sample=on, test=test, attempt=attempt, retest_of=retest_of, value=value,
            numeric_value=evaluation.number, reported=evaluation.reported, unit=test.unit or test.method.unit,
            conformance=evaluation.conformance, analyst=analyst, entered_at=builders_clock(), status=status,
            reviewed_by=reviewer if status == "reviewed" else None,
            reviewed_at=builders_clock() if status == "reviewed" else None, submission_id=uuid.uuid4().hex))


def builders_clock():
    from opencdmo.core import clock  # noqa: PLC0415

    return clock.now()


def with_results(analyst, reviewer, qa, spec, *, subject_type, subject_ref, sponsor=None, product=None,
           skip=(), oos=True) -> Sample:
    """Every criterion tested and reviewed, except those in `skip`; with `oos`, the first viability
    result is out of specification, invalidated after a Phase I laboratory investigation and retested."""
    on = sample(analyst, spec, subject_type=subject_type, subject_ref=subject_ref, sponsor=sponsor, product=product)
    for test, row in zip(spec.tests.order_by("position"), RELEASE_TESTS, strict=False):
        if test.attribute in skip:
            continue
        retest_of, attempt = None, 1
        if oos and test.attribute == "Viability":
            original = result(analyst, None, on, test, INVALIDATED_VIABILITY, status="entered")
            with transaction.atomic():
                create_record(qa, OosInvestigation(
                    result=original, sponsor=sponsor, opened_by=reviewer, opened_at=builders_clock(),
                    assignable_cause=INVALIDATION_REASON, phase_one_closed_at=builders_clock(),
                    conclusion="laboratory_error", summary="Laboratory error confirmed.",
                    closed_at=builders_clock(), status="closed"))
                update_record(qa, original, action="invalidate", reason=INVALIDATION_REASON,  # QC's service, stood in
                              status="invalidated", invalidation_reason=INVALIDATION_REASON,
                              invalidated_at=builders_clock(), invalidated_by=qa)
            retest_of, attempt = original, 2
        result(analyst, reviewer, on, test, row[-1], attempt=attempt, retest_of=retest_of)
    return on


MEANINGS = {"release": "QA Released", "conditional_release": "QA Released", "complete": "QA Released",
            "reject": "Rejected"}


def decide(decider, subject, decision: str | None = "release", *, risk: str = "", comment: str = "") -> Disposition:
    """The disposition of `subject` opened and (unless `decision` is None) decided through the
    release services, signed by `decider`."""
    disposition = release_services.open_disposition(decider, subject)
    if decision is None:
        return disposition
    return release_services.decide(decider, disposition, decision, signature=signature(decider, MEANINGS[decision]),
                                   risk_assessment=risk, comment=comment)


def recorded_decision(decider, *, subject_type, subject_ref, sponsor=None, signed=True) -> Disposition:
    """A released disposition written directly, for states the services never leave (no specification,
    no signature: what a broken migration or a database edit could leave): the certificate must refuse."""
    verified = signatures.authenticate_signer(decider, signature(decider, "QA Released"), first_in_session=True) \
        if signed else None
    with transaction.atomic():
        disposition = create_record(decider, Disposition(
            subject_type=subject_type, subject_ref=subject_ref, subject_label=subject_ref, sponsor=sponsor,
            status="released", prerequisites=[{"name": "Release tests", "state": "met", "detail": ""}],
            decided_at=builders_clock(), decided_by=decider))
        if verified is not None:
            signatures.sign(verified, disposition)
    return disposition


def people(sponsor, prefix=""):
    return {
        "analyst": builders.person(f"{prefix}qc.analyst", Role.QC_ANALYST, sponsors=[sponsor]),
        "reviewer": builders.person(f"{prefix}qc.reviewer", Role.QC_REVIEWER, sponsors=[sponsor]),
    }


def reviewed_batch(sponsor, *, prefix=""):
    """A batch executed with good values and its record reviewed by QA."""
    world = builders.world(sponsor, prefix=prefix)
    builders.start(world)
    for key in ("A1", "A2", "B1", "B2", "B3"):
        builders.run_step(world, key)
    from opencdmo.batches import services as batch_services  # noqa: PLC0415

    world.batch = batch_services.transition_batch(world.operator, world.batch, "complete",
                                                  signature=signature(world.operator, "Performed"))
    for exception in world.batch.exceptions.filter(status="open"):
        batch_services.disposition_exception(world.qa, exception, disposition="Assessed: no impact on quality.")
    world.batch = batch_services.transition_batch(world.qa, world.batch, "review",
                                                  signature=signature(world.qa, "Reviewed"))
    return world


@pytest.fixture
def lab(world):
    return people(world.sponsor)


@pytest.fixture
def world(sponsor_a):
    return reviewed_batch(sponsor_a)


@pytest.fixture
def release_spec(world):
    return specification(world.qa, stage="release", code=f"{world.product.code}-REL",
                         title=f"{world.product.name} release", sponsor=world.sponsor, product=world.product)


def _tested_batch(world, lab, spec, **options):
    return with_results(lab["analyst"], lab["reviewer"], world.qa_approver, spec, subject_type=BATCH,
                  subject_ref=world.batch.number, sponsor=world.sponsor, product=world.product, **options)


@pytest.fixture
def released(world, lab, release_spec):
    _tested_batch(world, lab, release_spec)
    world.disposition = decide(world.qa_approver, world.batch)
    return world


# --- The certificate -------------------------------------------------------------------------------

@pytest.mark.django_db
@pytest.mark.req("P11-3", "P11-4", "REL-1", "OOS-1")
def test_the_coa_shows_every_result_against_its_limit_and_the_release_signature(released, release_spec, fake_clock):
    fake_clock.advance(hours=2)
    pages, text = pdf_text(certificates.batch_certificate(released.qa, released.batch.number))
    assert "Certificate of Analysis" in pages[0]
    coi = printed_coi(released.batch.patient_reference)
    for shown in (released.product.code, released.product.name, released.sponsor.name, released.batch.number,
                  f"{coi.text} {coi.check}", f"{release_spec.code} revision 2", release_spec.number):
        assert shown in text, shown
    # Every criterion: attribute, limit as the specification states it, reportable result with unit, conformance.
    expected = {"Viability": "92.5 %", "CAR expression": "34.0 %", "Endotoxin": "0.25 EU/mL",
                "Vector copy number": "1.87 copies/cell", "Mycoplasma": "not detected", "Sterility": "no growth",
                "Total viable cells": "312000000 cells"}
    for test in release_spec.tests.all():
        assert in_cells(test.attribute, text)
        assert in_cells(qc.limit_text(test), text), qc.limit_text(test)
        assert in_cells(expected[test.attribute], text), expected[test.attribute]
    assert text.count("Conforms") >= 6 and "Reported" in text
    assert "Does not conform" not in text.split("Notes")[0]
    for res in qc_models.TestResult.objects.filter(status="reviewed"):
        assert in_cells(res.number, text)
    assert "Qc Analyst" in text and "Qc Reviewer" in text
    assert f"conforms to specification {release_spec.code} revision 2" in text
    # The invalidated original stays accounted for, with its OOS investigation.
    original = qc_models.TestResult.objects.get(status="invalidated")
    notes = text[text.index("Notes"):]
    for shown in (original.number, f"{INVALIDATED_VIABILITY} %", INVALIDATION_REASON[:-1],
                  original.investigation.number, "Laboratory error"):
        assert in_cells(shown, notes), shown
    assert "8 results" in text
    # The signature manifestation: printed name, meaning, date and time (UTC and the site's zone).
    signed = signatures.signatures_of(released.disposition)[0]
    manifest = text[text.index("Released by"):]
    assert released.qa_approver.full_name in manifest and "QA Released" in manifest
    assert signed.signed_at.strftime("%Y-%m-%d %H:%M:%S UTC") == "2026-03-02 08:30:00 UTC"
    assert "2026-03-02 08:30:00 UTC" in manifest and "2026-03-02 09:30:00 CET (UTC+01:00)" in manifest
    assert "Valid electronic signature" in manifest
    # Page n of N and the generated-at stamp on every page.
    for number, page in enumerate(pages, start=1):
        page = re.sub(r"\s+", " ", page)
        assert f"Page {number} of {len(pages)}" in page
        assert f"generated by {released.qa.full_name} on 2026-03-02 11:30:00" in page
    # Issued: audited, with the PDF's fingerprint.
    event = AuditEvent.objects.filter(action="export").latest("id")
    export = json.loads(event.changes)["export"][1]
    assert (event.actor_id, event.record_label, export["what"], export["disposition"]) == (
        released.qa.pk, released.batch.number, "certificate of analysis", released.disposition.number)
    assert len(export["sha256"]) == 64 and export["results"] == 8


@pytest.mark.django_db
@pytest.mark.req("REL-1", "QC-1")
def test_a_conditional_release_prints_the_pending_test_and_the_risk_assessment(world, lab, release_spec):
    _tested_batch(world, lab, release_spec, skip=("Sterility",), oos=False)
    disposition = decide(world.qa_approver, world.batch, "conditional_release", risk=RISK)
    _, text = pdf_text(certificates.batch_certificate(world.qa, world.batch.number))
    sterility = re.search(r"Sterility STE-01 Sterility.*?(Conforms|Pending|Does not conform)", text)
    assert sterility and sterility.group(1) == "Pending"
    assert "Conditional release" in text and "Conditionally released" in text
    [pending] = disposition.pending_tests  # as the decision recorded it
    assert in_cells(f"Tests pending at release: Sterility · {pending['method']}", text)
    assert in_cells(f"sample {pending['sample']} · result expected by {pending['expected']}", text)
    assert RISK in text
    assert "Pending at the time of issue: Sterility" in text


@pytest.mark.django_db
def test_a_failing_result_after_a_conditional_release_is_printed_as_not_conforming(world, lab, release_spec):
    on = _tested_batch(world, lab, release_spec, skip=("Sterility",), oos=False)
    decide(world.qa_approver, world.batch, "conditional_release", risk=RISK)
    result(lab["analyst"], lab["reviewer"], on, release_spec.tests.get(attribute="Sterility"), "growth")
    _, text = pdf_text(certificates.batch_certificate(world.qa, world.batch.number))
    assert "Does not conform" in text
    assert "does not conform to specification" in text and "Sterility out of specification" in text


@pytest.mark.django_db
@pytest.mark.req("REL-1", "P11-3")
def test_a_completed_conditional_release_shows_both_release_signatures(world, lab, release_spec, fake_clock):
    on = _tested_batch(world, lab, release_spec, skip=("Sterility",), oos=False)
    disposition = decide(world.qa_approver, world.batch, "conditional_release", risk=RISK)
    fake_clock.advance(days=14)
    result(lab["analyst"], lab["reviewer"], on, release_spec.tests.get(attribute="Sterility"), "no growth")
    decide(world.qa_approver, world.batch, "release")
    _, text = pdf_text(certificates.batch_certificate(world.qa, world.batch.number))
    assert "Pending" not in text and "Conditional release" not in text
    assert f"conforms to specification {release_spec.code}" in text
    manifest = text[text.index("Released by"):]
    assert manifest.count("QA Released") == 2 and manifest.count(world.qa_approver.full_name) == 2
    assert "2026-03-02 08:30:00 UTC" in manifest and "2026-03-16 08:30:00 UTC" in manifest
    assert "Valid electronic signature" in manifest  # the final release's
    assert disposition.number in text


@pytest.mark.django_db
@pytest.mark.req("REL-1")
def test_no_certificate_before_the_release_decision(world, lab, release_spec):
    _tested_batch(world, lab, release_spec)
    with pytest.raises(RuleViolation, match="has no disposition yet"):
        certificates.batch_certificate(world.qa, world.batch.number)
    decide(world.qa_approver, world.batch, None)  # opened, not decided
    with pytest.raises(RuleViolation, match="not decided yet"):
        certificates.batch_certificate(world.qa, world.batch.number)
    client = Client()
    client.force_login(world.qa)
    response = client.get(reverse("release:batch_coa", args=[world.batch.number]))
    assert response.status_code == 422 and "not decided yet" in response.content.decode()
    response = client.get(f"/api/v1/release/batches/{world.batch.number}/coa")
    assert response.status_code == 422 and "not decided yet" in response.json()["detail"]
    assert not AuditEvent.objects.filter(action="export").exists()


@pytest.mark.django_db
def test_no_certificate_for_a_rejected_batch(world, lab, release_spec):
    _tested_batch(world, lab, release_spec)
    decide(world.qa_approver, world.batch, "reject", comment="Potency assay not representative of the dose.")
    with pytest.raises(RuleViolation, match="is rejected"):
        certificates.batch_certificate(world.qa, world.batch.number)


@pytest.mark.django_db
@pytest.mark.req("P11-3")
def test_no_certificate_without_the_release_signature(world, lab, release_spec):
    _tested_batch(world, lab, release_spec)
    recorded_decision(world.qa_approver, subject_type=BATCH, subject_ref=world.batch.number, sponsor=world.sponsor,
                      signed=False)
    with pytest.raises(RuleViolation, match="no 'QA Released' signature"):
        certificates.batch_certificate(world.qa, world.batch.number)


@pytest.mark.django_db
def test_the_certificate_names_the_specification_the_results_were_tested_against(released, release_spec):
    with transaction.atomic():
        update_record(released.qa_approver, release_spec, action="retire", reason="Superseded.", status="retired")
    _, text = pdf_text(certificates.batch_certificate(released.qa, released.batch.number))
    assert f"{release_spec.code} revision 2 ({release_spec.number})" in text


@pytest.mark.django_db
def test_no_certificate_without_a_specification(world):
    recorded_decision(world.qa_approver, subject_type=BATCH, subject_ref=world.batch.number, sponsor=world.sponsor)
    with pytest.raises(RuleViolation, match="No approved release specification applies"):
        certificates.batch_certificate(world.qa, world.batch.number)


@pytest.mark.django_db
def test_the_download_is_a_pdf_attachment_named_after_the_batch(released):
    client = Client()
    client.force_login(released.qa)
    response = client.get(reverse("release:batch_coa", args=[released.batch.number]))
    assert (response.status_code, response["Content-Type"]) == (200, "application/pdf")
    assert response["Content-Disposition"] == f'attachment; filename="CoA-{released.batch.number}.pdf"'
    assert response.content.startswith(b"%PDF")
    response = client.get(f"/api/v1/release/batches/{released.batch.number}/coa")
    assert (response.status_code, response["Content-Type"]) == (200, "application/pdf")


@pytest.mark.django_db
def test_another_sponsors_user_gets_404(released, make_user, sponsor_b):
    outsider = make_user("beta.qa", Role.QA_APPROVER, sponsors=[sponsor_b])
    with pytest.raises(NotFound):
        certificates.batch_certificate(outsider, released.batch.number)
    client = Client()
    client.force_login(outsider)
    assert client.get(reverse("release:batch_coa", args=[released.batch.number])).status_code == 404
    assert client.get(f"/api/v1/release/batches/{released.batch.number}/coa").status_code == 404
    assert not AuditEvent.objects.filter(action="export").exists()


@pytest.mark.django_db
def test_a_user_without_release_view_is_refused(released, make_user, sponsor_a):
    with pytest.raises(PermissionDenied, match="release.view"):
        certificates.batch_certificate(make_user("no.role", sponsors=[sponsor_a]), released.batch.number)


# --- Material lots ---------------------------------------------------------------------------------

LOT_TESTS = [RELEASE_TESTS[2], RELEASE_TESTS[4], RELEASE_TESTS[5]]


def released_lot(world, lab, handler, *, decided=True):
    """A new lot of the world's material received into quarantine, tested against the material's
    incoming specification and (by default) released through its disposition; it becomes world.lot."""
    world.lot = materials_builders.receive(handler, world.material, quantity="12")
    spec = specification(world.qa, stage="incoming", code=f"{world.material.code}-IN", material=world.material,
                         title=f"{world.material.name} incoming", tests=LOT_TESTS, sponsor=world.material.sponsor)
    on = sample(lab["analyst"], spec, subject_type=LOT, subject_ref=world.lot.number, sponsor=world.lot.sponsor)
    for test, row in zip(spec.tests.order_by("position"), LOT_TESTS, strict=True):
        result(lab["analyst"], lab["reviewer"], on, test, row[-1])
    if decided:
        world.disposition = decide(world.qa_approver, world.lot)
    return spec


def handler_of(world, prefix=""):
    return builders.person(f"{prefix}mh.novak", Role.MATERIAL_HANDLER, sponsors=[world.sponsor])


@pytest.mark.django_db
@pytest.mark.req("P11-3", "REL-1")
def test_a_released_lot_has_a_certificate_against_its_incoming_specification(world, lab):
    spec = released_lot(world, lab, handler_of(world))
    assert world.lot.__class__.objects.get(pk=world.lot.pk).status == "released"  # the lot follows its disposition
    pages, text = pdf_text(certificates.lot_certificate(world.qa, world.lot.number))
    for shown in ("Certificate of Analysis", world.lot.number, world.material.code, world.material.name,
                  f"{spec.code} revision 2", "0.25 EU/mL", "not detected", "no growth", "QA Released",
                  world.qa_approver.full_name):
        assert in_cells(shown, text), shown
    for test in spec.tests.all():
        assert in_cells(qc.limit_text(test), text)
    assert text.count("Conforms") == 3 and "This lot conforms" in text
    client = Client()
    client.force_login(world.qa)
    response = client.get(reverse("release:lot_coa", args=[world.lot.number]))
    assert response["Content-Disposition"] == f'attachment; filename="CoA-{world.lot.number}.pdf"'


@pytest.mark.django_db
def test_no_lot_certificate_before_the_release_decision(world, lab):
    released_lot(world, lab, handler_of(world), decided=False)
    with pytest.raises(RuleViolation, match="has no disposition yet"):
        certificates.lot_certificate(world.qa, world.lot.number)


# --- Shared view tests -----------------------------------------------------------------------------

def coa_world(records):
    """Sponsor A's released batch and released lot, each with its certificate's data (built once)."""
    if getattr(records, "coa_world", None) is None:
        world = reviewed_batch(records.sponsor, prefix="coa.")
        lab = people(records.sponsor, prefix="coa.")
        spec = specification(world.qa, stage="release", code=f"{world.product.code}-REL", title="Release",
                             sponsor=world.sponsor, product=world.product)
        _tested_batch(world, lab, spec, oos=False)
        decide(world.qa_approver, world.batch)
        # A lot of a material the sponsor supplies: the sponsor's viewers see it (the CDMO's own lots they do not).
        world.material = Lot.objects.get(number=records.references["materials.lot"]).material
        released_lot(world, lab, handler_of(world, "coa."))
        records.coa_world = world
    return records.coa_world


class _Pdf:
    roles = (Role.SPONSOR_VIEWER,)

    def test_user_with_permission_gets_the_resource(self, make_user, records_a):  # noqa: F811
        from tests.web.conftest import bearer  # noqa: PLC0415

        user = self.permitted_user(make_user, records_a)
        response = self.send(Client(), records_a, user, headers=bearer(user))
        assert (response.status_code, response["Content-Type"]) == (200, "application/pdf")


class TestBatchCoaPage(PermissionPageTest):
    route = "release:batch_coa"
    roles = (Role.SPONSOR_VIEWER,)

    def url(self, world):
        return reverse(self.route, args=[coa_world(world).batch.number])


class TestLotCoaPage(PermissionPageTest):
    route = "release:lot_coa"
    roles = (Role.SPONSOR_VIEWER,)

    def url(self, world):
        return reverse(self.route, args=[coa_world(world).lot.number])


class TestBatchCoaApi(_Pdf, PermissionApiTest):
    operation = ("GET", "/release/batches/{number}/coa")

    def url(self, world):
        return f"/api/v1/release/batches/{coa_world(world).batch.number}/coa"


class TestLotCoaApi(_Pdf, PermissionApiTest):
    operation = ("GET", "/release/lots/{number}/coa")

    def url(self, world):
        return f"/api/v1/release/lots/{coa_world(world).lot.number}/coa"
