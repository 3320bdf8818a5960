"""Defects a user trial of the demo found in EM sampling, excursions and their pages: location
codes that broke links, samples collected without their plan, batches not running, identifications
beyond the plate count, values printed as raw decimals, internal codes in messages, missing links."""

import datetime as dt
from decimal import Decimal

import pytest
from django.urls import reverse

from opencdmo.batches.models import Batch
from opencdmo.core.domain.roles import Role
from opencdmo.core.errors import Conflict, RuleViolation
from opencdmo.envmon import selectors, services
from opencdmo.envmon.models import EmSample, Excursion, LevelSet
from opencdmo.envmon.templatetags.envmon import em_label_at, em_types, em_value
from opencdmo.quality import services as quality_services
from tests.envmon import builders
from tests.envmon import sampling_builders as b
from tests.release import builders as release_builders
from tests.web.conftest import signed_in

pytestmark = pytest.mark.django_db
HOUR = dt.timedelta(hours=1)


@pytest.fixture
def p(sponsor_a, fake_clock):
    return b.programme(sponsor_a)


@pytest.fixture
def loc(p):
    return b.location(p)


def _page(user, name, *args, query: str = "") -> str:
    response = signed_in(user).get(reverse(name, args=args) + query)
    assert response.status_code == 200, response.content[:500]
    return response.content.decode()


def _alert_levels(p, fake_clock, grade="B"):
    LevelSet.objects.create(grade=grade, sample_type="contact_plate", state="in_operation", alert_level=Decimal(2),
                            action_level=Decimal(40), method="manual", status="approved", number=f"EML-{grade}",
                            created_at=fake_clock(), modified_at=fake_clock(), created_by=p.coordinator,
                            effective_at=fake_clock())


# 1 ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("code", ["B/L2", "B L2", "B_L2", "B.L2"])
def test_a_location_code_holds_only_letters_digits_and_dashes(p, code):
    with pytest.raises(RuleViolation, match="only letters, digits and '-'"):
        b.location(p, code)


def test_a_location_code_is_upper_cased_and_its_pages_open(p):
    location = b.location(p, "b-l2")
    assert location.code == "B-L2"
    assert "B-L2" in _page(p.coordinator, "envmon:room", p.room.code)


# 2, 3 ------------------------------------------------------------------------------------------

def test_a_sample_collected_without_its_plan_counts_against_the_active_plan(p, loc):
    plan = services.create_plan(p.coordinator, loc, sample_type="contact_plate", frequency="daily",
                                state="in_operation")
    assert plan in [d.plan for d in selectors.due_samples()]
    sample = b.plate(p, loc)  # scanned location, no plan named
    assert sample.plan == plan
    assert plan not in [d.plan for d in selectors.due_samples()]
    assert b.plate(p, loc, state="at_rest").plan is None  # no plan at rest


def test_a_per_batch_plan_needs_its_batch_even_when_the_plan_is_not_named(p, loc, fake_clock):
    plan = services.create_plan(p.coordinator, loc, sample_type="contact_plate", frequency="per_batch",
                                state="in_operation")
    with pytest.raises(RuleViolation, match="taken for each batch"):
        b.plate(p, loc)
    running = b.batch_between(p, fake_clock() - HOUR, None)
    sample = b.plate(p, loc, batch=running.number)
    assert (sample.plan, sample.batch) == (plan, running)


@pytest.mark.parametrize("window, message", [
    ((None, None), "has not started"),
    ((-5, -2), "was completed"),
])
def test_a_sample_names_only_a_batch_running_in_the_room(p, loc, fake_clock, window, message):
    started, completed = (None if h is None else fake_clock() + h * HOUR for h in window)
    batch = b.batch_between(p, started, completed)
    with pytest.raises(RuleViolation, match=message):
        b.plate(p, loc, batch=batch.number)
    assert not EmSample.objects.exists()


# 4 ---------------------------------------------------------------------------------------------

def test_an_identification_names_organism_and_method(p, loc, fake_clock):
    sample = b.read(p, b.plate(p, loc), 3, fake_clock)
    with pytest.raises(RuleViolation, match="identification method"):
        services.identify_organism(p.reader, sample, organism="S. epidermidis", method=" ")
    with pytest.raises(RuleViolation, match="organism"):
        services.identify_organism(p.reader, sample, organism="", method="MALDI-TOF")


