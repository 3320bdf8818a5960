"""The QC laboratory over HTTP. Thin: selectors and services do the work."""

from ninja import Router

router = Router(tags=["QC laboratory"])

# ===== methods and specifications =====
import datetime as _spec_dt  # noqa: E402
from decimal import Decimal as _SpecDecimal  # noqa: E402
from typing import Literal as _SpecLiteral  # noqa: E402

from ninja import Field as _SpecField  # noqa: E402
from ninja import Query as _SpecQuery  # noqa: E402
from ninja import Schema as _SpecSchema  # noqa: E402
from ninja import Status as _SpecStatus  # noqa: E402
from ninja.pagination import paginate as _spec_paginate  # noqa: E402

from opencdmo.core.access import require_to_see as _spec_require_to_see  # noqa: E402
from opencdmo.core.api import Pagination as _SpecPagination  # noqa: E402
from opencdmo.core.signatures import SignatureInput as _SpecSignatureInput  # noqa: E402

from . import selectors as _spec_selectors  # noqa: E402
from . import services as _spec_services  # noqa: E402
from .workflows import specification_workflow as _spec_workflow  # noqa: E402


class MethodOut(_SpecSchema):
    code: str
    name: str
    result_kind: str
    unit: str
    decimals: int | None
    choices: list[str]
    instrument_kinds: list[str]
    sop: str | None = _SpecField(None, alias="sop.number")
    turnaround_days: int
    is_active: bool


class MethodIn(_SpecSchema):
    code: str = _SpecField(max_length=32)
    name: str = _SpecField(max_length=200)
    result_kind: _SpecLiteral["numeric", "text", "choice", "pass_fail", "detection", "growth"]
    unit: str = _SpecField("", max_length=32)
    decimals: int | None = _SpecField(None, ge=0, le=6)
    choices: list[str] = _SpecField([], max_length=30)
    instrument_kinds: list[str] = _SpecField([], max_length=20)
    sop: str = _SpecField("", max_length=32, description="the SOP's document number")
    turnaround_days: int = _SpecField(1, ge=0, le=365)


class MethodFilter(_SpecSchema):
    q: str = _SpecField("", max_length=100)
    result_kind: str = _SpecField("", max_length=16)
    active: _SpecLiteral["", "yes", "no"] = ""


class CriterionOut(_SpecSchema):
    position: int
    attribute: str
    method: str = _SpecField(alias="method.code")
    criterion: str
    lower: _SpecDecimal | None
    upper: _SpecDecimal | None
    expected: str
    unit: str
    decimals: int | None
    may_be_pending_at_release: bool
    limit: str

    @staticmethod
    def resolve_limit(obj):
        return _spec_selectors.limit_text(obj)


class CriterionIn(_SpecSchema):
    attribute: str = _SpecField(max_length=200)
    method: str = _SpecField(max_length=32, description="the method's code")
    criterion: _SpecLiteral["at_least", "at_most", "more_than", "less_than", "range", "equals", "not_detected",
                            "report_only"]
    lower: _SpecDecimal | None = _SpecField(None, max_digits=30, decimal_places=10)
    upper: _SpecDecimal | None = _SpecField(None, max_digits=30, decimal_places=10)
    expected: str = _SpecField("", max_length=200)
    unit: str = _SpecField("", max_length=32)
    decimals: int | None = _SpecField(None, ge=0, le=6)
    may_be_pending_at_release: bool = False


class SpecificationOut(_SpecSchema):
    number: str
    code: str
    revision: int
    title: str
    stage: str
    sponsor: str | None = _SpecField(None, alias="sponsor.code")
    product: str | None = _SpecField(None, alias="product.code")
    material: str | None = _SpecField(None, alias="material.code")
    rounding: str
    status: str
    status_label: str
    supersedes: str | None = _SpecField(None, alias="supersedes.number")
    change_control: str | None = _SpecField(None, alias="change_control.number")
    effective_at: _spec_dt.datetime | None
    version: int
    created_at: _spec_dt.datetime

    @staticmethod
    def resolve_status_label(obj):
        return _spec_workflow.label(obj.status)


