"""Roles and permissions (P11-1g: authority checks per action and per signature)."""

import pytest

from opencdmo.core.domain.roles import PERMISSIONS, ROLE_LABELS, Role, permissions_of
from opencdmo.sponsors.workflows import quality_agreement_workflow


def _is_read(permission: str) -> bool:
    return permission.split(".", 1)[1].startswith("view")


@pytest.mark.req("P11-1g")
@pytest.mark.parametrize("role", list(Role))
def test_every_role_has_a_label_and_permissions(role):
    assert ROLE_LABELS[role]
    assert PERMISSIONS[role]


@pytest.mark.req("P11-1g")
def test_sponsor_viewer_writes_nothing_but_signs_its_own_change_approvals():
    """A sponsor's quality lead never writes CDMO records; the one thing they do is sign the
    sponsor's decision on a change its quality agreement asks it to approve."""
    granted = PERMISSIONS[Role.SPONSOR_VIEWER]
    assert granted
    assert [p for p in granted if not _is_read(p)] == ["quality.sponsor_approve_change"]


@pytest.mark.req("P11-1g")
def test_only_the_system_administrator_manages_users():
    assert [r for r in Role if "core.manage_users" in PERMISSIONS[r]] == [Role.SYSTEM_ADMIN]


@pytest.mark.req("P11-1g")
def test_every_permission_a_workflow_needs_is_granted_by_some_role():
    granted = permissions_of(list(Role))
    needed = {t.permission for t in quality_agreement_workflow.transitions}
    assert needed <= granted


@pytest.mark.req("P11-1g")
def test_permissions_of_several_roles_is_their_union():
    assert permissions_of(["qa_specialist", "qa_approver"]) == (
        PERMISSIONS[Role.QA_SPECIALIST] | PERMISSIONS[Role.QA_APPROVER]
    )
    assert permissions_of([]) == frozenset()
    with pytest.raises(ValueError):
        permissions_of(["superuser"])
