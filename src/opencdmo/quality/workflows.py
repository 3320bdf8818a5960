"""The quality records' lifecycles, declared: states, transitions, permissions, signatures, guards."""

from opencdmo.core.workflows import Transition, Workflow, author_is_not, not_signed_by_actor, signature_still_valid

# --- Change control ---


def proposer_or_qa(change, actor):
    if change.proposed_by_id == actor.pk or actor.has_permission("quality.assess_change"):
        return None
    return f"Only the proposer of {change} or QA may do this."


def _assessment_complete(change, actor):
    """Q10-1: a change goes for approval only once classified and assessed for impact."""
    if not change.classification:
        return f"Classify {change} (minor, major or critical) before requesting approval."
    impacts = list(change.impacts.all())
    if not impacts:
        return f"Add at least one impact row to {change}'s assessment before requesting approval."
    if missing := [i.get_area_display() for i in impacts if not i.assessment.strip()]:
        return f"Write the assessment of every impact row before requesting approval (missing: {', '.join(missing)})."
    return None


def _sponsors_have_approved(change, actor):
    """The quality agreement's rule: every sponsor whose approval was requested has given it."""
    decisions = list(change.sponsor_approvals.exclude(status="withdrawn").select_related("sponsor"))
    if rejected := [a for a in decisions if a.status == "rejected"]:
        return (f"{rejected[0].sponsor.name} rejected {change}: return it to assessment or reject it.")
    if pending := [a for a in decisions if a.status != "approved"]:
        return f"Waiting for the sponsor's approval ({', '.join(a.number for a in pending)}) before QA approval."
    return None


def _is_not_proposer(change, actor):
    if change.proposed_by_id == actor.pk:
        return f"Segregation of duties: you proposed {change}, so someone else must approve it."
    return None


def _implementation_complete(change, actor):
    tasks = list(change.tasks.all())
    if open_tasks := [t for t in tasks if not t.done]:
        return f"{len(open_tasks)} implementation task(s) of {change} are not done yet."
    if unlinked := [t for t in tasks if t.record_type and not t.record_id]:
        return (f"Link the new version produced by each task before closing {change} "
                f"({len(unlinked)} task(s) without it).")
    return None


CHANGE_OPEN_STATES = ("draft", "assessment", "awaiting_approval", "approved", "implementation")
CHANGE_IMPLEMENTABLE_STATES = ("approved", "implementation")

change_workflow = Workflow(
    name="Change control",
    states={
        "draft": "Draft",
        "assessment": "Impact assessment",
        "awaiting_approval": "Awaiting approval",
        "approved": "Approved",
        "implementation": "In implementation",
        "closed": "Closed",
        "rejected": "Rejected",
        "cancelled": "Cancelled",
    },
    transitions=[
        Transition("submit", "Submit for assessment", ("draft",), "assessment",
                   permission="quality.propose_change", signature="Authored"),
        Transition("request_approval", "Request approval", ("assessment",), "awaiting_approval",
                   permission="quality.assess_change", guards=(_assessment_complete,)),
        Transition("return_to_assessment", "Return to assessment", ("awaiting_approval",), "assessment",
                   permission="quality.assess_change", reason_required=True),
        Transition("approve", "Approve", ("awaiting_approval",), "approved",
                   permission="quality.approve_change", signature="Approved",
                   guards=(_sponsors_have_approved, _is_not_proposer,
                           not_signed_by_actor("Authored", rule="Proposer is not approver"),
                           signature_still_valid("Authored", rule="Approve what the proposer signed"))),
        Transition("implement", "Start implementation", ("approved",), "implementation",
                   permission="quality.propose_change"),
        Transition("close", "Close", ("approved", "implementation"), "closed",
                   permission="quality.approve_change", signature="Approved", guards=(_implementation_complete,)),
        Transition("reject", "Reject", ("assessment", "awaiting_approval"), "rejected",
                   permission="quality.assess_change", reason_required=True),
        Transition("cancel", "Cancel", ("draft", "assessment", "awaiting_approval"), "cancelled",
                   permission="quality.propose_change", reason_required=True, guards=(proposer_or_qa,)),
    ],
)


def _change_awaits_approval(approval, actor):
    if approval.change.status != "awaiting_approval":
        return f"{approval.change} is not awaiting approval, so it cannot be decided now."
    return None