class SpecificationDetailOut(SpecificationOut):
    criteria: list[CriterionOut]

    @staticmethod
    def resolve_criteria(obj):
        return list(obj.tests.select_related("method", "specification").order_by("position"))


class SpecificationIn(_SpecSchema):
    code: str = _SpecField(max_length=64)
    title: str = _SpecField(max_length=200)
    stage: _SpecLiteral["incoming", "in_process", "release", "stability"]
    product: str = _SpecField("", max_length=32, description="the product's code (in-process, release, stability)")
    material: str = _SpecField("", max_length=32, description="the material's code (incoming)")
    rounding: _SpecLiteral["half_up", "half_even", "none"] = "half_up"
    criteria: list[CriterionIn] = _SpecField([], max_length=60)


class SpecificationFilter(_SpecSchema):
    q: str = _SpecField("", max_length=100)
    stage: str = _SpecField("", max_length=16)
    status: str = _SpecField("", max_length=16)
    sponsor: str = _SpecField("", max_length=64)


class ReviseIn(_SpecSchema):
    change_control: str = _SpecField(max_length=32, description="the approved change control's number (CC-…)")
    reason: str = _SpecField(max_length=2000)


class SpecificationActionIn(_SpecSchema):
    username: str = _SpecField("", max_length=64, description="your user ID: every API signature re-enters both")
    password: str = _SpecField("", max_length=200)
    comment: str = _SpecField("", max_length=2000)
    reason: str = _SpecField("", max_length=2000, description="required to retire")


@router.get("/qc/methods", response=list[MethodOut], summary="The laboratory's test methods")
@_spec_paginate(_SpecPagination)
def qc_methods(request, filters: _SpecQuery[MethodFilter]):
    _spec_require_to_see(request.user, "qc.view")
    return _spec_selectors.methods_for(request.user, text=filters.q, result_kind=filters.result_kind,
                                       active=filters.active)


@router.post("/qc/methods", response={201: MethodOut}, summary="Add a test method")
def qc_create_method(request, payload: MethodIn):
    return _SpecStatus(201, _spec_services.create_method(
        request.user, code=payload.code, name=payload.name, result_kind=payload.result_kind, unit=payload.unit,
        decimals=payload.decimals, choices=payload.choices, instrument_kinds=payload.instrument_kinds,
        sop=payload.sop or None, turnaround_days=payload.turnaround_days))


@router.get("/qc/methods/{code}", response=MethodOut, summary="A test method")
def qc_method(request, code: str):
    _spec_require_to_see(request.user, "qc.view")
    return _spec_selectors.method(request.user, code)


@router.get("/qc/specifications", response=list[SpecificationOut],
            summary="Specifications of your sponsors (and the CDMO's own), filtered")
@_spec_paginate(_SpecPagination)
def qc_specifications(request, filters: _SpecQuery[SpecificationFilter]):
    _spec_require_to_see(request.user, "qc.view")
    return _spec_selectors.specifications_for(request.user, stage=filters.stage, status=filters.status,
                                              text=filters.q, sponsor=filters.sponsor)


@router.post("/qc/specifications", response={201: SpecificationDetailOut},
             summary="Draft a specification (revision 1) with its acceptance criteria")
def qc_create_specification(request, payload: SpecificationIn):
    spec = _spec_services.create_specification(
        request.user, code=payload.code, title=payload.title, stage=payload.stage,
        product=payload.product or None, material=payload.material or None, rounding=payload.rounding,
        tests=[c.dict() for c in payload.criteria])
    return _SpecStatus(201, _spec_selectors.specification(request.user, spec.number))


@router.get("/qc/specifications/{number}", response=SpecificationDetailOut,
            summary="A specification with its acceptance criteria")
def qc_specification(request, number: str):
    _spec_require_to_see(request.user, "qc.view")
    return _spec_selectors.specification(request.user, number)


@router.post("/qc/specifications/{number}/revise", response={201: SpecificationDetailOut},
             summary="A new draft revision of an approved specification, under an approved change control")
