"""Reads of controlled documents. Other modules use only `effective_version` and `require_effective`
(and `cite_document` in services) to reach a document's content."""

import datetime as dt

from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from opencdmo.core import clock
from opencdmo.core.clock import site_today
from opencdmo.core.errors import RuleViolation
from opencdmo.core.scoping import get_scoped, scoped
from opencdmo.core.tasks import Task

from .models import OPEN_STATES, Document, DocumentCitation, DocumentVersion, PeriodicReview
from .workflows import document_workflow, version_workflow

# Versions that have been approved, whatever the clock has made of them since.
RELEASED_STATES = ("approved", "effective", "superseded", "obsolete")

SORTS = {"number": "number", "-number": "-number", "title": "title", "-title": "-title",
         "type": "doc_type", "-type": "-doc_type", "review": "next_review_due", "-review": "-next_review_due"}


def instant(at: dt.datetime | None) -> dt.datetime:
    """`at`, or now; a time without a zone is read in the site's zone."""
    if at is None:
        return clock.now()
    return timezone.make_aware(at) if timezone.is_naive(at) else at


def effective_version(document: Document, at: dt.datetime | None = None) -> DocumentVersion | None:
    """The version in force at the instant `at` (now by default), exact whatever the status column says:
    the latest approved version whose effective instant has come, unless the document was obsolete by then."""
    at = instant(at)
    if document.obsoleted_at is not None and document.obsoleted_at <= at:
        return None
    return (DocumentVersion.objects.filter(document_id=document.pk, status__in=RELEASED_STATES,
                                           effective_from__lte=at)
            .order_by("-effective_from", "-pk").first())


def require_effective(document: Document, at: dt.datetime | None = None) -> DocumentVersion:
    """The effective version, or a RuleViolation that says why there is none (for interlocks)."""
    version = effective_version(document, at)
    if version is None:
        if document.obsoleted_at is not None:
            raise RuleViolation(f"{document} {document.title} is obsolete: it may no longer be used.")
        upcoming = document.versions.filter(status="approved").order_by("effective_from").first()
        when = f" ({upcoming} takes effect {upcoming.effective_date:%Y-%m-%d})" if upcoming else ""
        raise RuleViolation(f"{document} {document.title} has no effective version yet{when}.")
    return version


def released_history(document: Document, at: dt.datetime | None = None) -> list[tuple[int, bool]]:
    """(version id, training required) of the versions in force up to `at`, newest first: what
    training selects the versions whose completion counts from. One indexed query."""
    at = instant(at)
    if document.obsoleted_at is not None and document.obsoleted_at <= at:
        return []
    return list(DocumentVersion.objects.filter(document_id=document.pk, status__in=RELEASED_STATES,
                                               effective_from__lte=at)
                .order_by("-effective_from", "-pk").values_list("pk", "training_required"))




def documents_for(user, *, doc_type: str = "", status: str = "", q: str = "", sort: str = "number"):
    queryset = scoped(Document, user).select_related("owner", "sponsor")
    if doc_type:
        queryset = queryset.filter(doc_type=doc_type)
    if status:
        queryset = queryset.filter(status=status)
    if q.strip():
        queryset = queryset.filter(Q(number__icontains=q.strip()) | Q(title__icontains=q.strip()))
    return queryset.order_by(SORTS.get(sort, "number"), "pk")


def document(user, number: str) -> Document:
    return get_scoped(Document.objects.select_related("owner", "sponsor"), user, number=number)


def version(user, number: str) -> DocumentVersion:
    return get_scoped(DocumentVersion.objects.select_related("document__sponsor", "document__owner", "created_by"),
                      user, number=number)


def versions_of(document: Document):
    return document.versions.select_related("created_by").order_by("-major", "-minor")


def open_version(document: Document) -> DocumentVersion | None:
    return document.versions.filter(status__in=OPEN_STATES).first()


def where_used(user, document: Document):
    """Citations of the document by records the user may see."""
    return scoped(DocumentCitation.objects.filter(document=document), user).select_related("cited_by")


def periodic_reviews(document: Document):
    return PeriodicReview.objects.filter(document=document).select_related("reviewed_by", "document_version")


def review_overdue(user, *, today: dt.date | None = None):
    return (scoped(Document, user).filter(status="active", next_review_due__lt=today or site_today())
            .select_related("owner", "sponsor").order_by("next_review_due", "number"))


def version_tasks(user):
    """Versions waiting for a step this user may take (submit, review, approve)."""
    pending = scoped(DocumentVersion, user).filter(status__in=OPEN_STATES).select_related("document")
    return [(v, [t for t in version_workflow.available(v, user) if t.signature]) for v in pending]


def document_task_list(user):
    if not user.has_permission("documents.view"):
        return []
    tasks = [
        Task(title=" / ".join(t.label for t in steps), record=f"{v.number} {v.document.title}",
             url=reverse("documents:version", args=[v.number]), status=v.status,
             status_label=version_workflow.label(v.status))
        for v, steps in version_tasks(user) if steps
    ]
    if user.has_permission("documents.review"):
        tasks += [
            Task(title="Periodic review overdue", record=f"{d.number} {d.title}",
                 url=reverse("documents:document", args=[d.number]), status="overdue",
                 status_label=f"Due {d.next_review_due:%Y-%m-%d}")
            for d in review_overdue(user)[:20]
        ]
    return tasks


def document_status_label(document: Document) -> str:
    return document_workflow.label(document.status)
