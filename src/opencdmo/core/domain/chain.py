"""The audit trail's hash chains (P11-1a, P11-1e, DI-4).

Events are appended to one of several independent chains ("lanes") so that concurrent
writers do not queue on one lock. Each event's hash covers its own content and the hash of
the event before it in its lane; the newest position of every lane (its head) is sealed with
a keyed MAC, so an event removed or appended at the end is found as surely as one in the
middle, and a chain recomputed by someone without the key does not match its seal.
"""

import hashlib
import hmac
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

GENESIS = "0" * 64

# The order of the columns in the hashed form: changing it breaks every stored chain.
HASHED_COLUMNS = (
    "id",
    "lane",
    "seq",
    "occurred_at",
    "actor_id",
    "actor_name",
    "action",
    "record_type",
    "record_id",
    "record_label",
    "record_version",
    "sponsor_id",
    "changes",
    "reason",
    "correlation_id",
    "client_address",
)

_encoder = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def _array_encoder():
    """The JSON text of a flat array, exactly as `_encoder.encode` writes it, at less cost.

    `JSONEncoder.encode` builds a new C encoder on every call; verification calls it once per
    event, so the same C encoder is built once here (and checked against `encode` on a sample
    of every kind of value; without the C accelerator, `encode` itself is used).
    """
    plain = lambda values: _encoder.encode(list(values))  # noqa: E731
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:
        return plain
    try:
        fast = make(None, _encoder.default, json.encoder.encode_basestring, None, ":", ",",
                    False, False, True)
        probe = (1, -2, 10**20, None, True, "", "é ü 中 \u2028 \x7f", '"\\/\b\f\n\r\t\x00\x1f')
        same = "".join(fast(probe, 0)) == _encoder.encode(list(probe))
    except (TypeError, ValueError):  # another interpreter's accelerator: use the plain path
        return plain
    return (lambda values: "".join(fast(values, 0))) if same else plain


_encode_array = _array_encoder()
_sha256 = hashlib.sha256


def event_hash(values: tuple, prev_hash: str) -> str:
    """SHA-256 over the canonical JSON array of the hashed columns and the previous hash."""
    return _sha256(_encode_array((*values, prev_hash)).encode("utf-8")).hexdigest()


def head_seal(key: bytes, lane: int, seq: int, head_hash: str) -> str:
    return hmac.new(key, f"{lane}|{seq}|{head_hash}".encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Break:
    """The first place where a lane stops being what the application wrote."""

    lane: int
    seq: int
    event_id: int | None
    problem: str

    def __str__(self) -> str:
        where = f"event #{self.event_id}" if self.event_id is not None else "an event"
        return f"{where} (chain {self.lane}, position {self.seq}): {self.problem}"


def verify_lane(
    lane: int,
    rows: Iterable[tuple],
    head: tuple[int, str, str] | None,
    key: bytes | None,
) -> tuple[int, Break | None]:
    """Check one lane. `rows` are (hashed columns..., prev_hash, hash) ordered by seq.

    Returns the number of events read and the first break, if any.
    """
    expected_prev = GENESIS
    expected_seq = 1
    count = 0
    last_id = None
    n = len(HASHED_COLUMNS)
    head_seq = head[0] if head is not None else None
    hashed = _encode_array
    sha256 = _sha256
    for row in rows:
        count += 1
        event_id, row_lane, seq = row[0], row[1], row[2]
        prev_hash, stored = row[n], row[n + 1]
        if row_lane != lane:
            return count, Break(lane, seq, event_id, "event is filed under another chain")
        if seq != expected_seq:
            if seq > expected_seq:
                problem = f"position {expected_seq} is missing (deleted or renumbered)"
                return count, Break(lane, expected_seq, event_id, problem)
            return count, Break(lane, seq, event_id, "position is used twice (inserted event)")
        if head_seq is not None and seq > head_seq:
            return count, Break(lane, seq, event_id, "event was added behind the chain's seal")
        if last_id is not None and event_id <= last_id:
            return count, Break(lane, seq, event_id, "events are out of their written order")
        if prev_hash != expected_prev:
            return count, Break(lane, seq, event_id, "link to the previous event is broken")
        if sha256(hashed(row[: n + 1]).encode("utf-8")).hexdigest() != stored:
            return count, Break(lane, seq, event_id, "content differs from what was written")
        expected_prev = stored
        expected_seq += 1
        last_id = event_id
    return count, end_of_lane(lane, count, expected_seq - 1, last_id, expected_prev, head, key)


def end_of_lane(
    lane: int,
    count: int,
    last_seq: int,
    last_id: int | None,
    last_hash: str,
    head: tuple[int, str, str] | None,
    key: bytes | None,
) -> Break | None:
    """The checks after a lane's last event: its sealed head must name exactly that event.

    `last_seq`, `last_id` and `last_hash` describe the last of `count` events that were all
    found in order (GENESIS and 0 for an empty lane).
    """
    if head is None:
        if count:
            return Break(lane, last_seq, last_id, "chain head record is missing")
        return None
    head_seq, head_hash, seal = head
    if key is not None and not hmac.compare_digest(seal, head_seal(key, lane, head_seq, head_hash)):
        return Break(lane, head_seq, last_id, "chain head seal is not valid")
    if head_seq > last_seq:
        problem = f"positions {last_seq + 1} to {head_seq} are missing (deleted)"
        return Break(lane, last_seq + 1, None, problem)
    if head_hash != last_hash:
        return Break(lane, head_seq, last_id, "last event differs from the chain's seal")
    return None


def first_break(breaks: Iterator[Break]) -> Break | None:
    """The earliest break by event id; breaks without an id sort last."""
    found = [b for b in breaks if b is not None]
    if not found:
        return None
    return min(found, key=lambda b: (b.event_id is None, b.event_id or 0, b.lane))