def qc_revise_specification(request, number: str, payload: ReviseIn):
    spec = _spec_services.revise_specification(request.user, _spec_selectors.specification(request.user, number),
                                               change_control=payload.change_control, reason=payload.reason)
    return _SpecStatus(201, _spec_selectors.specification(request.user, spec.number))


@router.post("/qc/specifications/{number}/{action}", response=SpecificationDetailOut,
             summary="Approve (signature 'Approved') or retire (reason) a specification")
def qc_transition_specification(request, number: str, action: _SpecLiteral["approve", "retire"],
                                payload: SpecificationActionIn):
    transition = _spec_workflow.get(action)
    signature = None
    if transition.signature:
        signature = _SpecSignatureInput(meaning=transition.signature, password=payload.password,
                                        username=payload.username, comment=payload.comment)
    spec = _spec_services.transition_specification(
        request.user, _spec_selectors.specification(request.user, number), action, signature=signature,
        first_in_session=True, reason=payload.reason)
    return _spec_selectors.specification(request.user, spec.number)
# ===== end methods and specifications =====

# ===== samples and results =====
import datetime as _smp_dt  # noqa: E402
from decimal import Decimal as _SmpDecimal  # noqa: E402
from typing import Literal as _SmpLiteral  # noqa: E402

from ninja import Field as _SmpField  # noqa: E402
from ninja import Query as _SmpQuery  # noqa: E402
from ninja import Schema as _SmpSchema  # noqa: E402
from ninja import Status as _SmpStatus  # noqa: E402
from ninja.pagination import paginate as _smp_paginate  # noqa: E402

from opencdmo.core.access import require_to_see as _smp_require_to_see  # noqa: E402
from opencdmo.core.api import Pagination as _SmpPagination  # noqa: E402
from opencdmo.core.errors import NotFound as _SmpNotFound  # noqa: E402
from opencdmo.core.scoping import get_scoped as _smp_get_scoped  # noqa: E402
from opencdmo.core.signatures import SignatureInput as _SmpSignatureInput  # noqa: E402

from . import models as _smp_models  # noqa: E402
from . import selectors as _smp_selectors  # noqa: E402
from . import services as _smp_services  # noqa: E402
from . import workflows as _smp_workflows  # noqa: E402


class SampleOut(_SmpSchema):
    number: str
    subject_type: str
    subject_ref: str
    subject_label: str
    origin: str
    origin_ref: str
    sponsor: str | None = _SmpField(None, alias="sponsor.code")
    product: str | None = _SmpField(None, alias="product.code")
    specification: str | None = _SmpField(None, alias="specification.number")
    description: str
    retained: bool
    quantity: _SmpDecimal | None
    unit: str
    taken_at: _smp_dt.datetime | None
    received_at: _smp_dt.datetime | None
    location: str
    due_at: _smp_dt.datetime | None
    status: str
    status_label: str
    created_at: _smp_dt.datetime

    @staticmethod
    def resolve_status_label(obj):
        return _smp_workflows.sample_workflow.label(obj.status)


class SampleResultOut(_SmpSchema):
    number: str
    sample: str = _SmpField(alias="sample.number")
    attribute: str = _SmpField(alias="test.attribute")
    method: str = _SmpField(alias="test.method.code")
    limit: str
    attempt: int
    retest_of: str | None = _SmpField(None, alias="retest_of.number")
    value: str
    numeric_value: _SmpDecimal | None
    reported: str
    unit: str
    conformance: str
    out_of_trend: bool
    trend_note: str
    instrument: str | None = _SmpField(None, alias="instrument.number")
    analyst: str = _SmpField(alias="analyst.username")
    entered_at: _smp_dt.datetime
    reviewed_by: str | None = _SmpField(None, alias="reviewed_by.username")
    reviewed_at: _smp_dt.datetime | None
    invalidation_reason: str
    status: str
    status_label: str

    @staticmethod
    def resolve_limit(obj):
        return _smp_selectors.limit_text(obj.test)

    @staticmethod
    def resolve_status_label(obj):
        return _smp_workflows.result_workflow.label(obj.status)


