"""Controlled documents over HTTP. Thin: selectors and services do the work."""

import datetime as dt
from typing import Literal

from ninja import Field, Query, Router, Schema
from ninja.pagination import paginate

from opencdmo.core.access import require
from opencdmo.core.api import Pagination
from opencdmo.core.signatures import SignatureInput
from opencdmo.sponsors import selectors as sponsor_selectors

from . import selectors, services
from .workflows import document_workflow, version_workflow

router = Router(tags=["Documents"])

DocType = Literal["sop", "work_instruction", "form", "specification", "policy", "protocol", "report"]


def _may_view(request) -> None:
    require(request.user, "documents.view", to="see this")


class VersionOut(Schema):
    number: str
    document: str = Field(alias="document.number")
    label: str
    status: str
    status_label: str
    effective_date: dt.date | None
    effective_from: dt.datetime | None
    content: str
    change_summary: str
    training_required: bool
    change_control: str
    version: int
    created_at: dt.datetime
    created_by: str = Field(alias="created_by.full_name")

    @staticmethod
    def resolve_status_label(obj):
        return version_workflow.label(obj.status)


class DocumentOut(Schema):
    number: str
    doc_type: str
    title: str
    owner: str = Field(alias="owner.full_name")
    sponsor: str | None = Field(None, alias="sponsor.code")
    status: str
    status_label: str
    review_interval_months: int
    next_review_due: dt.date | None
    effective_version: str | None

    @staticmethod
    def resolve_status_label(obj):
        return document_workflow.label(obj.status)

    @staticmethod
    def resolve_effective_version(obj):
        version = selectors.effective_version(obj)
        return version.number if version else None


class DocumentDetailOut(DocumentOut):
    versions: list[VersionOut]

    @staticmethod
    def resolve_versions(obj):
        return list(selectors.versions_of(obj))


class DocumentFilter(Schema):
    type: DocType | None = None
    status: Literal["active", "obsolete"] | None = None
    q: str = Field("", max_length=100)
    sort: Literal["number", "-number", "title", "-title", "type", "-type", "review", "-review"] = "number"


class DocumentIn(Schema):
    doc_type: DocType
    title: str = Field(max_length=200)
    sponsor: str | None = Field(None, description="sponsor code, for a sponsor-specific document")
    review_interval_months: int | None = Field(None, ge=1, le=120)
    content: str = ""
    change_summary: str = "New document."
    effective_date: dt.date | None = None
    training_required: bool = True
    change_control: str = Field("", max_length=64)


class NewVersionIn(Schema):
    major_change: bool
    change_summary: str = Field(max_length=5000)
    training_required: bool | None = None
    change_control: str = Field("", max_length=64)
    effective_date: dt.date | None = None


class VersionPatch(Schema):
    content: str | None = None
    change_summary: str | None = None
    effective_date: dt.date | None = None
    training_required: bool | None = None
    change_control: str | None = Field(None, max_length=64)


class SignedIn(Schema):
    username: str = Field("", description="your user ID: every API signature re-enters both components")
    password: str = ""
    comment: str = ""
    reason: str = ""


class EffectiveOut(Schema):
    document: str
    at: dt.datetime
    version: VersionOut | None


@router.get("/documents", response=list[DocumentOut], summary="Controlled documents, filtered and sorted")
@paginate(Pagination)
def documents(request, filters: Query[DocumentFilter]):
    _may_view(request)
    f = filters.dict()
    return selectors.documents_for(request.user, doc_type=f["type"] or "", status=f["status"] or "", q=f["q"],
                                   sort=f["sort"])


@router.post("/documents", response={201: DocumentDetailOut}, summary="A new document with draft version 1.0")
def create_document(request, payload: DocumentIn):
    data = payload.dict()
    code = data.pop("sponsor")
    sponsor = sponsor_selectors.sponsor(request.user, code) if code else None
    return 201, services.create_document(request.user, sponsor=sponsor, **data)


@router.get("/documents/{number}", response=DocumentDetailOut)
def document(request, number: str):
    _may_view(request)
    return selectors.document(request.user, number)


@router.get("/documents/{number}/effective-version", response=EffectiveOut,
            summary="The version in force at an instant (now by default)")
def effective_version(request, number: str, at: dt.datetime | None = None):
    _may_view(request)
    doc = selectors.document(request.user, number)
    at = selectors.instant(at)
    return {"document": doc.number, "at": at, "version": selectors.effective_version(doc, at)}


@router.post("/documents/{number}/versions", response={201: VersionOut},
             summary="Start the next version (a copy of the latest, numbered major or minor)")
def new_version(request, number: str, payload: NewVersionIn):
    return 201, services.new_version(request.user, selectors.document(request.user, number), **payload.dict())


@router.post("/documents/{number}/make-obsolete", response=DocumentOut,
             summary="Make the whole document obsolete (QA; reason and signature 'Approved')")
def make_obsolete(request, number: str, payload: SignedIn):
    signature = SignatureInput(meaning="Approved", password=payload.password, username=payload.username,
                               comment=payload.comment)
    return services.transition_document(request.user, selectors.document(request.user, number), "make_obsolete",
                                        signature=signature, reason=payload.reason)


@router.get("/document-versions/{number}", response=VersionOut)
def version(request, number: str):
    _may_view(request)
    return selectors.version(request.user, number)


@router.patch("/document-versions/{number}", response=VersionOut, summary="Edit a draft version")
def edit_version(request, number: str, payload: VersionPatch):
    changes = {k: v for k, v in payload.dict(exclude_unset=True).items() if v is not None or k == "effective_date"}
    return services.edit_version(request.user, selectors.version(request.user, number), **changes)


@router.post("/document-versions/{number}/{action}", response=VersionOut,
             summary="Submit, review, approve, return or withdraw (signing steps need user ID and password)")
def transition_version(request, number: str, action: Literal["submit", "review", "approve", "return", "withdraw"],
                       payload: SignedIn):
    transition = version_workflow.get(action)
    signature = None
    if transition.signature:
        signature = SignatureInput(meaning=transition.signature, password=payload.password,
                                   username=payload.username, comment=payload.comment)
    return services.transition_version(request.user, selectors.version(request.user, number), action,
                                       signature=signature, reason=payload.reason)
