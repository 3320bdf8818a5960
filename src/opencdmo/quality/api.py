"""The quality app over HTTP. Thin: selectors and services do the work."""

import datetime as dt
from typing import Literal

from django.db import transaction
from ninja import Field, Router, Schema, Status
from ninja.pagination import paginate

from opencdmo.core.access import require, require_to_see
from opencdmo.core.api import Pagination
from opencdmo.core.errors import NotFound, RuleViolation
from opencdmo.core.models import User
from opencdmo.core.signatures import SignatureInput
from opencdmo.sponsors import selectors as sponsor_selectors

from . import selectors, services
from .workflows import (
    capa_workflow,
    change_workflow,
    deviation_workflow,
    extension_workflow,
    risk_assessment_workflow,
    sponsor_approval_workflow,
)

router = Router(tags=["Quality"])


# --- Change control ---

class ChangeOut(Schema):
    number: str
    title: str
    description: str
    justification: str
    kind: str
    classification: str
    status: str
    status_label: str
    version: int
    sponsor: str | None = Field(None, alias="sponsor.code")
    proposed_by: str = Field(alias="proposed_by.full_name")
    target_date: dt.date | None
    risk_summary: str
    regulatory_filing: bool
    regulatory_notes: str
    created_at: dt.datetime
    closed_at: dt.datetime | None

    @staticmethod
    def resolve_status_label(obj):
        return change_workflow.label(obj.status)


class ImpactOut(Schema):
    id: int
    area: str
    record_type: str
    record_id: str
    record_label: str
    sponsor: str | None = Field(None, alias="sponsor.code")
    assessment: str


class SponsorApprovalOut(Schema):
    number: str
    change: str = Field(alias="change.number")
    sponsor: str = Field(alias="sponsor.code")
    quality_agreement: str
    status: str
    decided_by: str | None = Field(None, alias="decided_by.full_name")
    decided_at: dt.datetime | None
    comment: str


class ChangeTaskOut(Schema):
    id: int
    description: str
    owner: str = Field(alias="owner.username")
    due_date: dt.date
    done: bool
    completed_at: dt.datetime | None
    record_type: str
    record_id: str
    record_label: str


class ChangeDetailOut(ChangeOut):
    # What this user may see of the change (a sponsor's users: their own sponsor's rows only).
    impacts: list[ImpactOut] = Field(alias="visible_impacts")
    sponsor_approvals: list[SponsorApprovalOut] = Field(alias="visible_approvals")
    tasks: list[ChangeTaskOut] = Field(alias="visible_tasks")


class SponsorApprovalDetailOut(SponsorApprovalOut):
    change_summary: ChangeOut = Field(alias="change")
    impacts: list[ImpactOut] = Field(alias="visible_impacts")


class ChangeIn(Schema):
    title: str = Field(max_length=200)
    description: str
    justification: str
    kind: str
    target_date: dt.date | None = None
    sponsor: str | None = Field(None, description="sponsor code, for a change of one sponsor's process")


class AssessmentIn(Schema):
    classification: str | None = None
    risk_summary: str | None = None
    regulatory_filing: bool | None = None
    regulatory_notes: str | None = None
    risk_assessment: str | None = Field(None, description="number of a risk assessment to link")


class ImpactIn(Schema):
    area: str
    assessment: str = ""
    record_type: str = Field("", description="registered kind, e.g. materials.lot")
    reference: str = Field("", description="the record's number or code")
    sponsor: str | None = Field(None, description="sponsor code")


class TaskIn(Schema):
    description: str
    owner: str = Field(description="user ID of the owner")
    due_date: dt.date
    produces: str = Field("", description="kind of record the task makes a new version of")


class TaskDoneIn(Schema):
    record_type: str = ""
    reference: str = Field("", description="the new version produced, when the task makes one")


class SignedActionIn(Schema):
    username: str = Field("", description="your user ID: every API signature re-enters both components")
    password: str = ""
    comment: str = ""
    reason: str = ""


def _signature_for(workflow, action: str, payload: SignedActionIn) -> SignatureInput | None:
    transition = workflow.get(action)
    if not transition.signature:
        return None
    return SignatureInput(meaning=transition.signature, password=payload.password, username=payload.username,
                          comment=payload.comment)


