from django.urls import path

from . import views

app_name = "documents"

urlpatterns = [
    path("", views.document_list, name="list"),
    path("new/", views.document_new, name="new"),
    path("review-due/", views.review_due, name="review_due"),
    path("versions/<str:number>/", views.version_detail, name="version"),
    path("versions/<str:number>/edit/", views.version_edit, name="version_edit"),
    path("versions/<str:number>/pdf/", views.version_pdf, name="version_pdf"),
    path("<str:number>/", views.document_detail, name="document"),
    path("<str:number>/new-version/", views.new_version, name="new_version"),
    path("<str:number>/periodic-review/", views.periodic_review, name="periodic_review"),
]
