"""Every write to training: courses, curricula, assignments made when roles are granted and versions
approved, and completion by 'Read and Understood' or a trainer-led session with its assessment."""

import datetime as dt
from decimal import Decimal, InvalidOperation

from django.db import transaction

from opencdmo.core import audit, clock
from opencdmo.core.access import require
from opencdmo.core.domain.roles import Role
from opencdmo.core.errors import RuleViolation
from opencdmo.core.models import User
from opencdmo.core.numbering import next_number
from opencdmo.core.records import create_record, update_record
from opencdmo.core.scoping import get_scoped, scoped
from opencdmo.core.signatures import SignatureInput, authenticate_signer
from opencdmo.documents import selectors as document_selectors
from opencdmo.documents.models import Document, DocumentVersion

from . import conf
from .domain import rules
from .models import Course, Curriculum, TrainingAssignment
from .selectors import is_trained
from .workflows import SESSION_ACTIONS, assignment_workflow

MAX_DUE_DAYS = 365


def _may_see(user: User, document: Document) -> bool:
    """A sponsor's document is assigned only to people assigned to that sponsor; a CDMO-wide one to staff."""
    if document.sponsor_id is None:
        return user.has_permission("core.view_cdmo_records")
    return document.sponsor_id in user.sponsor_ids()


def _assign(actor, user: User, *, curriculum: Curriculum, version: DocumentVersion | None = None,
            course: Course | None = None, due: dt.date) -> TrainingAssignment | None:
    """Assign unless the person already has this training open or done (no duplicates)."""
    target = {"document_version": version} if version is not None else {"course": course}
    if TrainingAssignment.objects.filter(user=user, status__in=("assigned", "completed"), **target).exists():
        return None
    return create_record(actor, TrainingAssignment(
        number=next_number("TRN"), status=assignment_workflow.initial, user=user, curriculum=curriculum,
        due_date=due, assigned_at=clock.now(), assigned_by=actor, **target))


def _versions_to_train(document: Document, user: User) -> list[DocumentVersion]:
    """The effective version, unless the person's training already counts for it, and any approved
    version still to take effect that asks for training (so people train before the date)."""
    wanted = []
    effective = document_selectors.effective_version(document)
    if effective is not None and not is_trained(user, document):
        wanted.append(effective)
    wanted += list(document.versions.filter(status="approved", training_required=True,
                                            effective_from__gt=clock.now()))
    return wanted


def _assign_curriculum_to(actor, curriculum: Curriculum, user: User) -> int:
    today = document_selectors.site_today()
    made = 0
    for document in curriculum.documents.filter(status="active"):
        if not _may_see(user, document):
            continue
        for version in _versions_to_train(document, user):
            due = rules.due_date(today, effective_date=version.effective_date, days=curriculum.due_days)
            made += _assign(actor, user, curriculum=curriculum, version=version, due=due) is not None
    for course in curriculum.courses.filter(is_active=True):
        due = rules.due_date(today, effective_date=None, days=curriculum.due_days)
        made += _assign(actor, user, curriculum=curriculum, course=course, due=due) is not None
    return made


def holders(roles) -> list[User]:
    return list(User.objects.filter(is_active=True, role_grants__role__in=list(roles)).distinct())


def _assign_to_holders(actor, curriculum: Curriculum) -> int:
    return sum(_assign_curriculum_to(actor, curriculum, user) for user in holders(curriculum.roles))


# Signal receivers (connected in TrainingConfig.ready): they run in the sender's transaction.

def on_role_granted(sender, *, actor, user, role, **kwargs):
    for curriculum in Curriculum.objects.filter(is_active=True):
        if str(role) in curriculum.roles:
            _assign_curriculum_to(actor, curriculum, user)


def on_version_approved(sender, *, actor, version, **kwargs):
    """Everyone whose curricula include the document trains on a version that asks for it,
    from approval on (before it takes effect); an editorial version asks nothing."""
    if not version.training_required:
        return
    today = document_selectors.site_today()
    for curriculum in Curriculum.objects.filter(is_active=True, documents=version.document_id):
        due = rules.due_date(today, effective_date=version.effective_date, days=curriculum.due_days)
        for user in holders(curriculum.roles):
            if _may_see(user, version.document):
                _assign(actor, user, curriculum=curriculum, version=version, due=due)


