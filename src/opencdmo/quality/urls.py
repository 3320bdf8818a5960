from django.urls import path

from . import views

app_name = "quality"

urlpatterns = [
    # --- Deviations ---
    path("deviations/", views.deviation_list, name="deviations"),
    path("deviations/new/", views.deviation_new, name="deviation_new"),
    path("deviations/trends/", views.deviation_trends, name="deviation_trends"),
    path("deviations/<str:number>/", views.deviation_detail, name="deviation"),
    path("deviations/<str:number>/pdf/", views.deviation_pdf, name="deviation_pdf"),
    path("deviations/<str:number>/<str:step>/", views.deviation_step, name="deviation_step"),
    path("extensions/<str:number>/", views.extension_detail, name="extension"),
    # --- CAPA ---
    path("capas/", views.capa_list, name="capas"),
    path("capas/new/", views.capa_new, name="capa_new"),
    path("capas/<str:number>/", views.capa_detail, name="capa"),
    path("capas/<str:number>/actions/<int:pk>/<str:step>/", views.capa_action_step, name="capa_action_step"),
    path("capas/<str:number>/<str:step>/", views.capa_step, name="capa_step"),
    # --- Change control ---
    path("changes/", views.change_list, name="changes"),
    path("changes/new/", views.change_new, name="change_new"),
    path("changes/<str:number>/", views.change_detail, name="change"),
    path("changes/<str:number>/edit/", views.change_edit, name="change_edit"),
    path("changes/<str:number>/assessment/", views.change_assessment, name="change_assessment"),
    path("changes/<str:number>/impacts/", views.change_impacts, name="change_impacts"),
    path("changes/<str:number>/tasks/", views.change_tasks, name="change_tasks"),
    path("changes/<str:number>/pdf/", views.change_pdf, name="change_pdf"),
    path("sponsor-approvals/<str:number>/", views.sponsor_approval, name="sponsor_approval"),
    # --- Risk assessment ---
    path("risk-assessments/", views.risk_assessment_list, name="risk_assessments"),
    path("risk-assessments/new/", views.risk_assessment_new, name="risk_assessment_new"),
    path("risk-assessments/<str:number>/", views.risk_assessment_detail, name="risk_assessment"),
    path("risk-assessments/<str:number>/failure-modes/", views.failure_modes, name="failure_modes"),
    path("risk-methods/", views.risk_method_list, name="risk_methods"),
    path("risk-methods/new/", views.risk_method_new, name="risk_method_new"),
    path("risk-methods/<str:number>/", views.risk_method_detail, name="risk_method"),
    # --- Dashboard ---
    path("dashboard/", views.dashboard, name="dashboard"),
    path("dashboard/tasks/", views.dashboard_tasks, name="dashboard_tasks"),
]
