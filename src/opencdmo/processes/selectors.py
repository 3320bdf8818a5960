"""Reads of master batch records for pages, the API and batch execution."""

from functools import lru_cache

from django.db.models import Q
from django.urls import reverse

from opencdmo.core.access import require_to_see
from opencdmo.core.errors import RuleViolation
from opencdmo.core.scoping import get_scoped, scoped
from opencdmo.core.tasks import Task
from opencdmo.documents import selectors as document_selectors
from opencdmo.facilities.models import Equipment
from opencdmo.materials import selectors as material_selectors
from opencdmo.quality import selectors as quality_selectors
from opencdmo.quality.workflows import CHANGE_IMPLEMENTABLE_STATES

from .domain import mbr_format
from .domain.definition import Definition, from_dict
from .models import OPEN_STATES, MasterBatchRecord, MbrVersion
from .workflows import version_workflow

EXPORT_FORMATS = {"yaml": ("application/yaml", "yaml"), "json": ("application/json", "json")}
MBR_SORTS = {"number": "number", "title": "title", "product": "product__code", "sponsor": "product__program__sponsor__code"}


def mbrs_for(user, *, sponsor: str = "", product: str = "", text: str = "", sort: str = ""):
    require_to_see(user, "processes.view")
    queryset = scoped(MasterBatchRecord.objects.select_related("product__program__sponsor"), user)
    if sponsor:
        queryset = queryset.filter(product__program__sponsor__code=sponsor)
    if product:
        queryset = queryset.filter(product__code=product)
    if text.strip():
        queryset = queryset.filter(Q(number__icontains=text.strip()) | Q(title__icontains=text.strip())
                                   | Q(product__code__icontains=text.strip()))
    field = MBR_SORTS.get(sort.lstrip("-"), "number")
    return queryset.order_by(f"-{field}" if sort.startswith("-") else field, "pk")


def mbr(user, number: str) -> MasterBatchRecord:
    require_to_see(user, "processes.view")
    return get_scoped(MasterBatchRecord.objects.select_related("product__program__sponsor"), user, number=number)


def version(user, number: str) -> MbrVersion:
    require_to_see(user, "processes.view")
    return get_scoped(MbrVersion.objects.select_related("mbr__product__program__sponsor", "created_by"), user,
                      number=number)


def versions_of(mbr: MasterBatchRecord):
    return mbr.versions.select_related("created_by").order_by("-version_number")


def effective_version(mbr: MasterBatchRecord) -> MbrVersion | None:
    return mbr.versions.filter(status="effective").first()


def open_version(mbr: MasterBatchRecord) -> MbrVersion | None:
    return mbr.versions.filter(status__in=OPEN_STATES).first()


def previous_version(version: MbrVersion) -> MbrVersion | None:
    return (MbrVersion.objects.filter(mbr_id=version.mbr_id, version_number__lt=version.version_number)
            .order_by("-version_number").first())


@lru_cache(maxsize=256)
def _released_definition(pk: int, modified_at) -> Definition:
    return from_dict(MbrVersion.objects.values_list("definition", flat=True).get(pk=pk))


def definition_of(version: MbrVersion) -> Definition:
    """The version's structure. A version out of draft never changes its definition (a signature
    binds to it), so it is parsed once per process; the cache key includes the last change."""
    if version.status == "draft":
        return from_dict(version.definition)
    return _released_definition(version.pk, version.modified_at)


def require_effective(version: MbrVersion) -> Definition:
    if version.status != "effective":
        raise RuleViolation(f"{version.number} is not effective: batches are made only from the effective version "
                            "of a master batch record.")
    return definition_of(version)


def export_text(version: MbrVersion, fmt: str = "yaml") -> str:
    """The version as an MBR file; reading it back gives the same definition. Record the export
    with `services.record_export`."""
    if fmt not in EXPORT_FORMATS:
        raise RuleViolation(f"Export as {' or '.join(EXPORT_FORMATS)}, not '{str(fmt)[:20]}'.")
    dump = mbr_format.dump_json if fmt == "json" else mbr_format.dump_yaml
    return dump(definition_of(version))


def equipment_kinds() -> tuple[str, ...]:
    return tuple(Equipment.Kind.values)


def equipment_kind_label(kind: str) -> str:
    return dict(Equipment.Kind.choices).get(kind, kind)


def sop_numbers(definition: Definition) -> list[str]:
    return sorted({number for step in definition.steps() for number in step.sops})


def material_codes(definition: Definition) -> list[str]:
    return sorted({line.material for step in definition.steps() for line in step.materials})


def reference_problems(user, version: MbrVersion) -> list[str]:
    """What the definition names that the database does not have: the product, each SOP (a
    controlled document of the product's sponsor or the CDMO, not obsolete), each material (the
    sponsor's or the CDMO's) and each equipment kind. Empty when the version may be submitted."""
    definition = definition_of(version)
    product = version.mbr.product
    problems = []
    if definition.product != product.code:
        problems.append(f"The definition is for product {definition.product}, not {product.code}.")
    own = Q(sponsor__isnull=True) | Q(sponsor_id=product.program.sponsor_id)
    sops = sop_numbers(definition)
    found = set(document_selectors.documents_for(user).filter(own, number__in=sops, obsoleted_at__isnull=True)
                .values_list("number", flat=True))
    problems += [f"SOP {n} is not a current controlled document of {product.program.sponsor.code} or the CDMO."
                 for n in sops if n not in found]
    codes = material_codes(definition)
    found = set(material_selectors.materials_for(user).filter(own, code__in=codes).values_list("code", flat=True))
    problems += [f"Material {c} is not in the material master for {product.program.sponsor.code} or the CDMO."
                 for c in codes if c not in found]
    kinds = set(equipment_kinds())
    problems += [f"Step {s.id}: '{k}' is not an equipment kind." for s in definition.steps() for k in s.equipment
                 if k not in kinds]
    return problems


def changed_steps(version: MbrVersion) -> dict[str, list[str]] | None:
    """Step ids added, removed and changed since the previous version (None for the first)."""
    before = previous_version(version)
    if before is None:
        return None
    old = {s.id: s for s in definition_of(before).steps()}
    new = {s.id: s for s in definition_of(version).steps()}
    return {"added": [i for i in new if i not in old], "removed": [i for i in old if i not in new],
            "changed": [i for i in new if i in old and new[i] != old[i]]}


def change_controls_to_cite(user):
    """Approved change controls (or in implementation) this user may see, to name on a version."""
    if not user.has_permission("quality.view"):
        return []
    return [c for state in CHANGE_IMPLEMENTABLE_STATES for c in quality_selectors.changes_for(user, status=state)]


def version_task_list(user) -> list[Task]:
    """Versions waiting for a signature this user may give (submit, approve, make effective)."""
    if not user.has_permission("processes.view"):
        return []
    pending = scoped(MbrVersion, user).filter(status__in=OPEN_STATES).select_related("mbr__product")
    tasks = []
    for v in pending[:50]:
        steps = [t.label for t in version_workflow.available(v, user) if t.signature]
        if steps:
            tasks.append(Task(title=" / ".join(steps), record=f"{v.number} {v.mbr.title}",
                              url=reverse("processes:version", args=[v.number]), status=v.status,
                              status_label=version_workflow.label(v.status)))
    return tasks
