"""The demo laboratory, seeded once for this module by the whole `seed-demo` (under a fixed clock):
what the user guides promise is there — an OOS in Phase II with its deviation, worklists for the
analyst and the reviewer, a stability study with its next pull due next month and a trend to
plot, the incoming QC of the quarantined vector lot — and each sponsor sees only its own."""

import contextlib
import datetime as dt

import pytest
from django.db import transaction

from opencdmo.core import clock, context
from opencdmo.core.models import User
from opencdmo.demo.management.commands.seed_demo import Command
from opencdmo.processes import selectors as process_selectors
from opencdmo.qc import models as qc_models
from opencdmo.qc import selectors
from opencdmo.qc.domain.stability import end_of_next_month
from opencdmo.qc.models import OosInvestigation, Sample, StabilityStudy
from opencdmo.quality.models import DeviationLink
from tests.conftest import FakeClock

DEMO_NOW = dt.datetime(2026, 3, 2, 8, 30, tzinfo=dt.UTC)
# One seeded demo per module: its tests stay together on one xdist worker.
pytestmark = pytest.mark.xdist_group("qc_demo")


@contextlib.contextmanager
def seeded_demo(django_db_blocker):
    """The whole demo in one transaction, rolled back when the module is done; yields
    (the seed's printed summary, the users by user ID). Tests run in savepoints inside it."""
    with django_db_blocker.unblock(), clock.use_clock(FakeClock(DEMO_NOW)), transaction.atomic():
        with context.action(client_address="seed-demo"):
            summary = Command()._seed()
        yield summary, {u.username: u for u in User.objects.all()}
        transaction.set_rollback(True)
    # Rolled back, its rows' ids and fixed-clock stamps come again in later tests: forget what was cached by them.
    process_selectors._released_definition.cache_clear()


@pytest.fixture(scope="module")
def demo(django_db_setup, django_db_blocker):
    with seeded_demo(django_db_blocker) as seeded:
        yield seeded


@pytest.fixture
def users(demo, db):
    with clock.use_clock(FakeClock(DEMO_NOW)):
        yield demo[1]


def test_the_aav_batch_has_an_oos_in_phase_two_with_its_deviation(users):
    oos = OosInvestigation.objects.select_related("result__test", "result__sample", "deviation").get()
    assert oos.status == "phase_2" and oos.closed_at is None
    assert (oos.result.test.attribute, oos.result.reported, oos.result.conformance) == (
        "Full capsids", "62.0", qc_models.TestResult.Conformance.DOES_NOT_CONFORM)
    assert oos.result.sample.product.code == "NVG-201" and oos.sponsor.code == "NORDV"
    assert all(entry["answer"] == "yes" for entry in oos.checklist) and not oos.assignable_cause
    assert oos.deviation.source == "oos" and oos.deviation.status not in ("closed", "cancelled")
    linked = DeviationLink.objects.filter(deviation=oos.deviation).values_list("record_type", flat=True)
    assert "qc.oosinvestigation" in set(linked)
    assert oos.production_review and not oos.batch_impact  # Phase II under way


def test_the_analyst_and_the_reviewer_have_work(users):
    chen, ross = users["qc.chen"], users["qcr.ross"]
    due = list(selectors.worklist(chen, kind="due"))
    assert due
    today = clock.site_today()
    from django.utils import timezone  # noqa: PLC0415

    assert any(s.due_at and timezone.localdate(s.due_at) == today and s.description.startswith("Residual host-cell")
               for s in due)
    to_review = list(selectors.worklist(ross, kind="review"))
    assert [(r.test.attribute, r.sample.product.code) for r in to_review] == [("Endotoxin", "NVG-201")]
    assert list(selectors.worklist(chen, kind="review")) == []  # the analyst never reviews their own


def test_results_were_entered_by_the_analyst_on_usable_instruments_and_reviewed_by_another(users):
    results = qc_models.TestResult.objects.select_related("test__method", "instrument")
    assert results.count() >= 30
    for result in results:
        assert result.analyst.username == "qc.chen"
        if result.test.method.instrument_kinds:
            assert result.instrument is not None and result.instrument.kind in result.test.method.instrument_kinds
        if result.status == "reviewed":
            assert result.reviewed_by.username == "qcr.ross"


def test_the_stability_study_has_four_tested_pulls_and_the_next_due_next_month(users):
    chen = users["qc.chen"]
    study = StabilityStudy.objects.get()
    assert study.status == "active" and study.product.code == "HLX-101"
    pulled = study.pulls.filter(pulled_at__isnull=False).order_by("months")
    assert [p.months for p in pulled] == [0, 3, 6, 9]
    for pull in pulled:
        assert not pull.sample.results.exclude(status="reviewed").exists()
        assert pull.sample.results.count() == study.specification.tests.count()
    today = clock.site_today()
    due = selectors.pulls_due(chen, until=end_of_next_month(today))
    assert [(row.pull.study, row.pull.months) for row in due] == [(study, 12)]
    assert today < due[0].pull.due_date <= end_of_next_month(today)
    viability = study.specification.tests.get(attribute="Viability")
    chart = selectors.trend_chart(study, viability)
    assert "<svg" in chart


def test_the_quarantined_vector_lot_has_incoming_results(users):
    sample = Sample.objects.get(subject_type="materials.lot")
    assert sample.specification.code == "LV-CD19-IN" and sample.status == "in_testing"
    from opencdmo.materials.models import Lot  # noqa: PLC0415

    assert Lot.objects.get(number=sample.subject_ref).status == "quarantine"
    assert {r.test.attribute for r in sample.results.filter(status="reviewed")} == {
        "Functional titer", "Endotoxin", "Mycoplasma"}


def test_each_sponsor_viewer_sees_only_its_own_laboratory_records(users):
    helix, nord = users["helix.quality"], users["nordvector.quality"]
    assert selectors.samples_for(nord).filter(product__code="HLX-101").count() == 0
    assert selectors.samples_for(nord).filter(product__code="NVG-201").exists()
    assert selectors.samples_for(helix).filter(product__code="NVG-201").count() == 0
    assert list(selectors.investigations_for(helix)) == []
    assert len(list(selectors.investigations_for(nord))) == 1
    assert list(selectors.studies_for(nord)) == []
    assert len(list(selectors.studies_for(helix))) == 1


def test_the_seed_prints_what_the_laboratory_holds(demo):
    summary = demo[0]
    assert any("Phase II" in line for line in summary)
    assert any("conditionally released" in line for line in summary)
    assert any("stability" in line for line in summary)


def test_the_demo_audit_trail_is_intact(users):
    from opencdmo.core.verification import verify_audit_trail  # noqa: PLC0415

    result = verify_audit_trail()
    assert result.intact, result.first_break
