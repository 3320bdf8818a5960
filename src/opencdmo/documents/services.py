"""Every write to controlled documents: authoring, the signed lifecycle, taking effect by date,
obsoleting, periodic review and where-used citations."""

import datetime as dt

from django.db import transaction
from django.utils import timezone

from opencdmo.core import audit, clock, signatures
from opencdmo.core.access import require
from opencdmo.core.errors import RuleViolation
from opencdmo.core.models import NumberSequence, User
from opencdmo.core.records import create_record, update_record
from opencdmo.core.scoping import get_scoped
from opencdmo.core.signatures import SignatureInput, authenticate_signer
from opencdmo.sponsors.models import Sponsor

from . import conf, signals
from .domain import rules
from .models import OPEN_STATES, Document, DocumentCitation, DocumentVersion, PeriodicReview
from .selectors import require_effective, site_today
from .workflows import document_workflow, version_workflow

EDITABLE_VERSION_FIELDS = {"content", "change_summary", "effective_date", "training_required", "change_control"}
MAX_REVIEW_MONTHS = 120


def _document_number(doc_type: str) -> str:
    """SOP-0001, WI-0001 …: one running sequence per type (kept in the kernel's counters under year 0,
    because a document number does not restart each year)."""
    prefix = rules.PREFIXES[doc_type]
    NumberSequence.objects.bulk_create([NumberSequence(prefix=prefix, year=0)], ignore_conflicts=True)
    sequence = NumberSequence.objects.select_for_update().get(prefix=prefix, year=0)
    sequence.last_value += 1
    sequence.save(update_fields=["last_value"])
    return rules.document_number(doc_type, sequence.last_value)


def _version_number(document: Document, major: int, minor: int) -> str:
    return f"{document.number}-v{rules.version_label(major, minor)}"


def _review_months(value) -> int:
    if value is None:
        return conf.default_review_months()
    if not isinstance(value, int) or not 1 <= value <= MAX_REVIEW_MONTHS:
        raise RuleViolation(f"The periodic review interval must be 1 to {MAX_REVIEW_MONTHS} months.")
    return value


def _clean_version_fields(changes: dict) -> dict:
    if unknown := changes.keys() - EDITABLE_VERSION_FIELDS:
        raise RuleViolation(f"These fields cannot be edited: {', '.join(sorted(unknown))}.")
    if isinstance(changes.get("effective_date"), dt.datetime):
        changes["effective_date"] = changes["effective_date"].date()
    return changes


@transaction.atomic
def create_document(actor, *, doc_type: str, title: str, owner: User | None = None, sponsor: Sponsor | None = None,
                    review_interval_months: int | None = None, **first_version) -> Document:
    """A new controlled document and its first version 1.0 as a draft."""
    require(actor, "documents.author", to="author controlled documents")
    if doc_type not in rules.PREFIXES:
        raise RuleViolation(f"Document type must be one of: {', '.join(rules.PREFIXES)}.")
    if not title.strip():
        raise RuleViolation("Give the document a title.")
    if sponsor is not None:
        sponsor = get_scoped(Sponsor, actor, pk=sponsor.pk)
    document = create_record(actor, Document(
        number=_document_number(doc_type), status=document_workflow.initial, doc_type=doc_type,
        title=title.strip(), owner=owner or actor, sponsor=sponsor,
        review_interval_months=_review_months(review_interval_months)))
    create_record(actor, DocumentVersion(
        number=_version_number(document, 1, 0), status=version_workflow.initial, document=document,
        major=1, minor=0, **_clean_version_fields({"change_summary": "New document."} | first_version)))
    return document


def _locked_document(actor, document: Document) -> Document:
    return get_scoped(Document.objects.select_for_update(of=("self",)), actor, pk=document.pk)


@transaction.atomic
def new_version(actor, document: Document, *, major_change: bool, change_summary: str,
                training_required: bool | None = None, change_control: str = "",
                effective_date: dt.date | None = None) -> DocumentVersion:
    """The next version as a draft: a copy of the latest one, numbered 2.0 (major) or 1.1 (minor)."""
    require(actor, "documents.author", to="author controlled documents")
    document = _locked_document(actor, document)
    if document.status == "obsolete":
        raise RuleViolation(f"{document} is obsolete: it gets no new versions.")
    latest = document.versions.order_by("-major", "-minor").first()
    if latest.status in OPEN_STATES:
        raise RuleViolation(f"{latest} is still {version_workflow.label(latest.status)}: finish or withdraw it "
                            "before starting another version.")
    if not change_summary.strip():
        raise RuleViolation("Say what changes in this version (change summary).")
    major, minor = rules.next_version(latest.major, latest.minor, major_change=major_change)
    # An editorial (minor) change does not ask people to train again, unless the author says so.
    required = major_change if training_required is None else training_required
    return create_record(actor, DocumentVersion(
        number=_version_number(document, major, minor), status=version_workflow.initial, document=document,
        major=major, minor=minor, content=latest.content, change_summary=change_summary.strip(),
        training_required=required, change_control=change_control.strip(), effective_date=effective_date))


@transaction.atomic
def edit_version(actor, version: DocumentVersion, **changes) -> DocumentVersion:
    require(actor, "documents.author", to="author controlled documents")
    version = get_scoped(DocumentVersion.objects.select_for_update(of=("self",)), actor, pk=version.pk)
    if version.status != "draft":
        raise RuleViolation(f"{version} is {version_workflow.label(version.status)}; only a draft can be edited "
                            "(return it to draft, or start a new version).")
    return update_record(actor, version, **_clean_version_fields(changes))


def _start_of(day: dt.date) -> dt.datetime:
    """Midnight at the start of `day` in the site's zone."""
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min), timezone.get_default_timezone())


