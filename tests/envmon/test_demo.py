"""The demo environmental monitoring, seeded once for this module by the whole `seed-demo` (under a
fixed clock): what the user guides promise is there — the programme on four floor plans, six weeks
of results, level sets in force and one awaiting the QA approver, an acknowledged and an open
alert, an action excursion with its deviation and organism, plates to read, samples due, an
approved classification — and the CAR-T batch's EM met. Every main EM page opens for EM staff."""

from decimal import Decimal

import pytest
from django.urls import reverse

from opencdmo.batches.models import Batch
from opencdmo.core import clock, tasks
from opencdmo.envmon import selectors
from opencdmo.envmon.models import Classification, Excursion, LevelSet, Location, Plan
from opencdmo.quality.models import Deviation, DeviationLink
from tests.conftest import FakeClock
from tests.qc.test_demo import DEMO_NOW, seeded_demo
from tests.web.conftest import signed_in

# One seeded demo per module: its tests stay together on one xdist worker.
pytestmark = pytest.mark.xdist_group("envmon_demo")

ROOMS = ("A-BSC-101", "B-101", "C-201", "D-001")


@pytest.fixture(scope="module")
def demo(django_db_setup, django_db_blocker):
    with seeded_demo(django_db_blocker) as seeded:
        yield seeded


@pytest.fixture
def users(demo, db):
    with clock.use_clock(FakeClock(DEMO_NOW)):
        yield demo[1]


def test_four_rooms_have_a_floor_plan_and_a_programme(users):
    for code in ROOMS:
        locations = Location.objects.filter(room__code=code, is_active=True)
        assert 4 <= locations.count() <= 8, code
        assert locations.first().room.floor_area_m2
    assert Plan.objects.filter(is_active=True).count() == 27
    assert set(Plan.objects.filter(location__room__code="A-BSC-101").values_list("frequency", flat=True)) == {
        "per_batch", "per_shift"}
    assert set(Plan.objects.filter(location__room__code="B-101").values_list("frequency", flat=True)) == {"daily"}
    assert set(Plan.objects.filter(location__room__code__in=("C-201", "D-001"))
               .values_list("frequency", flat=True)) == {"weekly"}


@pytest.mark.req("A1-3")
def test_a_computed_a_manual_and_a_draft_level_set_awaiting_the_qa_approver(users):
    approved = LevelSet.objects.filter(status="approved")
    computed = approved.get(method="mean_k_sigma")
    assert (computed.room.code, computed.sample_type, computed.history_count) == ("B-101", "settle_plate", 24)
    assert computed.action_level <= 5  # Annex 1 grade B settle plates
    assert approved.get(method="manual").grade == "C"
    waiting = LevelSet.objects.get(status="reviewed")
    dubois, patel = users["qp.dubois"], users["qa.patel"]
    assert waiting.number in {t.record for t in tasks.tasks_for(dubois) if t.title.startswith("Approve the alert")}
    assert waiting.number not in {t.record for t in tasks.tasks_for(patel)}  # she reviewed it


def test_an_alert_acknowledged_last_week_and_one_open_for_qa(users):
    alerts = Excursion.objects.filter(kind="alert", room__code="B-101")
    done = alerts.get(status="acknowledged")
    assert done.acknowledged_by.username == "qa.patel"
    assert done.sample.identifications.get().organism == "Micrococcus luteus"
    open_alert = alerts.get(status="open")
    assert open_alert.number in {t.record for t in tasks.tasks_for(users["qa.patel"])}


def test_the_c201_action_excursion_has_one_deviation_and_its_organism(users):
    action = Excursion.objects.get(kind="action", room__code="C-201")
    sample = action.sample
    assert (action.room.code, sample.sample_type, sample.count) == ("C-201", "contact_plate", 31)
    assert sample.identifications.get().organism == "Bacillus cereus"
    assert Deviation.objects.filter(pk=action.deviation_id, source="environmental").count() == 1
    assert DeviationLink.objects.filter(deviation=action.deviation, record_type="envmon.emsample").count() == 1
    # It names the batches made in C-201 between the location's previous plate and this one.
    assert set(action.batches.all()) == set(selectors.batches_in_room(action.room, action.window_start,
                                                                      action.window_end))


@pytest.mark.req("A1-2")
def test_a_particle_burst_in_the_car_t_suite_names_the_running_batch(users):
    action = Excursion.objects.get(kind="action", room__code="B-101")
    assert (action.sample.sample_type, action.sample.value) == ("particles_0_5", Decimal("412500.00"))
    running = Batch.objects.get(room__code="B-101", started_at__isnull=False, completed_at__isnull=True)
    assert list(action.batches.all()) == [running]
    assert DeviationLink.objects.filter(deviation=action.deviation, record_type="batches.batch",
                                        record_id=str(running.pk)).count() == 1
    assert selectors.batch_em_summary(running).state == "unmet"


def test_plates_to_read_and_samples_due_today(users):
    chen = users["qc.chen"]
    to_read = [t for t in tasks.tasks_for(chen) if t.title == "Read the plate"]
    assert len(to_read) == 1
    assert selectors.in_incubation().count() >= 4
    due = selectors.due_samples()
    assert {d.room.code for d in due} >= {"B-101", "C-201", "D-001"}
    assert any(t.title.startswith("Take the") for t in tasks.tasks_for(users["op.olsen"]))


@pytest.mark.req("A1-6")
def test_b101_classified_at_rest_and_the_cabinet_due(users):
    c = Classification.objects.get()
    assert (c.room.code, c.state, c.status, c.passed) == ("B-101", "at_rest", "approved", True)
    assert not selectors.missing_readings(c)
    assert c.performed_by.username == "qcr.ross"
    due = {(d.room.code, d.state): d for d in selectors.classifications_due()}
    assert not due["B-101", "at_rest"].overdue
    assert due["A-BSC-101", "at_rest"].overdue
    response = signed_in(users["qcr.ross"]).get(reverse("envmon:classification_pdf", args=[c.number]))
    assert response.status_code == 200 and response.content.startswith(b"%PDF")


def test_the_car_t_batch_em_is_met(users):
    batch = Batch.objects.get(number="B-2026-0001")
    summary = selectors.batch_em_summary(batch)
    assert summary.state == "met", summary.detail
    assert summary.total >= 2 and summary.unread == 0


@pytest.mark.parametrize("username", ["qcr.ross", "qc.chen", "qa.patel", "qp.dubois"])
def test_the_main_em_pages_open_for_em_staff(users, username):
    client = signed_in(users[username])
    action = Excursion.objects.get(kind="action", room__code="C-201")
    pages = [reverse("core:home"), reverse("envmon:worklist"), reverse("envmon:rooms"),
             reverse("envmon:excursions"), reverse("envmon:levels"), reverse("envmon:classifications"),
             reverse("envmon:samples"), reverse("envmon:excursion", args=[action.number]),
             reverse("envmon:sample", args=[action.sample.number]),
             reverse("envmon:level", args=[LevelSet.objects.get(status="reviewed").number]),
             reverse("envmon:classification", args=[Classification.objects.get().number]),
             reverse("envmon:batch_summary", args=["B-2026-0001"]),
             *(reverse("envmon:room", args=[code]) for code in ROOMS),
             reverse("envmon:location", args=["B101-01"])]
    for page in pages:
        assert client.get(page).status_code == 200, page


def test_the_demo_audit_trail_is_intact(users):
    from opencdmo.core.verification import verify_audit_trail  # noqa: PLC0415

    result = verify_audit_trail()
    assert result.intact, result.first_break
