"""The kernel's API: who am I, the audit trail, signatures and attachments of any record,
users (administrators), and personal tokens. Thin: selectors and services do the work."""

import datetime as dt
import hashlib

from ninja import Field, File, Form, Query, Router, Schema
from ninja.files import UploadedFile
from ninja.pagination import LimitOffsetPagination, paginate
from ninja.security import HttpBearer, django_auth

from . import clock, selectors, services
from .access import require
from .models import ApiToken, User
from .verification import verify_audit_trail


class TokenAuth(HttpBearer):
    """Personal API tokens: `Authorization: Bearer ocd_…`."""

    def authenticate(self, request, token):
        digest = hashlib.sha256(token.encode()).hexdigest()
        found = ApiToken.objects.select_related("user").filter(token_hash=digest, revoked_at__isnull=True).first()
        if found is None or not found.user.is_active or found.user.is_locked:
            return None
        ApiToken.objects.filter(pk=found.pk).update(last_used_at=clock.now())
        request.user = found.user
        request.api_token = True
        return found.user


AUTH = [TokenAuth(), django_auth]


class Pagination(LimitOffsetPagination):
    """Limit and offset within bounds the database can hold: an unbounded number in the query
    string would otherwise reach SQL and fail there as a server error."""

    MAX_LIMIT = 1000

    class Input(Schema):
        limit: int = Field(100, ge=1, le=1000)
        offset: int = Field(0, ge=0, le=10**15)

    def __init__(self, **kwargs):
        super().__init__(max_limit=self.MAX_LIMIT, **kwargs)

router = Router(tags=["Compliance kernel"])


class MeOut(Schema):
    username: str
    full_name: str
    roles: list[str]
    sponsors: list[str]


@router.get("/me", response=MeOut, summary="The signed-in user, their roles and sponsors")
def me(request):
    user = request.user
    return {"username": user.username, "full_name": user.full_name, "roles": user.role_codes,
            "sponsors": list(user.sponsors.values_list("code", flat=True))}


class AuditEventOut(Schema):
    id: int
    occurred_at: str = Field(description="server time, UTC, ISO 8601")
    actor_id: int | None
    actor_name: str
    action: str
    record_type: str
    record_id: str
    record_label: str
    record_version: int | None
    changes: str = Field(description="canonical JSON {field: [old, new]}")
    reason: str
    correlation_id: str
    client_address: str
    chain: int = Field(alias="lane")
    position: int = Field(alias="seq")
    prev_hash: str
    hash: str


class AuditFilter(Schema):
    record_type: str = ""
    record_id: str = ""
    actor: str = ""
    action: str = ""
    since: dt.date | None = None
    until: dt.date | None = None
    text: str = ""


@router.get("/audit-events", response=list[AuditEventOut], summary="The audit trail, filtered")
@paginate(Pagination)
def audit_events(request, filters: Query[AuditFilter]):
    return selectors.audit_events(request.user, **filters.dict())


class VerifyOut(Schema):
    intact: bool
    events: int
    chains: int
    first_bad_event: str | None


@router.post("/audit-events/verify", response=VerifyOut, summary="Recompute every hash chain now")
def verify(request):
    require(request.user, "core.verify_audit_trail")
    result = verify_audit_trail()
    return {"intact": result.intact, "events": result.events, "chains": result.lanes,
            "first_bad_event": str(result.first_break) if result.first_break else None}


class SignatureOut(Schema):
    id: int
    printed_name: str
    meaning: str
    signed_at: dt.datetime
    signed_at_local: str
    record_type: str
    record_label: str
    record_version: int
    content_hash: str
    valid: bool = Field(description="false when the record changed after signing")
    comment: str


def _signature_out(signature, valid):
    from .presentation import local_time  # noqa: PLC0415

    return {**{f: getattr(signature, f) for f in ("id", "printed_name", "meaning", "signed_at", "record_type",
                                                   "record_label", "record_version", "content_hash", "comment")},
            "signed_at_local": local_time(signature.signed_at), "valid": valid}


@router.get("/records/{type_name}/{reference}/signatures", response=list[SignatureOut],
            summary="Signatures of a record, with whether each is still valid")
def record_signatures(request, type_name: str, reference: str):
    _, record = selectors.record(request.user, type_name, reference)
    return [_signature_out(s, v) for s, v in selectors.record_signatures(request.user, record)]


@router.get("/records/{type_name}/{reference}/audit-events", response=list[AuditEventOut],
            summary="The audit trail of one record")
@paginate(Pagination)
def record_audit_events(request, type_name: str, reference: str):
    _, record = selectors.record(request.user, type_name, reference)
    return selectors.record_audit_trail(request.user, record)


class AttachmentOut(Schema):
    id: int
    filename: str
    content_type: str
    size: int
    sha256: str
    description: str
    uploaded_by: str = Field(alias="uploaded_by.full_name")
    uploaded_at: dt.datetime


@router.get("/records/{type_name}/{reference}/attachments", response=list[AttachmentOut])
def record_attachments(request, type_name: str, reference: str):
    _, record = selectors.record(request.user, type_name, reference)
    return list(selectors.record_attachments(request.user, record))


@router.post("/records/{type_name}/{reference}/attachments", response={201: AttachmentOut})
def add_attachment(request, type_name: str, reference: str, file: File[UploadedFile],
                   description: Form[str] = ""):
    _, record = selectors.record(request.user, type_name, reference)
    return 201, services.add_attachment(request.user, record, file, description=description)


class UserOut(Schema):
    username: str
    full_name: str
    email: str
    is_active: bool
    locked: bool = Field(alias="is_locked")
    roles: list[str] = Field(alias="role_codes")


class UserIn(Schema):
    username: str = Field(max_length=64)
    full_name: str = Field(max_length=200)
    email: str = ""
    password: str
    roles: list[str] = []
    sponsors: list[int] = []
    reason: str = ""


class ReasonIn(Schema):
    reason: str


@router.get("/users", response=list[UserOut], summary="Accounts (administrators)")
@paginate(Pagination)
def users(request):
    return selectors.users(request.user)


@router.post("/users", response={201: UserOut})
def create_user(request, payload: UserIn):
    selectors.users(request.user)  # administrators only, before anything else is said
    user = services.create_user(request.user, username=payload.username, full_name=payload.full_name,
                                email=payload.email, password=payload.password, roles=payload.roles,
                                sponsor_ids=payload.sponsors, reason=payload.reason)
    return 201, user


def _user(request, username: str) -> User:
    user = selectors.users(request.user).filter(username=username).first()
    if user is None:
        raise selectors.NotFound(f"There is no user '{username}'.")
    return user


@router.post("/users/{username}/unlock", response=UserOut)
def unlock_user(request, username: str, payload: ReasonIn):
    return services.unlock_user(request.user, _user(request, username), reason=payload.reason)


@router.post("/users/{username}/deactivate", response=UserOut)
def deactivate_user(request, username: str, payload: ReasonIn):
    return services.deactivate_user(request.user, _user(request, username), reason=payload.reason)


