"""The disposition's lifecycle (REL-1): open → released | conditionally released (→ released once
the pending results are in) | rejected, each decision signed by QA / the Qualified Person.

A batch is decided with `release.decide` (QA approver / Qualified Person). A material lot is
decided with the materials permission `materials.disposition`, the same one its own release
button needs (QA specialist or approver), since the lot's own status follows in the same step."""

from opencdmo.core.workflows import Transition, Workflow

DISPOSITION_STATES = {
    "open": "Awaiting decision",
    "released": "Released",
    "conditionally_released": "Conditionally released",
    "rejected": "Rejected",
    "cancelled": "Cancelled",
}
DECIDED_STATES = ("released", "conditionally_released", "rejected")
RELEASED_STATES = ("released", "conditionally_released")

NOTICE_STATES = {"open": "Notification due", "notified": "Notified"}


# Named guards (one function per GMP rule). Each returns None, or why the step may not be taken.

def releaser_did_not_perform(disposition, actor):
    """Segregation of duties: QA releasing a batch cannot have taken part in making it."""
    from . import selectors  # noqa: PLC0415  (selectors import this module)

    if disposition.subject_type != selectors.BATCH:
        return None
    batch = selectors.subject_of(disposition)
    if selectors.performed_by(batch, actor):
        return (f"Segregation of duties: you performed work on {batch.number} (entries, scans, materials, samples or "
                "a 'Performed' signature), so another QA person must decide its disposition.")
    return None


def prerequisites_met(disposition, actor):
    from . import selectors  # noqa: PLC0415
    from .domain import prerequisites  # noqa: PLC0415

    return prerequisites.release_refusal(selectors.prerequisites_of(selectors.subject_of(disposition)))


def conditional_prerequisites_met(disposition, actor):
    from . import selectors  # noqa: PLC0415
    from .domain import prerequisites  # noqa: PLC0415

    if disposition.subject_type != selectors.BATCH:
        return "A material lot is released or rejected: conditional release is for batches."
    return prerequisites.conditional_refusal(selectors.prerequisites_of(selectors.subject_of(disposition)))


def no_open_notice(disposition, actor):
    """A late failing result (QC-1) must be handled — the notification recorded — before the release
    is completed."""
    open_ = list(disposition.notices.filter(status="open").values_list("number", flat=True))
    if open_:
        return (f"{disposition} has an open post-release notice ({', '.join(open_)}): record the notification "
                "before completing the release, or reject.")
    return None


def _transitions(permission: str) -> list[Transition]:
    return [
        Transition("release", "Release", ("open",), "released", permission=permission, signature="QA Released",
                   guards=(releaser_did_not_perform, prerequisites_met)),
        Transition("conditional_release", "Release conditionally", ("open",), "conditionally_released",
                   permission=permission, signature="QA Released",
                   guards=(releaser_did_not_perform, conditional_prerequisites_met)),
        Transition("complete", "Complete the release", ("conditionally_released",), "released",
                   permission=permission, signature="QA Released",
                   guards=(releaser_did_not_perform, no_open_notice, prerequisites_met)),
        Transition("reject", "Reject", ("open", "conditionally_released"), "rejected", permission=permission,
                   signature="Rejected", reason_required=True, guards=(releaser_did_not_perform,)),
    ]


disposition_workflow = Workflow(name="Disposition", states=DISPOSITION_STATES, initial="open",
                                transitions=_transitions("release.decide"))
lot_disposition_workflow = Workflow(name="Lot disposition", states=DISPOSITION_STATES, initial="open",
                                    transitions=_transitions("materials.disposition"))


def workflow_for(disposition) -> Workflow:
    return lot_disposition_workflow if disposition.subject_type == "materials.lot" else disposition_workflow
