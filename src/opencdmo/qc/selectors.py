"""The QC laboratory's reads, always scoped to the sponsors the user may see."""

import datetime as dt
from dataclasses import dataclass, field

from django.db.models import Case, Count, Exists, F, IntegerField, OuterRef, Q, Subquery, When
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.utils import timezone

from opencdmo.core import charts, clock
from opencdmo.core.access import require_to_see
from opencdmo.core.errors import NotFound
from opencdmo.core.scoping import get_scoped, scoped
from opencdmo.core.tasks import Task
from opencdmo.documents import selectors as documents_selectors
from opencdmo.facilities import selectors as facilities_selectors
from opencdmo.facilities.models import Equipment

from . import models, workflows
from .domain import criteria, oos, stability
from .models import Sample, Specification, SpecificationTest, TestResult
from .workflows import SPECIFICATION_STATES, specification_workflow

# --- Shared: what a disposition reads ---

MISSING, AWAITING_REVIEW, PASSES, FAILS, INVESTIGATING = (
    "missing", "awaiting_review", "passes", "fails", "investigating")
TEST_STATE_LABELS = {MISSING: "No result yet", AWAITING_REVIEW: "Awaiting review", PASSES: "Within specification",
                     FAILS: "Out of specification", INVESTIGATING: "OOS under investigation"}


@dataclass
class TestStatus:
    """Where one criterion of a specification stands for one subject (a batch, a lot)."""

    test: SpecificationTest
    state: str
    result: TestResult | None = None  # the reportable result: a failing one not invalidated, else the latest
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
    return criteria.describe(criterion_of(test), test.unit or test.method.unit, test.method.result_kind)


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
        failing = [r for r in valid if r.conformance == TestResult.Conformance.DOES_NOT_CONFORM]
        shown = failing[0] if failing else (valid[-1] if valid else None)  # a retest never hides the original
        statuses.append(TestStatus(test, _state(valid), shown, attempts))
    return statuses


# --- Methods and specifications ---


ROUNDING_TEXT = {
    "half_up": "Rounded half up to the reported decimals before comparison (0.05 → 0.1)",
    "half_even": "Rounded half to even to the reported decimals before comparison (0.05 → 0.0, 0.15 → 0.2)",
    "none": "Not rounded: the value as entered is compared",
}
SPEC_COLUMNS = [("Number", "number"), ("Code", "code"), ("Revision", "revision"), ("Title", "title"),
                ("Stage", "stage"), ("Product or material", "subject"), ("Sponsor", "sponsor"), ("Status", "status"),
                ("Effective", "effective_at")]
SPEC_ORDER = {"number": ("number",), "code": ("code", "-revision"), "revision": ("revision", "code"),
              "title": ("title", "code"), "stage": ("stage", "code"),
              "subject": ("product__code", "material__code", "code"), "sponsor": ("sponsor__code", "code"),
              "status": ("status", "code"), "effective_at": ("effective_at", "code")}
METHOD_COLUMNS = [("Code", "code"), ("Name", "name"), ("Reports", "result_kind"), ("Unit", "unit"),
                  ("Turnaround (days)", "turnaround_days"), ("SOP", "sop"), ("In use", "is_active")]
METHOD_ORDER = {"code": ("code",), "name": ("name", "code"), "result_kind": ("result_kind", "code"),
                "unit": ("unit", "code"), "turnaround_days": ("turnaround_days", "code"),
                "sop": ("sop__number", "code"), "is_active": ("is_active", "code")}


def _spec_sorted(queryset, sort: str, order: dict, default: str):
    sort = sort if sort.lstrip("-") in order else default
    fields = order[sort.lstrip("-")]
    if sort.startswith("-"):
        fields = [f[1:] if f.startswith("-") else f"-{f}" for f in fields]
    return queryset.order_by(*fields), sort


def methods_for(user, *, text: str = "", result_kind: str = "", active: str = "", sort: str = ""):
    """The laboratory's test methods (CDMO master data, the same for every sponsor), filtered and sorted."""
    queryset = scoped(models.TestMethod, user).select_related("sop")
    if text.strip():
        queryset = queryset.filter(Q(code__icontains=text.strip()) | Q(name__icontains=text.strip()))
    if result_kind:
        queryset = queryset.filter(result_kind=result_kind)
    if active in ("yes", "no"):
        queryset = queryset.filter(is_active=active == "yes")
    return _spec_sorted(queryset, sort, METHOD_ORDER, "code")[0]


