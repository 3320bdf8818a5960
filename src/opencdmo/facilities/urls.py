from django.urls import path

from . import views

app_name = "facilities"

urlpatterns = [
    path("rooms/", views.room_board, name="rooms"),
    path("rooms/new/", views.room_new, name="room_new"),
    path("rooms/<str:code>/", views.room_detail, name="room"),
    path("rooms/<str:code>/cleanings/new/", views.room_cleaning_new, name="room_cleaning_new"),
    path("rooms/<str:code>/line-clearances/new/", views.line_clearance_new, name="line_clearance_new"),
    path("line-clearances/", views.line_clearance_list, name="line_clearances"),
    path("line-clearances/<str:number>/", views.line_clearance_detail, name="line_clearance"),
    path("line-clearances/<str:number>/checks/", views.line_clearance_checks, name="line_clearance_checks"),
    path("equipment/", views.equipment_board, name="equipment_board"),
    path("equipment/new/", views.equipment_new, name="equipment_new"),
    path("equipment/due/", views.equipment_due, name="equipment_due"),
    path("equipment/<str:number>/", views.equipment_detail, name="equipment"),
    path("equipment/<str:number>/edit/", views.equipment_edit, name="equipment_edit"),
    path("equipment/<str:number>/calibrations/new/", views.calibration_new, name="calibration_new"),
    path("equipment/<str:number>/maintenance/new/", views.maintenance_new, name="maintenance_new"),
    path("equipment/<str:number>/cleanings/new/", views.equipment_cleaning_new, name="equipment_cleaning_new"),
    path("equipment/<str:number>/uses/new/", views.use_new, name="use_new"),
    path("equipment/<str:number>/uses/<int:pk>/end/", views.use_end, name="use_end"),
]
