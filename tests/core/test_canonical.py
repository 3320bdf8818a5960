"""Canonical JSON: the same value always gives the same text, so a hash means one thing."""

import datetime as dt
import decimal
import json
import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from opencdmo.core.domain import canonical

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)
records = st.dictionaries(st.text(max_size=12), json_values, max_size=8)


@pytest.mark.req("P11-4")
@given(records)
def test_dumps_is_deterministic(record):
    assert canonical.dumps(record) == canonical.dumps(json.loads(json.dumps(record)))


@pytest.mark.req("P11-4")
@given(records, st.randoms(use_true_random=False))
def test_dumps_does_not_depend_on_key_order(record, rnd):
    items = list(record.items())
    rnd.shuffle(items)
    assert canonical.dumps(dict(items)) == canonical.dumps(record)
    assert canonical.content_hash(dict(items)) == canonical.content_hash(record)


@pytest.mark.req("P11-4")
@given(records)
def test_dumps_is_compact_sorted_json_that_reads_back_to_the_same_value(record):
    text = canonical.dumps(record)
    assert json.loads(text) == record
    assert text == json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


@pytest.mark.req("P11-4")
@given(st.datetimes(timezones=st.timezones()))
def test_aware_times_are_written_in_utc_so_one_instant_has_one_form(moment):
    assert canonical.plain(moment) == canonical.plain(moment.astimezone(dt.UTC))


@pytest.mark.req("P11-4")
def test_field_values_have_one_plain_form():
    assert canonical.plain(decimal.Decimal("1.50")) == "1.50"
    assert canonical.plain(dt.date(2026, 3, 2)) == "2026-03-02"
    assert canonical.plain(uuid.UUID(int=1)) == "00000000-0000-0000-0000-000000000001"
    assert canonical.plain(0.1) == "0.1"
    assert canonical.dumps({"b": {3, 1, 2}, "a": ("x", 1)}) == '{"a":["x",1],"b":[1,2,3]}'
    assert canonical.dumps({"name": "Zoë"}) == '{"name":"Zoë"}'


@pytest.mark.req("P11-4")
def test_content_hash_is_sha256_of_the_canonical_text():
    assert canonical.content_hash({"b": 1, "a": 2}) == canonical.sha256_hex('{"a":2,"b":1}')
    assert canonical.sha256_hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
