from django.urls import path

from . import views

app_name = "core"

urlpatterns = [
    path("", views.home, name="home"),
    path("login/", views.login, name="login"),
    path("logout/", views.logout, name="logout"),
    path("profile/", views.profile, name="profile"),
    path("audit-trail/", views.audit_trail, name="audit_trail"),
    path("records/<str:type_name>/<str:reference>/audit-trail/", views.record_audit_trail, name="record_audit_trail"),
    path("records/<str:type_name>/<str:reference>/signatures/", views.record_signatures, name="record_signatures"),
    path("records/<str:type_name>/<str:reference>/attachments/", views.record_attachments,
         name="record_attachments"),
    path("records/<str:type_name>/<str:reference>/actions/<str:action>/", views.record_transition,
         name="record_transition"),
    path("attachments/<int:pk>/", views.download_attachment, name="attachment"),
    path("users/", views.users, name="users"),
    path("users/new/", views.user_new, name="user_new"),
    path("users/<str:username>/", views.user_detail, name="user"),
    path("security-alerts/", views.security_alerts, name="security_alerts"),
]
