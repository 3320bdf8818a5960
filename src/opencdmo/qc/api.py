"""The QC laboratory over HTTP. Thin: selectors and services do the work."""

import datetime as dt
from decimal import Decimal
from typing import Annotated, Literal

from ninja import Field, Query, Router, Schema, Status
from ninja.pagination import paginate

from opencdmo.core import clock
from opencdmo.core.access import require, require_to_see
from opencdmo.core.api import Pagination
from opencdmo.core.errors import NotFound, RuleViolation
from opencdmo.core.scoping import get_scoped
from opencdmo.core.signatures import SignatureInput
from opencdmo.facilities.models import Equipment
from opencdmo.sponsors import selectors as sponsor_selectors

from . import models, selectors, services, workflows
from .domain import oos, stability
from .workflows import oos_workflow, specification_workflow

router = Router(tags=["QC laboratory"])

# --- Methods and specifications ---


class MethodOut(Schema):
    code: str
    name: str
    result_kind: str
    unit: str
    decimals: int | None
    choices: list[str]
    instrument_kinds: list[str]
    sop: str | None = Field(None, alias="sop.number")
    turnaround_days: int
    is_active: bool


class MethodIn(Schema):
    code: str = Field(max_length=32)
    name: str = Field(max_length=200)
    result_kind: Literal["numeric", "text", "choice", "pass_fail", "detection", "growth"]
    unit: str = Field("", max_length=32)
    decimals: int | None = Field(None, ge=0, le=6)
    choices: list[str] = Field([], max_length=30)
    instrument_kinds: list[str] = Field([], max_length=20)
    sop: str = Field("", max_length=32, description="the SOP's document number")
    turnaround_days: int = Field(1, ge=0, le=365)


class MethodFilter(Schema):
    q: str = Field("", max_length=100)
    result_kind: str = Field("", max_length=16)
    active: Literal["", "yes", "no"] = ""


class CriterionOut(Schema):
    position: int
    attribute: str
    method: str = Field(alias="method.code")
    criterion: str
    lower: Decimal | None
    upper: Decimal | None
    expected: str
    unit: str
    decimals: int | None
    may_be_pending_at_release: bool
    limit: str

    @staticmethod
    def resolve_limit(obj):
        return selectors.limit_text(obj)


class CriterionIn(Schema):
    attribute: str = Field(max_length=200)
    method: str = Field(max_length=32, description="the method's code")
    criterion: Literal["at_least", "at_most", "more_than", "less_than", "range", "equals", "not_detected",
                            "report_only"]
    lower: Decimal | None = Field(None, max_digits=30, decimal_places=10)
    upper: Decimal | None = Field(None, max_digits=30, decimal_places=10)
    expected: str = Field("", max_length=200)
    unit: str = Field("", max_length=32)
    decimals: int | None = Field(None, ge=0, le=6)
    may_be_pending_at_release: bool = False


class SpecificationOut(Schema):
    number: str
    code: str
    revision: int
    title: str
    stage: str
    sponsor: str | None = Field(None, alias="sponsor.code")
    product: str | None = Field(None, alias="product.code")
    material: str | None = Field(None, alias="material.code")
    rounding: str
    status: str
    status_label: str
    supersedes: str | None = Field(None, alias="supersedes.number")
    change_control: str | None = Field(None, alias="change_control.number")
    effective_at: dt.datetime | None
    version: int
    created_at: dt.datetime

    @staticmethod
    def resolve_status_label(obj):
        return specification_workflow.label(obj.status)


class SpecificationDetailOut(SpecificationOut):
    criteria: list[CriterionOut]

    @staticmethod
    def resolve_criteria(obj):
        return list(obj.tests.select_related("method", "specification").order_by("position"))


class SpecificationIn(Schema):
    code: str = Field(max_length=64)
    title: str = Field(max_length=200)
    stage: Literal["incoming", "in_process", "release", "stability"]
    product: str = Field("", max_length=32, description="the product's code (in-process, release, stability)")
    material: str = Field("", max_length=32, description="the material's code (incoming)")
    rounding: Literal["half_up", "half_even", "none"] = "half_up"
    criteria: list[CriterionIn] = Field([], max_length=60)


class SpecificationFilter(Schema):
    q: str = Field("", max_length=100)
    stage: str = Field("", max_length=16)
    status: str = Field("", max_length=16)
    sponsor: str = Field("", max_length=64)


