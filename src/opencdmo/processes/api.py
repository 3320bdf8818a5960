"""Master batch records over HTTP. Thin: selectors and services do the work."""

import datetime as dt
from typing import Literal

from ninja import Field, Query, Router, Schema
from ninja.pagination import paginate

from opencdmo.core.access import require
from opencdmo.core.api import Pagination
from opencdmo.core.signatures import SignatureInput

from . import selectors, services
from .workflows import version_workflow

router = Router(tags=["Master batch records"])

TEXT_LIMIT = 2_000_000  # characters of an MBR file: a few hundred steps are far below this


def _may_view(request) -> None:
    require(request.user, "processes.view", to="see master batch records")


class VersionOut(Schema):
    number: str
    mbr: str = Field(alias="mbr.number")
    version_number: int
    label: str
    status: str
    status_label: str
    change_summary: str
    change_control: str
    effective_from: dt.datetime | None
    version: int
    created_at: dt.datetime
    created_by: str = Field(alias="created_by.full_name")

    @staticmethod
    def resolve_status_label(obj):
        return version_workflow.label(obj.status)


class VersionDetailOut(VersionOut):
    definition: dict = Field(description="the whole structure as canonical JSON (format opencdmo-mbr/1)")


class MbrOut(Schema):
    number: str
    title: str
    product: str = Field(alias="product.code")
    sponsor: str = Field(alias="product.program.sponsor.code")
    effective_version: str | None
    open_version: str | None

    @staticmethod
    def resolve_effective_version(obj):
        version = selectors.effective_version(obj)
        return version.number if version else None

    @staticmethod
    def resolve_open_version(obj):
        version = selectors.open_version(obj)
        return version.number if version else None


class MbrDetailOut(MbrOut):
    versions: list[VersionOut]

    @staticmethod
    def resolve_versions(obj):
        return list(selectors.versions_of(obj))


class MbrFilter(Schema):
    sponsor: str = Field("", max_length=32, description="sponsor code")
    product: str = Field("", max_length=32, description="product code")
    q: str = Field("", max_length=100)
    sort: Literal["number", "-number", "title", "-title", "product", "-product", "sponsor", "-sponsor"] = "number"


class ImportIn(Schema):
    text: str = Field(max_length=TEXT_LIMIT, description="an MBR file, YAML or JSON")
    change_summary: str = Field("", max_length=5000)
    change_control: str = Field("", max_length=64)


class NewVersionIn(Schema):
    text: str | None = Field(None, max_length=TEXT_LIMIT, description="an MBR file; none: copy the effective version")
    change_summary: str = Field("", max_length=5000)
    change_control: str = Field("", max_length=64)


class VersionPatch(Schema):
    text: str | None = Field(None, max_length=TEXT_LIMIT, description="the whole MBR file, YAML or JSON")
    change_summary: str | None = Field(None, max_length=5000)
    change_control: str | None = Field(None, max_length=64)


class ExportOut(Schema):
    number: str
    format: str
    text: str


class SignedIn(Schema):
    username: str = Field("", description="your user ID: every API signature re-enters both components")
    password: str = ""
    comment: str = ""
    reason: str = ""


@router.get("/mbrs", response=list[MbrOut], summary="Master batch records, filtered and sorted")
@paginate(Pagination)
def mbrs(request, filters: Query[MbrFilter]):
    f = filters.dict()
    return selectors.mbrs_for(request.user, sponsor=f["sponsor"], product=f["product"], text=f["q"], sort=f["sort"])


@router.post("/mbrs/import", response={201: VersionDetailOut},
             summary="Import an MBR file as a new draft version (the MBR is created for a product that has none)")
def import_version(request, payload: ImportIn):
    return 201, services.import_version(request.user, **payload.dict())


@router.get("/mbrs/{number}", response=MbrDetailOut)
def mbr(request, number: str):
    return selectors.mbr(request.user, number)


@router.get("/mbrs/{number}/versions", response=list[VersionOut])
def versions(request, number: str):
    return list(selectors.versions_of(selectors.mbr(request.user, number)))


@router.post("/mbrs/{number}/versions", response={201: VersionDetailOut},
             summary="Start the next version: from a file, or a copy of the effective version")
def new_version(request, number: str, payload: NewVersionIn):
    return 201, services.new_version(request.user, selectors.mbr(request.user, number), **payload.dict())


@router.get("/mbr-versions/{number}", response=VersionDetailOut)
def version(request, number: str):
    return selectors.version(request.user, number)


@router.get("/mbr-versions/{number}/export", response=ExportOut, summary="The version as an MBR file (audited)")
def export(request, number: str, format: Literal["yaml", "json"] = "yaml"):  # noqa: A002  (the query parameter's name)
    _may_view(request)
    found = selectors.version(request.user, number)
    text = selectors.export_text(found, format)
    services.record_export(request.user, found, file_format=format)
    return {"number": found.number, "format": format, "text": text}


@router.patch("/mbr-versions/{number}", response=VersionDetailOut, summary="Edit a draft version")
def edit_version(request, number: str, payload: VersionPatch):
    changes = {k: v for k, v in payload.dict(exclude_unset=True).items() if v is not None}
    return services.edit_version(request.user, selectors.version(request.user, number), **changes)


@router.post("/mbr-versions/{number}/{action}", response=VersionOut,
             summary="Submit, approve, make effective, return or withdraw (signing steps need user ID and password)")
def transition_version(request, number: str,
                       action: Literal["submit", "approve", "make_effective", "return", "withdraw"],
                       payload: SignedIn):
    transition = version_workflow.get(action)
    signature = None
    if transition.signature:
        signature = SignatureInput(meaning=transition.signature, password=payload.password,
                                   username=payload.username, comment=payload.comment)
    return services.transition_version(request.user, selectors.version(request.user, number), action,
                                       signature=signature, reason=payload.reason)
