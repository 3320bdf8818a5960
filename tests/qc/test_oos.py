"""OOS investigations (OOS-1): Phase I with a checklist; an assignable laboratory cause invalidates
the result (QA, signed) and orders one retest on the original sample; otherwise Phase II with a
deviation, retests by a second analyst up to the SOP's number, and a conclusion that never lets
retests replace a confirmed original (no testing into compliance). The original result never
disappears."""

import uuid
from decimal import Decimal

import pytest

from opencdmo.core import clock
from opencdmo.core.domain.roles import Role
from opencdmo.core.errors import Conflict, NotFound, PermissionDenied, RuleViolation
from opencdmo.core.models import AuditEvent
from opencdmo.core.records import create_record
from opencdmo.qc import models as qc_models
from opencdmo.qc import selectors, services
from opencdmo.qc.domain import oos
from opencdmo.qc.models import OosInvestigation, Sample, Specification, SpecificationTest
from opencdmo.quality.models import Deviation, DeviationLink
from tests.factories import signature
from tests.qc import builders as qc_builders

pytestmark = [pytest.mark.django_db, pytest.mark.req("OOS-1")]


# --- Builders (also used by the pages' tests and the shared record fixtures) ---------------------

def release_specification(author, sponsor) -> Specification:
    """An approved release specification of the sponsor's product: Viability ≥ 70.0 %."""
    product = sponsor.programs.get().products.get()
    code = f"{product.code}-REL"
    found = Specification.objects.filter(code=code, status="approved").first()
    if found is not None:
        return found
    method, _ = qc_models.TestMethod.objects.get_or_create(
        code="VIA-AOPI", defaults={"name": "Viability by AO/PI", "result_kind": "numeric", "unit": "%",
                                   "decimals": 1})
    spec = create_record(author, Specification(
        code=code, revision=1, title=f"{product.code} release", stage="release", sponsor=sponsor,
        product=product, status="approved", effective_at=clock.now()))
    SpecificationTest.objects.create(specification=spec, position=1, attribute="Viability", method=method,
                                     criterion="at_least", lower=Decimal("70.0"), unit="%", decimals=1)
    return spec


def received_sample(handler, sponsor, batch: str = "B-2026-0001") -> Sample:
    spec = release_specification(handler, sponsor)
    qc_builders.batch(handler, spec.product, batch)
    sample = services.register_sample(
        handler, subject_type="batches.batch", subject_ref=batch, subject_label=f"Batch {batch}",
        origin="manual", description="Final product, release testing", specification=spec, sponsor=sponsor,
        product=spec.product)
    return services.receive_sample(handler, sample, location="QC fridge 2")


def enter(analyst, sample, value: str, *, retest_of=None) -> qc_models.TestResult:
    return services.enter_result(analyst, sample, sample.tests.get(), value=value,
                                 submission_id=uuid.uuid4().hex, retest_of=retest_of)


def answers(*, finding: str = "") -> list[dict]:
    """Every Phase I item answered; with `finding`, the instrument check found it."""
    rows = [{"item": key, "answer": "yes", "note": ""} for key in oos.ITEM_KEYS]
    if finding:
        rows[2] = {"item": "instrument", "answer": "no", "note": finding}
    return rows


def investigation_for_sponsor(author, sponsor, title: str) -> str:
    """An open Phase I investigation of a sponsor's failing viability result (for shared fixtures)."""
    from opencdmo.core import services as core_services  # noqa: PLC0415

    username = f"oos.analyst.{sponsor.code.lower()}"
    from opencdmo.core.models import User  # noqa: PLC0415

    analyst = User.objects.filter(username=username).first() or core_services.create_user(
        None, username=username, full_name="OOS Analyst", password="correct horse battery staple",
        roles=[Role.QC_ANALYST.value], sponsor_ids=[sponsor.pk])
    batch = f"B-OOS-{OosInvestigation.objects.count() + 1:04d}"
    result = enter(analyst, received_sample(analyst, sponsor, batch), "61.2")
    return result.investigation.number