def _sponsor_by_code(request, code: str | None):
    return sponsor_selectors.sponsor(request.user, code) if code else None


def _change_detail(request, change):
    user = request.user
    change.visible_impacts = list(selectors.change_impacts(user, change))
    change.visible_approvals = list(selectors.change_approvals(user, change))
    change.visible_tasks = list(selectors.change_tasks(user, change))
    return change


@router.get("/change-controls", response=list[ChangeOut], summary="Change controls, filtered and sorted")
@paginate(Pagination)
def change_controls(request, status: str = "", kind: str = "", classification: str = "", sponsor: str = "",
                    q: str = "", sort: str = ""):
    return selectors.changes_for(request.user, status=status, kind=kind, classification=classification,
                                 sponsor=sponsor, text=q, sort=sort)


@router.post("/change-controls", response={201: ChangeDetailOut}, summary="Propose a change")
def propose_change(request, payload: ChangeIn):
    data = payload.dict()
    data["sponsor"] = _sponsor_by_code(request, data["sponsor"])
    change = services.propose_change(request.user, **data)
    return 201, _change_detail(request, change)


@router.get("/change-controls/{number}", response=ChangeDetailOut)
def change_control(request, number: str):
    return _change_detail(request, selectors.change(request.user, number))


@router.patch("/change-controls/{number}/assessment", response=ChangeDetailOut,
              summary="QA's assessment: classification, risk summary, regulatory filing")
def assess_change(request, number: str, payload: AssessmentIn):
    change = selectors.change(request.user, number)
    data = {k: v for k, v in payload.dict().items() if v is not None}
    risk_number = data.pop("risk_assessment", "")
    services.assess_change(request.user, change,
                           risk_assessment=selectors.risk_assessment(request.user, risk_number) if risk_number
                           else None, **data)
    return _change_detail(request, selectors.change(request.user, number))


@router.post("/change-controls/{number}/impacts", response={201: ImpactOut}, summary="Add an impact row")
def add_impact(request, number: str, payload: ImpactIn):
    data = payload.dict()
    data["sponsor"] = _sponsor_by_code(request, data["sponsor"])
    return 201, services.add_impact(request.user, selectors.change(request.user, number), **data)


@router.post("/change-controls/{number}/tasks", response={201: ChangeTaskOut}, summary="Plan an implementation task")
def add_task(request, number: str, payload: TaskIn):
    data = payload.dict()
    owner = User.objects.filter(username=data.pop("owner"), is_active=True).first()
    return 201, services.add_change_task(request.user, selectors.change(request.user, number), owner=owner, **data)


@router.post("/change-controls/{number}/tasks/{task_id}/complete", response=ChangeTaskOut,
             summary="Complete a task, linking the new version it produced")
def complete_task(request, number: str, task_id: int, payload: TaskDoneIn):
    change = selectors.change(request.user, number)
    task = selectors.change_tasks(request.user, change).filter(pk=task_id).first()
    if task is None:
        raise NotFound("No task of this change matches that reference.")
    return services.complete_change_task(request.user, task, **payload.dict())


@router.post("/change-controls/{number}/{action}", response=ChangeDetailOut,
             summary="Submit, request approval, return, approve, implement, close, reject or cancel")
def transition_change(request, number: str,
                      action: Literal["submit", "request_approval", "return_to_assessment", "approve", "implement",
                                      "close", "reject", "cancel"],
                      payload: SignedActionIn):
    change = services.transition_change(
        request.user, selectors.change(request.user, number), action,
        signature=_signature_for(change_workflow, action, payload), first_in_session=True, reason=payload.reason)
    return _change_detail(request, change)


def _approval_detail(request, approval):
    approval.visible_impacts = list(selectors.change_impacts(request.user, approval.change).filter(
        sponsor=approval.sponsor))
    return approval


@router.get("/sponsor-approvals/{number}", response=SponsorApprovalDetailOut,
            summary="A sponsor's approval of a change, with that sponsor's impacts only")
def sponsor_approval(request, number: str):
    return _approval_detail(request, selectors.sponsor_approval(request.user, number))


