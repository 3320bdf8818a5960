"""ISO 14644-1 cleanroom classification: class limits from Table 1, number of sampling locations
from Table A.1, minimum sample volume, pass/fail on each location's mean (issue 8 acceptance;
ISO-1, ISO-2, ISO-3, A1-4). Pure module: no database."""

from decimal import Decimal

import pytest

from opencdmo.envmon.domain.iso14644 import (
    CLASS_LIMITS,
    class_limit,
    considered_sizes,
    iso_class_for,
    location_count,
    sample_volume_litres,
    verdict,
)

D = Decimal


@pytest.mark.req("ISO-2")
@pytest.mark.parametrize(("iso_class", "size", "expected"), [
    (1, 0.1, 10), (1, 0.2, 2), (1, 0.3, None),
    (2, 0.5, 4), (3, 1, 8), (4, 0.5, 352), (4, 1, 83),
    (5, 0.1, 100_000), (5, 0.5, 3_520), (5, 1, 832), (5, 5, None),  # ≥5 µm blank for ISO 5 in 2015
    (6, 5, 293), (6, 0.3, 102_000),
    (7, 0.5, 352_000), (7, 5, 2_930), (7, 0.1, None),
    (8, 0.5, 3_520_000), (8, 5, 29_300),
    (9, 0.5, 35_200_000), (9, 1, 8_320_000), (9, 5, 293_000),
])
def test_class_limits_are_the_published_table_values(iso_class, size, expected):
    assert class_limit(iso_class, size) == expected
    assert class_limit(iso_class, D(str(size))) == expected


@pytest.mark.req("ISO-1")
def test_table_values_are_used_not_the_class_formula():
    # The formula gives 3 516.8 (ISO 5, 0.5 µm) and 2 925.1 (ISO 7, 5 µm); the table says 3 520 and 2 930.
    assert class_limit(5, "0.5") == 3_520 and class_limit(7, "5.0") == 2_930
    assert all(isinstance(limit, int) for limits in CLASS_LIMITS.values() for limit in limits.values())


@pytest.mark.parametrize("bad", [0, 10, 5.5, "5", None, True])
def test_unknown_iso_class_is_refused(bad):
    with pytest.raises(ValueError, match="classes are whole numbers from 1 to 9"):
        class_limit(bad, 0.5)


@pytest.mark.req("ISO-3")
@pytest.mark.req("A1-6")
@pytest.mark.parametrize(("area", "locations"), [
    (1, 1), (2, 1),            # ≤ 2 m²: one location
    (2.01, 2), (4, 2),
    (6, 3), (8, 4), (10, 5),
    (10.5, 6), (24, 6), (24.5, 7),
    (36, 9), (52, 10), (100, 16), (104, 16), (105, 17),
    (352, 24), (500, 26), (636, 26), (637, 27),
    (1000, 27),
    (1000.5, 28),              # above 1000 m²: ⌈27 × A / 1000⌉
    (1500, 41),                # 40.5 → 41
    (2000, 54),
])
def test_number_of_sampling_locations_follows_table_a1(area, locations):
    assert location_count(area) == locations
    assert location_count(D(str(area))) == locations


@pytest.mark.parametrize("bad", [0, -3, "NaN", "wide"])
def test_a_room_without_a_positive_area_has_no_location_count(bad):
    with pytest.raises(ValueError, match="area"):
        location_count(bad)


@pytest.mark.req("ISO-3")
@pytest.mark.parametrize(("iso_class", "size", "litres"), [
    (5, 0.5, D("5.7")),     # 20 / 3 520 × 1000 = 5.68 → 5.7 (rounded up)
    (7, 5, D("6.9")),       # 20 / 2 930 × 1000 = 6.83 → 6.9
    (6, 5, D("68.3")),      # 20 / 293 × 1000 = 68.26 → 68.3
    (4, 0.5, D("56.9")),    # 20 / 352 × 1000 = 56.82 → 56.9
    (7, 0.5, D("2")),       # 0.057 L → the 2 L minimum
    (8, 0.5, D("2")),
    (8, 5, D("2")),         # 0.68 L → 2 L
])
def test_minimum_sample_volume_per_location(iso_class, size, litres):
    assert sample_volume_litres(iso_class, size) == litres


