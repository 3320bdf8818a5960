"""Reads of sponsors, programs, products and quality agreements, always scoped to the user."""

from django.urls import reverse

from opencdmo.core.scoping import get_scoped, scoped
from opencdmo.core.tasks import Task

from .models import Product, Program, QualityAgreement, Sponsor
from .workflows import quality_agreement_workflow


def sponsors_for(user):
    return scoped(Sponsor, user).prefetch_related("programs__products")


def sponsor(user, code: str) -> Sponsor:
    return get_scoped(Sponsor, user, code=code)


def programs_for(user):
    return scoped(Program, user).select_related("sponsor")


def products_for(user):
    return scoped(Product, user).select_related("program__sponsor")


def agreements_for(user, *, status: str | None = None):
    queryset = scoped(QualityAgreement, user).select_related("sponsor", "created_by")
    return queryset.filter(status=status) if status else queryset


def agreement(user, number: str) -> QualityAgreement:
    return get_scoped(QualityAgreement.objects.select_related("sponsor", "created_by"), user, number=number)


def approved_agreement(sponsor) -> QualityAgreement | None:
    """The sponsor's agreement in force: the approved one (approving a new one supersedes it).
    Not scoped: callers reached the sponsor through their own scoping."""
    return QualityAgreement.objects.filter(sponsor=sponsor, status="approved").order_by("-created_at").first()


def requires_change_approval(sponsor) -> QualityAgreement | None:
    """The approved agreement that makes changes touching this sponsor need its approval, if any
    (a draft, in-review or superseded agreement does not count)."""
    agreement = approved_agreement(sponsor)
    return agreement if agreement is not None and agreement.sponsor_approval_for_changes else None


def agreement_tasks(user):
    """Agreements waiting for something this user may do."""
    pending = agreements_for(user).filter(status__in=["draft", "in_review"])
    return [a for a in pending if quality_agreement_workflow.available(a, user)]


def agreement_task_list(user):
    return [
        Task(
            title=" / ".join(t.label for t in quality_agreement_workflow.available(a, user)),
            record=f"{a.number} {a.title}",
            url=reverse("sponsors:agreement", args=[a.number]),
            status=a.status,
            status_label=quality_agreement_workflow.label(a.status),
            detail=a.sponsor.name,
        )
        for a in agreement_tasks(user)
    ]
