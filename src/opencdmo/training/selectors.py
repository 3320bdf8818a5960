"""Reads of training. `is_trained` is the one question batch execution asks before a step."""

import datetime as dt
import functools
from dataclasses import dataclass

from django.db import connection
from django.db.models import Count, Q
from django.urls import reverse

from opencdmo.core import clock
from opencdmo.core.access import require_to_see
from opencdmo.core.errors import NotFound
from opencdmo.core.models import User
from opencdmo.core.scoping import get_scoped, scoped
from opencdmo.core.tasks import Task
from opencdmo.documents import selectors as document_selectors
from opencdmo.documents.models import Document, DocumentVersion

from .domain import rules
from .models import Course, Curriculum, TrainingAssignment
from .workflows import assignment_workflow


def _counting_versions(document: Document, at: dt.datetime) -> list[int]:
    return rules.counting_versions(document_selectors.released_history(document, at))


# rules.counting_versions in one statement, because batch execution asks before every step:
# the versions in force by then that are not older, by (effective_from, id), than the latest one
# in force that required training (all of them when none did).
_IS_TRAINED_SQL = """
SELECT 1 FROM {assignment} a
JOIN {version} v ON v.id = a.document_version_id
LEFT JOIN (SELECT effective_from, id FROM {version}
           WHERE document_id = %s AND status IN ({released}) AND training_required AND effective_from <= %s
           ORDER BY effective_from DESC, id DESC LIMIT 1) r ON 1 = 1
WHERE a.user_id = %s AND a.status = 'completed' AND a.completed_at <= %s
  AND v.document_id = %s AND v.status IN ({released}) AND v.effective_from <= %s
  AND (r.id IS NULL OR v.effective_from > r.effective_from OR (v.effective_from = r.effective_from AND v.id >= r.id))
LIMIT 1
"""


@functools.cache
def _is_trained_sql() -> str:
    return _IS_TRAINED_SQL.format(assignment=TrainingAssignment._meta.db_table, version=DocumentVersion._meta.db_table,
                                  released=", ".join(["%s"] * len(document_selectors.RELEASED_STATES)))


def is_trained(user, document: Document, at: dt.datetime | None = None) -> bool:
    """True iff `user` completed (passed) training, by `at`, on the version in force at `at` or, when
    that version asked for no retraining, on an earlier one back to the latest that did. One indexed query."""
    at = document_selectors.instant(at)
    if document.obsoleted_at is not None and document.obsoleted_at <= at:
        return False
    when = connection.ops.adapt_datetimefield_value(at)
    released = list(document_selectors.RELEASED_STATES)
    with connection.cursor() as cursor:
        cursor.execute(_is_trained_sql(), [document.pk, *released, when, user.pk, when, document.pk, *released, when])
        return cursor.fetchone() is not None


def training_gap(user, document: Document, at: dt.datetime | None = None) -> str | None:
    """None when trained, else why not, in words an interlock can show:
    'not trained on SOP-0003 v2.0 (assigned, due 2026-04-01)'."""
    at = document_selectors.instant(at)
    version = document_selectors.effective_version(document, at)
    if version is None:
        return f"{document} has no effective version: no one can be trained on it"
    if is_trained(user, document, at):
        return None
    subject = f"{document.number} v{version.label}"
    open_one = (TrainingAssignment.objects.filter(user_id=user.pk, status="assigned",
                                                 document_version_id__in=_counting_versions(document, at))
                .order_by("due_date").first())
    if open_one is None:
        return f"not trained on {subject} (not assigned)"
    overdue = " — overdue" if rules.is_overdue(open_one.due_date, document_selectors.site_today()) else ""
    return f"not trained on {subject} (assigned, due {open_one.due_date:%Y-%m-%d}{overdue})"


def _assignments(viewer):
    return scoped(TrainingAssignment, viewer).select_related(
        "user", "course", "trainer", "curriculum", "document_version__document")


def my_assignments(user, *, state: str = "open"):
    queryset = _assignments(user).filter(user=user)
    if state == "open":
        return queryset.filter(status="assigned").order_by("due_date", "pk")
    return queryset.exclude(status="assigned").order_by("-completed_at", "-pk")


def assignment(user, number: str) -> TrainingAssignment:
    """The trainee sees their own; trainers and those with training.view_all see everyone's."""
    found = get_scoped(_assignments(user), user, number=number)
    if found.user_id != user.pk and not (user.has_permission("training.view_all")
                                         or user.has_permission("training.train")):
        require_to_see(user, "training.view_all")
    return found


def person(viewer, username: str) -> User:
    if username.lower() != viewer.username.lower():
        require_to_see(viewer, "training.view_all")
    return get_scoped(User, viewer, username__iexact=username)


def training_record(viewer, user):
    """A person's training history (what the viewer may see of it), newest first."""
    return _assignments(viewer).filter(user=user).order_by("-completed_at", "-assigned_at", "-pk")


def overdue(viewer):
    require_to_see(viewer, "training.view_all")
    return _assignments(viewer).filter(status="assigned", due_date__lt=document_selectors.site_today()).order_by(
        "due_date", "user__username")


