"""Roles and the permissions each one grants (P11-1g: authority checks per action).

Permissions are strings "<app>.<action>"; each app's workflows and services name the ones
they need. A user holds one or more roles; what they may see is further limited to the
sponsors assigned to them.
"""

from enum import StrEnum


class Role(StrEnum):
    OPERATOR = "operator"
    SUPERVISOR = "supervisor"
    MATERIAL_HANDLER = "material_handler"
    QC_ANALYST = "qc_analyst"
    QC_REVIEWER = "qc_reviewer"
    QA_SPECIALIST = "qa_specialist"
    QA_APPROVER = "qa_approver"
    PLANNER = "planner"
    PD_SCIENTIST = "pd_scientist"
    SPONSOR_VIEWER = "sponsor_viewer"
    SYSTEM_ADMIN = "system_admin"

    @property
    def label(self) -> str:
        return ROLE_LABELS[self]


ROLE_LABELS = {
    Role.OPERATOR: "Operator",
    Role.SUPERVISOR: "Supervisor",
    Role.MATERIAL_HANDLER: "Material Handler",
    Role.QC_ANALYST: "QC Analyst",
    Role.QC_REVIEWER: "QC Reviewer",
    Role.QA_SPECIALIST: "QA Specialist",
    Role.QA_APPROVER: "QA Approver / Qualified Person",
    Role.PLANNER: "Planner",
    Role.PD_SCIENTIST: "Process Development Scientist",
    Role.SPONSOR_VIEWER: "Sponsor Viewer",
    Role.SYSTEM_ADMIN: "System Administrator",
}

# Everyone who works in the CDMO reads sponsor master data and record histories.
_STAFF_READ = {
    "core.view_cdmo_records",
    "sponsors.view",
    "facilities.view",
    "materials.view",
    "quality.raise_deviation",
    "quality.view",
    "documents.view",
    "training.view",
    "core.view_audit_trail",
    "core.view_signatures",
    "core.add_attachment",
    "processes.view",
    "batches.view",
    "identity.view",
    "identity.view_storage",
    "qc.view",
    "release.view",
    "envmon.view",
}

# The laboratory bench: samples in and out, results entered, stability pulls taken.
_QC_BENCH = {"qc.handle_samples", "qc.enter_results", "qc.pull_stability", "envmon.sample", "envmon.read_plates"}

# Hands that move patient material inside the CDMO, and the second person at its critical handoffs.
_CUSTODY = {"identity.custody", "identity.verify_custody"}