def test_identified_cfu_never_exceed_the_plate_count(p, loc, fake_clock):
    one = b.read(p, b.plate(p, loc), 1, fake_clock)
    services.identify_organism(p.reader, one, organism="S. epidermidis", method="MALDI-TOF")
    with pytest.raises(RuleViolation, match="All 1 CFU"):
        services.identify_organism(p.reader, one, organism="M. luteus", method="MALDI-TOF", cfu=1)
    three = b.read(p, b.plate(p, loc), 3, fake_clock)
    services.identify_organism(p.reader, three, organism="S. epidermidis", method="MALDI-TOF", cfu=2)
    with pytest.raises(RuleViolation, match="1 to 1 CFU"):
        services.identify_organism(p.reader, three, organism="M. luteus", method="MALDI-TOF", cfu=2)
    services.identify_organism(p.reader, three, organism="M. luteus", method="MALDI-TOF", cfu=1)
    assert three.identifications.count() == 2


# 5, 6 ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("value, sample_type, shown", [
    (Decimal("31.00"), "contact_plate", "31 CFU/plate"),
    (Decimal("412500.00"), "particles_0_5", "412,500 particles/m³"),
    (Decimal("2.50"), "active_air", "2.5 CFU/m³"),
    (Decimal("412508.83"), "particles_5", "412,509 particles/m³"),
    (Decimal("0"), "", "0"),
    (None, "contact_plate", "—"),
])
def test_a_result_is_printed_as_a_whole_number_with_separators_and_its_unit(value, sample_type, shown):
    assert em_value(value, sample_type) == shown


def test_the_sample_pages_show_values_with_units_and_the_verdict_before_the_rule(p, loc, fake_clock):
    sample = b.read(p, b.plate(p, loc), 31, fake_clock)
    page = _page(p.coordinator, "envmon:sample", sample.number)
    assert "31 CFU/plate" in page and "31.00" not in page
    assert page.index(sample.limits["verdict"]) < page.index("Comparison rule: an excursion is a result above")
    assert "31 CFU/plate" in _page(p.coordinator, "envmon:samples")
    particles = b.plate(p, loc, "particles_0_5", volume_litres="28.3", instrument=p.particle_counter, count=11674,
                        media_lot="")
    assert f"{particles.value:,.0f} particles/m³" in _page(p.coordinator, "envmon:samples")


# 7 ---------------------------------------------------------------------------------------------

def test_messages_name_sample_types_and_states_by_their_labels(p):
    loc = b.location(p, "B-L3", types=("contact_plate", "active_air"))
    with pytest.raises(RuleViolation) as refused:
        services.create_plan(p.coordinator, loc, sample_type="settle_plate", frequency="daily", state="in_operation")
    assert str(refused.value) == "B-L3 takes contact plate, active air: not settle plate."
    services.create_plan(p.coordinator, loc, sample_type="contact_plate", frequency="daily", state="in_operation")
    with pytest.raises(Conflict, match="active contact plate plan in operation"):
        services.create_plan(p.coordinator, loc, sample_type="contact_plate", frequency="daily",
                             state="in_operation")
    with pytest.raises(RuleViolation, match="is a particle counter: an active air sample needs an active air"):
        b.plate(p, loc, "active_air", instrument=p.particle_counter)
    assert em_types(["settle_plate", "glove_print"]) == "Settle plate, Glove print"
    page = _page(p.coordinator, "envmon:room_programme", p.room.code)
    assert "Contact plate, Active air" in page and "contact_plate, active_air" not in page


# 8, 9 ------------------------------------------------------------------------------------------

def test_the_room_page_links_its_latest_results_to_their_samples(p, loc, fake_clock):
    sample = b.read(p, b.plate(p, loc), 1, fake_clock)
    page = _page(p.coordinator, "envmon:room", p.room.code, query="?sample_type=contact_plate")
    assert f'<a href="{reverse("envmon:sample", args=[sample.number])}">' in page


def test_a_grade_a_growth_refusal_links_to_the_sample_to_identify(p, fake_clock):
    _alert_levels(p, fake_clock, grade="A")
    loc = b.location(p, "A-L1", room=p.grade_a, types=("contact_plate",))
    sample = b.read(p, b.plate(p, loc), 0, fake_clock)
    EmSample.objects.filter(pk=sample.pk).update(count=1, value=1, level="alert")
    excursion = builders.excursion(sample, p.coordinator, kind=Excursion.Kind.ALERT)
    response = signed_in(p.qa).post(reverse("envmon:excursion_acknowledge", args=[excursion.number]),
                                    {"assessment": "reviewed"})
    assert "identify the organism" in response.content.decode()
    assert reverse("envmon:sample", args=[sample.number]) in response.content.decode()


