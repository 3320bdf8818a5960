from django.urls import path

from . import views

app_name = "identity"

urlpatterns = [
    path("patients/", views.patient_list, name="patients"),
    path("patients/new/", views.patient_new, name="patient_new"),
    path("patients/<str:number>/", views.patient_detail, name="patient"),
    path("patients/<str:number>/orders/new/", views.order_new, name="order_new"),
    path("orders/<str:number>/", views.order_detail, name="order"),
    path("centres/", views.centre_list, name="centres"),
    path("centres/new/", views.centre_new, name="centre_new"),
    # collections and handoffs
    path("orders/<str:number>/collections/new/", views.collection_new, name="collection_new"),
    path("collections/<str:number>/", views.collection_detail, name="collection"),
    path("orders/<str:number>/final-product/", views.final_product_new, name="final_product_new"),
    path("units/<str:number>/", views.unit_detail, name="unit"),
    path("units/<str:number>/handoff/", views.handoff, name="handoff"),
    path("units/<str:number>/decision/", views.unit_decision, name="unit_decision"),
    path("receive/", views.receive, name="receive"),
    # shipments
    path("shipments/", views.shipment_list, name="shipments"),
    path("shipments/<str:number>/", views.shipment_detail, name="shipment"),
    path("shipments/<str:number>/dispatch/", views.shipment_dispatch, name="shipment_dispatch"),
    path("shipments/<str:number>/receipt/", views.shipment_receive, name="shipment_receive"),
    path("shipments/<str:number>/cancel/", views.shipment_cancel, name="shipment_cancel"),
    path("orders/<str:number>/shipments/new/", views.shipment_new, name="shipment_new"),
    # cryostorage
    path("storage/", views.storage_list, name="storage"),
    path("storage/scan/", views.storage_scan, name="storage_scan"),
    path("storage/new/", views.storage_new, name="storage_new"),
    path("storage/<str:code>/", views.freezer_detail, name="freezer"),
    # labels
    path("orders/<str:number>/labels/", views.order_labels, name="order_labels"),
    # settings, timeline and board
    path("orders/<str:number>/timeline/", views.timeline, name="timeline"),
    path("board/", views.board, name="board"),
    path("products/<str:code>/identity/", views.product_settings, name="product_settings"),
]