class ReviseIn(Schema):
    change_control: str = Field(max_length=32, description="the approved change control's number (CC-…)")
    reason: str = Field(max_length=2000)


class SpecificationActionIn(Schema):
    username: str = Field("", max_length=64, description="your user ID: every API signature re-enters both")
    password: str = Field("", max_length=200)
    comment: str = Field("", max_length=2000)
    reason: str = Field("", max_length=2000, description="required to retire")


@router.get("/qc/methods", response=list[MethodOut], summary="The laboratory's test methods")
@paginate(Pagination)
def qc_methods(request, filters: Query[MethodFilter]):
    require_to_see(request.user, "qc.view")
    return selectors.methods_for(request.user, text=filters.q, result_kind=filters.result_kind,
                                       active=filters.active)


@router.post("/qc/methods", response={201: MethodOut}, summary="Add a test method")
def qc_create_method(request, payload: MethodIn):
    return Status(201, services.create_method(
        request.user, code=payload.code, name=payload.name, result_kind=payload.result_kind, unit=payload.unit,
        decimals=payload.decimals, choices=payload.choices, instrument_kinds=payload.instrument_kinds,
        sop=payload.sop or None, turnaround_days=payload.turnaround_days))


@router.get("/qc/methods/{code}", response=MethodOut, summary="A test method")
def qc_method(request, code: str):
    require_to_see(request.user, "qc.view")
    return selectors.method(request.user, code)


@router.get("/qc/specifications", response=list[SpecificationOut],
            summary="Specifications of your sponsors (and the CDMO's own), filtered")
@paginate(Pagination)
def qc_specifications(request, filters: Query[SpecificationFilter]):
    require_to_see(request.user, "qc.view")
    return selectors.specifications_for(request.user, stage=filters.stage, status=filters.status,
                                              text=filters.q, sponsor=filters.sponsor)


@router.post("/qc/specifications", response={201: SpecificationDetailOut},
             summary="Draft a specification (revision 1) with its acceptance criteria")
def qc_create_specification(request, payload: SpecificationIn):
    spec = services.create_specification(
        request.user, code=payload.code, title=payload.title, stage=payload.stage,
        product=payload.product or None, material=payload.material or None, rounding=payload.rounding,
        tests=[c.dict() for c in payload.criteria])
    return Status(201, selectors.specification(request.user, spec.number))


@router.get("/qc/specifications/{number}", response=SpecificationDetailOut,
            summary="A specification with its acceptance criteria")
def qc_specification(request, number: str):
    require_to_see(request.user, "qc.view")
    return selectors.specification(request.user, number)


@router.post("/qc/specifications/{number}/revise", response={201: SpecificationDetailOut},
             summary="A new draft revision of an approved specification, under an approved change control")
def qc_revise_specification(request, number: str, payload: ReviseIn):
    spec = services.revise_specification(request.user, selectors.specification(request.user, number),
                                               change_control=payload.change_control, reason=payload.reason)
    return Status(201, selectors.specification(request.user, spec.number))


@router.post("/qc/specifications/{number}/{action}", response=SpecificationDetailOut,
             summary="Approve (signature 'Approved') or retire (reason) a specification")
def qc_transition_specification(request, number: str, action: Literal["approve", "retire"],
                                payload: SpecificationActionIn):
    transition = specification_workflow.get(action)
    signature = None
    if transition.signature:
        signature = SignatureInput(meaning=transition.signature, password=payload.password,
                                        username=payload.username, comment=payload.comment)
    spec = services.transition_specification(
        request.user, selectors.specification(request.user, number), action, signature=signature,
        first_in_session=True, reason=payload.reason)
    return selectors.specification(request.user, spec.number)

# --- Samples and results ---


class SampleOut(Schema):
    number: str
    subject_type: str
    subject_ref: str
    subject_label: str
    origin: str
    origin_ref: str
    sponsor: str | None = Field(None, alias="sponsor.code")
    product: str | None = Field(None, alias="product.code")
    specification: str | None = Field(None, alias="specification.number")
    description: str
    retained: bool
    quantity: Decimal | None
    unit: str
    taken_at: dt.datetime | None
    received_at: dt.datetime | None
    location: str
    due_at: dt.datetime | None
    status: str
    status_label: str
    created_at: dt.datetime

    @staticmethod
    def resolve_status_label(obj):
        return workflows.sample_workflow.label(obj.status)


