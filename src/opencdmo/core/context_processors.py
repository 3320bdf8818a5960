"""Navigation by role: each person sees the sections their permissions open."""

from django.urls import reverse

SECTIONS = [
    # (label, url name, permission)
    ("My tasks", "core:home", None),
    ("Sponsors", "sponsors:list", "sponsors.view"),
    ("Quality agreements", "sponsors:agreements", "sponsors.view"),
    ("Rooms", "facilities:rooms", "facilities.view"),
    ("Equipment", "facilities:equipment_board", "facilities.view"),
    ("Inventory", "materials:inventory", "materials.view"),
    ("Patients", "identity:patients", "identity.view"),
    ("Patients in flight", "identity:board", "identity.view"),
    ("Receive material", "identity:receive", "identity.custody"),
    ("Shipments", "identity:shipments", "identity.view"),
    ("Cryostorage", "identity:storage", "identity.view_storage"),
    ("Batches", "batches:list", "batches.view"),
    ("QC worklist", "qc:worklist", "qc.enter_results"),
    ("QC samples", "qc:samples", "qc.view"),
    ("OOS investigations", "qc:investigations", "qc.view"),
    ("Specifications", "qc:specifications", "qc.view"),
    ("Test methods", "qc:methods", "qc.view"),
    ("Stability studies", "qc:stability_studies", "qc.view"),
    ("Stability pulls due", "qc:stability_pulls_due", "qc.pull_stability"),
    ("EM worklist", "envmon:worklist", "envmon.sample"),
    ("Environmental monitoring", "envmon:rooms", "envmon.view"),
    ("EM excursions", "envmon:excursions", "envmon.view"),
    ("EM alert and action levels", "envmon:levels", "envmon.view"),
    ("Room classification", "envmon:classifications", "envmon.view"),
    ("Disposition", "release:dispositions", "release.view"),
    ("Master batch records", "processes:list", "processes.view"),
    ("Documents", "documents:list", "documents.view"),
    ("My training", "training:mine", "training.view"),
    ("Training matrix", "training:matrix", "training.view_all"),
    ("Deviations", "quality:deviations", "quality.view"),
    ("CAPA", "quality:capas", "quality.view"),
    ("Deviation trends", "quality:deviation_trends", "quality.view"),
    ("Change control", "quality:changes", "quality.view"),
    ("Risk assessments", "quality:risk_assessments", "quality.assess_risk"),
    ("Quality dashboard", "quality:dashboard", "quality.manage_capa"),
    ("Audit trail", "core:audit_trail", "core.view_audit_trail"),
    ("Users", "core:users", "core.manage_users"),
    ("Security alerts", "core:security_alerts", "core.view_security_alerts"),
]


def navigation(request):
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {
        "nav_sections": [
            {"label": label, "url": reverse(name), "active": request.path == reverse(name)}
            for label, name, permission in SECTIONS
            if permission is None or user.has_permission(permission)
        ]
    }