@router.post("/sponsor-approvals/{number}/{action}", response=SponsorApprovalDetailOut,
             summary="The sponsor approves or rejects (signed by the sponsor's quality lead)")
def decide_sponsor_approval(request, number: str, action: Literal["approve", "reject"], payload: SignedActionIn):
    approval = services.decide_sponsor_approval(
        request.user, selectors.sponsor_approval(request.user, number), action,
        signature=_signature_for(sponsor_approval_workflow, action, payload), first_in_session=True,
        reason=payload.reason)
    return _approval_detail(request, selectors.sponsor_approval(request.user, approval.number))


# --- Risk assessment ---

class RiskAssessmentOut(Schema):
    number: str
    title: str
    scope: str
    status: str
    version: int
    method: str = Field(alias="method.number")
    sponsor: str | None = Field(None, alias="sponsor.code")
    change: str | None = Field(None, alias="change.number")
    subject_type: str
    subject_label: str
    created_at: dt.datetime


class FailureModeOut(Schema):
    id: int
    position: int
    step: str
    failure_mode: str
    effect: str
    cause: str
    current_controls: str
    severity: int
    occurrence: int
    detection: int
    rpn: int
    risk_level: str
    mitigation: str
    capa_action: int | None = Field(None, alias="capa_action_id")
    residual_severity: int | None
    residual_occurrence: int | None
    residual_detection: int | None
    residual_rpn: int | None
    residual_level: str


class RiskAssessmentDetailOut(RiskAssessmentOut):
    failure_modes: list[FailureModeOut] = Field(alias="visible_rows")


class RiskAssessmentIn(Schema):
    title: str = Field(max_length=200)
    scope: str
    method: str = Field(description="number of an approved risk method")
    sponsor: str | None = None
    subject_type: str = ""
    subject_reference: str = ""
    change: str | None = Field(None, description="change control number")


class FailureModeIn(Schema):
    step: str = Field(max_length=200)
    failure_mode: str
    effect: str
    cause: str
    current_controls: str = ""
    severity: int
    occurrence: int
    detection: int
    mitigation: str = ""
    capa_action: int | None = Field(None, description="id of a CAPA action carrying the mitigation")
    residual_severity: int | None = None
    residual_occurrence: int | None = None
    residual_detection: int | None = None


class FailureModePatch(Schema):
    step: str | None = Field(None, max_length=200)
    failure_mode: str | None = None
    effect: str | None = None
    cause: str | None = None
    current_controls: str | None = None
    severity: int | None = None
    occurrence: int | None = None
    detection: int | None = None
    mitigation: str | None = None
    capa_action: int | None = None
    residual_severity: int | None = None
    residual_occurrence: int | None = None
    residual_detection: int | None = None


def _risk_detail(request, assessment):
    assessment.visible_rows = list(selectors.failure_modes(request.user, assessment))
    return assessment


@router.get("/risk-assessments", response=list[RiskAssessmentOut])
@paginate(Pagination)
def risk_assessments(request, status: str = "", q: str = "", sort: str = ""):
    return selectors.risk_assessments_for(request.user, status=status, text=q, sort=sort)


@router.post("/risk-assessments", response={201: RiskAssessmentDetailOut})
def create_risk_assessment(request, payload: RiskAssessmentIn):
    data = payload.dict()
    method = selectors.approved_risk_methods().filter(number=data.pop("method")).first()
    if method is None:
        raise RuleViolation("Name an approved risk method.")
    change = data.pop("change")
    assessment = services.create_risk_assessment(
        request.user, method=method, sponsor=_sponsor_by_code(request, data.pop("sponsor")),
        change=selectors.change(request.user, change) if change else None, **data)
    return 201, _risk_detail(request, assessment)


@router.get("/risk-assessments/{number}", response=RiskAssessmentDetailOut)
def risk_assessment(request, number: str):
    return _risk_detail(request, selectors.risk_assessment(request.user, number))


@router.post("/risk-assessments/{number}/failure-modes", response={201: FailureModeOut},
             summary="Add an FMEA row; RPN and level are computed from the method")
