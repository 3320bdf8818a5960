"""Facilities fixtures: a site with rooms of every grade, people in the roles that run them, and
the server clock under the test's control (every facilities test runs on the fake clock)."""

import datetime as dt

import pytest

from opencdmo.core.domain.roles import Role
from tests.web.conftest import records_a  # noqa: F401  (the shared page and API tests' world)

from . import factories


@pytest.fixture(autouse=True)
def _server_clock(fake_clock):
    """2026-03-02 08:30 UTC, moved only by the test."""
    return fake_clock


@pytest.fixture
def supervisor(make_user):
    return make_user("sup.santos", Role.SUPERVISOR)


@pytest.fixture
def qa(make_user):
    return make_user("qa.patel", Role.QA_SPECIALIST)


@pytest.fixture
def operator(make_user):
    return make_user("op.olsen", Role.OPERATOR)


@pytest.fixture
def other_operator(make_user):
    return make_user("op.garcia", Role.OPERATOR)


@pytest.fixture
def analyst(make_user):
    return make_user("qc.chen", Role.QC_ANALYST)


@pytest.fixture
def area(supervisor):
    return factories.area(supervisor)


@pytest.fixture
def room(supervisor, area):
    return factories.room(supervisor, area, "B-101", "B")


@pytest.fixture
def make_equipment(supervisor, qa, room):
    """Equipment in service, qualified, calibrated and clean, unless told otherwise."""

    def make(number: str = "EQ-BSC-01", **fields):
        fields.setdefault("room", room)
        return factories.equipment_in_service(supervisor, qa, number=number, **fields)

    return make


@pytest.fixture
def cabinet(make_equipment):
    return make_equipment("EQ-BSC-01", name="Biosafety cabinet 1", kind="biosafety_cabinet",
                          calibration_interval_days=365, maintenance_interval_days=180, clean_hold_hours=24)


def utc(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=dt.UTC)
