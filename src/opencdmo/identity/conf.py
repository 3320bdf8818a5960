"""The site's ISBT 128 configuration (OPENCDMO_ISBT_FACILITY): the facility identification number
(FIN) under which this site issues chain of identity identifiers. It comes from the site's own
ICCBBA registration; the default is a placeholder for the demo and tests (ISBT-0)."""

import os

from django.conf import settings

from opencdmo.core.errors import RuleViolation

from .domain import isbt128

PLACEHOLDER_FACILITY = "A9999"


def issuing_facility() -> str:
    value = getattr(settings, "ISBT_FACILITY", os.environ.get("OPENCDMO_ISBT_FACILITY", PLACEHOLDER_FACILITY))
    try:
        isbt128.ChainOfIdentity.build(str(value), 26, "000000")
    except isbt128.Isbt128Error as exc:
        raise RuleViolation(f"The setting ISBT_FACILITY is not a facility identification number: {exc}") from None
    return str(value)
