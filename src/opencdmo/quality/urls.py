from django.urls import path

from . import views

app_name = "quality"

urlpatterns = [
    path("deviations/", views.deviation_list, name="deviations"),
    path("deviations/<str:number>/", views.deviation_detail, name="deviation"),
]
