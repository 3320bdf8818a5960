"""The one audit-trail writer (P11-1e, A11-8, DI-4). Every service calls it in its transaction.

Events are appended with plain SQL: the writer runs on every write of the platform, and the
ORM's per-row model machinery would cost more than the change it records.
"""

import hashlib
import hmac
import itertools
import os
from functools import cache

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


def _lock_head(cursor, lane: int):
    events, chains = _table(AuditEvent), _table(AuditChain)
    if connection.vendor == "postgresql":
        sql = (
            f"SELECT last_seq, last_hash, nextval('opencdmo_audit_event_id') "
            f"FROM {chains} WHERE lane = %s FOR UPDATE"
        )
    else:  # SQLite: the IMMEDIATE transaction already holds the only write lock
        sql = (
            f"SELECT last_seq, last_hash, (SELECT COALESCE(MAX(id), 0) + 1 FROM {events}) "
            f"FROM {chains} WHERE lane = %s"
        )
    cursor.execute(sql, [lane])
    row = cursor.fetchone()
    if row is None:
        cursor.execute(
            f"INSERT INTO {chains} (lane, last_seq, last_hash, seal) VALUES (%s, 0, %s, %s) "
            "ON CONFLICT DO NOTHING",
            [lane, chain.GENESIS, chain.head_seal(seal_key(), lane, 0, chain.GENESIS)],
        )
        cursor.execute(sql, [lane])
        row = cursor.fetchone()
    return row


_INSERT = None


def _insert_sql() -> str:
    global _INSERT
    if _INSERT is None:
        columns = ", ".join([*chain.HASHED_COLUMNS, "prev_hash", "hash"])
        marks = ", ".join(["%s"] * (len(chain.HASHED_COLUMNS) + 2))
        _INSERT = f"INSERT INTO {_table(AuditEvent)} ({columns}) VALUES ({marks})"
    return _INSERT


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
    lane = _lane()
    with connection.cursor() as cursor:
        last_seq, last_hash, event_id = _lock_head(cursor, lane)
        seq = last_seq + 1
        values = (
            event_id,
            lane,
            seq,
            clock.now().strftime(TIMESTAMP_FORMAT),
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
        digest = chain.event_hash(values, last_hash)
        cursor.execute(_insert_sql(), [*values, last_hash, digest])
        cursor.execute(
            f"UPDATE {_table(AuditChain)} SET last_seq = %s, last_hash = %s, seal = %s WHERE lane = %s",
            [seq, digest, chain.head_seal(seal_key(), lane, seq, digest), lane],
        )
    return event_id
