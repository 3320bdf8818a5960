"""Disposition pages. Thin: selectors read, services write."""

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from opencdmo.core import registry
from opencdmo.core import selectors as core_selectors

# --- Disposition ---
from opencdmo.core.access import require_to_see
from opencdmo.core.errors import DomainError
from opencdmo.core.signatures import SignatureInput
from opencdmo.core.views import SIGNED_IN_SESSION, paginate, sort_headers
from opencdmo.qc import selectors as qc_selectors
from opencdmo.sponsors import selectors as sponsor_selectors

from . import certificates
from . import selectors as disposition_selectors
from . import services as disposition_services
from .domain import prerequisites as disposition_rules
from .workflows import DECIDED_STATES, DISPOSITION_STATES, NOTICE_STATES, RELEASED_STATES, workflow_for

DECIDED_COLUMNS = [("Number", "number"), ("Subject", "subject"), ("Type", "type"), ("Sponsor", "sponsor"),
                   ("Decision", "status"), ("Decided", "decided")]
AWAITING_COLUMNS = [("Subject", "reference"), ("Type", "type"), ("What", "label"), ("Sponsor", "sponsor"),
                    ("Waiting since", "since")]


@login_required
def disposition_list(request):
    """Awaiting disposition / decided, with filters and sortable columns."""
    require_to_see(request.user, disposition_selectors.VIEW)
    get = request.GET
    filters = {name: get.get(name, "").strip()[:64] for name in ("view", "type", "sponsor", "status", "q", "sort")}
    decided = filters["view"] == "decided"
    if decided:
        sort = filters["sort"] or "-decided"
        rows = disposition_selectors.dispositions_for(
            request.user, status=filters["status"] if filters["status"] in DECIDED_STATES else "",
            subject_type=filters["type"], sponsor=filters["sponsor"], text=filters["q"], sort=sort)
        columns = DECIDED_COLUMNS
    else:
        sort = filters["sort"] or "since"
        rows = disposition_selectors.awaiting_for(request.user, subject_type=filters["type"],
                                                  sponsor=filters["sponsor"], text=filters["q"], sort=sort)
        columns = AWAITING_COLUMNS
    page = paginate(request, rows)
    if decided:
        for row in page.object_list:
            row.status_label = DISPOSITION_STATES.get(row.status, row.status)
            row.url = disposition_selectors.subject_url(row)
    return render(request, "release/disposition_list.html", {
        "page": page, "filters": filters, "decided": decided, "sort_headers": sort_headers(request, columns, sort),
        "subject_types": disposition_selectors.SUBJECT_LABELS,
        "states": {k: v for k, v in DISPOSITION_STATES.items() if k in DECIDED_STATES},
        "sponsors": sponsor_selectors.sponsors_for(request.user).prefetch_related(None),
        "open_notices": disposition_selectors.notices_for(request.user, status="open")[:20],
    })


def _options(user, subject, disposition, prerequisites) -> dict:
    """The decision forms this user may use now, and why the others are blocked."""
    status = disposition.status if disposition else "open"
    is_batch = disposition_selectors.subject_type_of(subject) == disposition_selectors.BATCH
    permission = "release.decide" if is_batch else "materials.disposition"
    if not user.has_permission(permission) or status not in ("open", "conditionally_released"):
        return {"may_decide": False, "permission": permission}
    performed = is_batch and disposition_selectors.performed_by(subject, user)
    return {
        "may_decide": True, "permission": permission, "status": status, "is_batch": is_batch,
        "performed": performed,
        "release_blocked": disposition_rules.release_refusal(prerequisites),
        "conditional_blocked": disposition_rules.conditional_refusal(prerequisites) if is_batch else "",
        "open_notices": list(disposition.notices.filter(status="open")) if disposition and disposition.pk else [],
    }


