"""Risk assessment (QRM-1): methods approved before use, FMEA rows scored by the service, the workflow."""

import datetime as dt

import pytest

from opencdmo.core.domain.roles import Role
from opencdmo.core.errors import NotFound, PermissionDenied, RuleViolation
from opencdmo.quality import selectors, services
from opencdmo.quality.domain.risk import DEFAULT_LEVELS
from opencdmo.quality.models import Capa, CapaAction, FailureMode, RiskAssessment
from opencdmo.quality.workflows import risk_assessment_workflow
from tests.factories import signature

from .change_builders import risk_method

pytestmark = [pytest.mark.django_db, pytest.mark.req("QRM-1")]

ROW = {"step": "Cryopreservation", "failure_mode": "Cells held in DMSO beyond 30 min before controlled-rate freezing",
       "effect": "Loss of viability below release spec", "cause": "Freezer not pre-cooled; no timer",
       "current_controls": "Batch record step with time entry", "severity": 8, "occurrence": 4, "detection": 5}


@pytest.fixture
def assessor(make_user, sponsor_a):
    return make_user("pd.assessor", Role.PD_SCIENTIST, sponsors=[sponsor_a])


@pytest.fixture
def reviewer(make_user, sponsor_a):
    return make_user("sup.reviewer", Role.SUPERVISOR, sponsors=[sponsor_a])


@pytest.fixture
def risk_approver(make_user, sponsor_a):
    return make_user("qp.risk", Role.QA_APPROVER, sponsors=[sponsor_a])


@pytest.fixture
def method(assessor, risk_approver):
    return risk_method(assessor, risk_approver)


@pytest.fixture
def assessment(assessor, method, sponsor_a):
    return services.create_risk_assessment(assessor, title="CAR-T process FMEA", scope="Apheresis to cryo.",
                                           method=method, sponsor=sponsor_a)


def test_rpn_and_level_are_computed_by_the_service(assessor, assessment):
    row = services.add_failure_mode(assessor, assessment, **ROW, mitigation="Pre-cool check and 30-min timer",
                                    residual_severity=8, residual_occurrence=2, residual_detection=2)
    assert (row.rpn, row.risk_level, row.residual_rpn, row.residual_level) == (160, "high", 32, "low")
    with pytest.raises(RuleViolation, match="cannot be set: risk_level, rpn"):
        services.add_failure_mode(assessor, assessment, **ROW, rpn=1, risk_level="low")


def test_editing_scores_recomputes_the_rpn(assessor, assessment):
    row = services.add_failure_mode(assessor, assessment, **ROW)
    row = services.edit_failure_mode(assessor, row, occurrence=1)
    assert (row.rpn, row.risk_level) == (40, "medium")


@pytest.mark.parametrize(("change", "message"), [
    ({"severity": 11}, "Severity must be a whole number from 1 to 10"),
    ({"detection": 0}, "Detection must be"),
    ({"residual_severity": 3}, "all three residual scores"),
    ({"residual_severity": 3, "residual_occurrence": 3, "residual_detection": 12}, "Detection must be"),
    ({"step": ""}, "needs its step"),
])
def test_a_bad_row_is_refused_and_nothing_is_added(change, message, assessor, assessment):
    with pytest.raises(RuleViolation, match=message):
        services.add_failure_mode(assessor, assessment, **(ROW | change))
    assert not FailureMode.objects.filter(assessment=assessment).exists()


def test_a_mitigation_links_a_capa_action_the_user_may_see(assessor, assessment, sponsor_a, sponsor_b, make_user):
    owner = make_user("capa.owner", Role.SUPERVISOR, sponsors=[sponsor_a, sponsor_b])
    other = Capa.objects.create(number="CAPA-2026-9001", status="draft", title="B's CAPA", problem="p",
                                source="audit", sponsor=sponsor_b, owner=owner, due_date=dt.date(2026, 5, 1),
                                created_at=dt.datetime(2026, 3, 1, tzinfo=dt.UTC),
                                modified_at=dt.datetime(2026, 3, 1, tzinfo=dt.UTC), created_by=owner)
    mine = Capa.objects.create(number="CAPA-2026-9002", status="draft", title="A's CAPA", problem="p",
                               source="audit", sponsor=sponsor_a, owner=owner, due_date=dt.date(2026, 5, 1),
                               created_at=dt.datetime(2026, 3, 1, tzinfo=dt.UTC),
                               modified_at=dt.datetime(2026, 3, 1, tzinfo=dt.UTC), created_by=owner)
    action_b = CapaAction.objects.create(capa=other, kind="preventive", description="x", owner=owner,
                                         due_date=dt.date(2026, 5, 1))
    action_a = CapaAction.objects.create(capa=mine, kind="preventive", description="Timer on the freezer",
                                         owner=owner, due_date=dt.date(2026, 5, 1))
    with pytest.raises(NotFound):
        services.add_failure_mode(assessor, assessment, **ROW, capa_action=action_b.pk)
    row = services.add_failure_mode(assessor, assessment, **ROW, capa_action=action_a.pk)
    assert row.capa_action == action_a
    assert list(selectors.capa_actions_to_link(assessor)) == [action_a]


