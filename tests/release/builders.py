"""Disposition test data: a reviewed batch (through the batch services), a release specification
and QC results (by the ORM and create_record: the laboratory's own services are built elsewhere),
and the RECORD_BUILDERS entries for dispositions and post-release notices."""

import itertools
import uuid
from decimal import Decimal

from django.db import transaction

from opencdmo.batches import services as batch_services
from opencdmo.core import clock
from opencdmo.core.domain.roles import Role
from opencdmo.core.records import create_record
from opencdmo.qc.models import ResultKind, Sample, Specification, SpecificationTest, TestMethod, TestResult
from opencdmo.qc.signals import result_changed
from opencdmo.release import services
from tests.batches import builders as batches
from tests.factories import signature

_codes = itertools.count(1)
STEPS = ("A1", "A2", "B1", "B2", "B3")
CONFORMS, FAILS = TestResult.Conformance.CONFORMS, TestResult.Conformance.DOES_NOT_CONFORM


def lab(world):
    """The laboratory people of the world's sponsor."""
    return (batches.person("rel.qc.ana", Role.QC_ANALYST, sponsors=[world.sponsor]),
            batches.person("rel.qc.rev", Role.QC_REVIEWER, sponsors=[world.sponsor]))


def completed(world):
    batches.start(world)
    for key in STEPS:
        batches.run_step(world, key)
    world.batch = batch_services.transition_batch(world.operator, world.batch, "complete",
                                                  signature=signature(world.operator, "Performed"))
    return world.batch


def reviewed(world):
    """The world's batch executed with good values, completed and its review signed by QA (world.qa)."""
    completed(world)
    world.batch = batch_services.transition_batch(world.qa, world.batch, "review",
                                                  signature=signature(world.qa, "Reviewed"))
    return world.batch


def method(code: str, name: str, kind: str, *, unit: str = "", decimals=None, turnaround_days: int = 1):
    return TestMethod.objects.filter(code=code).first() or TestMethod.objects.create(
        code=code, name=name, result_kind=kind, unit=unit, decimals=decimals, turnaround_days=turnaround_days)


def release_spec(author, *, product=None, material=None, sponsor=None, stage: str = "release",
                 sterility_pending: bool = True) -> Specification:
    """Approved: Viability ≥ 70.0 % and Sterility no growth (14 days; may be pending at release)."""
    n = next(_codes)
    code = f"{(product.code if product else material.code)}-{stage[:3].upper()}-R{n}"
    spec = create_record(author, Specification(
        code=code, revision=1, title=f"{stage.title()} specification {code}", stage=stage, sponsor=sponsor,
        product=product, material=material, status="approved"))
    SpecificationTest.objects.create(specification=spec, position=1, attribute="Viability", unit="%",
                                     method=method("REL-VIA", "Viability", ResultKind.NUMERIC, unit="%", decimals=1),
                                     criterion="at_least", lower=Decimal("70.0"))
    SpecificationTest.objects.create(specification=spec, position=2, attribute="Sterility",
                                     method=method("REL-STER", "Sterility USP <71>", ResultKind.GROWTH,
                                                   turnaround_days=14),
                                     criterion="not_detected", may_be_pending_at_release=sterility_pending)
    return spec


def result(analyst, spec: Specification, subject, attribute: str, value: str, conformance: str, *,
           reviewer=None, subject_type: str = "batches.batch", notify: bool = True) -> TestResult:
    """A result of `attribute` on a sample of `subject`, reviewed when `reviewer` is given; the
    laboratory's signal is sent in the result's transaction, as the QC services send it."""
    test = spec.tests.get(attribute=attribute)
    with transaction.atomic():
        sample = Sample.objects.filter(subject_type=subject_type, subject_ref=subject.number,
                                       specification=spec).first()
        if sample is None:
            sample = create_record(analyst, Sample(
                subject_type=subject_type, subject_ref=subject.number, subject_label=subject.number,
                origin="manual", sponsor=spec.sponsor, product=spec.product, specification=spec,
                description="Release sample", status="received", taken_at=clock.now()))
            sample.tests.set(spec.tests.all())
        attempt = TestResult.objects.filter(sample=sample, test=test).count() + 1
        found = create_record(analyst, TestResult(
            sample=sample, test=test, attempt=attempt, value=value, reported=value, unit=test.unit,
            conformance=conformance, analyst=analyst, entered_at=clock.now(), submission_id=uuid.uuid4().hex,
            status="reviewed" if reviewer else "entered", reviewed_by=reviewer,
            reviewed_at=clock.now() if reviewer else None))
        if notify:
            result_changed.send(sender=TestResult, result=found, actor=analyst, event="entered")
    return found