def add_failure_mode(request, number: str, payload: FailureModeIn):
    return 201, services.add_failure_mode(request.user, selectors.risk_assessment(request.user, number),
                                          **payload.dict())


@router.patch("/risk-assessments/{number}/failure-modes/{row_id}", response=FailureModeOut)
def edit_failure_mode(request, number: str, row_id: int, payload: FailureModePatch):
    assessment = selectors.risk_assessment(request.user, number)
    row = selectors.failure_modes(request.user, assessment).filter(pk=row_id).first()
    if row is None:
        raise NotFound("No row of this assessment matches that reference.")
    return services.edit_failure_mode(request.user, row, **payload.dict(exclude_unset=True))


@router.post("/risk-assessments/{number}/{action}", response=RiskAssessmentDetailOut,
             summary="Submit, review, approve, return to draft or void")
def transition_risk_assessment(request, number: str,
                               action: Literal["submit", "review", "approve", "return", "void"],
                               payload: SignedActionIn):
    assessment = services.transition_risk_assessment(
        request.user, selectors.risk_assessment(request.user, number), action,
        signature=_signature_for(risk_assessment_workflow, action, payload), first_in_session=True,
        reason=payload.reason)
    return _risk_detail(request, assessment)


# --- Dashboard ---

class TypeCountOut(Schema):
    label: str
    open: int
    overdue: int | None


class CycleTimeOut(Schema):
    label: str
    closed: int
    median: float | None
    p90: float | None


class OwnerCountOut(Schema):
    name: str
    open: int
    overdue: int


class DashboardOut(Schema):
    today: dt.date
    types: list[TypeCountOut]
    cycle_times: list[CycleTimeOut]
    by_owner: list[OwnerCountOut]


@router.get("/quality/dashboard", response=DashboardOut, summary="Open and overdue items, cycle times")
def dashboard(request):
    return selectors.dashboard(request.user)


# --- Deviations ---

def _may_view_quality(request) -> None:
    require_to_see(request.user, "quality.view")


class DeviationOut(Schema):
    number: str
    title: str
    source: str
    sponsor: str | None = Field(None, description="sponsor code; null for a CDMO-wide deviation")
    area: str
    category: str
    classification: str
    status: str
    status_label: str
    raised_at: dt.datetime
    raised_by: str = Field(alias="raised_by.full_name")
    investigator: str | None = Field(None, description="printed name of the assigned investigator")
    due_date: dt.date | None
    overdue: bool
    closed_at: dt.datetime | None

    @staticmethod
    def resolve_sponsor(obj):
        return obj.sponsor.code if obj.sponsor_id else None

    @staticmethod
    def resolve_status_label(obj):
        return deviation_workflow.label(obj.status)

    @staticmethod
    def resolve_investigator(obj):
        return obj.investigator.full_name if obj.investigator_id else None

    @staticmethod
    def resolve_overdue(obj):
        return selectors.is_overdue(obj)


class LinkOut(Schema):
    record_type: str
    record_id: str
    record_label: str


class WhyOut(Schema):
    why: str
    because: str


class ExtensionOut(Schema):
    number: str
    status: str
    record: str = Field(description="the deviation or CAPA whose due date it moves")
    current_due_date: dt.date
    requested_due_date: dt.date
    justification: str
    requested_by: str = Field(alias="created_by.full_name")
    decided_by: str | None = None

    @staticmethod
    def resolve_record(obj):
        return (obj.deviation or obj.capa).number

    @staticmethod
    def resolve_decided_by(obj):
        return obj.decided_by.full_name if obj.decided_by_id else None


class DeviationDetailOut(DeviationOut):
    version: int
    description: str
    immediate_actions: str
    classification_answers: dict
    classification_rationale: str
    impact_assessment: str
    root_cause_category: str
    root_cause: str
    five_whys: list[WhyOut]
    conclusion: str
    no_capa_justification: str
    links: list[LinkOut] = Field(alias="link_list")
    capas: list[str] = Field(description="numbers of the linked CAPAs")
    extensions: list[ExtensionOut] = Field(alias="extension_list")

    @staticmethod
    def resolve_capas(obj):
        return [c.number for c in selectors.deviation_capas(obj)]


