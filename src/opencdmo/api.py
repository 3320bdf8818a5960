"""/api/v1: one NinjaAPI, each app's router, and the one mapping of domain errors to 4xx."""

from django.http import Http404
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, ValidationError

from .core.api import AUTH
from .core.api import router as core_router
from .core.errors import DomainError
from .sponsors.api import router as sponsors_router

api = NinjaAPI(
    title="OpenCDMO API",
    version="1",
    description="GMP operations for cell and gene therapy CDMOs. Authenticate with the browser "
    "session (CSRF token required) or a personal token: `Authorization: Bearer ocd_…`.",
    auth=AUTH,
    urls_namespace="api",
)
api.add_router("/", core_router)
api.add_router("/", sponsors_router)


@api.exception_handler(DomainError)
def domain_error(request, exc: DomainError):
    return api.create_response(request, {"detail": exc.message}, status=exc.status)


@api.exception_handler(ValidationError)
def validation_error(request, exc: ValidationError):
    return api.create_response(request, {"detail": exc.errors}, status=422)


@api.exception_handler(AuthenticationError)
def authentication_error(request, exc):
    return api.create_response(
        request, {"detail": "Sign in, or send a personal API token as 'Authorization: Bearer …'."}, status=401)


@api.exception_handler(Http404)
def not_found(request, exc):
    return api.create_response(request, {"detail": "Not found."}, status=404)