def active_methods():
    return models.TestMethod.objects.filter(is_active=True).order_by("code")


def method(user, code: str) -> models.TestMethod:
    found = scoped(models.TestMethod, user).select_related("sop").filter(
        code__iexact=str(code).strip()).first()
    if found is None:
        raise NotFound(f"No test method has the code {str(code)[:32]}.")
    return found


def sop_state(method_: models.TestMethod) -> dict:
    """The method's SOP and whether a version of it is effective now (a result needs it effective)."""
    if method_.sop is None:
        return {"document": None, "version": None, "effective": False,
                "text": "No SOP linked: link the SOP the analyst follows."}
    version = documents_selectors.effective_version(method_.sop)
    if version is None:
        return {"document": method_.sop, "version": None, "effective": False,
                "text": f"{method_.sop.number} has no effective version."}
    return {"document": method_.sop, "version": version, "effective": True,
            "text": f"{method_.sop.number} effective ({version.number})"}


def specifications_using(user, method_: models.TestMethod):
    """Specifications (of this user's sponsors) that judge results by the method."""
    return (scoped(models.Specification, user).filter(tests__method=method_).distinct()
            .select_related("product", "material", "sponsor").order_by("code", "-revision"))


def specifications_for(user, *, stage: str = "", status: str = "", text: str = "", sponsor: str = "",
                       sort: str = ""):
    """Specifications of the sponsors this user may see (and the CDMO's own, for its staff)."""
    queryset = scoped(models.Specification, user).select_related("product", "material", "sponsor")
    if stage:
        queryset = queryset.filter(stage=stage)
    if status:
        queryset = queryset.filter(status=status)
    if sponsor:
        queryset = queryset.filter(sponsor__code__iexact=sponsor.strip())
    if text.strip():
        text = text.strip()
        queryset = queryset.filter(Q(number__icontains=text) | Q(code__icontains=text)
                                   | Q(title__icontains=text) | Q(product__code__icontains=text)
                                   | Q(material__code__icontains=text))
    return _spec_sorted(queryset, sort, SPEC_ORDER, "code")[0]


def specification(user, number: str) -> models.Specification:
    return get_scoped(
        models.Specification.objects.select_related("product", "material", "sponsor", "created_by",
                                                          "change_control", "supersedes"),
        user, number=str(number).strip())


def revisions_of(user, code: str):
    """Every revision of a specification code, newest first."""
    return (scoped(models.Specification, user).filter(code=code)
            .select_related("change_control", "created_by").order_by("-revision"))


def draft_revision(spec: models.Specification):
    return models.Specification.objects.filter(code=spec.code, status="draft").first()


def specification_criteria(spec: models.Specification) -> list:
    """The criteria in order, each with `limit` as pages and certificates print it."""
    tests = list(spec.tests.select_related("method", "specification").order_by("position"))
    for test in tests:
        test.limit = limit_text(test)
    return tests


def rounding_text(rounding: str) -> str:
    return ROUNDING_TEXT.get(rounding, rounding)


def specification_label(status: str) -> str:
    return specification_workflow.label(status)


SPECIFICATION_STATE_LABELS = SPECIFICATION_STATES
SPEC_TASKS_PER_KIND = 50


def specification_tasks(user) -> list:
    """My tasks: draft specifications to approve (not my own: segregation of duties)."""


    if not user.has_permission("qc.approve_specifications"):
        return []
    drafts = (scoped(models.Specification, user).filter(status="draft").exclude(created_by=user)
              .order_by("created_at")[:SPEC_TASKS_PER_KIND])
    return [Task(title="Approve the specification", record=f"{s.number} {s.code} rev. {s.revision}",
                 url=reverse("qc:specification", args=[s.number]), status=s.status,
                 status_label=specification_workflow.label(s.status), detail=s.title) for s in drafts]

# --- Samples and results ---


