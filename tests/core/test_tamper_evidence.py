"""`opencdmo audit verify` finds any direct tampering with the audit trail (P11-1a, P11-1e, DI-2).

Someone with database-owner rights can drop the append-only triggers and change the tables.
These tests do exactly that on a realistic trail, one tampering at a time, then run the
command an inspector would run and check that it fails and names the event (or, for a
removed event, the chain and position) that is no longer what the application wrote.
"""

import datetime as dt
import io
from dataclasses import dataclass

import pytest
from django.conf import settings as django_settings
from django.core.management import call_command
from django.db import connection, transaction
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from opencdmo.core import services
from opencdmo.core.audit import TIMESTAMP_FORMAT
from opencdmo.core.domain import chain
from opencdmo.core.models import AuditEvent
from tests.conftest import append_only_triggers_dropped
from tests.factories import build_realistic_trail

COLUMNS = (*chain.HASHED_COLUMNS, "prev_hash", "hash")
CONTENT = tuple(c for c in COLUMNS if c not in ("id", "lane", "seq"))
TEXT_LIMITS = {"occurred_at": 32, "actor_name": 200, "action": 32, "record_type": 64, "record_id": 64,
               "record_label": 200, "changes": None, "reason": None, "correlation_id": 32,
               "client_address": 64}
NULLABLE_INTS = ("actor_id", "record_version", "sponsor_id")
WRONG_KEY = b"a key guessed by someone who does not hold the installation's secret"

pytestmark = pytest.mark.django_db(transaction=True)


@dataclass(frozen=True)
class Tampering:
    """One direct change to the database, and what `audit verify` must name in its report."""

    description: str
    statements: tuple[tuple[str, tuple], ...]
    names_any_of: tuple[str, ...]


def _events() -> list[dict]:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {', '.join(COLUMNS)} FROM core_auditevent ORDER BY lane, seq")
        return [dict(zip(COLUMNS, row, strict=True)) for row in cursor.fetchall()]


def _heads() -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT lane, last_seq, last_hash, seal FROM core_auditchain ORDER BY lane")
        return [tuple(row) for row in cursor.fetchall()]


