"""Shared fixtures: demo-like sponsors and users in every role, and a password they all share."""

import datetime as dt
import threading
from contextlib import contextmanager

import pytest
from django.contrib.auth.hashers import Argon2PasswordHasher
from django.db import connection
from django.test import TransactionTestCase, override_settings

from opencdmo.core import clock, context, services, triggers
from opencdmo.core.domain.roles import Role
from opencdmo.processes import selectors as process_selectors
from opencdmo.sponsors.models import Product, Program, Sponsor

PASSWORD = "correct horse battery staple"


class FastArgon2PasswordHasher(Argon2PasswordHasher):
    """The production hasher with test-sized cost: the same algorithm and code paths, ~1 ms a hash.

    The rules under test (who may sign, lockout, password policy) do not depend on the cost.
    """

    time_cost = 1
    memory_cost = 256
    parallelism = 1


def pytest_collection_modifyitems(config, items):
    """Tests marked `postgres` are skipped on SQLite, with the reason the marker gives."""
    if connection.vendor == "postgresql":
        return
    for item in items:
        if marker := item.get_closest_marker("postgres"):
            why = marker.kwargs.get("reason", "this behaviour exists only on PostgreSQL")
            item.add_marker(pytest.mark.skip(reason=f"needs PostgreSQL (OPENCDMO_DATABASE_URL=postgres://…): {why}"))


@pytest.fixture(scope="session", autouse=True)
def _fast_password_hashing():
    with override_settings(PASSWORD_HASHERS=["tests.conftest.FastArgon2PasswordHasher"]):
        yield


@contextmanager
def append_only_triggers_dropped():
    """Drop the append-only triggers (as a database owner could), and put them back afterwards.

    Schema changes on SQLite cannot run inside a transaction: use it in transactional tests.
    """
    with connection.schema_editor() as editor:
        triggers.drop(editor)
    try:
        yield
    finally:
        with connection.schema_editor() as editor:
            triggers.drop(editor)  # idempotent: a half-installed set would make install fail
            triggers.install(editor)


@pytest.fixture(scope="session", autouse=True)
def _flush_past_append_only_triggers():
    """Transactional tests end with a flush (DELETE / TRUNCATE of every table), which the
    append-only triggers refuse by design. Around that flush only, the triggers are dropped,
    and they are reinstalled right after it, so the next test runs with them in place again."""
    original = TransactionTestCase._fixture_teardown

    def _fixture_teardown(self):
        with append_only_triggers_dropped():
            original(self)

    TransactionTestCase._fixture_teardown = _fixture_teardown
    try:
        yield
    finally:
        TransactionTestCase._fixture_teardown = original


@pytest.fixture(autouse=True)
def _action_context():
    with context.action(client_address="127.0.0.1"):
        yield


@pytest.fixture(autouse=True)
def _forget_released_definitions():
    """Parsed MBR definitions are cached by row id and last change; a rolled-back test gives both to
    the next one's version under a fixed clock, so each test starts and ends with the cache empty."""
    process_selectors._released_definition.cache_clear()
    yield
    process_selectors._released_definition.cache_clear()


class FakeClock:
    """The server clock, under the test's control (no sleeps)."""

    def __init__(self, start: dt.datetime):
        self.current = start
        self._lock = threading.Lock()

    def __call__(self) -> dt.datetime:
        with self._lock:
            return self.current

    def advance(self, **delta) -> dt.datetime:
        with self._lock:
            self.current += dt.timedelta(**delta)
            return self.current

    def set(self, moment: dt.datetime) -> None:
        with self._lock:
            self.current = moment


@pytest.fixture
def fake_clock():
    fake = FakeClock(dt.datetime(2026, 3, 2, 8, 30, tzinfo=dt.UTC))
    with clock.use_clock(fake):
        yield fake


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
