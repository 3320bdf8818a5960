"""`opencdmo audit verify`: recompute every chain and name the first event that is not as written.

`chain.verify_lane` is the reference check: it reads one lane in order of position and names the
first break. On SQLite a faster pass comes first. It reads the whole table once in storage
order, has SQLite write each event's hashed JSON array, and certifies only the lanes it finds
entirely in order with every hash matching; every other lane is handed to `verify_lane`, so
what is reported is exactly what `verify_lane` reports. A large trail is read by several
processes, each taking one stretch of the table; their findings are joined stretch by stretch.
"""

import contextlib
import datetime as dt
import hashlib
import os
import sqlite3
import sys
import threading
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context

from django.conf import settings
from django.db import DatabaseError, connection, transaction

from . import audit
from .domain import chain
from .models import AuditChain, AuditEvent

BATCH = 20000
PARALLEL_FROM_EVENTS = 100_000  # below this, starting processes costs more than it saves
MAX_WORKERS = 4


@dataclass(frozen=True)
class VerificationResult:
    events: int
    lanes: int
    first_break: chain.Break | None

    @property
    def intact(self) -> bool:
        return self.first_break is None


def _rows(cursor, lane: int, batch: int = BATCH):
    columns = ", ".join([*chain.HASHED_COLUMNS, "prev_hash", "hash"])
    cursor.execute(
        f"SELECT {columns} FROM {audit._table(AuditEvent)} WHERE lane = %s ORDER BY seq, id", [lane]
    )
    while rows := cursor.fetchmany(batch):
        yield from rows


@contextlib.contextmanager
def _snapshot():
    """A cursor that reads one consistent state of the trail.

    Heads and events are read by several statements; without one snapshot, an event appended
    by a user in between would look like an event added behind its chain's seal. Inside the
    caller's transaction, that transaction's view is used as it is.
    """
    with connection.cursor() as cursor:
        if not _own_transaction():
            yield cursor
        elif connection.vendor == "postgresql":
            with transaction.atomic():
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                yield cursor
        elif connection.vendor == "sqlite":
            # A deferred read transaction: a WAL snapshot that takes no lock from the writers
            # (Django's atomic() would BEGIN IMMEDIATE and hold the write lock meanwhile).
            cursor.execute("BEGIN DEFERRED")
            try:
                yield cursor
            finally:
                cursor.execute("ROLLBACK")
        else:
            yield cursor


def _own_transaction() -> bool:
    return connection.get_autocommit() and not connection.in_atomic_block


def _heads(cursor) -> dict:
    cursor.execute(f"SELECT lane, last_seq, last_hash, seal FROM {audit._table(AuditChain)}")
    return {lane: (seq, h, seal) for lane, seq, h, seal in cursor.fetchall()}


# --- SQLite: one pass over the table --------------------------------------------------------


def _stretch_sql(bounded: bool) -> str:
    # SQLite writes the hashed array (as a BLOB: the UTF-8 bytes that are hashed, not decoded
    # and encoded again). Its text may be trusted for a match: when its SHA-256 equals the
    # stored hash, it *is* the JSON the writer hashed, so the stored values are those written.
    array = f"CAST(json_array({', '.join([*chain.HASHED_COLUMNS, 'prev_hash'])}) AS BLOB)"
    where = "WHERE rowid BETWEEN ? AND ? " if bounded else ""
    return (f"SELECT lane, seq, id, prev_hash, hash, {array} "
            f"FROM {audit._table(AuditEvent)} {where}ORDER BY rowid")


def _stretch(rows) -> tuple[dict, set]:
    """Check one stretch of the table (rows in storage order), lane by lane, on its own.

    Returns, per lane found in order, [first seq, first prev_hash, first id, last seq,
    last hash, last id, events], and apart the lanes where the stretch is not in order.
    """
    found: dict = {}
    broken: set = set()
    sha256 = hashlib.sha256
    for lane, seq, event_id, prev_hash, stored, text in rows:
        s = found.get(lane)
        if s is None:
            if lane in broken:
                continue
            if (type(seq) is not int or type(event_id) is not int or text is None
                    or sha256(text).hexdigest() != stored):
                broken.add(lane)
                continue
            found[lane] = [seq, prev_hash, event_id, seq, stored, event_id, 1]
            continue
        if (
            seq != s[3] + 1
            or prev_hash != s[4]
            or type(event_id) is not int
            or event_id <= s[5]
            or text is None
            or sha256(text).hexdigest() != stored
        ):
            broken.add(lane)
            del found[lane]
            continue
        s[3] = seq
        s[4] = stored
        s[5] = event_id
        s[6] += 1
    return found, broken