class SampleDetailOut(SampleOut):
    tests: list[str]
    results: list[SampleResultOut]

    @staticmethod
    def resolve_tests(obj):
        return [t.attribute for t in obj.tests.order_by("position")]

    @staticmethod
    def resolve_results(obj):
        return _smp_selectors.results_of(obj)


class SampleFilter(_SmpSchema):
    sponsor: str = _SmpField("", max_length=64)
    status: str = _SmpField("", max_length=32)
    q: str = _SmpField("", max_length=100)
    subject_ref: str = _SmpField("", max_length=64)


class SampleIn(_SmpSchema):
    subject_type: str = _SmpField(max_length=64, description="e.g. batches.batch, materials.lot")
    subject_ref: str = _SmpField(max_length=64)
    subject_label: str = _SmpField("", max_length=200)
    description: str = _SmpField(max_length=200)
    specification: str = _SmpField("", max_length=32, description="the specification's number (SPEC-…)")
    tests: list[int] | None = _SmpField(None, max_length=100,
                                        description="ids of the specification's criteria; default all")
    sponsor: str = _SmpField("", max_length=64, description="the sponsor's code; default the specification's")
    quantity: _SmpDecimal | None = _SmpField(None, max_digits=20, decimal_places=6)
    unit: str = _SmpField("", max_length=32)
    retained: bool = False


class ReceiveIn(_SmpSchema):
    location: str = _SmpField(max_length=100)


class ResultIn(_SmpSchema):
    test: int = _SmpField(description="the criterion's id (see the sample's specification)", ge=1, le=2**31 - 1)
    value: str = _SmpField(max_length=200)
    instrument: str = _SmpField("", max_length=32, description="the instrument's asset id (EQ-…)")
    comment: str = _SmpField("", max_length=2000)
    submission_id: str = _SmpField(min_length=8, max_length=64, description="a fresh id per result: a retry with "
                                   "the same id returns the result entered")
    retest_of: str = _SmpField("", max_length=32, description="the original result's number (RES-…), for a "
                               "retest an OOS investigation ordered")


class ResultActionIn(_SmpSchema):
    username: str = _SmpField("", max_length=150, description="your user ID: every API signature re-enters both")
    password: str = _SmpField("", max_length=200)
    comment: str = _SmpField("", max_length=500)
    reason: str = _SmpField("", max_length=2000)


@router.get("/qc/samples", response=list[SampleOut], summary="QC samples of your sponsors")
@_smp_paginate(_SmpPagination)
def samples(request, filters: _SmpQuery[SampleFilter]):
    _smp_require_to_see(request.user, "qc.view")
    return _smp_selectors.samples_for(request.user, sponsor=filters.sponsor, status=filters.status, text=filters.q,
                                      subject_ref=filters.subject_ref).order_by("-created_at", "-id")


@router.get("/qc/samples/{number}", response=SampleDetailOut, summary="A QC sample, its criteria and every result")
def sample(request, number: str):
    _smp_require_to_see(request.user, "qc.view")
    return _smp_selectors.sample(request.user, number)


@router.post("/qc/samples", response={201: SampleDetailOut}, summary="Register a QC sample by hand")
def create_sample(request, payload: SampleIn):
    user = request.user
    spec = (_smp_get_scoped(_smp_models.Specification, user, number=payload.specification.strip())
            if payload.specification.strip() else None)
    sponsor = None
    if payload.sponsor.strip():
        from opencdmo.sponsors import selectors as sponsor_selectors  # noqa: PLC0415

        sponsor = sponsor_selectors.sponsor(user, payload.sponsor.strip())
    return _SmpStatus(201, _smp_services.register_sample(
        user, subject_type=payload.subject_type, subject_ref=payload.subject_ref,
        subject_label=payload.subject_label or payload.subject_ref, origin="manual", description=payload.description,
        specification=spec, tests=payload.tests, sponsor=sponsor, product=spec.product if spec else None,
        quantity=payload.quantity, unit=payload.unit, retained=payload.retained))


@router.post("/qc/samples/{number}/receive", response=SampleDetailOut, summary="Receive a sample in the laboratory")
def receive_sample(request, number: str, payload: ReceiveIn):
    user = request.user
    return _smp_services.receive_sample(user, _smp_selectors.sample(user, number), location=payload.location)


