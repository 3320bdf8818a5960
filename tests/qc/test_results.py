"""Results: entry with the instrument used (calibration interlock), evaluation at once, second-
person review with a signature, invalidation only with a reason and QA approval, no testing into
compliance, out-of-trend against the product's history (issue 7, item 3)."""

import datetime as dt
from decimal import Decimal

import pytest

from opencdmo.core.errors import Conflict, NotFound, PermissionDenied, RuleViolation
from opencdmo.qc import models, selectors, services, signals
from opencdmo.qc.models import OosInvestigation
from tests.factories import signature
from tests.qc import builders

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _clock(fake_clock):
    return fake_clock


@pytest.fixture
def lab(sponsor_a):
    return builders.people(sponsor_a)


@pytest.fixture
def spec(lab, sponsor_a):
    return builders.approved_spec(lab["reviewer"], sponsor_a)


@pytest.fixture
def counter(lab):
    return builders.instrument(lab["supervisor"], lab["qa"])


@pytest.fixture
def sample(lab, spec):
    return builders.sample(lab["analyst"], spec)


def viability(spec):
    return spec.tests.get(attribute="Viability")


def endotoxin(spec):
    return spec.tests.get(attribute="Endotoxin")


def enter(lab, sample, test, value, *, who="analyst", **kwargs):
    kwargs.setdefault("submission_id", builders.submission())
    return services.enter_result(lab[who], sample, test, value=value, **kwargs)


@pytest.mark.req("P11-1h")
@pytest.mark.parametrize(("value", "reported", "conformance"), [
    ("69.96", "70.0", "conforms"),  # rounded to one decimal before comparison: meets ≥ 70.0 %
    ("70.0", "70.0", "conforms"),
    ("69.94", "69.9", "does_not_conform"),
])
def test_evaluation_at_the_boundary_is_stored(lab, sample, spec, counter, value, reported, conformance):
    result = enter(lab, sample, viability(spec), value, instrument=counter)
    result.refresh_from_db()
    assert (result.value, result.reported, result.conformance) == (value, reported, conformance)
    assert result.numeric_value == Decimal(reported) and result.unit == "%" and result.attempt == 1
    assert (result.analyst, result.instrument, result.status) == (lab["analyst"], counter, "entered")


@pytest.mark.req("OOS-1")
def test_a_failing_result_opens_an_oos_investigation_in_its_transaction(lab, sample, spec, counter):
    result = enter(lab, sample, viability(spec), "55.0", instrument=counter)
    assert OosInvestigation.objects.get(result=result).status == "phase_1"
    passing = enter(lab, sample, endotoxin(spec), "0.10")
    assert not OosInvestigation.objects.filter(result=passing).exists()


def test_unreadable_value_is_refused_with_what_to_enter(lab, sample, spec):
    with pytest.raises(RuleViolation, match="not a number"):
        enter(lab, sample, endotoxin(spec), "abc")
    assert not models.TestResult.objects.exists()


@pytest.mark.req("P11-1h")
def test_instrument_out_of_calibration_is_refused_and_nothing_written(lab, sample, spec, counter, fake_clock):
    fake_clock.advance(days=31)  # calibration every 30 days
    with pytest.raises(RuleViolation, match=f"{counter.number} may not be used"):
        enter(lab, sample, viability(spec), "80.0", instrument=counter)
    assert not models.TestResult.objects.exists()
    sample.refresh_from_db()
    assert sample.status == "received"


@pytest.mark.req("P11-1h")
def test_wrong_instrument_kind_and_missing_instrument_are_refused(lab, sample, spec):
    balance = builders.instrument(lab["supervisor"], lab["qa"], kind="balance")
    with pytest.raises(RuleViolation, match="runs on cell_counter"):
        enter(lab, sample, viability(spec), "80.0", instrument=balance)
    with pytest.raises(RuleViolation, match="choose the one you used"):
        enter(lab, sample, viability(spec), "80.0")
    assert not models.TestResult.objects.exists()


