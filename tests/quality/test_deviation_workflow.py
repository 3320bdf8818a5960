"""The deviation lifecycle (21 CFR 211.192, DEV-1): every legal step works, every illegal one is
refused with a reason; segregation of duties; the closure gates."""

import pytest

from opencdmo.core.domain.roles import Role
from opencdmo.core.errors import PermissionDenied, RuleViolation
from opencdmo.core.models import AuditEvent, Signature
from opencdmo.quality import services
from opencdmo.quality.models import Deviation
from opencdmo.quality.workflows import DEVIATION_STATES, deviation_workflow
from tests.factories import signature

from . import builders

pytestmark = pytest.mark.req("DEV-1")


@pytest.fixture
def people(raiser, classifier, investigator, closer, sponsor_a):
    return {"raiser": raiser, "classifier": classifier, "investigator": investigator, "closer": closer,
            "sponsor": sponsor_a}


def _in(state, p):
    return builders.in_state(state, p["raiser"], p["classifier"], p["investigator"], p["sponsor"], p["closer"])


# Who takes each step, and what they type.
STEP = {
    "submit": ("investigator", "Performed", ""),
    "return": ("closer", None, "Root cause not supported by the data"),
    "close": ("closer", "Approved", ""),
    "cancel": ("classifier", None, "Duplicate of an earlier report"),
}


def _take(deviation, action, p):
    if action == "classify":
        return builders.classified(deviation, p["classifier"], p["investigator"])
    who, meaning, reason = STEP[action]
    user = p[who]
    if action == "submit" and deviation.status == "investigation":
        builders.investigated(deviation, user)
    return services.transition_deviation(user, deviation, action, reason=reason,
                                         signature=signature(user, meaning) if meaning else None)


LEGAL = [(state, t.name, t.target) for t in deviation_workflow.transitions for state in t.sources]
ILLEGAL = [(state, t.name) for t in deviation_workflow.transitions for state in DEVIATION_STATES
           if state not in t.sources]


@pytest.mark.parametrize(("state", "action", "target"), LEGAL)
def test_every_legal_step_works(state, action, target, people):
    deviation = _in(state, people)
    _take(deviation, action, people)
    deviation.refresh_from_db()
    assert deviation.status == target


@pytest.mark.parametrize(("state", "action"), ILLEGAL)
def test_every_illegal_step_is_refused_with_a_reason(state, action, people):
    deviation = _in(state, people)
    events = AuditEvent.objects.count()
    with pytest.raises(RuleViolation) as refused:
        _take(deviation, action, people)
    assert "only a record that is" in refused.value.message
    deviation.refresh_from_db()
    assert deviation.status == state
    assert AuditEvent.objects.count() == events


def test_the_raiser_cannot_close_their_own_deviation(make_user, sponsor_a, classifier, investigator, closer):
    deviation = builders.in_state("closure_review", closer, classifier, investigator, sponsor_a)
    with pytest.raises(RuleViolation, match="you raised"):
        services.transition_deviation(closer, deviation, "close", signature=signature(closer, "Approved"))
    assert Deviation.objects.get(pk=deviation.pk).status == "closure_review"


def test_the_investigator_cannot_close_the_deviation_they_investigated(raiser, classifier, make_user, sponsor_a,
                                                                       second_approver):
    both = make_user("qa.both", Role.SUPERVISOR, Role.QA_APPROVER, sponsors=[sponsor_a])
    deviation = builders.in_state("closure_review", raiser, classifier, both, sponsor_a)
    with pytest.raises(RuleViolation, match="you investigated"):
        services.transition_deviation(both, deviation, "close", signature=signature(both, "Approved"))
    services.transition_deviation(second_approver, deviation, "close",
                                  signature=signature(second_approver, "Approved"))
    deviation.refresh_from_db()
    assert deviation.status == "closed" and deviation.closed_at is not None


