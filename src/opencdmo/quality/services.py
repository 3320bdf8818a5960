"""The quality interface other modules call: raise a deviation linked to the records it concerns."""

import datetime as dt

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from opencdmo.core import audit, clock, registry
from opencdmo.core import selectors as core_selectors
from opencdmo.core.access import require
from opencdmo.core.clock import site_today
from opencdmo.core.errors import NotFound, PermissionDenied, RuleViolation
from opencdmo.core.records import create_record, update_record
from opencdmo.core.scoping import get_scoped
from opencdmo.core.signatures import SignatureInput, authenticate_signer
from opencdmo.sponsors import selectors as sponsor_selectors

from . import conf
from .domain import classification as classification_rules
from .domain import due, risk
from .models import (
    Capa,
    CapaAction,
    ChangeControl,
    ChangeImpact,
    ChangeTask,
    Classification,
    Deviation,
    DeviationCapa,
    DeviationLink,
    DueDateExtension,
    FailureMode,
    RiskAssessment,
    RiskMethod,
    SponsorApproval,
)
from .workflows import (
    CAPA_FORM_STEPS,
    CHANGE_IMPLEMENTABLE_STATES,
    DEVIATION_FORM_STEPS,
    capa_workflow,
    change_workflow,
    deviation_workflow,
    extension_workflow,
    proposer_or_qa,
    risk_assessment_workflow,
    risk_method_workflow,
    sponsor_approval_workflow,
)

# --- Deviations ---




def _site_day(moment: dt.datetime) -> dt.date:
    return timezone.localtime(moment).date()


def _clean(value, label: str, *, required: bool = False, max_length: int | None = None) -> str:
    text = str(value or "").strip()
    if required and not text:
        raise RuleViolation(f"{label} is required.")
    if max_length is not None and len(text) > max_length:
        raise RuleViolation(f"{label} is too long: at most {max_length} characters.")
    return text


def _choice(value, choices, label: str) -> str:
    codes = [code for code, _ in choices]
    if value not in codes:
        raise RuleViolation(f"{label} must be one of: {', '.join(codes)}.")
    return value


def _may_see_sponsor_of(actor, sponsor) -> None:
    """Records of a sponsor are only ever written by people assigned to it (absent, otherwise)."""
    sponsor_id = getattr(sponsor, "pk", None)
    if actor is not None and sponsor_id is not None and sponsor_id not in actor.sponsor_ids():
        raise NotFound("No sponsor matches that reference.")


def _person(user, *, permission: str, role: str, sponsor) -> object:
    """A person chosen for a duty (investigator, owner): active, holding `permission`, seeing the sponsor."""
    if user is None or not user.is_active:
        raise RuleViolation(f"Choose an active person as {role}.")
    if not user.has_permission(permission):
        raise RuleViolation(f"{user.full_name} cannot be {role}: they lack the permission {permission}.")
    if sponsor is not None and sponsor.pk not in user.sponsor_ids():
        raise RuleViolation(f"{user.full_name} cannot be {role}: they have no access to {sponsor.name}.")
    return user


def _deviation_for_update(actor, deviation) -> Deviation:
    return get_scoped(Deviation.objects.select_for_update(), actor, pk=deviation.pk)


def _not_finished(record) -> None:
    if record.status in due.DONE_STATES:
        raise RuleViolation(f"{record} is {record.status}; it can no longer be changed.")


def _link_record(actor, deviation: Deviation, record) -> DeviationLink:
    record_type, record_id = audit.record_type(record), str(record.pk)
    if DeviationLink.objects.filter(deviation=deviation, record_type=record_type, record_id=record_id).exists():
        raise RuleViolation(f"{deviation} is already linked to {record}.")
    return create_record(actor, DeviationLink(
        deviation=deviation, record_type=record_type, record_id=record_id,
        record_label=str(getattr(record, "number", "") or record)[:200]))


@transaction.atomic
def raise_deviation(actor, *, title: str, description: str, source: str, records=(), sponsor=None,
                    area: str = "", category: str = "", immediate_actions: str = "") -> Deviation:
    """Open a deviation; anyone may raise one, from any module, without a permission check
    (a person who sees something wrong must never be stopped from saying so). Due by the
    default closure target until QA classifies it."""
    title = _clean(title, "A deviation needs a title", required=True)
    description = _clean(description, "A description of what happened", required=True)
    if source not in Deviation.Source.values:
        raise RuleViolation(f"Unknown deviation source '{source}'.")
    if category:
        _choice(category, conf.deviation_categories(), "Category")
    _may_see_sponsor_of(actor, sponsor)
    now = clock.now()
    deviation = create_record(actor, Deviation(
        title=title[:200], description=description, source=source, sponsor=sponsor,
        status=deviation_workflow.initial, raised_by=actor, raised_at=now,
        area=_clean(area, "Area", max_length=100), category=category,
        immediate_actions=_clean(immediate_actions, "Immediate actions"),
        due_date=due.due_date(_site_day(now), conf.deviation_due_days()["default"])))
    for record in records:
        _link_record(actor, deviation, record)
    return deviation


def may_work_on(actor, deviation: Deviation) -> bool:
    """The raiser, the investigator, QA and investigators may add immediate actions and links."""
    return actor.pk in (deviation.raised_by_id, deviation.investigator_id) or any(
        actor.has_permission(p) for p in ("quality.classify_deviation", "quality.investigate"))


def _may_work_on(actor, deviation: Deviation) -> None:
    if not may_work_on(actor, deviation):
        raise PermissionDenied(f"Only the person who raised {deviation}, its investigator or QA may do this "
                               "(quality.investigate).")


@transaction.atomic
def edit_deviation(actor, deviation: Deviation, *, title: str, description: str, area: str = "",
                   category: str = "") -> Deviation:
    """While it is open (not yet classified), the raiser or QA may correct what was written."""
    deviation = _deviation_for_update(actor, deviation)
    if deviation.status != "open":
        raise RuleViolation(f"{deviation} has been classified: what was reported can no longer be edited; "
                            "record further facts in the investigation.")
    if deviation.raised_by_id != actor.pk and not actor.has_permission("quality.classify_deviation"):
        raise PermissionDenied(f"Only the person who raised {deviation} or QA may correct it "
                               "(quality.classify_deviation).")
    if category:
        _choice(category, conf.deviation_categories(), "Category")
    return update_record(actor, deviation, title=_clean(title, "Title", required=True, max_length=200),
                         description=_clean(description, "Description", required=True),
                         area=_clean(area, "Area", max_length=100), category=category)