def _deviation_detail(user, deviation):
    deviation.link_list = selectors.deviation_links(user, deviation)
    deviation.extension_list = selectors.extensions_of(deviation)
    return deviation


class RecordRefIn(Schema):
    type: str = Field(description="record type, e.g. materials.lot")
    reference: str = Field(description="its number or code")


class DeviationIn(Schema):
    title: str = Field(max_length=200)
    description: str
    sponsor: str | None = Field(None, description="sponsor code; omit for a CDMO-wide deviation")
    area: str = Field("", max_length=100)
    category: str = ""
    immediate_actions: str = ""
    records: list[RecordRefIn] = Field([], description="records it concerns", max_length=50)


class ClassifyIn(Schema):
    answers: dict[str, str] = Field(description="decision-tree question key → yes / no")
    classification: str = Field("", description="minor, major or critical; empty: as the tree suggests")
    rationale: str = Field("", description="required when choosing another class than suggested")
    investigator: str = Field(description="user ID of the investigator")


class WhyIn(Schema):
    why: str
    because: str


class InvestigationIn(Schema):
    impact_assessment: str | None = None
    root_cause_category: str | None = None
    root_cause: str | None = None
    five_whys: list[WhyIn] | None = Field(None, max_length=10)
    conclusion: str | None = None
    no_capa_justification: str | None = None


class ExtensionIn(Schema):
    requested_due_date: dt.date
    justification: str


def _active_user(username: str, label: str):
    person = User.objects.filter(username=username.strip(), is_active=True).first() if username.strip() else None
    if person is None:
        raise RuleViolation(f"No active user '{username}' to be {label}.")
    return person


@router.get("/deviations", response=list[DeviationOut], summary="Deviations, filtered and sorted")
@paginate(Pagination)
def deviations(request, status: str = "", classification: str = "", source: str = "", sponsor: str = "",
               overdue: bool = False, q: str = "", sort: str = ""):
    _may_view_quality(request)
    return selectors.deviations_for(request.user, status=status, classification=classification, source=source,
                                    sponsor=sponsor, overdue=overdue, text=q,
                                    sort=sort or selectors.DEVIATION_LIST_DEFAULT_SORT)


@router.post("/deviations", response={201: DeviationDetailOut}, summary="Raise a deviation")
def raise_deviation(request, payload: DeviationIn):
    require(request.user, "quality.raise_deviation", to="raise a deviation")
    with transaction.atomic():
        deviation = services.raise_deviation(
            request.user, title=payload.title, description=payload.description, source="manual",
            sponsor=_sponsor_by_code(request, payload.sponsor), area=payload.area, category=payload.category,
            immediate_actions=payload.immediate_actions)
        for ref in payload.records:
            services.link_record(request.user, deviation, type_name=ref.type, reference=ref.reference)
    return Status(201, _deviation_detail(request.user, deviation))


@router.get("/deviations/{number}", response=DeviationDetailOut)
def deviation(request, number: str):
    _may_view_quality(request)
    return _deviation_detail(request.user, selectors.deviation(request.user, number))


@router.post("/deviations/{number}/classify", response=DeviationDetailOut,
             summary="Classify with the decision tree and assign the investigator (QA)")
def classify_deviation(request, number: str, payload: ClassifyIn):
    deviation = selectors.deviation(request.user, number)
    services.classify_deviation(request.user, deviation, answers=payload.answers,
                                classification=payload.classification, rationale=payload.rationale,
                                investigator=_active_user(payload.investigator, "investigator"))
    return _deviation_detail(request.user, selectors.deviation(request.user, number))


@router.post("/deviations/{number}/investigation", response=DeviationDetailOut,
             summary="Record the investigation (the assigned investigator); only the fields given change")
def record_investigation(request, number: str, payload: InvestigationIn):
    fields = {k: v for k, v in payload.dict().items() if v is not None}
    services.record_investigation(request.user, selectors.deviation(request.user, number), **fields)
    return _deviation_detail(request.user, selectors.deviation(request.user, number))


@router.post("/deviations/{number}/extensions", response={201: ExtensionOut},
             summary="Request a due date extension")
