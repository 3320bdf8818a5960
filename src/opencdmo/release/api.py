"""Disposition over HTTP. Thin: selectors and services do the work."""

import datetime as dt
from typing import Literal

from django.http import HttpResponse
from ninja import Field, Query, Router, Schema
from ninja.pagination import paginate

from opencdmo.core.access import require, require_to_see
from opencdmo.core.api import Pagination
from opencdmo.core.signatures import SignatureInput

from . import certificates, selectors, services
from .workflows import DISPOSITION_STATES, NOTICE_STATES

router = Router(tags=["Disposition"])

# --- Disposition ---


class PrerequisiteOut(Schema):
    name: str
    state: Literal["met", "unmet", "pending", "not_applicable"]
    detail: str
    link: str = ""


class ReleaseTestOut(Schema):
    attribute: str
    method: str
    limit: str
    result: str | None
    result_ref: str | None = Field(None, description="the result's number (RES-…)")
    state: str
    state_label: str
    may_be_pending_at_release: bool


class DispositionOut(Schema):
    number: str | None
    subject_type: str
    subject_ref: str
    subject_label: str
    status: str
    status_label: str
    decided_at: dt.datetime | None = None
    decided_by: str | None = None
    decision_comment: str = ""
    risk_assessment: str = ""
    pending_tests: list[dict] = []
    prerequisites: list[PrerequisiteOut]
    release_tests: list[ReleaseTestOut]
    specification: str | None = None


class DispositionRowOut(Schema):
    number: str
    subject_type: str
    subject_ref: str
    subject_label: str
    status: str
    decided_at: dt.datetime | None
    decided_by: str | None = Field(None, alias="decided_by.full_name")


class DecisionIn(Schema):
    decision: Literal["release", "conditional_release", "reject"]
    username: str = Field(max_length=150, description="your user ID: every API signature re-authenticates")
    password: str = Field(max_length=200)
    comment: str = Field("", max_length=4000, description="required to reject: the reason")
    risk_assessment: str = Field("", max_length=4000, description="required for a conditional release")


class NoticeOut(Schema):
    number: str
    disposition: str = Field(alias="disposition.number")
    subject: str = Field(alias="disposition.subject_ref")
    result_ref: str
    finding: str
    deviation: str | None = Field(None, alias="deviation.number")
    status: str
    status_label: str
    notified_at: dt.datetime | None
    notified_whom: str
    notification: str

    @staticmethod
    def resolve_status_label(obj):
        return NOTICE_STATES.get(obj.status, obj.status)


class NotificationIn(Schema):
    notified_whom: str = Field(max_length=200)
    notification: str = Field(max_length=4000)


class DispositionFilter(Schema):
    status: Literal["", "released", "conditionally_released", "rejected", "open"] = ""
    subject_type: Literal["", "batches.batch", "materials.lot"] = ""
    sponsor: str = Field("", max_length=64)
    q: str = Field("", max_length=64)


def _disposition_out(subject) -> dict:
    disposition = selectors.disposition_of(subject)
    spec, statuses = selectors.tests_of(subject)
    from opencdmo.qc import selectors as qc_selectors  # noqa: PLC0415

    return {
        "number": disposition.number if disposition else None,
        "subject_type": selectors.subject_type_of(subject), "subject_ref": subject.number,
        "subject_label": selectors.subject_label(subject),
        "status": disposition.status if disposition else "open",
        "status_label": DISPOSITION_STATES.get(disposition.status, "") if disposition else "Not opened",
        "decided_at": disposition.decided_at if disposition else None,
        "decided_by": disposition.decided_by.full_name if disposition and disposition.decided_by else None,
        "decision_comment": disposition.decision_comment if disposition else "",
        "risk_assessment": disposition.risk_assessment if disposition else "",
        "pending_tests": disposition.pending_tests if disposition else [],
        "prerequisites": [p.as_dict() for p in selectors.prerequisites_of(subject)],
        "specification": f"{spec.number} rev {spec.revision}" if spec else None,
        "release_tests": [{
            "attribute": s.test.attribute, "method": s.test.method.code, "limit": qc_selectors.limit_text(s.test),
            "result": (s.result.reported or s.result.value) if s.result else None,
            "result_ref": s.result.number if s.result else None, "state": s.state, "state_label": s.label,
            "may_be_pending_at_release": s.test.may_be_pending_at_release} for s in statuses],
    }


