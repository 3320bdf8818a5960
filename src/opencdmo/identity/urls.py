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
    # end of collections and handoffs
    # shipments
    # end of shipments
    # cryostorage
    # end of cryostorage
    # labels
    # end of labels
    # settings, timeline and board
    # end of settings, timeline and board
]