IN_LAB = ("received", "in_testing")  # samples on the bench: received and not complete


def _ordered_count():
    through = Sample.tests.through
    return Coalesce(Subquery(through.objects.filter(sample_id=OuterRef("pk")).order_by()
                               .values("sample_id").annotate(n=Count("pk")).values("n")[:1],
                               output_field=IntegerField()), 0)


def _done_count():
    through = Sample.tests.through
    valid = TestResult.objects.filter(sample_id=OuterRef("sample_id"), test_id=OuterRef("specificationtest_id")
                                      ).exclude(status="invalidated")

    return Coalesce(Subquery(through.objects.filter(sample_id=OuterRef("pk")).filter(Exists(valid)).order_by()
                               .values("sample_id").annotate(n=Count("pk")).values("n")[:1],
                               output_field=IntegerField()), 0)


def _sample_filters(queryset, *, sponsor: str = "", text: str = "", status: str = ""):
    if sponsor:
        queryset = queryset.filter(sponsor__code=sponsor)
    if status:
        queryset = queryset.filter(status=status)
    text = (text or "").strip()[:100]
    if text:
        queryset = queryset.filter(Q(number__icontains=text) | Q(subject_ref__icontains=text)
                                   | Q(subject_label__icontains=text) | Q(description__icontains=text))
    return queryset


def samples_for(user, *, sponsor: str = "", text: str = "", status: str = "", subject_type: str = "",
                subject_ref: str = ""):
    queryset = scoped(Sample.objects.select_related("sponsor", "product", "specification"), user)
    if subject_type:
        queryset = queryset.filter(subject_type=subject_type)
    if subject_ref:
        queryset = queryset.filter(subject_ref=subject_ref)
    return _sample_filters(queryset, sponsor=sponsor, text=text, status=status)


def worklist(user, *, kind: str = "due", sponsor: str = "", text: str = ""):
    """The analyst's bench. "due": samples received and not complete, most overdue first, with
    how many ordered criteria are left (counted in SQL); "review": results awaiting review, the
    user's own left out. Paginate the queryset (50 a page) and call `worklist_details` on a page."""
    if kind == "review":
        results = scoped(TestResult.objects.select_related("sample__sponsor", "test__method", "analyst",
                                                            "instrument"), user).filter(status="entered")
        results = results.exclude(analyst=user)
        if sponsor:
            results = results.filter(sample__sponsor__code=sponsor)
        text = (text or "").strip()[:100]
        if text:
            results = results.filter(Q(number__icontains=text) | Q(sample__number__icontains=text)
                                     | Q(sample__subject_ref__icontains=text) | Q(test__attribute__icontains=text))
        return results.order_by("entered_at", "id")
    samples = scoped(Sample.objects.select_related("sponsor", "product", "specification"), user).filter(
        status__in=IN_LAB, retained=False)
    samples = _sample_filters(samples, sponsor=sponsor, text=text)
    return (samples.annotate(ordered_count=_ordered_count(), done_count=_done_count())
            .order_by(F("due_at").asc(nulls_last=True), "id"))


def worklist_details(samples) -> list:
    """For one page of the due worklist: what is left to test on each sample and whether it is overdue."""
    rows = list(samples)
    now = clock.now()
    ids = [s.pk for s in rows]
    through = Sample.tests.through
    ordered: dict[int, list] = {}
    for link in through.objects.filter(sample_id__in=ids).select_related("specificationtest").order_by(
            "specificationtest__position"):
        ordered.setdefault(link.sample_id, []).append(link.specificationtest)
    done = set(TestResult.objects.filter(sample_id__in=ids).exclude(status="invalidated")
               .values_list("sample_id", "test_id"))
    for sample in rows:
        sample.left = [t for t in ordered.get(sample.pk, []) if (sample.pk, t.pk) not in done]
        sample.overdue = sample.due_at is not None and sample.due_at < now
        sample.status_label = workflows.sample_workflow.label(sample.status)
    return rows


def sample(user, number: str) -> "Sample":
    return get_scoped(Sample.objects.select_related(
        "sponsor", "product", "specification", "parent", "taken_by", "received_by", "created_by"), user,
        number=number)


