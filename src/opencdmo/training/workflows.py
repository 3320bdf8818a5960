"""A training assignment's lifecycle: completed by the trainee's 'Read and Understood' signature or
by a trainer's record of a session ('Trainer'), failed by a failed assessment, or cancelled."""

from opencdmo.core.workflows import Transition, Workflow

ASSIGNMENT_STATES = {"assigned": "Assigned", "completed": "Completed", "failed": "Failed assessment",
                     "cancelled": "Cancelled"}


def actor_is_trainee(assignment, actor):
    if assignment.user_id != actor.pk:
        return "Only the trainee signs their own 'Read and Understood'."
    return None


def trainer_is_not_trainee(assignment, actor):
    if assignment.user_id == actor.pk:
        return "Trainer is not trainee: someone else must record your training session."
    return None


def reading_is_enough(assignment, actor):
    if assignment.course_id and assignment.course.trainer_led:
        return f"{assignment.course} is trainer-led: a trainer records the session and its assessment."
    return None


assignment_workflow = Workflow(
    name="Training assignment",
    states=ASSIGNMENT_STATES,
    initial="assigned",
    transitions=[
        Transition("read_and_understood", "Sign read and understood", ("assigned",), "completed",
                   permission="training.view", signature="Read and Understood",
                   guards=(actor_is_trainee, reading_is_enough)),
        Transition("pass_session", "Record a passed session", ("assigned",), "completed",
                   permission="training.train", signature="Trainer", guards=(trainer_is_not_trainee,)),
        Transition("fail_session", "Record a failed session", ("assigned",), "failed",
                   permission="training.train", signature="Trainer", guards=(trainer_is_not_trainee,)),
        Transition("cancel", "Cancel", ("assigned",), "cancelled", permission="training.manage",
                   reason_required=True),
    ],
)

# Steps that need more than a signature (the assessment result): taken on the session form only.
SESSION_ACTIONS = ("pass_session", "fail_session")
