"""Therapies of sponsor A for the custody tests: the patient's own, and another patient's whose
material gets mixed up with it."""

import pytest

from . import builders


@pytest.fixture
def order_a(sponsor_a, fake_clock):
    planner = builders.planner(sponsor_a)
    return builders.order(planner, builders.patient(planner, sponsor_a))


@pytest.fixture
def other_order_a(sponsor_a, order_a):
    """Another patient of the same sponsor: the one whose bag gets mixed up."""
    planner = builders.planner(sponsor_a)
    return builders.order(planner, builders.patient(planner, sponsor_a))