@pytest.fixture
def people(make_user, sponsor_a):
    make = lambda name, *roles: make_user(name, *roles, sponsors=[sponsor_a])  # noqa: E731
    return {
        "analyst": make("qc.analyst", Role.QC_ANALYST),
        "second": make("qc.second", Role.QC_ANALYST),
        "reviewer": make("qc.reviewer", Role.QC_REVIEWER),
        "qa": make("qa.specialist", Role.QA_SPECIALIST),
        "qp": make("qa.qp", Role.QA_APPROVER),
    }


@pytest.fixture
def failing(people, sponsor_a, fake_clock):
    """An original viability result of 61.2 % against ≥ 70.0 %: its investigation opened itself."""
    sample = received_sample(people["analyst"], sponsor_a)
    fake_clock.advance(hours=1)
    return enter(people["analyst"], sample, "61.2")


def _phase_one_error(people, result, cause="Pipette P200-03 out of calibration; dilution wrong"):
    inv = result.investigation
    services.record_phase_one(people["reviewer"], inv, answers=answers(finding="Pipette out of calibration"),
                              assignable_cause=cause)
    return services.transition_investigation(people["qa"], inv, "invalidate",
                                             signature=signature(people["qa"], "Approved"))


def _escalate(people, result):
    inv = result.investigation
    services.record_phase_one(people["reviewer"], inv, answers=answers())
    return services.transition_investigation(people["reviewer"], inv, "escalate")


def _retests(result):
    return list(qc_models.TestResult.objects.filter(retest_of=result))


# --- Opening ---------------------------------------------------------------------------------

def test_a_failing_result_opens_one_phase_one_investigation(failing, people, sponsor_a):
    inv = OosInvestigation.objects.get(result=failing)
    assert inv.number.startswith("OOS-")
    assert (inv.status, inv.sponsor, inv.opened_by) == ("phase_1", sponsor_a, people["analyst"])
    assert oos.unanswered(inv.checklist) == [item.label for item in oos.PHASE_ONE_CHECKLIST]
    assert services.open_investigation(people["analyst"], failing) == inv  # idempotent
    assert OosInvestigation.objects.filter(result=failing).count() == 1
    assert AuditEvent.objects.filter(record_type="qc.oosinvestigation", record_id=str(inv.pk),
                                     action="create").exists()


def test_a_conforming_result_opens_none_and_may_not_be_retested(people, sponsor_a, fake_clock):
    result = enter(people["analyst"], received_sample(people["analyst"], sponsor_a), "81.0")
    assert not OosInvestigation.objects.exists()
    why = services.retest_refusal(result, people["second"])
    assert why and "no OOS investigation" in why
    with pytest.raises(RuleViolation):
        enter(people["second"], result.sample, "82.0", retest_of=result)


def test_no_retest_while_phase_one_is_open(failing, people):
    why = services.retest_refusal(failing, people["second"])
    assert "Phase I" in why
    with pytest.raises(RuleViolation, match="Phase I"):
        enter(people["second"], failing.sample, "75.0", retest_of=failing)


# --- Phase I --------------------------------------------------------------------------------

def test_incomplete_checklist_is_refused(failing, people):
    inv = failing.investigation
    services.record_phase_one(people["reviewer"], inv, answers=answers()[:5],
                              assignable_cause="Wrong dilution")
    with pytest.raises(RuleViolation, match="Answer every Phase I checklist item"):
        services.transition_investigation(people["qa"], inv, "invalidate", signature=signature(people["qa"], "Approved"))
    with pytest.raises(RuleViolation, match="Answer every Phase I checklist item"):
        services.transition_investigation(people["reviewer"], inv, "escalate")
    inv.refresh_from_db()
    assert inv.status == "phase_1"
    failing.refresh_from_db()
    assert failing.status == "entered"


