"""Pages of controlled documents. Thin: parse input, call a service or selector, render.

Pages bring the status column up to the clock first (`take_effect_due`), so lists agree with
`effective_version` even when no scheduler runs the sweep."""

import datetime as dt

from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from opencdmo.core import clock, registry
from opencdmo.core import selectors as core_selectors
from opencdmo.core import services as core_services
from opencdmo.core.access import require_to_see
from opencdmo.core.errors import DomainError, RuleViolation
from opencdmo.core.pdf import render_pdf
from opencdmo.core.signatures import SignatureInput
from opencdmo.core.views import SIGNED_IN_SESSION, invalid_input, paginate
from opencdmo.sponsors import selectors as sponsor_selectors

from . import selectors, services
from .models import Document, DocumentVersion, PeriodicReview
from .workflows import DOCUMENT_STATES, document_workflow, version_workflow


def _sweep():
    services.take_effect_due(None)


def _signatures(user, record):
    return core_selectors.record_signatures(user, record) if user.has_permission("core.view_signatures") else []


def _date(value: str, what: str) -> dt.date | None:
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise RuleViolation(f"Write the {what} as YYYY-MM-DD.") from None


def _whole(value: str, what: str) -> int | None:
    if not value:
        return None
    try:
        return int(value)
    except ValueError:
        raise RuleViolation(f"The {what} must be a whole number.") from None


def _version_fields(post) -> dict:
    return {"content": post.get("content", ""), "change_summary": post.get("change_summary", ""),
            "effective_date": _date(post.get("effective_date", ""), "effective date"),
            "training_required": post.get("training_required") == "on",
            "change_control": post.get("change_control", "")}


def _attach(request, version) -> None:
    if upload := request.FILES.get("file"):
        core_services.add_attachment(request.user, version, upload, description="controlled content file")


@login_required
def document_list(request):
    require_to_see(request.user, "documents.view")
    _sweep()
    get = request.GET
    doc_type = get.get("type", "") if get.get("type", "") in Document.Type.values else ""
    status = get.get("status", "") if get.get("status", "") in DOCUMENT_STATES else ""
    documents = selectors.documents_for(request.user, doc_type=doc_type, status=status, q=get.get("q", ""),
                                        sort=get.get("sort", "number"))
    page = paginate(request, documents, per_page=25)
    rows = [(d, selectors.effective_version(d)) for d in page]
    return render(request, "documents/list.html", {
        "page": page, "rows": rows, "types": Document.Type.choices, "states": DOCUMENT_STATES,
        "filters": {"type": doc_type, "status": status, "q": get.get("q", ""), "sort": get.get("sort", "number")},
        "today": selectors.site_today(),
    })


@login_required
def review_due(request):
    require_to_see(request.user, "documents.view")
    _sweep()
    return render(request, "documents/review_due.html", {
        "documents": selectors.review_overdue(request.user), "today": selectors.site_today()})


@login_required
@require_http_methods(["GET", "POST"])
def document_new(request):
    require_to_see(request.user, "documents.author")
    error, status = "", 200
    if request.method == "POST":
        post = request.POST
        try:
            sponsor = sponsor_selectors.sponsor(request.user, post["sponsor"]) if post.get("sponsor") else None
            fields = _version_fields(post)
            fields["change_summary"] = fields["change_summary"] or "New document."
            with transaction.atomic():  # a refused file leaves no document behind
                document = services.create_document(
                    request.user, doc_type=post.get("doc_type", ""), title=post.get("title", ""), sponsor=sponsor,
                    review_interval_months=_whole(post.get("review_interval_months", ""), "review interval"),
                    **fields)
                version = document.versions.get()
                _attach(request, version)
            return redirect("documents:version", number=version.number)
        except DomainError as exc:
            error, status = exc.message, exc.status
        except ValidationError as exc:
            error, status = invalid_input(exc, DocumentVersion), 422
    return render(request, "documents/document_form.html", {
        "types": Document.Type.choices, "sponsors": sponsor_selectors.sponsors_for(request.user),
        "form": request.POST, "error": error}, status=status)


