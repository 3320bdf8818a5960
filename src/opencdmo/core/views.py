"""Pages of the compliance kernel. Thin: parse input, call a service or selector, render."""

import csv

from django.contrib.auth import login as start_session
from django.contrib.auth import logout as end_session
from django.contrib.auth import update_session_auth_hash
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Prefetch
from django.http import FileResponse, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.dateparse import parse_date
from django.views.decorators.http import require_http_methods, require_POST

from . import filestore, presentation, security, selectors, services, tasks
from .domain.roles import Role
from .errors import DomainError, PermissionDenied, RuleViolation
from .models import User
from .pdf import render_pdf
from .signatures import SignatureInput

# Set once the user has signed with ID and password in this session (P11-6(a)(1)(i)).
SIGNED_IN_SESSION = "signed_in_session"


def invalid_input(exc: ValidationError, model) -> str:
    """A model's refusal of a value (length, range, format) as a message naming the field."""
    if not hasattr(exc, "error_dict"):
        return " ".join(exc.messages)
    names = {f.name: str(f.verbose_name) for f in model._meta.get_fields() if hasattr(f, "verbose_name")}
    return " ".join(f"{names.get(field, field).capitalize()}: {' '.join(messages)}"
                    for field, messages in exc.message_dict.items())


def paginate(request, queryset, per_page: int = 50):
    return Paginator(queryset, per_page).get_page(request.GET.get("page"))


def sort_headers(request, columns, default: str = "") -> list[dict]:
    """Header links of a table sorted in the database, so that paging keeps the order; `columns`
    is [(label, sort key)]. A first click sorts ascending, the next descending. Rendered by
    core/_sort_headers.html."""
    current = request.GET.get("sort", "") or default
    headers = []
    for label, key in columns:
        query = request.GET.copy()
        query.pop("page", None)
        query["sort"] = f"-{key}" if current == key else key
        aria = "ascending" if current == key else "descending" if current == f"-{key}" else "none"
        headers.append({"label": label, "url": f"?{query.urlencode()}", "aria": aria})
    return headers


def signer_at_screen(post, who: str) -> User:
    """The person who signs at the operator's screen with their own user ID and password (a
    second person verifying, QA overriding), without signing the operator out."""
    username = post.get("username", "").strip()
    if not username:
        raise RuleViolation(f"{who} enters their user ID and password to sign.")
    signer = User.objects.filter(username__iexact=username, is_active=True).first()
    if signer is None:
        raise PermissionDenied("Signature refused: no active user has that user ID.")
    return signer


@require_http_methods(["GET", "POST"])
def login(request):
    if request.user.is_authenticated:
        return redirect("core:home")
    error, username = "", ""
    if request.method == "POST":
        username = request.POST.get("username", "")
        try:
            user = security.check_credentials(username, request.POST.get("password", ""))
        except DomainError as exc:
            error = exc.message
        else:
            start_session(request, user, backend="opencdmo.core.auth.LockoutAwareBackend")
            security.record_login(user)
            target = request.POST.get("next") or ""
            safe = target.startswith("/") and not target.startswith("//")
            return redirect(target if safe else "core:home")
    return render(request, "core/login.html",
                  {"error": error, "username": username, "next": request.GET.get("next", "")},
                  status=403 if error else 200)


@require_POST
def logout(request):
    if request.user.is_authenticated:
        security.record_logout(request.user)
    end_session(request)
    return redirect("core:login")


@login_required
def home(request):
    context = {"tasks": tasks.tasks_for(request.user)}
    if request.user.has_permission("core.view_security_alerts"):
        context["alerts"] = selectors.security_alerts(request.user, limit=5)
        context["locked_users"] = selectors.locked_users(request.user)
    return render(request, "core/home.html", context)


def _audit_filters(request) -> dict:
    get = request.GET
    return {
        "record_type": get.get("record_type", "").strip(),
        "record_id": get.get("record_id", "").strip(),
        "actor": get.get("actor", "").strip(),
        "action": get.get("action", "").strip(),
        "since": parse_date(get.get("since", "")) if get.get("since") else None,
        "until": parse_date(get.get("until", "")) if get.get("until") else None,
        "text": get.get("text", "").strip(),
    }


@login_required
def audit_trail(request):
    try:
        filters = _audit_filters(request)
    except ValueError:
        raise RuleViolation("Dates are written YYYY-MM-DD.") from None
    events = selectors.audit_events(request.user, **filters)
    fmt = request.GET.get("format")
    if fmt in ("csv", "pdf"):
        return _export_audit_trail(request, events, filters, fmt)
    return render(request, "core/audit_trail.html", {
        "page": paginate(request, events), "filters": filters, "actions": selectors.ACTIONS,
        "query": request.GET.urlencode(),
    })


