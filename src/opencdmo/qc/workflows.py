"""The QC records' lifecycles, each on the one workflow mechanism (core.workflows)."""

from opencdmo.core.workflows import Transition, Workflow, author_is_not

from .domain import oos

# --- Methods and specifications ---

SPECIFICATION_STATES = {
    "draft": "Draft",
    "approved": "Approved (effective)",
    "superseded": "Superseded",
    "retired": "Retired",
}


def specification_has_criteria(spec, actor):
    """Nothing is approved empty: a specification judges results by at least one criterion."""
    if not spec.tests.exists():
        return f"{spec} has no acceptance criteria: add at least one before approval."
    return None


def revision_change_still_approved(spec, actor):
    """A new revision is made effective only under its change control, still approved (Q10-1)."""
    from opencdmo.quality.workflows import CHANGE_IMPLEMENTABLE_STATES  # noqa: PLC0415

    if spec.revision <= 1:
        return None
    change = spec.change_control
    if change is None:
        return f"{spec} is revision {spec.revision} and names no change control: it cannot be approved."
    if change.status not in CHANGE_IMPLEMENTABLE_STATES:
        return (f"{change.number} behind {spec} is no longer approved ({change.status}): revision "
                f"{spec.revision} can be approved only under an approved change control.")
    return None


def one_effective_per_subject(spec, actor):
    """Results of a product (or material) at a stage are judged by one specification, not two."""
    from .models import Specification  # noqa: PLC0415

    other = (Specification.objects.filter(status="approved", stage=spec.stage, product_id=spec.product_id,
                                          material_id=spec.material_id).exclude(code=spec.code).first())
    if other is not None:
        return (f"{other.number} ({other.code}) is already the effective {spec.get_stage_display().lower()} "
                f"specification of the same {'material' if spec.material_id else 'product'}: retire it first, "
                "or revise it instead of approving a second one.")
    return None


specification_workflow = Workflow(
    name="Specification",
    states=SPECIFICATION_STATES,
    initial="draft",
    transitions=[
        Transition("approve", "Approve", ("draft",), "approved", permission="qc.approve_specifications",
                        signature="Approved",
                        guards=(author_is_not("Segregation of duties (author is not approver)"),
                                specification_has_criteria, revision_change_still_approved,
                                one_effective_per_subject)),
        Transition("retire", "Retire", ("approved",), "retired", permission="qc.approve_specifications",
                        reason_required=True),
    ],
)

# --- Samples and results ---

SAMPLE_STATES = {
    "registered": "Registered, awaiting receipt",
    "received": "Received in the laboratory",
    "in_testing": "In testing",
    "tested": "Testing complete",
    "retained": "Retained (not tested)",
    "disposed": "Disposed",
}
# A sample moves through the laboratory's own services (receive, enter results, retain, dispose);
# the workflow gives its states their labels and the record pages their status badge.
sample_workflow = Workflow(name="Sample", states=SAMPLE_STATES, transitions=[], initial="registered")

RESULT_STATES = {
    "entered": "Entered, awaiting review",
    "reviewed": "Reviewed",
    "invalidation_requested": "Invalidation requested",
    "invalidated": "Invalidated",
}


def reviewer_is_not_analyst(result, actor):
    """Second-person review (REL-1, maker is not checker): whoever entered the result does not review it."""
    if result.analyst_id == actor.pk:
        return f"Segregation: you entered this result ({result}), so another reviewer must review it."
    return None


def approver_is_not_requester(result, actor):
    """QA approving an invalidation is neither the person who asked for it nor the analyst."""
    from opencdmo.core.models import AuditEvent  # noqa: PLC0415

    if result.analyst_id == actor.pk:
        return f"Segregation: you entered {result}, so QA must approve its invalidation."
    requested = (AuditEvent.objects.filter(record_type="qc.testresult", record_id=str(result.pk),
                                           action="transition", changes__contains='"invalidation_requested"]')
                 .order_by("-occurred_at", "-seq").values_list("actor_id", flat=True).first())
    if requested == actor.pk:
        return f"Segregation: you asked for the invalidation of {result}, so someone else in QA must approve it."
    return None


def not_under_investigation(result, actor):
    """A failing result is invalidated only by its OOS investigation (OOS-1): a documented
    laboratory error approved by QA, never by a plain request."""
    investigation = getattr(result, "investigation", None)
    if investigation is not None:
        return (f"{result} is under OOS investigation {investigation.number}: it can only be invalidated there, "
                "when a laboratory error is documented and QA approves it.")
    return None