def _restore(events: list[dict], heads: list[tuple]) -> None:
    """Put the trail back exactly as the application wrote it (triggers must be dropped)."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM core_auditevent")
        cursor.execute("DELETE FROM core_auditchain")
        cursor.executemany(
            f"INSERT INTO core_auditevent ({', '.join(COLUMNS)}) VALUES ({', '.join(['%s'] * len(COLUMNS))})",
            [tuple(e[c] for c in COLUMNS) for e in events],
        )
        cursor.executemany(
            "INSERT INTO core_auditchain (lane, last_seq, last_hash, seal) VALUES (%s, %s, %s, %s)", heads
        )


def audit_verify() -> tuple[int, str, str]:
    """`opencdmo audit verify`: (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("audit", "verify", stdout=out, stderr=err)
    except SystemExit as exc:
        return exc.code, out.getvalue(), err.getvalue()
    return 0, out.getvalue(), err.getvalue()


def tamper_and_verify(tampering: Tampering, events: list[dict], heads: list[tuple]) -> tuple[int, str]:
    """Drop the triggers, commit the tampering, run the verifier, then restore the trail."""
    with append_only_triggers_dropped():
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                for sql, params in tampering.statements:
                    cursor.execute(sql, params)
            code, _, err = audit_verify()
        finally:
            _restore(events, heads)
    return code, err


def assert_found(tampering: Tampering, code: int, err: str) -> None:
    assert code == 1, f"{tampering.description}: verify exited {code}"
    assert "AUDIT TRAIL NOT INTACT" in err
    assert any(name in err for name in tampering.names_any_of), (
        f"{tampering.description}: expected one of {tampering.names_any_of} in {err!r}"
    )


def _named(event: dict) -> str:
    return f"event #{event['id']} (chain {event['lane']}, position {event['seq']})"


def _position(lane: int, seq: int) -> str:
    return f"(chain {lane}, position {seq})"


def _update(event_id: int, **values) -> tuple[str, tuple]:
    assignments = ", ".join(f"{column} = %s" for column in values)
    return f"UPDATE core_auditevent SET {assignments} WHERE id = %s", (*values.values(), event_id)


def _insert(row: dict) -> tuple[str, tuple]:
    marks = ", ".join(["%s"] * len(COLUMNS))
    return f"INSERT INTO core_auditevent ({', '.join(COLUMNS)}) VALUES ({marks})", tuple(row[c] for c in COLUMNS)


# ---------------------------------------------------------------------------------------------
# Strategies: every kind of tampering, drawn against the trail that is actually in the database.

SAFE_CHARS = st.characters(codec="utf-8", exclude_categories=("Cs",), exclude_characters="\x00")


def _edited_text(original: str, limit: int | None):
    any_text = st.text(SAFE_CHARS, min_size=1, max_size=limit or 300)
    if not original:
        return any_text
    one_char = st.tuples(st.integers(0, len(original) - 1), SAFE_CHARS).map(
        lambda edit: original[: edit[0]] + edit[1] + original[edit[0] + 1 :]
    )
    return st.one_of(one_char, any_text).filter(lambda v: v != original)


def _new_value(column: str, event: dict, events: list[dict], heads: list[tuple]):
    max_id = max(e["id"] for e in events)
    if column == "id":
        return st.integers(max_id + 1, max_id + 1000)
    if column == "lane":
        used = {(e["lane"], e["seq"]) for e in events}
        lanes = sorted({e["lane"] for e in events} | {h[0] for h in heads})
        free = [lane for lane in lanes if lane != event["lane"] and (lane, event["seq"]) not in used]
        return st.sampled_from([*free, lanes[-1] + 1, lanes[-1] + 7])
    if column == "seq":
        last = max(e["seq"] for e in events if e["lane"] == event["lane"])
        return st.sampled_from([0, -1, last + 1, last + 2, last + 50])
    if column == "occurred_at":
        written = dt.datetime.strptime(event["occurred_at"], TIMESTAMP_FORMAT)
        return st.integers(-86_400, 86_400).filter(bool).map(
            lambda s: (written + dt.timedelta(seconds=s)).strftime(TIMESTAMP_FORMAT))
    if column in NULLABLE_INTS:
        return st.one_of(st.none(), st.integers(1, 10**6)).filter(lambda v: v != event[column])
    if column in ("prev_hash", "hash"):
        hex_digit = st.sampled_from("0123456789abcdef")
        return st.one_of(
            st.tuples(st.integers(0, 63), hex_digit).map(
                lambda edit: event[column][: edit[0]] + edit[1] + event[column][edit[0] + 1 :]),
            st.text(hex_digit, min_size=64, max_size=64),
        ).filter(lambda v: v != event[column])
    return _edited_text(event[column], TEXT_LIMITS[column])


def change(event: dict, column: str, value) -> Tampering:
    if column == "id":
        names = (f"event #{value} (chain {event['lane']}, position {event['seq']})",)
    elif column in ("lane", "seq"):
        names = (f"event #{event['id']} (", _position(event["lane"], event["seq"]))
    else:
        names = (_named(event),)
    return Tampering(f"set {column} of {_named(event)} to {value!r}", (_update(event["id"], **{column: value}),), names)


def delete(event: dict) -> Tampering:
    return Tampering(f"delete {_named(event)}", (("DELETE FROM core_auditevent WHERE id = %s", (event["id"],)),),
                     (_position(event["lane"], event["seq"]),))


def forge(template: dict, lane: int, *, move_head: bool, events: list[dict], heads: list[tuple]) -> Tampering:
    """A new event with the next id and position and a correctly computed SHA-256 — made by
    someone who can read the code but does not hold the installation's seal key."""
    head = next((h for h in heads if h[0] == lane), None)
    seq, prev = (head[1] + 1, head[2]) if head else (1, chain.GENESIS)
    forged = {**template, "id": max(e["id"] for e in events) + 1, "lane": lane, "seq": seq,
              "reason": "approved after phone call with sponsor", "prev_hash": prev}
    forged["hash"] = chain.event_hash(tuple(forged[c] for c in chain.HASHED_COLUMNS), prev)
    statements = [_insert(forged)]
    if move_head:
        seal = chain.head_seal(WRONG_KEY, lane, seq, forged["hash"])
        if head:
            statements.append(("UPDATE core_auditchain SET last_seq = %s, last_hash = %s, seal = %s WHERE lane = %s",
                               (seq, forged["hash"], seal, lane)))
        else:
            statements.append(("INSERT INTO core_auditchain (lane, last_seq, last_hash, seal) VALUES (%s, %s, %s, %s)",
                               (lane, seq, forged["hash"], seal)))
    return Tampering(f"forge event #{forged['id']} at chain {lane} position {seq}"
                     f"{' and move the head' if move_head else ''}", tuple(statements), (_named(forged),))


def swap(a: dict, b: dict, how: str, events: list[dict]) -> Tampering:
    """Swap two events' positions (seq, same chain), their contents, or their ids."""
    if how == "positions":
        a, b = sorted([a, b], key=lambda e: e["seq"])
        statements = (_update(a["id"], seq=-1000), _update(b["id"], seq=a["seq"]), _update(a["id"], seq=b["seq"]))
    elif how == "contents":
        statements = (_update(a["id"], **{c: b[c] for c in CONTENT}), _update(b["id"], **{c: a[c] for c in CONTENT}))
    else:
        spare = max(e["id"] for e in events) + 5000
        statements = (_update(a["id"], id=spare), _update(b["id"], id=a["id"]), _update(spare, id=b["id"]))
    return Tampering(f"swap the {how} of {_named(a)} and {_named(b)}", statements,
                     (f"event #{a['id']} (", f"event #{b['id']} ("))


def _draw_update(data, events, heads) -> Tampering:
    event = data.draw(st.sampled_from(events), label="event")
    column = data.draw(st.sampled_from(COLUMNS), label="column")
    return change(event, column, data.draw(_new_value(column, event, events, heads), label="new value"))


def _draw_delete(data, events, heads) -> Tampering:
    lane_tails = list({e["lane"]: e for e in events}.values())  # events are ordered by lane, seq
    return delete(data.draw(st.one_of(st.sampled_from(events), st.sampled_from(lane_tails)), label="event"))


def _draw_forgery(data, events, heads) -> Tampering:
    lanes = sorted(h[0] for h in heads)
    return forge(data.draw(st.sampled_from(events), label="copied from"),
                 data.draw(st.sampled_from([*lanes, lanes[-1] + 1]), label="lane"),
                 move_head=data.draw(st.booleans(), label="also move the chain head"), events=events, heads=heads)


def _draw_swap(data, events, heads) -> Tampering:
    how = data.draw(st.sampled_from(["positions", "contents", "ids"]), label="swap")
    pool = events
    if how == "positions":
        lane = data.draw(st.sampled_from(sorted({e["lane"] for e in events if e["seq"] == 2})), label="lane")
        pool = [e for e in events if e["lane"] == lane]
    a, b = data.draw(st.lists(st.sampled_from(pool), min_size=2, max_size=2, unique_by=lambda e: e["id"]),
                     label="events")
    return swap(a, b, how, events)


TAMPERINGS = {"update": _draw_update, "delete": _draw_delete, "forge": _draw_forgery, "swap": _draw_swap}


# ---------------------------------------------------------------------------------------------


@pytest.fixture
def trail():
    build_realistic_trail()
    return _events(), _heads()


@pytest.mark.req("P11-1a")
@pytest.mark.req("P11-1e")
def test_untouched_trail_verifies_with_exit_0_and_counts_every_event(trail):
    events, heads = trail
    code, out, err = audit_verify()
    lanes = {e["lane"] for e in events}
    assert (code, err) == (0, "")
    # Every lane is sealed at genesis, written to or not.
    assert f"Audit trail intact: {len(events)} events in {django_settings.AUDIT_CHAIN_LANES} chains verified" in out
    assert len(events) == AuditEvent.objects.count() >= 20
    assert len(lanes) == 4, "the trail is written by four workers"


@pytest.mark.req("P11-1a")
@pytest.mark.req("P11-1e")
@pytest.mark.req("DI-2")
def test_audit_verify_fails_and_names_the_event_after_any_direct_tampering(trail):
    events, heads = trail

    @settings(max_examples=30, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
    @given(data=st.data())
    def one_tampering(data):
        kind = data.draw(st.sampled_from(sorted(TAMPERINGS)), label="kind")
        tampering = TAMPERINGS[kind](data, events, heads)
        note(tampering.description)
        code, err = tamper_and_verify(tampering, events, heads)
        assert_found(tampering, code, err)

    one_tampering()
    # Every example was rolled back to the trail as written: it verifies again, whole.
    assert _events() == events
    assert audit_verify()[0] == 0


@pytest.mark.req("P11-1a")
def test_deleting_the_last_event_of_any_chain_is_found_by_its_position(trail):
    events, heads = trail
    for lane, last_seq, _, _ in heads:
        if last_seq == 0:  # a lane sealed at genesis that nobody wrote to
            continue
        tail = next(e for e in events if (e["lane"], e["seq"]) == (lane, last_seq))
        tampering = Tampering(f"delete the last event of chain {lane}",
                              (("DELETE FROM core_auditevent WHERE id = %s", (tail["id"],)),),
                              (f"an event {_position(lane, last_seq)}: positions {last_seq} to {last_seq} are missing",))
        assert_found(tampering, *tamper_and_verify(tampering, events, heads))


@pytest.mark.req("P11-1a")
def test_an_edit_rehashed_to_the_end_of_its_chain_is_found_without_the_seal_key(trail):
    """The strongest tampering short of stealing the key: change an approval's reason, recompute
    every later hash in the chain and move the head to the new last hash."""
    events, heads = trail
    signing = next(e for e in events if e["action"] == "sign" and "Approved" in e["changes"])
    lane_events = [e for e in events if e["lane"] == signing["lane"] and e["seq"] >= signing["seq"]]
    statements, prev = [], signing["prev_hash"]
    for event in lane_events:
        values = {**event, "reason": "approved without review" if event is signing else event["reason"]}
        digest = chain.event_hash(tuple(values[c] for c in chain.HASHED_COLUMNS), prev)
        statements.append(_update(event["id"], reason=values["reason"], prev_hash=prev, hash=digest))
        prev = digest
    head = next(h for h in heads if h[0] == signing["lane"])
    statements.append(("UPDATE core_auditchain SET last_hash = %s, seal = %s WHERE lane = %s",
                       (prev, chain.head_seal(WRONG_KEY, head[0], head[1], prev), head[0])))
    tampering = Tampering("rehash a chain after editing an approval", tuple(statements),
                          (f"chain {head[0]}, position {head[1]}): chain head seal is not valid",))
    assert_found(tampering, *tamper_and_verify(tampering, events, heads))


def _plausible_change(column: str, event: dict, events: list[dict]):
    """One realistic edit per column, for the column-by-column test."""
    if column == "id":
        return max(e["id"] for e in events) + 1
    if column == "lane":
        return max(e["lane"] for e in events) + 1
    if column == "seq":
        return max(e["seq"] for e in events if e["lane"] == event["lane"]) + 1
    if column == "occurred_at":
        written = dt.datetime.strptime(event["occurred_at"], TIMESTAMP_FORMAT)
        return (written - dt.timedelta(minutes=10)).strftime(TIMESTAMP_FORMAT)
    if column in NULLABLE_INTS:
        return None if event[column] is not None else 1
    if column in ("prev_hash", "hash"):
        return ("1" if event[column][0] != "1" else "2") + event[column][1:]
    return event[column][:-1] + ("_" if event[column][-1:] != "_" else "-")


@pytest.mark.req("P11-1a")
@pytest.mark.req("DI-4")
def test_changing_any_column_of_an_event_is_found(trail):
    events, heads = trail
    middle = next(e for e in events if e["seq"] == 2 and any(o["lane"] == e["lane"] and o["seq"] == 3 for o in events))
    for column in COLUMNS:
        tampering = change(middle, column, _plausible_change(column, middle, events))
        assert_found(tampering, *tamper_and_verify(tampering, events, heads))


@pytest.mark.req("P11-1a")
@pytest.mark.parametrize("move_head", [False, True], ids=["head untouched", "head moved, seal forged"])
def test_a_forged_event_with_a_correct_sha256_is_found_without_the_seal_key(trail, move_head):
    events, heads = trail
    approval = next(e for e in events if e["action"] == "sign" and "Approved" in e["changes"])
    for lane in (approval["lane"], max(h[0] for h in heads) + 1):  # an existing chain, and a new one
        tampering = forge(approval, lane, move_head=move_head, events=events, heads=heads)
        assert_found(tampering, *tamper_and_verify(tampering, events, heads))


@pytest.mark.req("P11-1a")
@pytest.mark.req("DI-2")
@pytest.mark.parametrize("how", ["positions", "contents", "ids"])
def test_swapping_two_events_is_found(trail, how):
    events, heads = trail
    a, b = [e for e in events if e["lane"] == events[-1]["lane"]][1:3]
    tampering = swap(a, b, how, events)
    assert_found(tampering, *tamper_and_verify(tampering, events, heads))


@pytest.mark.req("P11-1a")
@pytest.mark.django_db(transaction=True)
def test_removing_a_whole_chain_with_its_head_is_found(admin_user, sponsor_a):
    from django.db import connection  # noqa: PLC0415

    from opencdmo.core import triggers  # noqa: PLC0415
    from opencdmo.core.models import AuditEvent  # noqa: PLC0415
    from opencdmo.core.verification import verify_audit_trail  # noqa: PLC0415

    assert verify_audit_trail().intact
    lane = AuditEvent.objects.values_list("lane", flat=True).first()
    with connection.schema_editor() as editor:
        triggers.drop(editor)
    try:
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM core_auditevent WHERE lane = %s", [lane])
            cursor.execute("DELETE FROM core_auditchain WHERE lane = %s", [lane])
        result = verify_audit_trail()
    finally:
        with connection.schema_editor() as editor:
            triggers.install(editor)
    assert not result.intact
    assert result.first_break.lane == lane and "missing" in str(result.first_break)


@pytest.mark.req("P11-1a")
@pytest.mark.django_db(transaction=True)
def test_a_chain_rolled_back_to_an_older_sealed_head_is_found_against_a_checkpoint(admin_user, sponsor_a, tmp_path):
    import io  # noqa: PLC0415

    from opencdmo.core import triggers  # noqa: PLC0415
    from opencdmo.core.models import AuditChain  # noqa: PLC0415

    lane = AuditEvent.objects.order_by("-id").values_list("lane", flat=True).first()
    old_head = AuditChain.objects.filter(lane=lane).values_list("last_seq", "last_hash", "seal").get()
    services.create_user(admin_user, username="late.user", full_name="Late User", password="a long enough passphrase")
    assert AuditChain.objects.get(lane=lane).last_seq > old_head[0], "the new events went to the same chain"
    checkpoint = tmp_path / "heads.json"
    call_command("audit", "checkpoint", out=checkpoint, stderr=io.StringIO())

    # Someone who can drop the triggers cuts the chain back and puts the old, validly sealed head back.
    with connection.schema_editor() as editor:
        triggers.drop(editor)
    try:
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM core_auditevent WHERE lane = %s AND seq > %s", [lane, old_head[0]])
            cursor.execute("UPDATE core_auditchain SET last_seq = %s, last_hash = %s, seal = %s WHERE lane = %s",
                           [*old_head, lane])
        assert audit_verify()[0] == 0, "without a checkpoint the rollback looks like an intact trail"
        out, err = io.StringIO(), io.StringIO()
        with pytest.raises(SystemExit) as exited:
            call_command("audit", "verify", checkpoint=checkpoint, stdout=out, stderr=err)
    finally:
        with connection.schema_editor() as editor:
            triggers.install(editor)
    assert exited.value.code == 1
    assert f"chain {lane}" in err.getvalue() and "shorter than at the checkpoint" in err.getvalue()