def _signature(payload: DecisionIn) -> SignatureInput:
    return SignatureInput(meaning="Rejected" if payload.decision == "reject" else "QA Released",
                           password=payload.password, username=payload.username)


def _decide(request, subject, payload: DecisionIn) -> dict:
    services.decide_on(request.user, subject, payload.decision, signature=_signature(payload), first_in_session=True,
                       comment=payload.comment, risk_assessment=payload.risk_assessment)
    return _disposition_out(subject)


@router.get("/release/dispositions", response=list[DispositionRowOut],
            summary="Decided dispositions of batches and lots (open ones with status=open)")
@paginate(Pagination)
def list_dispositions(request, filters: Query[DispositionFilter]):
    return selectors.dispositions_for(request.user, status=filters.status, subject_type=filters.subject_type,
                                       sponsor=filters.sponsor, text=filters.q)


@router.get("/release/batches/{number}/disposition", response=DispositionOut,
            summary="A batch's disposition: every prerequisite with its state, and the release tests")
def batch_disposition(request, number: str):
    return _disposition_out(selectors.batch(request.user, number))


@router.post("/release/batches/{number}/disposition", response=DispositionOut,
             summary="Decide a batch: release, conditional release or reject, signed (user ID and password)")
def decide_batch(request, number: str, payload: DecisionIn):
    return _decide(request, selectors.batch(request.user, number), payload)


@router.get("/release/lots/{number}/disposition", response=DispositionOut,
            summary="A material lot's disposition: prerequisites and incoming tests")
def lot_disposition(request, number: str):
    return _disposition_out(selectors.lot(request.user, number))


@router.post("/release/lots/{number}/disposition", response=DispositionOut,
             summary="Decide a material lot: release or reject, signed; the lot's status follows")
def decide_lot(request, number: str, payload: DecisionIn):
    return _decide(request, selectors.lot(request.user, number), payload)


@router.get("/release/notices", response=list[NoticeOut], summary="Post-release notices of late failing results")
@paginate(Pagination)
def list_notices(request, status: Literal["", "open", "notified"] = ""):
    return selectors.notices_for(request.user, status=status)


@router.get("/release/notices/{number}", response=NoticeOut, summary="A post-release notice")
def get_notice(request, number: str):
    return selectors.notice(request.user, number)


@router.post("/release/notices/{number}/notification", response=NoticeOut,
             summary="Record whom QA told of the late failing result, and what (closes the notice)")
def record_notification(request, number: str, payload: NotificationIn):
    require_to_see(request.user, "release.view")
    notice = selectors.notice(request.user, number)
    return services.record_notification(request.user, notice, notified_whom=payload.notified_whom,
                                         notification=payload.notification)

# --- Certificates ---


_COA_PDF = {"responses": {200: {"description": "The certificate of analysis (PDF)",
                                "content": {"application/pdf": {}}}}}


def _coa_pdf(pdf: bytes, number: str) -> HttpResponse:
    response = HttpResponse(pdf, content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{certificates.filename(number)}"'
    return response


@router.get("/release/batches/{number}/coa", summary="The certificate of analysis of a released batch (PDF)",
            openapi_extra=_COA_PDF)
def get_batch_coa(request, number: str):
    require(request.user, certificates.PERMISSION, to="see this")
    return _coa_pdf(certificates.batch_certificate(request.user, number, request=request), number)


@router.get("/release/lots/{number}/coa", summary="The certificate of analysis of a released material lot (PDF)",
            openapi_extra=_COA_PDF)
def get_lot_coa(request, number: str):
    require(request.user, certificates.PERMISSION, to="see this")
    return _coa_pdf(certificates.lot_certificate(request.user, number, request=request), number)