class SampleResultOut(Schema):
    number: str
    sample: str = Field(alias="sample.number")
    attribute: str = Field(alias="test.attribute")
    method: str = Field(alias="test.method.code")
    limit: str
    attempt: int
    retest_of: str | None = Field(None, alias="retest_of.number")
    value: str
    numeric_value: Decimal | None
    reported: str
    unit: str
    conformance: str
    out_of_trend: bool
    trend_note: str
    instrument: str | None = Field(None, alias="instrument.number")
    analyst: str = Field(alias="analyst.username")
    entered_at: dt.datetime
    reviewed_by: str | None = Field(None, alias="reviewed_by.username")
    reviewed_at: dt.datetime | None
    invalidation_reason: str
    status: str
    status_label: str

    @staticmethod
    def resolve_limit(obj):
        return selectors.limit_text(obj.test)

    @staticmethod
    def resolve_status_label(obj):
        return workflows.result_workflow.label(obj.status)


class SampleDetailOut(SampleOut):
    tests: list[str]
    results: list[SampleResultOut]

    @staticmethod
    def resolve_tests(obj):
        return [t.attribute for t in obj.tests.order_by("position")]

    @staticmethod
    def resolve_results(obj):
        return selectors.results_of(obj)


class SampleFilter(Schema):
    sponsor: str = Field("", max_length=64)
    status: str = Field("", max_length=32)
    q: str = Field("", max_length=100)
    subject_ref: str = Field("", max_length=64)


class SampleIn(Schema):
    subject_type: str = Field(max_length=64, description="e.g. batches.batch, materials.lot")
    subject_ref: str = Field(max_length=64)
    subject_label: str = Field("", max_length=200)
    description: str = Field(max_length=200)
    specification: str = Field("", max_length=32, description="the specification's number (SPEC-…)")
    tests: list[int] | None = Field(None, max_length=100,
                                        description="ids of the specification's criteria; default all")
    sponsor: str = Field("", max_length=64, description="the sponsor's code; default the specification's")
    quantity: Decimal | None = Field(None, max_digits=20, decimal_places=6)
    unit: str = Field("", max_length=32)
    retained: bool = False


class ReceiveIn(Schema):
    location: str = Field(max_length=100)


class ResultIn(Schema):
    test: int = Field(description="the criterion's id (see the sample's specification)", ge=1, le=2**31 - 1)
    value: str = Field(max_length=200)
    instrument: str = Field("", max_length=32, description="the instrument's asset id (EQ-…)")
    comment: str = Field("", max_length=2000)
    submission_id: str = Field(min_length=8, max_length=64, description="a fresh id per result: a retry with "
                                   "the same id returns the result entered")
    retest_of: str = Field("", max_length=32, description="the original result's number (RES-…), for a "
                               "retest an OOS investigation ordered")


class ResultActionIn(Schema):
    username: str = Field("", max_length=150, description="your user ID: every API signature re-enters both")
    password: str = Field("", max_length=200)
    comment: str = Field("", max_length=500)
    reason: str = Field("", max_length=2000)


@router.get("/qc/samples", response=list[SampleOut], summary="QC samples of your sponsors")
@paginate(Pagination)
def samples(request, filters: Query[SampleFilter]):
    require_to_see(request.user, "qc.view")
    return selectors.samples_for(request.user, sponsor=filters.sponsor, status=filters.status, text=filters.q,
                                      subject_ref=filters.subject_ref).order_by("-created_at", "-id")


@router.get("/qc/samples/{number}", response=SampleDetailOut, summary="A QC sample, its criteria and every result")
def sample(request, number: str):
    require_to_see(request.user, "qc.view")
    return selectors.sample(request.user, number)


@router.post("/qc/samples", response={201: SampleDetailOut}, summary="Register a QC sample by hand")
def create_sample(request, payload: SampleIn):
    user = request.user
    spec = (get_scoped(models.Specification, user, number=payload.specification.strip())
            if payload.specification.strip() else None)
    sponsor = None
    if payload.sponsor.strip():

        sponsor = sponsor_selectors.sponsor(user, payload.sponsor.strip())
    return Status(201, services.register_sample(
        user, subject_type=payload.subject_type, subject_ref=payload.subject_ref,
        subject_label=payload.subject_label or payload.subject_ref, origin="manual", description=payload.description,
        specification=spec, tests=payload.tests, sponsor=sponsor, product=spec.product if spec else None,
        quantity=payload.quantity, unit=payload.unit, retained=payload.retained))