@transaction.atomic
def record_immediate_actions(actor, deviation: Deviation, *, immediate_actions: str) -> Deviation:
    """Immediate actions (containment) are recorded at raising or at any time before closure."""
    deviation = _deviation_for_update(actor, deviation)
    _not_finished(deviation)
    _may_work_on(actor, deviation)
    return update_record(actor, deviation, action="record_immediate_actions",
                         immediate_actions=_clean(immediate_actions, "Immediate actions", required=True))


@transaction.atomic
def link_record(actor, deviation: Deviation, *, type_name: str, reference: str) -> DeviationLink:
    """Link the batch, lot, equipment … a deviation concerns, named by its type and reference."""
    deviation = _deviation_for_update(actor, deviation)
    _not_finished(deviation)
    _may_work_on(actor, deviation)
    try:
        kind, record = core_selectors.record(actor, type_name.strip(), reference.strip())
    except NotFound as exc:  # a mistyped reference is bad input, the same whether absent or not visible
        raise RuleViolation(f"{exc.message} Check the kind and the reference.") from None
    record_sponsor = audit.sponsor_of(record)
    if record_sponsor is not None and record_sponsor != deviation.sponsor_id:
        raise RuleViolation(f"{record} belongs to another sponsor than {deviation}.")
    return _link_record(actor, deviation, record)


@transaction.atomic
def classify_deviation(actor, deviation: Deviation, *, answers: dict, classification: str = "",
                       rationale: str = "", investigator) -> Deviation:
    """QA classifies with the decision tree (answers kept as evidence), may choose another class
    only with a rationale, assigns the investigator; the class sets the closure target."""
    deviation = _deviation_for_update(actor, deviation)
    if (why := deviation_workflow.refusal(deviation, "classify", actor)) is not None:
        raise PermissionDenied(why) if why.startswith("You do not have") else RuleViolation(why)
    tree = conf.decision_tree()
    try:
        parsed = {key: classification_rules.parse_answer(value) for key, value in answers.items()}
        decision = classification_rules.decide(tree, parsed, classification, rationale)
    except ValueError as exc:
        raise RuleViolation(str(exc)) from None
    investigator = _person(investigator, permission="quality.investigate", role="investigator",
                           sponsor=deviation.sponsor)
    evidence = {q.key: {"question": q.text, "answer": "yes" if parsed[q.key] else "no"}
                for q in tree.questions if parsed.get(q.key) is not None}
    evidence["suggested"] = decision.suggested
    update_record(
        actor, deviation, action="classify",
        classification=decision.chosen, classification_answers=evidence,
        classification_rationale=decision.rationale, classified_by=actor, classified_at=clock.now(),
        investigator=investigator,
        due_date=due.due_date(_site_day(deviation.raised_at), conf.deviation_due_days()[decision.chosen]))
    return deviation_workflow.apply(deviation, "classify", actor=actor,
                                    reason=f"classified {decision.chosen}")


@transaction.atomic
def assign_investigator(actor, deviation: Deviation, *, investigator, reason: str) -> Deviation:
    require(actor, "quality.classify_deviation", to="assign an investigator")
    deviation = _deviation_for_update(actor, deviation)
    if deviation.status != "investigation":
        raise RuleViolation(f"{deviation} is not under investigation; an investigator is assigned when it is "
                            "classified.")
    investigator = _person(investigator, permission="quality.investigate", role="investigator",
                           sponsor=deviation.sponsor)
    if not reason.strip():
        raise RuleViolation("Give a reason for changing the investigator.")
    return update_record(actor, deviation, reason=reason, action="assign_investigator", investigator=investigator)


INVESTIGATION_FIELDS = ("impact_assessment", "root_cause_category", "root_cause", "five_whys", "conclusion",
                        "no_capa_justification")


def _five_whys(rows) -> list[dict]:
    if not isinstance(rows, (list, tuple)):
        raise RuleViolation("The 5-Why analysis is a list of why / because pairs.")
    result = []
    for n, row in enumerate(rows, 1):
        if not isinstance(row, dict):
            raise RuleViolation("The 5-Why analysis is a list of why / because pairs.")
        why, because = _clean(row.get("why"), f"Why {n}"), _clean(row.get("because"), f"Because {n}")
        if not why and not because:
            continue
        if not (why and because):
            raise RuleViolation(f"5-Why step {n}: write both the question (why) and the answer (because).")
        result.append({"why": why, "because": because})
    if len(result) > 10:
        raise RuleViolation("The 5-Why analysis has at most 10 steps.")
    return result


@transaction.atomic
def record_investigation(actor, deviation: Deviation, **fields) -> Deviation:
    """The investigator records what they found (21 CFR 211.192): impact incl. other batches, root
    cause category, narrative, 5-Why, conclusion, and why no CAPA is needed when none is linked.
    Saved as often as needed until the investigator submits it with their signature."""
    require(actor, "quality.investigate", to="record an investigation")
    deviation = _deviation_for_update(actor, deviation)
    if deviation.status != "investigation":
        raise RuleViolation(f"{deviation} is {deviation_workflow.label(deviation.status)}: the investigation "
                            "is recorded while it is under investigation.")
    if deviation.investigator_id != actor.pk:
        raise PermissionDenied(f"Only the assigned investigator of {deviation} records its investigation.")
    if unknown := fields.keys() - set(INVESTIGATION_FIELDS):
        raise RuleViolation(f"These fields are not part of the investigation: {', '.join(sorted(unknown))}.")
    changes = {name: _clean(value, name.replace("_", " ").capitalize()) for name, value in fields.items()
               if name != "five_whys"}
    if changes.get("root_cause_category"):
        _choice(changes["root_cause_category"], conf.root_cause_categories(), "Root-cause category")
    if "five_whys" in fields:
        changes["five_whys"] = _five_whys(fields["five_whys"])
    return update_record(actor, deviation, action="investigate", **changes)