def results_of(sample_) -> list:
    """Every result of the sample, every attempt, invalidated ones too, in criterion order."""
    return list(sample_.results.select_related("test__method", "analyst", "reviewed_by", "instrument",
                                               "invalidated_by", "retest_of", "investigation")
                .order_by("test__position", "attempt", "id"))


def result(user, number: str) -> "TestResult":
    return get_scoped(TestResult.objects.select_related(
        "sample__sponsor", "sample__product", "test__method", "test__specification", "analyst", "reviewed_by",
        "instrument", "invalidated_by", "retest_of"), user, number=number)


@dataclass
class CriterionRow:
    """One ordered criterion of a sample with every attempt (for the sample page)."""

    test: SpecificationTest
    limit: str
    results: list = field(default_factory=list)

    @property
    def valid(self):
        return [r for r in self.results if r.status != "invalidated"]


def criteria_of(sample_) -> list[CriterionRow]:
    tests = list(sample_.tests.select_related("method", "specification").order_by("position"))
    rows = {t.pk: CriterionRow(t, limit_text(t)) for t in tests}
    for r in results_of(sample_):
        if r.test_id not in rows:
            rows[r.test_id] = CriterionRow(r.test, limit_text(r.test))
        rows[r.test_id].results.append(r)
    return list(rows.values())


def usable_instruments(method) -> list:
    """The instruments of the method's kinds that may be used now (calibration interlock)."""
    kinds = list(method.instrument_kinds or [])
    if not kinds:
        return []

    candidates = Equipment.objects.filter(kind__in=kinds).exclude(status__in=("retired", "commissioning"))
    return [e for e in candidates.order_by("number") if facilities_selectors.equipment_usability(e).usable]


def qc_sample_tasks(user) -> list:
    """My tasks: samples to receive or test, results to review, invalidations to approve."""
    found = []
    if user.has_permission("qc.enter_results") or user.has_permission("qc.handle_samples"):
        waiting = scoped(Sample.objects.all(), user).filter(status__in=("registered", *IN_LAB),
                                                               retained=False).order_by(
            F("due_at").asc(nulls_last=True), "id")[:50]
        found += [Task("Receive the sample" if s.status == "registered" else "Test the sample", s.number,
                        reverse("qc:sample", args=[s.number]), s.status,
                        workflows.sample_workflow.label(s.status),
                        f"{s.subject_ref}: {s.description}" + (f", due {s.due_at:%Y-%m-%d}" if s.due_at else ""))
                  for s in waiting]
    if user.has_permission("qc.review_results"):
        to_review = scoped(TestResult.objects.select_related("sample", "test"), user).filter(
            status="entered").exclude(analyst=user).order_by("entered_at", "id")[:50]
        found += [Task("Review the result", r.number, reverse("qc:result", args=[r.number]), r.status,
                        "Awaiting review", f"{r.sample.number} {r.test.attribute}: {r.reported}") for r in to_review]
    if user.has_permission("qc.approve_invalidation"):
        asked = scoped(TestResult.objects.select_related("sample", "test"), user).filter(
            status="invalidation_requested").order_by("modified_at", "id")[:50]
        found += [Task("Approve or decline the invalidation", r.number, reverse("qc:result", args=[r.number]),
                        r.status, "Invalidation requested", r.invalidation_reason[:120]) for r in asked]
    return found

# --- OOS investigations ---


OOS_OPEN_STATES = ("phase_1", "phase_2")


OOS_TASKS_PER_KIND = 50


def _oos_queryset():
    return models.OosInvestigation.objects.select_related(
        "result", "result__sample", "result__test", "result__test__method", "result__analyst", "sponsor",
        "opened_by", "deviation")


OOS_SORTS = {"number": "number", "attribute": "result__test__attribute", "sample": "result__sample__number",
             "sponsor": "sponsor__code", "opened": "opened_at", "status": "status"}
OOS_COLUMNS = [("Investigation", "number"), ("Result", "attribute"), ("Sample and subject", "sample"), ("Sponsor", "sponsor"), ("Opened", "opened"), ("Status", "status")]