@router.post("/qc/samples/{number}/receive", response=SampleDetailOut, summary="Receive a sample in the laboratory")
def receive_sample(request, number: str, payload: ReceiveIn):
    user = request.user
    return services.receive_sample(user, selectors.sample(user, number), location=payload.location)


@router.post("/qc/samples/{number}/results", response={201: SampleResultOut},
             summary="Enter a result of one criterion: evaluated against the specification at once")
def enter_result(request, number: str, payload: ResultIn):
    user = request.user
    sample_ = selectors.sample(user, number)
    instrument = None
    if payload.instrument.strip():

        instrument = Equipment.objects.filter(number=payload.instrument.strip()).first()
        if instrument is None:
            raise NotFound(f"No instrument has the asset id '{payload.instrument[:32]}'.")
    retest_of = None
    if payload.retest_of.strip():
        retest_of = get_scoped(models.TestResult, user, number=payload.retest_of.strip())
    test = models.SpecificationTest.objects.filter(pk=payload.test).first() or payload.test
    return Status(201, services.enter_result(
        user, sample_, test, value=payload.value, instrument=instrument, comment=payload.comment,
        submission_id=payload.submission_id, retest_of=retest_of))


@router.get("/qc/results/{number}", response=SampleResultOut, summary="A QC result")
def result(request, number: str):
    require_to_see(request.user, "qc.view")
    return selectors.result(request.user, number)


@router.post("/qc/results/{number}/{action}", response=SampleResultOut,
             summary="Review a result (signed 'Reviewed'), ask for its invalidation, approve (signed 'Approved') "
                     "or decline it")
def transition_result(request, number: str,
                      action: Literal["review", "request_invalidation", "approve_invalidation",
                                          "decline_invalidation"],
                      payload: ResultActionIn):
    user = request.user
    transition = workflows.result_workflow.get(action)
    signature = (SignatureInput(meaning=transition.signature, password=payload.password,
                                    username=payload.username, comment=payload.comment)
                 if transition.signature else None)
    done = services.transition_result(user, selectors.result(user, number), action, signature=signature,
                                           first_in_session=True, reason=payload.reason)
    return selectors.result(user, done.number)

# --- OOS investigations ---


class OosResultOut(Schema):
    reference: str = Field(description="the result's reference on the investigation")
    sample: str
    attempt: int
    is_original: bool
    value: str
    reported: str
    unit: str
    limit: str
    conformance: str
    analyst: str
    entered_at: dt.datetime
    status: str
    invalidation_reason: str


class OosChecklistOut(Schema):
    item: str
    label: str
    answer: str
    note: str


class OosInvestigationOut(Schema):
    number: str
    status: str
    status_label: str
    sponsor: str | None = Field(None, alias="sponsor.code")
    attribute: str = Field(alias="result.test.attribute")
    result: str
    reported: str
    limit: str
    sample: str = Field(alias="result.sample.number")
    subject: str = Field(alias="result.sample.subject_label")
    opened_at: dt.datetime
    opened_by: str = Field(alias="opened_by.username")
    conclusion: str
    closed_at: dt.datetime | None
    deviation: str | None = Field(None, alias="deviation.number")
    version: int

    @staticmethod
    def resolve_status_label(obj):
        return oos_workflow.label(obj.status)

    @staticmethod
    def resolve_result(obj):
        return obj.result.number

    @staticmethod
    def resolve_reported(obj):
        return f"{obj.result.reported} {obj.result.unit}".strip()

    @staticmethod
    def resolve_limit(obj):
        return selectors.limit_text(obj.result.test)


class OosInvestigationDetailOut(OosInvestigationOut):
    checklist: list[OosChecklistOut]
    assignable_cause: str
    production_review: str
    batch_impact: str
    retests_allowed: int
    summary: str
    results: list[OosResultOut]

    @staticmethod
    def resolve_checklist(obj):
        return selectors.checklist_rows(obj)

    @staticmethod
    def resolve_results(obj):
        return [{
            "reference": e.result.number, "sample": e.result.sample.number,
            "attempt": e.result.attempt, "is_original": e.is_original, "value": e.result.value,
            "reported": e.result.reported, "unit": e.result.unit, "limit": e.limit,
            "conformance": e.result.conformance, "analyst": e.result.analyst.username,
            "entered_at": e.result.entered_at, "status": e.result.status,
            "invalidation_reason": e.result.invalidation_reason,
        } for e in selectors.investigation_results(obj)]


class OosFilter(Schema):
    status: Literal["", "open", "phase_1", "phase_2", "closed"] = ""
    sponsor: str = Field("", max_length=64, description="sponsor code")
    q: str = Field("", max_length=100, description="number, sample, batch or attribute")