@router.post("/qc/samples/{number}/results", response={201: SampleResultOut},
             summary="Enter a result of one criterion: evaluated against the specification at once")
def enter_result(request, number: str, payload: ResultIn):
    user = request.user
    sample_ = _smp_selectors.sample(user, number)
    instrument = None
    if payload.instrument.strip():
        from opencdmo.facilities.models import Equipment  # noqa: PLC0415

        instrument = Equipment.objects.filter(number=payload.instrument.strip()).first()
        if instrument is None:
            raise _SmpNotFound(f"No instrument has the asset id '{payload.instrument[:32]}'.")
    retest_of = None
    if payload.retest_of.strip():
        retest_of = _smp_get_scoped(_smp_models.TestResult, user, number=payload.retest_of.strip())
    test = _smp_models.SpecificationTest.objects.filter(pk=payload.test).first() or payload.test
    return _SmpStatus(201, _smp_services.enter_result(
        user, sample_, test, value=payload.value, instrument=instrument, comment=payload.comment,
        submission_id=payload.submission_id, retest_of=retest_of))


@router.get("/qc/results/{number}", response=SampleResultOut, summary="A QC result")
def result(request, number: str):
    _smp_require_to_see(request.user, "qc.view")
    return _smp_selectors.result(request.user, number)


@router.post("/qc/results/{number}/{action}", response=SampleResultOut,
             summary="Review a result (signed 'Reviewed'), ask for its invalidation, approve (signed 'Approved') "
                     "or decline it")
def transition_result(request, number: str,
                      action: _SmpLiteral["review", "request_invalidation", "approve_invalidation",
                                          "decline_invalidation"],
                      payload: ResultActionIn):
    user = request.user
    transition = _smp_workflows.result_workflow.get(action)
    signature = (_SmpSignatureInput(meaning=transition.signature, password=payload.password,
                                    username=payload.username, comment=payload.comment)
                 if transition.signature else None)
    done = _smp_services.transition_result(user, _smp_selectors.result(user, number), action, signature=signature,
                                           first_in_session=True, reason=payload.reason)
    return _smp_selectors.result(user, done.number)
# ===== end samples and results =====

# ===== OOS investigations =====
import datetime as _oos_dt  # noqa: E402
from typing import Literal as _OosLiteral  # noqa: E402

from ninja import Field as _OosField  # noqa: E402
from ninja import Query as _OosQuery  # noqa: E402
from ninja import Schema as _OosSchema  # noqa: E402
from ninja.pagination import paginate as _oos_paginate  # noqa: E402

from opencdmo.core.api import Pagination as _OosPagination  # noqa: E402
from opencdmo.core.signatures import SignatureInput as _OosSignatureInput  # noqa: E402

from . import selectors as _oos_selectors  # noqa: E402
from . import services as _oos_services  # noqa: E402
from .domain import oos as _oos_domain  # noqa: E402
from .workflows import oos_workflow as _oos_workflow  # noqa: E402


class OosResultOut(_OosSchema):
    reference: str = _OosField(description="the result's reference on the investigation")
    sample: str
    attempt: int
    is_original: bool
    value: str
    reported: str
    unit: str
    limit: str
    conformance: str
    analyst: str
    entered_at: _oos_dt.datetime
    status: str
    invalidation_reason: str


class OosChecklistOut(_OosSchema):
    item: str
    label: str
    answer: str
    note: str


