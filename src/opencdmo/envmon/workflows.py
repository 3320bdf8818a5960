"""The environmental monitoring records' lifecycles, each on the one workflow mechanism (core.workflows)."""

from opencdmo.core.workflows import Transition, Workflow, author_is_not, not_signed_by_actor, signature_still_valid

from .domain.programme import VIABLE

# --- Samples and excursions ---

SAMPLE_STATES = {
    "collected": "Collected",
    "incubating": "Incubating",
    "read": "Read",
    "invalidated": "Invalidated",
}


def no_action_excursion(sample, actor):
    """An action-level result is closed through its deviation, never by invalidating it."""
    if sample.excursions.filter(kind="action").exists():
        return (f"{sample} raised an action excursion: invalidate it only through its deviation's "
                "investigation, not here.")
    return None


# Collection, incubation and reading are the programme's own services; invalidation is a step of
# its own, with a reason, by a reviewer.
sample_workflow = Workflow(
    name="EM sample",
    states=SAMPLE_STATES,
    initial="collected",
    transitions=[
        Transition("invalidate", "Invalidate", ("collected", "incubating", "read"), "invalidated",
                   permission="envmon.review", reason_required=True, guards=(no_action_excursion,)),
    ],
)

EXCURSION_STATES = {"open": "Open", "acknowledged": "Acknowledged"}


def growth_identified(excursion, actor):
    """Growth in grade A or B is identified to species before QA closes its excursion (A1-3)."""
    sample = excursion.sample
    if (sample.grade in ("A", "B") and sample.sample_type in VIABLE and sample.count
            and not sample.identifications.exists()):
        return (f"{sample} grew {sample.count} CFU in grade {sample.grade}: identify the organism before "
                "acknowledging the excursion.")
    return None


excursion_workflow = Workflow(
    name="EM excursion",
    states=EXCURSION_STATES,
    initial="open",
    transitions=[
        Transition("acknowledge", "Acknowledge", ("open",), "acknowledged",
                   permission="envmon.acknowledge_excursions", guards=(growth_identified,)),
    ],
)

# --- Alert and action levels, classification ---

LEVEL_SET_STATES = {
    "draft": "Draft",
    "reviewed": "Reviewed, awaiting approval",
    "approved": "Approved (in force)",
    "superseded": "Superseded",
    "retired": "Retired",
}

level_set_workflow = Workflow(
    name="Alert and action levels",
    states=LEVEL_SET_STATES,
    initial="draft",
    transitions=[
        Transition("review", "Review", ("draft",), "reviewed", permission="envmon.review", signature="Reviewed",
                   guards=(author_is_not("Segregation of duties (author is not reviewer)"),)),
        Transition("approve", "Approve", ("reviewed",), "approved", permission="envmon.approve", signature="Approved",
                   guards=(author_is_not("Segregation of duties (author is not approver)"),
                           not_signed_by_actor("Reviewed", rule="Segregation of duties (reviewer is not approver)"),
                           signature_still_valid("Reviewed", rule="Review before approval"))),
        Transition("retire", "Retire", ("approved",), "retired", permission="envmon.approve", reason_required=True),
    ],
)

CLASSIFICATION_STATES = {
    "draft": "Planned, readings in progress",
    "completed": "Completed, awaiting approval",
    "approved": "Approved",
    "cancelled": "Cancelled",
}


def approver_did_not_perform(classification, actor):
    """Segregation of duties: whoever took a reading or completed the classification does not approve it."""
    if classification.performed_by_id == actor.pk or classification.readings.filter(recorded_by=actor).exists():
        return f"Segregation of duties: you performed {classification}, so someone else must approve it."
    return None


def every_location_read(classification, actor):
    """A classification is judged on every location and every size, never on part of the room."""
    from .selectors import missing_readings  # noqa: PLC0415

    if missing := missing_readings(classification):
        shown = ", ".join(missing[:6]) + (f" and {len(missing) - 6} more" if len(missing) > 6 else "")
        return f"{classification} has no reading yet at {shown}: record them before completing it."
    return None


classification_workflow = Workflow(
    name="Room classification",
    states=CLASSIFICATION_STATES,
    initial="draft",
    transitions=[
        Transition("complete", "Complete", ("draft",), "completed", permission="envmon.manage_programme",
                   guards=(every_location_read,)),
        Transition("approve", "Approve", ("completed",), "approved", permission="envmon.approve",
                   signature="Approved", guards=(approver_did_not_perform,)),
        Transition("cancel", "Cancel", ("draft", "completed"), "cancelled", permission="envmon.manage_programme",
                   reason_required=True),
    ],
)
