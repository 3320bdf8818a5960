from django.urls import path

from . import views

app_name = "batches"

urlpatterns = [
    path("", views.batch_list, name="list"),
    path("new/", views.batch_new, name="new"),
    path("samples/<str:number>/", views.sample_detail, name="sample"),
    path("<str:number>/", views.batch_detail, name="batch"),
    path("<str:number>/execute/", views.execute, name="execute"),
    path("<str:number>/steps/<str:key>/<str:action>/", views.step_action, name="step_action"),
    path("<str:number>/override/", views.override, name="override"),
    # --- Review by exception and record (H5) ---
    path("schemas/batch-record-1.schema.json", views.record_schema, name="record_schema"),
    path("<str:number>/review/", views.review, name="review"),
    path("<str:number>/review/exceptions/<int:exception_id>/", views.disposition, name="disposition"),
    path("<str:number>/record.pdf", views.record_pdf, name="record_pdf"),
    path("<str:number>/record.json", views.record_json, name="record_json"),
]
