"""ISO 14644-1 room classification: locations and sample volume from the room's area and class,
readings refused below the minimum volume or off the plan, the verdict on each location's mean,
approval by someone other than the performer, when the next one is due (A1-6), and the report."""

import datetime as dt
import io
from decimal import Decimal

import pytest
from pypdf import PdfReader

from opencdmo.core.domain.roles import Role
from opencdmo.core.errors import Conflict, NotFound, PermissionDenied, RuleViolation
from opencdmo.core.models import AuditEvent
from opencdmo.envmon import reports, selectors, services
from opencdmo.envmon.models import Classification, ClassificationReading
from tests.facilities.factories import equipment_in_service
from tests.factories import signature

from . import builders


@pytest.fixture(autouse=True)
def _server_clock(fake_clock):
    return fake_clock


@pytest.fixture
def people(make_user):
    return {"planner": make_user("em.coord", Role.QC_REVIEWER), "approver": make_user("qa.approver", Role.QA_APPROVER),
            "operator": make_user("op.one", Role.OPERATOR), "qa": make_user("qa.spec", Role.QA_SPECIALIST),
            "supervisor": make_user("sup.one", Role.SUPERVISOR)}


@pytest.fixture
def counter(people):
    room = builders.room("EM-LAB", grade="D")
    return equipment_in_service(people["supervisor"], people["qa"], number="EQ-PC-01", name="Particle counter 1",
                                kind="particle_counter", room=room)


def plan(people, room, **options):
    options.setdefault("state", "at_rest")
    return services.plan_classification(people["planner"], room, **options)


def read_all(people, c, count_at=lambda point, size: 0, volume=None):
    for point in range(1, c.location_count + 1):
        for size in selectors.classification_sizes(c):
            services.record_reading(people["planner"], c, point=point, size=size,
                                    volume_litres=volume or c.sample_volume_litres, count=count_at(point, size))


@pytest.mark.req("A1-6")
@pytest.mark.req("A1-4")
@pytest.mark.parametrize(("grade", "width", "length", "state", "iso_class", "locations", "volume", "sizes"), [
    ("B", "6", "4", "at_rest", 5, 6, Decimal("5.7"), [Decimal("0.5")]),  # 24 m²; ISO 5 at rest: ≥0.5 µm only
    ("B", "2", "1", "in_operation", 7, 1, Decimal("6.9"), [Decimal("0.5"), Decimal(5)]),  # 2 m²
    ("C", "10", "10", "at_rest", 7, 16, Decimal("6.9"), [Decimal("0.5"), Decimal(5)]),  # 100 m²
    ("D", "40", "50", "at_rest", 8, 54, Decimal("2"), [Decimal("0.5"), Decimal(5)]),  # 2000 m²: 27 × A/1000
])
def test_locations_and_sample_volume_come_from_the_area_and_the_class(people, grade, width, length, state, iso_class,
                                                                       locations, volume, sizes):
    room = builders.room(f"EM-{grade}{width}", grade=grade, width=width, length=length)
    c = plan(people, room, state=state)
    assert (c.iso_class, c.location_count, c.sample_volume_litres) == (iso_class, locations, volume)
    assert selectors.classification_sizes(c) == sizes and c.status == "draft"
    assert c.area_m2 == Decimal(width) * Decimal(length)


def test_a_room_without_a_floor_plan_or_an_unusable_counter_is_refused(people, counter, make_user):
    room = builders.room("EM-NOPLAN", grade="C", width=None, length=None)
    with pytest.raises(RuleViolation, match="no floor plan dimensions"):
        plan(people, room)
    room = builders.room("EM-C1", grade="C")
    with pytest.raises(RuleViolation, match="ISO class 7 sets no limit for particles ≥0.1 µm"):
        plan(people, room, sizes=["0.1"])
    assert plan(people, room, instrument=counter.number).instrument == counter
    cabinet = equipment_in_service(people["supervisor"], people["qa"], number="EQ-BSC-09", name="Cabinet",
                                   kind="biosafety_cabinet", room=counter.room)
    with pytest.raises(RuleViolation, match="particle counter"):
        plan(people, room, instrument=cabinet.number)
    with pytest.raises(NotFound):
        plan(people, "NO-ROOM")
    with pytest.raises(PermissionDenied, match="envmon.manage_programme"):
        services.plan_classification(people["operator"], room, state="at_rest")
    assert Classification.objects.count() == 1


