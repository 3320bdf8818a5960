"""The one state-machine mechanism: declared states, permissions, guards, signatures, reasons."""

from dataclasses import dataclass, field

import pytest

from opencdmo.core.errors import PermissionDenied, RuleViolation
from opencdmo.core.signatures import VerifiedSigner
from opencdmo.core.workflows import Transition, Workflow, author_is_not


@dataclass
class Person:
    pk: int
    permissions: set = field(default_factory=set)

    def has_permission(self, permission: str) -> bool:
        return permission in self.permissions


@dataclass
class Doc:
    number: str
    status: str
    created_by_id: int = 1

    def __str__(self):
        return self.number


WORKFLOW = Workflow(
    name="Deviation",
    states={"draft": "Draft", "open": "Open", "closed": "Closed", "void": "Void"},
    transitions=[
        Transition("open", "Open", ("draft",), "open", permission="quality.raise"),
        Transition("close", "Close", ("open",), "closed", permission="quality.close", signature="Approved",
                   guards=(author_is_not("Raiser is not closer"),)),
        Transition("void", "Void", ("draft", "open"), "void", permission="quality.raise", reason_required=True),
    ],
)

RAISER = Person(1, {"quality.raise", "quality.close"})
CLOSER = Person(2, {"quality.close"})


@pytest.mark.req("P11-1f")
def test_a_transition_to_an_undeclared_state_is_refused_when_the_workflow_is_declared():
    with pytest.raises(ValueError, match=r"Broken.reopen names unknown states \['reopened'\]"):
        Workflow(name="Broken", states={"closed": "Closed"},
                 transitions=[Transition("reopen", "Reopen", ("closed",), "reopened", permission="x.y")])


@pytest.mark.req("P11-1f")
def test_an_unknown_action_is_refused_by_name():
    with pytest.raises(RuleViolation, match="Deviation has no action 'approve'"):
        WORKFLOW.get("approve")


@pytest.mark.req("P11-1f")
def test_an_illegal_transition_says_which_state_the_record_is_in_and_which_it_must_be_in():
    why = WORKFLOW.refusal(Doc("DEV-2026-0007", "closed"), "void", RAISER)
    assert why == "Cannot void DEV-2026-0007: it is Closed, and only a record that is Draft or Open can be."
    with pytest.raises(RuleViolation, match="it is Closed"):
        WORKFLOW.apply(Doc("DEV-2026-0007", "closed"), "void", actor=RAISER, reason="duplicate")


@pytest.mark.req("P11-1g")
def test_a_transition_needs_its_permission():
    doc = Doc("DEV-2026-0007", "draft")
    assert WORKFLOW.refusal(doc, "open", CLOSER) == "You do not have the permission to open (quality.raise)."
    with pytest.raises(PermissionDenied, match=r"\(quality.raise\)"):
        WORKFLOW.apply(doc, "open", actor=CLOSER)


@pytest.mark.req("P11-1g")
def test_a_guard_refuses_with_its_rule():
    doc = Doc("DEV-2026-0007", "open", created_by_id=RAISER.pk)
    assert WORKFLOW.refusal(doc, "close", RAISER) == (
        "Raiser is not closer: you created DEV-2026-0007, so someone else must do this.")
    assert WORKFLOW.refusal(doc, "close", CLOSER) is None


@pytest.mark.req("P11-1f")
def test_only_the_transitions_the_actor_may_take_now_are_available():
    assert [t.name for t in WORKFLOW.available(Doc("D", "open", created_by_id=1), RAISER)] == ["void"]
    assert [t.name for t in WORKFLOW.available(Doc("D", "open", created_by_id=1), CLOSER)] == ["close"]
    assert WORKFLOW.available(Doc("D", "void"), RAISER) == []


@pytest.mark.req("A11-8")
def test_a_transition_that_declares_a_reason_needs_one():
    with pytest.raises(RuleViolation, match="Give a reason to void DEV-2026-0007"):
        WORKFLOW.apply(Doc("DEV-2026-0007", "open"), "void", actor=RAISER, reason=" \n")


@pytest.mark.req("P11-1g")
@pytest.mark.parametrize("signer", [None, VerifiedSigner(CLOSER, "Reviewed", "")], ids=["unsigned", "wrong meaning"])
def test_a_transition_that_declares_a_signature_needs_one_with_its_meaning(signer):
    with pytest.raises(RuleViolation, match="sign with the meaning 'Approved'"):
        WORKFLOW.apply(Doc("DEV-2026-0007", "open"), "close", actor=CLOSER, signer=signer)


@pytest.mark.req("P11-6")
def test_only_the_acting_user_can_sign_for_a_transition():
    with pytest.raises(PermissionDenied, match="signed-in user"):
        WORKFLOW.apply(Doc("DEV-2026-0007", "open"), "close", actor=CLOSER,
                       signer=VerifiedSigner(RAISER, "Approved", ""))