def courses():
    return Course.objects.filter(is_active=True)


def curricula():
    return Curriculum.objects.prefetch_related("documents", "courses")


def visible_items(viewer, curriculum: Curriculum) -> list[Document]:
    """The curriculum's documents that the viewer may see (a sponsor's documents only to its people)."""
    return list(scoped(Document, viewer).filter(pk__in=[d.pk for d in curriculum.documents.all()]))


def curriculum(pk) -> Curriculum:
    try:
        return curricula().get(pk=int(pk))
    except (Curriculum.DoesNotExist, ValueError, TypeError):
        raise NotFound("No curriculum matches that reference.") from None


@dataclass
class MatrixColumn:
    label: str
    title: str
    document: Document | None = None
    course: Course | None = None


@dataclass
class MatrixRow:
    user: User
    cells: list[str]


def training_matrix(viewer, *, role: str = "", curriculum_id: int | None = None):
    """People × the documents and courses of their curricula; each cell trained / due / overdue /
    not assigned (or None where the item is not in that person's curricula)."""
    require_to_see(viewer, "training.view_all")
    chosen = [c for c in curricula().filter(is_active=True) if (not role or role in c.roles)
              and (curriculum_id is None or c.pk == curriculum_id)]
    documents = {d.pk: d for c in chosen for d in c.documents.all() if d.status == "active"}
    visible = set(scoped(Document, viewer).filter(pk__in=documents).values_list("pk", flat=True))
    documents = {pk: d for pk, d in sorted(documents.items(), key=lambda kv: kv[1].number) if pk in visible}
    course_list = sorted({c for cur in chosen for c in cur.courses.all()}, key=lambda c: c.name)
    columns = [MatrixColumn(d.number, d.title, document=d) for d in documents.values()]
    columns += [MatrixColumn(c.name, c.description, course=c) for c in course_list]
    roles = {r for c in chosen for r in c.roles} if not role else {role}
    people = list(User.objects.filter(is_active=True, role_grants__role__in=roles).distinct().order_by("full_name"))
    wanted = {}  # user id -> the items of their curricula
    grants = {}
    for user_id, granted in User.objects.filter(pk__in=[p.pk for p in people]).values_list("pk", "role_grants__role"):
        grants.setdefault(user_id, set()).add(granted)
    for p in people:
        mine = [c for c in chosen if grants.get(p.pk, set()) & set(c.roles)]
        wanted[p.pk] = {("d", d.pk) for c in mine for d in c.documents.all()} | {
            ("c", k.pk) for c in mine for k in c.courses.all()}
    counting = {pk: _counting_versions(d, clock.now()) for pk, d in documents.items()}
    version_doc = {v: pk for pk, versions in counting.items() for v in versions}
    rows_by_user = {}
    for a in TrainingAssignment.objects.filter(user__in=people).filter(
            Q(document_version_id__in=list(version_doc)) | Q(course__in=course_list) |
            Q(document_version__document_id__in=list(documents), status="assigned")).values(
            "user_id", "document_version_id", "document_version__document_id", "course_id", "status", "due_date"):
        key = ("c", a["course_id"]) if a["course_id"] else ("d", a["document_version__document_id"])
        entry = rows_by_user.setdefault(a["user_id"], {}).setdefault(key, {"completed": False, "dues": []})
        if a["status"] == "completed" and (a["course_id"] or a["document_version_id"] in version_doc):
            entry["completed"] = True
        elif a["status"] == "assigned":
            entry["dues"].append(a["due_date"])
    today = document_selectors.site_today()
    rows = []
    for p in people:
        cells = []
        for col in columns:
            key = ("d", col.document.pk) if col.document else ("c", col.course.pk)
            if key not in wanted[p.pk]:
                cells.append(None)
                continue
            entry = rows_by_user.get(p.pk, {}).get(key, {"completed": False, "dues": []})
            cells.append(rules.cell_state(completed=entry["completed"], open_due_dates=entry["dues"], today=today))
        rows.append(MatrixRow(p, cells))
    return columns, rows


def training_task_list(user):
    """'My tasks': my training due; for trainers and QA the count of overdue assignments."""
    today = document_selectors.site_today()
    tasks = [
        Task(title="Complete training", record=f"{a.number} {a.subject}",
             url=reverse("training:assignment", args=[a.number]),
             status="overdue" if rules.is_overdue(a.due_date, today) else "assigned",
             status_label=f"{'Overdue' if rules.is_overdue(a.due_date, today) else 'Due'} {a.due_date:%Y-%m-%d}")
        for a in my_assignments(user)
    ]
    if user.has_permission("training.view_all"):
        count = scoped(TrainingAssignment, user).filter(status="assigned", due_date__lt=today).aggregate(
            n=Count("pk"))["n"]
        if count:
            tasks.append(Task(title="Follow up overdue training", record=f"{count} overdue assignment(s)",
                              url=reverse("training:overdue"), status="overdue", status_label="Overdue"))
    return tasks


def assignment_status_label(assignment: TrainingAssignment) -> str:
    return assignment_workflow.label(assignment.status)