def on_version_effective(sender, *, actor, version, superseded, **kwargs):
    """Open training on a version now superseded is cancelled; where the new version is editorial,
    the person trains on it instead, with the same due date (either version's training counts)."""
    stale = TrainingAssignment.objects.select_for_update().filter(
        status="assigned", document_version__document_id=version.document_id).exclude(document_version=version)
    for old in stale:
        update_record(actor, old, action="transition", status="cancelled", reason=f"superseded by {version.number}")
        if old.curriculum_id:
            _assign(actor, old.user, curriculum=old.curriculum, version=version, due=old.due_date)


def on_document_obsoleted(sender, *, actor, document, **kwargs):
    for open_one in TrainingAssignment.objects.select_for_update().filter(
            status="assigned", document_version__document_id=document.pk):
        update_record(actor, open_one, action="transition", status="cancelled", reason=f"{document} made obsolete")


# Courses and curricula.

def _due_days(value) -> int:
    if value is None:
        return conf.default_due_days()
    if not isinstance(value, int) or not 1 <= value <= MAX_DUE_DAYS:
        raise RuleViolation(f"Training is due within 1 to {MAX_DUE_DAYS} days.")
    return value


def _roles(roles) -> list[str]:
    roles = sorted({str(r) for r in roles})
    if unknown := [r for r in roles if r not in Role.__members__.values()]:
        raise RuleViolation(f"Unknown role(s): {', '.join(unknown)}.")
    return roles


@transaction.atomic
def create_course(actor, *, name: str, description: str = "", trainer_led: bool = True) -> Course:
    require(actor, "training.manage", to="manage training")
    if not name.strip():
        raise RuleViolation("Give the course a name.")
    if Course.objects.filter(name__iexact=name.strip()).exists():
        raise RuleViolation(f"A course named {name.strip()} exists already.")
    return create_record(actor, Course(name=name.strip(), description=description.strip(), trainer_led=trainer_led))


@transaction.atomic
def create_curriculum(actor, *, name: str, roles, documents=(), courses=(), due_days: int | None = None) -> Curriculum:
    """A curriculum; everyone holding one of its roles is assigned its training at once."""
    require(actor, "training.manage", to="manage training")
    if not name.strip():
        raise RuleViolation("Give the curriculum a name.")
    if Curriculum.objects.filter(name__iexact=name.strip()).exists():
        raise RuleViolation(f"A curriculum named {name.strip()} exists already.")
    curriculum = create_record(actor, Curriculum(name=name.strip(), roles=_roles(roles), due_days=_due_days(due_days)))
    _set_items(actor, curriculum, documents, courses)
    _assign_to_holders(actor, curriculum)
    return curriculum


def _set_items(actor, curriculum: Curriculum, documents, courses) -> None:
    """Set the curriculum's documents and courses, audited. A sponsor's document joining or leaving is
    written on that document's own trail, so only those who may see the sponsor read its number."""
    documents = [get_scoped(Document, actor, pk=d.pk) for d in documents]
    # Documents of sponsors the actor cannot see stay in the curriculum: they were not on the form.
    visible = set(scoped(Document, actor).values_list("pk", flat=True))
    documents += [d for d in curriculum.documents.all() if d.pk not in visible]
    before_docs, before_courses = set(curriculum.documents.all()), {c.name for c in curriculum.courses.all()}
    curriculum.documents.set(documents)
    curriculum.courses.set(list(courses))
    after_docs, after_courses = set(documents), {c.name for c in courses}
    cdmo_wide = {"documents": [sorted(d.number for d in before_docs if d.sponsor_id is None),
                               sorted(d.number for d in after_docs if d.sponsor_id is None)],
                 "courses": [sorted(before_courses), sorted(after_courses)]}
    if delta := {k: v for k, v in cdmo_wide.items() if v[0] != v[1]}:
        audit.log_event(actor, "update", record=curriculum, changes=delta)
    for document in (before_docs ^ after_docs):
        if document.sponsor_id is not None:
            joined = document in after_docs
            audit.log_event(actor, "update", record=document, changes={
                "curriculum": [None if joined else curriculum.name, curriculum.name if joined else None]})


