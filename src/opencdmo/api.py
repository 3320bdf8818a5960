"""/api/v1: one NinjaAPI, each app's router, and the one mapping of domain errors to 4xx."""

import functools

from django.core.exceptions import ValidationError as ModelValidationError
from django.http import Http404, JsonResponse
from django.urls import URLPattern, re_path
from django.views.decorators.csrf import csrf_exempt
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.parser import Parser

from .batches.api import router as batches_router
from .core.api import AUTH
from .core.api import router as core_router
from .core.errors import DomainError
from .documents.api import router as documents_router
from .envmon.api import router as envmon_router
from .facilities.api import router as facilities_router
from .identity.api import router as identity_router
from .materials.api import router as materials_router
from .processes.api import router as processes_router
from .qc.api import router as qc_router
from .quality.api import router as quality_router
from .release.api import router as release_router
from .sponsors.api import router as sponsors_router
from .training.api import router as training_router

NUL_REFUSED = "Text may not contain NUL (0x00) characters."


def _contains_nul(value) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_contains_nul(k) or _contains_nul(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return any(_contains_nul(v) for v in value)
    return _contains_nul(getattr(value, "name", None) or "")  # an uploaded file's name


class StorableInputParser(Parser):
    """Refuses input no database column can hold (PostgreSQL stores no NUL in text) as a 4xx,
    before it reaches SQL and fails there as a server error."""

    def parse_body(self, request):
        data = super().parse_body(request)
        if _contains_nul(data):
            raise HttpError(422, NUL_REFUSED)
        return data

    def parse_querydict(self, data, list_fields, request):
        result = super().parse_querydict(data, list_fields, request)
        if _contains_nul(result):
            raise HttpError(422, NUL_REFUSED)
        return result


def _json_method_not_allowed(pattern: URLPattern) -> URLPattern:
    """Ninja answers a wrong method with a plain-text 405; ours says it in JSON, with `Allow`.
    Path parameters, which bypass the parser, are checked for NUL here."""
    view = pattern.callback

    @functools.wraps(view)
    def wrapper(request, *args, **kwargs):
        if _contains_nul(kwargs):
            return JsonResponse({"detail": NUL_REFUSED}, status=422)
        response = view(request, *args, **kwargs)
        if response.status_code == 405 and not response.get("Content-Type", "").startswith("application/json"):
            allowed = response.get("Allow", "")
            response = JsonResponse({"detail": f"{request.method} is not allowed here; use {allowed}."}, status=405)
            response["Allow"] = allowed
        return response

    return URLPattern(pattern.pattern, wrapper, pattern.default_args, pattern.name)


@csrf_exempt
def _no_such_endpoint(request, *args, **kwargs):
    return JsonResponse({"detail": f"There is no endpoint {request.path}."}, status=404)


class Api(NinjaAPI):
    """Every answer under /api/v1 is JSON: also a wrong method (405) and an unknown path (404)."""

    @property
    def urls(self):
        patterns, app_name, namespace = super().urls
        patterns = [_json_method_not_allowed(p) if isinstance(p, URLPattern) else p for p in patterns]
        return [*patterns, re_path(r"^", _no_such_endpoint, name="no-such-endpoint")], app_name, namespace


api = Api(
    title="OpenCDMO API",
    version="1",
    description="GMP operations for cell and gene therapy CDMOs. Authenticate with the browser "
    "session (CSRF token required) or a personal token: `Authorization: Bearer ocd_…`.",
    auth=AUTH,
    urls_namespace="api",
    parser=StorableInputParser(),
)
api.add_router("/", core_router)
api.add_router("/", sponsors_router)
api.add_router("/", documents_router)
api.add_router("/", training_router)
api.add_router("/", quality_router)
api.add_router("/", materials_router)
api.add_router("/", facilities_router)
api.add_router("/", processes_router)
api.add_router("/", batches_router)
api.add_router("/", identity_router)
api.add_router("/", qc_router)
api.add_router("/", envmon_router)
api.add_router("/", release_router)


@api.exception_handler(DomainError)
def domain_error(request, exc: DomainError):
    return api.create_response(request, {"detail": exc.message}, status=exc.status)


@api.exception_handler(ValidationError)
def validation_error(request, exc: ValidationError):
    return api.create_response(request, {"detail": exc.errors}, status=422)


@api.exception_handler(ModelValidationError)
def model_validation_error(request, exc: ModelValidationError):
    """A value the model refuses (length, range, format) that the schema let through."""
    return api.create_response(request, {"detail": " ".join(exc.messages)}, status=422)


@api.exception_handler(AuthenticationError)
def authentication_error(request, exc):
    return api.create_response(
        request, {"detail": "Sign in, or send a personal API token as 'Authorization: Bearer …'."}, status=401)


@api.exception_handler(Http404)
def not_found(request, exc):
    return api.create_response(request, {"detail": "Not found."}, status=404)
