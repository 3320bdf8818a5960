"""Every write to master batch records: author, version, sign, make effective under change control."""

from django.db import IntegrityError, transaction

from opencdmo.core import clock
from opencdmo.core.access import require
from opencdmo.core.errors import RuleViolation
from opencdmo.core.records import create_record, update_record
from opencdmo.core.scoping import get_scoped
from opencdmo.core.signatures import SignatureInput
from opencdmo.quality import selectors as quality_selectors
from opencdmo.quality import services as quality_services

from .domain.definition import Definition, to_dict
from .models import MasterBatchRecord, MbrVersion
from .workflows import version_workflow


def _text(value, what: str, *, max_length: int | None = None) -> str:
    text = value.strip() if isinstance(value, str) else ""
    if not text:
        raise RuleViolation(f"{what} is required.")
    if max_length and len(text) > max_length:
        raise RuleViolation(f"{what} is at most {max_length} characters.")
    return text


def _check_product(mbr: MasterBatchRecord, definition: Definition) -> None:
    if definition.product != mbr.product.code:
        raise RuleViolation(f"The definition is for product {definition.product}, but {mbr.number} makes "
                            f"{mbr.product.code}.")


@transaction.atomic
def create_mbr(actor, *, product, title: str) -> MasterBatchRecord:
    """A new master batch record for a product the author may see; its versions follow."""
    require(actor, "processes.author", to="author master batch records")
    from opencdmo.sponsors.models import Product  # noqa: PLC0415

    product = get_scoped(Product.objects.select_related("program__sponsor"), actor, pk=product.pk)
    return create_record(actor, MasterBatchRecord(product=product, title=_text(title, "A title", max_length=200),
                                                  status="active"))


def new_version(actor, mbr: MasterBatchRecord, *, definition: Definition, change_summary: str = "",
                change_control: str = "") -> MbrVersion:
    """A draft version holding `definition`; at most one version of an MBR is open at a time."""
    require(actor, "processes.author", to="author master batch records")
    try:
        with transaction.atomic():
            mbr = get_scoped(MasterBatchRecord.objects.select_for_update().select_related("product"), actor,
                             pk=mbr.pk)
            _check_product(mbr, definition)
            last = mbr.versions.order_by("-version_number").values_list("version_number", flat=True).first() or 0
            return create_record(actor, MbrVersion(
                mbr=mbr, version_number=last + 1, number=f"{mbr.number}-V{last + 1}", status="draft",
                definition=to_dict(definition), change_summary=change_summary.strip(),
                change_control=change_control.strip()[:64]))
    except IntegrityError:
        raise RuleViolation(f"{mbr.number} already has a version being written or approved: finish or "
                            "withdraw it first.") from None


@transaction.atomic
def edit_version(actor, version: MbrVersion, *, definition: Definition | None = None,
                 change_summary: str | None = None, change_control: str | None = None) -> MbrVersion:
    """Change a draft: its definition, change summary or change control reference."""
    require(actor, "processes.author", to="author master batch records")
    version = get_scoped(MbrVersion.objects.select_for_update(of=("self",)).select_related("mbr__product"), actor,
                         pk=version.pk)
    if version.status != "draft":
        raise RuleViolation(f"{version.number} is {version_workflow.label(version.status)}: only a draft can be "
                            "edited. Return it to draft, or start a new version.")
    changes = {}
    if definition is not None:
        _check_product(version.mbr, definition)
        changes["definition"] = to_dict(definition)
    if change_summary is not None:
        changes["change_summary"] = change_summary.strip()
    if change_control is not None:
        changes["change_control"] = change_control.strip()[:64]
    return update_record(actor, version, **changes)


def transition_version(actor, version: MbrVersion, action: str, *, signature: SignatureInput | None = None,
                       first_in_session: bool = True, reason: str = "") -> MbrVersion:
    """Submit, approve, make effective, return or withdraw. Making a version effective needs its
    change control approved; the version in force until then is superseded in the same transaction,
    and the new version is recorded as the change's implementation."""
    transition = version_workflow.get(action)
    require(actor, transition.permission, to=transition.label.lower())
    signer = version_workflow.authenticate(actor, action, signature, first_in_session=first_in_session)
    with transaction.atomic():
        version = get_scoped(MbrVersion.objects.select_for_update(of=("self",)).select_related("mbr"), actor,
                             pk=version.pk)
        change = None
        if action == "make_effective":
            change = quality_selectors.approved_change_control(None, version.change_control)
            for old in MbrVersion.objects.select_for_update().filter(mbr_id=version.mbr_id, status="effective"):
                update_record(actor, old, action="transition", status="superseded",
                              reason=f"superseded by {version.number}")
        version_workflow.apply(version, action, actor=actor, signer=signer, reason=reason)
        if change is not None:
            update_record(actor, version, action="transition", effective_from=clock.now(),
                          reason=f"effective under {change.number}")
            quality_services.link_implementation(actor, change, version)
    version.refresh_from_db()
    return version