class OosInvestigationOut(_OosSchema):
    number: str
    status: str
    status_label: str
    sponsor: str | None = _OosField(None, alias="sponsor.code")
    attribute: str = _OosField(alias="result.test.attribute")
    result: str
    reported: str
    limit: str
    sample: str = _OosField(alias="result.sample.number")
    subject: str = _OosField(alias="result.sample.subject_label")
    opened_at: _oos_dt.datetime
    opened_by: str = _OosField(alias="opened_by.username")
    conclusion: str
    closed_at: _oos_dt.datetime | None
    deviation: str | None = _OosField(None, alias="deviation.number")
    version: int

    @staticmethod
    def resolve_status_label(obj):
        return _oos_workflow.label(obj.status)

    @staticmethod
    def resolve_result(obj):
        return _oos_selectors.result_ref(obj.result)

    @staticmethod
    def resolve_reported(obj):
        return f"{obj.result.reported} {obj.result.unit}".strip()

    @staticmethod
    def resolve_limit(obj):
        return _oos_selectors.limit_text(obj.result.test)


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
        return _oos_selectors.checklist_rows(obj)

    @staticmethod
    def resolve_results(obj):
        return [{
            "reference": _oos_selectors.result_ref(e.result), "sample": e.result.sample.number,
            "attempt": e.result.attempt, "is_original": e.is_original, "value": e.result.value,
            "reported": e.result.reported, "unit": e.result.unit, "limit": e.limit,
            "conformance": e.result.conformance, "analyst": e.result.analyst.username,
            "entered_at": e.result.entered_at, "status": e.result.status,
            "invalidation_reason": e.result.invalidation_reason,
        } for e in _oos_selectors.investigation_results(obj)]


class OosFilter(_OosSchema):
    status: _OosLiteral["", "open", "phase_1", "phase_2", "closed"] = ""
    sponsor: str = _OosField("", max_length=64, description="sponsor code")
    q: str = _OosField("", max_length=100, description="number, sample, batch or attribute")


class OosAnswerIn(_OosSchema):
    item: _OosLiteral[_oos_domain.ITEM_KEYS] = _OosField(description="a Phase I checklist item")
    answer: _OosLiteral["yes", "no", "n.a."]
    note: str = _OosField("", max_length=_oos_domain.NOTE_MAX)


class OosPhaseOneIn(_OosSchema):
    answers: list[OosAnswerIn] = _OosField(default_factory=list, max_length=len(_oos_domain.ITEM_KEYS) * 2)
    assignable_cause: str = _OosField("", max_length=_oos_domain.CAUSE_MAX)


class OosPhaseTwoIn(_OosSchema):
    production_review: str = _OosField(max_length=4000)
    batch_impact: str = _OosField(max_length=4000)


class OosActionIn(_OosSchema):
    username: str = _OosField("", max_length=150, description="your user ID: every API signature re-enters both")
    password: str = _OosField("", max_length=200)
    comment: str = _OosField("", max_length=200)
    reason: str = _OosField("", max_length=2000)
    conclusion: _OosLiteral["", "confirmed", "laboratory_error"] = _OosField(
        "", description="close: confirmed (the original result stands) or laboratory_error")
    summary: str = _OosField("", max_length=4000)


@router.get("/qc/oos-investigations", response=list[OosInvestigationOut],
            summary="OOS investigations of your sponsors, open ones first")
@_oos_paginate(_OosPagination)
def oos_investigations(request, filters: _OosQuery[OosFilter]):
    found = _oos_selectors.investigations_for(request.user, status=filters.status, sponsor=filters.sponsor,
                                              text=filters.q)
    return found


@router.get("/qc/oos-investigations/{number}", response=OosInvestigationDetailOut,
            summary="An OOS investigation: its checklist, phases and every result (original and retests)")
def oos_investigation(request, number: str):
    return _oos_selectors.investigation(request.user, number)


@router.post("/qc/oos-investigations/{number}/phase-one", response=OosInvestigationDetailOut,
             summary="Record Phase I: checklist answers and the assignable laboratory cause, if any")
def oos_phase_one(request, number: str, payload: OosPhaseOneIn):
    user = request.user
    _oos_services.record_phase_one(user, _oos_selectors.investigation(user, number),
                                   answers=[a.dict() for a in payload.answers],
                                   assignable_cause=payload.assignable_cause)
    return _oos_selectors.investigation(user, number)


@router.post("/qc/oos-investigations/{number}/phase-two", response=OosInvestigationDetailOut,
             summary="Record Phase II: the production review and the batch impact")
def oos_phase_two(request, number: str, payload: OosPhaseTwoIn):
    user = request.user
    _oos_services.record_phase_two(user, _oos_selectors.investigation(user, number),
                                   production_review=payload.production_review, batch_impact=payload.batch_impact)
    return _oos_selectors.investigation(user, number)