def investigations_for(user, *, status: str = "", sponsor: str = "", text: str = "", sort: str = ""):
    """The OOS investigations the user may see: open ones first, then closed ones, newest first. `status` is a state or "open"; `text` matches numbers, the attribute, the
    sample and what it tests."""
    require_to_see(user, "qc.view")
    found = scoped(_oos_queryset(), user)
    if status == "open":
        found = found.filter(status__in=OOS_OPEN_STATES)
    elif status:
        found = found.filter(status=status)
    if sponsor:
        found = found.filter(sponsor__code=sponsor)
    if text := text.strip()[:100]:
        found = found.filter(Q(number__icontains=text)
                             | Q(result__sample__number__icontains=text)
                             | Q(result__sample__subject_ref__icontains=text)
                             | Q(result__sample__subject_label__icontains=text)
                             | Q(result__test__attribute__icontains=text))
    key = sort.lstrip("-")
    if key in OOS_SORTS:
        return found.order_by(f"{'-' if sort.startswith('-') else ''}{OOS_SORTS[key]}", "-id")
    still_open = Case(When(status__in=OOS_OPEN_STATES, then=0), default=1)
    return found.annotate(still_open=still_open).order_by("still_open", "-opened_at", "-id")


def investigation(user, number: str):
    """One investigation by its number (NotFound outside the user's sponsors)."""
    require_to_see(user, "qc.view")
    return get_scoped(_oos_queryset(), user, number=number)


@dataclass
class OosTimelineEntry:
    """One result of an investigation: the original or a retest, as entered, never hidden."""

    result: TestResult
    is_original: bool
    limit: str

    @property
    def invalidated(self) -> bool:
        return self.result.status == "invalidated"

    @property
    def status_label(self) -> str:
        from .workflows import result_workflow  # noqa: PLC0415

        return result_workflow.label(self.result.status)


def investigation_results(investigation) -> list[OosTimelineEntry]:
    """The original result and every retest of it (retests of retests too, invalidated ones
    too), in the order they were entered."""
    original = investigation.result
    found, frontier = [], [original.pk]
    while frontier:
        level = list(TestResult.objects.filter(retest_of_id__in=frontier)
                     .select_related("analyst", "sample", "test", "test__method", "test__specification",
                                     "instrument", "invalidated_by"))
        found.extend(level)
        frontier = [r.pk for r in level]
    found.sort(key=lambda r: (r.entered_at, r.pk))
    limit = limit_text(original.test)
    return [OosTimelineEntry(original, True, limit)] + [OosTimelineEntry(r, False, limit) for r in found]


@dataclass
class OosTimelineEvent:
    at: object
    title: str
    detail: str = ""
    record: str = ""
    url: str = ""


def investigation_timeline(investigation) -> list[OosTimelineEvent]:
    """What happened, in order: the OOS result, the investigation's phases, every retest, the deviation."""
    original = investigation.result
    events = [
        OosTimelineEvent(original.entered_at, "Out-of-specification result entered",
                         f"{original.reported} {original.unit} by {original.analyst.full_name}".strip(), original.number),
        OosTimelineEvent(investigation.opened_at, "Phase I laboratory investigation opened",
                         f"by {investigation.opened_by.full_name}", investigation.number),
    ]
    if investigation.phase_one_closed_at:
        events.append(OosTimelineEvent(
            investigation.phase_one_closed_at,
            "Laboratory error: result invalidated" if investigation.status == "closed" and investigation.deviation_id
            is None and investigation.conclusion == "laboratory_error" else "Escalated to Phase II",
            investigation.assignable_cause[:200]))
    if investigation.deviation_id:
        events.append(OosTimelineEvent(
            investigation.deviation.created_at, "Deviation raised", investigation.deviation.title,
            investigation.deviation.number, reverse("quality:deviation", args=[investigation.deviation.number])))
    for entry in investigation_results(investigation)[1:]:
        r = entry.result
        events.append(OosTimelineEvent(
            r.entered_at, f"Retest {r.attempt} entered",
            f"{r.reported} {r.unit} ({r.get_conformance_display()}) by {r.analyst.full_name}".strip(), r.number))
    if investigation.closed_at and investigation.phase_one_closed_at != investigation.closed_at:
        events.append(OosTimelineEvent(investigation.closed_at, "Investigation closed",
                                       investigation.get_conclusion_display()))
    events.sort(key=lambda e: e.at)
    return events