def test_an_alert_excursion_says_it_holds_the_batches_in_its_window(p, loc, fake_clock):
    _alert_levels(p, fake_clock)
    sample = b.read(p, b.plate(p, loc), 3, fake_clock)
    page = _page(p.qa, "envmon:excursion", Excursion.objects.get(sample=sample).number)
    assert "keeps every batch made in the room during the window pending until QA acknowledges it" in page
    assert "Batches are named for action excursions" not in page


def test_the_batch_em_page_links_its_excursions_deviations_batch_and_unread_samples(p, loc, fake_clock):
    batch = b.batch_between(p, fake_clock() - 10 * HOUR, None)
    (action,) = builders.samples(loc, p.coordinator, [60], sample_type="contact_plate",
                                 start=fake_clock() - 5 * HOUR)
    (unread,) = builders.samples(loc, p.coordinator, [None], sample_type="contact_plate",
                                 start=fake_clock() - 4 * HOUR)
    deviation = quality_services.raise_deviation(p.coordinator, title="Contact plate above Annex 1",
                                                 description="60 CFU", source="environmental")
    excursion = builders.excursion(action, p.coordinator, batches=[batch], deviation=deviation)
    page = _page(p.coordinator, "envmon:batch_summary", batch.number)
    for link in (reverse("envmon:excursion", args=[excursion.number]),
                 reverse("quality:deviation", args=[deviation.number]),
                 reverse("batches:batch", args=[batch.number]), reverse("envmon:sample", args=[unread.number])):
        assert f'href="{link}"' in page


def test_a_sponsor_sees_a_cdmo_deviation_number_on_the_disposition_page_without_a_link(
        db, fake_clock, sponsor_a, make_user):
    world, _ = release_builders.releasable(sponsor_a)
    user = make_user("em.reviewer", Role.QC_REVIEWER)
    loc, *_ = builders.locations(world.batch.room, user, 1, sample_types=("settle_plate",))
    Batch.objects.filter(pk=world.batch.pk).update(started_at=fake_clock() - 5 * 24 * HOUR,
                                                   completed_at=fake_clock() - 2 * 24 * HOUR)
    (action,) = builders.samples(loc, user, [60], sample_type="settle_plate", start=fake_clock() - 4 * 24 * HOUR)
    deviation = quality_services.raise_deviation(user, title="Settle plate above Annex 1", description="60 CFU",
                                                 source="environmental")
    excursion = builders.excursion(action, user, batches=[world.batch], deviation=deviation)
    viewer = make_user("sponsor.viewer", Role.SPONSOR_VIEWER, sponsors=[sponsor_a])
    page = _page(viewer, "release:batch", world.batch.number)
    assert deviation.number in page and excursion.number in page
    assert reverse("quality:deviation", args=[deviation.number]) not in page
    assert reverse("envmon:excursion", args=[excursion.number]) not in page


# 10 --------------------------------------------------------------------------------------------

def test_floor_plan_discs_and_labels_stay_inside_the_plan(p):
    services.create_location(p.coordinator, p.room, code="CORNER-LONG", name="Far corner", x="100", y="100",
                             sample_types=["contact_plate"])
    services.create_location(p.coordinator, p.room, code="ORIGIN-LONG", name="Near corner", x="0", y="0",
                             sample_types=["contact_plate"])
    plan = selectors.floor_plan(p.room)
    far, near = (em_label_at(s, plan) for s in sorted(plan.spots, key=lambda s: s.location.code))
    for at in (far, near):
        assert plan.radius <= at["cx"] <= plan.width - plan.radius
        assert plan.radius <= at["cy"] <= plan.length - plan.radius
        assert 0 <= at["y"] <= plan.length
    assert (far["anchor"], far["x"], far["baseline"]) == ("end", plan.width, "auto")
    assert (near["anchor"], near["x"], near["baseline"]) == ("start", 0, "hanging")
    assert 'text-anchor="end"' in _page(p.coordinator, "envmon:room", p.room.code)
