"""ISBT 128 structures and algorithms (ISBT-1 … ISBT-8): pure, no database."""

from datetime import date, datetime, time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from opencdmo.identity.domain import isbt128
from opencdmo.identity.domain.isbt128 import (
    ALPHABET,
    ChainOfIdentity,
    CollectionDate,
    CollectionDateTime,
    CompoundMessage,
    Din,
    ExpiryDate,
    ExpiryDateTime,
    Isbt128Error,
    ProductCode,
    ProductDivisions,
    ProductionDate,
    ProductionDateTime,
    check_character,
    checksum,
    is_valid_with_check,
    next_sequence,
    parse,
    parse_chain_of_identity,
    parse_concatenated,
    parse_din,
    parse_product_code,
)

VECTORS = [  # ISBT-4: DIN, checksum, K, Type 3 flags
    ("G123417654321", 10, "A", "70"),
    ("A999921123456", 3, "3", "63"),
    ("A999818123456", 23, "N", "83"),
    ("W000009123456", 16, "G", "76"),
]


def weighted_checksum(data: str) -> int:
    """ISBT-4's weighted method, written apart from the module's recursive one: value × 2^n, n from the right."""
    values = {char: value for value, char in enumerate("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ")}
    total = sum(values[char] * 2 ** place for place, char in enumerate(reversed(data), start=1))
    return (38 - total % 37) % 37


def refused(text, reason, *words):
    with pytest.raises(Isbt128Error) as caught:
        parse(text)
    assert caught.value.reason == reason
    for word in words:
        assert word in str(caught.value)
    return str(caught.value)


# --- check character (ISBT-4) ---

@pytest.mark.req("ISBT-4")
@pytest.mark.parametrize(("din13", "value", "k", "flags"), VECTORS)
def test_check_character_matches_every_test_vector(din13, value, k, flags):
    assert checksum(din13) == value
    assert check_character(din13) == k
    assert weighted_checksum(din13) == value
    din = parse_din(din13 + k)
    assert (din.check_character, din.type3_flags) == (k, flags)
    assert is_valid_with_check(din13 + k)


@pytest.mark.req("ISBT-4")
def test_worked_example_weighted_sum_and_data_content():
    assert sum(ALPHABET.index(c) * 2 ** n for n, c in enumerate(reversed("G123417654321"), start=1)) == 146178
    assert Din.build("G1234", 17, 654321, "70").data_content == "G12341765432170"


din13s = st.builds(
    lambda first, middle, rest: first + middle + rest,
    st.sampled_from("123456789ABCDEFGHIJKLMNPQRSTUVWXYZ"),
    st.text(alphabet="0123456789ABCDEFGHIJKLMNPQRSTUVWXYZ", min_size=2, max_size=2),
    st.text(alphabet="0123456789", min_size=10, max_size=10))