@pytest.mark.parametrize("bad, message", [
    ([{"item": "coffee", "answer": "yes"}], "not a Phase I checklist item"),
    ([{"item": "method", "answer": "maybe"}], "yes, no or n.a."),
    ([{"item": "method", "answer": "no", "note": ""}], "say in the note"),
    ([{"item": "method", "answer": "yes"}, {"item": "method", "answer": "no", "note": "x"}], "twice"),
    ([{"item": "method", "answer": "yes", "note": "x" * 501}], "longer than"),
])
def test_bad_checklist_answers_are_refused_and_change_nothing(failing, people, bad, message):
    inv = failing.investigation
    version = inv.version
    with pytest.raises(RuleViolation, match=message):
        services.record_phase_one(people["reviewer"], inv, answers=bad)
    inv.refresh_from_db()
    assert inv.version == version and oos.unanswered(inv.checklist)


def test_analyst_without_investigate_permission_cannot_record_phase_one(failing, people):
    with pytest.raises(PermissionDenied):
        services.record_phase_one(people["analyst"], failing.investigation, answers=answers())


def test_phase_one_laboratory_error_invalidates_and_orders_exactly_one_retest(failing, people, fake_clock):
    inv = _phase_one_error(people, failing)
    failing.refresh_from_db()
    assert (inv.status, inv.conclusion, inv.retests_allowed) == ("closed", "laboratory_error", 1)
    assert inv.phase_one_closed_at and inv.closed_at
    assert failing.status == "invalidated" and "Pipette" in failing.invalidation_reason
    assert [s.meaning for s in inv_signatures(inv)] == ["Approved"]

    fake_clock.advance(hours=2)
    assert services.retest_refusal(failing, people["analyst"]) is None
    retest = enter(people["analyst"], failing.sample, "78.4", retest_of=failing)
    assert retest.sample == failing.sample and retest.attempt == 2

    why = services.retest_refusal(failing, people["second"])
    assert "allows 1 retest" in why
    with pytest.raises(RuleViolation, match="allows 1 retest"):
        enter(people["second"], failing.sample, "80.0", retest_of=failing)
    # a retest of the retest is counted against the same investigation
    assert "allows 1 retest" in services.retest_refusal(retest, people["second"])

    # both results stay: the original struck through with its reason, the retest standing
    both = [e.result for e in selectors.investigation_results(inv)]
    assert both == [failing, retest]
    status = selectors.subject_tests(failing.test.specification, "batches.batch", "B-2026-0001")[0]
    assert status.results == [failing, retest] and status.result == retest


def inv_signatures(record):
    from opencdmo.core.models import Signature  # noqa: PLC0415

    return list(Signature.objects.filter(record_type="qc.oosinvestigation", record_id=str(record.pk)))


@pytest.mark.parametrize("who", ["analyst", "reviewer"])
def test_only_qa_approves_an_invalidation(failing, people, who):
    inv = failing.investigation
    services.record_phase_one(people["reviewer"], inv, answers=answers(finding="Pipette"), assignable_cause="Pipette")
    with pytest.raises(PermissionDenied, match="qc.approve_invalidation"):
        services.transition_investigation(people[who], inv, "invalidate", signature=signature(people[who], "Approved"))
    failing.refresh_from_db()
    assert failing.status == "entered"


def test_invalidation_needs_an_assignable_cause_and_the_signature(failing, people):
    inv = failing.investigation
    services.record_phase_one(people["reviewer"], inv, answers=answers())
    with pytest.raises(RuleViolation, match="assignable laboratory cause"):
        services.transition_investigation(people["qa"], inv, "invalidate", signature=signature(people["qa"], "Approved"))
    services.record_phase_one(people["reviewer"], inv, answers=[], assignable_cause="Wrong diluent")
    with pytest.raises(RuleViolation, match="signature"):
        services.transition_investigation(people["qa"], inv, "invalidate")
    with pytest.raises(RuleViolation, match="assignable laboratory cause"):
        services.transition_investigation(people["reviewer"], inv, "escalate")
    failing.refresh_from_db()
    assert failing.status == "entered"


def test_phase_one_cannot_change_after_it_ends(failing, people):
    _escalate(people, failing)
    with pytest.raises(Conflict):
        services.record_phase_one(people["reviewer"], failing.investigation, answers=answers(),
                                  assignable_cause="later idea")


