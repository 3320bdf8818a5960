"""The one signature ceremony (P11-3, P11-4, P11-6, A11-13).

Signing re-authenticates: user ID and password at the first signing in a continuous
session, the password alone afterwards; through the API every signing needs both. A wrong
password counts toward lockout. The signature stores the SHA-256 of the record's content at
signing; if the content changes later, the signature shows as no longer valid.
"""

from dataclasses import dataclass

from django.db import models

from . import audit, clock, context
from .domain import canonical
from .errors import PermissionDenied, RuleViolation
from .models import Signature, User
from .security import LOCKED_MESSAGE, record_failure


@dataclass(frozen=True)
class SignatureInput:
    """What the signer typed in the signature dialog."""

    meaning: str
    password: str
    username: str = ""
    comment: str = ""


@dataclass(frozen=True)
class VerifiedSigner:
    """Proof that `user` re-authenticated just now to sign with `meaning`."""

    user: object
    meaning: str
    comment: str


def authenticate_signer(actor, signature: SignatureInput, *, first_in_session: bool) -> VerifiedSigner:
    """Re-authenticate before the record's transaction starts, so a failure is counted even
    though the signing itself is refused.

    The account is read afresh from the database: a session or page opened before the
    account was locked or deactivated cannot sign with it any more.
    """
    if signature.meaning not in Signature.Meaning.values:
        raise RuleViolation(f"'{signature.meaning}' is not a signature meaning.")
    signer = User.objects.filter(pk=actor.pk).first()
    if signer is None or not signer.is_active:
        raise PermissionDenied("This account is deactivated and cannot sign.")
    if signer.is_locked:
        raise PermissionDenied(LOCKED_MESSAGE)
    if first_in_session and signature.username.strip().lower() != signer.username.lower():
        raise PermissionDenied(
            "Signature refused. " + record_failure(signer, signature.username, what="signature")
            if signature.username
            else "Enter your user ID and password: this is your first signature in this session."
        )
    if not signer.check_password(signature.password):
        raise PermissionDenied("Signature refused. " + record_failure(signer, signer.username, what="signature"))
    return VerifiedSigner(user=actor, meaning=signature.meaning, comment=signature.comment.strip())


def signed_content(record: models.Model) -> dict:
    """The part of a record a signature vouches for: its content, not its workflow status."""
    exclude = set(getattr(record, "signature_exclude", ())) | set(getattr(record, "audit_exclude", ()))
    snapshot = audit.snapshot(record)
    return {k: v for k, v in snapshot.items() if k not in exclude}


def content_hash(record: models.Model) -> str:
    return canonical.content_hash({"type": audit.record_type(record), "content": signed_content(record)})


def sign(signer: VerifiedSigner, record: models.Model) -> Signature:
    """Write the signature and its audit event, in the caller's transaction."""
    user = signer.user
    signature = Signature.objects.create(
        signer=user,
        printed_name=user.full_name,
        meaning=signer.meaning,
        signed_at=clock.now(),
        record_type=audit.record_type(record),
        record_id=str(record.pk),
        record_label=str(getattr(record, "number", "") or record),
        record_version=getattr(record, "version", 1),
        content_hash=content_hash(record),
        sponsor_id=audit.sponsor_of(record),
        comment=signer.comment,
        correlation_id=context.current().correlation_id,
    )
    audit.log_event(
        user, "sign", record=record,
        changes={"signature": [None, {"id": signature.pk, "meaning": signature.meaning, "content_hash": signature.content_hash}]},
        reason=signer.comment,
    )
    return signature


def signatures_of(record: models.Model) -> list[Signature]:
    return list(
        Signature.objects.filter(record_type=audit.record_type(record), record_id=str(record.pk))
        .select_related("signer")
    )


def with_validity(record: models.Model) -> list[tuple[Signature, bool]]:
    """Each signature of the record, with whether the record still has the content signed."""
    current = content_hash(record)
    return [(s, s.content_hash == current) for s in signatures_of(record)]


def has_signed(user, record: models.Model, meanings) -> bool:
    return Signature.objects.filter(
        record_type=audit.record_type(record), record_id=str(record.pk),
        signer=user, meaning__in=list(meanings),
    ).exists()
