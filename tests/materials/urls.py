"""The application's URLs with the materials router mounted under /api/v1.

Until the materials router is wired into opencdmo.api (the lead does that), the API tests run
against this copy of the one API: the same authentication, parser and error mapping. Once it
is wired, these are simply the application's URLs.
"""

from django.urls import path

from opencdmo import api as main_api
from opencdmo import urls as main_urls
from opencdmo.core.api import AUTH
from opencdmo.core.api import router as core_router
from opencdmo.materials.api import router as materials_router
from opencdmo.sponsors.api import router as sponsors_router


def _mounted(api) -> bool:
    return any(registration[1] is materials_router for registration in api._router_registrations)


if _mounted(main_api.api):
    urlpatterns = main_urls.urlpatterns
else:
    api = main_api.Api(title="OpenCDMO API (materials tests)", version="1", auth=AUTH, urls_namespace="api",
                       parser=main_api.StorableInputParser())
    api.add_router("/", core_router)
    api.add_router("/", sponsors_router)
    api.add_router("/", materials_router)
    api._exception_handlers.update(main_api.api._exception_handlers)
    urlpatterns = [path("api/v1/", api.urls),
                   *(p for p in main_urls.urlpatterns if str(p.pattern) != "api/v1/")]
