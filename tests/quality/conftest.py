"""Quality fixtures: a sponsor's deviation and CAPA people in the roles that do each step, and
the server clock under the test's control (2026-03-02 08:30 UTC, moved only by the test)."""

import pytest

from opencdmo.core.domain.roles import Role
from tests.web.conftest import records_a  # noqa: F401  (the shared page and API tests' world)


@pytest.fixture(autouse=True)
def _server_clock(fake_clock):
    return fake_clock


# --- Deviations ---

@pytest.fixture
def raiser(make_user, sponsor_a):
    return make_user("op.olsen", Role.OPERATOR, sponsors=[sponsor_a])


@pytest.fixture
def classifier(make_user, sponsor_a):
    """QA specialist: classifies, may investigate and manage CAPAs, cannot close."""
    return make_user("qa.patel", Role.QA_SPECIALIST, sponsors=[sponsor_a])


@pytest.fixture
def investigator(make_user, sponsor_a):
    return make_user("sup.santos", Role.SUPERVISOR, sponsors=[sponsor_a])


@pytest.fixture
def closer(make_user, sponsor_a):
    """QA approver: closes deviations, approves extensions and CAPA plans."""
    return make_user("qp.dubois", Role.QA_APPROVER, sponsors=[sponsor_a])


@pytest.fixture
def second_approver(make_user, sponsor_a):
    return make_user("qp.meyer", Role.QA_APPROVER, sponsors=[sponsor_a])


@pytest.fixture
def other_sponsor_investigator(make_user, sponsor_b):
    return make_user("sup.beta", Role.SUPERVISOR, sponsors=[sponsor_b])


# --- Change control ---

@pytest.fixture
def proposer(make_user, sponsor_a):
    """A supervisor: proposes changes, cannot assess or approve them."""
    return make_user("sup.proposer", Role.SUPERVISOR, sponsors=[sponsor_a])


@pytest.fixture
def qa(make_user, sponsor_a, sponsor_b):
    """QA specialist who assesses changes of both sponsors."""
    return make_user("qa.assessor", Role.QA_SPECIALIST, sponsors=[sponsor_a, sponsor_b])


@pytest.fixture
def qa_approver_ab(make_user, sponsor_a, sponsor_b):
    return make_user("qp.approver", Role.QA_APPROVER, sponsors=[sponsor_a, sponsor_b])


@pytest.fixture
def sponsor_a_lead(make_user, sponsor_a):
    """Sponsor A's quality lead: a sponsor viewer of A."""
    return make_user("acme.quality", Role.SPONSOR_VIEWER, sponsors=[sponsor_a])


@pytest.fixture
def sponsor_b_lead(make_user, sponsor_b):
    return make_user("beta.quality", Role.SPONSOR_VIEWER, sponsors=[sponsor_b])
