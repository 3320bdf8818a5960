"""Documents fixtures: an author, a reviewer and an approver (three people), an operator, the server clock."""

import datetime as dt

import pytest

from opencdmo.core.domain.roles import Role


@pytest.fixture(autouse=True)
def _server_clock(fake_clock):
    """2026-03-02 08:30 UTC (09:30 in Europe/Berlin), moved only by the test."""
    return fake_clock


@pytest.fixture
def author(make_user, sponsor_a):
    return make_user("sup.santos", Role.SUPERVISOR, sponsors=[sponsor_a])


@pytest.fixture
def reviewer(make_user, sponsor_a):
    return make_user("qa.patel", Role.QA_SPECIALIST, sponsors=[sponsor_a])


@pytest.fixture
def approver(make_user, sponsor_a):
    return make_user("qp.dubois", Role.QA_APPROVER, sponsors=[sponsor_a])


@pytest.fixture
def operator(make_user, sponsor_a):
    return make_user("op.olsen", Role.OPERATOR, sponsors=[sponsor_a])


def utc(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=dt.UTC)
