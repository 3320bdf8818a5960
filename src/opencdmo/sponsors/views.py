"""Pages for sponsors, products and quality agreements. Thin: services and selectors do the work."""

import datetime as dt

from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from opencdmo.core import registry
from opencdmo.core import selectors as core_selectors
from opencdmo.core.access import require_to_see
from opencdmo.core.errors import DomainError, RuleViolation
from opencdmo.core.pdf import render_pdf
from opencdmo.core.views import invalid_input

from . import selectors, services
from .models import QualityAgreement
from .workflows import quality_agreement_workflow


@login_required
def sponsor_list(request):
    require_to_see(request.user, "sponsors.view")
    return render(request, "sponsors/list.html", {"sponsors": selectors.sponsors_for(request.user)})


@login_required
def agreement_list(request):
    require_to_see(request.user, "sponsors.view")
    status = request.GET.get("status", "")
    return render(request, "sponsors/agreements.html", {
        "agreements": selectors.agreements_for(request.user, status=status or None),
        "states": quality_agreement_workflow.states, "status": status,
    })


def _agreement_form(post) -> dict:
    try:
        days = int(post.get("deviation_notification_days") or 0)
    except ValueError:
        raise RuleViolation("Notification days must be a whole number.") from None
    effective = post.get("effective_date") or None
    if effective:
        try:
            effective = dt.date.fromisoformat(effective)
        except ValueError:
            raise RuleViolation("Write the effective date as YYYY-MM-DD.") from None
    return {"title": post.get("title", ""), "terms": post.get("terms", ""),
            "sponsor_approval_for_changes": post.get("sponsor_approval_for_changes") == "on",
            "deviation_notification_days": days, "effective_date": effective}


@login_required
@require_http_methods(["GET", "POST"])
def agreement_new(request):
    require_to_see(request.user, "sponsors.author_agreement")
    error, status = "", 200
    if request.method == "POST":
        try:
            sponsor = selectors.sponsor(request.user, request.POST.get("sponsor", ""))
            agreement = services.draft_quality_agreement(request.user, sponsor=sponsor,
                                                         **_agreement_form(request.POST))
            return redirect("sponsors:agreement", number=agreement.number)
        except DomainError as exc:
            error, status = exc.message, exc.status
        except ValidationError as exc:
            error, status = invalid_input(exc, QualityAgreement), 422
    return render(request, "sponsors/agreement_form.html", {
        "sponsors": selectors.sponsors_for(request.user), "form": request.POST, "error": error,
    }, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def agreement_edit(request, number):
    require_to_see(request.user, "sponsors.author_agreement")
    agreement = selectors.agreement(request.user, number)
    error, status = "", 200
    if request.method == "POST":
        try:
            services.edit_quality_agreement(request.user, agreement, reason=request.POST.get("reason", ""),
                                            **_agreement_form(request.POST))
            return redirect("sponsors:agreement", number=agreement.number)
        except DomainError as exc:
            error, status = exc.message, exc.status
        except ValidationError as exc:
            error, status = invalid_input(exc, QualityAgreement), 422
    return render(request, "sponsors/agreement_form.html", {
        "agreement": agreement, "form": request.POST or None, "error": error,
    }, status=status)


def _agreement_context(request, agreement: QualityAgreement) -> dict:
    return {
        "record": agreement, "reference": agreement.number,
        "kind": registry.kind("sponsors.qualityagreement"),
        "workflow": quality_agreement_workflow,
        "status_label": quality_agreement_workflow.label(agreement.status),
        "transitions": quality_agreement_workflow.available(agreement, request.user),
        "signatures": core_selectors.record_signatures(request.user, agreement),
        "can_edit": request.user.has_permission("sponsors.author_agreement")
        and agreement.status in ("draft", "in_review"),
    }


@login_required
def agreement_detail(request, number):
    require_to_see(request.user, "sponsors.view")
    agreement = selectors.agreement(request.user, number)
    return render(request, "sponsors/agreement_detail.html", _agreement_context(request, agreement))


@login_required
def agreement_pdf(request, number):
    require_to_see(request.user, "sponsors.view")
    agreement = selectors.agreement(request.user, number)
    context = _agreement_context(request, agreement) | {"printed_by": request.user}
    pdf = render_pdf("sponsors/agreement_pdf.html", context, request=request)
    response = HttpResponse(pdf, content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="{agreement.number}.pdf"'
    return response