def transition_deviation(actor, deviation: Deviation, action: str, *, signature: SignatureInput | None = None,
                         first_in_session: bool = True, reason: str = "") -> Deviation:
    """Submit for closure, return, close or cancel (classification has its own form)."""
    transition = deviation_workflow.get(action)
    if action in DEVIATION_FORM_STEPS:
        raise RuleViolation(f"{transition.label} {deviation} with the decision tree on its page.")
    signer = deviation_workflow.authenticate(actor, action, signature, first_in_session=first_in_session)
    with transaction.atomic():
        deviation = _deviation_for_update(actor, deviation)
        deviation_workflow.apply(deviation, action, actor=actor, signer=signer, reason=reason)
        if action == "close":
            update_record(actor, deviation, action="close", closed_at=clock.now())
    return deviation


# Due date extensions: one mechanism for deviations and CAPAs.

EXTENDABLE = {"deviation": ("investigation", "closure_review"),
              "capa": ("draft", "implementing", "effectiveness_check")}


@transaction.atomic
def request_extension(actor, record, *, requested_due_date: dt.date, justification: str) -> DueDateExtension:
    """Ask QA to move a deviation's or a CAPA's due date, with a justification."""
    kind = "capa" if isinstance(record, Capa) else "deviation"
    require(actor, "quality.manage_capa" if kind == "capa" else "quality.investigate",
            to="request an extension")
    record = get_scoped(type(record).objects.select_for_update(), actor, pk=record.pk)
    if record.status not in EXTENDABLE[kind]:
        raise RuleViolation(f"{record} is {record.status}: an extension is requested while it is being worked on.")
    justification = _clean(justification, "A justification for the extension", required=True)
    if not isinstance(requested_due_date, dt.date):
        raise RuleViolation("Give the new due date as YYYY-MM-DD.")
    if problem := due.extension_problem(record.due_date, requested_due_date, site_today()):
        raise RuleViolation(problem)
    if record.extensions.filter(status="requested").exists():
        raise RuleViolation(f"{record} already has an extension request waiting for QA.")
    return create_record(actor, DueDateExtension(
        status=extension_workflow.initial, current_due_date=record.due_date, requested_due_date=requested_due_date,
        justification=justification, sponsor=record.sponsor, **{kind: record}))


def transition_extension(actor, extension: DueDateExtension, action: str, *, signature: SignatureInput | None = None,
                         first_in_session: bool = True, reason: str = "") -> DueDateExtension:
    """QA approves (the due date moves) or rejects (it stays) an extension request."""
    signer = extension_workflow.authenticate(actor, action, signature, first_in_session=first_in_session)
    with transaction.atomic():
        extension = get_scoped(DueDateExtension.objects.select_for_update(), actor, pk=extension.pk)
        target = (extension.deviation or extension.capa)
        target = type(target).objects.select_for_update().get(pk=target.pk)
        if (why := extension_workflow.refusal(extension, action, actor)) is not None:
            raise PermissionDenied(why) if why.startswith("You do not have") else RuleViolation(why)
        # Who decided is part of what the approver signs.
        update_record(actor, extension, action="decide", decided_by=actor, decided_at=clock.now())
        extension_workflow.apply(extension, action, actor=actor, signer=signer, reason=reason)
        if action == "approve":
            update_record(actor, target, action="extend", due_date=extension.requested_due_date,
                          reason=f"extension {extension.number} approved: {extension.justification}"[:500])
    return extension


# --- CAPA ---


def _capa_for_update(actor, capa) -> Capa:
    return get_scoped(Capa.objects.select_for_update(), actor, pk=capa.pk)


def _date_from_today(value, label: str) -> dt.date:
    if not isinstance(value, dt.date):
        raise RuleViolation(f"Give the {label} as YYYY-MM-DD.")
    if value < site_today():
        raise RuleViolation(f"The {label} cannot be in the past.")
    return value


@transaction.atomic
def raise_capa(actor, *, title: str, problem: str, source: str, source_reference: str = "", sponsor=None,
               owner=None, due_date: dt.date | None = None, effectiveness_criteria: str = "",
               deviation: Deviation | None = None) -> Capa:
    """Open a CAPA plan (draft). Raised from a deviation, it is linked to it and takes its sponsor."""
    require(actor, "quality.manage_capa", to="raise a CAPA")
    if deviation is not None:
        deviation = _deviation_for_update(actor, deviation)
        _not_finished(deviation)
        source, sponsor = Capa.Source.DEVIATION, deviation.sponsor
        source_reference = source_reference or deviation.number
    _choice(source, Capa.Source.choices, "Source")
    _may_see_sponsor_of(actor, sponsor)
    owner = _person(owner or actor, permission="quality.manage_capa", role="CAPA owner", sponsor=sponsor)
    due_on = (_date_from_today(due_date, "due date") if due_date is not None
              else site_today() + dt.timedelta(days=conf.capa_due_days()))
    capa = create_record(actor, Capa(
        status=capa_workflow.initial, title=_clean(title, "Title", required=True, max_length=200),
        problem=_clean(problem, "The problem and its root cause", required=True), source=source,
        source_reference=_clean(source_reference, "Source reference", max_length=100), sponsor=sponsor,
        owner=owner, due_date=due_on, effectiveness_criteria=_clean(effectiveness_criteria, "Criteria")))
    if deviation is not None:
        create_record(actor, DeviationCapa(deviation=deviation, capa=capa))
    return capa


@transaction.atomic
def link_capa(actor, deviation: Deviation, capa: Capa) -> DeviationCapa:
    """Name an existing CAPA as addressing a deviation (many deviations may share one CAPA)."""
    require(actor, "quality.manage_capa", to="link a CAPA")
    deviation = _deviation_for_update(actor, deviation)
    _not_finished(deviation)
    capa = get_scoped(Capa, actor, pk=capa.pk)
    if capa.status == "cancelled":
        raise RuleViolation(f"{capa} is cancelled; link a CAPA that is in force.")
    if capa.sponsor_id != deviation.sponsor_id:
        raise RuleViolation(f"{capa} belongs to another sponsor than {deviation}.")
    if DeviationCapa.objects.filter(deviation=deviation, capa=capa).exists():
        raise RuleViolation(f"{capa} is already linked to {deviation}.")
    return create_record(actor, DeviationCapa(deviation=deviation, capa=capa))


