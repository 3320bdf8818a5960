"""Reads of deviations, scoped to the user's sponsors (CDMO-wide ones to CDMO staff)."""

import datetime as dt
import math

from django.apps import apps
from django.db.models import BooleanField, Count, ExpressionWrapper, F, FloatField, Func, Max, Q, Window
from django.db.models.functions import RowNumber, TruncMonth
from django.urls import reverse
from django.utils import timezone

from opencdmo.core import audit, clock
from opencdmo.core.access import require_to_see
from opencdmo.core.clock import site_today
from opencdmo.core.domain.roles import PERMISSIONS
from opencdmo.core.errors import RuleViolation
from opencdmo.core.models import User
from opencdmo.core.scoping import get_scoped, scoped
from opencdmo.core.tasks import Task
from opencdmo.documents import selectors as document_selectors
from opencdmo.training import selectors as training_selectors

from . import conf
from .domain import due, risk
from .models import (
    Capa,
    CapaAction,
    ChangeControl,
    ChangeImpact,
    ChangeTask,
    Deviation,
    DeviationLink,
    DueDateExtension,
    FailureMode,
    RiskAssessment,
    RiskMethod,
    SponsorApproval,
)
from .workflows import (
    CHANGE_IMPLEMENTABLE_STATES,
    CHANGE_OPEN_STATES,
    capa_workflow,
    change_workflow,
    deviation_workflow,
    extension_workflow,
    risk_assessment_workflow,
    sponsor_approval_workflow,
)

# --- Deviations ---

DEVIATION_SORTS = {"number": "number", "title": "title", "source": "source", "sponsor": "sponsor__code",
                   "class": "classification", "raised": "raised_at", "due": "due_date", "status": "status"}
DEVIATION_LIST_DEFAULT_SORT = "-raised"
TASKS_PER_KIND = 25  # a QA approver of a big site sees the oldest first, not thousands of rows




def _overdue(today: dt.date) -> Q:
    return Q(due_date__lt=today) & ~Q(status__in=due.DONE_STATES)


def _capa_overdue(today: dt.date) -> Q:
    """In SQL what due.capa_due_date says: the effectiveness check's date once implemented."""
    return (Q(status=due.EFFECTIVENESS_CHECK, effectiveness_due_date__lt=today)
            | _overdue(today) & ~Q(status=due.EFFECTIVENESS_CHECK))


def _of_sponsor(queryset, code: str):
    """"none": the CDMO's own records (no sponsor); otherwise a sponsor's code."""
    return queryset.filter(sponsor__isnull=True) if code == "none" else queryset.filter(sponsor__code=code)


def deviations_for(user, *, status: str | None = None, classification: str = "", source: str = "",
                   sponsor: str = "", overdue: bool = False, text: str = "", sort: str = DEVIATION_LIST_DEFAULT_SORT):
    """The deviations the user may see, filtered and sorted; each row knows whether it is overdue."""
    today = site_today()
    queryset = scoped(Deviation, user).select_related("sponsor", "raised_by", "investigator").annotate(
        is_overdue=ExpressionWrapper(_overdue(today), output_field=BooleanField()))
    if status:
        queryset = queryset.filter(status=status)
    if classification:
        queryset = queryset.filter(classification=classification)
    if source:
        queryset = queryset.filter(source=source)
    if sponsor:
        queryset = _of_sponsor(queryset, sponsor)
    if overdue:
        queryset = queryset.filter(_overdue(today))
    if text:
        queryset = queryset.filter(Q(number__icontains=text) | Q(title__icontains=text) | Q(area__icontains=text))
    return _sorted(queryset, sort, DEVIATION_SORTS, "-raised_at")


def deviation(user, number: str) -> Deviation:
    return get_scoped(Deviation.objects.select_related(
        "sponsor", "raised_by", "investigator", "classified_by", "created_by"), user, number=number)


def deviation_links(user, deviation: Deviation) -> list[DeviationLink]:
    """The records a deviation concerns, named only where the user may see their sponsor: a
    CDMO-wide deviation (an EM excursion) may concern batches of several sponsors."""
    links = list(deviation.links.all())
    for record_type in {link.record_type for link in links}:
        try:
            model = apps.get_model(record_type)
        except (LookupError, ValueError):
            continue
        if getattr(model, "sponsor_scope", None) is None:
            continue
        of_type = [link for link in links if link.record_type == record_type]
        ids = [int(link.record_id) for link in of_type if link.record_id.isdigit()]
        visible = {str(pk) for pk in scoped(model, user).filter(pk__in=ids).values_list("pk", flat=True)}
        for link in of_type:
            if link.record_id not in visible:
                link.record_id, link.record_label = "", "a record of a sponsor you are not assigned to"
    return links


