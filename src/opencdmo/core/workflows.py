"""The one state-machine mechanism for every GMP record (P11-1f, P11-1g).

A workflow declares its states and transitions; each transition names the permission it
needs, the signature meaning it requires, its guards (named rules such as "author is not
approver") and whether a reason is required. `Workflow.apply` enforces all of them, changes
the status through the audited update and writes the signature, in the caller's transaction.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from django.db import models

from . import records, signatures
from .errors import PermissionDenied, RuleViolation
from .signatures import VerifiedSigner

# A guard returns None when the transition may go ahead, or the reason it may not.
Guard = Callable[[models.Model, object], str | None]


@dataclass(frozen=True)
class Transition:
    name: str
    label: str
    sources: tuple[str, ...]
    target: str
    permission: str
    signature: str | None = None
    reason_required: bool = False
    guards: tuple[Guard, ...] = ()


@dataclass
class Workflow:
    name: str
    states: dict[str, str]
    transitions: Sequence[Transition]
    initial: str = "draft"
    _by_name: dict[str, Transition] = field(init=False, repr=False)

    def __post_init__(self):
        self._by_name = {t.name: t for t in self.transitions}
        for t in self.transitions:
            unknown = {*t.sources, t.target} - self.states.keys()
            if unknown:
                raise ValueError(f"{self.name}.{t.name} names unknown states {sorted(unknown)}")

    def label(self, state: str) -> str:
        return self.states.get(state, state)

    def get(self, name: str) -> Transition:
        try:
            return self._by_name[name]
        except KeyError:
            raise RuleViolation(f"{self.name} has no action '{name}'.") from None

    def refusal(self, record, name: str, actor) -> str | None:
        """Why `actor` may not take transition `name` now, or None when they may."""
        t = self.get(name)
        if record.status not in t.sources:
            allowed = " or ".join(self.label(s) for s in t.sources)
            return (
                f"Cannot {t.label.lower()} {record}: it is {self.label(record.status)}, "
                f"and only a record that is {allowed} can be."
            )
        if not actor.has_permission(t.permission):
            return f"You do not have the permission to {t.label.lower()} ({t.permission})."
        for guard in t.guards:
            if (why := guard(record, actor)) is not None:
                return why
        return None

    def available(self, record, actor) -> list[Transition]:
        return [t for t in self.transitions if self.refusal(record, t.name, actor) is None]

    def actions(self, record, actor) -> tuple[list[Transition], list[tuple[str, str]]]:
        """What a record's page offers `actor`: the steps they may take now, and those their role
        allows from this state but a rule blocks, each with the rule's reason."""
        available, blocked = [], []
        for t in self.transitions:
            if record.status in t.sources and actor.has_permission(t.permission):
                why = self.refusal(record, t.name, actor)
                (available.append(t) if why is None else blocked.append((t.label, why)))
        return available, blocked

    def authenticate(self, actor, name: str, signature: signatures.SignatureInput | None, *,
                     first_in_session: bool) -> VerifiedSigner | None:
        """The signer of transition `name`, re-authenticated now: call it before the record's
        transaction, so that a wrong password is counted even though the step is refused."""
        t = self.get(name)
        if not t.signature:
            return None
        if signature is None:
            raise RuleViolation(f"{t.label} needs your signature ('{t.signature}').")
        return signatures.authenticate_signer(actor, signature, first_in_session=first_in_session)

    def apply(self, record, name: str, *, actor, signer: VerifiedSigner | None = None, reason: str = ""):
        t = self.get(name)
        if (why := self.refusal(record, name, actor)) is not None:
            raise PermissionDenied(why) if why.startswith("You do not have") else RuleViolation(why)
        if t.reason_required and not reason.strip():
            raise RuleViolation(f"Give a reason to {t.label.lower()} {record}.")
        if t.signature:
            if signer is None or signer.meaning != t.signature:
                raise RuleViolation(f"To {t.label.lower()} {record}, sign with the meaning '{t.signature}'.")
            if signer.user.pk != actor.pk:
                raise PermissionDenied("A signature can only be given by the signed-in user.")
        records.update_record(actor, record, reason=reason or (signer.comment if signer else ""),
                              action="transition", status=t.target)
        if t.signature:
            signatures.sign(signer, record)
        return record


# Named guards (SENAITE-style: one function per GMP rule).

def not_signed_by_actor(*meanings: str, rule: str) -> Guard:
    """Segregation of duties: whoever signed with one of `meanings` may not take this step."""

    def guard(record, actor):
        if signatures.has_signed(actor, record, meanings):
            return f"{rule}: you signed {record} as {' / '.join(meanings)}, so someone else must do this."
        return None

    guard.__name__ = f"not_signed_by_actor({', '.join(meanings)})"
    return guard


def signature_still_valid(meaning: str, rule: str) -> Guard:
    """The record still has the content someone signed with `meaning` (P11-4): a record changed
    after that signature goes back to be signed again before the next step."""

    def guard(record, actor):
        if not any(valid for signed, valid in signatures.with_validity(record) if signed.meaning == meaning):
            return (f"{rule}: {record} changed after it was signed as {meaning}; "
                    "return it to draft so that it can be signed again.")
        return None

    guard.__name__ = f"signature_still_valid({meaning})"
    return guard


def author_is_not(rule: str = "Segregation of duties") -> Guard:
    def guard(record, actor):
        if getattr(record, "created_by_id", None) == actor.pk:
            return f"{rule}: you created {record}, so someone else must do this."
        return None

    return guard