# --- Phase II -------------------------------------------------------------------------------

def test_without_assignable_cause_phase_two_with_exactly_one_deviation(failing, people):
    inv = _escalate(people, failing)
    assert (inv.status, inv.retests_allowed) == ("phase_2", oos.PHASE_TWO_RETESTS)
    assert inv.deviation is not None
    deviation = Deviation.objects.get()
    assert deviation == inv.deviation
    assert (deviation.source, deviation.category, deviation.sponsor) == ("oos", "laboratory", inv.sponsor)
    linked = set(DeviationLink.objects.filter(deviation=deviation).values_list("record_label", flat=True))
    assert {inv.number, failing.sample.number} <= linked
    failing.refresh_from_db()
    assert failing.status == "entered"  # the original stands
    with pytest.raises(RuleViolation):  # no second escalation, no second deviation
        services.transition_investigation(people["reviewer"], inv, "escalate")
    assert Deviation.objects.count() == 1


def test_phase_two_retest_by_the_original_analyst_is_refused(failing, people, fake_clock):
    _escalate(people, failing)
    why = services.retest_refusal(failing, people["analyst"])
    assert "second analyst" in why
    with pytest.raises(RuleViolation, match="second analyst"):
        enter(people["analyst"], failing.sample, "74.0", retest_of=failing)
    assert _retests(failing) == []
    fake_clock.advance(hours=1)
    enter(people["second"], failing.sample, "74.0", retest_of=failing)
    assert len(_retests(failing)) == 1


def test_phase_two_allows_the_predefined_number_of_retests(failing, people, fake_clock):
    _escalate(people, failing)
    for value in ("74.0", "63.0"):  # a failing retest belongs to this investigation, opens none
        fake_clock.advance(hours=1)
        enter(people["second"], failing.sample, value, retest_of=failing)
    assert OosInvestigation.objects.count() == 1
    with pytest.raises(RuleViolation, match=f"allows {oos.PHASE_TWO_RETESTS} retests"):
        enter(people["reviewer"], failing.sample, "75.0", retest_of=failing)


def test_closing_confirmed_keeps_the_original_failing_whatever_retests_show(failing, people, fake_clock):
    inv = _escalate(people, failing)
    for value in ("74.0", "75.5"):
        fake_clock.advance(hours=1)
        retest = enter(people["second"], failing.sample, value, retest_of=failing)
        services.transition_result(people["reviewer"], retest, "review",
                                   signature=signature(people["reviewer"], "Reviewed"))
    services.transition_result(people["reviewer"], failing, "review",
                               signature=signature(people["reviewer"], "Reviewed"))
    spec = failing.test.specification
    assert selectors.subject_tests(spec, "batches.batch", "B-2026-0001")[0].state == selectors.INVESTIGATING

    with pytest.raises(RuleViolation, match="production review and the batch impact"):
        services.transition_investigation(people["qp"], inv, "close", signature=signature(people["qp"], "Approved"),
                                          conclusion="confirmed")
    services.record_phase_two(people["reviewer"], inv, production_review="Batch record reviewed: no deviation",
                              batch_impact="Batch fails; no other batch made from the same lot")
    with pytest.raises(RuleViolation, match="conclusion"):
        services.transition_investigation(people["qp"], inv, "close", signature=signature(people["qp"], "Approved"))
    with pytest.raises(PermissionDenied, match="qc.close_oos"):
        services.transition_investigation(people["qa"], inv, "close", signature=signature(people["qa"], "Approved"),
                                          conclusion="confirmed")
    inv = services.transition_investigation(people["qp"], inv, "close", signature=signature(people["qp"], "Approved"),
                                            conclusion="confirmed", summary="OOS confirmed")
    failing.refresh_from_db()
    assert (inv.status, inv.conclusion) == ("closed", "confirmed") and inv.closed_at
    assert failing.status != "invalidated"
    status = selectors.subject_tests(spec, "batches.batch", "B-2026-0001")[0]
    assert status.state == selectors.FAILS  # no testing into compliance
    assert status.result == failing  # shown as the reportable result, not the conforming retest
    assert len(status.results) == 3
    assert "confirmed" in services.retest_refusal(failing, people["reviewer"])