def checklist_rows(investigation) -> list[dict]:
    """The Phase I checklist with each item's label, answer and note, in checklist order."""
    answers = {e.get("item"): e for e in investigation.checklist or []}
    return [{"item": item.key, "label": item.label, "answer": answers.get(item.key, {}).get("answer", ""),
             "note": answers.get(item.key, {}).get("note", "")} for item in oos.PHASE_ONE_CHECKLIST]


def _oos_task(inv, title: str, detail: str) -> Task:
    from .workflows import oos_workflow  # noqa: PLC0415

    return Task(title, f"{inv.number} {inv.result.test.attribute}",
                    reverse("qc:investigation", args=[inv.number]), inv.status,
                    oos_workflow.label(inv.status), detail)


def oos_tasks(user) -> list:
    """OOS-1: Phase I investigations to work on, laboratory errors for QA to approve, Phase II
    investigations to document and to close."""
    if not user.has_permission("qc.view"):
        return []
    tasks = []
    mine = scoped(_oos_queryset(), user).order_by("opened_at", "id")
    if user.has_permission("qc.investigate_oos"):
        phase_one = [i for i in mine.filter(status="phase_1")[:OOS_TASKS_PER_KIND * 2]
                     if not i.assignable_cause.strip() or oos.unanswered(i.checklist)]
        tasks += [_oos_task(i, "Investigate OOS (Phase I)", f"{i.result.number} on {i.result.sample.subject_label}")
                  for i in phase_one[:OOS_TASKS_PER_KIND]]
        tasks += [_oos_task(i, "Complete the Phase II investigation", f"{i.result.sample.subject_label}")
                  for i in mine.filter(status="phase_2").filter(
                      Q(production_review="") | Q(batch_impact=""))[:OOS_TASKS_PER_KIND]]
    if user.has_permission("qc.approve_invalidation"):
        waiting = mine.filter(status="phase_1").exclude(assignable_cause="").exclude(result__analyst=user)
        tasks += [_oos_task(i, "Approve invalidation (laboratory error)", i.assignable_cause[:120])
                  for i in waiting[:OOS_TASKS_PER_KIND] if not oos.unanswered(i.checklist)]
    if user.has_permission("qc.close_oos"):
        ready = (mine.filter(status="phase_2").exclude(production_review="").exclude(batch_impact="")
                 .exclude(result__analyst=user))
        tasks += [_oos_task(i, "Close OOS investigation", f"{i.result.sample.subject_label}")
                  for i in ready[:OOS_TASKS_PER_KIND]]
    return tasks

# --- Stability ---


STABILITY_SORTS = {"number": "number", "title": "title", "sponsor": "sponsor__code", "product": "product__code",
                   "subject": "subject_ref", "start": "start_date", "status": "status"}
PULL_STATES = {"overdue": "Overdue: window closed", "due": "Due: window open", "upcoming": "Upcoming",
               "on_time": "Pulled on time", "late": "Pulled late"}


def studies_for(user, *, status: str = "", sponsor: str = "", product: str = "", text: str = "",
                sort: str = "-number"):
    """The stability studies of the user's sponsors, filtered and sorted."""
    require_to_see(user, "qc.view")
    queryset = scoped(models.StabilityStudy.objects.select_related(
        "sponsor", "product", "specification"), user)
    if status:
        queryset = queryset.filter(status=status)
    if sponsor:
        queryset = queryset.filter(sponsor__code=sponsor)
    if product:
        queryset = queryset.filter(product__code=product)
    if text := text.strip():
        queryset = queryset.filter(Q(number__icontains=text) | Q(title__icontains=text)
                                   | Q(subject_ref__icontains=text))
    field = STABILITY_SORTS.get(sort.lstrip("-"), "number")
    return queryset.order_by(f"-{field}" if sort.startswith("-") else field, "-id")


def study(user, number: str) -> models.StabilityStudy:
    require_to_see(user, "qc.view")
    return get_scoped(models.StabilityStudy.objects.select_related(
        "sponsor", "product", "specification", "created_by"), user, number=str(number).strip())