any_data = st.text(alphabet="0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=1, max_size=40)


@pytest.mark.req("ISBT-4")
@settings(max_examples=2000)
@given(din13s)
def test_recursive_and_weighted_methods_agree_on_random_dins(din13):
    assert checksum(din13) == weighted_checksum(din13)
    assert Din.build(din13[:5], din13[5:7], din13[7:]).type3_flags == f"{weighted_checksum(din13) + 60:02d}"


@pytest.mark.req("ISBT-4")
@settings(max_examples=1000)
@given(any_data)
def test_check_character_validates_by_the_iso_7064_identity(data):
    # python-stdnum's formulation: t = (2t + v) mod 37 over data + K ends at 1.
    total = 0
    for char in data + check_character(data):
        total = (2 * total + ALPHABET.index(char)) % 37
    assert total == 1
    assert checksum(data) == weighted_checksum(data)


@pytest.mark.req("ISBT-4")
@given(any_data, st.integers(min_value=0, max_value=39), st.sampled_from(ALPHABET[:36]))
def test_any_single_substitution_is_caught(data, where, char):
    where %= len(data)
    changed = data[:where] + char + data[where + 1:]
    assert is_valid_with_check(changed + check_character(data)) == (changed == data)


@pytest.mark.req("ISBT-4")
def test_is_valid_with_check_refuses_junk_without_raising():
    assert not is_valid_with_check("")
    assert not is_valid_with_check("G")
    assert not is_valid_with_check("g123417654321a")
    assert not is_valid_with_check("G12341765432*A")


@pytest.mark.req("ISBT-4")
def test_lowercase_has_no_check_character():
    with pytest.raises(Isbt128Error, match="capital letter 'G', not 'g'"):
        checksum("g123417654321")


# --- DIN (ISBT-3) ---

@pytest.mark.req("ISBT-3")
def test_din_parts_text_and_eye_readable():
    din = Din.build("G1234", 2017, 654321)
    assert din.din13 == "G123417654321"
    assert din.data_identifier == "=G"
    assert din.text == "=G12341765432100"
    assert din.eye_readable() == "G1234 17 654321"
    assert din.check_character == "A"
    assert din.printed_flags == ""


@pytest.mark.req("ISBT-3")
@pytest.mark.parametrize(("flags", "kind", "printed"), [
    ("00", "process control", ""), ("02", "process control", "02"), ("35", "local", "35"),
    ("70", "check", ""), ("AB", "other", "AB")])
def test_flag_kinds_and_which_are_printed(flags, kind, printed):
    din = Din.build("G1234", "17", "654321", flags)
    assert (din.flag_kind, din.printed_flags) == (kind, printed)


@pytest.mark.req("ISBT-3")
@pytest.mark.parametrize(("parts", "words"), [
    (("O1234", "17", "654321"), ["character 1 'O'", "never O or 0"]),
    (("01234", "17", "654321"), ["character 1 '0'"]),
    (("G1O34", "17", "654321"), ["character 3 'O'"]),
    (("G12A4", "17", "654321"), ["character 4 'A'", "digit"]),
    (("G123", "17", "654321"), ["4 characters", "must have 5"]),
    (("G1234", "7", "654321"), ["DIN year", "must have 2"]),
    (("G1234", "17", "65432A"), ["sequence", "character 6 'A'"]),
    (("g1234", "17", "654321"), ["capital letter 'G', not 'g'"]),
    (("G1234", "17", "654321", "I0"), ["flag characters", "'I'"]),
])
def test_din_build_validates_each_part(parts, words):
    with pytest.raises(Isbt128Error) as caught:
        Din.build(*parts)
    for word in words:
        assert word in str(caught.value)


@pytest.mark.req("ISBT-3")
@pytest.mark.parametrize("flags", ["71", "14", "97", "99"])
def test_wrong_or_reserved_flags_are_refused(flags):
    refused(f"=G123417654321{flags}", "flags", "G1234 17 654321", "deviation")


@pytest.mark.req("ISBT-3")
def test_din_sequence_and_year_numbers_are_zero_padded_and_bounded():
    assert Din.build("G1234", 2005, 42).text == "=G12340500004200"
    with pytest.raises(Isbt128Error, match="6 digits"):
        Din.build("G1234", 26, 1_000_000)


# --- product code and divisions (ISBT-5) ---

@pytest.mark.req("ISBT-5")
def test_product_code_of_cellular_therapy():
    code = parse_product_code("=<S12954A0")
    assert (code.pdc, code.collection_type, code.division) == ("S1295", "4", "A0")
    assert code.divided and not code.requires_product_divisions
    assert ProductCode.build("S1295", isbt128.AUTOLOGOUS_USE_ONLY).text == "=<S1295100"
    assert ProductCode.build("S1295", "1", "99").requires_product_divisions
    assert not ProductCode.build("S1295", "1").divided


@pytest.mark.req("ISBT-5")
def test_product_code_with_three_digit_division():
    code = parse("=<T0001002")
    assert (code.pdc, code.collection_type, code.division) == ("T0001", "", "002")
    with pytest.raises(Isbt128Error, match="no collection type"):
        ProductCode.build("T0001", "1", "00")


@pytest.mark.req("ISBT-5")
@pytest.mark.parametrize(("text", "words"), [
    ("=<S1295100X", ["1 more characters"]),
    ("=<S12951", ["6 characters", "must be 8"]),
    ("=<s1295100", ["capital letter 'S', not 's'"]),
    ("=<S12951aa", ["capital letter 'A', not 'a'"]),  # d of the division is upper-case
    ("=<S12951AA", ["character 2 'A'", "small letter"]),  # s is lower-case
    ("=<1129510 0", ["character 1 '1'", "product category"]),
])
def test_product_code_refusals(text, words):
    with pytest.raises(Isbt128Error) as caught:
        parse(text)
    for word in words:
        assert word in str(caught.value)


@pytest.mark.req("ISBT-5")
@pytest.mark.parametrize(("divisions", "valid"), [
    ("000123", True), ("AABBCC", True), ("AA0000", True), ("AABB00", True),
    ("AA00BB", False), ("A1B2C3", False), ("aabbcc", False)])
def test_product_divisions(divisions, valid):
    if valid:
        assert parse(f"=,{divisions}") == ProductDivisions(divisions)
    else:
        with pytest.raises(Isbt128Error):
            parse(f"=,{divisions}")


# --- chain of identity (ISBT-6) ---

@pytest.mark.req("ISBT-6")
def test_chain_of_identity_text_and_check_over_all_fifteen_characters():
    coi = ChainOfIdentity.build("G1234", 2026, "00A1B2")
    assert coi.data_content == "CHG12342600A1B2"
    assert coi.text == "&/CHG12342600A1B2"
    assert coi.check_character == check_character("CHG12342600A1B2") == ALPHABET[weighted_checksum(coi.data_content)]
    assert coi.eye_readable() == "CH G1234 26 00A1B2"
    assert parse_chain_of_identity("CH G1234 26 00A1B2 " + coi.check_character) == coi
    assert parse_chain_of_identity(coi.text + "\r\n") == coi


@pytest.mark.req("ISBT-6")
@pytest.mark.parametrize(("parts", "words"), [
    (("G1234", "26", "00a1b2"), ["capital letter 'A', not 'a'"]),
    (("G1234", "26", "00A1B"), ["must have 6"]),
    (("G1234", "26", "00A-B2"), ["character 4 '-'"]),
    (("OO234", "26", "00A1B2"), ["issuer", "character 1 'O'"]),
])
def test_chain_of_identity_build_validates(parts, words):
    with pytest.raises(Isbt128Error) as caught:
        ChainOfIdentity.build(*parts)
    for word in words:
        assert word in str(caught.value)


@pytest.mark.req("ISBT-6")
def test_chain_of_identity_must_start_with_ch():
    refused("&/XHG12342600A1B2", "characters", "'X'", "must be C")


@pytest.mark.req("ISBT-6")
@pytest.mark.parametrize(("previous", "following"), [
    ("000000", "000001"), ("000009", "00000A"), ("00000Z", "000010"), ("0ZZZZZ", "100000"), ("ZZZZZY", "ZZZZZZ")])
def test_next_sequence_counts_in_base_36(previous, following):
    assert next_sequence(previous) == following


@pytest.mark.req("ISBT-6")
def test_next_sequence_overflow_and_bad_input_are_errors():
    with pytest.raises(Isbt128Error, match="next year"):
        next_sequence("ZZZZZZ")
    with pytest.raises(Isbt128Error, match="capital letter"):
        next_sequence("00000a")


@given(st.integers(min_value=0, max_value=36 ** 6 - 2))
def test_next_sequence_is_strictly_increasing(number):
    digits = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    text = "".join(digits[number // 36 ** p % 36] for p in range(5, -1, -1))
    following = next_sequence(text)
    assert following > text and int(following, 36) == number + 1


# --- dates (ISBT-7) ---

@pytest.mark.req("ISBT-7")
def test_dates_are_century_year_and_day_of_year():
    assert isbt128.encode_date(date(2026, 2, 1)) == "026032"
    assert isbt128.decode_date("024366") == date(2024, 12, 31)
    assert isbt128.encode_date_time(date(2026, 2, 1), time(8, 5)) == "0260320805"
    assert isbt128.encode_date_time(date(2026, 2, 1)) == "0260322359"
    assert isbt128.decode_date("126001") == date(2126, 1, 1)  # c counts centuries from CENTURY_BASE 2000


@pytest.mark.req("ISBT-7")
@pytest.mark.parametrize(("text", "reason", "words"), [
    ("=>025366", "date", ["day 366 of 2025"]), ("=>026000", "date", ["day 0"]),
    ("&>0260322400", "date", ["24:00"]), ("&>0260321260", "date", ["12:60"]),
    ("=>02603A", "characters", ["character 6 'A'"])])
def test_impossible_dates_are_refused(text, reason, words):
    refused(text, reason, *words)


@pytest.mark.req("ISBT-7")
def test_expiry_date_and_time_is_ds005_with_2359_when_time_not_given():
    expiry = ExpiryDateTime.end_of_day(date(2026, 3, 4))
    assert expiry.text == "&>0260632359"
    assert ExpiryDate(date(2026, 3, 4)).text == "=>026063"
    with pytest.raises(Isbt128Error, match="to the minute"):
        ExpiryDateTime(datetime(2026, 3, 4, 10, 0, 30))
    with pytest.raises(Isbt128Error, match="is a day"):
        ExpiryDate(datetime(2026, 3, 4, 10, 0))
    with pytest.raises(Isbt128Error, match="2000–2999"):
        ExpiryDate(date(1999, 12, 31)).text  # noqa: B018 — encoding is what refuses it


# --- reading scans (ISBT-1, ISBT-2, ISBT-8) ---

ROUND_TRIPS = [
    Din.build("G1234", 17, 654321, "70"), Din.build("W0000", 9, 123456, "02"), Din.build("A9999", 21, 123456),
    ProductCode.build("S1295", "1", "Ab"), ProductCode.build("S1295", "1", "99"), ProductCode.build("T0001", "", "000"),
    ProductDivisions("000042"), ExpiryDate(date(2026, 12, 31)), ExpiryDateTime(datetime(2028, 2, 29, 14, 30)),
    CollectionDate(date(2026, 1, 1)), CollectionDateTime(datetime(2026, 1, 1, 0, 0)),
    ProductionDate(date(2099, 12, 31)), ProductionDateTime(datetime(2030, 7, 1, 23, 59)),
    CompoundMessage(2), ChainOfIdentity.build("G1234", 26, "ZZ0001"),
]


@pytest.mark.req("ISBT-2")
@pytest.mark.parametrize("structure", ROUND_TRIPS, ids=lambda s: s.text)
def test_every_structure_round_trips_through_its_text(structure):
    assert len(structure.text) == len(type(structure).DI) + type(structure).LENGTH
    assert parse(structure.text) == structure
    assert parse(f"  {structure.text}\r\n") == structure


@pytest.mark.req("ISBT-2")
@given(din13s, st.sampled_from(["00", "01", "05", "19", "20", "59", "AB", "Y9"]))
def test_random_dins_round_trip(din13, flags):
    din = Din.from_content(din13 + flags)
    assert parse_din(din.text) == din
    assert parse_din(din13 + din.check_character) == Din.from_content(din13 + "00")


@pytest.mark.req("ISBT-4")
@pytest.mark.parametrize("typed", ["G123417654321A", "G1234 17 654321 A", "G123417654321A\r\n", "\tG1234 17 654321A\n"])
def test_din_typed_by_hand_with_its_check_character_is_accepted(typed):
    assert parse_din(typed) == Din("G1234", "17", "654321", "00")


@pytest.mark.req("ISBT-4")
def test_wrong_check_character_is_refused_without_giving_the_right_one():
    message = refused("G123417654321B", "check character", "'B'", "G1234 17 654321", "Type it again")
    assert "'A'" not in message
    refused("G123417654331A", "check character")
    refused("CHG12342600A1B2" + ("0" if check_character("CHG12342600A1B2") != "0" else "1"), "check character")


@pytest.mark.req("ISBT-4")
def test_typed_identifiers_need_their_check_character():
    refused("G123417654321", "length", "followed by the boxed check character", "has 13")
    refused("CHG12342600A1B2", "length", "chain of identity", "has 15")
    refused("g123417654321a", "characters", "capital letter 'G', not 'g'")
    refused("G123417654321a", "characters", "capital letter 'A', not 'a'")


@pytest.mark.req("ISBT-4")
def test_a_din_whose_facility_starts_with_ch_is_told_apart_by_length():
    din13 = "CH12326000001"
    assert parse(din13 + check_character(din13)) == Din("CH123", "26", "000001")


@pytest.mark.req("ISBT-1")
@pytest.mark.parametrize(("text", "words"), [
    ("=%6200", ["'=%'", "not a data identifier"]),
    ("&a12345", ["national or local"]),
    ("=012341765432100", ["does not start a DIN"]),
    ("=g12341765432100", ["does not start a DIN", "capitals"]),
    ("?G12341765432100", ["'?' does not begin"]),
    ("XG12341765432100", ["DIN typed by hand", "has 16"]),
])
def test_unknown_data_identifiers_are_refused(text, words):
    with pytest.raises(Isbt128Error) as caught:
        parse(text)
    for word in words:
        assert word in str(caught.value)


@pytest.mark.req("ISBT-1")
def test_wrong_length_is_refused():
    refused("=G123417654321", "length", "DIN", "13 characters", "must be 15")
    refused("=G1234176543210070", "length", "2 more characters")
    refused("&/CHG1234", "length", "chain of identity identifier")
    refused(" \r\n", "length", "Nothing was read")


@pytest.mark.req("ISBT-1")
def test_expecting_one_structure_and_reading_another_says_which_to_scan():
    with pytest.raises(Isbt128Error, match="This is a product code, not a DIN: scan the DIN barcode") as caught:
        parse_din("=<S1295100")
    assert caught.value.reason == "structure"
    with pytest.raises(Isbt128Error, match="not a chain of identity identifier"):
        parse_chain_of_identity("G123417654321A")


@pytest.mark.req("ISBT-8")
def test_compound_message_as_one_data_matrix_string():
    din, code = Din.build("A9999", 21, 123456), ProductCode.build("S1295", "1")
    text = CompoundMessage(2).text + din.text + code.text
    assert text == "=+02000=A99992112345600=<S1295100"
    assert parse_concatenated(text) == (din, code)


@pytest.mark.req("ISBT-8")
def test_concatenated_linear_pair_is_read_in_order():
    din, expiry = Din.build("G1234", 17, 654321, "70"), ExpiryDateTime.end_of_day(date(2026, 5, 1))
    assert parse_concatenated(din.text + "\r\n" + expiry.text + "\n") == (din, expiry)


@pytest.mark.req("ISBT-8")
def test_compound_message_count_and_order_are_verified():
    din, code = Din.build("A9999", 21, 123456), ProductCode.build("S1295", "1")
    with pytest.raises(Isbt128Error, match="announces 3 structures but carries 2"):
        parse_concatenated(CompoundMessage(3).text + din.text + code.text)
    with pytest.raises(Isbt128Error, match="not configured"):
        parse_concatenated(CompoundMessage(2, "001").text + din.text + code.text)
    ordered = {"001": ["=", "=<"]}
    assert parse_concatenated(CompoundMessage(2, "001").text + din.text + code.text, sequences=ordered) == (din, code)
    with pytest.raises(Isbt128Error, match="not in the order 001"):
        parse_concatenated(CompoundMessage(2, "001").text + code.text + din.text, sequences=ordered)
    with pytest.raises(Isbt128Error, match="only open"):
        parse_concatenated(din.text + CompoundMessage(1).text + code.text)
    with pytest.raises(Isbt128Error, match="1 to 99"):
        parse("=+00000")


@pytest.mark.req("ISBT-8")
def test_a_single_structure_parse_refuses_a_compound_symbol():
    refused("=+01000=<S1295100", "length", "compound message", "more characters")