def deviations_about(user, record):
    """Deviations linked to a record (an equipment item, a lot, a batch …)."""
    links = DeviationLink.objects.filter(record_type=audit.record_type(record), record_id=str(record.pk))
    return deviations_for(user).filter(pk__in=links.values("deviation_id"))


def is_overdue(record) -> bool:
    due_date = (due.capa_due_date(record.status, record.due_date, record.effectiveness_due_date)
                if isinstance(record, Capa) else record.due_date)
    return due.is_overdue(due_date, site_today(), record.status)


def days_left(record) -> int | None:
    return due.days_left(record.due_date, site_today())


def deviation_capas(deviation: Deviation) -> list:
    return [link.capa for link in deviation.capa_links.select_related("capa", "capa__owner").order_by("capa__number")]


def extensions_of(record) -> list[DueDateExtension]:
    return list(record.extensions.select_related("created_by", "decided_by").order_by("created_at"))


def extension(user, number: str) -> DueDateExtension:
    return get_scoped(DueDateExtension.objects.select_related(
        "deviation", "capa", "created_by", "decided_by", "sponsor"), user, number=number)


def people_with(permission: str, sponsor=None):
    """Active people whose roles grant `permission` (and who see `sponsor`), in one query: the
    choices for an investigator, a CAPA owner or an action owner."""
    roles = [role.value for role, granted in PERMISSIONS.items() if permission in granted]
    people = User.objects.filter(is_active=True, role_grants__role__in=roles)
    if sponsor is not None:
        people = people.filter(sponsors=sponsor)
    return people.distinct().order_by("full_name")


def investigators(user, sponsor=None):
    return people_with("quality.investigate", sponsor)


def capa_owners(user, sponsor=None):
    return people_with("quality.manage_capa", sponsor)


def action_owners(user, sponsor=None):
    return people_with("core.view_cdmo_records", sponsor)


