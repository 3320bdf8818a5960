

from django.urls import path

from . import views

app_name = "release"

urlpatterns = [
    # --- Disposition ---
    path("", views.disposition_list, name="dispositions"),
    path("batches/<str:number>/", views.batch_disposition, name="batch"),
    path("lots/<str:number>/", views.lot_disposition, name="lot"),
    path("dispositions/<str:number>/", views.disposition_detail, name="disposition"),
    path("notices/<str:number>/", views.notice_detail, name="notice"),
    # --- Certificates ---
    path("batches/<str:number>/coa.pdf", views.batch_coa, name="batch_coa"),
    path("lots/<str:number>/coa.pdf", views.lot_coa, name="lot_coa"),
]
