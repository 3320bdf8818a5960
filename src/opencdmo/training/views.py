"""Training pages: my training, an assignment (sign read and understood), the trainer's session form,
the matrix, overdue training, curricula and courses, and a person's printable training record."""

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from opencdmo.core import clock, registry
from opencdmo.core import selectors as core_selectors
from opencdmo.core.access import require_to_see
from opencdmo.core.domain.roles import ROLE_LABELS, Role
from opencdmo.core.errors import DomainError
from opencdmo.core.pdf import render_pdf
from opencdmo.core.signatures import SignatureInput
from opencdmo.core.views import SIGNED_IN_SESSION, paginate
from opencdmo.documents import selectors as document_selectors
from opencdmo.documents import services as document_services
from opencdmo.documents.models import Document

from . import selectors, services
from .models import TrainingAssignment
from .workflows import SESSION_ACTIONS, assignment_workflow

ROLE_CHOICES = [(r.value, ROLE_LABELS[r]) for r in Role if r is not Role.SPONSOR_VIEWER]


def _sweep():
    """Bring document statuses up to the clock, so superseded training shows as cancelled."""
    document_services.take_effect_due(None)


@login_required
def my_training(request):
    require_to_see(request.user, "training.view")
    _sweep()
    return render(request, "training/mine.html", {
        "open": selectors.my_assignments(request.user),
        "done": selectors.my_assignments(request.user, state="done")[:50],
        "today": document_selectors.site_today(),
    })


def _assignment_context(request, assignment: TrainingAssignment) -> dict:
    signatures = (core_selectors.record_signatures(request.user, assignment)
                  if request.user.has_permission("core.view_signatures") else [])
    return {
        "record": assignment, "reference": assignment.number, "kind": registry.kind("training.trainingassignment"),
        "workflow": assignment_workflow, "status_label": assignment_workflow.label(assignment.status),
        "transitions": [t for t in assignment_workflow.available(assignment, request.user)
                        if t.name not in SESSION_ACTIONS],
        "can_record_session": any(t.name in SESSION_ACTIONS
                                  for t in assignment_workflow.available(assignment, request.user)),
        "signatures": signatures, "today": document_selectors.site_today(),
    }


@login_required
def assignment_detail(request, number):
    require_to_see(request.user, "training.view")
    assignment = selectors.assignment(request.user, number)
    return render(request, "training/assignment_detail.html", _assignment_context(request, assignment))


@login_required
@require_http_methods(["GET", "POST"])
def session(request, number):
    require_to_see(request.user, "training.train")
    assignment = selectors.assignment(request.user, number)
    first = not request.session.get(SIGNED_IN_SESSION, False)
    error, status = "", 200
    if request.method == "POST":
        post = request.POST
        try:
            services.record_session(
                request.user, assignment, passed=post.get("result") == "pass", score=post.get("score", ""),
                first_in_session=first,
                signature=SignatureInput(meaning="Trainer", password=post.get("password", ""),
                                         username=post.get("username", ""), comment=post.get("comment", "")))
            request.session[SIGNED_IN_SESSION] = True
            return redirect("training:assignment", number=assignment.number)
        except DomainError as exc:
            error, status = exc.message, exc.status
    return render(request, "training/session_form.html", {
        "assignment": assignment, "first_in_session": first, "error": error, "form": request.POST}, status=status)


@login_required
def matrix(request):
    require_to_see(request.user, "training.view_all")
    _sweep()
    role = request.GET.get("role", "")
    role = role if role in Role.__members__.values() else ""
    try:
        curriculum_id = int(request.GET.get("curriculum") or 0) or None
    except ValueError:
        curriculum_id = None
    columns, rows = selectors.training_matrix(request.user, role=role, curriculum_id=curriculum_id)
    return render(request, "training/matrix.html", {
        "columns": columns, "rows": rows, "roles": ROLE_CHOICES, "curricula": selectors.curricula(),
        "filters": {"role": role, "curriculum": curriculum_id}})