def test_closing_with_a_laboratory_error_found_in_phase_two_invalidates_the_original(failing, people, fake_clock):
    inv = _escalate(people, failing)
    fake_clock.advance(hours=1)
    retest = enter(people["second"], failing.sample, "76.0", retest_of=failing)
    services.record_phase_two(people["qa"], inv, production_review="Batch record in order",
                              batch_impact="None: the original preparation was contaminated")
    services.transition_investigation(people["qp"], inv, "close", signature=signature(people["qp"], "Approved"),
                                      conclusion="laboratory_error", summary="Contaminated preparation")
    failing.refresh_from_db()
    assert failing.status == "invalidated" and "Phase II" in failing.invalidation_reason
    assert [e.result for e in selectors.investigation_results(inv)] == [failing, retest]


def test_the_original_analyst_cannot_close_the_investigation(make_user, sponsor_a, people, fake_clock):
    qp_analyst = make_user("qp.analyst", Role.QA_APPROVER, Role.QC_ANALYST, sponsors=[sponsor_a])
    result = enter(qp_analyst, received_sample(people["analyst"], sponsor_a), "50.0")
    inv = _escalate(people, result)
    services.record_phase_two(people["reviewer"], inv, production_review="x", batch_impact="y")
    with pytest.raises(RuleViolation, match="Segregation"):
        services.transition_investigation(qp_analyst, inv, "close", signature=signature(qp_analyst, "Approved"),
                                          conclusion="laboratory_error")


# --- Segregation and permanence -------------------------------------------------------------

def test_another_sponsors_user_cannot_find_or_touch_the_investigation(failing, make_user, sponsor_b):
    outsider = make_user("beta.qa", Role.QA_SPECIALIST, Role.QC_REVIEWER, sponsors=[sponsor_b])
    inv = failing.investigation
    with pytest.raises(NotFound):
        selectors.investigation(outsider, inv.number)
    assert list(selectors.investigations_for(outsider)) == []
    with pytest.raises(NotFound):
        services.record_phase_one(outsider, inv, answers=answers())


def test_the_original_result_never_disappears(failing, people, fake_clock):
    before = qc_models.TestResult.objects.count()
    inv = _phase_one_error(people, failing)
    enter(people["analyst"], failing.sample, "79.0", retest_of=failing)
    assert qc_models.TestResult.objects.count() == before + 1
    assert qc_models.TestResult.objects.filter(pk=failing.pk, status="invalidated").exists()
    assert not AuditEvent.objects.filter(record_type="qc.testresult", action="delete").exists()
    assert selectors.investigation_results(inv)[0].result == failing


def test_list_puts_open_investigations_first_and_filters(failing, people, sponsor_a, fake_clock):
    fake_clock.advance(days=1)
    other = enter(people["analyst"], received_sample(people["analyst"], sponsor_a, "B-2026-0002"), "40.0")
    _phase_one_error(people, other)
    found = list(selectors.investigations_for(people["reviewer"]))
    assert [i.result for i in found] == [failing, other]
    assert list(selectors.investigations_for(people["reviewer"], status="closed")) == [other.investigation]
    assert list(selectors.investigations_for(people["reviewer"], text="B-2026-0002")) == [other.investigation]
    assert list(selectors.investigations_for(people["reviewer"], status="open")) == [failing.investigation]


def test_tasks_follow_the_phases(failing, people):
    def titles(user):
        return [t.title for t in selectors.oos_tasks(user)]

    assert titles(people["reviewer"]) == ["Investigate OOS (Phase I)"]
    services.record_phase_one(people["reviewer"], failing.investigation, answers=answers(finding="Pipette"),
                              assignable_cause="Pipette")
    assert "Approve invalidation (laboratory error)" in titles(people["qa"])
    services.record_phase_one(people["reviewer"], failing.investigation, answers=[], assignable_cause="")
    _escalate(people, failing)
    assert titles(people["reviewer"]) == ["Complete the Phase II investigation"]
    services.record_phase_two(people["reviewer"], failing.investigation, production_review="x", batch_impact="y")
    assert titles(people["qp"]) == ["Close OOS investigation"]


