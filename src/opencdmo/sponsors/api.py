"""Sponsors, products and quality agreements over HTTP. Thin: selectors and services do the work."""

import datetime as dt
from typing import Literal

from ninja import Field, Router, Schema

from opencdmo.core.errors import PermissionDenied
from opencdmo.core.signatures import SignatureInput

from . import selectors, services
from .workflows import quality_agreement_workflow

router = Router(tags=["Sponsors"])


def _may_view(request) -> None:
    if not request.user.has_permission("sponsors.view"):
        raise PermissionDenied("You do not have the permission to see this (sponsors.view).")


class ProductOut(Schema):
    code: str
    name: str
    modality: str
    phase: str
    program: str = Field(alias="program.code")
    sponsor: str = Field(alias="program.sponsor.code")


class ProgramOut(Schema):
    code: str
    name: str
    description: str


class SponsorOut(Schema):
    code: str
    name: str
    is_active: bool


@router.get("/sponsors", response=list[SponsorOut], summary="Sponsors assigned to you")
def sponsors(request):
    _may_view(request)
    return list(selectors.sponsors_for(request.user))


@router.get("/sponsors/{code}", response=SponsorOut)
def sponsor(request, code: str):
    _may_view(request)
    return selectors.sponsor(request.user, code)


@router.get("/sponsors/{code}/programs", response=list[ProgramOut])
def sponsor_programs(request, code: str):
    _may_view(request)
    return list(selectors.programs_for(request.user).filter(sponsor=selectors.sponsor(request.user, code)))


@router.get("/products", response=list[ProductOut])
def products(request):
    _may_view(request)
    return list(selectors.products_for(request.user))


class AgreementOut(Schema):
    number: str
    title: str
    sponsor: str = Field(alias="sponsor.code")
    status: str
    status_label: str
    version: int
    sponsor_approval_for_changes: bool
    deviation_notification_days: int
    effective_date: dt.date | None
    terms: str
    created_at: dt.datetime
    created_by: str = Field(alias="created_by.full_name")

    @staticmethod
    def resolve_status_label(obj):
        return quality_agreement_workflow.label(obj.status)


class AgreementIn(Schema):
    sponsor: str = Field(description="sponsor code")
    title: str = Field(max_length=200)
    sponsor_approval_for_changes: bool = True
    deviation_notification_days: int = Field(2, ge=0, le=365)
    effective_date: dt.date | None = None
    terms: str = ""


class AgreementPatch(Schema):
    title: str | None = Field(None, max_length=200)
    sponsor_approval_for_changes: bool | None = None
    deviation_notification_days: int | None = Field(None, ge=0, le=365)
    effective_date: dt.date | None = None
    terms: str | None = None
    reason: str = Field("", description="required once the agreement has left draft")


class TransitionIn(Schema):
    username: str = Field("", description="your user ID: every API signature re-enters both components")
    password: str = ""
    comment: str = ""
    reason: str = ""


@router.get("/quality-agreements", response=list[AgreementOut])
def agreements(request, status: str = ""):
    _may_view(request)
    return list(selectors.agreements_for(request.user, status=status or None))


@router.post("/quality-agreements", response={201: AgreementOut})
def create_agreement(request, payload: AgreementIn):
    data = payload.dict()
    sponsor = selectors.sponsor(request.user, data.pop("sponsor"))
    return 201, services.draft_quality_agreement(request.user, sponsor=sponsor, **data)


@router.get("/quality-agreements/{number}", response=AgreementOut)
def agreement(request, number: str):
    _may_view(request)
    return selectors.agreement(request.user, number)


@router.patch("/quality-agreements/{number}", response=AgreementOut)
def edit_agreement(request, number: str, payload: AgreementPatch):
    changes = payload.dict(exclude_unset=True)
    reason = changes.pop("reason", "")
    changes = {k: v for k, v in changes.items() if v is not None or k == "effective_date"}
    return services.edit_quality_agreement(request.user, selectors.agreement(request.user, number),
                                           reason=reason, **changes)


@router.post("/quality-agreements/{number}/{action}", response=AgreementOut,
             summary="Submit, return, approve or void (signing actions need user ID and password)")
def transition_agreement(request, number: str, action: Literal["submit", "return", "approve", "void"],
                         payload: TransitionIn):
    transition = quality_agreement_workflow.get(action)
    signature = None
    if transition.signature:
        signature = SignatureInput(meaning=transition.signature, password=payload.password,
                                   username=payload.username, comment=payload.comment)
    return services.transition_quality_agreement(
        request.user, selectors.agreement(request.user, number), action,
        signature=signature, first_in_session=True, reason=payload.reason)