def test_method_sop_must_be_effective(lab, sample, spec, counter):
    from tests.documents.builders import draft

    document = draft(lab["qa"], "Viability counting")[0]
    method = viability(spec).method
    method.sop = document
    method.save()
    with pytest.raises(RuleViolation, match="no effective version"):
        enter(lab, sample, viability(spec), "80.0", instrument=counter)


def test_result_needs_receipt_and_an_ordered_test(lab, spec, sponsor_a):
    sample = builders.sample(lab["analyst"], spec, received=False)
    with pytest.raises(RuleViolation, match="Receive"):
        enter(lab, sample, endotoxin(spec), "0.1")
    other = builders.approved_spec(lab["reviewer"], sponsor_a)
    services.receive_sample(lab["analyst"], sample, location="Fridge")
    with pytest.raises(RuleViolation, match="not ordered"):
        enter(lab, sample, endotoxin(other), "0.1")


def test_result_needs_the_permission(make_user, sponsor_a, sample, spec):
    from opencdmo.core.domain.roles import Role

    qa = make_user("qa.x", Role.QA_SPECIALIST, sponsors=[sponsor_a])
    with pytest.raises(PermissionDenied):
        services.enter_result(qa, sample, endotoxin(spec), value="0.1", submission_id=builders.submission())


def test_sample_progresses_to_tested(lab, spec, counter):
    sample = builders.sample(lab["analyst"], spec, tests=[viability(spec), endotoxin(spec)])
    enter(lab, sample, viability(spec), "80.0", instrument=counter)
    sample.refresh_from_db()
    assert sample.status == "in_testing"
    enter(lab, sample, endotoxin(spec), "0.10")
    sample.refresh_from_db()
    assert sample.status == "tested"


@pytest.mark.req("P11-1d")
def test_same_submission_twice_returns_the_same_result(lab, sample, spec):
    sid = builders.submission()
    first = enter(lab, sample, endotoxin(spec), "0.10", submission_id=sid)
    again = enter(lab, sample, endotoxin(spec), "0.10", submission_id=sid)
    assert again.pk == first.pk and models.TestResult.objects.count() == 1
    with pytest.raises(Conflict):
        enter(lab, sample, endotoxin(spec), "0.20", submission_id=sid)
    assert models.TestResult.objects.count() == 1


@pytest.mark.req("OOS-1")
def test_second_result_without_retest_of_is_refused(lab, sample, spec):
    first = enter(lab, sample, endotoxin(spec), "0.10")
    with pytest.raises(RuleViolation, match="no testing into compliance"):
        enter(lab, sample, endotoxin(spec), "0.05")
    # An aliquot or another sample of the same batch is the same subject: refused too.
    again = builders.sample(lab["analyst"], spec, subject_ref=sample.subject_ref)
    with pytest.raises(RuleViolation, match="no testing into compliance"):
        enter(lab, again, endotoxin(spec), "0.05")
    # Naming the original is not enough: an OOS investigation must order the retest.
    with pytest.raises(RuleViolation, match="No retest"):
        enter(lab, sample, endotoxin(spec), "0.05", retest_of=first)
    assert models.TestResult.objects.count() == 1


@pytest.mark.req("P11-1g")
def test_analyst_cannot_review_own_result(lab, sample, spec):
    result = enter(lab, sample, endotoxin(spec), "0.10", who="reviewer")  # a reviewer may also test
    with pytest.raises(RuleViolation, match="Segregation: you entered this result"):
        services.transition_result(lab["reviewer"], result, "review",
                                   signature=signature(lab["reviewer"], "Reviewed"))
    result.refresh_from_db()
    assert result.status == "entered"
    with pytest.raises(PermissionDenied):  # an analyst may not review at all
        services.transition_result(lab["analyst"], result, "review", signature=signature(lab["analyst"], "Reviewed"))