# A sponsor's decision on a change, signed by that sponsor's quality lead.
sponsor_approval_workflow = Workflow(
    name="Sponsor approval",
    initial="pending",
    states={"pending": "Pending", "approved": "Approved", "rejected": "Rejected", "withdrawn": "Withdrawn"},
    transitions=[
        Transition("approve", "Approve the change", ("pending",), "approved",
                   permission="quality.sponsor_approve_change", signature="Approved",
                   guards=(_change_awaits_approval,)),
        Transition("reject", "Reject the change", ("pending",), "rejected",
                   permission="quality.sponsor_approve_change", signature="Rejected", reason_required=True,
                   guards=(_change_awaits_approval,)),
    ],
)

# --- Risk assessment ---

risk_method_workflow = Workflow(
    name="Risk method",
    states={"draft": "Draft", "approved": "Approved", "superseded": "Superseded", "void": "Void"},
    transitions=[
        Transition("approve", "Approve for use", ("draft",), "approved",
                   permission="quality.approve_risk", signature="Approved"),
        Transition("void", "Void", ("draft",), "void", permission="quality.assess_risk", reason_required=True),
    ],
)

risk_assessment_workflow = Workflow(
    name="Risk assessment",
    states={"draft": "Draft", "in_review": "In review", "reviewed": "Reviewed", "approved": "Approved",
            "void": "Void"},
    transitions=[
        Transition("submit", "Submit for review", ("draft",), "in_review",
                   permission="quality.assess_risk", signature="Authored"),
        Transition("review", "Review", ("in_review",), "reviewed", permission="quality.assess_risk",
                   signature="Reviewed",
                   guards=(author_is_not("Author is not reviewer"),
                           not_signed_by_actor("Authored", rule="Author is not reviewer"))),
        Transition("approve", "Approve", ("reviewed",), "approved", permission="quality.approve_risk",
                   signature="Approved",
                   guards=(author_is_not("Author is not approver"),
                           not_signed_by_actor("Authored", rule="Author is not approver"),
                           signature_still_valid("Reviewed", rule="Approve what the reviewer signed"))),
        # Re-scoring needs the assessment back in draft, with the reason, and then new signatures.
        Transition("return", "Return to draft", ("in_review", "reviewed", "approved"), "draft",
                   permission="quality.assess_risk", reason_required=True),
        Transition("void", "Void", ("draft", "in_review"), "void", permission="quality.assess_risk",
                   reason_required=True),
    ],
)

# --- Deviations ---
# 21 CFR 211.192: every deviation is investigated to a root cause and closed by the quality unit.


def closer_did_not_raise_it(deviation, actor):
    if deviation.raised_by_id == actor.pk:
        return f"Segregation of duties: you raised {deviation}, so someone else in QA must close it."
    return None


def closer_did_not_investigate_it(deviation, actor):
    if deviation.investigator_id == actor.pk:
        return f"Segregation of duties: you investigated {deviation}, so someone else in QA must close it."
    return None


def actor_is_the_investigator(deviation, actor):
    if deviation.investigator_id != actor.pk:
        who = deviation.investigator.full_name if deviation.investigator_id else "nobody yet"
        return f"Only the assigned investigator ({who}) submits the investigation of {deviation}."
    return None


def investigation_complete(deviation, actor):
    missing = [label for field, label in (
        ("impact_assessment", "the impact assessment (incl. other batches)"),
        ("root_cause_category", "the root-cause category"), ("root_cause", "the investigation narrative"),
        ("conclusion", "the conclusion")) if not str(getattr(deviation, field) or "").strip()]
    if not deviation.five_whys:
        missing.append("the 5-Why analysis")
    if not deviation.no_capa_justification.strip() and not deviation.capa_links.exists():
        missing.append("a CAPA, or the justification why none is needed")
    if missing:
        return f"Investigation incomplete: record {', '.join(missing)} for {deviation}."
    return None


def linked_capas_approved(deviation, actor):
    waiting = [link.capa.number for link in deviation.capa_links.select_related("capa")
               if link.capa.status in ("draft", "cancelled")]
    if waiting:
        return (f"CAPA plan not approved: {', '.join(waiting)} must have an approved plan before "
                f"{deviation} closes.")
    return None


DEVIATION_STATES = {
    "open": "Open, to classify",
    "investigation": "Under investigation",
    "closure_review": "Awaiting closure",
    "closed": "Closed",
    "cancelled": "Cancelled",
}

