"""Samples and results: collection (media lot, exposure, volume, instrument), two incubations,
reading, identification and invalidation, each judged by the limits in force (A1-3, P11-1h)."""

import datetime as dt
from decimal import Decimal

import pytest

from opencdmo.core.errors import Conflict, PermissionDenied, RuleViolation
from opencdmo.envmon import services
from opencdmo.envmon.models import EmSample
from opencdmo.facilities import services as facilities_services
from tests.envmon import sampling_builders as b

pytestmark = pytest.mark.django_db


@pytest.fixture
def p(sponsor_a, fake_clock):
    return b.programme(sponsor_a)


@pytest.fixture
def loc(p):
    return b.location(p)


def test_a_plate_needs_its_media_lot(p, loc):
    with pytest.raises(RuleViolation, match="media lot"):
        b.plate(p, loc, media_lot="")
    sample = b.plate(p, loc)
    assert (sample.status, sample.media_lot, sample.collected_by, sample.grade) == (
        "collected", "TSA-2026-01", p.sampler, "B")


@pytest.mark.req("A1-3")
def test_a_settle_plate_is_exposed_at_most_four_hours(p, loc, fake_clock):
    with pytest.raises(RuleViolation, match="4 hours"):
        b.plate(p, loc, "settle_plate", exposure_minutes=241)
    with pytest.raises(RuleViolation):
        b.plate(p, loc, "settle_plate", exposure_minutes=None)
    with pytest.raises(RuleViolation):
        b.plate(p, loc, "settle_plate", exposure_minutes="-5")
    sample = b.plate(p, loc, "settle_plate", exposure_minutes=240)
    assert sample.exposure_started_at == fake_clock() - dt.timedelta(hours=4)
    assert EmSample.objects.count() == 1


@pytest.mark.req("P11-1h")
def test_active_air_needs_its_volume_and_a_usable_air_sampler(p, loc):
    with pytest.raises(RuleViolation, match="volume"):
        b.plate(p, loc, "active_air", volume_litres=None)
    with pytest.raises(RuleViolation, match="particle counter"):
        b.plate(p, loc, "active_air", instrument=p.particle_counter)
    facilities_services.transition_equipment(p.world.supervisor, p.air_sampler, "take_out_of_service",
                                             reason="flow check failed")
    with pytest.raises(RuleViolation, match="may not be used"):
        b.plate(p, loc, "active_air")
    assert not EmSample.objects.exists()


@pytest.mark.req("A1-2")
def test_a_particle_count_is_a_result_at_once(p, loc):
    with pytest.raises(RuleViolation):
        services.collect_sample(p.sampler, location=loc, sample_type="particles_0_5", state="in_operation",
                                volume_litres="28.3", instrument=p.particle_counter, count=None)
    with pytest.raises(RuleViolation):
        services.collect_sample(p.sampler, location=loc, sample_type="particles_0_5", state="in_operation",
                                volume_litres="28.3", instrument=p.air_sampler, count=10)
    sample = services.collect_sample(p.sampler, location=loc, sample_type="particles_0_5", state="in_operation",
                                     volume_litres="1000", instrument=p.particle_counter, count=3000)
    assert (sample.status, sample.value, sample.level, sample.read_by) == ("read", Decimal("3000.00"), "within",
                                                                            p.sampler)
    assert sample.limits["annex1_limit"] == "352000"


def test_a_sample_names_a_batch_of_its_own_room(p, loc, fake_clock):
    other = b.batch_between(p, fake_clock(), None, room=p.grade_a)
    with pytest.raises(RuleViolation, match="another room"):
        b.plate(p, loc, batch=other)
    running = b.batch_between(p, fake_clock() - dt.timedelta(hours=1), None)
    assert b.plate(p, loc, batch=running).batch == running


def test_only_samplers_collect(p, loc):
    with pytest.raises(PermissionDenied):
        services.collect_sample(p.qa, location=loc, sample_type="contact_plate", state="in_operation",
                                media_lot="TSA-1")


@pytest.mark.req("A1-3")
def test_incubation_minimums_come_before_reading(p, loc, fake_clock):
    sample = b.plate(p, loc)
    with pytest.raises(Conflict):
        services.read_plate(p.reader, sample, count=0)
    with pytest.raises(RuleViolation):
        services.start_incubation(p.reader, sample, temperature_c="37")  # outside 20–25 °C
    with pytest.raises(PermissionDenied):
        services.start_incubation(p.sampler, sample, temperature_c="22.5")
    services.start_incubation(p.reader, sample, temperature_c="22.5")
    fake_clock.advance(hours=71)
    with pytest.raises(RuleViolation, match="minimum 72 h"):
        services.second_incubation(p.reader, sample, temperature_c="32.5")
    fake_clock.advance(hours=1)
    services.second_incubation(p.reader, sample, temperature_c="32.5")
    fake_clock.advance(hours=47)
    with pytest.raises(RuleViolation, match="minimum 48 h"):
        services.read_plate(p.reader, sample, count=0)
    fake_clock.advance(hours=1)
    for bad in ("-1", "1.5", "abc", "1e12"):
        with pytest.raises(RuleViolation):
            services.read_plate(p.reader, sample, count=bad)
    sample = services.read_plate(p.reader, sample, count=2)
    assert (sample.status, sample.value, sample.level, sample.read_by) == ("read", Decimal(2), "within", p.reader)
    with pytest.raises(Conflict):
        services.read_plate(p.reader, sample, count=3)


@pytest.mark.req("A1-3")
def test_active_air_is_reported_per_cubic_metre(p, loc, fake_clock):
    sample = b.read(p, b.plate(p, loc, "active_air", volume_litres="500"), 3, fake_clock)
    assert (sample.count, sample.value, sample.level) == (3, Decimal("6.00"), "within")


def test_identifications_are_of_read_plates_with_growth(p, loc, fake_clock):
    sample = b.plate(p, loc)
    with pytest.raises(Conflict):
        services.identify_organism(p.reader, sample, organism="Bacillus", method="MALDI-TOF")
    sample = b.read(p, sample, 2, fake_clock)
    with pytest.raises(RuleViolation):
        services.identify_organism(p.reader, sample, organism="Bacillus", method="MALDI-TOF", cfu=3)
    with pytest.raises(RuleViolation):
        services.identify_organism(p.reader, sample, organism=" ", method="MALDI-TOF")
    found = services.identify_organism(p.reader, sample, organism="Bacillus cereus", method="MALDI-TOF", cfu=2)
    assert (found.organism, found.identified_by) == ("Bacillus cereus", p.reader)


def test_invalidation_needs_a_reviewer_and_a_reason(p, loc):
    sample = b.plate(p, loc)
    with pytest.raises(PermissionDenied):
        services.invalidate_sample(p.sampler, sample, reason="dropped")
    with pytest.raises(RuleViolation):
        services.invalidate_sample(p.coordinator, sample, reason=" ")
    sample = services.invalidate_sample(p.coordinator, sample, reason="dropped on the floor")
    assert sample.status == "invalidated"
    with pytest.raises(RuleViolation):
        services.invalidate_sample(p.coordinator, sample, reason="again")
    with pytest.raises(Conflict):
        services.start_incubation(p.reader, sample, temperature_c="22.5")
