"""Every write to sponsors, programs, products and quality agreements."""

from django.db import transaction

from opencdmo.core import services as core_services
from opencdmo.core.access import require
from opencdmo.core.errors import RuleViolation
from opencdmo.core.records import create_record, update_record
from opencdmo.core.scoping import get_scoped
from opencdmo.core.signatures import SignatureInput

from .models import Product, Program, QualityAgreement, Sponsor
from .workflows import quality_agreement_workflow


@transaction.atomic
def create_sponsor(actor, *, code: str, name: str) -> Sponsor:
    require(actor, "sponsors.manage")
    if Sponsor.objects.filter(code__iexact=code.strip()).exists():
        raise RuleViolation(f"A sponsor with code {code} exists already.")
    sponsor = create_record(actor, Sponsor(code=code.strip().upper(), name=name.strip()))
    core_services.give_creator_access(actor, sponsor.pk, reason=f"created sponsor {sponsor.code}")
    return sponsor


@transaction.atomic
def create_program(actor, *, sponsor: Sponsor, code: str, name: str, description: str = "") -> Program:
    require(actor, "sponsors.manage")
    sponsor = get_scoped(Sponsor, actor, pk=sponsor.pk)
    if Program.objects.filter(code__iexact=code.strip()).exists():
        raise RuleViolation(f"A program with code {code} exists already.")
    return create_record(actor, Program(sponsor=sponsor, code=code.strip().upper(),
                                        name=name.strip(), description=description))


@transaction.atomic
def create_product(actor, *, program: Program, code: str, name: str, modality: str, phase: str) -> Product:
    require(actor, "sponsors.manage")
    program = get_scoped(Program, actor, pk=program.pk)
    if Product.objects.filter(code__iexact=code.strip()).exists():
        raise RuleViolation(f"A product with code {code} exists already.")
    if modality not in Product.Modality.values:
        raise RuleViolation(f"Modality must be one of: {', '.join(Product.Modality.values)}.")
    if phase not in Product.Phase.values:
        raise RuleViolation(f"Phase must be one of: {', '.join(Product.Phase.values)}.")
    return create_record(actor, Product(program=program, code=code.strip().upper(), name=name.strip(),
                                        modality=modality, phase=phase))


@transaction.atomic
def change_product_phase(actor, product: Product, *, phase: str, reason: str) -> Product:
    require(actor, "sponsors.manage")
    product = get_scoped(Product.objects.select_for_update(), actor, pk=product.pk)
    if phase not in Product.Phase.values:
        raise RuleViolation(f"Phase must be one of: {', '.join(Product.Phase.values)}.")
    if not reason.strip():
        raise RuleViolation("Give a reason for changing the product's phase.")
    return update_record(actor, product, reason=reason, phase=phase)


@transaction.atomic
def draft_quality_agreement(actor, *, sponsor: Sponsor, title: str, sponsor_approval_for_changes: bool = True,
                            deviation_notification_days: int = 2, terms: str = "",
                            effective_date=None) -> QualityAgreement:
    require(actor, "sponsors.author_agreement")
    sponsor = get_scoped(Sponsor, actor, pk=sponsor.pk)
    if not title.strip():
        raise RuleViolation("Give the quality agreement a title.")
    return create_record(actor, QualityAgreement(
        sponsor=sponsor, title=title.strip(), status=quality_agreement_workflow.initial,
        sponsor_approval_for_changes=sponsor_approval_for_changes,
        deviation_notification_days=deviation_notification_days, terms=terms,
        effective_date=effective_date,
    ))


EDITABLE_AGREEMENT_FIELDS = {"title", "sponsor_approval_for_changes", "deviation_notification_days",
                             "terms", "effective_date"}


@transaction.atomic
def edit_quality_agreement(actor, agreement: QualityAgreement, *, reason: str = "", **changes) -> QualityAgreement:
    require(actor, "sponsors.author_agreement")
    agreement = get_scoped(QualityAgreement.objects.select_for_update(), actor, pk=agreement.pk)
    if unknown := changes.keys() - EDITABLE_AGREEMENT_FIELDS:
        raise RuleViolation(f"These fields cannot be edited: {', '.join(sorted(unknown))}.")
    if agreement.status in ("approved", "superseded", "void"):
        raise RuleViolation(
            f"{agreement.number} is {quality_agreement_workflow.label(agreement.status)} and can no longer "
            "be edited; draft a new agreement instead."
        )
    return update_record(actor, agreement, reason=reason, **changes)


def transition_quality_agreement(actor, agreement: QualityAgreement, action: str, *,
                                 signature: SignatureInput | None = None, first_in_session: bool = True,
                                 reason: str = "") -> QualityAgreement:
    """Submit, return, approve or void. Approving supersedes the sponsor's earlier agreement."""
    signer = quality_agreement_workflow.authenticate(actor, action, signature, first_in_session=first_in_session)
    with transaction.atomic():
        agreement = get_scoped(QualityAgreement.objects.select_for_update(), actor, pk=agreement.pk)
        if action == "approve":
            earlier = QualityAgreement.objects.select_for_update().filter(
                sponsor_id=agreement.sponsor_id, status="approved")
        quality_agreement_workflow.apply(agreement, action, actor=actor, signer=signer, reason=reason)
        if action == "approve":
            for previous in earlier.exclude(pk=agreement.pk):
                update_record(actor, previous, action="transition", status="superseded",
                              reason=f"superseded by {agreement.number}")
    return agreement
