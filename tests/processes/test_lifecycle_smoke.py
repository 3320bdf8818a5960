"""An MBR version goes draft → effective under an approved change control, superseding the last."""

import pytest

from opencdmo.core.domain.roles import Role
from opencdmo.core.errors import RuleViolation
from opencdmo.processes import selectors, services
from opencdmo.sponsors.models import Product
from tests.factories import signature
from tests.processes import builders


@pytest.mark.django_db
def test_effective_version_supersedes_the_previous_one(make_user, sponsor_a):
    product = Product.objects.get(code="ACM-101")
    author = make_user("pd.author", Role.PD_SCIENTIST, sponsors=[sponsor_a])
    approver = make_user("qa.mbr", Role.QA_APPROVER, sponsors=[sponsor_a])
    first = builders.effective_version(author, approver, product)
    assert first.status == "effective"
    assert selectors.definition_of(first).step("B1").hold.max_minutes == 240
    second = builders.effective_version(author, approver, product, mbr=first.mbr)
    first.refresh_from_db()
    assert (first.status, second.status) == ("superseded", "effective")


@pytest.mark.django_db
def test_a_version_cannot_take_effect_without_an_approved_change_control(make_user, sponsor_a):
    product = Product.objects.get(code="ACM-101")
    author = make_user("pd.author", Role.PD_SCIENTIST, sponsors=[sponsor_a])
    approver = make_user("qa.mbr", Role.QA_APPROVER, sponsors=[sponsor_a])
    version = builders.draft_version(author, product, change_control="CC-2026-9999")
    services.transition_version(author, version, "submit", signature=signature(author, "Authored"))
    services.transition_version(approver, version, "approve", signature=signature(approver, "Approved"))
    with pytest.raises(RuleViolation, match="No change control CC-2026-9999"):
        services.transition_version(approver, version, "make_effective",
                                    signature=signature(approver, "QA Released"))
    version.refresh_from_db()
    assert version.status == "approved"