deviation_workflow = Workflow(
    name="Deviation",
    initial="open",
    states=DEVIATION_STATES,
    transitions=[
        # Classification is made with the decision-tree form (services.classify_deviation).
        Transition("classify", "Classify", ("open",), "investigation", permission="quality.classify_deviation"),
        Transition("submit", "Submit for closure", ("investigation",), "closure_review",
                   permission="quality.investigate", signature="Performed",
                   guards=(actor_is_the_investigator, investigation_complete)),
        Transition("return", "Return to investigation", ("closure_review",), "investigation",
                   permission="quality.close_deviation", reason_required=True),
        Transition("close", "Close", ("closure_review",), "closed",
                   permission="quality.close_deviation", signature="Approved",
                   guards=(closer_did_not_raise_it, closer_did_not_investigate_it, investigation_complete,
                           linked_capas_approved,
                           signature_still_valid("Performed", rule="Close what the investigator signed"))),
        Transition("cancel", "Cancel (duplicate or raised in error)", ("open",), "cancelled",
                   permission="quality.classify_deviation", reason_required=True),
    ],
)

# Steps taken with their own forms, not with the generic signature dialog.
DEVIATION_FORM_STEPS = ("classify",)


def extended_record_still_open(extension, actor):
    target = extension.deviation or extension.capa
    if target.status in ("closed", "cancelled"):
        return f"{target} is {target.status}: its due date can no longer be extended."
    if target.due_date != extension.current_due_date:
        return (f"{target}'s due date changed to {target.due_date:%Y-%m-%d} after {extension} was requested; "
                "reject this request and ask again.")
    return None


# One extension mechanism for deviations and CAPAs: only a QA approval moves a due date.
extension_workflow = Workflow(
    name="Due date extension",
    initial="requested",
    states={"requested": "Requested", "approved": "Approved", "rejected": "Rejected"},
    transitions=[
        Transition("approve", "Approve extension", ("requested",), "approved",
                   permission="quality.approve_extension", signature="Approved",
                   guards=(author_is_not("Approver is not the requester"), extended_record_still_open)),
        Transition("reject", "Reject extension", ("requested",), "rejected",
                   permission="quality.approve_extension", reason_required=True,
                   guards=(author_is_not("Approver is not the requester"),)),
    ],
)

# --- CAPA ---
# Q10-1: corrective and preventive actions, verified, and checked for effect before closure.


def plan_has_actions(capa, actor):
    if not capa.actions.exclude(status="cancelled").exists():
        return f"Plan empty: add at least one corrective or preventive action to {capa} first."
    return None


def every_action_verified_or_cancelled(capa, actor):
    statuses = list(capa.actions.values_list("status", flat=True))
    pending = [s for s in statuses if s not in ("verified", "cancelled")]
    if pending:
        return (f"Actions not done: {len(pending)} action{'s' if len(pending) > 1 else ''} of {capa} "
                "still open or awaiting verification; each must be verified or cancelled.")
    if "verified" not in statuses:
        return f"Nothing implemented: no action of {capa} has been verified."
    return None


def effectiveness_verified_or_justified(capa, actor):
    if capa.effectiveness_result not in ("effective", "justified"):
        return (f"Effectiveness not shown: record the effectiveness check of {capa} as effective, "
                "or justify why it cannot be verified.")
    return None


def closer_is_not_the_owner(capa, actor):
    if capa.owner_id == actor.pk:
        return f"Segregation of duties: you own {capa}, so someone else in QA must close it."
    return None


CAPA_STATES = {
    "draft": "Draft plan",
    "implementing": "Implementing",
    "effectiveness_check": "Effectiveness check",
    "closed": "Closed",
    "cancelled": "Cancelled",
}

capa_workflow = Workflow(
    name="CAPA",
    initial="draft",
    states=CAPA_STATES,
    transitions=[
        Transition("approve", "Approve plan", ("draft",), "implementing",
                   permission="quality.approve_capa", signature="Approved",
                   guards=(author_is_not("CAPA approver is not its creator"), plan_has_actions)),
        Transition("complete", "Implementation complete", ("implementing",), "effectiveness_check",
                   permission="quality.manage_capa", guards=(every_action_verified_or_cancelled,)),
        # Taken when the effectiveness check finds the CAPA not effective (services.record_effectiveness).
        Transition("reopen", "Back to implementing", ("effectiveness_check",), "implementing",
                   permission="quality.manage_capa", reason_required=True),
        Transition("close", "Close", ("effectiveness_check",), "closed",
                   permission="quality.approve_capa", signature="Approved",
                   guards=(every_action_verified_or_cancelled, effectiveness_verified_or_justified,
                           closer_is_not_the_owner)),
        Transition("cancel", "Cancel", ("draft", "implementing"), "cancelled",
                   permission="quality.approve_capa", reason_required=True),
    ],
)

# Steps taken with their own forms, not with the generic signature dialog.
CAPA_FORM_STEPS = ("complete", "reopen")
