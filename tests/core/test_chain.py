"""The audit trail's hash chains, on hand-built rows (pure domain: no database)."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from opencdmo.core.domain import chain
from opencdmo.core.domain.chain import GENESIS, HASHED_COLUMNS, Break, event_hash, head_seal, verify_lane

KEY = b"installation seal key"
N = len(HASHED_COLUMNS)
COL = {name: i for i, name in enumerate([*HASHED_COLUMNS, "prev_hash", "hash"])}


def build_lane(lane: int = 3, length: int = 5, first_id: int = 101, id_step: int = 2):
    """Rows as the audit writer stores them, and the sealed head of the lane."""
    rows, prev = [], GENESIS
    for seq in range(1, length + 1):
        values = (
            first_id + (seq - 1) * id_step, lane, seq, f"2026-03-02T08:{30 + seq:02d}:00.000000Z",
            7, "Quinn Approver", "update", "sponsors.qualityagreement", "12", "QAG-2026-0001", seq, 4,
            f'{{"terms":["rev {seq - 1}","rev {seq}"]}}', "sponsor asked for 3-day notification",
            "5f0c2a9d", "10.0.0.17",
        )
        digest = event_hash(values, prev)
        rows.append((*values, prev, digest))
        prev = digest
    head = (length, prev, head_seal(KEY, lane, length, prev))
    return rows, head


def with_cell(row: tuple, column: str, value) -> tuple:
    cells = list(row)
    cells[COL[column]] = value
    return tuple(cells)


def rehash_from(rows: list[tuple], start: int) -> list[tuple]:
    """What someone without the seal key can do: recompute the hashes after a change."""
    rows = list(rows)
    prev = rows[start - 1][COL["hash"]] if start else GENESIS
    for i in range(start, len(rows)):
        values = rows[i][:N]
        digest = event_hash(values, prev)
        rows[i] = (*values, prev, digest)
        prev = digest
    return rows


@pytest.mark.req("P11-1a")
def test_an_untouched_lane_verifies_and_counts_its_events():
    rows, head = build_lane()
    assert verify_lane(3, rows, head, KEY) == (5, None)


@pytest.mark.req("P11-1a")
def test_an_empty_lane_without_head_is_intact():
    assert verify_lane(9, [], None, KEY) == (0, None)


@pytest.mark.req("P11-1a")
def test_event_hash_covers_every_hashed_column_and_the_previous_hash():
    rows, _ = build_lane(length=1)
    values = rows[0][:N]
    base = event_hash(values, GENESIS)
    for i in range(N):
        changed = list(values)
        changed[i] = "x" if changed[i] != "x" else "y"
        assert event_hash(tuple(changed), GENESIS) != base, HASHED_COLUMNS[i]
    assert event_hash(values, "f" * 64) != base


@pytest.mark.req("P11-1a")
def test_changed_content_is_found_at_the_changed_event():
    rows, head = build_lane()
    rows[2] = with_cell(rows[2], "reason", "typo")
    _, found = verify_lane(3, rows, head, KEY)
    assert found == Break(3, 3, 105, "content differs from what was written")


@pytest.mark.req("P11-1a")
def test_a_recomputed_hash_breaks_the_link_to_the_next_event():
    rows, head = build_lane()
    forged = with_cell(rows[1], "changes", '{"terms":["rev 1","rev 9"]}')
    rows[1] = (*forged[:N], forged[COL["prev_hash"]], event_hash(forged[:N], forged[COL["prev_hash"]]))
    _, found = verify_lane(3, rows, head, KEY)
    assert found == Break(3, 3, 105, "link to the previous event is broken")


@pytest.mark.req("P11-1a")
def test_a_changed_previous_hash_is_a_broken_link():
    rows, head = build_lane()
    rows[0] = with_cell(rows[0], "prev_hash", "1" * 64)
    _, found = verify_lane(3, rows, head, KEY)
    assert found == Break(3, 1, 101, "link to the previous event is broken")


@pytest.mark.req("P11-1a")
def test_a_deleted_event_in_the_middle_is_named_by_its_position():
    rows, head = build_lane()
    del rows[1]
    _, found = verify_lane(3, rows, head, KEY)
    assert found == Break(3, 2, 105, "position 2 is missing (deleted or renumbered)")
    assert "chain 3, position 2" in str(found)


@pytest.mark.req("P11-1a")
def test_deleted_last_events_are_found_by_the_sealed_head():
    rows, head = build_lane()
    _, found = verify_lane(3, rows[:3], head, KEY)
    assert found == Break(3, 4, None, "positions 4 to 5 are missing (deleted)")
    assert str(found).startswith("an event (chain 3, position 4)")


@pytest.mark.req("P11-1a")
def test_an_event_filed_under_another_chain_is_found():
    rows, head = build_lane()
    rows[3] = with_cell(rows[3], "lane", 4)
    _, found = verify_lane(3, rows, head, KEY)
    assert found == Break(3, 4, 107, "event is filed under another chain")


@pytest.mark.req("P11-1a")
def test_a_position_used_twice_is_an_inserted_event():
    rows, head = build_lane()
    rows.insert(2, rows[1])
    _, found = verify_lane(3, rows, head, KEY)
    assert found == Break(3, 2, 103, "position is used twice (inserted event)")


@pytest.mark.req("P11-1a")
def test_an_event_appended_behind_the_seal_is_found_even_with_a_correct_hash():
    rows, head = build_lane()
    values = (*rows[-1][: COL["seq"]], 6, *rows[-1][COL["seq"] + 1 : N])
    values = (200, *values[1:])
    rows.append((*values, rows[-1][COL["hash"]], event_hash(values, rows[-1][COL["hash"]])))
    _, found = verify_lane(3, rows, head, KEY)
    assert found == Break(3, 6, 200, "event was added behind the chain's seal")


@pytest.mark.req("P11-1a")
def test_a_head_moved_without_the_key_has_an_invalid_seal():
    rows, head = build_lane()
    rows = rows[:4]
    forged_head = (4, rows[-1][COL["hash"]], head_seal(b"guessed key", 3, 4, rows[-1][COL["hash"]]))
    _, found = verify_lane(3, rows, forged_head, KEY)
    assert found == Break(3, 4, 107, "chain head seal is not valid")


@pytest.mark.req("P11-1a")
def test_without_the_key_only_the_chain_is_checked_and_the_head_hash_must_still_match():
    rows, head = build_lane()
    unsealed = (head[0], head[1], "0" * 64)
    assert verify_lane(3, rows, unsealed, None) == (5, None)
    _, found = verify_lane(3, rows, (5, "e" * 64, "0" * 64), None)
    assert found == Break(3, 5, 109, "last event differs from the chain's seal")


@pytest.mark.req("P11-1a")
def test_a_lane_without_its_head_record_is_reported():
    rows, _ = build_lane()
    _, found = verify_lane(3, rows, None, KEY)
    assert found == Break(3, 5, 109, "chain head record is missing")


@pytest.mark.req("P11-1a")
def test_events_out_of_their_written_order_are_found():
    rows, head = build_lane()
    rows[2] = with_cell(rows[2], "id", 102)  # written after #103 yet numbered before it
    rows = rehash_from(rows, 2)
    _, found = verify_lane(3, rows, head, KEY)
    assert found == Break(3, 3, 102, "events are out of their written order")


@pytest.mark.req("P11-1a")
def test_a_fully_recomputed_chain_does_not_match_its_seal():
    rows, head = build_lane()
    rows[1] = with_cell(rows[1], "actor_name", "Somebody Else")
    rows = rehash_from(rows, 1)
    _, found = verify_lane(3, rows, head, KEY)
    assert found == Break(3, 5, 109, "last event differs from the chain's seal")


@pytest.mark.req("P11-1a")
def test_first_break_is_the_earliest_event_and_breaks_without_an_id_come_last():
    breaks = [None, Break(2, 4, None, "deleted"), Break(1, 9, 57, "x"), Break(5, 2, 12, "y"), None]
    assert chain.first_break(iter(breaks)) == Break(5, 2, 12, "y")
    assert chain.first_break(iter([None, Break(2, 4, None, "deleted")])) == Break(2, 4, None, "deleted")
    assert chain.first_break(iter([None, None])) is None


def _mutation(value):
    if isinstance(value, int):
        return st.integers(-5, 10**6).filter(lambda v: v != value)
    if value is None:
        return st.integers(0, 10**6)
    return st.text(max_size=80).filter(lambda v: v != value)


@pytest.mark.req("P11-1a")
@given(data=st.data())
def test_any_single_changed_cell_is_found_at_the_changed_event(data):
    rows, head = build_lane(length=6)
    index = data.draw(st.integers(0, 5), label="row")
    column = data.draw(st.sampled_from(sorted(COL)), label="column")
    original = rows[index]
    new_value = data.draw(_mutation(original[COL[column]]), label="value")
    rows[index] = with_cell(original, column, new_value)
    _, found = verify_lane(3, rows, head, KEY)
    assert found is not None
    named = {original[COL["id"]], rows[index][COL["id"]]}
    assert found.event_id in named or found.seq == original[COL["seq"]], (found, column)
