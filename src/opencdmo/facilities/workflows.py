"""The facilities app's state machines: equipment lifecycle, line clearance, room status.

Where a GMP decision is made (qualification, putting into or back into service, retiring)
the step is signed; every step that takes equipment or a room out of its normal state needs
a reason. Guards are named rules, one function per rule.
"""

from opencdmo.core import clock
from opencdmo.core.workflows import Transition, Workflow, not_signed_by_actor, signature_still_valid

from .domain.schedule import qualification_date_problems

# Guards: None when the step may go ahead, otherwise the reason it may not.


def qualification_complete(equipment, actor):
    """IQ, OQ and PQ completed, in that order, not in the future, and after any earlier qualification."""
    days = {"IQ": equipment.iq_date, "OQ": equipment.oq_date, "PQ": equipment.pq_date}
    missing = [name for name, day in days.items() if day is None]
    if missing:
        return (f"Qualification incomplete: enter the {', '.join(missing)} date{'s' if len(missing) > 1 else ''} "
                f"of {equipment} before approving its qualification.")
    if problems := qualification_date_problems(equipment.iq_date, equipment.oq_date, equipment.pq_date):
        return "Qualification dates out of order: " + " ".join(problems)
    today = clock.site_today()
    future = [name for name, day in days.items() if day > today]
    if future:
        return f"Qualification incomplete: the {', '.join(future)} date of {equipment} is in the future."
    if equipment.qualified_at is not None and equipment.pq_date <= equipment.qualified_at.date():
        return (f"Requalification evidence missing: the PQ date of {equipment} ({equipment.pq_date:%Y-%m-%d}) is not "
                f"after its previous qualification ({equipment.qualified_at:%Y-%m-%d}); enter the requalification dates.")
    return None


def last_calibration_passed(equipment, actor):
    """Equipment whose last calibration failed goes back into service only after one that passed."""
    last = equipment.calibrations.order_by("-performed_at", "-id").first()
    if last is not None and last.result == "fail":
        return (f"Calibration failed: the last calibration of {equipment} ({last.performed_at:%Y-%m-%d}) "
                "was out of tolerance; record a passing calibration first.")
    return None


def all_checks_ok(clearance, actor):
    """A line clearance is signed as performed only when every item on its checklist was found clear."""
    open_items = [c.get("item", "?") for c in clearance.checks if not c.get("ok")]
    if not clearance.checks:
        return f"Checklist empty: {clearance} has no items to check."
    if open_items:
        return f"Checklist not clear: {', '.join(open_items)}. Clear the room, then record the checklist again."
    return None


EQUIPMENT_STATES = {
    "commissioning": "Commissioning",
    "qualified": "Qualified",
    "in_service": "In service",
    "out_of_service": "Out of service",
    "maintenance": "Maintenance",
    "quarantine": "Quarantine",
    "retired": "Retired",
}

equipment_workflow = Workflow(
    name="Equipment",
    initial="commissioning",
    states=EQUIPMENT_STATES,
    transitions=[
        Transition("qualify", "Approve qualification", ("commissioning",), "qualified",
                   permission="facilities.qualify_equipment", signature="Approved",
                   guards=(qualification_complete,)),
        Transition("release", "Release for service", ("qualified",), "in_service",
                   permission="facilities.manage_equipment", signature="Approved",
                   guards=(last_calibration_passed,)),
        Transition("take_out_of_service", "Take out of service", ("in_service", "maintenance"), "out_of_service",
                   permission="facilities.manage_equipment", reason_required=True),
        Transition("start_maintenance", "Start maintenance", ("in_service", "out_of_service"), "maintenance",
                   permission="facilities.maintain", reason_required=True),
        Transition("quarantine", "Quarantine", ("in_service", "out_of_service", "maintenance"), "quarantine",
                   permission="facilities.qualify_equipment", reason_required=True),
        Transition("return_to_service", "Return to service", ("out_of_service", "maintenance"), "in_service",
                   permission="facilities.manage_equipment", signature="Approved", reason_required=True,
                   guards=(last_calibration_passed,)),
        Transition("release_from_quarantine", "Release from quarantine", ("quarantine",), "in_service",
                   permission="facilities.qualify_equipment", signature="Approved", reason_required=True,
                   guards=(last_calibration_passed,)),
        Transition("requalify", "Send for requalification",
                   ("qualified", "in_service", "out_of_service", "maintenance", "quarantine"), "commissioning",
                   permission="facilities.qualify_equipment", reason_required=True),
        Transition("retire", "Retire", tuple(s for s in EQUIPMENT_STATES if s != "retired"), "retired",
                   permission="facilities.manage_equipment", signature="Approved", reason_required=True),
    ],
)

line_clearance_workflow = Workflow(
    name="Line clearance",
    initial="open",
    states={"open": "Open", "performed": "Performed", "verified": "Verified", "void": "Void"},
    transitions=[
        Transition("perform", "Sign as performed", ("open",), "performed",
                   permission="facilities.line_clearance", signature="Performed", guards=(all_checks_ok,)),
        Transition("verify", "Verify", ("performed",), "verified",
                   permission="facilities.verify_line_clearance", signature="Verified",
                   guards=(not_signed_by_actor("Performed", rule="Performer is not verifier"),
                           signature_still_valid("Performed", rule="Verify what the performer signed"))),
        Transition("return", "Return to performer", ("performed",), "open",
                   permission="facilities.verify_line_clearance", reason_required=True),
        Transition("void", "Void", ("open", "performed"), "void",
                   permission="facilities.line_clearance", reason_required=True),
    ],
)

ROOM_STATES = {
    "in_operation": "In operation",
    "at_rest": "At rest",
    "shut_down": "Shut down",
    "maintenance": "Maintenance",
}

# A room's status says which limits apply (at rest / in operation) and whether it may be used;
# every change is made with a reason (A11-8). The action is named after the status it sets.
room_workflow = Workflow(
    name="Room",
    initial="at_rest",
    states=ROOM_STATES,
    transitions=[
        Transition("in_operation", "Start operation", ("at_rest",), "in_operation",
                   permission="facilities.manage_rooms", reason_required=True),
        Transition("at_rest", "Set at rest", ("in_operation", "shut_down", "maintenance"), "at_rest",
                   permission="facilities.manage_rooms", reason_required=True),
        Transition("maintenance", "Start maintenance", ("in_operation", "at_rest", "shut_down"), "maintenance",
                   permission="facilities.manage_rooms", reason_required=True),
        Transition("shut_down", "Shut down", ("in_operation", "at_rest", "maintenance"), "shut_down",
                   permission="facilities.manage_rooms", reason_required=True),
    ],
)