def _document_context(request, document: Document) -> dict:
    effective = selectors.effective_version(document)
    return {
        "record": document, "reference": document.number, "kind": registry.kind("documents.document"),
        "workflow": document_workflow, "status_label": document_workflow.label(document.status),
        "transitions": document_workflow.available(document, request.user),
        "signatures": _signatures(request.user, document),
        "effective": effective, "open_version": selectors.open_version(document),
        "versions": selectors.versions_of(document), "version_states": version_workflow.states,
        "where_used": selectors.where_used(request.user, document),
        "reviews": selectors.periodic_reviews(document), "today": selectors.site_today(),
    }


@login_required
def document_detail(request, number):
    require_to_see(request.user, "documents.view")
    _sweep()
    document = selectors.document(request.user, number)
    return render(request, "documents/document_detail.html", _document_context(request, document))


@login_required
@require_http_methods(["GET", "POST"])
def new_version(request, number):
    require_to_see(request.user, "documents.author")
    document = selectors.document(request.user, number)
    error, status = "", 200
    if request.method == "POST":
        post = request.POST
        try:
            version = services.new_version(
                request.user, document, major_change=post.get("change") == "major",
                change_summary=post.get("change_summary", ""), change_control=post.get("change_control", ""),
                training_required=None if post.get("training_required") is None
                else post.get("training_required") == "yes",
                effective_date=_date(post.get("effective_date", ""), "effective date"))
            return redirect("documents:version", number=version.number)
        except DomainError as exc:
            error, status = exc.message, exc.status
        except ValidationError as exc:
            error, status = invalid_input(exc, DocumentVersion), 422
    return render(request, "documents/new_version.html", {
        "document": document, "latest": selectors.versions_of(document).first(), "form": request.POST,
        "error": error}, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def periodic_review(request, number):
    require_to_see(request.user, "documents.review")
    document = selectors.document(request.user, number)
    first = not request.session.get(SIGNED_IN_SESSION, False)
    error, status = "", 200
    if request.method == "POST":
        post = request.POST
        try:
            services.record_periodic_review(
                request.user, document, outcome=post.get("outcome", ""), first_in_session=first,
                signature=SignatureInput(meaning="Reviewed", password=post.get("password", ""),
                                         username=post.get("username", ""), comment=post.get("comment", "")))
            request.session[SIGNED_IN_SESSION] = True
            return redirect("documents:document", number=document.number)
        except DomainError as exc:
            error, status = exc.message, exc.status
    return render(request, "documents/periodic_review.html", {
        "document": document, "effective": selectors.effective_version(document),
        "outcomes": PeriodicReview.Outcome.choices, "first_in_session": first, "error": error,
        "form": request.POST}, status=status)


def _version_context(request, version: DocumentVersion) -> dict:
    document = version.document
    return {
        "record": version, "reference": version.number, "kind": registry.kind("documents.documentversion"),
        "workflow": version_workflow, "status_label": version_workflow.label(version.status),
        "transitions": version_workflow.available(version, request.user),
        "signatures": _signatures(request.user, version), "document": document,
        "in_force": selectors.effective_version(document) == version,
        "attachments": core_selectors.record_attachments(request.user, version),
        "can_edit": request.user.has_permission("documents.author") and version.status == "draft",
    }


@login_required
def version_detail(request, number):
    require_to_see(request.user, "documents.view")
    _sweep()
    version = selectors.version(request.user, number)
    return render(request, "documents/version_detail.html", _version_context(request, version))


@login_required
@require_http_methods(["GET", "POST"])
def version_edit(request, number):
    require_to_see(request.user, "documents.author")
    version = selectors.version(request.user, number)
    error, status = "", 200
    if request.method == "POST":
        try:
            with transaction.atomic():
                services.edit_version(request.user, version, **_version_fields(request.POST))
                _attach(request, version)
            return redirect("documents:version", number=version.number)
        except DomainError as exc:
            error, status = exc.message, exc.status
        except ValidationError as exc:
            error, status = invalid_input(exc, DocumentVersion), 422
    return render(request, "documents/version_form.html", {
        "version": version, "form": request.POST or None, "error": error}, status=status)


@login_required
def version_pdf(request, number):
    """A controlled copy: every page names the document, version and status and who printed it
    when; anything not in force is watermarked; the signature manifestation closes it."""
    require_to_see(request.user, "documents.view")
    _sweep()
    version = selectors.version(request.user, number)
    context = _version_context(request, version) | {"printed_by": request.user, "printed_at": clock.now()}
    pdf = render_pdf("documents/version_pdf.html", context, request=request)
    response = HttpResponse(pdf, content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="{version.number}.pdf"'
    return response