@pytest.mark.req("A1-6")
@pytest.mark.parametrize(("fields", "error", "words"), [
    ({"volume_litres": "6.8"}, RuleViolation, "below the minimum sample volume of 6.9 L"),
    ({"point": "2"}, RuleViolation, "locations 1 to 1"),
    ({"point": "0"}, RuleViolation, "locations 1 to 1"),
    ({"size": "1"}, RuleViolation, "not ≥1 µm"),
    ({"count": "-3"}, RuleViolation, "negative"),
    ({"count": "2.5"}, RuleViolation, "whole number"),
    ({"volume_litres": "NaN"}, RuleViolation, "finite"),
    ({"volume_litres": "7.05"}, RuleViolation, "at most 1 decimal"),
    ({"count": 10**12}, RuleViolation, "at most"),
    ({"count": "lots"}, RuleViolation, "is a number"),
])
def test_readings_off_the_plan_or_below_the_volume_are_refused(people, fields, error, words):
    c = plan(people, builders.room("EM-SMALL", grade="B", width="2", length="1"), state="in_operation")
    reading = {"point": 1, "size": "0.5", "volume_litres": "6.9", "count": 10} | fields
    with pytest.raises(error, match=words):
        services.record_reading(people["planner"], c, **reading)
    assert not ClassificationReading.objects.exists()


def test_a_reading_is_stored_as_a_concentration_per_cubic_metre(people):
    c = plan(people, builders.room("EM-SMALL", grade="B", width="2", length="1"), state="in_operation")
    reading = services.record_reading(people["operator"], c, point=1, size="0.5", volume_litres="28.3", count=1000)
    assert reading.concentration == Decimal("35335.7") and reading.recorded_by == people["operator"]


@pytest.mark.req("A1-6")
def test_completion_needs_every_location_and_size_and_records_the_verdict(people):
    c = plan(people, builders.room("EM-C7", grade="C", width="3", length="3"))  # 9 m²: 5 locations, ISO 7
    services.record_reading(people["planner"], c, point=1, size="0.5", volume_litres="10", count=5)
    with pytest.raises(RuleViolation, match="no reading yet at location 1 ≥5.0 µm, location 2"):
        services.complete_classification(people["planner"], c)
    # Location 3 is over the ISO 7 limit of 2 930/m³ at ≥5 µm on its mean (two readings: 2 000 and 4 000).
    read_all(people, c, count_at=lambda point, size: 20 if (point, size) == (3, Decimal(5)) else 1, volume="10")
    services.record_reading(people["planner"], c, point=3, size="5", volume_litres="10", count=40)
    c = services.complete_classification(people["planner"], c)
    assert (c.status, c.passed, c.performed_by) == ("completed", False, people["planner"])
    grid = {(row.point, row.size): row for row in selectors.classification_grid(c)}
    assert grid[(3, Decimal(5))].result.mean == Decimal(3000) and not grid[(3, Decimal(5))].result.passed
    with pytest.raises(Conflict, match="only while it is in progress"):
        services.record_reading(people["planner"], c, point=1, size="0.5", volume_litres="10", count=1)


