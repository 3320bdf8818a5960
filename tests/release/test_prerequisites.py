"""The disposition rule, pure (REL-1): release needs every prerequisite met or not applicable;
conditional release allows only pending release tests that may be pending at release (QC-1);
a refusal names each prerequisite that stands in the way."""

import pytest

from opencdmo.release.domain.prerequisites import (
    MET,
    NOT_APPLICABLE,
    PENDING,
    UNMET,
    Prerequisite,
    blocking_names,
    conditional_refusal,
    release_refusal,
)

pytestmark = pytest.mark.req("REL-1")

REVIEWED = Prerequisite("Batch record reviewed", MET, "Reviewed.")
EM = Prerequisite("Environmental monitoring", NOT_APPLICABLE, "Room B01 has no EM programme.")
STERILITY_PENDING = Prerequisite("Release tests", PENDING, "pending Sterility.", conditional=True)


def test_release_goes_ahead_when_everything_is_met_or_not_applicable():
    assert release_refusal([REVIEWED, EM]) is None


def test_release_refusal_names_each_unmet_and_pending_prerequisite():
    why = release_refusal([REVIEWED, Prerequisite("Deviations closed", UNMET, "DEV-2026-0001 open."),
                           Prerequisite("Materials used released", UNMET, "LOT-2026-0002 is on hold."),
                           STERILITY_PENDING, EM])
    assert why.startswith("Cannot release: 3 prerequisite(s) not met")
    for named in ("Deviations closed: DEV-2026-0001 open", "Materials used released: LOT-2026-0002 is on hold",
                  "Release tests: pending Sterility"):
        assert named in why
    assert "Batch record reviewed" not in why and "Environmental" not in why


@pytest.mark.req("QC-1")
def test_conditional_release_allows_only_tests_that_may_be_pending():
    assert conditional_refusal([REVIEWED, STERILITY_PENDING, EM]) is None
    not_allowed = Prerequisite("Release tests", PENDING, "pending Potency.", conditional=False)
    assert "Release tests" in conditional_refusal([REVIEWED, not_allowed])


def test_conditional_release_refuses_any_unmet_prerequisite_and_names_it():
    why = conditional_refusal([STERILITY_PENDING, Prerequisite("Batch record reviewed", UNMET, "B-1 is completed.")])
    assert why.startswith("Cannot release conditionally") and "Batch record reviewed: B-1 is completed" in why
    assert "Release tests" not in why


def test_conditional_release_with_nothing_pending_is_an_ordinary_release():
    assert "release it (not conditionally)" in conditional_refusal([REVIEWED, EM])


def test_blocking_names_and_state_validation():
    assert blocking_names([REVIEWED, Prerequisite("Deviations closed", UNMET, "")]) == ["Deviations closed"]
    with pytest.raises(ValueError):
        Prerequisite("x", "green", "")
    assert REVIEWED.as_dict() == {"name": "Batch record reviewed", "state": "met", "detail": "Reviewed.", "link": "",
                                  "conditional": False}
