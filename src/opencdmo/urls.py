from django.urls import include, path

from .api import api

urlpatterns = [
    path("api/v1/", api.urls),
    path("sponsors/", include("opencdmo.sponsors.urls")),
    path("", include("opencdmo.core.urls")),
]