@pytest.mark.req("ISO-3")
def test_no_sample_volume_for_a_size_the_class_has_no_limit_for():
    with pytest.raises(ValueError, match="ISO 5 has no limit at ≥5 µm"):
        sample_volume_litres(5, 5)


@pytest.mark.req("A1-1")
@pytest.mark.parametrize(("iso_class", "sizes"), [
    (5, (D("0.5"),)), (6, (D("0.5"), D(5))), (7, (D("0.5"), D(5))), (8, (D("0.5"), D(5))), (3, (D("0.5"),)),
])
def test_considered_sizes_are_those_with_a_limit(iso_class, sizes):
    assert considered_sizes(iso_class) == sizes


@pytest.mark.req("A1-4")
@pytest.mark.parametrize(("grade", "state", "iso_class"), [
    ("A", "at_rest", 5), ("A", "in_operation", 5),
    ("B", "at_rest", 5), ("B", "in_operation", 7),
    ("C", "at_rest", 7), ("C", "in_operation", 8),
    ("D", "at_rest", 8), ("D", "in_operation", None),
    ("U", "at_rest", None),
])
def test_iso_class_equivalence_of_annex1_grades(grade, state, iso_class):
    assert iso_class_for(grade, state) == iso_class


def test_iso_class_for_an_unknown_state_or_grade_is_refused():
    with pytest.raises(ValueError, match="state"):
        iso_class_for("A", "dynamic")
    with pytest.raises(ValueError, match="grade"):
        iso_class_for("E", "at_rest")


@pytest.mark.req("ISO-3")
def test_a_room_passes_when_every_location_mean_is_within_the_limit():
    # ISO 7: 352 000 at ≥0.5 µm, 2 930 at ≥5 µm. One high reading is averaged, not judged alone.
    result = verdict({
        "L1": {0.5: [300_000, 400_000], 5: [1_000]},      # mean 350 000
        "L2": {"0.5": [352_000], "5.0": [2_930]},         # exactly at the limits
    }, 7)
    assert result.passed
    assert [(p.point, p.size, p.mean, p.limit, p.passed, p.count) for p in result.points] == [
        ("L1", D("0.5"), D(350_000), 352_000, True, 2), ("L1", D(5), D(1_000), 2_930, True, 1),
        ("L2", D("0.5"), D(352_000), 352_000, True, 1), ("L2", D(5), D(2_930), 2_930, True, 1),
    ]


@pytest.mark.req("ISO-3")
def test_one_location_mean_above_the_limit_fails_the_room():
    result = verdict({"L1": {0.5: [1_000, 2_000]}, "L2": {0.5: [3_000, 4_100]}}, 5)  # L2 mean 3 550 > 3 520
    assert not result.passed
    assert [p.passed for p in result.points] == [True, False]


@pytest.mark.req("ISO-3")
def test_a_location_without_a_reading_fails_with_a_note():
    result = verdict({"L1": {0.5: [100], 5: [1]}, "L2": {0.5: [100]}, "L3": {}}, 7)
    assert not result.passed
    missing = [(p.point, p.size) for p in result.points if not p.passed]
    assert missing == [("L2", D(5)), ("L3", D("0.5")), ("L3", D(5))]
    assert all("No reading" in p.note and p.mean is None and p.count == 0 for p in result.points if not p.passed)


@pytest.mark.req("ISO-3")
def test_sizes_can_be_chosen_but_only_with_a_limit():
    assert verdict({"L1": {1: [800]}}, 5, sizes=[1]).passed
    assert not verdict({"L1": {1: [833]}}, 5, sizes=[1]).passed
    with pytest.raises(ValueError, match="no limit"):
        verdict({"L1": {5: [1]}}, 5, sizes=[5])


@pytest.mark.parametrize(("readings", "message"), [
    ({}, "at least one location"),
    ({"L1": {0.5: [-1]}}, "negative"),
    ({"L1": {0.5: ["NaN"]}}, "finite"),
])
def test_bad_readings_are_refused(readings, message):
    with pytest.raises(ValueError, match=message):
        verdict(readings, 5)