@router.post("/qc/oos-investigations/{number}/{action}", response=OosInvestigationDetailOut,
             summary="Invalidate (QA, signed), escalate to Phase II, or close (signed, with a conclusion)")
def oos_transition(request, number: str, action: _OosLiteral["invalidate", "escalate", "close"],
                   payload: OosActionIn):
    user = request.user
    transition = _oos_workflow.get(action)
    signature = None
    if transition.signature:
        signature = _OosSignatureInput(meaning=transition.signature, password=payload.password,
                                       username=payload.username, comment=payload.comment)
    _oos_services.transition_investigation(
        user, _oos_selectors.investigation(user, number), action, signature=signature, first_in_session=True,
        reason=payload.reason, conclusion=payload.conclusion, summary=payload.summary)
    return _oos_selectors.investigation(user, number)
# ===== end OOS investigations =====

# ===== stability =====
import datetime as _stability_dt  # noqa: E402
from decimal import Decimal as _StabilityDecimal  # noqa: E402
from typing import Annotated as _StabilityAnnotated  # noqa: E402
from typing import Literal as _StabilityLiteral  # noqa: E402

from ninja import Field as _StabilityField  # noqa: E402
from ninja import Query as _StabilityQuery  # noqa: E402
from ninja import Schema as _StabilitySchema  # noqa: E402
from ninja import Status as _StabilityStatus  # noqa: E402
from ninja.pagination import paginate as _stability_paginate  # noqa: E402

from opencdmo.core import clock as _stability_clock  # noqa: E402
from opencdmo.core.api import Pagination as _StabilityPagination  # noqa: E402
from opencdmo.core.errors import RuleViolation as _StabilityRuleViolation  # noqa: E402

from . import selectors as _stability_selectors  # noqa: E402
from . import services as _stability_services  # noqa: E402
from .domain import stability as _stability_domain  # noqa: E402


class StabilityPullOut(_StabilitySchema):
    id: int
    study: str
    condition: str
    months: int
    due_date: _stability_dt.date
    window_opens: _stability_dt.date
    window_closes: _stability_dt.date
    state: str = _StabilityField(description="upcoming, due, overdue, on_time or late")
    state_label: str
    overdue: bool
    pulled_at: _stability_dt.datetime | None
    pulled_by: str | None
    sample: str | None


def _stability_pull_out(row) -> dict:
    pull = row.pull
    return {"id": pull.pk, "study": pull.study.number, "condition": pull.condition, "months": pull.months,
            "due_date": pull.due_date, "window_opens": row.opens, "window_closes": row.closes,
            "state": row.state, "state_label": row.state_label, "overdue": row.overdue,
            "pulled_at": pull.pulled_at, "pulled_by": pull.pulled_by.username if pull.pulled_by_id else None,
            "sample": pull.sample.number if pull.sample_id else None}


class StabilityStudyOut(_StabilitySchema):
    number: str
    title: str
    sponsor: str = _StabilityField(alias="sponsor.code")
    product: str = _StabilityField(alias="product.code")
    specification: str = _StabilityField(alias="specification.number")
    subject_ref: str
    conditions: list[str]
    time_points: list[int]
    window_days: int
    start_date: _stability_dt.date
    status: str
    version: int
    created_at: _stability_dt.datetime


class StabilityStudyDetailOut(StabilityStudyOut):
    pulls: list[StabilityPullOut]

    @staticmethod
    def resolve_pulls(obj):
        return [_stability_pull_out(row) for row in _stability_selectors.pulls_of(obj)]


class StabilityStudyIn(_StabilitySchema):
    title: str = _StabilityField(max_length=200)
    specification: str = _StabilityField(max_length=32, description="number of the approved stability specification")
    subject_ref: str = _StabilityField(max_length=64, description="the batch or lot on study")
    conditions: list[_StabilityAnnotated[str, _StabilityField(max_length=100)]] = _StabilityField(
        min_length=1, max_length=20, description="storage conditions, e.g. ['≤ −150 °C', '-80 °C']")
    time_points: list[_StabilityAnnotated[int, _StabilityField(ge=0, le=120)]] | None = _StabilityField(
        None, max_length=60, description="months, ascending; by default ICH Q5C's for shelf_life_months (QC-8)")
    shelf_life_months: int = _StabilityField(24, ge=1, le=120)
    start_date: _stability_dt.date
    window_days: int = _StabilityField(7, ge=0, le=60)


