"""Small QC builders shared by the laboratory's tests: a numeric method, an approved release
specification with a few criteria, a sample of a subject, an instrument in service. Plain
functions taking users and records (the ORM is used for methods and specifications, which
their own services build elsewhere)."""

import itertools
import uuid
from decimal import Decimal

from opencdmo.core import clock
from opencdmo.core.domain.roles import Role
from opencdmo.core.records import create_record
from opencdmo.qc import services
from opencdmo.qc.models import ResultKind, Specification, SpecificationTest, TestMethod
from tests.batches.builders import person
from tests.facilities.factories import equipment_in_service

_numbers = itertools.count(1)

CELL_COUNTER = "cell_counter"


def submission() -> str:
    return uuid.uuid4().hex


def people(sponsor, prefix: str = "") -> dict:
    """The laboratory's people for `sponsor`: analyst, a second analyst, reviewer, QA, QP, a supervisor."""
    return {
        "analyst": person(f"{prefix}qc.ana", Role.QC_ANALYST, sponsors=[sponsor]),
        "analyst2": person(f"{prefix}qc.bob", Role.QC_ANALYST, sponsors=[sponsor]),
        "reviewer": person(f"{prefix}qc.rev", Role.QC_REVIEWER, sponsors=[sponsor]),
        "qa": person(f"{prefix}qa.spec", Role.QA_SPECIALIST, sponsors=[sponsor]),
        "qp": person(f"{prefix}qa.qp", Role.QA_APPROVER, sponsors=[sponsor]),
        "supervisor": person(f"{prefix}sup.lab", Role.SUPERVISOR, sponsors=[sponsor]),
    }


def method(code: str = "VIA-CC", *, name: str = "Viability by cell counter", result_kind: str = ResultKind.NUMERIC,
           unit: str = "%", decimals: int | None = 1, instrument_kinds=(CELL_COUNTER,), turnaround_days: int = 1,
           sop=None, choices=()) -> TestMethod:
    """A test method (a numeric one with a cell counter by default); the same code returns the same method."""
    found = TestMethod.objects.filter(code=code).first()
    return found or TestMethod.objects.create(
        code=code, name=name, result_kind=result_kind, unit=unit, decimals=decimals,
        instrument_kinds=list(instrument_kinds), turnaround_days=turnaround_days, sop=sop, choices=list(choices))


def viability():
    return method()


def sterility():
    return method("STER-USP71", name="Sterility (membrane filtration)", result_kind=ResultKind.GROWTH, unit="",
                  decimals=None, instrument_kinds=(), turnaround_days=14)


def endotoxin():
    return method("LAL-KIN", name="Endotoxin (kinetic LAL)", unit="EU/mL", decimals=2, instrument_kinds=(),
                  turnaround_days=2)


def criterion(spec: Specification, position: int, attribute: str, test_method: TestMethod, kind: str, *,
              lower=None, upper=None, unit: str | None = None, **fields) -> SpecificationTest:
    return SpecificationTest.objects.create(
        specification=spec, position=position, attribute=attribute, method=test_method, criterion=kind,
        lower=None if lower is None else Decimal(str(lower)), upper=None if upper is None else Decimal(str(upper)),
        unit=test_method.unit if unit is None else unit, **fields)


def approved_spec(author, sponsor, product=None, *, stage: str = "release", code: str | None = None, material=None,
                  criteria: bool = True) -> Specification:
    """An approved specification of `product` (sponsor's first product by default) at `stage`, with
    Viability ≥ 70.0 % (cell counter), Sterility not detected (14 days) and Endotoxin ≤ 0.50 EU/mL."""
    if product is None and material is None:
        product = sponsor.programs.first().products.first()
    n = next(_numbers)
    code = code or f"{(product.code if product else material.code)}-{stage[:3].upper()}-{n}"
    spec = create_record(author, Specification(
        code=code, revision=1, title=f"{stage.title()} specification {code}", stage=stage, sponsor=sponsor,
        product=product, material=material, status="approved"))
    if criteria:
        criterion(spec, 1, "Viability", viability(), "at_least", lower="70.0")
        criterion(spec, 2, "Sterility", sterility(), "not_detected", may_be_pending_at_release=True)
        criterion(spec, 3, "Endotoxin", endotoxin(), "at_most", upper="0.50")
    return spec