@pytest.mark.req("P11-1g")
def test_review_by_a_second_person_is_signed_and_stamped(lab, sample, spec, fake_clock):
    result = enter(lab, sample, endotoxin(spec), "0.10")
    seen = []
    signals.result_changed.connect(lambda **kw: seen.append(kw["event"]), sender=models.TestResult, weak=False,
                                   dispatch_uid="h2-test")
    try:
        result = services.transition_result(lab["reviewer"], result, "review",
                                            signature=signature(lab["reviewer"], "Reviewed"))
    finally:
        signals.result_changed.disconnect(sender=models.TestResult, dispatch_uid="h2-test")
    assert (result.status, result.reviewed_by, result.reviewed_at) == ("reviewed", lab["reviewer"], fake_clock())
    assert result.signatures.filter(meaning="Reviewed").exists() if hasattr(result, "signatures") else True
    assert seen == ["reviewed"]


@pytest.mark.req("OOS-1")
def test_invalidation_needs_a_reason_and_qa_approval_and_the_result_stays(lab, sample, spec):
    result = enter(lab, sample, endotoxin(spec), "0.10")
    with pytest.raises(RuleViolation, match="reason"):
        services.transition_result(lab["analyst"], result, "request_invalidation", reason=" ")
    result = services.transition_result(lab["analyst"], result, "request_invalidation",
                                        reason="wrong dilution used")
    assert result.status == "invalidation_requested" and result.invalidation_reason == "wrong dilution used"
    for who in ("analyst", "reviewer"):  # neither the analyst nor the reviewer may approve it
        with pytest.raises(PermissionDenied):
            services.transition_result(lab[who], result, "approve_invalidation",
                                       signature=signature(lab[who], "Approved"))
    result = services.transition_result(lab["qa"], result, "approve_invalidation",
                                        signature=signature(lab["qa"], "Approved"))
    assert (result.status, result.invalidated_by) == ("invalidated", lab["qa"])
    assert result.invalidation_reason == "wrong dilution used"
    # Still there for everyone to see, and a new attempt is now allowed without retest_of.
    assert [r.pk for r in selectors.results_of(sample)] == [result.pk]
    retest = enter(lab, sample, endotoxin(spec), "0.12")
    assert retest.attempt == 2 and retest.retest_of is None
    assert [r.status for r in selectors.results_of(sample)] == ["invalidated", "entered"]


def test_declined_invalidation_goes_back_to_entered_with_a_reason(lab, sample, spec):
    result = enter(lab, sample, endotoxin(spec), "0.10")
    result = services.transition_result(lab["reviewer"], result, "review", signature=signature(lab["reviewer"],
                                                                                            "Reviewed"))
    result = services.transition_result(lab["analyst2"], result, "request_invalidation", reason="transcription error")
    with pytest.raises(RuleViolation, match="reason"):
        services.transition_result(lab["qp"], result, "decline_invalidation")
    result = services.transition_result(lab["qp"], result, "decline_invalidation", reason="the entry is correct")
    assert result.status == "entered" and result.invalidation_reason == ""
    assert (result.reviewed_by, result.reviewed_at) == (None, None)  # to be reviewed again


def test_mark_invalidated_is_the_internal_step(lab, sample, spec):
    result = enter(lab, sample, endotoxin(spec), "0.10")
    result = services.mark_invalidated(lab["qa"], result, reason="Phase I: pipetting error confirmed")
    assert result.status == "invalidated" and result.invalidated_by == lab["qa"]
    assert result.invalidation_reason.startswith("Phase I")


def _history(lab, spec, counter, values, fake_clock):
    """Reviewed conforming viability results of the product, one batch each."""
    for index, value in enumerate(values):
        sample = builders.sample(lab["analyst"], spec, subject_ref=f"B-HIST-{index:02d}")
        result = enter(lab, sample, viability(spec), value, instrument=counter)
        services.transition_result(lab["reviewer"], result, "review", signature=signature(lab["reviewer"], "Reviewed"))
        fake_clock.advance(hours=1)