def _join(stretches) -> tuple[dict, set]:
    """Join the stretches, in storage order, into lanes: lane -> [next seq, last hash, last id,
    events] for lanes still in order, and the set of lanes that are not."""
    lanes: dict = {}
    broken: set = set()
    for found, stretch_broken in stretches:
        for lane in stretch_broken:
            broken.add(lane)
            lanes.pop(lane, None)
        for lane, (seq, prev_hash, event_id, last_seq, last_hash, last_id, n) in found.items():
            if lane in broken:
                continue
            st = lanes.get(lane, (1, chain.GENESIS, None, 0))
            if seq != st[0] or prev_hash != st[1] or (st[2] is not None and event_id <= st[2]):
                broken.add(lane)
                lanes.pop(lane, None)
                continue
            lanes[lane] = (last_seq + 1, last_hash, last_id, st[3] + n)
    return lanes, broken


def _fetched(cursor):
    while rows := cursor.fetchmany(BATCH):
        yield from rows


def _stretch_in_worker(path: str, first: int, last: int) -> tuple[dict, set]:
    """Run in a worker process: its own connection, no Django."""
    db = sqlite3.connect(path, timeout=30, uri=True)  # as Django opens it
    try:
        return _stretch(_fetched(db.execute(_STRETCH_SQL, (first, last))))
    finally:
        db.close()


_STRETCH_SQL = ""  # set before the workers are forked


def _workers(expected_events: int) -> int:
    """How many processes read the table: several only for a large trail, in a process that
    can fork safely (Linux, no other thread) and reads a database file outside a transaction."""
    if (
        expected_events < PARALLEL_FROM_EVENTS
        or sys.platform != "linux"
        or threading.active_count() > 1
        or connection.is_in_memory_db()
        or not _own_transaction()
    ):
        return 1
    return max(1, min(MAX_WORKERS, len(os.sched_getaffinity(0))))


def _read_stretches(workers: int, first: int, last: int) -> list[tuple[dict, set]] | None:
    global _STRETCH_SQL
    _STRETCH_SQL = _stretch_sql(bounded=True)
    step = (last - first) // workers + 1
    bounds = [(first + i * step, min(last, first + (i + 1) * step - 1)) for i in range(workers)]
    path = str(connection.settings_dict["NAME"])
    try:
        with ProcessPoolExecutor(workers, mp_context=get_context("fork")) as pool:
            return list(pool.map(_stretch_in_worker, [path] * workers, *zip(*bounds, strict=True)))
    except Exception:  # any trouble in the workers: the table is read in this process instead
        return None


def _certify(heads: dict, key: bytes | None, stretches) -> tuple:
    """Certify the lanes found in order; hand every other lane to `chain.verify_lane`."""
    lanes_found, broken = _join(stretches)
    lanes = sorted(heads.keys() | lanes_found.keys() | broken)
    total, results, exact = 0, {}, []
    for lane in lanes:
        head = heads.get(lane)
        if lane not in broken:
            next_seq, last_hash, last_id, count = lanes_found.get(lane, (1, chain.GENESIS, None, 0))
            # Events behind the seal, or a head that does not match: verify_lane names them.
            if head is None or next_seq - 1 <= head[0]:
                found = chain.end_of_lane(lane, count, next_seq - 1, last_id, last_hash, head, key)
                if found is None:
                    total += count
                    results[lane] = None
                    continue
        exact.append(lane)
    return total, lanes, results, exact


def _verify_sqlite(key: bytes | None, parallel: bool = True) -> VerificationResult | None:
    with _snapshot() as cursor:
        heads = _heads(cursor)
        workers = _workers(sum(h[0] for h in heads.values())) if parallel else 1
        if workers == 1:
            try:
                cursor.execute(_stretch_sql(bounded=False))
                stretches = [_stretch(_fetched(cursor))]
            except DatabaseError:  # e.g. no JSON functions, or a BLOB put in by hand
                return None
            return _finish(cursor, heads, key, stretches)
        cursor.execute(f"SELECT min(rowid), max(rowid) FROM {audit._table(AuditEvent)}")
        first, last = cursor.fetchone()
    # Appends made from now on get rowids above `last`: the workers read this snapshot's events.
    stretches = _read_stretches(workers, first, last) if first is not None else [({}, set())]
    if stretches is None:
        return _verify_sqlite(key, parallel=False)
    with _snapshot() as cursor:
        return _finish(cursor, heads, key, stretches, fresh_heads=True)