def test_an_assessment_goes_through_review_and_approval_by_others(assessor, reviewer, risk_approver, assessment):
    with pytest.raises(RuleViolation, match="Add the failure modes"):
        services.transition_risk_assessment(assessor, assessment, "submit", signature=signature(assessor, "Authored"))
    services.add_failure_mode(assessor, assessment, **ROW)
    services.transition_risk_assessment(assessor, assessment, "submit", signature=signature(assessor, "Authored"))
    with pytest.raises(RuleViolation, match="Author is not reviewer"):
        services.transition_risk_assessment(assessor, assessment, "review", signature=signature(assessor, "Reviewed"))
    services.transition_risk_assessment(reviewer, assessment, "review", signature=signature(reviewer, "Reviewed"))
    with pytest.raises(PermissionDenied, match="quality.approve_risk"):
        services.transition_risk_assessment(reviewer, assessment, "approve", signature=signature(reviewer, "Approved"))
    done = services.transition_risk_assessment(risk_approver, assessment, "approve",
                                               signature=signature(risk_approver, "Approved"))
    assert done.status == "approved"


@pytest.mark.req("P11-1g")
def test_the_author_cannot_approve_their_own_assessment(make_user, method, sponsor_a, reviewer):
    author_approver = make_user("qa.both", Role.QA_SPECIALIST, Role.QA_APPROVER, sponsors=[sponsor_a])
    assessment = services.create_risk_assessment(author_approver, title="t", scope="s", method=method,
                                                 sponsor=sponsor_a)
    services.add_failure_mode(author_approver, assessment, **ROW)
    services.transition_risk_assessment(author_approver, assessment, "submit",
                                        signature=signature(author_approver, "Authored"))
    services.transition_risk_assessment(reviewer, assessment, "review", signature=signature(reviewer, "Reviewed"))
    with pytest.raises(RuleViolation, match="Author is not approver"):
        services.transition_risk_assessment(author_approver, assessment, "approve",
                                            signature=signature(author_approver, "Approved"))
    assert RiskAssessment.objects.get(pk=assessment.pk).status == "reviewed"


def test_rows_change_only_in_draft_and_rescoring_needs_a_return_with_reason(assessor, reviewer, risk_approver,
                                                                           assessment):
    row = services.add_failure_mode(assessor, assessment, **ROW)
    services.transition_risk_assessment(assessor, assessment, "submit", signature=signature(assessor, "Authored"))
    with pytest.raises(RuleViolation, match="rows change only in draft"):
        services.edit_failure_mode(assessor, row, severity=2)
    with pytest.raises(RuleViolation, match="rows change only in draft"):
        services.add_failure_mode(assessor, assessment, **ROW)
    assert FailureMode.objects.get(pk=row.pk).severity == 8
    with pytest.raises(RuleViolation, match="Give a reason"):
        services.transition_risk_assessment(assessor, assessment, "return")
    services.transition_risk_assessment(assessor, assessment, "return", reason="Occurrence data from 2025 lots")
    assert services.edit_failure_mode(assessor, row, occurrence=2).rpn == 80


LEGAL = {"draft": {"submit", "void"}, "in_review": {"review", "return", "void"}, "reviewed": {"approve", "return"},
         "approved": {"return"}, "void": set()}


def test_the_declared_transitions_are_exactly_the_legal_ones():
    declared = {(s, t.name) for t in risk_assessment_workflow.transitions for s in t.sources}
    assert declared == {(s, a) for s, actions in LEGAL.items() for a in actions}


@pytest.mark.parametrize("state", list(LEGAL))
def test_every_action_not_allowed_from_a_state_is_refused(state, assessor, reviewer, risk_approver, assessment):
    services.add_failure_mode(assessor, assessment, **ROW)
    steps = {"in_review": [("submit", assessor)], "reviewed": [("submit", assessor), ("review", reviewer)],
             "approved": [("submit", assessor), ("review", reviewer), ("approve", risk_approver)]}
    meanings = {"submit": "Authored", "review": "Reviewed", "approve": "Approved"}
    if state == "void":
        services.transition_risk_assessment(assessor, assessment, "void", reason="duplicate")
    for action, who in steps.get(state, []):
        services.transition_risk_assessment(who, assessment, action, signature=signature(who, meanings[action]))
    for t in risk_assessment_workflow.transitions:
        if t.name not in LEGAL[state]:
            with pytest.raises(RuleViolation, match="Cannot"):
                services.transition_risk_assessment(
                    risk_approver, assessment, t.name, reason="probe",
                    signature=signature(risk_approver, t.signature) if t.signature else None)
    assert RiskAssessment.objects.get(pk=assessment.pk).status == state


