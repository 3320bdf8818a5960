"""The quality agreement's lifecycle: authored, reviewed and approved with signatures."""

from opencdmo.core.workflows import Transition, Workflow, not_signed_by_actor, signature_still_valid

quality_agreement_workflow = Workflow(
    name="Quality agreement",
    states={
        "draft": "Draft",
        "in_review": "In review",
        "approved": "Approved",
        "superseded": "Superseded",
        "void": "Void",
    },
    transitions=[
        Transition("submit", "Submit for review", ("draft",), "in_review",
                   permission="sponsors.author_agreement", signature="Authored"),
        Transition("return", "Return to draft", ("in_review",), "draft",
                   permission="sponsors.review_agreement", reason_required=True),
        Transition("approve", "Approve", ("in_review",), "approved",
                   permission="sponsors.approve_agreement", signature="Approved",
                   guards=(not_signed_by_actor("Authored", rule="Author is not approver"),
                           signature_still_valid("Authored", rule="Approve what the author signed"))),
        Transition("void", "Void", ("draft", "in_review"), "void",
                   permission="sponsors.author_agreement", reason_required=True),
    ],
)
