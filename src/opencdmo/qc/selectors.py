"""The QC laboratory's reads, always scoped to the sponsors the user may see."""

from dataclasses import dataclass, field

from .domain import criteria
from .models import Specification, SpecificationTest, TestResult

# ===== shared: what a disposition reads =====

MISSING, AWAITING_REVIEW, PASSES, FAILS, INVESTIGATING = (
    "missing", "awaiting_review", "passes", "fails", "investigating")
TEST_STATE_LABELS = {MISSING: "No result yet", AWAITING_REVIEW: "Awaiting review", PASSES: "Within specification",
                     FAILS: "Out of specification", INVESTIGATING: "OOS under investigation"}


@dataclass
class TestStatus:
    """Where one criterion of a specification stands for one subject (a batch, a lot)."""

    test: SpecificationTest
    state: str
    result: TestResult | None = None  # the reportable result: the latest one not invalidated
    results: list[TestResult] = field(default_factory=list)  # every attempt, invalidated ones too

    @property
    def label(self) -> str:
        return TEST_STATE_LABELS[self.state]


def criterion_of(test: SpecificationTest) -> criteria.Criterion:
    """The test's acceptance criterion as the evaluation reads it (decimals: the test's, else the method's)."""
    decimals = test.decimals if test.decimals is not None else test.method.decimals
    return criteria.Criterion(kind=test.criterion, lower=test.lower, upper=test.upper, expected=test.expected,
                              decimals=decimals, rounding=test.specification.rounding)


def limit_text(test: SpecificationTest) -> str:
    """'≥ 70.0 %': the limit as pages and certificates print it."""
    return criteria.describe(criterion_of(test), test.unit or test.method.unit)


def evaluate(test: SpecificationTest, value) -> criteria.Evaluation:
    """Raises criteria.InvalidResult with what to enter when the value cannot be read."""
    return criteria.evaluate(value, result_kind=test.method.result_kind, criterion=criterion_of(test),
                             choices=test.method.choices)


def effective_specification(*, stage: str, product=None, material=None) -> Specification | None:
    """The approved specification of a product (or a material) at a stage."""
    return (Specification.objects.filter(status="approved", stage=stage, product=product, material=material)
            .order_by("-revision").first())


def _state(valid: list[TestResult]) -> str:
    if not valid:
        return MISSING
    # Every result not invalidated counts: a conforming retest never hides a failing original.
    failing = [r for r in valid if r.conformance == TestResult.Conformance.DOES_NOT_CONFORM]
    if failing:
        investigations = [getattr(r, "investigation", None) for r in failing]
        return INVESTIGATING if any(i is not None and i.closed_at is None for i in investigations) else FAILS
    return PASSES if all(r.status == "reviewed" for r in valid) else AWAITING_REVIEW


def subject_tests(specification: Specification, subject_type: str, subject_ref: str) -> list[TestStatus]:
    """Each criterion of `specification` with its state for the subject, from every sample of it."""
    results = (TestResult.objects.filter(sample__subject_type=subject_type, sample__subject_ref=subject_ref,
                                         test__specification=specification)
               .select_related("sample", "analyst", "reviewed_by", "instrument", "investigation")
               .order_by("entered_at", "id"))
    by_test: dict[int, list[TestResult]] = {}
    for result in results:
        by_test.setdefault(result.test_id, []).append(result)
    statuses = []
    for test in specification.tests.select_related("method").order_by("position"):
        attempts = by_test.get(test.pk, [])
        valid = [r for r in attempts if r.status != "invalidated"]
        statuses.append(TestStatus(test, _state(valid), valid[-1] if valid else None, attempts))
    return statuses

# ===== end shared =====

# ===== methods and specifications =====
# ===== end methods and specifications =====

# ===== samples and results =====
# ===== end samples and results =====

# ===== OOS investigations =====
# ===== end OOS investigations =====

# ===== stability =====
# ===== end stability =====
