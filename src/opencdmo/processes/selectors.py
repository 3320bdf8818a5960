"""Reads of master batch records for pages, the API and batch execution."""

from functools import lru_cache

from opencdmo.core.access import require_to_see
from opencdmo.core.errors import RuleViolation
from opencdmo.core.scoping import get_scoped, scoped

from .domain.definition import Definition, from_dict
from .models import MasterBatchRecord, MbrVersion


def mbrs_for(user):
    require_to_see(user, "processes.view")
    return scoped(MasterBatchRecord.objects.select_related("product__program__sponsor"), user)


def mbr(user, number: str) -> MasterBatchRecord:
    require_to_see(user, "processes.view")
    return get_scoped(MasterBatchRecord.objects.select_related("product__program__sponsor"), user, number=number)


def version(user, number: str) -> MbrVersion:
    require_to_see(user, "processes.view")
    return get_scoped(MbrVersion.objects.select_related("mbr__product__program__sponsor", "created_by"), user,
                      number=number)


def effective_version(mbr: MasterBatchRecord) -> MbrVersion | None:
    return mbr.versions.filter(status="effective").first()


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