def _action_for_update(actor, action: CapaAction) -> CapaAction:
    action = get_scoped(CapaAction.objects.select_for_update().select_related("capa"), actor, pk=action.pk)
    return action


@transaction.atomic
def add_capa_action(actor, capa: Capa, *, kind: str, description: str, owner, due_date: dt.date) -> CapaAction:
    require(actor, "quality.manage_capa", to="plan CAPA actions")
    capa = _capa_for_update(actor, capa)
    if capa.status not in ("draft", "implementing"):
        raise RuleViolation(f"{capa} is {capa_workflow.label(capa.status)}: actions are added while the plan "
                            "is drafted or implemented.")
    return create_record(actor, CapaAction(
        capa=capa, kind=_choice(kind, CapaAction.Kind.choices, "Kind"),
        description=_clean(description, "What the action is", required=True),
        owner=_person(owner, permission="core.view_cdmo_records", role="action owner", sponsor=capa.sponsor),
        due_date=_date_from_today(due_date, "due date")))


@transaction.atomic
def complete_capa_action(actor, action: CapaAction, *, evidence: str) -> CapaAction:
    """The action's owner records it as done, with the evidence."""
    action = _action_for_update(actor, action)
    if action.owner_id != actor.pk:
        raise PermissionDenied(f"Only the action's owner ({action.owner.full_name}) records it as done.")
    if action.capa.status != "implementing":
        raise RuleViolation(f"{action.capa} is {capa_workflow.label(action.capa.status)}: actions are done once "
                            "its plan is approved.")
    if action.status != CapaAction.Status.OPEN:
        raise RuleViolation(f"This action is {action.get_status_display().lower()}, not open.")
    return update_record(actor, action, action="complete", status=CapaAction.Status.DONE,
                         evidence=_clean(evidence, "Evidence that it was done", required=True),
                         completed_by=actor, completed_at=clock.now())


@transaction.atomic
def verify_capa_action(actor, action: CapaAction) -> CapaAction:
    """Someone other than the person who did it checks the evidence (performer is not verifier)."""
    require(actor, "quality.manage_capa", to="verify CAPA actions")
    action = _action_for_update(actor, action)
    if action.status != CapaAction.Status.DONE:
        raise RuleViolation(f"This action is {action.get_status_display().lower()}: only a done action is verified.")
    if action.completed_by_id == actor.pk:
        raise RuleViolation("Segregation of duties: you recorded this action as done, so someone else must "
                            "verify it.")
    return update_record(actor, action, action="verify", status=CapaAction.Status.VERIFIED,
                         verified_by=actor, verified_at=clock.now())


@transaction.atomic
def cancel_capa_action(actor, action: CapaAction, *, reason: str) -> CapaAction:
    require(actor, "quality.manage_capa", to="cancel CAPA actions")
    action = _action_for_update(actor, action)
    if action.status not in (CapaAction.Status.OPEN, CapaAction.Status.DONE):
        raise RuleViolation(f"This action is {action.get_status_display().lower()} and cannot be cancelled.")
    if action.capa.status not in ("draft", "implementing"):
        raise RuleViolation(f"{action.capa} is {capa_workflow.label(action.capa.status)}: its actions are fixed.")
    if not reason.strip():
        raise RuleViolation("Give a reason for cancelling the action.")
    return update_record(actor, action, action="cancel", reason=reason, status=CapaAction.Status.CANCELLED)


@transaction.atomic
def complete_implementation(actor, capa: Capa, *, effectiveness_criteria: str = "") -> Capa:
    """All actions verified or cancelled: the effectiveness check is scheduled (completion + the
    configured days) against written criteria."""
    require(actor, "quality.manage_capa", to="complete a CAPA's implementation")
    capa = _capa_for_update(actor, capa)
    if (why := capa_workflow.refusal(capa, "complete", actor)) is not None:
        raise PermissionDenied(why) if why.startswith("You do not have") else RuleViolation(why)
    criteria = _clean(effectiveness_criteria, "Criteria") or capa.effectiveness_criteria
    if not criteria:
        raise RuleViolation(f"Write the criteria the effectiveness check of {capa} will be judged by.")
    update_record(actor, capa, action="schedule_effectiveness", effectiveness_criteria=criteria,
                  effectiveness_result="", effectiveness_evidence="",
                  effectiveness_due_date=site_today() + dt.timedelta(days=conf.capa_effectiveness_days()))
    return capa_workflow.apply(capa, "complete", actor=actor)


@transaction.atomic
def record_effectiveness(actor, capa: Capa, *, result: str, evidence: str) -> Capa:
    """Effective, or justified (it cannot be verified, and why) → QA may close; not effective →
    back to implementing for new actions."""
    require(actor, "quality.manage_capa", to="record an effectiveness check")
    capa = _capa_for_update(actor, capa)
    if capa.status != "effectiveness_check":
        raise RuleViolation(f"{capa} is {capa_workflow.label(capa.status)}: effectiveness is checked after "
                            "implementation is complete.")
    result = _choice(result, Capa.Effectiveness.choices, "Effectiveness result")
    label = "A justification" if result == Capa.Effectiveness.JUSTIFIED else "The evidence of the check"
    evidence = _clean(evidence, label, required=True)
    update_record(actor, capa, action="record_effectiveness", effectiveness_result=result,
                  effectiveness_evidence=evidence)
    if result == Capa.Effectiveness.NOT_EFFECTIVE:
        capa_workflow.apply(capa, "reopen", actor=actor, reason=f"not effective: {evidence}"[:500])
    return capa


def transition_capa(actor, capa: Capa, action: str, *, signature: SignatureInput | None = None,
                    first_in_session: bool = True, reason: str = "") -> Capa:
    """Approve the plan, close or cancel (completion and effectiveness have their own forms)."""
    transition = capa_workflow.get(action)
    if action in CAPA_FORM_STEPS:
        raise RuleViolation(f"{transition.label}: use the form on the page of {capa}.")
    signer = capa_workflow.authenticate(actor, action, signature, first_in_session=first_in_session)
    with transaction.atomic():
        capa = _capa_for_update(actor, capa)
        capa_workflow.apply(capa, action, actor=actor, signer=signer, reason=reason)
        if action == "close":
            update_record(actor, capa, action="close", closed_at=clock.now())
    return capa


