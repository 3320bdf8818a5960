from django.urls import path

from . import views

app_name = "materials"

urlpatterns = [
    path("", views.inventory, name="inventory"),
    path("scan/", views.scan, name="scan"),
    path("receive/", views.receive, name="receive"),
    path("lots/<str:number>/", views.lot_detail, name="lot"),
    path("lots/<str:number>/labels/", views.lot_labels, name="labels"),
    path("lots/<str:number>/<str:kind>/", views.movement, name="movement"),
    path("master/", views.material_list, name="materials"),
    path("master/new/", views.material_new, name="material_new"),
    path("master/<str:code>/", views.material_detail, name="material"),
    path("suppliers/", views.supplier_list, name="suppliers"),
    path("locations/", views.location_list, name="locations"),
    path("trace/", views.trace, name="trace"),
]
