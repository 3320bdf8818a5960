"""Batch fixtures: the ready-to-run world of builders.py on the fake clock, and its people."""

import pytest

from . import builders


@pytest.fixture(autouse=True)
def _server_clock(fake_clock):
    """2026-03-02 08:30 UTC, moved only by the test."""
    return fake_clock


@pytest.fixture
def world(sponsor_a):
    return builders.world(sponsor_a)


@pytest.fixture
def started(world):
    builders.start(world)
    return world


@pytest.fixture
def operator(world):
    return world.operator


@pytest.fixture
def second_operator(world):
    return world.second_operator


@pytest.fixture
def qa(world):
    return world.qa
