"""The lifecycle of a batch record. Disposition (release) follows in its own module."""

from opencdmo.core.workflows import Transition, Workflow

BATCH_STATES = {
    "planned": "Planned",
    "in_progress": "In progress",
    "on_hold": "On hold",
    "completed": "Completed",
    "reviewed": "Reviewed",
    "cancelled": "Cancelled",
}


def every_step_finished(batch, actor):
    pending = batch.steps.exclude(status__in=("completed", "skipped")).values_list("key", flat=True)[:5]
    if pending:
        return f"{batch} has steps not yet done ({', '.join(pending)}): complete or skip them first."
    return None


def every_verification_done(batch, actor):
    from .selectors import unverified_entries  # noqa: PLC0415

    if waiting := unverified_entries(batch):
        return f"{batch} has {len(waiting)} entr{'y' if len(waiting) == 1 else 'ies'} awaiting second-person verification."
    return None


def no_open_exception(batch, actor):
    if count := batch.exceptions.filter(status="open").count():
        return f"{batch} has {count} open exception{'' if count == 1 else 's'}: disposition each before signing the review."
    return None


def reviewer_did_not_execute(batch, actor):
    from .selectors import performers  # noqa: PLC0415

    if actor.pk in performers(batch):
        return f"Segregation of duties: you recorded or verified entries in {batch}, so someone else must review it."
    return None


batch_workflow = Workflow(
    name="Batch",
    states=BATCH_STATES,
    initial="planned",
    transitions=[
        Transition("start", "Start", ("planned",), "in_progress", permission="batches.execute"),
        Transition("hold", "Put on hold", ("in_progress",), "on_hold", permission="batches.hold",
                   reason_required=True),
        Transition("resume", "Resume", ("on_hold",), "in_progress", permission="batches.hold",
                   reason_required=True),
        Transition("complete", "Complete", ("in_progress",), "completed", permission="batches.execute",
                   signature="Performed", guards=(every_step_finished, every_verification_done)),
        Transition("review", "Sign the review", ("completed",), "reviewed", permission="batches.review",
                   signature="Reviewed", guards=(no_open_exception, reviewer_did_not_execute)),
        Transition("cancel", "Cancel", ("planned",), "cancelled", permission="batches.plan",
                   reason_required=True),
    ],
)