class StabilityPullIn(_StabilitySchema):
    quantity: _StabilityDecimal | None = _StabilityField(None, gt=0, lt=10**14, max_digits=20, decimal_places=6)
    unit: str = _StabilityField("", max_length=32)


class StabilityStudyFilter(_StabilitySchema):
    status: str = _StabilityField("", max_length=32)
    sponsor: str = _StabilityField("", max_length=64)
    product: str = _StabilityField("", max_length=32)
    q: str = _StabilityField("", max_length=100)
    sort: _StabilityLiteral["number", "-number", "start", "-start", "status", "-status"] = "-number"


class StabilityDueFilter(_StabilitySchema):
    until: _stability_dt.date | None = _StabilityField(None, description="by default the end of next month")
    sponsor: str = _StabilityField("", max_length=64)


@router.get("/qc/stability-studies", response=list[StabilityStudyOut], summary="Stability studies of your sponsors")
@_stability_paginate(_StabilityPagination)
def stability_studies(request, filters: _StabilityQuery[StabilityStudyFilter]):
    return _stability_selectors.studies_for(request.user, status=filters.status, sponsor=filters.sponsor,
                                            product=filters.product, text=filters.q, sort=filters.sort)


@router.post("/qc/stability-studies", response={201: StabilityStudyDetailOut},
             summary="Create a stability protocol in draft (QA approval schedules its pulls)")
def create_stability_study(request, payload: StabilityStudyIn):
    user = request.user
    spec = _stability_selectors.stability_specifications(user).filter(number=payload.specification.strip()).first()
    if spec is None:
        from opencdmo.core.access import require  # noqa: PLC0415

        require(user, "qc.manage_stability", to="create stability studies")
        raise _StabilityRuleViolation(f"No approved stability specification {payload.specification} of your sponsors.")
    try:
        points = payload.time_points if payload.time_points is not None else \
            _stability_domain.ich_q5c_time_points(payload.shelf_life_months)
    except _stability_domain.InvalidProtocol as exc:
        raise _StabilityRuleViolation(str(exc)) from None
    return _StabilityStatus(201, _stability_services.create_study(
        user, title=payload.title, product=spec.product, specification=spec, subject_ref=payload.subject_ref,
        conditions=payload.conditions, time_points=points, start_date=payload.start_date,
        window_days=payload.window_days))


@router.get("/qc/stability-studies/{number}", response=StabilityStudyDetailOut,
            summary="A stability study and its pull schedule")
def stability_study(request, number: str):
    return _stability_selectors.study(request.user, number)


@router.get("/qc/stability-pulls/due", response=list[StabilityPullOut],
            summary="Pulls not yet taken due by a date (overdue flagged): by default to the end of next month")
def stability_pulls_due(request, filters: _StabilityQuery[StabilityDueFilter]):
    until = filters.until or _stability_domain.end_of_next_month(_stability_clock.site_today())
    return [_stability_pull_out(row) for row in
            _stability_selectors.pulls_due(request.user, until=until, sponsor=filters.sponsor)]


@router.post("/qc/stability-pulls/{pull_id}/pull", response={201: StabilityPullOut},
             summary="Pull a time point: its sample is registered in the laboratory")
def stability_pull(request, pull_id: int, payload: StabilityPullIn):
    user = request.user
    from opencdmo.core.access import require  # noqa: PLC0415

    require(user, "qc.pull_stability", to="pull stability samples")
    pull = _stability_services.pull(user, _stability_selectors.stability_pull(user, pull_id),
                                    quantity=payload.quantity, unit=payload.unit)
    return _StabilityStatus(201, _stability_pull_out(_stability_selectors.pull_row(pull, _stability_clock.site_today())))
# ===== end stability =====