# --- Change control ---

CHANGE_PROPOSAL_FIELDS = {"title", "description", "justification", "kind", "target_date", "sponsor"}
CHANGE_ASSESSMENT_FIELDS = {"classification", "risk_summary", "regulatory_filing", "regulatory_notes"}
IMPACT_EDITABLE_STATES = ("draft", "assessment")
TASK_PLANNING_STATES = ("assessment", "awaiting_approval", "approved", "implementation")


def _require_any(actor, *permissions: str, to: str) -> None:
    if actor is None or not any(actor.has_permission(p) for p in permissions):
        raise PermissionDenied(f"You do not have the permission to {to} ({' or '.join(permissions)}).")


def _locked_change(actor, change: ChangeControl) -> ChangeControl:
    return get_scoped(ChangeControl.objects.select_for_update(), actor, pk=change.pk)


def _visible_sponsor(actor, sponsor):
    if sponsor is None:
        return None
    return get_scoped(sponsor_selectors.sponsors_for(actor).prefetch_related(None), actor,
                      pk=getattr(sponsor, "pk", sponsor))


def _check_proposal(fields: dict) -> None:
    for name in ("title", "description", "justification"):
        if name in fields and not str(fields[name] or "").strip():
            raise RuleViolation(f"A change needs its {name}: say what changes, from what to what, and why.")
    if "kind" in fields and fields["kind"] not in ChangeControl.Kind.values:
        raise RuleViolation(f"Kind of change must be one of: {', '.join(ChangeControl.Kind.values)}.")


@transaction.atomic
def propose_change(actor, *, title: str, description: str, justification: str, kind: str, target_date=None,
                   sponsor=None) -> ChangeControl:
    """Draft a change (Q10-1). A change of one sponsor's process names that sponsor; a CDMO-wide
    change (a shared room, an SOP) names none and reaches sponsors through its impacts."""
    require(actor, "quality.propose_change", to="propose a change")
    fields = {"title": title, "description": description, "justification": justification, "kind": kind}
    _check_proposal(fields)
    return create_record(actor, ChangeControl(
        title=title.strip(), description=description.strip(), justification=justification.strip(), kind=kind,
        target_date=target_date, sponsor=_visible_sponsor(actor, sponsor), status=change_workflow.initial,
        proposed_by=actor))


@transaction.atomic
def edit_change(actor, change: ChangeControl, *, reason: str = "", **changes) -> ChangeControl:
    """Correct the proposal while it is a draft (the proposer's signature covers it)."""
    require(actor, "quality.propose_change", to="edit a change proposal")
    change = _locked_change(actor, change)
    if unknown := changes.keys() - CHANGE_PROPOSAL_FIELDS:
        raise RuleViolation(f"These fields cannot be edited here: {', '.join(sorted(unknown))}.")
    if change.status != "draft":
        raise RuleViolation(f"{change} is {change_workflow.label(change.status)}: the proposal can be edited "
                            "only as a draft.")
    if (why := proposer_or_qa(change, actor)) is not None:
        raise PermissionDenied(why)
    _check_proposal(changes)
    if "sponsor" in changes:
        changes["sponsor"] = _visible_sponsor(actor, changes["sponsor"])
        if changes["sponsor"] is not None and change.impacts.exclude(sponsor=None).exclude(
                sponsor=changes["sponsor"]).exists():
            raise RuleViolation("Impacts on another sponsor's records exist: the change must stay CDMO-wide.")
    for text in ("title", "description", "justification"):
        if text in changes:
            changes[text] = changes[text].strip()
    return update_record(actor, change, reason=reason, **changes)


@transaction.atomic
def assess_change(actor, change: ChangeControl, *, risk_assessment: RiskAssessment | None = None,
                  **assessment) -> ChangeControl:
    """QA's assessment (Q10-1): classification, QRM summary, need for a regulatory filing."""
    require(actor, "quality.assess_change", to="assess a change")
    change = _locked_change(actor, change)
    if unknown := assessment.keys() - CHANGE_ASSESSMENT_FIELDS:
        raise RuleViolation(f"These fields are not part of the assessment: {', '.join(sorted(unknown))}.")
    if change.status != "assessment":
        raise RuleViolation(f"{change} is {change_workflow.label(change.status)}; it is assessed only while "
                            "in impact assessment.")
    if assessment.get("classification") not in (None, *Classification.values):
        raise RuleViolation(f"Classification must be one of: {', '.join(Classification.values)}.")
    if assessment.get("regulatory_filing") and not str(
            assessment.get("regulatory_notes", change.regulatory_notes)).strip():
        raise RuleViolation("Say which filing is needed (regulatory notes) when the change needs one.")
    update_record(actor, change, action="assess", **assessment)
    if risk_assessment is not None:
        risk = get_scoped(RiskAssessment.objects.select_for_update(), actor, pk=risk_assessment.pk)
        if risk.sponsor_id not in (None, change.sponsor_id):
            raise RuleViolation(f"{risk} belongs to another sponsor than {change}.")
        update_record(actor, risk, action="link", reason=f"linked to {change.number}", change=change)
    return change


def _resolve(actor, record_type: str, reference: str):
    """A record of any registered kind, by its type and reference, as this user may see it."""
    kind = registry.kind(record_type)
    if kind is None:
        raise RuleViolation(f"'{record_type}' is not a kind of record OpenCDMO knows.")
    return get_scoped(kind.model, actor, **{kind.lookup: reference.strip()})


def _label(record) -> str:
    return str(getattr(record, "number", "") or record)[:200]