def stability_pull(user, pk) -> models.StabilityPull:
    require_to_see(user, "qc.view")
    if not isinstance(pk, int) or not 0 < pk < 2**31:
        pk = None  # beyond any row the database holds: not found, never an overflow
    return get_scoped(models.StabilityPull.objects.select_related("study"), user, pk=pk)


def stability_specifications(user):
    """Approved stability specifications the user may choose for a new study."""
    return (scoped(models.Specification, user)
            .filter(status="approved", stage=models.Stage.STABILITY, product__isnull=False)
            .select_related("product").order_by("code"))


@dataclass
class PullRow:
    """One pull with its window and where it stands today."""

    pull: models.StabilityPull
    opens: dt.date
    closes: dt.date
    state: str

    @property
    def state_label(self) -> str:
        return PULL_STATES[self.state]

    @property
    def badge(self) -> str:
        """The badge class of the state: late and overdue in red, on time in green."""
        return {"on_time": "valid", "late": "overdue", "upcoming": "draft"}.get(self.state, self.state)

    @property
    def overdue(self) -> bool:
        return self.state == "overdue"

    @property
    def may_pull(self) -> bool:
        return self.state in ("due", "overdue")


def pull_row(pull, today: dt.date) -> PullRow:
    opens, closes = stability.window(pull.due_date, pull.study.window_days)
    if pull.pulled_at is not None:
        pulled = _local_date(pull.pulled_at)
        state = "on_time" if stability.on_time(pull.due_date, pulled, pull.study.window_days) else "late"
    else:
        state = "overdue" if today > closes else "due" if today >= opens else "upcoming"
    return PullRow(pull, opens, closes, state)


def _local_date(moment) -> dt.date:

    return timezone.localdate(moment)


def pulls_of(study) -> list[PullRow]:
    """A study's pull schedule, by due date, with each pull's state today."""
    today = clock.site_today()
    pulls = study.pulls.select_related("study", "sample", "pulled_by").order_by("due_date", "id")
    return [pull_row(p, today) for p in pulls]


def pulls_due(user, *, until: dt.date, sponsor: str = "") -> list[PullRow]:
    """Pulls of active studies not yet pulled and due by `until` (overdue ones included and
    flagged), of the user's sponsors only, by due date: the stability coordinator's list."""
    require_to_see(user, "qc.view")
    today = clock.site_today()
    pulls = (scoped(models.StabilityPull.objects.select_related(
        "study__sponsor", "study__product"), user)
        .filter(pulled_at__isnull=True, study__status="active", due_date__lte=until))
    if sponsor:
        pulls = pulls.filter(study__sponsor__code=sponsor)
    return [pull_row(p, today) for p in pulls.order_by("due_date", "study__number", "id")]


@dataclass
class TimePointCell:
    result: TestResult | None
    results: list[TestResult] = field(default_factory=list)  # every attempt, invalidated ones too

    @property
    def text(self) -> str:
        if self.result is None:
            return ""
        unit = f" {self.result.unit}" if self.result.unit else ""
        return f"{self.result.reported}{unit}"


@dataclass
class AttributeRow:
    test: SpecificationTest
    limit: str
    cells: list[TimePointCell]


def time_point_columns(study) -> list[tuple[str, int]]:
    """(condition, months) of every pull, in the protocol's order of conditions and months."""
    return [(c, m) for c in study.conditions for m in study.time_points]


def _study_results(study) -> dict[tuple[str, int, int], list[TestResult]]:
    """The results on the pull samples of a study, by (condition, months, test id), oldest first."""
    pulls = {p.sample_id: (p.condition, p.months) for p in study.pulls.exclude(sample__isnull=True)}
    found: dict[tuple[str, int, int], list[TestResult]] = {}
    results = (TestResult.objects.filter(sample_id__in=pulls, test__specification_id=study.specification_id)
               .select_related("test").order_by("entered_at", "id"))
    for result in results:
        condition, months = pulls[result.sample_id]
        found.setdefault((condition, months, result.test_id), []).append(result)
    return found