def test_domain_retest_rules():
    kwargs = {"number": "OOS-1", "conclusion": "", "retests_allowed": 2, "same_analyst_as_original": False}
    assert "Phase I" in oos.retest_refusal(status="phase_1", retests_done=0, **kwargs)
    assert oos.retest_refusal(status="phase_2", retests_done=1, **kwargs) is None
    assert "allows 2 retests" in oos.retest_refusal(status="phase_2", retests_done=2, **kwargs)
    assert "second analyst" in oos.retest_refusal(status="phase_2", retests_done=0,
                                                  **{**kwargs, "same_analyst_as_original": True})
    assert "confirmed" in oos.retest_refusal(status="closed", retests_done=0, **{**kwargs, "conclusion": "confirmed"})
    # after a Phase I laboratory error, the original analyst may repeat the test
    assert oos.retest_refusal(status="closed", retests_done=0, **{**kwargs, "conclusion": "laboratory_error",
                                                                  "retests_allowed": 1,
                                                                  "same_analyst_as_original": True}) is None


def test_the_shared_fixture_builder_makes_an_investigation_per_sponsor(qa_author, sponsor_a, sponsor_b, fake_clock):
    first = investigation_for_sponsor(qa_author, sponsor_a, "Acme")
    second = investigation_for_sponsor(qa_author, sponsor_b, "Beta")
    assert OosInvestigation.objects.get(number=first).sponsor == sponsor_a
    assert OosInvestigation.objects.get(number=second).sponsor == sponsor_b


# --- The result's own invalidation and the retest's sample -----------------------------------------

def test_a_result_under_investigation_cannot_be_invalidated_by_a_plain_request(people, failing):
    """Only the investigation invalidates a failing result (documented laboratory error, QA)."""
    with pytest.raises(RuleViolation, match=f"under OOS investigation {failing.investigation.number}"):
        services.transition_result(people["analyst"], failing, "request_invalidation", reason="looked wrong")
    failing.refresh_from_db()
    assert failing.status == "entered"


def test_after_a_phase_one_invalidation_a_new_result_is_the_ordered_retest(people, failing, fake_clock):
    _phase_one_error(people, failing)
    fake_clock.advance(hours=1)
    with pytest.raises(RuleViolation, match="enter the retest it ordered"):
        enter(people["analyst"], failing.sample, "75.0")
    retest = enter(people["analyst"], failing.sample, "75.0", retest_of=failing)
    assert retest.retest_of == failing


def test_a_retest_is_made_on_the_original_sample(people, failing, sponsor_a, fake_clock):
    _phase_one_error(people, failing)
    other = received_sample(people["analyst"], sponsor_a, batch=failing.sample.subject_ref)
    fake_clock.advance(hours=1)
    with pytest.raises(RuleViolation, match=f"original sample {failing.sample.number}"):
        enter(people["analyst"], other, "75.0", retest_of=failing)
    assert not _retests(failing)


def test_the_phase_two_deviation_names_the_batch_tested(people, sponsor_a, fake_clock):
    """So that the batch's disposition sees the open OOS deviation (REL-1)."""
    from tests.batches import builders as batches  # noqa: PLC0415

    batch = batches.world(sponsor_a, prefix="oos").batch
    result = enter(people["analyst"], received_sample(people["analyst"], sponsor_a, batch=batch.number), "61.2")
    inv = _escalate(people, result)
    assert DeviationLink.objects.filter(deviation=inv.deviation, record_type="batches.batch",
                                        record_id=str(batch.pk)).exists()


def test_phase_two_is_not_saved_empty(failing, people):
    inv = _escalate(people, failing)
    with pytest.raises(RuleViolation, match="production review or the batch impact"):
        services.record_phase_two(people["reviewer"], inv, production_review=" ", batch_impact="")