result_workflow = Workflow(
    name="Result",
    states=RESULT_STATES,
    initial="entered",
    transitions=[
        Transition("review", "Review", ("entered",), "reviewed", permission="qc.review_results",
                    signature="Reviewed", guards=(reviewer_is_not_analyst,)),
        Transition("request_invalidation", "Request invalidation", ("entered", "reviewed"), "invalidation_requested",
                    permission="qc.enter_results", reason_required=True, guards=(not_under_investigation,)),
        Transition("approve_invalidation", "Approve invalidation", ("invalidation_requested",), "invalidated",
                    permission="qc.approve_invalidation", signature="Approved",
                    guards=(approver_is_not_requester, not_under_investigation)),
        Transition("decline_invalidation", "Decline invalidation", ("invalidation_requested",), "entered",
                    permission="qc.approve_invalidation", reason_required=True),
    ],
)

# --- OOS investigations ---


OOS_STATES = {
    "phase_1": "Phase I: laboratory investigation",
    "phase_2": "Phase II: full-scale investigation",
    "closed": "Closed",
}


def checklist_complete(investigation, actor):
    """OOS-1 Phase I: every check of the laboratory investigation is answered before it ends."""
    if missing := oos.unanswered(investigation.checklist):
        return (f"Answer every Phase I checklist item of {investigation} first (unanswered: "
                f"{'; '.join(missing)}).")
    return None


def assignable_cause_documented(investigation, actor):
    """OOS-1: a result is invalidated only for a documented assignable laboratory cause."""
    if not investigation.assignable_cause.strip():
        return (f"Write the assignable laboratory cause of {investigation} before QA approves the invalidation; "
                "without one the investigation goes to Phase II.")
    return None


def no_assignable_cause(investigation, actor):
    """Phase II is for an OOS without an assignable laboratory cause."""
    if investigation.assignable_cause.strip():
        return (f"{investigation} documents an assignable laboratory cause: QA approves the invalidation, or "
                "clear the cause in Phase I if it does not explain the result, then escalate to Phase II.")
    return None


def not_the_original_analyst(investigation, actor):
    """Segregation: the analyst whose result is investigated does not approve its outcome."""
    if investigation.result.analyst_id == actor.pk:
        return (f"Segregation: you entered the result under investigation in {investigation}, "
                "so someone else in QA must do this.")
    return None


def phase_two_documented(investigation, actor):
    """OOS-1 Phase II: production reviewed and the impact on this and other batches assessed."""
    missing = [label for label, text in (("the production review", investigation.production_review),
                                         ("the batch impact", investigation.batch_impact)) if not text.strip()]
    if missing:
        return f"Write {' and '.join(missing)} of {investigation} before closing it."
    return None


oos_workflow = Workflow(
    name="OOS investigation",
    states=OOS_STATES,
    initial="phase_1",
    transitions=[
        Transition("invalidate", "Approve invalidation (laboratory error)", ("phase_1",), "closed",
                       permission="qc.approve_invalidation", signature="Approved",
                       guards=(checklist_complete, assignable_cause_documented, not_the_original_analyst)),
        Transition("escalate", "Escalate to Phase II", ("phase_1",), "phase_2",
                       permission="qc.investigate_oos", guards=(checklist_complete, no_assignable_cause)),
        Transition("close", "Close the investigation", ("phase_2",), "closed",
                       permission="qc.close_oos", signature="Approved",
                       guards=(phase_two_documented, not_the_original_analyst)),
    ],
)

# --- Stability ---

STABILITY_STATES = {"draft": "Draft", "active": "Active", "completed": "Completed", "cancelled": "Cancelled"}


def stability_specification_effective(study, actor):
    """A study is approved only against an approved (effective) stability specification."""
    if study.specification.status != "approved":
        return (f"{study.specification.number} is no longer approved: choose the effective stability "
                f"specification of {study.product.code} before approving {study}.")
    return None


stability_workflow = Workflow(
    name="Stability study",
    states=STABILITY_STATES,
    transitions=[
        # Approval fixes the protocol and creates its pulls (services.transition_study).
        Transition("approve", "Approve protocol", ("draft",), "active",
                             permission="qc.approve_specifications", signature="Approved",
                             guards=(author_is_not("Segregation of duties"),
                                     stability_specification_effective)),
        # Every pull pulled and tested, or a reason why not (checked by services.transition_study).
        Transition("complete", "Complete study", ("active",), "completed",
                             permission="qc.manage_stability"),
        Transition("cancel", "Cancel study", ("draft", "active"), "cancelled",
                             permission="qc.manage_stability", reason_required=True),
    ],
)
