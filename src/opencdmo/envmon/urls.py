from django.urls import path

from . import views

app_name = "envmon"

urlpatterns = [
    # --- Rooms, locations, plans, worklist, samples, excursions ---
    path("worklist/", views.worklist, name="worklist"),
    path("samples/", views.samples, name="samples"),
    path("samples/collect/", views.collect, name="collect"),
    path("samples/<str:number>/", views.sample, name="sample"),
    path("samples/<str:number>/<str:action>/", views.sample_action, name="sample_action"),
    path("excursions/", views.excursions, name="excursions"),
    path("excursions/<str:number>/", views.excursion, name="excursion"),
    path("excursions/<str:number>/acknowledge/", views.excursion_acknowledge, name="excursion_acknowledge"),
    path("rooms/<str:room>/programme/", views.room_programme, name="room_programme"),
    path("rooms/<str:room>/programme/<str:action>/", views.programme_action, name="programme_action"),
    # --- Trends, heat map, monthly report ---
    path("rooms/", views.rooms, name="rooms"),
    path("rooms/<str:code>/", views.room, name="room"),
    path("locations/<str:code>/", views.location, name="location"),
    path("report/", views.report, name="report"),
    path("report/pdf/", views.report_pdf, name="report_pdf"),
    path("batches/<str:number>/", views.batch_summary, name="batch_summary"),
    # --- Alert and action levels, classification ---
    path("levels/", views.levels, name="levels"),
    path("levels/new/", views.level_new, name="level_new"),
    path("levels/annex-1/", views.annex1, name="annex1"),
    path("levels/<str:number>/", views.level, name="level"),
    path("levels/<str:number>/edit/", views.level_edit, name="level_edit"),
    path("classifications/", views.classifications, name="classifications"),
    path("classifications/new/", views.classification_new, name="classification_new"),
    path("classifications/<str:number>/", views.classification, name="classification"),
    path("classifications/<str:number>/readings/", views.classification_reading, name="classification_reading"),
    path("classifications/<str:number>/pdf/", views.classification_pdf, name="classification_pdf"),
]
