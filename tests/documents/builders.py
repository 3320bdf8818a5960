"""Controlled documents built through the services, as QA would build them."""

import datetime as dt

from opencdmo.documents import services
from tests.factories import signature


def draft(author, title="Aseptic technique in the grade A biosafety cabinet", *, doc_type="sop",
          effective_date=dt.date(2026, 3, 2), content="1. Purpose\nWork aseptically in the BSC.", **fields):
    document = services.create_document(author, doc_type=doc_type, title=title, content=content,
                                        effective_date=effective_date, **fields)
    return document, document.versions.get()


def approve(version, author, reviewer, approver):
    """Submit, review and approve with three different people's signatures."""
    services.transition_version(author, version, "submit", signature=signature(author, "Authored"))
    services.transition_version(reviewer, version, "review", signature=signature(reviewer, "Reviewed"))
    return services.transition_version(approver, version, "approve", signature=signature(approver, "Approved"))


def effective_document(author, reviewer, approver, title="Aseptic technique in the grade A biosafety cabinet",
                       **fields):
    document, version = draft(author, title, **fields)
    return document, approve(version, author, reviewer, approver)


def next_version(author, document, *, major_change=True, effective_date=dt.date(2026, 4, 1), **fields):
    return services.new_version(author, document, major_change=major_change, effective_date=effective_date,
                                change_summary=fields.pop("change_summary", "Sporicidal wipe-down added."),
                                **fields)


def _colleague(sponsor, username: str, role):
    from opencdmo.core import services as core_services  # noqa: PLC0415
    from opencdmo.core.models import User  # noqa: PLC0415
    from tests.conftest import PASSWORD  # noqa: PLC0415

    return User.objects.filter(username=username).first() or core_services.create_user(
        None, username=username, full_name=username.replace(".", " ").title(), password=PASSWORD,
        roles=[role.value], sponsor_ids=[sponsor.pk])


def sponsor_specification(author, sponsor, title: str):
    """For tests/web: a sponsor's effective specification (document, version)."""
    from opencdmo.core.domain.roles import Role  # noqa: PLC0415
    from opencdmo.documents.selectors import site_today  # noqa: PLC0415

    reviewer = _colleague(sponsor, f"{sponsor.code.lower()}.doc.reviewer", Role.QA_SPECIALIST)
    approver = _colleague(sponsor, f"{sponsor.code.lower()}.doc.approver", Role.QA_APPROVER)
    return effective_document(author, reviewer, approver, f"Release specification: {title}",
                              doc_type="specification", sponsor=sponsor, effective_date=site_today())


def sponsor_training(author, sponsor, title: str):
    """For tests/web: an operator of the sponsor assigned training on the sponsor's specification."""
    from opencdmo.core.domain.roles import Role  # noqa: PLC0415
    from opencdmo.training import services as training_services  # noqa: PLC0415
    from opencdmo.training.models import TrainingAssignment  # noqa: PLC0415

    document, _ = sponsor_specification(author, sponsor, title)
    trainee = _colleague(sponsor, f"{sponsor.code.lower()}.trainee", Role.OPERATOR)
    training_services.create_curriculum(author, name=f"Specification readers {sponsor.pk}", roles=["operator"],
                                        documents=[document])
    return TrainingAssignment.objects.get(user=trainee, document_version__document=document)
