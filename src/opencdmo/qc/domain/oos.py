"""OOS investigations (OOS-1): the Phase I laboratory checklist and the retest counting rules.

Phase I is the laboratory's own look at the run: the analyst and supervisor answer each item of
the checklist (yes / no / n.a., with a note). Only a documented assignable laboratory cause lets
QA invalidate the result; then the test is repeated once on the original sample. Without one the
investigation goes to Phase II (production review, batch impact, a deviation), where a predefined
number of retests may be done on the original sample, each by a second analyst. Retests never
replace a confirmed original: there is no testing into compliance.
"""

from dataclasses import dataclass

# Convention of the site's OOS SOP: how many retests Phase II allows on the original sample.
# The number is stored on each investigation when it escalates, so a later change of the SOP
# does not change what an open investigation allowed.
PHASE_TWO_RETESTS = 2

# After a Phase I laboratory error: the test is repeated once on the original sample.
PHASE_ONE_RETESTS = 1

YES, NO, NOT_APPLICABLE = "yes", "no", "n.a."
ANSWERS = (YES, NO, NOT_APPLICABLE)
NOTE_MAX = 500
CAUSE_MAX = 4000


@dataclass(frozen=True)
class ChecklistItem:
    key: str
    label: str


# The analyst's and supervisor's Phase I checks (FDA OOS guidance, Phase I). "Yes" means the
# check found everything in order; a "no" is a finding that may be the assignable cause.
PHASE_ONE_CHECKLIST = (
    ChecklistItem("calculations", "Calculations and data transcription checked and correct"),
    ChecklistItem("method", "The current version of the method was followed as written"),
    ChecklistItem("instrument", "Instrument qualified, calibrated and working properly (log and printouts checked)"),
    ChecklistItem("system_suitability", "System suitability and run controls met their criteria"),
    ChecklistItem("standards_reagents", "Reference standards, reagents and consumables correct and in date"),
    ChecklistItem("sample_preparation", "Sample identity, preparation and dilutions correct"),
    ChecklistItem("analyst", "Analyst trained on the method; the analyst was interviewed"),
    ChecklistItem("preparations_retained", "Test solutions and preparations kept, not discarded"),
)
ITEM_KEYS = tuple(item.key for item in PHASE_ONE_CHECKLIST)
ITEM_LABELS = {item.key: item.label for item in PHASE_ONE_CHECKLIST}


class InvalidChecklist(ValueError):
    """The answers cannot be recorded; the message says what to correct."""


def blank_checklist() -> list[dict]:
    """Every Phase I item, unanswered."""
    return [{"item": key, "answer": "", "note": ""} for key in ITEM_KEYS]


def merge_answers(checklist: list[dict], answers: list[dict]) -> list[dict]:
    """The checklist with `answers` applied (each {item, answer, note}); items not given keep
    their answer. Raises InvalidChecklist naming the bad entry."""
    current = {entry.get("item"): dict(entry) for entry in checklist or [] if entry.get("item") in ITEM_LABELS}
    seen = set()
    for position, entry in enumerate(answers, start=1):
        if not isinstance(entry, dict):
            raise InvalidChecklist(f"Answer {position} must name an item, an answer and a note.")
        key = str(entry.get("item", "")).strip()
        if key not in ITEM_LABELS:
            raise InvalidChecklist(f"'{key[:40]}' is not a Phase I checklist item; use one of {', '.join(ITEM_KEYS)}.")
        if key in seen:
            raise InvalidChecklist(f"'{ITEM_LABELS[key]}' is answered twice; answer each item once.")
        seen.add(key)
        answer = str(entry.get("answer", "") or "").strip().lower()
        if answer in ("na", "n/a", "not applicable"):
            answer = NOT_APPLICABLE
        if answer not in (*ANSWERS, ""):
            raise InvalidChecklist(f"Answer '{ITEM_LABELS[key]}' with yes, no or n.a.")
        note = str(entry.get("note", "") or "").strip()
        if len(note) > NOTE_MAX:
            raise InvalidChecklist(f"The note on '{ITEM_LABELS[key]}' is longer than {NOTE_MAX} characters; shorten it.")
        if answer == NO and not note:
            raise InvalidChecklist(f"'{ITEM_LABELS[key]}' is answered no: say in the note what was found.")
        current[key] = {"item": key, "answer": answer, "note": note}
    return [current.get(key, {"item": key, "answer": "", "note": ""}) for key in ITEM_KEYS]


def unanswered(checklist: list[dict]) -> list[str]:
    """The labels of the items without an answer, in checklist order."""
    answered = {entry.get("item") for entry in checklist or [] if entry.get("answer") in ANSWERS}
    return [ITEM_LABELS[key] for key in ITEM_KEYS if key not in answered]


def findings(checklist: list[dict]) -> list[str]:
    """The labels of the items answered no (what the laboratory found wrong)."""
    return [ITEM_LABELS[e["item"]] for e in checklist or [] if e.get("answer") == NO and e.get("item") in ITEM_LABELS]


def retest_refusal(*, number: str, status: str, conclusion: str, retests_allowed: int, retests_done: int,
                   same_analyst_as_original: bool) -> str | None:
    """Why a retest may not be entered under the investigation `number` now, or None.

    `status` is the investigation's (phase_1, phase_2, closed); `retests_done` counts every
    retest already entered under it, invalidated ones too (a retest is never taken back).
    """
    if status == "phase_1":
        return (f"{number} is in Phase I: finish the laboratory investigation first. A retest is ordered when QA "
                "approves the invalidation for a documented laboratory error, or when the investigation goes to "
                "Phase II (OOS-1).")
    if status == "closed" and conclusion != "laboratory_error":
        return (f"{number} is closed with the OOS confirmed: the original result stands and no retest may be "
                "entered (no testing into compliance, OOS-1).")
    if retests_done >= retests_allowed:
        return (f"{number} allows {retests_allowed} retest{'s' if retests_allowed != 1 else ''} and "
                f"{retests_done} {'have' if retests_done != 1 else 'has'} been entered: no further retest may be "
                "entered (OOS-1). Record the outcome on the investigation.")
    if status == "phase_2" and same_analyst_as_original:
        return (f"In Phase II of {number} a retest is done by a second analyst: you entered the original result, "
                "so another analyst must do the retest (OOS-1).")
    return None
