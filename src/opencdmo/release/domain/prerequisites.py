"""The disposition rule (REL-1), pure: what each prerequisite says, and whether a batch or a lot may
be released, conditionally released, or neither — and, when not, which prerequisites stand in the way."""

from collections.abc import Iterable
from dataclasses import asdict, dataclass

MET, UNMET, PENDING, NOT_APPLICABLE = "met", "unmet", "pending", "not_applicable"
STATES = (MET, UNMET, PENDING, NOT_APPLICABLE)
STATE_LABELS = {MET: "Met", UNMET: "Not met", PENDING: "Pending", NOT_APPLICABLE: "Not applicable"}


@dataclass(frozen=True)
class Prerequisite:
    """One thing QA checks before a disposition. `pending` is allowed in a conditional release only
    when `conditional` says so: release tests a specification marks as may be pending at release
    (e.g. the 14-day sterility of a fresh cell therapy, QC-1)."""

    name: str
    state: str
    detail: str
    link: str = ""
    conditional: bool = False

    def __post_init__(self):
        if self.state not in STATES:
            raise ValueError(f"unknown prerequisite state {self.state!r}")

    @property
    def label(self) -> str:
        return STATE_LABELS[self.state]

    def as_dict(self) -> dict:
        return asdict(self)


def _named(items: list[Prerequisite]) -> str:
    return "; ".join(f"{p.name}: {p.detail.rstrip('.')}" if p.detail else p.name for p in items)


def release_refusal(prerequisites: Iterable[Prerequisite]) -> str | None:
    """A release needs every prerequisite met (or not applicable); otherwise names each one that is not."""
    blocking = [p for p in prerequisites if p.state not in (MET, NOT_APPLICABLE)]
    if not blocking:
        return None
    return f"Cannot release: {len(blocking)} prerequisite(s) not met — {_named(blocking)}."


def conditional_refusal(prerequisites: Iterable[Prerequisite]) -> str | None:
    """A conditional release allows only pending release tests marked 'may be pending at release';
    everything else must be met. With nothing pending, it is an ordinary release."""
    items = list(prerequisites)
    blocking = [p for p in items if p.state == UNMET or (p.state == PENDING and not p.conditional)]
    if blocking:
        return f"Cannot release conditionally: {len(blocking)} prerequisite(s) not met — {_named(blocking)}."
    if not any(p.state == PENDING for p in items):
        return "Nothing is pending: every prerequisite is met, so release it (not conditionally)."
    return None


def blocking_names(prerequisites: Iterable[Prerequisite]) -> list[str]:
    return [p.name for p in prerequisites if p.state == UNMET]