def _decide(request, subject) -> None:
    post, user = request.POST, request.user
    decision = post.get("decision", "")
    first = not request.session.get(SIGNED_IN_SESSION, False)
    signature = SignatureInput(meaning="Rejected" if decision == "reject" else "QA Released",
                               password=post.get("password", ""), username=post.get("username", ""))
    disposition_services.decide_on(user, subject, decision, signature=signature, first_in_session=first,
                                   comment=post.get("comment", ""), risk_assessment=post.get("risk_assessment", ""))
    request.session[SIGNED_IN_SESSION] = True


def _subject_page(request, subject, template: str):
    user = request.user
    error, status = "", 200
    if request.method == "POST":
        try:
            _decide(request, subject)
            return redirect(request.path)
        except DomainError as exc:
            error, status = exc.message, exc.status
    disposition = disposition_selectors.disposition_of(subject)
    live = disposition_selectors.prerequisites_of(subject)
    final = disposition is not None and disposition.status in ("released", "rejected")
    shown = ([disposition_rules.Prerequisite(**p) for p in disposition.prerequisites] if final else live)
    spec, statuses = disposition_selectors.tests_of(subject)
    tests = [{"status": s, "limit": qc_selectors.limit_text(s.test),
              "ref": s.result.number if s.result else ""} for s in statuses]
    blocking = [p for p in live if p.state == disposition_rules.UNMET]
    context = {
        "subject": subject, "disposition": disposition, "prerequisites": shown, "snapshot": final,
        "blocking": blocking, "spec": spec, "tests": tests, "error": error, "form": request.POST,
        "status_label": DISPOSITION_STATES.get(disposition.status, "") if disposition else "Not opened",
        "released": disposition is not None and disposition.status in RELEASED_STATES,
        "signatures": core_selectors.record_signatures(user, disposition) if disposition else [],
        "notices": disposition_selectors.notices_of(disposition) if disposition else [],
        "first_in_session": not request.session.get(SIGNED_IN_SESSION, False),
        "kind": registry.kind("release.disposition"),
        "workflow": workflow_for(disposition) if disposition else None,
        **_options(user, subject, disposition, live),
    }
    return render(request, template, context, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def batch_disposition(request, number):
    return _subject_page(request, disposition_selectors.batch(request.user, number), "release/disposition_batch.html")


@login_required
@require_http_methods(["GET", "POST"])
def lot_disposition(request, number):
    return _subject_page(request, disposition_selectors.lot(request.user, number), "release/disposition_lot.html")


@login_required
def disposition_detail(request, number):
    """A disposition by its DSP- number: its subject's disposition page."""
    return redirect(disposition_selectors.subject_url(disposition_selectors.disposition(request.user, number)))


@login_required
@require_http_methods(["GET", "POST"])
def notice_detail(request, number):
    user = request.user
    notice = disposition_selectors.notice(user, number)
    error, status = "", 200
    if request.method == "POST":
        try:
            disposition_services.record_notification(user, notice, notified_whom=request.POST.get("notified_whom", ""),
                                                     notification=request.POST.get("notification", ""))
            return redirect("release:notice", number=notice.number)
        except DomainError as exc:
            error, status = exc.message, exc.status
    return render(request, "release/notice_detail.html", {
        "record": notice, "reference": notice.number, "kind": registry.kind("release.postreleasenotice"),
        "status_label": NOTICE_STATES.get(notice.status, notice.status), "error": error, "form": request.POST,
        "subject_url": disposition_selectors.subject_url(notice.disposition),
        "may_notify": user.has_permission("release.notify") and notice.status == "open",
        "signatures": [],
    }, status=status)

# --- Certificates ---


def _coa_pdf(pdf: bytes, number: str) -> HttpResponse:
    response = HttpResponse(pdf, content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{certificates.filename(number)}"'
    return response


@login_required
def batch_coa(request, number):
    """The certificate of analysis of a released batch, as a PDF download."""
    require_to_see(request.user, certificates.PERMISSION)
    return _coa_pdf(certificates.batch_certificate(request.user, number, request=request), number)


@login_required
def lot_coa(request, number):
    """The certificate of analysis of a released material lot, as a PDF download."""
    require_to_see(request.user, certificates.PERMISSION)
    return _coa_pdf(certificates.lot_certificate(request.user, number, request=request), number)