def _month_start(day: dt.date, back: int) -> dt.date:
    month = day.year * 12 + day.month - 1 - back
    return dt.date(month // 12, month % 12 + 1, 1)


def deviation_trend(user, *, sponsor: str = "", classification: str = "", months: int = 12) -> dict:
    """Counts of the deviations raised in the last `months` months (this one included), by
    category, area, root-cause category and month, for the trend report."""
    zone = timezone.get_current_timezone()
    today = site_today()
    first = _month_start(today, months - 1)
    since = dt.datetime.combine(first, dt.time.min, tzinfo=zone)
    rows = deviations_for(user, classification=classification, sponsor=sponsor).filter(raised_at__gte=since)
    labels = {"category": dict(conf.deviation_categories()), "root_cause_category": dict(conf.root_cause_categories())}

    def counted(field: str, empty: str):
        counts = rows.order_by().values(field).annotate(n=Count("pk")).order_by("-n", field)
        return [(labels.get(field, {}).get(r[field], r[field]) or empty, r["n"]) for r in counts]

    by_month = dict.fromkeys([_month_start(today, back) for back in range(months - 1, -1, -1)], 0)
    for r in rows.order_by().annotate(month=TruncMonth("raised_at", tzinfo=zone)).values("month").annotate(
            n=Count("pk")):
        by_month[timezone.localtime(r["month"], zone).date() if isinstance(r["month"], dt.datetime)
                 else r["month"]] = r["n"]
    return {
        "since": first, "total": rows.count(),
        "by_category": counted("category", "Not categorised"),
        "by_area": counted("area", "No area given"),
        "by_root_cause": counted("root_cause_category", "Not yet investigated"),
        "by_month": [(f"{m:%Y-%m}", n) for m, n in by_month.items()],
    }


def _task(record, title: str, url_name: str, workflow, detail: str = "", overdue: bool = False) -> Task:
    return Task(title=title, record=record.number, url=reverse(url_name, args=[record.number]),
                status="overdue" if overdue else record.status,
                status_label="Overdue" if overdue else workflow.label(record.status), detail=detail)


def _due_detail(record) -> str:
    return f"due {record.due_date:%Y-%m-%d}" if record.due_date else ""


def deviation_tasks(user) -> list[Task]:
    """Deviations to classify (QA), my investigations, closures to approve, extensions to decide."""
    tasks = []
    mine = deviations_for(user, sort="due")
    if user.has_permission("quality.classify_deviation"):
        tasks += [_task(d, "Classify deviation", "quality:deviation", deviation_workflow, d.title,
                        overdue=d.is_overdue) for d in mine.filter(status="open")[:TASKS_PER_KIND]]
    tasks += [_task(d, "Investigate deviation", "quality:deviation", deviation_workflow,
                    f"{d.title} · {_due_detail(d)}", overdue=d.is_overdue)
              for d in mine.filter(status="investigation", investigator=user)[:TASKS_PER_KIND]]
    if user.has_permission("quality.close_deviation"):
        waiting = mine.filter(status="closure_review").exclude(raised_by=user).exclude(investigator=user)
        tasks += [_task(d, "Approve closure of deviation", "quality:deviation", deviation_workflow, d.title,
                        overdue=d.is_overdue) for d in waiting[:TASKS_PER_KIND]]
    if user.has_permission("quality.approve_extension"):
        requests = (scoped(DueDateExtension, user).filter(status="requested").exclude(created_by=user)
                    .select_related("deviation", "capa").order_by("created_at"))
        tasks += [_task(e, "Decide on extension", "quality:extension", extension_workflow,
                        f"{e.deviation or e.capa}: to {e.requested_due_date:%Y-%m-%d}")
                  for e in requests[:TASKS_PER_KIND]]
    return tasks


# --- CAPA ---

CAPA_SORTS = {"number": "number", "title": "title", "source": "source", "sponsor": "sponsor__code",
              "owner": "owner__full_name", "due": "due_date", "status": "status", "created": "created_at"}
CAPA_LIST_DEFAULT_SORT = "-created"


def capas_for(user, *, status: str = "", source: str = "", sponsor: str = "", overdue: bool = False,
              text: str = "", sort: str = CAPA_LIST_DEFAULT_SORT):
    today = site_today()
    queryset = scoped(Capa, user).select_related("sponsor", "owner").annotate(
        is_overdue=ExpressionWrapper(_capa_overdue(today), output_field=BooleanField()))
    if status:
        queryset = queryset.filter(status=status)
    if source:
        queryset = queryset.filter(source=source)
    if sponsor:
        queryset = _of_sponsor(queryset, sponsor)
    if overdue:
        queryset = queryset.filter(_capa_overdue(today))
    if text:
        queryset = queryset.filter(Q(number__icontains=text) | Q(title__icontains=text)
                                   | Q(source_reference__icontains=text))
    return _sorted(queryset, sort, CAPA_SORTS, "-created_at")


def capa(user, number: str) -> Capa:
    return get_scoped(Capa.objects.select_related("sponsor", "owner", "created_by"), user, number=number)


def capa_action(user, capa: Capa, pk) -> CapaAction:
    return get_scoped(CapaAction.objects.select_related("capa", "owner"), user, capa=capa, pk=pk)


def capa_actions(capa: Capa) -> list[CapaAction]:
    return list(capa.actions.select_related("owner", "completed_by", "verified_by"))


def capa_deviations(user, capa: Capa) -> list[Deviation]:
    return list(scoped(Deviation, user).filter(capa_links__capa=capa).order_by("number"))


def linkable_capas(user, deviation: Deviation):
    """CAPAs in force of the deviation's sponsor that it does not name yet."""
    return (scoped(Capa, user).filter(sponsor=deviation.sponsor).exclude(status__in=("closed", "cancelled"))
            .exclude(deviation_links__deviation=deviation).order_by("-created_at")[:200])


def capa_tasks(user) -> list[Task]:
    """My open actions, actions to verify, effectiveness checks due, CAPAs to approve or close."""
    today = site_today()
    tasks = []
    actions = scoped(CapaAction, user).select_related("capa").order_by("due_date")
    for a in actions.filter(owner=user, status="open", capa__status="implementing")[:TASKS_PER_KIND]:
        tasks.append(Task(title="Do CAPA action", record=a.capa.number,
                          url=reverse("quality:capa", args=[a.capa.number]),
                          status="overdue" if a.due_date < today else "open",
                          status_label="Overdue" if a.due_date < today else "Open",
                          detail=f"{a.description[:80]} · due {a.due_date:%Y-%m-%d}"))
    if user.has_permission("quality.manage_capa"):
        for a in actions.filter(status="done").exclude(completed_by=user)[:TASKS_PER_KIND]:
            tasks.append(Task(title="Verify CAPA action", record=a.capa.number,
                              url=reverse("quality:capa", args=[a.capa.number]), status="done",
                              status_label="Done, to verify", detail=a.description[:80]))
        checks = capas_for(user, status="effectiveness_check", sort="due").filter(owner=user,
                                                                                  effectiveness_result="")
        tasks += [_task(c, "Check effectiveness of CAPA", "quality:capa", capa_workflow,
                        f"{c.title} · check due {c.effectiveness_due_date:%Y-%m-%d}"
                        if c.effectiveness_due_date else c.title) for c in checks[:TASKS_PER_KIND]]
        mine = capas_for(user, sort="due").filter(owner=user, status__in=("draft", "implementing"), is_overdue=True)
        tasks += [_task(c, "Overdue CAPA", "quality:capa", capa_workflow, c.title, overdue=True)
                  for c in mine[:TASKS_PER_KIND]]
    if user.has_permission("quality.approve_capa"):
        drafts = capas_for(user, status="draft", sort="due").exclude(created_by=user)
        tasks += [_task(c, "Approve CAPA plan", "quality:capa", capa_workflow, c.title)
                  for c in drafts[:TASKS_PER_KIND]]
        closable = capas_for(user, status="effectiveness_check", sort="due").filter(
            effectiveness_result__in=("effective", "justified")).exclude(owner=user)
        tasks += [_task(c, "Close CAPA", "quality:capa", capa_workflow, c.title) for c in closable[:TASKS_PER_KIND]]
    return tasks


# --- Change control ---

CHANGE_SORTS = {"number": "number", "title": "title", "status": "status", "kind": "kind",
                "classification": "classification", "target": "target_date", "created": "created_at"}


def _sorted(queryset, sort: str, allowed: dict, default: str):
    field = allowed.get(sort.lstrip("-"))
    if field is None:
        return queryset.order_by(default, "-pk")
    return queryset.order_by(f"-{field}" if sort.startswith("-") else field, "-pk")


def changes_for(user, *, status: str = "", kind: str = "", classification: str = "", sponsor: str = "",
                text: str = "", sort: str = ""):
    """Change controls this user may see; `status` "open" means every state before closure."""
    require_to_see(user, "quality.view")
    queryset = scoped(ChangeControl, user).select_related("sponsor", "proposed_by")
    if status == "open":
        queryset = queryset.filter(status__in=CHANGE_OPEN_STATES)
    elif status:
        queryset = queryset.filter(status=status)
    if kind:
        queryset = queryset.filter(kind=kind)
    if classification:
        queryset = queryset.filter(classification=classification)
    if sponsor == "none":
        queryset = queryset.filter(sponsor__isnull=True)
    elif sponsor:
        queryset = queryset.filter(sponsor__code=sponsor)
    if text:
        queryset = queryset.filter(Q(number__icontains=text) | Q(title__icontains=text)
                                   | Q(description__icontains=text))
    return _sorted(queryset, sort, CHANGE_SORTS, "-created_at")


def change(user, number: str) -> ChangeControl:
    require_to_see(user, "quality.view")
    return get_scoped(ChangeControl.objects.select_related("sponsor", "proposed_by", "created_by"), user,
                      number=number)


def change_impacts(user, change: ChangeControl):
    """The impacts this user may see: a sponsor's users see only their own sponsor's rows."""
    return scoped(ChangeImpact, user).filter(change=change).select_related("sponsor")


def change_approvals(user, change: ChangeControl):
    return scoped(SponsorApproval, user).filter(change=change).select_related("sponsor", "decided_by")


def change_tasks(user, change: ChangeControl):
    return scoped(ChangeTask, user).filter(change=change).select_related("owner", "completed_by")


def sponsor_approval(user, number: str) -> SponsorApproval:
    require_to_see(user, "quality.view")
    return get_scoped(SponsorApproval.objects.select_related("change", "sponsor", "decided_by"), user,
                      number=number)


def approved_change_control(user_or_none, number: str) -> ChangeControl:
    """The change control `number` if it is approved (or in implementation), for the modules that
    may make a new version effective only under an approved change (documents, master batch
    records, specifications). `user_or_none` None reads it as the system does (no scoping);
    with a user, only a change that user may see is found. Raises RuleViolation saying why not.
    After making the version effective, call `services.link_implementation(actor, change, version)`.
    """
    queryset = ChangeControl.objects.select_related("sponsor")
    found = (queryset.filter(number=number.strip()).first() if user_or_none is None
             else scoped(queryset, user_or_none).filter(number=number.strip()).first())
    if found is None:
        raise RuleViolation(f"No change control {number} exists: a new version needs an approved change control.")
    if found.status not in CHANGE_IMPLEMENTABLE_STATES:
        raise RuleViolation(f"{found.number} is {change_workflow.label(found.status)}: a new version can be made "
                            "effective only under an approved change control.")
    return found


def _change_task(title: str, change: ChangeControl, detail: str = "", url: str = "") -> Task:
    return Task(title=title, record=f"{change.number} {change.title}",
                url=url or reverse("quality:change", args=[change.number]), status=change.status,
                status_label=change_workflow.label(change.status), detail=detail)


def change_task_list(user) -> list[Task]:
    """My tasks: changes to assess or approve, sponsor approvals waiting for this sponsor's
    quality lead, and implementation tasks this user owns."""
    tasks = []
    if user.has_permission("quality.assess_change"):
        tasks += [_change_task("Assess the change", c) for c in scoped(ChangeControl, user).filter(
            status="assessment").order_by("created_at")[:50]]
    if user.has_permission("quality.approve_change"):
        tasks += [_change_task("Approve the change", c) for c in scoped(ChangeControl, user).filter(
            status="awaiting_approval").exclude(proposed_by=user).order_by("created_at")[:50]]
    if user.has_permission("quality.sponsor_approve_change"):
        waiting = scoped(SponsorApproval, user).filter(status="pending", change__status="awaiting_approval")
        tasks += [Task(title="Approve or reject the change for your sponsor", record=f"{a.change.number} {a.change.title}",
                       url=reverse("quality:sponsor_approval", args=[a.number]), status=a.status,
                       status_label=sponsor_approval_workflow.label(a.status), detail=a.sponsor.name)
                  for a in waiting.select_related("change", "sponsor")[:50]]
    mine = scoped(ChangeTask, user).filter(owner=user, done=False, change__status__in=CHANGE_IMPLEMENTABLE_STATES)
    tasks += [_change_task("Implementation task", t.change, detail=f"{t.description[:80]} · due {t.due_date}")
              for t in mine.select_related("change")[:50]]
    return tasks


# --- Risk assessment ---

RISK_SORTS = {"number": "number", "title": "title", "status": "status", "created": "created_at"}
FAILURE_MODE_SORTS = {"position": "position", "rpn": "rpn", "residual_rpn": "residual_rpn", "step": "step",
                      "severity": "severity"}


def risk_methods_for(user, *, status: str = ""):
    require_to_see(user, "quality.view")
    queryset = RiskMethod.objects.all()
    return queryset.filter(status=status) if status else queryset


def risk_method(user, number: str) -> RiskMethod:
    require_to_see(user, "quality.view")
    return get_scoped(RiskMethod, user, number=number)


def approved_risk_methods():
    return RiskMethod.objects.filter(status="approved").order_by("name")


def risk_assessments_for(user, *, status: str = "", text: str = "", sort: str = ""):
    require_to_see(user, "quality.view")
    queryset = scoped(RiskAssessment, user).select_related("sponsor", "method", "change").annotate(
        rows=Count("failure_modes"), top_rpn=Max("failure_modes__rpn"))
    if status:
        queryset = queryset.filter(status=status)
    if text:
        queryset = queryset.filter(Q(number__icontains=text) | Q(title__icontains=text) | Q(scope__icontains=text))
    return _sorted(queryset, sort, RISK_SORTS | {"rows": "rows", "top_rpn": "top_rpn"}, "-created_at")


def risk_assessment(user, number: str) -> RiskAssessment:
    require_to_see(user, "quality.view")
    return get_scoped(RiskAssessment.objects.select_related("sponsor", "method", "change", "created_by"), user,
                      number=number)


def failure_modes(user, assessment: RiskAssessment, *, sort: str = ""):
    """The FMEA rows, sortable (by RPN, highest first, with sort=-rpn)."""
    queryset = scoped(FailureMode, user).filter(assessment=assessment).select_related("capa_action__capa")
    field = FAILURE_MODE_SORTS.get(sort.lstrip("-"), "position")
    return queryset.order_by(f"-{field}" if sort.startswith("-") else field, "position", "id")


def heat_maps(assessment: RiskAssessment, rows) -> dict:
    """The severity × occurrence grid before and after mitigation (QRM-1), from rows already read."""
    method = assessment.method
    scales = risk.Scales(method.severity_max, method.occurrence_max, method.detection_max)
    before = [(r.severity, r.occurrence, r.risk_level) for r in rows]
    after = [(r.residual_severity, r.residual_occurrence, r.residual_level) for r in rows
             if r.residual_severity is not None]
    return {"before": risk.heat_map(method.levels, scales, before),
            "after": risk.heat_map(method.levels, scales, after),
            "levels": risk.validate_levels(method.levels), "scored_after": len(after),
            "occurrences": list(range(1, method.occurrence_max + 1))}


def capa_actions_to_link(user):
    """Open CAPA actions a mitigation may point to."""
    return scoped(CapaAction, user).exclude(status="cancelled").select_related("capa").order_by("capa__number", "id")


def risk_task_list(user) -> list[Task]:
    waiting = []
    for assessment in scoped(RiskAssessment, user).filter(status__in=["in_review", "reviewed"]).order_by(
            "created_at")[:50]:
        available = [t for t in risk_assessment_workflow.available(assessment, user) if t.signature]
        if available:
            waiting.append(Task(title=" / ".join(t.label for t in available), record=f"{assessment.number} "
                                f"{assessment.title}", url=reverse("quality:risk_assessment", args=[assessment.number]),
                                status=assessment.status,
                                status_label=risk_assessment_workflow.label(assessment.status)))
    return waiting


# --- Dashboard ---

CLOSED_STATES = ("closed", "cancelled", "void", "rejected")
CYCLE_TIME_DAYS = 365
OWNERS_SHOWN = 25  # the people with the most overdue, then open, items


def _counts_by_owner(queryset, *, open_q: Q, overdue_q: Q | None, closed_q: Q | None,
                     owner_field: str | None) -> list[dict]:
    """One pass over the table, grouped by owner: open, overdue and recently closed counts."""
    counts = {"open": Count("pk", filter=open_q)}
    if overdue_q is not None:
        counts["overdue"] = Count("pk", filter=open_q & overdue_q)
    if closed_q is not None:
        counts["closed"] = Count("pk", filter=closed_q)
    if owner_field is None:
        return [queryset.aggregate(**counts)]
    return list(queryset.values(person=F(owner_field)).annotate(**counts).order_by())


def _record_types(user, today):
    """(label, queryset, open condition, overdue condition, owner field, start field for cycle time, list URL)."""
    open_record = ~Q(status__in=CLOSED_STATES)
    return [
        ("Deviations", scoped(Deviation, user), open_record, _overdue(today), "investigator", "raised_at",
         reverse("quality:deviations")),
        ("CAPAs", scoped(Capa, user), open_record, _capa_overdue(today), "owner", "created_at",
         reverse("quality:capas")),
        # Open actions of open CAPAs, scoped through the CAPA: an IN (subquery) that the database
        # answers from the few open CAPAs instead of joining every action to its CAPA.
        ("CAPA actions", CapaAction.objects.filter(capa__in=scoped(Capa, user).filter(open_record).values("pk")),
         Q(status__in=["open", "done"]), Q(due_date__lt=today), "owner", None, None),
        ("Change controls", scoped(ChangeControl, user), Q(status__in=CHANGE_OPEN_STATES), Q(target_date__lt=today),
         "proposed_by", "created_at", reverse("quality:changes") + "?status=open"),
        ("Change tasks", scoped(ChangeTask, user), Q(done=False, change__status__in=CHANGE_IMPLEMENTABLE_STATES),
         Q(due_date__lt=today), "owner", None, None),
        ("Due-date extensions pending", scoped(DueDateExtension, user), Q(status="requested"), None, None, None,
         None),
    ]


class DaysBetween(Func):
    """Days from the second timestamp to the first, computed natively by the database (no
    per-row Python function, which SQLite would otherwise call for a datetime difference)."""

    output_field = FloatField()
    template = "(EXTRACT(EPOCH FROM (%(expressions)s)) / 86400.0)"
    arg_joiner = " - "

    def as_sqlite(self, compiler, connection, **extra):
        return super().as_sql(compiler, connection, template="(julianday(%(expressions)s))",
                              arg_joiner=") - julianday(", **extra)


def _document_and_training_counts(user) -> list[dict]:
    """Documents past their periodic review and overdue training, from their own apps' selectors."""
    late_reviews = document_selectors.review_overdue(user).count()
    rows = [{"label": "Documents past periodic review", "url": reverse("documents:review_due"),
             "open": late_reviews, "overdue": late_reviews}]
    if user.has_permission("training.view_all"):
        late_training = training_selectors.overdue(user).count()
        rows.append({"label": "Training assignments overdue", "url": reverse("training:overdue"),
                     "open": late_training, "overdue": late_training})
    return rows


def _cycle_time(queryset, start_field: str, closed_q: Q, count: int) -> dict:
    """Median and 90th percentile (nearest rank) in one query: the two ranked rows of the sorted durations."""
    if not count:
        return {"closed": 0, "median": None, "p90": None}
    ranks = {fraction: max(math.ceil(fraction * count), 1) for fraction in (0.5, 0.9)}
    days = dict(queryset.filter(closed_q).annotate(
        days=DaysBetween(F("closed_at"), F(start_field)),
        rank=Window(RowNumber(), order_by=[F("days").asc(), F("pk").asc()]),
    ).filter(rank__in=ranks.values()).values_list("rank", "days"))
    return {"closed": count, "median": round(days[ranks[0.5]], 1), "p90": round(days[ranks[0.9]], 1)}


def dashboard(user) -> dict:
    """Open and overdue items by record type and by owner, cycle times over the last 12 months.

    Every figure is an aggregate computed by the database (COUNT … FILTER … GROUP BY owner, and
    the percentiles as the ranked rows of the sorted durations), never a loop over the records.
    """
    require_to_see(user, "quality.view")
    now = clock.now()
    today = timezone.localdate(now)
    since = now - dt.timedelta(days=CYCLE_TIME_DAYS)
    types, owners, cycle_times = [], {}, []
    for label, queryset, open_q, overdue_q, owner_field, start_field, url in _record_types(user, today):
        closed_q = Q(status="closed", closed_at__gte=since) if start_field else None
        groups = _counts_by_owner(queryset, open_q=open_q, overdue_q=overdue_q, closed_q=closed_q,
                                  owner_field=owner_field)
        total = {key: sum(g.get(key) or 0 for g in groups) for key in ("open", "overdue", "closed")}
        types.append({"label": label, "url": url, "open": total["open"],
                      "overdue": total["overdue"] if overdue_q is not None else None})
        if owner_field:
            busy = [g for g in groups if g["open"]]
            names = dict(User.objects.filter(pk__in=[g["person"] for g in busy if g["person"]]).values_list(
                "pk", "full_name"))
            for group in busy:
                name = names.get(group["person"], "Not assigned yet")
                person = owners.setdefault(name, {"name": name, "open": 0, "overdue": 0, "by_type": {}})
                person["open"] += group["open"]
                person["overdue"] += group.get("overdue", 0)
                person["by_type"][label] = group["open"]
        if start_field:
            cycle_times.append({"label": label, **_cycle_time(queryset, start_field, closed_q, total["closed"])})
    types += _document_and_training_counts(user)
    labels = [t["label"] for t in types if any(t["label"] in p["by_type"] for p in owners.values())]
    by_owner = sorted(owners.values(), key=lambda p: (-p["overdue"], -p["open"], p["name"]))
    for person in by_owner[:OWNERS_SHOWN]:
        person["cells"] = [person["by_type"].get(label, 0) for label in labels]
    return {"types": types, "owner_labels": labels, "by_owner": by_owner[:OWNERS_SHOWN], "owners": len(by_owner),
            "cycle_times": cycle_times, "today": today}