@transaction.atomic
def add_impact(actor, change: ChangeControl, *, area: str, assessment: str = "", record_type: str = "",
               reference: str = "", sponsor=None) -> ChangeImpact:
    """One row of the impact assessment. An impact on a sponsor's record is that sponsor's."""
    change = _locked_change(actor, change)
    if change.status not in IMPACT_EDITABLE_STATES:
        raise RuleViolation(f"{change} is {change_workflow.label(change.status)}: impacts are added during "
                            "drafting and assessment only.")
    require(actor, "quality.propose_change" if change.status == "draft" else "quality.assess_change",
            to="add to the impact assessment")
    if area not in ChangeImpact.Area.values:
        raise RuleViolation(f"Area must be one of: {', '.join(ChangeImpact.Area.values)}.")
    sponsor = _visible_sponsor(actor, sponsor)
    impact = ChangeImpact(change=change, area=area, assessment=assessment.strip(), sponsor=sponsor,
                          record_type="", record_id="", record_label="")
    if record_type or reference:
        record = _resolve(actor, record_type, reference)
        owner = audit.sponsor_of(record)
        if owner is not None and sponsor is not None and owner != sponsor.pk:
            raise RuleViolation(f"{_label(record)} belongs to another sponsor than the one named.")
        impact.record_type, impact.record_id, impact.record_label = record_type, str(record.pk), _label(record)
        if owner is not None:
            impact.sponsor_id = owner
    if area == ChangeImpact.Area.SPONSOR and impact.sponsor is None:
        raise RuleViolation("Name the sponsor this impact touches.")
    if change.sponsor_id is not None and impact.sponsor_id not in (None, change.sponsor_id):
        raise RuleViolation(f"{change} is a change of {change.sponsor.name}'s process; an impact on another "
                            "sponsor makes it a CDMO-wide change (propose it without a sponsor).")
    return create_record(actor, impact)


@transaction.atomic
def assess_impact(actor, impact: ChangeImpact, *, assessment: str) -> ChangeImpact:
    impact = get_scoped(ChangeImpact.objects.select_for_update(), actor, pk=impact.pk)
    change = _locked_change(actor, impact.change)
    if change.status not in IMPACT_EDITABLE_STATES:
        raise RuleViolation(f"{change} is {change_workflow.label(change.status)}: its impacts can no longer change.")
    require(actor, "quality.propose_change" if change.status == "draft" else "quality.assess_change",
            to="assess an impact")
    if not assessment.strip():
        raise RuleViolation("Write the assessment: what the change does to this item, or why it is not affected.")
    return update_record(actor, impact, assessment=assessment.strip())


def _request_sponsor_approvals(actor, change: ChangeControl) -> None:
    """One pending approval per touched sponsor whose approved quality agreement asks for it;
    an earlier decision is asked again (the assessment may have changed), one no longer needed
    is withdrawn."""
    touched = {i.sponsor for i in change.impacts.exclude(sponsor=None).select_related("sponsor")}
    if change.sponsor is not None:
        touched.add(change.sponsor)
    required = {s.pk: (s, a) for s in touched if (a := sponsor_selectors.requires_change_approval(s)) is not None}
    existing = {a.sponsor_id: a for a in SponsorApproval.objects.select_for_update().filter(change=change)}
    for sponsor_id, (sponsor, agreement) in required.items():
        approval = existing.get(sponsor_id)
        if approval is None:
            create_record(actor, SponsorApproval(change=change, sponsor=sponsor, status="pending",
                                                 quality_agreement=agreement.number))
        elif approval.status != "pending":
            update_record(actor, approval, action="transition", reason=f"approval of {change.number} requested again",
                          status="pending", quality_agreement=agreement.number, decided_by=None, decided_at=None,
                          comment="")
    for sponsor_id, approval in existing.items():
        if sponsor_id not in required and approval.status != "withdrawn":
            update_record(actor, approval, action="transition", status="withdrawn",
                          reason="the sponsor's approval is no longer required by the assessment")


def _signer_for(workflow, actor, action: str, signature: SignatureInput | None, first_in_session: bool):
    transition = workflow.get(action)
    if not transition.signature:
        return None
    if signature is None:
        raise RuleViolation(f"{transition.label} needs your signature ('{transition.signature}').")
    return authenticate_signer(actor, signature, first_in_session=first_in_session)


def transition_change(actor, change: ChangeControl, action: str, *, signature: SignatureInput | None = None,
                      first_in_session: bool = True, reason: str = "") -> ChangeControl:
    """Submit, request approval, return, approve, start implementation, close, reject or cancel."""
    signer = _signer_for(change_workflow, actor, action, signature, first_in_session)
    with transaction.atomic():
        change = _locked_change(actor, change)
        change_workflow.apply(change, action, actor=actor, signer=signer, reason=reason)
        if action == "request_approval":
            _request_sponsor_approvals(actor, change)
        elif action in ("return_to_assessment", "reject", "cancel"):
            for pending in change.sponsor_approvals.select_for_update().filter(status="pending"):
                update_record(actor, pending, action="transition", status="withdrawn",
                              reason=f"{change.number}: {change_workflow.get(action).label.lower()}")
        elif action == "close":
            update_record(actor, change, action="transition", closed_at=clock.now())
    return change


def decide_sponsor_approval(actor, approval: SponsorApproval, action: str, *,
                            signature: SignatureInput | None = None, first_in_session: bool = True,
                            reason: str = "") -> SponsorApproval:
    """The sponsor's signed decision: only a user holding quality.sponsor_approve_change and that
    sponsor in their access finds the approval at all (scoping), so CDMO staff cannot sign for it."""
    signer = _signer_for(sponsor_approval_workflow, actor, action, signature, first_in_session)
    with transaction.atomic():
        approval = get_scoped(SponsorApproval.objects.select_for_update().select_related("change"), actor,
                              pk=approval.pk)
        ChangeControl.objects.select_for_update().filter(pk=approval.change_id).first()  # one decision at a time
        if (why := sponsor_approval_workflow.refusal(approval, action, actor)) is not None:
            raise PermissionDenied(why) if why.startswith("You do not have") else RuleViolation(why)
        comment = reason.strip() or (signer.comment if signer else "")
        update_record(actor, approval, action="decide", decided_by=actor, decided_at=clock.now(), comment=comment)
        sponsor_approval_workflow.apply(approval, action, actor=actor, signer=signer, reason=reason)
    return approval