def _finish(cursor, heads, key, stretches, fresh_heads: bool = False) -> VerificationResult:
    total, lanes, results, exact = _certify(heads, key, stretches)
    if exact:
        heads = _heads(cursor) if fresh_heads else heads  # one snapshot for rows and head
        for lane in exact:
            count, results[lane] = chain.verify_lane(lane, _rows(cursor, lane), heads.get(lane), key)
            total += count
    breaks = iter(results[lane] for lane in lanes)
    return VerificationResult(events=total, lanes=len(lanes), first_break=chain.first_break(breaks))


def verify_audit_trail(*, check_seal: bool = True) -> VerificationResult:
    """Check every lane end to end. Works with the triggers dropped: it trusts nothing stored.

    Every lane up to AUDIT_CHAIN_LANES was sealed at genesis when the database was made, so a
    chain removed whole (events and head) is missing, not merely absent.
    """
    result = _verify_lanes(check_seal=check_seal)
    with connection.cursor() as cursor:
        present = set(_heads(cursor))
    removed = [chain.Break(lane, 1, None, "the whole chain and its head are missing (removed)")
               for lane in range(settings.AUDIT_CHAIN_LANES) if lane not in present]
    if not removed:
        return result
    first = chain.first_break(iter([result.first_break, *removed]))
    return VerificationResult(events=result.events, lanes=result.lanes + len(removed), first_break=first)


def _verify_lanes(*, check_seal: bool) -> VerificationResult:
    key = audit.seal_key() if check_seal else None
    if connection.vendor == "sqlite":
        try:
            result = _verify_sqlite(key)
        except (DatabaseError, UnicodeError):  # e.g. bad UTF-8 put in by hand
            result = None
        if result is not None:
            return result
    with _snapshot() as cursor:
        heads = _heads(cursor)
        cursor.execute(f"SELECT DISTINCT lane FROM {audit._table(AuditEvent)}")
        lanes = sorted(heads.keys() | {row[0] for row in cursor.fetchall()})
        total, breaks = 0, []
        for lane in lanes:
            count, found = chain.verify_lane(lane, _rows(cursor, lane), heads.get(lane), key)
            total += count
            breaks.append(found)
    return VerificationResult(events=total, lanes=len(lanes), first_break=chain.first_break(iter(breaks)))


# --- Checkpoints: chain heads kept outside the database -------------------------------------

def make_checkpoint() -> dict:
    """Every lane's current head, to archive outside the database (with the backups, or with
    a third party). A later `verify --checkpoint` proves no chain was cut back behind it."""
    with connection.cursor() as cursor:
        heads = _heads(cursor)
    from . import clock  # noqa: PLC0415

    return {
        "format": "opencdmo-audit-checkpoint/1",
        "created_at": clock.now().astimezone(dt.UTC).strftime(audit.TIMESTAMP_FORMAT),
        "chains": {str(lane): {"position": seq, "hash": h} for lane, (seq, h, _) in sorted(heads.items())},
    }


def check_checkpoint(checkpoint: dict) -> chain.Break | None:
    """The first chain that is shorter than the checkpoint, or whose event at the checkpoint's
    position is not the one recorded then (a chain rolled back to an older sealed head)."""
    try:
        chains = {int(lane): (int(head["position"]), str(head["hash"])) for lane, head in checkpoint["chains"].items()}
    except (KeyError, TypeError, ValueError, AttributeError):
        raise ValueError("This is not an OpenCDMO audit checkpoint.") from None
    when = checkpoint.get("created_at", "?")
    with connection.cursor() as cursor:
        heads = _heads(cursor)
        for lane, (position, expected) in sorted(chains.items()):
            if position == 0:
                continue
            head = heads.get(lane)
            if head is None or head[0] < position:
                return chain.Break(lane, position, None, f"the chain is shorter than at the checkpoint of {when}")
            cursor.execute(f"SELECT id, hash FROM {audit._table(AuditEvent)} WHERE lane = %s AND seq = %s",
                           [lane, position])
            row = cursor.fetchone()
            if row is None or row[1] != expected:
                return chain.Break(lane, position, row[0] if row else None,
                                   f"the event differs from the one recorded at the checkpoint of {when}")
    return None
