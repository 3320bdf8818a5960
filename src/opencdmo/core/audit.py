"""The one audit-trail writer (P11-1e, A11-8, DI-4). Every service calls it in its transaction.

Events are appended with plain SQL: the writer runs on every write of the platform, and the
ORM's per-row model machinery would cost more than the change it records.
"""

import datetime as dt
import hashlib
import hmac
import itertools
import os
from functools import cache
from typing import NamedTuple

from django.conf import settings
from django.db import connection, models

from . import clock, context
from .domain import canonical, chain
from .models import AuditChain, AuditEvent

TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"

_lanes = itertools.count(os.getpid() * 7)


@cache
def seal_key() -> bytes:
    """The key that seals chain heads; derived from the installation's secret key."""
    return hmac.new(settings.SECRET_KEY.encode(), b"opencdmo-audit-seal", hashlib.sha256).digest()


def record_type(obj_or_model) -> str:
    meta = obj_or_model._meta
    return f"{meta.app_label}.{meta.model_name}"


def snapshot(obj: models.Model) -> dict:
    """The audited content of a row: every concrete field but bookkeeping the model excludes."""
    exclude = set(getattr(obj, "audit_exclude", ()))
    return {
        f.attname: canonical.plain(getattr(obj, f.attname))
        for f in obj._meta.concrete_fields
        if f.attname not in exclude and f.name not in exclude
    }


def diff(before: dict, after: dict) -> dict:
    return {k: [before.get(k), v] for k, v in after.items() if before.get(k) != v}


def sponsor_of(obj: models.Model) -> int | None:
    """The sponsor a record belongs to, following its model's `sponsor_scope` path."""
    path = getattr(obj, "sponsor_scope", None)
    if path is None:
        return None
    if path == "pk":
        return obj.pk
    *hops, last = path.split("__")
    for hop in hops:
        obj = getattr(obj, hop)
        if obj is None:
            return None
    return getattr(obj, f"{last}_id", None) if not last.endswith("_id") else getattr(obj, last)


def _lane() -> int:
    """A lane per database connection: a transaction never waits on two lanes, so no deadlock."""
    lane = getattr(connection, "_opencdmo_audit_lane", None)
    if lane is None:
        lane = next(_lanes) % settings.AUDIT_CHAIN_LANES
        connection._opencdmo_audit_lane = lane
    return lane


def _table(model) -> str:
    return connection.ops.quote_name(model._meta.db_table)


class _Statements(NamedTuple):
    head: str  # read (on PostgreSQL: lock) a lane's head, with the next event id
    start: str  # create a lane's head at genesis
    append: str  # PostgreSQL: the event and the new head, returning a next id; SQLite: the event
    set_head: str  # SQLite: the new head
    append_if_head: str  # PostgreSQL: `append` if the head is still the one this session wrote


@cache
def _statements(vendor: str) -> _Statements:
    """The writer's SQL for one database vendor.

    PostgreSQL appends in one statement: the event, the new head, and the id for this
    connection's next event (ids come from a sequence; an id taken after event E in a lane is
    larger than E's, so ids still grow along every lane). When the lane's head is still the
    event this connection wrote last, the head is not even read first: `append_if_head` moves
    the head only from exactly that (seq, hash), and inserts the event only if it did.
    SQLite has no data-modifying WITH: there it is the INSERT followed by the UPDATE, inside
    the IMMEDIATE transaction that already holds the only write lock.
    """
    events, chains = _table(AuditEvent), _table(AuditChain)
    names = [*chain.HASHED_COLUMNS, "prev_hash", "hash"]
    columns = ", ".join(names)
    insert = f"INSERT INTO {events} ({columns}) VALUES ({', '.join(['%s'] * len(names))})"
    set_head = f"UPDATE {chains} SET last_seq = %s, last_hash = %s, seal = %s WHERE lane = %s"
    next_id = "nextval('opencdmo_audit_event_id')"
    if vendor == "postgresql":
        head = f"SELECT last_seq, last_hash, {next_id} FROM {chains} WHERE lane = %s FOR UPDATE"
        append = f"WITH event AS ({insert} RETURNING id) {set_head} RETURNING {next_id}"
        typed = ", ".join(f"%s::{_cast_type(name)}" for name in names)
        append_if_head = (
            f"WITH head AS ({set_head} AND last_seq = %s AND last_hash = %s RETURNING lane) "
            f"INSERT INTO {events} ({columns}) SELECT {typed} FROM head RETURNING {next_id}"
        )
    else:
        head = (
            f"SELECT last_seq, last_hash, (SELECT COALESCE(MAX(id), 0) + 1 FROM {events}) "
            f"FROM {chains} WHERE lane = %s"
        )
        append, append_if_head = insert, ""
    start = (
        f"INSERT INTO {chains} (lane, last_seq, last_hash, seal) VALUES (%s, 0, %s, %s) "
        "ON CONFLICT DO NOTHING"
    )
    return _Statements(head, start, append, set_head, append_if_head)


