"""The rules of executing a batch that need no database: step order over the `after` graph,
hold times, what a step still lacks before it can be completed, and the step's data hash."""

import datetime as dt
from collections.abc import Collection, Iterable, Mapping

from opencdmo.core.domain import canonical
from opencdmo.processes.domain.definition import HoldTime, Step

FINISHED = ("completed", "skipped")


def waiting_for(step: Step, statuses: Mapping[str, str]) -> list[str]:
    """The predecessors of `step` not yet completed or skipped (P11-1f): it may start when none are.
    Steps whose predecessors are done may run at the same time (parallel branches)."""
    return [key for key in step.after if statuses.get(key) not in FINISHED]


def can_start(step: Step, statuses: Mapping[str, str]) -> bool:
    return statuses.get(step.id) == "pending" and not waiting_for(step, statuses)


def next_steps(steps: Iterable[Step], statuses: Mapping[str, str]) -> list[str]:
    """The steps that may start now, in MBR order."""
    return [s.id for s in steps if can_start(s, statuses)]


def minutes_text(minutes: float) -> str:
    whole = int(minutes)
    return f"{whole // 60} h {whole % 60:02d} min" if whole >= 60 else f"{whole} min"


def hold_time_problem(hold: HoldTime, previous_completed_at: dt.datetime | None, now: dt.datetime) -> str | None:
    """Why the time since step `hold.after` completed is outside the hold time, or None when within it
    (or when that step was not completed, e.g. skipped: there is nothing to measure)."""
    if previous_completed_at is None:
        return None
    elapsed = (now - previous_completed_at).total_seconds() / 60
    if hold.min_minutes is not None and elapsed < hold.min_minutes:
        return (f"started {minutes_text(elapsed)} after step {hold.after} was completed; "
                f"the minimum hold time is {minutes_text(hold.min_minutes)}")
    if hold.max_minutes is not None and elapsed > hold.max_minutes:
        return (f"started {minutes_text(elapsed)} after step {hold.after} was completed; "
                f"the maximum hold time is {minutes_text(hold.max_minutes)}")
    return None


def missing(step: Step, *, entered: Collection[str], scanned_kinds: Collection[str], used_lines: Collection[int],
            sampled: Collection[str], unverified: Collection[str], identity_needed: bool = False) -> list[str]:
    """What the step still lacks before it can be completed, in words for the operator screen.
    `identity_needed`: the step handles a patient's material and no matching chain of identity
    scan is recorded yet."""
    lacking = [f"a value for {p.label}" for p in step.parameters if p.required and p.id not in entered]
    lacking += [f"a scan of the {kind.replace('_', ' ')}" for kind in step.equipment if kind not in scanned_kinds]
    lacking += [f"a lot of {line.material}" for i, line in enumerate(step.materials) if i not in used_lines]
    lacking += [f"the sample {point.name}" for point in step.samples if point.id not in sampled]
    labels = {p.id: p.label for p in step.parameters}
    lacking += [f"second-person verification of {labels.get(p, p)}" for p in unverified]
    if identity_needed:
        lacking.append("a scan of the bag's chain of identity label (scan it first)")
    return lacking


def data_hash(*, entries: Iterable[Mapping], scans: Iterable[Mapping], uses: Iterable[Mapping],
              samples: Iterable[Mapping], identity_scans: Iterable[Mapping] = ()) -> str:
    """SHA-256 of the step's current data as canonical JSON: what the 'Performed' signature binds to.
    Chain of identity scans are hashed when the step has some (the hash of other steps is unchanged)."""
    identity = list(identity_scans)
    return canonical.content_hash({"entries": list(entries), "scans": list(scans), "uses": list(uses),
                                   "samples": list(samples), **({"identity_scans": identity} if identity else {})})


def check_submission_id(submission_id) -> str:
    """The idempotency key of a submission: 1 to 64 characters. Returns it stripped, or raises ValueError."""
    text = submission_id.strip() if isinstance(submission_id, str) else ""
    if not 1 <= len(text) <= 64:
        raise ValueError("Each submission needs a submission id of 1 to 64 characters (a UUID made by the form "
                         "or client), so that a retried request is recognised.")
    return text