def test_a_method_scores_nothing_until_approved(assessor, risk_approver, sponsor_a):
    draft = services.create_risk_method(assessor, name="Draft method", levels=DEFAULT_LEVELS)
    with pytest.raises(RuleViolation, match="approved risk method"):
        services.create_risk_assessment(assessor, title="t", scope="s", method=draft, sponsor=sponsor_a)
    with pytest.raises(PermissionDenied):
        services.transition_risk_method(assessor, draft, "approve", signature=signature(assessor, "Approved"))


def test_approving_a_new_version_of_a_method_supersedes_the_old(assessor, risk_approver):
    old = risk_method(assessor, risk_approver, name="Site FMEA")
    new = risk_method(assessor, risk_approver, name="Site FMEA")
    old.refresh_from_db()
    assert (old.status, new.status) == ("superseded", "approved")
    assert list(selectors.approved_risk_methods()) == [new]


@pytest.mark.parametrize(("fields", "message"), [
    ({"levels": [{"level": "high", "min_rpn": 100}]}, "no threshold"),
    ({"severity_max": 1}, "from 2 to 20"),
    ({"detection_max": 50}, "from 2 to 20"),
    ({"name": " "}, "name"),
    ({"scale_definitions": ["x"]}, "mapping"),
])
def test_a_bad_method_is_refused(fields, message, assessor):
    with pytest.raises(RuleViolation, match=message):
        services.create_risk_method(assessor, **({"name": "M", "levels": DEFAULT_LEVELS} | fields))


def test_scores_are_validated_against_the_assessments_method(assessor, risk_approver, sponsor_a):
    five = services.create_risk_method(assessor, name="1–5", severity_max=5, occurrence_max=5, detection_max=5,
                                       levels=[{"level": "high", "min_rpn": 50}, {"level": "low"}])
    services.transition_risk_method(risk_approver, five, "approve", signature=signature(risk_approver, "Approved"))
    assessment = services.create_risk_assessment(assessor, title="t", scope="s", method=five, sponsor=sponsor_a)
    with pytest.raises(RuleViolation, match="from 1 to 5"):
        services.add_failure_mode(assessor, assessment, **ROW)
    row = services.add_failure_mode(assessor, assessment, **(ROW | {"severity": 5, "occurrence": 5, "detection": 2}))
    assert (row.rpn, row.risk_level) == (50, "high")


def test_heat_maps_before_and_after_mitigation(assessor, assessment):
    services.add_failure_mode(assessor, assessment, **ROW, residual_severity=8, residual_occurrence=2,
                              residual_detection=2)
    services.add_failure_mode(assessor, assessment, **(ROW | {"occurrence": 4}))
    rows = list(selectors.failure_modes(assessor, assessment, sort="-rpn"))
    maps = selectors.heat_maps(assessment, rows)
    before = {(c.severity, c.occurrence): c for row in maps["before"] for c in row}
    after = {(c.severity, c.occurrence): c for row in maps["after"] for c in row}
    assert (before[(8, 4)].count, before[(8, 4)].level) == (2, "high")
    assert (after[(8, 2)].count, after[(8, 2)].level) == (1, "low")
    assert maps["scored_after"] == 1


def test_failure_modes_sort_by_rpn(assessor, assessment):
    services.add_failure_mode(assessor, assessment, **(ROW | {"severity": 2}))
    services.add_failure_mode(assessor, assessment, **ROW)
    assert [r.rpn for r in selectors.failure_modes(assessor, assessment, sort="-rpn")] == [160, 40]
    assert [r.rpn for r in selectors.failure_modes(assessor, assessment, sort="position")] == [40, 160]


@pytest.mark.req("P11-1d")
def test_another_sponsors_user_does_not_find_the_assessment(assessment, make_user, sponsor_b):
    outsider = make_user("sup.beta", Role.SUPERVISOR, sponsors=[sponsor_b])
    with pytest.raises(NotFound):
        selectors.risk_assessment(outsider, assessment.number)
    with pytest.raises(NotFound):
        services.add_failure_mode(outsider, assessment, **ROW)
