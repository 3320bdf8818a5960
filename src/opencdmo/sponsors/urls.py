from django.urls import path

from . import views

app_name = "sponsors"

urlpatterns = [
    path("", views.sponsor_list, name="list"),
    path("quality-agreements/", views.agreement_list, name="agreements"),
    path("quality-agreements/new/", views.agreement_new, name="agreement_new"),
    path("quality-agreements/<str:number>/", views.agreement_detail, name="agreement"),
    path("quality-agreements/<str:number>/edit/", views.agreement_edit, name="agreement_edit"),
    path("quality-agreements/<str:number>/pdf/", views.agreement_pdf, name="agreement_pdf"),
]