def test_only_the_assigned_investigator_submits(people):
    deviation = builders.investigated(_in("investigation", people), people["investigator"])
    with pytest.raises(RuleViolation, match="Only the assigned investigator"):
        services.transition_deviation(people["classifier"], deviation, "submit",
                                      signature=signature(people["classifier"], "Performed"))


def test_someone_else_cannot_record_the_investigation(people):
    deviation = _in("investigation", people)
    with pytest.raises(PermissionDenied, match="assigned investigator"):
        builders.investigated(deviation, people["classifier"])


def test_submission_needs_a_complete_investigation(people):
    deviation = _in("investigation", people)
    services.record_investigation(people["investigator"], deviation, root_cause="Not yet known")
    with pytest.raises(RuleViolation, match="Investigation incomplete") as refused:
        builders.submitted(deviation, people["investigator"])
    for missing in ("impact assessment", "root-cause category", "conclusion", "5-Why", "a CAPA, or the justification"):
        assert missing in refused.value.message


def test_no_capa_needs_a_justification_or_a_linked_capa(people):
    deviation = builders.investigated(_in("investigation", people), people["investigator"], justification="")
    with pytest.raises(RuleViolation, match="a CAPA, or the justification"):
        builders.submitted(deviation, people["investigator"])
    builders.capa(people["investigator"], deviation=deviation)
    builders.submitted(deviation, people["investigator"])
    assert Deviation.objects.get(pk=deviation.pk).status == "closure_review"


def test_closure_waits_for_every_linked_capa_plan_to_be_approved(people, second_approver):
    deviation = builders.investigated(_in("investigation", people), people["investigator"], justification="")
    capa = builders.capa(people["investigator"], deviation=deviation)
    builders.action(people["investigator"], capa, people["investigator"])
    builders.submitted(deviation, people["investigator"])
    with pytest.raises(RuleViolation, match=f"CAPA plan not approved: {capa.number}"):
        services.transition_deviation(people["closer"], deviation, "close",
                                      signature=signature(people["closer"], "Approved"))
    builders.approved(capa, second_approver)
    services.transition_deviation(people["closer"], deviation, "close",
                                  signature=signature(people["closer"], "Approved"))
    assert Deviation.objects.get(pk=deviation.pk).status == "closed"


def test_closure_is_refused_when_the_investigation_changed_after_it_was_signed(people):
    deviation = _in("closure_review", people)
    services.transition_deviation(people["closer"], deviation, "return", reason="More data needed")
    services.record_investigation(people["investigator"], deviation, conclusion="Revised after return")
    deviation.status = "closure_review"  # as if submitted without signing again
    Deviation.objects.filter(pk=deviation.pk).update(status="closure_review")
    with pytest.raises(RuleViolation, match="changed after it was signed as Performed"):
        services.transition_deviation(people["closer"], deviation, "close",
                                      signature=signature(people["closer"], "Approved"))


def test_closing_signs_with_approved_and_the_investigator_signed_performed(people):
    deviation = _in("closed", people)
    meanings = {(s.meaning, s.signer.username)
                for s in Signature.objects.filter(record_type="quality.deviation", record_id=str(deviation.pk))}
    assert meanings == {("Performed", "sup.santos"), ("Approved", "qp.dubois")}


def test_return_and_cancel_need_a_reason(people):
    deviation = _in("closure_review", people)
    with pytest.raises(RuleViolation, match="Give a reason"):
        services.transition_deviation(people["closer"], deviation, "return")
    with pytest.raises(RuleViolation, match="Give a reason"):
        services.transition_deviation(people["classifier"], _in("open", people), "cancel")


def test_classification_is_made_with_the_form_not_the_generic_dialog(people):
    with pytest.raises(RuleViolation, match="decision tree"):
        services.transition_deviation(people["classifier"], _in("open", people), "classify")


def test_an_operator_cannot_classify(people):
    with pytest.raises(PermissionDenied, match="quality.classify_deviation"):
        builders.classified(_in("open", people), people["raiser"], people["investigator"])
