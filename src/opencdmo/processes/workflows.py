"""The lifecycle of a master batch record version, with its signatures and rules.

Authored by a process engineer, approved by QA (never the author), and made effective by QA
under an approved change control; the version it replaces is superseded in the same step.
"""

from opencdmo.core.workflows import Transition, Workflow, not_signed_by_actor, signature_still_valid

VERSION_STATES = {
    "draft": "Draft",
    "in_review": "In review",
    "approved": "Approved, not yet effective",
    "effective": "Effective",
    "superseded": "Superseded",
    "withdrawn": "Withdrawn",
}


def names_change_control(version, actor):
    if not version.change_control.strip():
        return f"Name the change control of {version} before submitting it: a new version needs one."
    return None


version_workflow = Workflow(
    name="Master batch record version",
    states=VERSION_STATES,
    transitions=[
        Transition("submit", "Submit for review", ("draft",), "in_review",
                   permission="processes.author", signature="Authored", guards=(names_change_control,)),
        Transition("approve", "Approve", ("in_review",), "approved",
                   permission="processes.approve", signature="Approved",
                   guards=(not_signed_by_actor("Authored", rule="The approver is not the author"),
                           signature_still_valid("Authored", rule="Approve what the author signed"))),
        Transition("make_effective", "Make effective", ("approved",), "effective",
                   permission="processes.approve", signature="QA Released",
                   guards=(not_signed_by_actor("Authored", rule="The author does not release their own version"),
                           signature_still_valid("Approved", rule="Release what was approved"))),
        Transition("return", "Return to draft", ("in_review", "approved"), "draft",
                   permission="processes.approve", reason_required=True),
        Transition("withdraw", "Withdraw", ("draft", "in_review", "approved"), "withdrawn",
                   permission="processes.author", reason_required=True),
    ],
)
