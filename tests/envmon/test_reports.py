"""The EM monthly report (A1-3, A1-5): per room the results by type and level, the excursions
with their deviations and batches, the organisms identified; the PDF's issue audited with its SHA-256."""

import datetime as dt
import hashlib
import io

import pytest
from pypdf import PdfReader

from opencdmo.core import clock
from opencdmo.core.domain.roles import Role
from opencdmo.core.errors import PermissionDenied, RuleViolation
from opencdmo.core.models import AuditEvent
from opencdmo.envmon import reports
from opencdmo.envmon.models import Identification
from opencdmo.quality import services as quality_services
from tests.batches import builders as batch_builders

from . import builders

FEBRUARY = dt.date(2026, 2, 1)


@pytest.fixture
def month(db, fake_clock, sponsor_a, make_user):
    user = make_user("em.reviewer", Role.QC_REVIEWER, sponsors=[sponsor_a])
    room = builders.room("EM-B20", grade="B")
    loc, *_ = builders.locations(room, user, 2, sample_types=("settle_plate", "contact_plate"))
    builders.level_set(user, "B", "settle_plate", 2, 4)
    start = dt.datetime(2026, 2, 1, 6, tzinfo=dt.UTC)
    builders.samples(loc, user, [0, 1, 3, 1], sample_type="settle_plate", start=start)
    (action,) = builders.samples(loc, user, [6], sample_type="settle_plate", start=start + dt.timedelta(days=10))
    builders.samples(loc, user, [0, 0], sample_type="contact_plate", start=start)
    builders.samples(loc, user, [9], sample_type="settle_plate", start=start - dt.timedelta(days=2))  # January
    batch = builders.batch_in_room(batch_builders.world(sponsor_a).batch, room, start, start + dt.timedelta(days=20))
    deviation = quality_services.raise_deviation(user, title="Settle plate at action level", description="6 CFU",
                                                 source="environmental")
    excursion = builders.excursion(action, user, batches=[batch], deviation=deviation)
    Identification.objects.create(sample=action, organism="Staphylococcus epidermidis", method="MALDI-TOF", cfu=6,
                                  identified_by=user, identified_at=clock.now())
    return user, room, excursion, deviation, batch


@pytest.mark.req("A1-5")
def test_monthly_report_counts_results_by_type_and_level_within_the_month(month):
    _, room, excursion, _, _ = month
    report = reports.monthly_report(FEBRUARY, with_charts=False)
    (r,) = report.rooms
    counts = {c["sample_type"]: (c["total"], c["within"], c["alert"], c["action"]) for c in r.counts}
    assert counts == {"settle_plate": (5, 3, 1, 1), "contact_plate": (2, 2, 0, 0)}
    assert [x.number for x in r.excursions] == [excursion.number]
    assert [o["organism"] for o in r.organisms] == ["Staphylococcus epidermidis"]


def test_monthly_report_pdf_names_room_counts_excursion_deviation_and_batch_and_is_audited(month):
    user, room, excursion, deviation, batch = month
    pdf = reports.monthly_report_pdf(user, FEBRUARY, room=room)
    text = " ".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)
    for expected in (room.code, "Settle plate", "Contact plate", excursion.number, deviation.number, batch.number,
                     "Staphylococcus epidermidis", "February 2026"):
        assert expected in text, expected
    event = AuditEvent.objects.filter(action="export").latest("id")
    assert event.record_id == "2026-02" and hashlib.sha256(pdf).hexdigest() in event.changes


@pytest.mark.parametrize("text", ["2026-13", "last month", "", "1999-12", "2027-01"])
def test_month_must_be_a_past_or_current_month_as_yyyy_mm(db, fake_clock, text):
    with pytest.raises(RuleViolation, match="Choose a month"):
        reports.month_of(text)


def test_only_envmon_staff_issue_the_report(month, make_user, sponsor_a):
    viewer = make_user("sponsor.viewer", Role.SPONSOR_VIEWER, sponsors=[sponsor_a])
    with pytest.raises(PermissionDenied):
        reports.monthly_report_pdf(viewer, FEBRUARY)