def request_deviation_extension(request, number: str, payload: ExtensionIn):
    extension = services.request_extension(request.user, selectors.deviation(request.user, number),
                                           requested_due_date=payload.requested_due_date,
                                           justification=payload.justification)
    return Status(201, extension)


@router.post("/deviations/{number}/{action}", response=DeviationDetailOut,
             summary="Submit for closure, return, close or cancel (signing actions need user ID and password)")
def transition_deviation(request, number: str, action: Literal["submit", "return", "close", "cancel"],
                         payload: SignedActionIn):
    services.transition_deviation(request.user, selectors.deviation(request.user, number), action,
                                  signature=_signature_for(deviation_workflow, action, payload),
                                  first_in_session=True, reason=payload.reason)
    return _deviation_detail(request.user, selectors.deviation(request.user, number))


@router.get("/extensions/{number}", response=ExtensionOut)
def extension(request, number: str):
    _may_view_quality(request)
    return selectors.extension(request.user, number)


@router.post("/extensions/{number}/{action}", response=ExtensionOut,
             summary="Approve (signed; moves the due date) or reject (with a reason) an extension request")
def decide_extension(request, number: str, action: Literal["approve", "reject"], payload: SignedActionIn):
    services.transition_extension(request.user, selectors.extension(request.user, number), action,
                                  signature=_signature_for(extension_workflow, action, payload),
                                  first_in_session=True, reason=payload.reason)
    return selectors.extension(request.user, number)


# --- CAPA ---

class CapaOut(Schema):
    number: str
    title: str
    source: str
    source_reference: str
    sponsor: str | None = None
    owner: str = Field(alias="owner.full_name")
    status: str
    status_label: str
    due_date: dt.date
    overdue: bool
    effectiveness_due_date: dt.date | None
    effectiveness_result: str

    @staticmethod
    def resolve_sponsor(obj):
        return obj.sponsor.code if obj.sponsor_id else None

    @staticmethod
    def resolve_status_label(obj):
        return capa_workflow.label(obj.status)

    @staticmethod
    def resolve_overdue(obj):
        return selectors.is_overdue(obj)


class CapaActionOut(Schema):
    id: int
    kind: str
    description: str
    owner: str = Field(alias="owner.full_name")
    due_date: dt.date
    status: str
    evidence: str
    completed_by: str | None = None
    verified_by: str | None = None

    @staticmethod
    def resolve_completed_by(obj):
        return obj.completed_by.full_name if obj.completed_by_id else None

    @staticmethod
    def resolve_verified_by(obj):
        return obj.verified_by.full_name if obj.verified_by_id else None


class CapaDetailOut(CapaOut):
    version: int
    problem: str
    effectiveness_criteria: str
    effectiveness_evidence: str
    closed_at: dt.datetime | None
    actions: list[CapaActionOut] = Field(alias="action_list")
    deviations: list[str] = Field(alias="deviation_list")
    extensions: list[ExtensionOut] = Field(alias="extension_list")


def _capa_detail(request, capa):
    capa.action_list = selectors.capa_actions(capa)
    capa.deviation_list = [d.number for d in selectors.capa_deviations(request.user, capa)]
    capa.extension_list = selectors.extensions_of(capa)
    return capa


class CapaIn(Schema):
    title: str = Field(max_length=200)
    problem: str
    source: str = Field("", description="audit, complaint, trend, change or risk; 'deviation' with `deviation`")
    source_reference: str = Field("", max_length=100)
    deviation: str | None = Field(None, description="number of the deviation it is raised for (links it)")
    sponsor: str | None = Field(None, description="sponsor code (taken from the deviation when one is given)")
    owner: str = Field("", description="user ID of the owner; default: you")
    due_date: dt.date | None = None
    effectiveness_criteria: str = ""


class CapaActionIn(Schema):
    kind: str = Field(description="corrective or preventive")
    description: str
    owner: str = Field(description="user ID")
    due_date: dt.date


class ActionStepIn(Schema):
    evidence: str = Field("", description="complete: what shows it was done")
    reason: str = Field("", description="cancel: why")


class CompletionIn(Schema):
    effectiveness_criteria: str = ""


class EffectivenessIn(Schema):
    result: str = Field(description="effective, not_effective or justified")
    evidence: str


