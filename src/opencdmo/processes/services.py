"""Every write to master batch records: author (from a file or a copy), version, sign, make
effective under change control."""

from django.db import transaction

from opencdmo.core import audit, clock
from opencdmo.core.access import require
from opencdmo.core.errors import RuleViolation
from opencdmo.core.records import create_record, update_record
from opencdmo.core.scoping import get_scoped
from opencdmo.core.signatures import SignatureInput
from opencdmo.documents import selectors as document_selectors
from opencdmo.documents import services as document_services
from opencdmo.quality import selectors as quality_selectors
from opencdmo.quality import services as quality_services
from opencdmo.sponsors import selectors as sponsor_selectors

from . import selectors
from .domain import mbr_format
from .domain.definition import Definition, to_dict
from .models import MasterBatchRecord, MbrVersion
from .workflows import version_workflow


class DefinitionErrors(RuleViolation):
    """A file that does not read as an MBR: `errors` are its (line, message) pairs, so a page can
    mark the lines."""

    def __init__(self, errors: list[tuple[int | None, str]]):
        self.errors = list(errors)
        listed = "\n".join(f"line {line}: {message}" if line else message for line, message in self.errors)
        super().__init__(f"The master batch record file has {len(self.errors)} "
                         f"error{'s' if len(self.errors) != 1 else ''}; correct them and try again:\n{listed}")


def parse(text: str) -> Definition:
    """The definition written in `text` (YAML or JSON), or DefinitionErrors with line numbers."""
    if not isinstance(text, str) or not text.strip():
        raise DefinitionErrors([(0, "The file is empty: paste or upload a master batch record (YAML or JSON).")])
    try:
        return mbr_format.load(text, equipment_kinds=selectors.equipment_kinds())
    except mbr_format.FormatError as exc:
        raise DefinitionErrors(exc.errors) from None


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


def new_version(actor, mbr: MasterBatchRecord, *, definition: Definition | None = None, text: str | None = None,
                change_summary: str = "", change_control: str = "") -> MbrVersion:
    """A draft version holding `definition` (or the file `text`); with neither, a copy of the
    effective version (or else the latest one). At most one version of an MBR is open at a time."""
    require(actor, "processes.author", to="author master batch records")
    if text is not None:
        definition = parse(text)
    with transaction.atomic():
        mbr = get_scoped(MasterBatchRecord.objects.select_for_update().select_related("product"), actor, pk=mbr.pk)
        # The MBR row is locked: no other version can open between this check and the insert.
        if (open_version := selectors.open_version(mbr)) is not None:
            raise RuleViolation(f"{mbr.number} already has a version being written or approved "
                                f"({open_version.number}): finish or withdraw it first.")
        if definition is None:
            definition = _copy_source(mbr)
        _check_product(mbr, definition)
        last = mbr.versions.order_by("-version_number").values_list("version_number", flat=True).first() or 0
        return create_record(actor, MbrVersion(
            mbr=mbr, version_number=last + 1, number=f"{mbr.number}-V{last + 1}", status="draft",
            definition=to_dict(definition), change_summary=change_summary.strip(),
            change_control=change_control.strip()[:64]))


def _copy_source(mbr: MasterBatchRecord) -> Definition:
    source = selectors.effective_version(mbr) or mbr.versions.order_by("-version_number").first()
    if source is None:
        raise RuleViolation(f"{mbr.number} has no version to copy yet: import a master batch record file.")
    return selectors.definition_of(source)


def import_version(actor, *, text: str, change_summary: str = "", change_control: str = "") -> MbrVersion:
    """A new draft version from a file: of the product's master batch record, created when the
    product has none yet. The product is the one the file names, if the author may see it."""
    require(actor, "processes.author", to="author master batch records")
    definition = parse(text)
    with transaction.atomic():
        # The product row is locked, so that two first imports of a product make one MBR.
        product = (sponsor_selectors.products_for(actor).select_for_update(of=("self",))
                   .filter(code=definition.product).first())
        if product is None:
            raise RuleViolation(f"The file is for product {definition.product}, which is not one of your sponsors' "
                                "products: correct the product code.")
        mbr = (MasterBatchRecord.objects.filter(product=product).order_by("number").first()
               or create_mbr(actor, product=product, title=definition.title))
        return new_version(actor, mbr, definition=definition, change_summary=change_summary or "Imported from a file.",
                           change_control=change_control)


@transaction.atomic
def edit_version(actor, version: MbrVersion, *, definition: Definition | None = None, text: str | None = None,
                 change_summary: str | None = None, change_control: str | None = None) -> MbrVersion:
    """Change a draft: its definition (or the file `text`), change summary or change control reference."""
    require(actor, "processes.author", to="author master batch records")
    if text is not None:
        definition = parse(text)
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
        problems = selectors.reference_problems(actor, version) if action == "submit" else []
        if problems and version.status == "draft":
            raise RuleViolation(f"{version.number} cannot be submitted: " + " ".join(problems))
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
            _cite_sops(actor, version)
    version.refresh_from_db()
    return version


def _cite_sops(actor, version: MbrVersion) -> None:
    """Where-used of the controlled documents: each SOP the effective version requires."""
    for number in selectors.sop_numbers(selectors.definition_of(version)):
        document_services.cite_document(actor, document_selectors.document(actor, number), version)


def record_export(actor, version: MbrVersion, *, file_format: str) -> None:
    """Exports are audited (DI-4): who took which version out, in which format."""
    require(actor, "processes.view", to="export master batch records")
    audit.log_event(actor, "export", record=version,
                    changes={"export": [None, {"what": "master batch record", "format": file_format}]})