class OosAnswerIn(Schema):
    item: Literal[oos.ITEM_KEYS] = Field(description="a Phase I checklist item")
    answer: Literal["yes", "no", "n.a."]
    note: str = Field("", max_length=oos.NOTE_MAX)


class OosPhaseOneIn(Schema):
    answers: list[OosAnswerIn] = Field(default_factory=list, max_length=len(oos.ITEM_KEYS) * 2)
    assignable_cause: str = Field("", max_length=oos.CAUSE_MAX)


class OosPhaseTwoIn(Schema):
    production_review: str = Field(max_length=4000)
    batch_impact: str = Field(max_length=4000)


class OosActionIn(Schema):
    username: str = Field("", max_length=150, description="your user ID: every API signature re-enters both")
    password: str = Field("", max_length=200)
    comment: str = Field("", max_length=200)
    reason: str = Field("", max_length=2000)
    conclusion: Literal["", "confirmed", "laboratory_error"] = Field(
        "", description="close: confirmed (the original result stands) or laboratory_error")
    summary: str = Field("", max_length=4000)


@router.get("/qc/oos-investigations", response=list[OosInvestigationOut],
            summary="OOS investigations of your sponsors, open ones first")
@paginate(Pagination)
def oos_investigations(request, filters: Query[OosFilter]):
    found = selectors.investigations_for(request.user, status=filters.status, sponsor=filters.sponsor,
                                              text=filters.q)
    return found


@router.get("/qc/oos-investigations/{number}", response=OosInvestigationDetailOut,
            summary="An OOS investigation: its checklist, phases and every result (original and retests)")
def oos_investigation(request, number: str):
    return selectors.investigation(request.user, number)


@router.post("/qc/oos-investigations/{number}/phase-one", response=OosInvestigationDetailOut,
             summary="Record Phase I: checklist answers and the assignable laboratory cause, if any")
def oos_phase_one(request, number: str, payload: OosPhaseOneIn):
    user = request.user
    services.record_phase_one(user, selectors.investigation(user, number),
                                   answers=[a.dict() for a in payload.answers],
                                   assignable_cause=payload.assignable_cause)
    return selectors.investigation(user, number)


@router.post("/qc/oos-investigations/{number}/phase-two", response=OosInvestigationDetailOut,
             summary="Record Phase II: the production review and the batch impact")
def oos_phase_two(request, number: str, payload: OosPhaseTwoIn):
    user = request.user
    services.record_phase_two(user, selectors.investigation(user, number),
                                   production_review=payload.production_review, batch_impact=payload.batch_impact)
    return selectors.investigation(user, number)


@router.post("/qc/oos-investigations/{number}/{action}", response=OosInvestigationDetailOut,
             summary="Invalidate (QA, signed), escalate to Phase II, or close (signed, with a conclusion)")
def oos_transition(request, number: str, action: Literal["invalidate", "escalate", "close"],
                   payload: OosActionIn):
    user = request.user
    transition = oos_workflow.get(action)
    signature = None
    if transition.signature:
        signature = SignatureInput(meaning=transition.signature, password=payload.password,
                                       username=payload.username, comment=payload.comment)
    services.transition_investigation(
        user, selectors.investigation(user, number), action, signature=signature, first_in_session=True,
        reason=payload.reason, conclusion=payload.conclusion, summary=payload.summary)
    return selectors.investigation(user, number)

# --- Stability ---


class StabilityPullOut(Schema):
    id: int
    study: str
    condition: str
    months: int
    due_date: dt.date
    window_opens: dt.date
    window_closes: dt.date
    state: str = Field(description="upcoming, due, overdue, on_time or late")
    state_label: str
    overdue: bool
    pulled_at: dt.datetime | None
    pulled_by: str | None
    sample: str | None


def _stability_pull_out(row) -> dict:
    pull = row.pull
    return {"id": pull.pk, "study": pull.study.number, "condition": pull.condition, "months": pull.months,
            "due_date": pull.due_date, "window_opens": row.opens, "window_closes": row.closes,
            "state": row.state, "state_label": row.state_label, "overdue": row.overdue,
            "pulled_at": pull.pulled_at, "pulled_by": pull.pulled_by.username if pull.pulled_by_id else None,
            "sample": pull.sample.number if pull.sample_id else None}