@router.get("/capas", response=list[CapaOut], summary="CAPAs, filtered and sorted")
@paginate(Pagination)
def capas(request, status: str = "", source: str = "", sponsor: str = "", overdue: bool = False, q: str = "",
          sort: str = ""):
    _may_view_quality(request)
    return selectors.capas_for(request.user, status=status, source=source, sponsor=sponsor, overdue=overdue, text=q,
                               sort=sort or selectors.CAPA_LIST_DEFAULT_SORT)


@router.post("/capas", response={201: CapaDetailOut}, summary="Raise a CAPA (from a deviation: linked to it)")
def raise_capa(request, payload: CapaIn):
    user = request.user
    deviation = selectors.deviation(user, payload.deviation) if payload.deviation else None
    capa = services.raise_capa(
        user, title=payload.title, problem=payload.problem, source=payload.source,
        source_reference=payload.source_reference, deviation=deviation,
        sponsor=None if deviation else _sponsor_by_code(request, payload.sponsor),
        owner=_active_user(payload.owner, "CAPA owner") if payload.owner else user, due_date=payload.due_date,
        effectiveness_criteria=payload.effectiveness_criteria)
    return Status(201, _capa_detail(request, capa))


@router.get("/capas/{number}", response=CapaDetailOut)
def capa(request, number: str):
    _may_view_quality(request)
    return _capa_detail(request, selectors.capa(request.user, number))


@router.post("/capas/{number}/actions", response={201: CapaActionOut}, summary="Add an action to the plan")
def add_capa_action(request, number: str, payload: CapaActionIn):
    action = services.add_capa_action(request.user, selectors.capa(request.user, number), kind=payload.kind,
                                      description=payload.description,
                                      owner=_active_user(payload.owner, "action owner"), due_date=payload.due_date)
    return Status(201, action)


@router.post("/capas/{number}/actions/{action_id}/{step}", response=CapaActionOut,
             summary="Complete (owner, with evidence), verify (someone else) or cancel (with a reason) an action")
def capa_action_step(request, number: str, action_id: int, step: Literal["complete", "verify", "cancel"],
                     payload: ActionStepIn):
    user = request.user
    action = selectors.capa_action(user, selectors.capa(user, number), action_id)
    if step == "complete":
        return services.complete_capa_action(user, action, evidence=payload.evidence)
    if step == "verify":
        return services.verify_capa_action(user, action)
    return services.cancel_capa_action(user, action, reason=payload.reason)


@router.post("/capas/{number}/completion", response=CapaDetailOut,
             summary="Implementation complete: schedules the effectiveness check")
def complete_capa(request, number: str, payload: CompletionIn):
    services.complete_implementation(request.user, selectors.capa(request.user, number),
                                     effectiveness_criteria=payload.effectiveness_criteria)
    return _capa_detail(request, selectors.capa(request.user, number))


@router.post("/capas/{number}/effectiveness", response=CapaDetailOut,
             summary="Record the effectiveness check (not effective: back to implementing)")
def record_effectiveness(request, number: str, payload: EffectivenessIn):
    services.record_effectiveness(request.user, selectors.capa(request.user, number), result=payload.result,
                                  evidence=payload.evidence)
    return _capa_detail(request, selectors.capa(request.user, number))


@router.post("/capas/{number}/extensions", response={201: ExtensionOut}, summary="Request a due date extension")
def request_capa_extension(request, number: str, payload: ExtensionIn):
    extension = services.request_extension(request.user, selectors.capa(request.user, number),
                                           requested_due_date=payload.requested_due_date,
                                           justification=payload.justification)
    return Status(201, extension)


@router.post("/capas/{number}/{action}", response=CapaDetailOut,
             summary="Approve the plan, close (both signed) or cancel (with a reason)")
def transition_capa(request, number: str, action: Literal["approve", "close", "cancel"], payload: SignedActionIn):
    services.transition_capa(request.user, selectors.capa(request.user, number), action,
                             signature=_signature_for(capa_workflow, action, payload), first_in_session=True,
                             reason=payload.reason)
    return _capa_detail(request, selectors.capa(request.user, number))