def batch(user, product, number: str):
    """The batch `number` of `product` as a bare row: a QC sample tests a batch that exists, and the
    laboratory's tests need many without executing them (tests/batches builds executed ones)."""
    from opencdmo.batches.models import Batch  # noqa: PLC0415
    from opencdmo.facilities.models import Area, Room, Site  # noqa: PLC0415
    from opencdmo.processes.models import MasterBatchRecord, MbrVersion  # noqa: PLC0415

    if (found := Batch.objects.filter(number=number).first()) is not None:
        return found
    now = clock.now()
    stamps = {"status": "effective", "created_at": now, "created_by": user, "modified_at": now}
    site, _ = Site.objects.get_or_create(code="QCS", defaults={"name": "QC test site"})
    area, _ = Area.objects.get_or_create(code="QCS-A", defaults={"site": site, "name": "QC test area"})
    room, _ = Room.objects.get_or_create(code="QCS-R1", defaults={"area": area, "name": "QC test room", "grade": "B"})
    mbr = MasterBatchRecord.objects.filter(product=product).first() or MasterBatchRecord.objects.create(
        number=f"MBR-QC-{product.pk}", product=product, title=f"{product.code} process", **stamps)
    version = mbr.versions.first() or MbrVersion.objects.create(
        number=f"{mbr.number}-V1", mbr=mbr, version_number=1, definition={}, **stamps)
    return Batch.objects.create(number=number, mbr_version=version, product=product, sponsor=product.program.sponsor,
                                scale=1, scale_unit="run", room=room, **{**stamps, "status": "completed"})


def sample(analyst, spec: Specification, *, subject_ref: str = "B-2026-0001", received: bool = True, tests=None,
           location: str = "QC fridge 1", **fields):
    """A sample of a batch (by default) against `spec`, received in the laboratory."""
    fields.setdefault("subject_type", "batches.batch")
    if fields["subject_type"] == "batches.batch":
        batch(analyst, spec.product, subject_ref)
    fields.setdefault("subject_label", f"{subject_ref} {spec.product.code if spec.product else ''}".strip())
    fields.setdefault("origin", "manual")
    fields.setdefault("description", "Final product release sample")
    made = services.register_sample(analyst, subject_ref=subject_ref, specification=spec, tests=tests,
                                    sponsor=spec.sponsor, product=spec.product, **fields)
    return services.receive_sample(analyst, made, location=location) if received else made


def instrument(supervisor, qa, *, kind: str = CELL_COUNTER, number: str | None = None,
               calibration_interval_days: int | None = 30):
    """facilities Equipment of `kind`, qualified, calibrated and released: usable now."""
    number = number or f"EQ-{kind[:4].upper()}-{next(_numbers):02d}"
    return equipment_in_service(supervisor, qa, number=number, kind=kind, name=f"{kind.replace('_', ' ')} {number}",
                                calibration_interval_days=calibration_interval_days)


# For the cross-sponsor web tests (tests/web/conftest.py RECORD_BUILDERS): (author, sponsor, title) → reference.

def _lab_for(sponsor) -> dict:
    return people(sponsor, prefix=f"s{sponsor.pk}.")


def _spec_for(sponsor):
    found = Specification.objects.filter(sponsor=sponsor, stage="release", status="approved",
                                         code__startswith=f"QCB{sponsor.pk}-").first()
    return found or approved_spec(_lab_for(sponsor)["reviewer"], sponsor, code=f"QCB{sponsor.pk}-REL")


def sample_for_sponsor(author, sponsor, title: str) -> str:
    """A received sample of the sponsor's first product (built once per sponsor)."""
    from opencdmo.qc.models import Sample  # noqa: PLC0415

    found = Sample.objects.filter(sponsor=sponsor, subject_ref=f"B-QCB{sponsor.pk}").first()
    if found is not None:
        return found.number
    return sample(_lab_for(sponsor)["analyst"], _spec_for(sponsor), subject_ref=f"B-QCB{sponsor.pk}").number


def result_for_sponsor(author, sponsor, title: str) -> str:
    """An entered endotoxin result on that sample."""
    from opencdmo.qc.models import Sample, TestResult  # noqa: PLC0415

    made = Sample.objects.get(number=sample_for_sponsor(author, sponsor, title))
    found = TestResult.objects.filter(sample=made).first()
    if found is None:
        test = made.tests.get(attribute="Endotoxin")
        found = services.enter_result(_lab_for(sponsor)["analyst"], made, test, value="0.10",
                                      submission_id=submission())
    return found.number


def investigation_for_sponsor(author, sponsor, title: str) -> str:
    """An OOS investigation in Phase I: an endotoxin result above its limit (0.90 > 0.50 EU/mL) on a
    second sample of the sponsor's first product (whatever other products the sponsor has)."""
    from opencdmo.qc.models import OosInvestigation  # noqa: PLC0415

    found = OosInvestigation.objects.filter(sponsor=sponsor, result__sample__subject_ref=f"B-OOS{sponsor.pk}").first()
    if found is not None:
        return found.number
    analyst = _lab_for(sponsor)["analyst"]
    made = sample(analyst, _spec_for(sponsor), subject_ref=f"B-OOS{sponsor.pk}")
    failed = services.enter_result(analyst, made, made.tests.get(attribute="Endotoxin"), value="0.90",
                                   submission_id=submission())
    return failed.investigation.number