class StabilityStudyOut(Schema):
    number: str
    title: str
    sponsor: str = Field(alias="sponsor.code")
    product: str = Field(alias="product.code")
    specification: str = Field(alias="specification.number")
    subject_ref: str
    conditions: list[str]
    time_points: list[int]
    window_days: int
    start_date: dt.date
    status: str
    version: int
    created_at: dt.datetime


class StabilityStudyDetailOut(StabilityStudyOut):
    pulls: list[StabilityPullOut]

    @staticmethod
    def resolve_pulls(obj):
        return [_stability_pull_out(row) for row in selectors.pulls_of(obj)]


class StabilityStudyIn(Schema):
    title: str = Field(max_length=200)
    specification: str = Field(max_length=32, description="number of the approved stability specification")
    subject_ref: str = Field(max_length=64, description="the batch or lot on study")
    conditions: list[Annotated[str, Field(max_length=100)]] = Field(
        min_length=1, max_length=20, description="storage conditions, e.g. ['≤ −150 °C', '-80 °C']")
    time_points: list[Annotated[int, Field(ge=0, le=120)]] | None = Field(
        None, max_length=60, description="months, ascending; by default ICH Q5C's for shelf_life_months (QC-8)")
    shelf_life_months: int = Field(24, ge=1, le=120)
    start_date: dt.date
    window_days: int = Field(7, ge=0, le=60)


class StabilityPullIn(Schema):
    quantity: Decimal | None = Field(None, gt=0, lt=10**14, max_digits=20, decimal_places=6)
    unit: str = Field("", max_length=32)


class StabilityStudyFilter(Schema):
    status: str = Field("", max_length=32)
    sponsor: str = Field("", max_length=64)
    product: str = Field("", max_length=32)
    q: str = Field("", max_length=100)
    sort: Literal["number", "-number", "start", "-start", "status", "-status"] = "-number"


class StabilityDueFilter(Schema):
    until: dt.date | None = Field(None, description="by default the end of next month")
    sponsor: str = Field("", max_length=64)


@router.get("/qc/stability-studies", response=list[StabilityStudyOut], summary="Stability studies of your sponsors")
@paginate(Pagination)
def stability_studies(request, filters: Query[StabilityStudyFilter]):
    return selectors.studies_for(request.user, status=filters.status, sponsor=filters.sponsor,
                                            product=filters.product, text=filters.q, sort=filters.sort)


@router.post("/qc/stability-studies", response={201: StabilityStudyDetailOut},
             summary="Create a stability protocol in draft (QA approval schedules its pulls)")
def create_stability_study(request, payload: StabilityStudyIn):
    user = request.user
    spec = selectors.stability_specifications(user).filter(number=payload.specification.strip()).first()
    if spec is None:

        require(user, "qc.manage_stability", to="create stability studies")
        raise RuleViolation(f"No approved stability specification {payload.specification} of your sponsors.")
    try:
        points = payload.time_points if payload.time_points is not None else \
            stability.ich_q5c_time_points(payload.shelf_life_months)
    except stability.InvalidProtocol as exc:
        raise RuleViolation(str(exc)) from None
    return Status(201, services.create_study(
        user, title=payload.title, product=spec.product, specification=spec, subject_ref=payload.subject_ref,
        conditions=payload.conditions, time_points=points, start_date=payload.start_date,
        window_days=payload.window_days))


@router.get("/qc/stability-studies/{number}", response=StabilityStudyDetailOut,
            summary="A stability study and its pull schedule")
def stability_study(request, number: str):
    return selectors.study(request.user, number)


@router.get("/qc/stability-pulls/due", response=list[StabilityPullOut],
            summary="Pulls not yet taken due by a date (overdue flagged): by default to the end of next month")
def stability_pulls_due(request, filters: Query[StabilityDueFilter]):
    until = filters.until or stability.end_of_next_month(clock.site_today())
    return [_stability_pull_out(row) for row in
            selectors.pulls_due(request.user, until=until, sponsor=filters.sponsor)]


@router.post("/qc/stability-pulls/{pull_id}/pull", response={201: StabilityPullOut},
             summary="Pull a time point: its sample is registered in the laboratory")
def stability_pull(request, pull_id: int, payload: StabilityPullIn):
    user = request.user

    require(user, "qc.pull_stability", to="pull stability samples")
    pull = services.pull(user, selectors.stability_pull(user, pull_id),
                                    quantity=payload.quantity, unit=payload.unit)
    return Status(201, _stability_pull_out(selectors.pull_row(pull, clock.site_today())))
