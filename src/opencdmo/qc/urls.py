from django.urls import path

from . import views

app_name = "qc"

urlpatterns = [
    # --- Methods and specifications ---
    path("methods/", views.method_list, name="methods"),
    path("methods/new/", views.method_new, name="method_new"),
    path("methods/<str:code>/", views.method_detail, name="method"),
    path("methods/<str:code>/edit/", views.method_edit, name="method_edit"),
    path("specifications/", views.specification_list, name="specifications"),
    path("specifications/new/", views.specification_new, name="specification_new"),
    path("specifications/<str:number>/", views.specification_detail, name="specification"),
    path("specifications/<str:number>/edit/", views.specification_edit, name="specification_edit"),
    path("specifications/<str:number>/revise/", views.specification_revise, name="specification_revise"),
    # --- Samples and results ---
    path("worklist/", views.worklist, name="worklist"),
    path("samples/", views.sample_list, name="samples"),
    path("samples/new/", views.sample_new, name="sample_new"),
    path("samples/new/lot/", views.lot_sample_new, name="lot_sample_new"),
    path("samples/<str:number>/", views.sample_detail, name="sample"),
    path("samples/<str:number>/receive/", views.sample_receive, name="sample_receive"),
    path("samples/<str:number>/move/", views.sample_move, name="sample_move"),
    path("samples/<str:number>/aliquots/", views.sample_aliquot, name="sample_aliquot"),
    path("samples/<str:number>/retain/", views.sample_retain, name="sample_retain"),
    path("samples/<str:number>/dispose/", views.sample_dispose, name="sample_dispose"),
    path("samples/<str:number>/tests/", views.sample_order, name="sample_order"),
    path("samples/<str:number>/specification/", views.sample_specification, name="sample_specification"),
    path("samples/<str:number>/results/", views.sample_result, name="sample_result"),
    path("results/<str:number>/", views.result_detail, name="result"),
    # --- OOS investigations ---
    path("oos/", views.investigation_list, name="investigations"),
    path("oos/<str:number>/", views.investigation_detail, name="investigation"),
    path("oos/<str:number>/<str:step>/", views.investigation_step, name="investigation_step"),
    # --- Stability ---
    path("stability/", views.stability_studies, name="stability_studies"),
    path("stability/new/", views.stability_study_new, name="stability_study_new"),
    path("stability/pulls-due/", views.stability_pulls_due, name="stability_pulls_due"),
    path("stability/pulls/<int:pk>/pull/", views.stability_pull, name="stability_pull"),
    path("stability/<str:number>/", views.stability_study, name="stability_study"),
]
