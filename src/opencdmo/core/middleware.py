"""Per-request action context: one correlation id and the client address for every audit event."""

from . import context


class AuditContextMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        with context.action(client_address=request.META.get("REMOTE_ADDR", "")) as ctx:
            request.correlation_id = ctx.correlation_id
            return self.get_response(request)


class DomainErrorMiddleware:
    """A refused action is a 4xx page with the service's message, never a 500 (one place)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        from django.shortcuts import render  # noqa: PLC0415

        from .errors import DomainError  # noqa: PLC0415

        if not isinstance(exception, DomainError) or request.path.startswith("/api/"):
            return None
        template = "core/_error.html" if getattr(request, "htmx", False) else "core/error.html"
        return render(request, template, {"title": exception.title, "message": exception.message},
                      status=exception.status)


class PasswordChangeMiddleware:
    """Someone signed in with a password an administrator chose changes it before anything else."""

    ALLOWED = ("/profile/", "/logout/", "/static/", "/api/")

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if (user is not None and user.is_authenticated and user.must_change_password
                and not request.path.startswith(self.ALLOWED)):
            from django.shortcuts import redirect  # noqa: PLC0415

            return redirect("core:profile")
        return self.get_response(request)


class RejectNulMiddleware:
    """A NUL character is never valid input; PostgreSQL cannot store it, so refuse it up front
    with a 400 instead of failing deep inside a query."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path.startswith("/api/"):  # the API answers in JSON itself (opencdmo/api.py)
            return self.get_response(request)
        query = request.META.get("QUERY_STRING", "").lower()
        suspect = "\x00" in request.path or "%00" in query or "\x00" in query
        if not suspect and request.method == "POST":
            suspect = any("\x00" in value for values in request.POST.lists() for value in values[1])
        if suspect:
            from django.http import HttpResponseBadRequest  # noqa: PLC0415

            return HttpResponseBadRequest("The request contains a NUL character, which is never valid input.")
        return self.get_response(request)
