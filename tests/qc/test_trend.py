"""Out-of-trend against the product's history (pure rule)."""

from decimal import Decimal as D

import pytest
from hypothesis import given
from hypothesis import strategies as st

from opencdmo.qc.domain.trend import out_of_trend

HISTORY = [D(v) for v in ("80.1", "80.4", "79.8", "80.0", "80.2", "79.9", "80.3", "80.1", "79.7", "80.0")]


def test_within_three_sigma_is_in_trend():
    assert out_of_trend(HISTORY, D("80.5")) is None


def test_beyond_three_sigma_is_flagged_with_the_reason():
    note = out_of_trend(HISTORY, D("75.0"))
    assert note is not None and "beyond mean ± 3σ of the last 10 results" in note


def test_too_short_a_history_says_nothing():
    assert out_of_trend(HISTORY[:9], D("10")) is None
    assert out_of_trend(HISTORY[:9], D("10"), minimum=5) is not None


def test_constant_history_flags_any_other_value():
    assert out_of_trend([D("1.0")] * 12, D("1.0")) is None
    assert "constant" in out_of_trend([D("1.0")] * 12, D("1.1"))


@pytest.mark.parametrize("k", [2, 3])
def test_k_widens_the_band(k):
    # mean 80.05, σ ≈ 0.226 → 80.6 is beyond 2σ but within 3σ
    assert (out_of_trend(HISTORY, D("80.6"), k=k) is None) == (k == 3)


values = st.decimals(min_value=-1000, max_value=1000, places=2, allow_nan=False, allow_infinity=False)


@given(st.lists(values, min_size=10, max_size=40), values, values)
def test_a_value_further_from_the_mean_is_flagged_whenever_a_nearer_one_is(history, a, b):
    mean = sum(history) / len(history)
    near, far = sorted((a, b), key=lambda v: abs(v - mean))
    if out_of_trend(history, near) is not None and (near - mean) * (far - mean) >= 0:
        assert out_of_trend(history, far) is not None


@given(st.lists(values, min_size=10, max_size=40))
def test_the_mean_itself_is_never_out_of_trend(history):
    assert out_of_trend(history, sum(history) / len(history)) is None