def _cast_type(column: str) -> str:
    """The SQL type a parameter is cast to in INSERT … SELECT: text for strings (a too-long
    value then fails on assignment as in a plain INSERT instead of being cut), else the column's."""
    field = AuditEvent._meta.get_field(column)
    if field.get_internal_type() in ("CharField", "TextField"):
        return "text"
    return field.db_type(connection)


def _lock_head(cursor, sql: _Statements, lane: int):
    cursor.execute(sql.head, [lane])
    row = cursor.fetchone()
    if row is None:
        cursor.execute(sql.start, [lane, chain.GENESIS, chain.head_seal(seal_key(), lane, 0, chain.GENESIS)])
        cursor.execute(sql.head, [lane])
        row = cursor.fetchone()
    return row


def _written_head(lane: int):
    """(seq, hash, next id) of the event this connection appended last to `lane`, if any."""
    mark = getattr(connection, "_opencdmo_audit_head", None)
    if mark is None or mark[0] != os.getpid() or mark[1] is not connection.connection or mark[2] != lane:
        return None
    return mark[3:]


def _remember_head(lane: int, seq: int, digest: str, next_id: int) -> None:
    # Bound to this process and this database session: an id is never handed out twice.
    connection._opencdmo_audit_head = (os.getpid(), connection.connection, lane, seq, digest, next_id)


def _insert_sql() -> str:
    """The plain INSERT of one event row (hashed columns, prev_hash, hash)."""
    columns = ", ".join([*chain.HASHED_COLUMNS, "prev_hash", "hash"])
    marks = ", ".join(["%s"] * (len(chain.HASHED_COLUMNS) + 2))
    return f"INSERT INTO {_table(AuditEvent)} ({columns}) VALUES ({marks})"


def log_event(
    actor,
    action: str,
    *,
    record: models.Model | None = None,
    record_type_name: str = "",
    record_id: str = "",
    record_label: str = "",
    record_version: int | None = None,
    sponsor_id: int | None = None,
    changes: dict | None = None,
    reason: str = "",
    actor_name: str = "",
) -> int:
    """Append one event to the audit trail inside the caller's transaction; returns its id."""
    if not connection.in_atomic_block:
        raise RuntimeError("audit events are written inside the transaction of the change")
    if record is not None:
        record_type_name = record_type(record)
        record_id = str(record.pk)
        record_label = str(getattr(record, "number", "") or record)
        record_version = getattr(record, "version", None)
        sponsor_id = sponsor_of(record)
    ctx = context.current()
    fields = (
        actor.pk if actor is not None else None,
        actor_name or (actor.full_name if actor is not None else "system"),
        action,
        record_type_name,
        record_id,
        record_label[:200],
        record_version,
        sponsor_id,
        canonical.dumps(changes or {}),
        reason,
        ctx.correlation_id,
        ctx.client_address[:64],
    )
    lane = _lane()
    sql = _statements(connection.vendor)
    key = seal_key()
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            written = _written_head(lane)
            if written is not None:
                last_seq, last_hash, event_id = written
                connection._opencdmo_audit_head = None
                seq = last_seq + 1
                values = (event_id, lane, seq, clock.now().astimezone(dt.UTC).strftime(TIMESTAMP_FORMAT), *fields)
                digest = chain.event_hash(values, last_hash)
                head = [seq, digest, chain.head_seal(key, lane, seq, digest), lane]
                cursor.execute(sql.append_if_head, [*head, last_seq, last_hash, *values, last_hash, digest])
                appended = cursor.fetchone()  # (next id,) when the event was written, else None
                if appended is not None:
                    _remember_head(lane, seq, digest, appended[0])
                    return event_id
                # Another session wrote to the lane, or our last event was rolled back: lock it.
        last_seq, last_hash, event_id = _lock_head(cursor, sql, lane)
        seq = last_seq + 1
        values = (event_id, lane, seq, clock.now().astimezone(dt.UTC).strftime(TIMESTAMP_FORMAT), *fields)
        digest = chain.event_hash(values, last_hash)
        head = [seq, digest, chain.head_seal(key, lane, seq, digest), lane]
        if connection.vendor == "postgresql":
            cursor.execute(sql.append, [*values, last_hash, digest, *head])
            _remember_head(lane, seq, digest, cursor.fetchone()[0])
        else:
            cursor.execute(sql.append, [*values, last_hash, digest])
            cursor.execute(sql.set_head, head)
    return event_id


def create_chain_heads() -> None:
    """Seal a genesis head for every lane when the database is created, so that removing a
    whole chain (its events and its head) leaves a gap the verifier sees."""
    sql = _statements(connection.vendor)
    with connection.cursor() as cursor:
        for lane in range(settings.AUDIT_CHAIN_LANES):
            cursor.execute(sql.start, [lane, chain.GENESIS, chain.head_seal(seal_key(), lane, 0, chain.GENESIS)])
