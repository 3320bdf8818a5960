from django.urls import include, path

from .api import api

urlpatterns = [
    path("api/v1/", api.urls),
    path("sponsors/", include("opencdmo.sponsors.urls")),
    path("documents/", include("opencdmo.documents.urls")),
    path("training/", include("opencdmo.training.urls")),
    path("quality/", include("opencdmo.quality.urls")),
    path("facilities/", include("opencdmo.facilities.urls")),
    path("materials/", include("opencdmo.materials.urls")),
    path("processes/", include("opencdmo.processes.urls")),
    path("batches/", include("opencdmo.batches.urls")),
    path("identity/", include("opencdmo.identity.urls")),
    path("qc/", include("opencdmo.qc.urls")),
    path("envmon/", include("opencdmo.envmon.urls")),
    path("release/", include("opencdmo.release.urls")),
    path("", include("opencdmo.core.urls")),
]