PERMISSIONS: dict[Role, frozenset[str]] = {
    Role.OPERATOR: frozenset(_STAFF_READ | {"facilities.clean", "facilities.line_clearance", "materials.issue",
                                           "batches.execute", "batches.verify", "envmon.sample"} | _CUSTODY),
    Role.SUPERVISOR: frozenset(
        _STAFF_READ
        | {
            "facilities.clean",
            "facilities.line_clearance",
            "facilities.verify_line_clearance",
            "facilities.manage_equipment",
            "facilities.calibrate",
            "facilities.maintain",
            "facilities.manage_rooms",
            "materials.issue",
            "materials.adjust",
            "documents.author",
            "training.train",
            "training.view_all",
            "quality.investigate",
            "quality.manage_capa",
            "quality.propose_change",
            "quality.assess_risk",
            "processes.author",
            "batches.plan",
            "batches.execute",
            "batches.verify",
            "batches.hold",
            "identity.ship",
            "identity.manage_storage",
            "envmon.sample",
        }
        | _CUSTODY
    ),
    Role.MATERIAL_HANDLER: frozenset(
        _STAFF_READ | {"materials.receive", "materials.issue", "materials.transfer", "materials.adjust",
                       "materials.manage_master_data", "identity.ship", "identity.manage_storage"} | _CUSTODY
    ),
    Role.QC_ANALYST: frozenset(_STAFF_READ | _CUSTODY | _QC_BENCH),
    # The QC reviewer is also the laboratory's specification author, OOS investigator,
    # stability coordinator and environmental monitoring coordinator.
    Role.QC_REVIEWER: frozenset(
        _STAFF_READ | _QC_BENCH
        | {"documents.author", "quality.investigate", "quality.manage_capa", "quality.propose_change",
           "qc.review_results", "qc.manage_methods", "qc.author_specifications", "qc.investigate_oos",
           "qc.manage_stability", "envmon.manage_programme", "envmon.review"}
    ),
    Role.QA_SPECIALIST: frozenset(
        _STAFF_READ
        | {
            "core.export_audit_trail",
            "core.view_system_events",
            "sponsors.manage",
            "sponsors.author_agreement",
            "sponsors.review_agreement",
            "facilities.qualify_equipment",
            "facilities.verify_line_clearance",
            "materials.disposition",
            "materials.manage_master_data",
            "materials.view_genealogy",
            "documents.author",
            "documents.review",
            "documents.manage",
            "training.manage",
            "training.train",
            "training.view_all",
            "quality.classify_deviation",
            "quality.investigate",
            "quality.manage_capa",
            "quality.propose_change",
            "quality.assess_change",
            "quality.assess_risk",
            "batches.override_interlock",
            "batches.review",
            "batches.hold",
            "identity.enroll",
            "identity.manage_centres",
            "identity.collect",
            "identity.configure",
            "identity.verify_custody",
            "identity.release_for_shipment",
            "qc.approve_invalidation",
            "qc.investigate_oos",
            "qc.author_specifications",
            "release.prepare",
            "release.notify",
            "envmon.manage_programme",
            "envmon.review",
            "envmon.acknowledge_excursions",
        }
    ),
    Role.QA_APPROVER: frozenset(
        _STAFF_READ
        | {
            "core.export_audit_trail",
            "core.view_system_events",
            "sponsors.review_agreement",
            "sponsors.approve_agreement",
            "facilities.qualify_equipment",
            "materials.disposition",
            "materials.view_genealogy",
            "documents.review",
            "documents.approve",
            "documents.manage",
            "training.view_all",
            "quality.classify_deviation",
            "quality.close_deviation",
            "quality.approve_extension",
            "quality.manage_capa",
            "quality.approve_capa",
            "quality.assess_change",
            "quality.approve_change",
            "quality.approve_risk",
            "processes.approve",
            "batches.override_interlock",
            "batches.review",
            "batches.hold",
            "identity.verify_custody",
            "identity.release_for_shipment",
            "qc.approve_invalidation",
            "qc.approve_specifications",
            "qc.close_oos",
            "release.prepare",
            "release.decide",
            "release.notify",
            "envmon.approve",
            "envmon.acknowledge_excursions",
        }
    ),
    # The planner is the CDMO's case manager: books collections and records what the treatment
    # centre confirms (collection, courier pickup, receipt at site, infusion).
    Role.PLANNER: frozenset(_STAFF_READ | {"batches.plan", "identity.enroll", "identity.manage_centres",
                                           "identity.collect", "identity.configure"}),
    Role.PD_SCIENTIST: frozenset(
        _STAFF_READ
        | {"documents.author", "quality.investigate", "quality.manage_capa", "quality.propose_change",
           "quality.assess_risk", "processes.author"}
    ),
    # A sponsor's quality lead reads their own records and signs what their quality
    # agreement asks them to approve; they never write CDMO records.
    Role.SPONSOR_VIEWER: frozenset(
        {"sponsors.view", "materials.view", "materials.view_genealogy", "core.view_audit_trail", "core.view_signatures",
         "documents.view", "quality.view", "quality.sponsor_approve_change", "processes.view", "batches.view",
         "identity.view", "qc.view", "release.view"}
    ),
    Role.SYSTEM_ADMIN: frozenset(
        _STAFF_READ
        | {
            "core.manage_users",
            "core.view_security_alerts",
            "core.view_system_events",
            "core.export_audit_trail",
            "core.verify_audit_trail",
            "sponsors.manage",
            "facilities.manage_rooms",
            "facilities.manage_equipment",
            "materials.manage_master_data",
        }
    ),
}


def permissions_of(roles) -> frozenset[str]:
    granted: set[str] = set()
    for role in roles:
        granted |= PERMISSIONS[Role(role)]
    return frozenset(granted)
