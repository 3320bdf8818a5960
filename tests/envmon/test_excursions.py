"""Excursions: an action result raises one deviation naming exactly the batches in the room
during the window; an alert asks QA to acknowledge; adverse trends are flagged once (A1-3, A1-5)."""

import datetime as dt
from decimal import Decimal

import pytest

from opencdmo.core import tasks
from opencdmo.core.errors import PermissionDenied, RuleViolation
from opencdmo.envmon import services
from opencdmo.envmon.models import EmSample, Excursion, LevelSet
from opencdmo.quality.models import Deviation, DeviationLink
from tests.envmon import sampling_builders as b

pytestmark = pytest.mark.django_db


@pytest.fixture
def p(sponsor_a, fake_clock):
    return b.programme(sponsor_a)


def _linked_batches(deviation) -> set[str]:
    return set(DeviationLink.objects.filter(deviation=deviation, record_type="batches.batch")
               .values_list("record_id", flat=True))


@pytest.mark.req("A1-3")
def test_an_action_excursion_raises_one_deviation_naming_exactly_the_batches_in_the_window(p, fake_clock):
    loc = b.location(p)
    earlier = b.plate(p, loc)  # the last time the location was known: the window's start
    b.read(p, earlier, 0, fake_clock)
    start = earlier.collected_at
    fake_clock.advance(hours=30)
    sample = b.plate(p, loc)
    end = sample.collected_at
    hour = dt.timedelta(hours=1)
    inside = {
        "during": b.batch_between(p, start + hour, end - hour),
        "over the start": b.batch_between(p, start - hour, start + hour),
        "over the end": b.batch_between(p, end - hour, end + hour),
        "still running": b.batch_between(p, start - 5 * hour, None),
        "spanning the window": b.batch_between(p, start - hour, end + hour),
    }
    outside = {
        "before": b.batch_between(p, start - 5 * hour, start - hour),
        "after": b.batch_between(p, end + hour, end + 2 * hour),
        "never started": b.batch_between(p, None, None),
        "another room": b.batch_between(p, start + hour, end - hour, room=p.grade_a),
    }
    before = Deviation.objects.count()

    b.read(p, sample, 6, fake_clock)  # grade B contact plate: action limit 5 CFU

    sample.refresh_from_db()
    assert sample.level == "action"
    excursion = Excursion.objects.get(sample=sample, kind="action")
    assert (excursion.window_start, excursion.window_end) == (start, end)
    assert {x.number for x in excursion.batches.all()} == {x.number for x in inside.values()}
    assert Deviation.objects.count() == before + 1
    deviation = excursion.deviation
    assert (deviation.source, deviation.category, deviation.sponsor) == ("environmental", "environmental", None)
    assert _linked_batches(deviation) == {str(x.pk) for x in inside.values()}
    assert not _linked_batches(deviation) & {str(x.pk) for x in outside.values()}


@pytest.mark.req("A1-3")
def test_window_starts_at_the_exposure_or_a_day_back_when_nothing_earlier_is_known(p, fake_clock):
    loc = b.location(p)
    settle = b.plate(p, loc, "settle_plate", exposure_minutes=120)
    contact = b.plate(p, loc)
    assert services.excursion_window(settle)[0] == settle.collected_at - dt.timedelta(minutes=120)
    assert services.excursion_window(contact)[0] == contact.collected_at - dt.timedelta(hours=24)


@pytest.mark.req("A1-3")
def test_an_invalidated_sample_is_not_the_last_time_the_location_was_known(p, fake_clock):
    loc = b.location(p)
    invalid = b.plate(p, loc)
    services.invalidate_sample(p.coordinator, invalid, reason="plate dropped")
    fake_clock.advance(hours=2)
    sample = b.plate(p, loc)
    assert services.excursion_window(sample)[0] == sample.collected_at - dt.timedelta(hours=24)


@pytest.mark.req("A1-3")
def test_grade_a_one_cfu_is_an_action_excursion(p, fake_clock):
    loc = b.location(p, "A-L1", room=p.grade_a)
    sample = b.read(p, b.plate(p, loc), 1, fake_clock)
    assert sample.level == "action"
    assert Excursion.objects.filter(sample=sample, kind="action", deviation__isnull=False).count() == 1


