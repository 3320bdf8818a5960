"""Training fixtures: the documents people's three signatures, a curriculum for operators, the clock."""
# ruff: noqa: F811  (the documents fixtures are imported to be used here, so their names are parameters too)

import datetime as dt

import pytest

from opencdmo.core.domain.roles import Role
from opencdmo.training import services
from tests.documents.builders import effective_document
from tests.documents.conftest import approver, author, operator, reviewer  # noqa: F401


@pytest.fixture(autouse=True)
def _server_clock(fake_clock):
    return fake_clock


@pytest.fixture
def trainer(make_user, sponsor_a):
    return make_user("sup.trainer", Role.SUPERVISOR, sponsors=[sponsor_a])


@pytest.fixture
def aseptic(author, reviewer, approver):
    """SOP-0001 v1.0, effective."""
    return effective_document(author, reviewer, approver)


@pytest.fixture
def gowning_course(reviewer):
    return services.create_course(reviewer, name="Grade B gowning qualification",
                                  description="Gowning with a trainer, then three passed glove prints.")


@pytest.fixture
def operator_curriculum(reviewer, aseptic, gowning_course):
    return services.create_curriculum(reviewer, name="Operator", roles=["operator"], documents=[aseptic[0]],
                                      courses=[gowning_course], due_days=30)


def days(n: int) -> dt.timedelta:
    return dt.timedelta(days=n)