EXPORT_LIMIT = 20000


def _export_audit_trail(request, events, filters, fmt):
    events = list(events[:EXPORT_LIMIT])
    services.record_export(request.user, what="audit trail", count=len(events), file_format=fmt,
                           filters={k: str(v) for k, v in filters.items() if v})
    if fmt == "pdf":
        pdf = render_pdf("core/audit_trail_pdf.html", {"events": events, "filters": filters,
                                                        "exported_by": request.user}, request=request)
        response = HttpResponse(pdf, content_type="application/pdf")
        response["Content-Disposition"] = 'attachment; filename="audit-trail.pdf"'
        return response
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="audit-trail.csv"'
    writer = csv.writer(response)
    writer.writerow(["event", "time (UTC)", "time (site)", "user", "action", "record type", "record",
                     "version", "field", "old value", "new value", "reason", "correlation id",
                     "client", "chain", "position", "hash"])
    for e in events:
        rows = presentation.change_rows(e.changes) or [("", "", "")]
        for field, old, new in rows:
            writer.writerow([e.id, e.occurred_at, presentation.local_time(e.occurred_at), e.actor_name,
                             e.action, e.record_type, e.record_label, e.record_version, field, old, new,
                             e.reason, e.correlation_id, e.client_address, e.lane, e.seq, e.hash])
    return response


# Generic record tabs: audit trail, signatures, attachments of any registered record.

@login_required
def record_audit_trail(request, type_name, reference):
    kind, record = selectors.record(request.user, type_name, reference)
    events = selectors.record_audit_trail(request.user, record)
    return render(request, "core/_audit_table.html", {"events": events[:500], "record": record})


@login_required
def record_signatures(request, type_name, reference):
    kind, record = selectors.record(request.user, type_name, reference)
    return render(request, "core/_signatures.html",
                  {"signatures": selectors.record_signatures(request.user, record), "record": record})


@login_required
@require_http_methods(["GET", "POST"])
def record_attachments(request, type_name, reference):
    kind, record = selectors.record(request.user, type_name, reference)
    error, status = "", 200
    if request.method == "POST":
        upload = request.FILES.get("file")
        if upload is None:
            error, status = "Choose a file to attach.", 422
        else:
            try:
                services.add_attachment(request.user, record, upload,
                                        description=request.POST.get("description", ""))
            except DomainError as exc:
                error, status = exc.message, exc.status
    return render(request, "core/_attachments.html", {
        "attachments": selectors.record_attachments(request.user, record), "record": record,
        "kind": kind, "reference": reference, "error": error,
    }, status=status)


@login_required
def download_attachment(request, pk: int):
    attachment = selectors.attachment(request.user, pk)
    response = FileResponse(filestore.open_file(attachment.sha256), as_attachment=True,
                            filename=attachment.filename, content_type=attachment.content_type)
    response["X-Content-SHA256"] = attachment.sha256
    return response


@login_required
@require_http_methods(["GET", "POST"])
def record_transition(request, type_name, reference, action):
    """The signature dialog (GET) and the transition it signs (POST), for every workflow."""
    kind, record = selectors.record(request.user, type_name, reference)
    if kind.workflow is None:
        raise RuleViolation(f"{kind.label} records have no workflow.")
    transition = kind.workflow.get(action)
    first = not request.session.get(SIGNED_IN_SESSION, False)
    context = {"kind": kind, "record": record, "reference": reference, "transition": transition,
               "first_in_session": first, "username": request.user.username}
    if request.method == "GET":
        return render(request, "core/_sign_dialog.html", context)
    post = request.POST
    signature = None
    if transition.signature:
        signature = SignatureInput(meaning=transition.signature, password=post.get("password", ""),
                                   username=post.get("username", ""), comment=post.get("comment", ""))
    try:
        kind.transition(request.user, record, action, signature=signature, first_in_session=first,
                        reason=post.get("reason", ""))
    except DomainError as exc:
        context["error"] = exc.message
        return render(request, "core/_sign_dialog.html", context, status=exc.status)
    if transition.signature:
        request.session[SIGNED_IN_SESSION] = True
    target = reverse(kind.url_name, args=[getattr(record, kind.lookup)])
    response = HttpResponse(status=204)
    response["HX-Redirect"] = target
    return response if request.htmx else redirect(target)


# Administration: users, roles, sponsor access, security alerts.