@login_required
def overdue(request):
    require_to_see(request.user, "training.view_all")
    _sweep()
    return render(request, "training/overdue.html", {
        "page": paginate(request, selectors.overdue(request.user)), "today": document_selectors.site_today()})


@login_required
def curricula(request):
    require_to_see(request.user, "training.view_all")
    labels = dict(ROLE_CHOICES)
    return render(request, "training/curricula.html", {
        "curricula": [(c, [labels.get(r, r) for r in c.roles], selectors.visible_items(request.user, c))
                      for c in selectors.curricula()],
        "courses": selectors.courses()})


def _curriculum_form(request) -> dict:
    post = request.POST
    documents = list(Document.objects.filter(pk__in=[v for v in post.getlist("documents") if v.isdigit()]))
    courses = list(selectors.courses().filter(pk__in=[v for v in post.getlist("courses") if v.isdigit()]))
    days = post.get("due_days", "")
    return {"name": post.get("name", ""), "roles": post.getlist("roles"), "documents": documents, "courses": courses,
            "due_days": int(days) if days.isdigit() else None}


def _curriculum_page(request, curriculum=None):
    require_to_see(request.user, "training.manage")
    error, status = "", 200
    if request.method == "POST":
        try:
            fields = _curriculum_form(request)
            if curriculum is None:
                services.create_curriculum(request.user, **fields)
            else:
                services.update_curriculum(request.user, curriculum, reason=request.POST.get("reason", ""),
                                           **fields | {"due_days": fields["due_days"] or curriculum.due_days})
            return redirect("training:curricula")
        except DomainError as exc:
            error, status = exc.message, exc.status
    chosen = {"roles": request.POST.getlist("roles"), "documents": request.POST.getlist("documents"),
              "courses": request.POST.getlist("courses")} if request.method == "POST" else {
        "roles": curriculum.roles if curriculum else [],
        "documents": [str(d.pk) for d in selectors.visible_items(request.user, curriculum)] if curriculum else [],
        "courses": [str(c.pk) for c in curriculum.courses.all()] if curriculum else []}
    return render(request, "training/curriculum_form.html", {
        "curriculum": curriculum, "roles": ROLE_CHOICES, "chosen": chosen, "form": request.POST or None,
        "documents": document_selectors.documents_for(request.user, status="active"),
        "courses": selectors.courses(), "error": error}, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def curriculum_new(request):
    return _curriculum_page(request)


@login_required
@require_http_methods(["GET", "POST"])
def curriculum_edit(request, pk):
    require_to_see(request.user, "training.manage")
    return _curriculum_page(request, selectors.curriculum(pk))


@login_required
@require_http_methods(["GET", "POST"])
def course_new(request):
    require_to_see(request.user, "training.manage")
    error, status = "", 200
    if request.method == "POST":
        try:
            services.create_course(request.user, name=request.POST.get("name", ""),
                                   description=request.POST.get("description", ""),
                                   trainer_led=request.POST.get("trainer_led") == "on")
            return redirect("training:curricula")
        except DomainError as exc:
            error, status = exc.message, exc.status
    return render(request, "training/course_form.html", {"form": request.POST, "error": error}, status=status)


def _record_context(request, username):
    person = selectors.person(request.user, username)
    assignments = list(selectors.training_record(request.user, person))
    signatures = {a.pk: core_selectors.record_signatures(request.user, a) for a in assignments
                  if a.status in ("completed", "failed")} if request.user.has_permission("core.view_signatures") else {}
    return {"person": person, "rows": [(a, signatures.get(a.pk, [])) for a in assignments],
            "today": document_selectors.site_today(), "printed_by": request.user, "printed_at": clock.now()}


@login_required
def person(request, username):
    require_to_see(request.user, "training.view")
    return render(request, "training/person.html", _record_context(request, username))


@login_required
def person_pdf(request, username):
    require_to_see(request.user, "training.view")
    context = _record_context(request, username)
    pdf = render_pdf("training/person_pdf.html", context, request=request)
    response = HttpResponse(pdf, content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="training-record-{context["person"].username}.pdf"'
    return response