def passing(analyst, reviewer, spec, subject, *, skip=(), subject_type: str = "batches.batch"):
    values = {"Viability": "92.0", "Sterility": "no growth"}
    for test in spec.tests.order_by("position"):
        if test.attribute not in skip:
            result(analyst, spec, subject, test.attribute, values.get(test.attribute, "conforms"), CONFORMS,
                   reviewer=reviewer, subject_type=subject_type)


def releasable(sponsor, *, prefix: str = ""):
    """A world whose batch is reviewed with every release test passed: ready for QA's release."""
    world = batches.world(sponsor, prefix=prefix)
    reviewed(world)
    analyst, reviewer = lab(world)
    spec = release_spec(world.qa, product=world.product, sponsor=sponsor)
    passing(analyst, reviewer, spec, world.batch)
    return world, spec


# For the cross-sponsor web tests (tests/web/conftest.py RECORD_BUILDERS): (author, sponsor, title) → reference.

def disposition_for_sponsor(author, sponsor, title: str) -> str:
    """The sponsor's batch released by its QA approver (built once per sponsor)."""
    from opencdmo.release.models import Disposition  # noqa: PLC0415

    found = Disposition.objects.filter(sponsor=sponsor, subject_type="batches.batch").first()
    if found is not None:
        return found.number
    world, _ = releasable(sponsor, prefix=f"r{sponsor.pk}.")
    disposition = services.open_disposition(world.qa_approver, world.batch)
    services.decide(world.qa_approver, disposition, "release", signature=signature(world.qa_approver, "QA Released"))
    return disposition.number


def notice_for_sponsor(author, sponsor, title: str) -> str:
    """A post-release notice: the sponsor's batch conditionally released, then its sterility failed."""
    from opencdmo.release.models import Disposition, PostReleaseNotice  # noqa: PLC0415

    found = PostReleaseNotice.objects.filter(sponsor=sponsor).first()
    if found is not None:
        return found.number
    world = batches.world(sponsor, prefix=f"n{sponsor.pk}.")
    reviewed(world)
    analyst, reviewer = lab(world)
    spec = release_spec(world.qa, product=world.product, sponsor=sponsor)
    passing(analyst, reviewer, spec, world.batch, skip=("Sterility",))
    disposition = services.open_disposition(world.qa_approver, world.batch)
    services.decide(world.qa_approver, disposition, "conditional_release",
                    signature=signature(world.qa_approver, "QA Released"),
                    risk_assessment="Short shelf life; Gram stain negative; physician informed of the pending result.")
    result(analyst, spec, world.batch, "Sterility", "growth", FAILS)
    return Disposition.objects.get(pk=disposition.pk).notices.get().number


# Cheap records of a sponsor for the page and API tests: a lot of a sponsor-supplied material.

def quarantined_lot(sponsor, *, code: str = ""):
    from tests.materials import builders as materials  # noqa: PLC0415

    prefix = sponsor.code.lower()
    qa = materials.person(f"{prefix}.rel.qa", Role.QA_SPECIALIST, sponsors=[sponsor])
    handler = materials.person(f"{prefix}.rel.handler", Role.MATERIAL_HANDLER, sponsors=[sponsor])
    materials.location(qa)
    medium = materials.material(qa, code or f"RM-{sponsor.code}"[:32], name=f"Medium of {sponsor.name}"[:200],
                                sponsor=sponsor, suppliers=[materials.supplier(qa, f"S-{sponsor.code}"[:16],
                                                                               f"{sponsor.name} supplier",
                                                                               sponsor=sponsor)])
    return materials.receive(handler, medium), qa


def lot_disposition_for_sponsor(author, sponsor, title: str) -> str:
    """An open disposition of a lot in quarantine (RECORD_BUILDERS-shaped)."""
    lot, qa = quarantined_lot(sponsor)
    return services.open_disposition(qa, lot).number


def lot_notice_for_sponsor(author, sponsor, title: str) -> str:
    """A lot released through its disposition, then an incoming test that failed: its notice."""
    lot, qa = quarantined_lot(sponsor, code=f"RN-{sponsor.code}"[:32])
    disposition = services.open_disposition(qa, lot)
    services.decide(qa, disposition, "release", signature=signature(qa, "QA Released"))
    spec = release_spec(qa, material=lot.material, sponsor=sponsor, stage="incoming", sterility_pending=False)
    analyst = batches.person(f"{sponsor.code.lower()}.rel.ana", Role.QC_ANALYST, sponsors=[sponsor])
    result(analyst, spec, lot, "Sterility", "growth", FAILS, subject_type="materials.lot")
    return disposition.notices.get().number