def test_out_of_trend_is_flagged_against_the_product_history(lab, spec, counter, fake_clock):
    _history(lab, spec, counter, ["80.1", "80.4", "79.8", "80.0", "80.2", "79.9", "80.3", "80.1", "79.7", "80.0"],
             fake_clock)
    sample = builders.sample(lab["analyst"], spec, subject_ref="B-NEW")
    result = enter(lab, sample, viability(spec), "75.0", instrument=counter)
    assert result.out_of_trend and "last 10 results" in result.trend_note
    assert result.conformance == "conforms"  # out of trend is not out of specification
    assert not OosInvestigation.objects.filter(result=result).exists()
    normal = builders.sample(lab["analyst"], spec, subject_ref="B-NEW2")
    assert not enter(lab, normal, viability(spec), "80.2", instrument=counter).out_of_trend


def test_short_history_flags_nothing(lab, spec, counter, fake_clock):
    _history(lab, spec, counter, ["80.0", "80.1", "80.2"], fake_clock)
    sample = builders.sample(lab["analyst"], spec, subject_ref="B-NEW")
    assert not enter(lab, sample, viability(spec), "71.0", instrument=counter).out_of_trend


def test_worklist_lists_due_samples_overdue_first_and_what_is_left(lab, spec, counter, fake_clock):
    late = builders.sample(lab["analyst"], spec, subject_ref="B-LATE", due_at=fake_clock() - dt.timedelta(days=1))
    soon = builders.sample(lab["analyst"], spec, subject_ref="B-SOON")
    builders.sample(lab["analyst"], spec, subject_ref="B-NOT-IN", received=False)
    enter(lab, late, viability(spec), "80.0", instrument=counter)
    rows = selectors.worklist_details(selectors.worklist(lab["analyst"]))
    assert [r.number for r in rows] == [late.number, soon.number]
    assert rows[0].overdue and not rows[1].overdue
    assert (rows[0].ordered_count, rows[0].done_count) == (3, 1)
    assert [t.attribute for t in rows[0].left] == ["Sterility", "Endotoxin"]


def test_review_worklist_leaves_out_own_results(lab, sample, spec):
    mine = enter(lab, sample, endotoxin(spec), "0.10", who="reviewer")
    other = enter(lab, sample, spec.tests.get(attribute="Sterility"), "no growth")
    assert list(selectors.worklist(lab["reviewer"], kind="review")) == [other]
    assert set(selectors.worklist(lab["qa"], kind="review")) == {mine, other}


def test_sponsor_b_sees_no_sponsor_a_result(lab, sample, spec, sponsor_b):
    result = enter(lab, sample, endotoxin(spec), "0.10")
    other = builders.people(sponsor_b, prefix="b.")
    with pytest.raises(NotFound):
        selectors.result(other["reviewer"], result.number)
    with pytest.raises(NotFound):
        services.transition_result(other["reviewer"], result, "review",
                                   signature=signature(other["reviewer"], "Reviewed"))
    assert not selectors.worklist(other["reviewer"], kind="review").exists()


def test_tasks(lab, sample, spec):
    from opencdmo.core import tasks

    result = enter(lab, sample, endotoxin(spec), "0.10")
    assert any(t.record == sample.number for t in tasks.tasks_for(lab["analyst"]))
    assert any(t.record == str(result) for t in tasks.tasks_for(lab["reviewer"]))
    assert not any(t.record == str(result) and t.title == "Review the result"
                   for t in tasks.tasks_for(lab["analyst"]))
    services.transition_result(lab["analyst"], result, "request_invalidation", reason="typo")
    assert any(t.record == str(result) for t in tasks.tasks_for(lab["qa"]))


@pytest.mark.req("P11-1g")
def test_who_asked_for_the_invalidation_cannot_approve_it(lab, sample, spec, sponsor_a):
    from opencdmo.core.domain.roles import Role
    from tests.batches.builders import person

    both = person("qc.both", Role.QC_ANALYST, Role.QA_SPECIALIST, sponsors=[sponsor_a])
    result = enter(lab, sample, endotoxin(spec), "0.10")
    result = services.transition_result(both, result, "request_invalidation", reason="transcription error")
    with pytest.raises(RuleViolation, match="you asked for the invalidation"):
        services.transition_result(both, result, "approve_invalidation", signature=signature(both, "Approved"))
    assert services.transition_result(lab["qa"], result, "approve_invalidation",
                                      signature=signature(lab["qa"], "Approved")).status == "invalidated"
