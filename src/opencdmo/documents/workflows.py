"""The lifecycles of a document version and of a document, with their signatures and rules.

A version is authored, reviewed by someone else and approved by a third person. It takes
effect at the start of its effective date (never before approval) and is superseded at the
instant the next version takes effect; those two steps follow the clock, not a person, so they
are not transitions anyone can take (see services.take_effect_due).
"""

from opencdmo.core.workflows import Transition, Workflow, not_signed_by_actor, signature_still_valid

VERSION_STATES = {
    "draft": "Draft",
    "in_review": "In review",
    "reviewed": "Reviewed",
    "approved": "Approved, not yet effective",
    "effective": "Effective",
    "superseded": "Superseded",
    "obsolete": "Obsolete",
    "withdrawn": "Withdrawn",
}


def has_effective_date(version, actor):
    if version.effective_date is None:
        return f"Give {version} an effective date before submitting it for review."
    return None


def has_content(version, actor):
    from opencdmo.core.models import Attachment  # noqa: PLC0415

    if version.content.strip():
        return None
    if Attachment.objects.filter(record_type="documents.documentversion", record_id=str(version.pk)).exists():
        return None
    return f"{version} has no content: write its text or attach its file before submitting it."


version_workflow = Workflow(
    name="Document version",
    states=VERSION_STATES,
    transitions=[
        Transition("submit", "Submit for review", ("draft",), "in_review",
                   permission="documents.author", signature="Authored",
                   guards=(has_effective_date, has_content)),
        Transition("review", "Review", ("in_review",), "reviewed",
                   permission="documents.review", signature="Reviewed",
                   guards=(not_signed_by_actor("Authored", rule="The reviewer is not the author"),
                           signature_still_valid("Authored", rule="Review what the author signed"))),
        Transition("approve", "Approve", ("reviewed",), "approved",
                   permission="documents.approve", signature="Approved",
                   guards=(not_signed_by_actor("Authored", "Reviewed",
                                               rule="The approver is neither the author nor the reviewer"),
                           signature_still_valid("Reviewed", rule="Approve what the reviewer signed"))),
        Transition("return", "Return to draft", ("in_review", "reviewed"), "draft",
                   permission="documents.review", reason_required=True),
        Transition("withdraw", "Withdraw", ("draft", "in_review", "reviewed"), "withdrawn",
                   permission="documents.author", reason_required=True),
    ],
)

DOCUMENT_STATES = {"active": "Active", "obsolete": "Obsolete"}

document_workflow = Workflow(
    name="Document",
    states=DOCUMENT_STATES,
    initial="active",
    transitions=[
        Transition("make_obsolete", "Make obsolete", ("active",), "obsolete",
                   permission="documents.manage", signature="Approved", reason_required=True),
    ],
)
