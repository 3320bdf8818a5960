from django.urls import path

from . import views

app_name = "processes"

urlpatterns = [
    path("", views.mbr_list, name="list"),
    path("import/", views.mbr_import, name="import"),
    path("versions/<str:number>/", views.version_detail, name="version"),
    path("versions/<str:number>/edit/", views.version_edit, name="version_edit"),
    path("versions/<str:number>/export/", views.version_export, name="version_export"),
    path("<str:number>/", views.mbr_detail, name="mbr"),
    path("<str:number>/new-version/", views.new_version, name="new_version"),
]