@pytest.mark.req("A1-5")
def test_an_alert_result_asks_qa_to_acknowledge(p, fake_clock):
    LevelSet.objects.create(grade="B", sample_type="contact_plate", state="in_operation", alert_level=Decimal(2),
                            action_level=Decimal(4), method="manual", status="approved", number="EML-T1",
                            created_at=fake_clock(), modified_at=fake_clock(), created_by=p.coordinator,
                            effective_at=fake_clock())
    sample = b.read(p, b.plate(p, b.location(p)), 3, fake_clock)
    assert sample.level == "alert"
    excursion = Excursion.objects.get(sample=sample)
    assert (excursion.kind, excursion.deviation) == ("alert", None)
    assert any(t.record == excursion.number and "EM alerts to acknowledge" in t.title for t in tasks.tasks_for(p.qa))
    assert not any(t.record == excursion.number for t in tasks.tasks_for(p.sampler))
    with pytest.raises(PermissionDenied):
        services.acknowledge_excursion(p.sampler, excursion, assessment="fine")
    services.identify_organism(p.reader, sample, organism="Micrococcus luteus", method="MALDI-TOF")
    services.acknowledge_excursion(p.qa, excursion, assessment="Within trend; gowning retrained.")
    excursion.refresh_from_db()
    assert (excursion.status, excursion.acknowledged_by) == ("acknowledged", p.qa)
    assert not any(t.record == excursion.number for t in tasks.tasks_for(p.qa))


@pytest.mark.req("A1-3")
def test_grade_b_growth_is_identified_before_the_excursion_is_acknowledged(p, fake_clock):
    sample = b.read(p, b.plate(p, b.location(p)), 6, fake_clock)
    excursion = Excursion.objects.get(sample=sample, kind="action")
    with pytest.raises(RuleViolation, match="identify the organism"):
        services.acknowledge_excursion(p.qa, excursion, assessment="seen")
    services.identify_organism(p.reader, sample, organism="Staphylococcus epidermidis", method="MALDI-TOF", cfu=6)
    services.acknowledge_excursion(p.qa, excursion, assessment="Skin flora; under DEV investigation.")
    assert Excursion.objects.get(pk=excursion.pk).status == "acknowledged"


@pytest.mark.req("A1-5")
def test_a_trend_at_the_newest_point_is_raised_once(p, fake_clock):
    loc = b.location(p, types=("particles_0_5",))
    # steady, then six points steadily increasing (rule 3, not rule 1); all far within the limits
    for count in (100, 150, 100, 150, 100, 101, 102, 103, 104, 105):
        fake_clock.advance(hours=8)
        last = services.collect_sample(p.sampler, location=loc, sample_type="particles_0_5", state="in_operation",
                                       volume_litres="1000", instrument=p.particle_counter, count=count)
    trends = Excursion.objects.filter(sample=last, kind="trend")
    assert [t.rule for t in trends] == ["Nelson rule 3: Six points in a row steadily increasing or decreasing"]
    assert last.level == "within"
    assert not Excursion.objects.filter(kind="trend").exclude(sample=last).exists()


@pytest.mark.req("A1-5")
def test_three_alert_or_worse_results_in_thirty_days_are_an_adverse_trend(p, fake_clock):
    loc = b.location(p, "A-L2", room=p.grade_a, types=("contact_plate",))
    found = []
    for _ in range(3):
        sample = b.read(p, b.plate(p, loc), 1, fake_clock)
        found.append(list(Excursion.objects.filter(sample=sample, kind="trend").values_list("rule", flat=True)))
    assert "3 alert-or-worse results in 30 days" not in found[1]
    assert "3 alert-or-worse results in 30 days" in found[2]


@pytest.mark.req("A1-3")
def test_a_sample_with_an_action_excursion_is_not_invalidated_here(p, fake_clock):
    sample = b.read(p, b.plate(p, b.location(p)), 6, fake_clock)
    with pytest.raises(RuleViolation, match="through its deviation"):
        services.invalidate_sample(p.coordinator, sample, reason="contaminated during reading")
    assert EmSample.objects.get(pk=sample.pk).status == "read"
