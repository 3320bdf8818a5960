"""The project's URLs with the facilities router mounted at /api/v1 on an API of its own, built
like the project's (same authentication, parser and error handlers), so the facilities API can
be tested before (and after) the project API mounts the router."""

from django.urls import path
from ninja import NinjaAPI

from opencdmo import urls as project_urls
from opencdmo.api import api as project_api
from opencdmo.core.api import AUTH
from opencdmo.facilities.api import router

api = NinjaAPI(title="OpenCDMO API (facilities under test)", version="1", urls_namespace="facilities-test-api",
               auth=AUTH, parser=project_api.parser)
api.add_router("/", router)
for exception, handler in project_api._exception_handlers.items():
    api.add_exception_handler(exception, handler)

urlpatterns = [path("api/v1/", api.urls), *project_urls.urlpatterns]