def transition_version(actor, version: DocumentVersion, action: str, *, signature: SignatureInput | None = None,
                       first_in_session: bool = True, reason: str = "") -> DocumentVersion:
    """Submit, review, approve, return or withdraw a version. Approving fixes the instant it takes
    effect and announces it (training assigns it); a version due already takes effect at once."""
    transition = version_workflow.get(action)
    require(actor, transition.permission, to=transition.label.lower())
    signer = version_workflow.authenticate(actor, action, signature, first_in_session=first_in_session)
    with transaction.atomic():
        version = get_scoped(DocumentVersion.objects.select_for_update(of=("self",)).select_related("document"),
                             actor, pk=version.pk)
        version_workflow.apply(version, action, actor=actor, signer=signer, reason=reason)
        if action == "approve":
            starts = rules.effective_from(clock.now(), _start_of(version.effective_date))
            update_record(actor, version, action="transition", effective_from=starts,
                          reason=f"takes effect {starts.isoformat()}")
            signals.version_approved.send(sender=DocumentVersion, actor=actor, version=version)
            take_effect_due(actor, document=version.document)
    version.refresh_from_db()
    return version


@transaction.atomic
def take_effect_due(actor=None, *, document: Document | None = None) -> list[DocumentVersion]:
    """Bring the status column up to the clock: approved versions whose instant has come become
    effective and the one they replace is superseded. Idempotent; each change is audited (by the
    system when no one acts). `effective_version` is exact without it; this keeps lists honest."""
    due = (DocumentVersion.objects.select_for_update(of=("self",)).select_related("document")
           .filter(status="approved", effective_from__lte=clock.now()).order_by("effective_from", "pk"))
    if document is not None:
        due = due.filter(document=document)
    done = []
    for version in due:
        previous = list(DocumentVersion.objects.select_for_update()
                        .filter(document_id=version.document_id, status="effective"))
        for old in previous:
            update_record(actor, old, action="transition", status="superseded",
                          reason=f"superseded by {version.number}")
        update_record(actor, version, action="transition", status="effective",
                      reason=f"effective from {version.effective_from.isoformat()}")
        doc = version.document
        update_record(actor, doc, action="schedule", reason=f"{version.number} took effect",
                      next_review_due=rules.add_months(version.effective_date, doc.review_interval_months))
        signals.version_effective.send(sender=DocumentVersion, actor=actor, version=version, superseded=previous)
        done.append(version)
    return done


def transition_document(actor, document: Document, action: str, *, signature: SignatureInput | None = None,
                        first_in_session: bool = True, reason: str = "") -> Document:
    """Make a whole document obsolete (QA, with reason and signature): no version is effective any more,
    open drafts are withdrawn, open training on it is cancelled."""
    transition = document_workflow.get(action)
    require(actor, transition.permission, to=transition.label.lower())
    signer = document_workflow.authenticate(actor, action, signature, first_in_session=first_in_session)
    with transaction.atomic():
        document = _locked_document(actor, document)
        document_workflow.apply(document, action, actor=actor, signer=signer, reason=reason)
        update_record(actor, document, action="transition", obsoleted_at=clock.now(), next_review_due=None,
                      reason=reason)
        for version in document.versions.select_for_update().exclude(
                status__in=("superseded", "obsolete", "withdrawn")):
            target = "withdrawn" if version.status in OPEN_STATES else "obsolete"
            update_record(actor, version, action="transition", status=target,
                          reason=f"{document} made obsolete: {reason}")
        signals.document_obsoleted.send(sender=Document, actor=actor, document=document)
    return document


def record_periodic_review(actor, document: Document, *, outcome: str, signature: SignatureInput,
                           first_in_session: bool = True) -> PeriodicReview:
    """The reviewer signs 'Reviewed': no change needed sets the next due date; revision needed keeps
    the document due until a new version takes effect."""
    require(actor, "documents.review", to="review controlled documents")
    if outcome not in PeriodicReview.Outcome.values:
        raise RuleViolation(f"The outcome must be one of: {', '.join(PeriodicReview.Outcome.values)}.")
    if signature.meaning != "Reviewed":
        raise RuleViolation("A periodic review is signed with the meaning 'Reviewed'.")
    signer = authenticate_signer(actor, signature, first_in_session=first_in_session)
    with transaction.atomic():
        document = _locked_document(actor, document)
        version = require_effective(document)
        review = create_record(actor, PeriodicReview(
            document=document, document_version=version, reviewed_at=clock.now(), reviewed_by=actor, outcome=outcome,
            comment=signer.comment), reason=signer.comment)
        signatures.sign(signer, document)
        if outcome == PeriodicReview.Outcome.NO_CHANGE:
            update_record(actor, document, action="schedule", reason="periodic review: no change needed",
                          next_review_due=rules.add_months(site_today(), document.review_interval_months))
    return review


@transaction.atomic
def cite_document(actor, document: Document, record) -> DocumentCitation:
    """Record that `record` (a process, specification, method …) cites `document`. Idempotent."""
    require(actor, "documents.view", to="cite controlled documents")
    document = get_scoped(Document, actor, pk=document.pk)
    record_type, record_id = audit.record_type(record), str(record.pk)
    existing = DocumentCitation.objects.filter(document=document, record_type=record_type,
                                               record_id=record_id).first()
    if existing is not None:
        return existing
    return create_record(actor, DocumentCitation(
        document=document, record_type=record_type, record_id=record_id,
        record_label=str(getattr(record, "number", "") or record)[:200], sponsor_id=audit.sponsor_of(record),
        cited_at=clock.now(), cited_by=actor))