@login_required
def users(request):
    # Each user's sponsors are listed only as far as the viewer may see those sponsors.
    people = selectors.users(request.user).prefetch_related(None).prefetch_related(
        "role_grants", Prefetch("sponsors", queryset=selectors.assignable_sponsors(request.user)))
    state = request.GET.get("state", "active")
    if state == "active":
        people = people.filter(is_active=True)
    elif state == "locked":
        people = people.filter(locked_at__isnull=False)
    elif state == "inactive":
        people = people.filter(is_active=False)
    return render(request, "core/users.html", {"page": paginate(request, people), "state": state})


@login_required
@require_http_methods(["GET", "POST"])
def user_new(request):
    selectors.users(request.user)
    error, status = "", 200
    if request.method == "POST":
        try:
            user = services.create_user(
                request.user, username=request.POST.get("username", ""),
                full_name=request.POST.get("full_name", ""), email=request.POST.get("email", ""),
                password=request.POST.get("password", ""), roles=request.POST.getlist("roles"),
                sponsor_ids=request.POST.getlist("sponsors"), reason=request.POST.get("reason", ""))
            return redirect("core:user", username=user.username)
        except DomainError as exc:
            error, status = exc.message, exc.status
        except ValidationError as exc:
            error, status = invalid_input(exc, User), 422
    return render(request, "core/user_form.html", {
        "error": error, "roles": list(Role), "sponsors": selectors.assignable_sponsors(request.user), "form": request.POST,
        "held_roles": request.POST.getlist("roles"),
        "held_sponsors": {int(s) for s in request.POST.getlist("sponsors") if s.isdigit()},
    }, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def user_detail(request, username):
    person = selectors.users(request.user).filter(username=username).first()
    if person is None:
        raise selectors.NotFound(f"There is no user '{username}'.")
    error, status = "", 200
    if request.method == "POST":
        post, reason = request.POST, request.POST.get("reason", "")
        action = post.get("action")
        try:
            if action == "roles":
                services.set_access(request.user, person, roles=post.getlist("roles"),
                                    sponsor_ids=post.getlist("sponsors"), reason=reason)
            elif action == "unlock":
                services.unlock_user(request.user, person, reason=reason)
            elif action == "deactivate":
                services.deactivate_user(request.user, person, reason=reason)
            elif action == "reset_password":
                services.reset_password(request.user, person, new_password=post.get("new_password", ""),
                                        reason=reason)
            elif action == "details":
                services.update_user(request.user, person, reason=reason,
                                     full_name=post.get("full_name", ""), email=post.get("email", ""))
            else:
                raise RuleViolation("Choose what to change.")
            return redirect("core:user", username=person.username)
        except DomainError as exc:
            error, status = exc.message, exc.status
            person = User.objects.get(pk=person.pk)
        except ValidationError as exc:
            error, status = invalid_input(exc, User), 422
            person = User.objects.get(pk=person.pk)
    return render(request, "core/user_detail.html", {
        "person": person, "roles": list(Role), "sponsors": selectors.assignable_sponsors(request.user),
        "person_sponsors": set(person.sponsor_ids()), "error": error,
        "events": selectors.record_audit_trail(request.user, person)[:100],
    }, status=status)


@login_required
def security_alerts(request):
    return render(request, "core/security_alerts.html", {
        "alerts": selectors.security_alerts(request.user, limit=200),
        "locked_users": selectors.locked_users(request.user),
    })


@login_required
@require_http_methods(["GET", "POST"])
def profile(request):
    error, message, new_token = "", "", ""
    if request.method == "POST":
        try:
            if request.POST.get("action") == "password":
                services.change_password(request.user, current_password=request.POST.get("current_password", ""),
                                         new_password=request.POST.get("new_password", ""))
                request.user.refresh_from_db()
                update_session_auth_hash(request, request.user)  # stay signed in with the new password
                message = "Your password is changed."
            elif request.POST.get("action") == "token":
                new_token = services.create_api_token(request.user, name=request.POST.get("name", ""))
            elif request.POST.get("action") == "revoke":
                token_id = request.POST.get("token", "")
                token = next((t for t in request.user.api_tokens.all() if str(t.pk) == token_id), None)
                if token is None:
                    raise RuleViolation("That token does not exist.")
                services.revoke_api_token(request.user, token)
                message = f"Token '{token.name}' is revoked."
        except DomainError as exc:
            error = exc.message
    return render(request, "core/profile.html", {
        "tokens": request.user.api_tokens.all(), "error": error, "message": message, "new_token": new_token,
    }, status=422 if error else 200)