@transaction.atomic
def add_change_task(actor, change: ChangeControl, *, description: str, owner, due_date, produces: str = "") -> ChangeTask:
    """An implementation task; `produces` names the kind of record it will make a new version of
    (e.g. a master batch record), which must be linked before the change can close."""
    _require_any(actor, "quality.assess_change", "quality.propose_change", to="plan implementation tasks")
    change = _locked_change(actor, change)
    if change.status not in TASK_PLANNING_STATES:
        raise RuleViolation(f"{change} is {change_workflow.label(change.status)}: tasks are planned from the "
                            "assessment until implementation.")
    if (why := proposer_or_qa(change, actor)) is not None:
        raise PermissionDenied(why)
    if not description.strip():
        raise RuleViolation("Describe the task.")
    if due_date is None:
        raise RuleViolation("Give the task a due date.")
    if produces and registry.kind(produces) is None:
        raise RuleViolation(f"'{produces}' is not a kind of record OpenCDMO knows.")
    if owner is None or not owner.is_active:
        raise RuleViolation("Give the task an active owner.")
    return create_record(actor, ChangeTask(change=change, description=description.strip(), owner=owner,
                                           due_date=due_date, record_type=produces, record_id="", record_label=""))


def _link(actor, task: ChangeTask, record_type: str, record) -> ChangeTask:
    return update_record(actor, task, action="link", reason=f"{task.change.number} produced {_label(record)}",
                         record_type=record_type, record_id=str(record.pk), record_label=_label(record))


@transaction.atomic
def complete_change_task(actor, task: ChangeTask, *, record_type: str = "", reference: str = "") -> ChangeTask:
    """Mark a task done (its owner or QA), linking the new version it produced when it makes one."""
    task = get_scoped(ChangeTask.objects.select_for_update(), actor, pk=task.pk)
    change = _locked_change(actor, task.change)
    if change.status not in CHANGE_IMPLEMENTABLE_STATES:
        raise RuleViolation(f"{change} is {change_workflow.label(change.status)}: tasks are done once it is "
                            "approved.")
    if task.owner_id != actor.pk and not actor.has_permission("quality.assess_change"):
        raise PermissionDenied(f"Only the task's owner ({task.owner.full_name}) or QA may complete it.")
    if task.done:
        raise RuleViolation("This task is done already.")
    record_type = record_type or task.record_type
    if task.record_type and not reference.strip():
        raise RuleViolation(f"Name the new {registry.kind(task.record_type).label.lower()} this task produced.")
    if reference.strip():
        _link(actor, task, record_type, _resolve(actor, record_type, reference))
    return update_record(actor, task, action="complete", done=True, completed_by=actor, completed_at=clock.now())


@transaction.atomic
def link_implementation(actor, change: ChangeControl, record, *, task: ChangeTask | None = None) -> ChangeTask:
    """Record that `change` produced `record` (a new version of a document, master batch record,
    specification …). Later modules call this when they make such a version effective, after
    `selectors.approved_change_control` has confirmed the change is approved.

    With `task`, that task is linked; without, the change's one open link of the record's kind
    is, or else a done task naming the record is added. Returns the linked task.
    """
    _require_any(actor, "quality.propose_change", "quality.assess_change", "quality.approve_change",
                 to="link a change to what it produced")
    change = _locked_change(actor, change)
    if change.status not in CHANGE_IMPLEMENTABLE_STATES:
        raise RuleViolation(f"{change} is {change_workflow.label(change.status)}: only an approved change "
                            "produces new versions.")
    record_type = audit.record_type(record)
    if task is not None:
        task = ChangeTask.objects.select_for_update().filter(pk=task.pk, change=change).first()
        if task is None:
            raise RuleViolation(f"That task is not one of {change}'s.")
        return _link(actor, task, record_type, record)
    waiting = list(change.tasks.select_for_update().filter(record_type=record_type, record_id=""))
    if len(waiting) == 1:
        return _link(actor, waiting[0], record_type, record)
    now = clock.now()
    return create_record(actor, ChangeTask(
        change=change, description=f"Produced {_label(record)}", owner=actor, due_date=now.date(), done=True,
        completed_by=actor, completed_at=now, record_type=record_type, record_id=str(record.pk),
        record_label=_label(record)))


# --- Risk assessment ---

SCALE_LIMIT = 20  # no site scores beyond 20 steps; a bigger number is a typing mistake


def _method_fields(name: str, severity_max: int, occurrence_max: int, detection_max: int, levels,
                   scale_definitions) -> None:
    if not str(name).strip():
        raise RuleViolation("Give the risk method a name.")
    for label, top in (("Severity", severity_max), ("Occurrence", occurrence_max), ("Detection", detection_max)):
        if isinstance(top, bool) or not isinstance(top, int) or not 2 <= top <= SCALE_LIMIT:
            raise RuleViolation(f"{label} scale: the top score must be a whole number from 2 to {SCALE_LIMIT}.")
    if not isinstance(scale_definitions, dict):
        raise RuleViolation("Scale definitions are a mapping of scale to {score: meaning}.")
    try:
        risk.validate_levels(levels)
    except risk.RiskRuleError as exc:
        raise RuleViolation(str(exc)) from None


@transaction.atomic
def create_risk_method(actor, *, name: str, severity_max: int = 10, occurrence_max: int = 10,
                       detection_max: int = 10, levels: list, scale_definitions: dict | None = None) -> RiskMethod:
    """A method (scales and level rules) in draft; it scores nothing until approved."""
    require(actor, "quality.assess_risk", to="define a risk method")
    scale_definitions = scale_definitions or {}
    _method_fields(name, severity_max, occurrence_max, detection_max, levels, scale_definitions)
    return create_record(actor, RiskMethod(
        name=name.strip(), severity_max=severity_max, occurrence_max=occurrence_max, detection_max=detection_max,
        levels=levels, scale_definitions=scale_definitions, status=risk_method_workflow.initial))


def transition_risk_method(actor, method: RiskMethod, action: str, *, signature: SignatureInput | None = None,
                           first_in_session: bool = True, reason: str = "") -> RiskMethod:
    """Approve (the method's earlier approved version of the same name is superseded) or void."""
    signer = _signer_for(risk_method_workflow, actor, action, signature, first_in_session)
    with transaction.atomic():
        method = RiskMethod.objects.select_for_update().get(pk=method.pk)
        risk_method_workflow.apply(method, action, actor=actor, signer=signer, reason=reason)
        if action == "approve":
            for earlier in RiskMethod.objects.select_for_update().filter(name=method.name, status="approved").exclude(
                    pk=method.pk):
                update_record(actor, earlier, action="transition", status="superseded",
                              reason=f"superseded by {method.number}")
    return method


