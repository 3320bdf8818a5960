from django.urls import path

from . import views

app_name = "training"

urlpatterns = [
    path("", views.my_training, name="mine"),
    path("assignments/<str:number>/", views.assignment_detail, name="assignment"),
    path("assignments/<str:number>/session/", views.session, name="session"),
    path("matrix/", views.matrix, name="matrix"),
    path("overdue/", views.overdue, name="overdue"),
    path("curricula/", views.curricula, name="curricula"),
    path("curricula/new/", views.curriculum_new, name="curriculum_new"),
    path("curricula/<int:pk>/", views.curriculum_edit, name="curriculum_edit"),
    path("courses/new/", views.course_new, name="course_new"),
    path("people/<str:username>/", views.person, name="person"),
    path("people/<str:username>/pdf/", views.person_pdf, name="person_pdf"),
]
