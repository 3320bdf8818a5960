"""Shared fixtures: demo-like sponsors and users in every role, and a password they all share."""

import pytest

from opencdmo.core import context, services
from opencdmo.core.domain.roles import Role
from opencdmo.sponsors.models import Product, Program, Sponsor

PASSWORD = "correct horse battery staple"


@pytest.fixture(autouse=True)
def _action_context():
    with context.action(client_address="127.0.0.1"):
        yield


@pytest.fixture
def make_user(db):
    def make(username: str, *roles: Role, sponsors=()):
        return services.create_user(
            None, username=username, full_name=username.replace(".", " ").title(),
            password=PASSWORD, roles=[r.value for r in roles], sponsor_ids=[s.pk for s in sponsors],
        )

    return make


@pytest.fixture
def sponsor_a(db):
    sponsor = Sponsor.objects.create(code="ACME", name="Acme Cell Therapeutics")
    program = Program.objects.create(sponsor=sponsor, code="ACME-CD19", name="CD19 CAR-T")
    Product.objects.create(program=program, code="ACM-101", name="Autologous CD19 CAR-T",
                           modality="autologous_cell", phase="phase_2")
    return sponsor


@pytest.fixture
def sponsor_b(db):
    sponsor = Sponsor.objects.create(code="BETA", name="Beta Vector Bio")
    program = Program.objects.create(sponsor=sponsor, code="BETA-AAV9", name="AAV9 SMN1")
    Product.objects.create(program=program, code="BVB-201", name="AAV9 gene therapy vector",
                           modality="aav_vector", phase="phase_1")
    return sponsor


@pytest.fixture
def qa_author(make_user, sponsor_a):
    return make_user("qa.author", Role.QA_SPECIALIST, sponsors=[sponsor_a])


@pytest.fixture
def qa_approver(make_user, sponsor_a):
    return make_user("qa.approver", Role.QA_APPROVER, sponsors=[sponsor_a])


@pytest.fixture
def admin_user(make_user, sponsor_a, sponsor_b):
    return make_user("sys.admin", Role.SYSTEM_ADMIN, sponsors=[sponsor_a, sponsor_b])