def method_scales(method: RiskMethod) -> risk.Scales:
    return risk.Scales(method.severity_max, method.occurrence_max, method.detection_max)


@transaction.atomic
def create_risk_assessment(actor, *, title: str, scope: str, method: RiskMethod, sponsor=None,
                           subject_type: str = "", subject_reference: str = "", change=None) -> RiskAssessment:
    require(actor, "quality.assess_risk", to="start a risk assessment")
    if not title.strip() or not scope.strip():
        raise RuleViolation("A risk assessment needs a title and its scope (what is assessed, and its limits).")
    method = RiskMethod.objects.filter(pk=method.pk).first()
    if method is None or method.status != "approved":
        raise RuleViolation("Use an approved risk method: a method scores nothing until QA approves it.")
    assessment = RiskAssessment(title=title.strip(), scope=scope.strip(), method=method,
                                sponsor=_visible_sponsor(actor, sponsor), status=risk_assessment_workflow.initial,
                                subject_type="", subject_id="", subject_label="")
    if subject_type or subject_reference:
        subject = _resolve(actor, subject_type, subject_reference)
        owner = audit.sponsor_of(subject)
        if owner is not None and assessment.sponsor_id not in (None, owner):
            raise RuleViolation(f"{_label(subject)} belongs to another sponsor than the assessment.")
        assessment.subject_type, assessment.subject_id, assessment.subject_label = (
            subject_type, str(subject.pk), _label(subject))
    if change is not None:
        change = get_scoped(ChangeControl, actor, pk=change.pk)
        if change.sponsor_id not in (None, assessment.sponsor_id):
            raise RuleViolation(f"{change} belongs to another sponsor than the assessment.")
        assessment.change = change
    return create_record(actor, assessment)


FAILURE_MODE_TEXT = ("step", "failure_mode", "effect", "cause", "current_controls", "mitigation")
SCORES = ("severity", "occurrence", "detection")
RESIDUAL = ("residual_severity", "residual_occurrence", "residual_detection")


def _scored(method: RiskMethod, values: dict) -> dict:
    """The row's fields with RPN and level computed from the method (never taken from input)."""
    scales = method_scales(method)
    try:
        risk.validate_scores(scales, *(values[s] for s in SCORES))
        residual = [values.get(r) for r in RESIDUAL]
        if any(v is not None for v in residual):
            if any(v is None for v in residual):
                raise RuleViolation("Give all three residual scores (after mitigation), or none.")
            risk.validate_scores(scales, *residual)
    except risk.RiskRuleError as exc:
        raise RuleViolation(str(exc)) from None
    values["rpn"] = risk.rpn(*(values[s] for s in SCORES))
    values["risk_level"] = risk.level(method.levels, *(values[s] for s in SCORES))
    if values.get("residual_severity") is not None:
        values["residual_rpn"] = risk.rpn(*residual)
        values["residual_level"] = risk.level(method.levels, *residual)
    else:
        values["residual_rpn"], values["residual_level"] = None, ""
    return values


def _editable_assessment(actor, assessment: RiskAssessment) -> RiskAssessment:
    require(actor, "quality.assess_risk", to="score failure modes")
    assessment = get_scoped(RiskAssessment.objects.select_for_update().select_related("method"), actor,
                            pk=assessment.pk)
    if assessment.status != "draft":
        raise RuleViolation(f"{assessment} is {risk_assessment_workflow.label(assessment.status)}: rows change "
                            "only in draft (return it to draft, with the reason, to re-score).")
    return assessment


def _capa_action(actor, capa_action):
    if capa_action is None:
        return None
    return get_scoped(CapaAction, actor, pk=getattr(capa_action, "pk", capa_action))


def _failure_mode_values(actor, fields: dict) -> dict:
    if unknown := fields.keys() - {*FAILURE_MODE_TEXT, *SCORES, *RESIDUAL, "capa_action", "position"}:
        raise RuleViolation(f"These fields cannot be set: {', '.join(sorted(unknown))}.")
    values = dict(fields)
    for name in FAILURE_MODE_TEXT:
        if name in values:
            values[name] = str(values[name] or "").strip()
    if "capa_action" in values:
        values["capa_action"] = _capa_action(actor, values["capa_action"])
    return values


@transaction.atomic
def add_failure_mode(actor, assessment: RiskAssessment, **fields) -> FailureMode:
    assessment = _editable_assessment(actor, assessment)
    values = _failure_mode_values(actor, fields)
    for name in ("step", "failure_mode", "effect", "cause"):
        if not values.get(name):
            raise RuleViolation("Each failure mode needs its step, failure mode, effect and cause.")
    if any(values.get(s) is None for s in SCORES):
        raise RuleViolation("Score severity, occurrence and detection.")
    values.setdefault("position", (assessment.failure_modes.aggregate(top=Max("position"))["top"] or 0) + 1)
    return create_record(actor, FailureMode(assessment=assessment, **_scored(assessment.method, values)))


@transaction.atomic
def edit_failure_mode(actor, failure_mode: FailureMode, **fields) -> FailureMode:
    failure_mode = get_scoped(FailureMode.objects.select_for_update(), actor, pk=failure_mode.pk)
    assessment = _editable_assessment(actor, failure_mode.assessment)
    values = _failure_mode_values(actor, fields)
    merged = {name: getattr(failure_mode, name) for name in (*SCORES, *RESIDUAL)} | values
    for name in ("step", "failure_mode", "effect", "cause"):
        if name in values and not values[name]:
            raise RuleViolation(f"The {name.replace('_', ' ')} cannot be empty.")
    return update_record(actor, failure_mode, **_scored(assessment.method, merged))


def transition_risk_assessment(actor, assessment: RiskAssessment, action: str, *,
                               signature: SignatureInput | None = None, first_in_session: bool = True,
                               reason: str = "") -> RiskAssessment:
    signer = _signer_for(risk_assessment_workflow, actor, action, signature, first_in_session)
    with transaction.atomic():
        assessment = get_scoped(RiskAssessment.objects.select_for_update(), actor, pk=assessment.pk)
        if action == "submit" and not assessment.failure_modes.exists():
            raise RuleViolation(f"Add the failure modes of {assessment} before submitting it for review.")
        risk_assessment_workflow.apply(assessment, action, actor=actor, signer=signer, reason=reason)
    return assessment
