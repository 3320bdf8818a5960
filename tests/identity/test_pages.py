"""Pages and API operations of patients, therapy orders and treatment centres: anonymous → sign in
(401 for the API); without the permission → 403 with a message; with it → the page or the resource
(the shared view tests, P11-1d)."""

import itertools

import pytest
from django.urls import reverse

from opencdmo.core.domain.roles import Role
from opencdmo.identity.models import TherapyOrder
from tests.web.conftest import records_a  # noqa: F401
from tests.web.viewtests import PermissionApiTest, PermissionPageTest

from . import builders

pytestmark = pytest.mark.req("P11-1d")

_unique = itertools.count(1)


def _order(records):
    """Sponsor A's patient with one therapy order, built once per test world."""
    if getattr(records, "therapy_order", None) is None:
        records.therapy_order = builders.order_for_sponsor(records.author, records.sponsor, "page tests")
    return records.therapy_order


def _patient(records) -> str:
    return TherapyOrder.objects.get(number=_order(records)).patient.number


class _Page(PermissionPageTest):
    roles = (Role.OPERATOR,)
    refused_roles = ()
    args = staticmethod(lambda records: ())

    def url(self, world):
        return reverse(self.route, args=self.args(world))


class _EnrolPage(_Page):
    roles = (Role.PLANNER,)
    refused_roles = (Role.OPERATOR,)


class TestPatientList(_Page):
    route = "identity:patients"


class TestEnrolForm(_EnrolPage):
    route = "identity:patient_new"


class TestPatientPage(_Page):
    route = "identity:patient"
    args = staticmethod(lambda records: (_patient(records),))


class TestOrderForm(_EnrolPage):
    route = "identity:order_new"
    args = staticmethod(lambda records: (_patient(records),))


class TestOrderPage(_Page):
    route = "identity:order"
    args = staticmethod(lambda records: (_order(records),))


class TestCentreList(_Page):
    route = "identity:centres"


class TestCentreForm(_EnrolPage):
    route = "identity:centre_new"


class _Api(PermissionApiTest):
    roles = (Role.OPERATOR,)
    refused_roles = ()
    body = None

    def url(self, world):
        path = self.operation[1]
        if "{number}" in path:
            path = path.format(number=_order(world) if path.startswith("/therapy-orders") else _patient(world))
        return "/api/v1" + path

    def data(self, world, user):
        return self.body(world) if self.body else None


class _EnrolApi(_Api):
    roles = (Role.PLANNER,)
    refused_roles = (Role.OPERATOR,)
    status = 201


class TestApiPatients(_Api):
    operation = ("GET", "/patients")


class TestApiEnrol(_EnrolApi):
    operation = ("POST", "/patients")
    body = staticmethod(lambda world: {"centre": builders.centre(builders.planner(world.sponsor), world.sponsor).code,
                                       "subject_id": f"PAGE-{next(_unique)}"})


class TestApiPatient(_Api):
    operation = ("GET", "/patients/{number}")


class TestApiOrder(_EnrolApi):
    operation = ("POST", "/patients/{number}/orders")
    body = staticmethod(lambda world: {"product": "ACM-101", "planned_collection": "2026-05-04"})


class TestApiTherapyOrder(_Api):
    operation = ("GET", "/therapy-orders/{number}")


class TestApiCentres(_Api):
    operation = ("GET", "/treatment-centres")


class TestApiAddCentre(_EnrolApi):
    operation = ("POST", "/treatment-centres")
    body = staticmethod(lambda world: {"sponsor": world.sponsor.code, "code": f"C{next(_unique)}",
                                       "name": "Hospital"})