@pytest.mark.req("P11-1")
def test_the_performer_cannot_approve_and_approval_is_signed(people, make_user):
    both = make_user("qa.both", Role.QC_REVIEWER, Role.QA_APPROVER)
    c = plan(people, builders.room("EM-SMALL", grade="B", width="2", length="1"), state="in_operation")
    read_all(people, c)
    c = services.complete_classification(both, c)
    assert c.passed is True
    with pytest.raises(RuleViolation, match="you performed"):
        services.transition_classification(both, c, "approve", signature=signature(both, "Approved"))
    with pytest.raises(PermissionDenied):
        services.transition_classification(people["planner"], c, "approve",
                                           signature=signature(people["planner"], "Approved"))
    c = services.transition_classification(people["approver"], c, "approve",
                                           signature=signature(people["approver"], "Approved"))
    assert c.status == "approved"


@pytest.mark.req("P11-1")
def test_whoever_took_a_reading_cannot_approve(people, make_user):
    both = make_user("qa.reader", Role.QC_REVIEWER, Role.QA_APPROVER)
    c = plan(people, builders.room("EM-SMALL", grade="B", width="2", length="1"), state="in_operation")
    read_all(people, c)
    services.record_reading(both, c, point=1, size=selectors.classification_sizes(c)[0],
                            volume_litres=c.sample_volume_litres, count=0)
    c = services.complete_classification(people["planner"], c)
    with pytest.raises(RuleViolation, match="you performed"):
        services.transition_classification(both, c, "approve", signature=signature(both, "Approved"))


@pytest.mark.req("A1-6")
def test_a_room_is_due_6_or_12_months_after_its_last_approved_classification(people, fake_clock):
    b_room = builders.room("EM-SMALL", grade="B", width="2", length="1")
    d_room = builders.room("EM-D1", grade="D", width="2", length="1")
    due = {(d.room.code, d.state): d for d in selectors.classifications_due()}
    assert due["EM-SMALL", "at_rest"].overdue and due["EM-SMALL", "at_rest"].due_at is None  # never classified
    for room in (b_room, d_room):
        c = plan(people, room)
        read_all(people, c)
        services.complete_classification(people["planner"], c)
        services.transition_classification(people["approver"], c, "approve",
                                           signature=signature(people["approver"], "Approved"))
    due = {(d.room.code, d.state): d for d in selectors.classifications_due()}
    assert due["EM-SMALL", "at_rest"].due_at == dt.datetime(2026, 9, 2, 8, 30, tzinfo=dt.UTC)
    assert due["EM-D1", "at_rest"].due_at == dt.datetime(2027, 3, 2, 8, 30, tzinfo=dt.UTC)
    assert not any(d.overdue for (_, state), d in due.items() if state == "at_rest")
    # classified at rest only: in operation each room is still due (A1-6)
    assert due["EM-SMALL", "in_operation"].overdue and due["EM-D1", "in_operation"].overdue

    def soon():
        return {(d.room.code, d.state) for d in selectors.classifications_due(within_days=30)}
    assert ("EM-SMALL", "at_rest") not in soon()
    fake_clock.advance(days=170)
    assert ("EM-SMALL", "at_rest") in soon() and ("EM-D1", "at_rest") not in soon()
    titles = [t.record for t in selectors.classification_tasks(people["planner"]) if t.title == "Room classification due"]
    assert any("EM-SMALL" in t for t in titles)


@pytest.mark.req("P11-3")
def test_the_report_shows_the_readings_the_verdict_and_the_approval_signature(people):
    c = plan(people, builders.room("EM-SMALL", grade="B", width="2", length="1"), state="in_operation")
    with pytest.raises(RuleViolation, match="not completed yet"):
        reports.classification_pdf(c, user=people["planner"])
    read_all(people, c, count_at=lambda point, size: 3)
    c = services.complete_classification(people["planner"], c)
    services.transition_classification(people["approver"], c, "approve",
                                       signature=signature(people["approver"], "Approved"))
    pdf = reports.classification_pdf(c, user=people["planner"])
    text = " ".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)
    for words in ("EM-SMALL", "ISO class 7", "Verdict: PASS", "6.9 L", "Qa Approver", "Approved",
                  "2026-03-02 08:30:00 UTC", "Em Coord", "434.8"):
        assert words in text, words
    assert AuditEvent.objects.filter(action="export", record_id=str(c.pk)).exists()
