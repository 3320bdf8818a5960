"""The database itself refuses to change or remove audit events and signatures (P11-1e, P11-4).

The refusals are tested through a raw database connection, outside Django and its
services, as someone with an ordinary database login would try it.
"""

from contextlib import contextmanager

import pytest
from django.db import connection

from opencdmo.core import services
from opencdmo.core.models import AuditChain, AuditEvent, Signature, User
from opencdmo.core.verification import verify_audit_trail
from tests.factories import build_realistic_trail

pytestmark = pytest.mark.django_db(transaction=True)

REFUSED = [
    ("core_auditevent", "UPDATE core_auditevent SET reason = 'corrected' WHERE id = (SELECT MIN(id) FROM core_auditevent)"),
    ("core_auditevent", "UPDATE core_auditevent SET actor_name = 'Somebody Else'"),
    ("core_auditevent", "DELETE FROM core_auditevent WHERE id = (SELECT MAX(id) FROM core_auditevent)"),
    ("core_auditevent", "DELETE FROM core_auditevent"),
    ("core_signature", "UPDATE core_signature SET meaning = 'Reviewed' WHERE meaning = 'Approved'"),
    ("core_signature", "UPDATE core_signature SET content_hash = 'e3b0c44298fc1c149afbf4c8996fb924'"),
    ("core_signature", "DELETE FROM core_signature WHERE meaning = 'Approved'"),
    ("core_auditchain", "DELETE FROM core_auditchain WHERE lane = (SELECT MIN(lane) FROM core_auditchain)"),
]


@contextmanager
def raw_connection():
    """A plain DB-API connection to the test database, in autocommit, without Django's ORM."""
    raw = connection.get_new_connection(connection.get_connection_params())
    if connection.vendor == "postgresql":
        raw.autocommit = True
    else:
        raw.isolation_level = None
    try:
        yield raw
    finally:
        raw.close()


def _snapshot():
    return (
        list(AuditEvent.objects.order_by("id").values_list()),
        list(Signature.objects.order_by("id").values_list()),
        list(AuditChain.objects.order_by("lane").values_list()),
    )


@pytest.fixture
def trail():
    build_realistic_trail()
    assert Signature.objects.filter(meaning="Approved").exists()
    return _snapshot()


@pytest.mark.req("P11-1e")
@pytest.mark.req("P11-4")
@pytest.mark.parametrize(("table", "sql"), REFUSED, ids=[sql.split(" WHERE")[0] for _, sql in REFUSED])
def test_history_cannot_be_changed_or_removed_through_a_raw_connection(trail, table, sql):
    with raw_connection() as raw:
        cursor = raw.cursor()
        with pytest.raises(connection.Database.DatabaseError, match=f"{table}: append-only"):
            cursor.execute(sql)
        # The same login may change ordinary tables: it is the trail that is protected.
        cursor.execute("UPDATE sponsors_sponsor SET name = 'Acme Cell Therapeutics Inc.' WHERE code = 'ACME'")
        assert cursor.rowcount == 1
    assert _snapshot() == trail
    assert verify_audit_trail().intact


@pytest.mark.postgres(reason="SQLite has no TRUNCATE statement")
@pytest.mark.req("P11-1e")
@pytest.mark.parametrize("table", ["core_auditevent", "core_signature", "core_auditchain"])
def test_history_cannot_be_truncated_on_postgresql(trail, table):
    refused = pytest.raises(connection.Database.DatabaseError, match=f"{table}: append-only")
    with raw_connection() as raw, refused:
        raw.cursor().execute(f"TRUNCATE {table} CASCADE")
    assert _snapshot() == trail


@pytest.mark.req("P11-1e")
def test_new_events_can_still_be_appended_while_history_is_protected(trail):
    admin = User.objects.get(username="sys.admin")
    services.update_user(admin, admin, full_name="Sam Okafor-Reyes", reason="name change")
    events, _, _ = _snapshot()
    assert len(events) == len(trail[0]) + 1
    assert verify_audit_trail().intact