def _reportable(attempts: list[TestResult]) -> TestResult | None:
    valid = [r for r in attempts if r.status != "invalidated"]
    return valid[-1] if valid else None


def results_by_time_point(study) -> tuple[list[tuple[str, int]], list[AttributeRow]]:
    """The study's results as a table: a row per attribute of the specification, a column per
    (condition, months), each cell the reportable result (the latest not invalidated)."""
    columns = time_point_columns(study)
    found = _study_results(study)
    rows = []
    for test in study.specification.tests.select_related("method", "specification").order_by("position"):
        cells = []
        for condition, months in columns:
            attempts = found.get((condition, months, test.pk), [])
            cells.append(TimePointCell(_reportable(attempts), attempts))
        rows.append(AttributeRow(test, limit_text(test), cells))
    return columns, rows


STABILITY_COLOURS = ["#0072b2", "#d55e00", "#009e73", "#cc79a7", "#e69f00", "#56b4e9"]  # Okabe–Ito
LIMIT_COLOUR = "#b00020"


def _limit_lines(test: SpecificationTest) -> list[tuple[str, float]]:
    lower = [test.lower] if test.criterion in ("at_least", "more_than", "range") and test.lower is not None else []
    upper = [test.upper] if test.criterion in ("at_most", "less_than", "range") and test.upper is not None else []
    unit = f" {test.unit or test.method.unit}".rstrip()
    return ([(f"Lower limit {v.normalize():f}{unit}", float(v)) for v in lower]
            + [(f"Upper limit {v.normalize():f}{unit}", float(v)) for v in upper])


def trend_chart(study, test: SpecificationTest) -> str:
    """The attribute's reportable results over months, one series per storage condition, with
    the specification's limit line(s); '' for an attribute that is not a number."""
    from matplotlib.figure import Figure  # noqa: PLC0415


    if test.method.result_kind != models.ResultKind.NUMERIC:
        return ""
    found = _study_results(study)
    unit = test.unit or test.method.unit
    with charts.style(f"stability-{study.number}-{test.pk}"):
        fig = Figure(figsize=(6.5, 2.8))
        ax = fig.add_subplot()
        for index, condition in enumerate(study.conditions):
            points = [(months, float(r.numeric_value)) for months in study.time_points
                      if (r := _reportable(found.get((condition, months, test.pk), []))) is not None
                      and r.numeric_value is not None]
            if points:
                ax.plot([m for m, _ in points], [v for _, v in points], marker="o", label=condition,
                        color=STABILITY_COLOURS[index % len(STABILITY_COLOURS)])
        for label, value in _limit_lines(test):
            ax.axhline(value, color=LIMIT_COLOUR, linestyle="--", linewidth=1)
            ax.annotate(label, xy=(1, value), xycoords=("axes fraction", "data"), xytext=(-4, 3),
                        textcoords="offset points", ha="right", fontsize=7, color=LIMIT_COLOUR)
        ax.set_xlim(min(study.time_points) - 0.5, max(study.time_points) + 0.5)
        ax.set_xticks(study.time_points)
        ax.set_xlabel("Months on study")
        ax.set_ylabel(f"{test.attribute} ({unit})" if unit else test.attribute)
        ax.set_title(f"{test.attribute}: {limit_text(test)}")
        ax.spines[["top", "right"]].set_visible(False)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(title="Condition", fontsize=7, title_fontsize=7, frameon=False)
        fig.tight_layout()
        return charts.svg_text(fig)


def stability_pull_tasks(user) -> list[Task]:
    """Pulls due within the next 30 days, and overdue ones, for whoever pulls stability samples."""
    if not user.has_permission("qc.pull_stability") or not user.has_permission("qc.view"):
        return []
    until = clock.site_today() + dt.timedelta(days=30)
    return [Task(
        title="Pull stability sample", record=row.pull.study.number,
        url=reverse("qc:stability_study", args=[row.pull.study.number]) + f"#pull-{row.pull.pk}",
        status="overdue" if row.overdue else row.state, status_label=row.state_label,
        detail=f"{row.pull.condition} · {row.pull.months} m · due {row.pull.due_date:%Y-%m-%d}")
        for row in pulls_due(user, until=until)[:50]]