@transaction.atomic
def update_curriculum(actor, curriculum: Curriculum, *, name: str, roles, documents, courses, due_days: int,
                      reason: str) -> Curriculum:
    """Change a curriculum; people newly concerned get their assignments."""
    require(actor, "training.manage", to="manage training")
    if not reason.strip():
        raise RuleViolation("Give a reason for changing the curriculum.")
    if not name.strip():
        raise RuleViolation("Give the curriculum a name.")
    curriculum = Curriculum.objects.select_for_update().get(pk=curriculum.pk)
    update_record(actor, curriculum, reason=reason, name=name.strip(), roles=_roles(roles),
                  due_days=_due_days(due_days))
    _set_items(actor, curriculum, documents, courses)
    _assign_to_holders(actor, curriculum)
    return curriculum


# Completion.

def _score(value) -> Decimal | None:
    if value in (None, ""):
        return None
    try:
        score = Decimal(str(value))
    except InvalidOperation:
        raise RuleViolation("The score must be a number from 0 to 100.") from None
    if not Decimal(0) <= score <= Decimal(100):
        raise RuleViolation("The score must be a number from 0 to 100.")
    return score


def _locked(actor, assignment: TrainingAssignment) -> TrainingAssignment:
    return get_scoped(TrainingAssignment.objects.select_for_update(of=("self",)).select_related(
        "course", "document_version__document"), actor, pk=assignment.pk)


def transition_assignment(actor, assignment: TrainingAssignment, action: str, *,
                          signature: SignatureInput | None = None, first_in_session: bool = True,
                          reason: str = "") -> TrainingAssignment:
    """Sign 'Read and Understood' (the trainee) or cancel (training.manage, with a reason)."""
    if action in SESSION_ACTIONS:
        raise RuleViolation("Record a trainer-led session on the session form, with its assessment result.")
    transition = assignment_workflow.get(action)
    require(actor, transition.permission, to=transition.label.lower())
    signer = assignment_workflow.authenticate(actor, action, signature, first_in_session=first_in_session)
    with transaction.atomic():
        assignment = _locked(actor, assignment)
        _refuse_unreleased(assignment)
        assignment_workflow.apply(assignment, action, actor=actor, signer=signer, reason=reason)
        if action == "read_and_understood":
            update_record(actor, assignment, action="transition", completed_at=clock.now(),
                          method=TrainingAssignment.Method.READ_AND_UNDERSTOOD, passed=True,
                          reason="read and understood")
    return assignment


def _refuse_unreleased(assignment: TrainingAssignment) -> None:
    version = assignment.document_version
    if version is not None and version.status not in ("approved", "effective"):
        raise RuleViolation(f"{version} is {version.status}: there is nothing to train on.")


def record_session(actor, assignment: TrainingAssignment, *, passed: bool, score=None,
                   signature: SignatureInput, first_in_session: bool = True) -> TrainingAssignment:
    """A trainer records a session and its assessment. A failed assessment is not training: the
    assignment is marked failed and the person is assigned the same training again."""
    action = "pass_session" if passed else "fail_session"
    score = _score(score)
    signer = authenticate_signer(actor, signature, first_in_session=first_in_session)
    with transaction.atomic():
        assignment = _locked(actor, assignment)
        _refuse_unreleased(assignment)
        assignment_workflow.apply(assignment, action, actor=actor, signer=signer)
        update_record(actor, assignment, action="transition", completed_at=clock.now(), trainer=actor,
                      method=TrainingAssignment.Method.TRAINER_LED, passed=passed, score=score,
                      reason="assessment passed" if passed else "assessment failed")
        if not passed:
            today = document_selectors.site_today()
            days = assignment.curriculum.due_days if assignment.curriculum_id else conf.default_due_days()
            create_record(actor, TrainingAssignment(
                number=next_number("TRN"), status=assignment_workflow.initial, user=assignment.user,
                curriculum=assignment.curriculum, document_version=assignment.document_version,
                course=assignment.course, due_date=today + dt.timedelta(days=days), assigned_at=clock.now(),
                assigned_by=actor), reason=f"retraining after failed assessment ({assignment.number})")
    return assignment

