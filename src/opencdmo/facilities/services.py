"""Every write to sites, rooms, room cleanings, line clearances and equipment with its logs.

Each service checks the actor's permission and the rules, changes the rows and writes their
audit events in one transaction. Times are the server's (clock.now()); the client never says
when something happened.
"""

import datetime as dt
import re

from django.core.exceptions import ValidationError
from django.db import transaction

from opencdmo.core import audit, clock
from opencdmo.core.access import require
from opencdmo.core.errors import Conflict, RuleViolation
from opencdmo.core.presentation import local_time
from opencdmo.core.records import create_record, update_record
from opencdmo.core.signatures import SignatureInput, authenticate_signer
from opencdmo.quality import services as quality_services

from . import selectors
from .domain import rooms as room_rules
from .domain.schedule import next_due, qualification_date_problems
from .models import (
    Area,
    CalibrationRecord,
    Equipment,
    EquipmentCleaning,
    EquipmentUse,
    LineClearance,
    MaintenanceRecord,
    Room,
    RoomCleaning,
    Site,
)
from .workflows import ROOM_STATES, equipment_workflow, line_clearance_workflow, room_workflow

CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
RESERVED_ASSET_IDS = {"new", "due"}  # words the equipment pages use in their URLs
MAX_INTERVAL_DAYS = 36500  # 100 years: longer is a typing error, and would overflow a date
MAX_CLEAN_HOLD_HOURS = 24 * 366

# Every CDMO staff member may log the use of equipment (operators at a cabinet, QC analysts at
# their instruments); what protects the product is the usability interlock, checked at every use.
USE_PERMISSION = "facilities.view"

DEFAULT_LINE_CLEARANCE_CHECKS = (
    "Materials, components and labels of the previous batch removed",
    "Documents and records of the previous batch removed",
    "Waste and used consumables removed",
    "Equipment cleaned and labelled with its status",
    "Work surfaces and floor cleaned",
)


# Input checks shared by the services: a clear message naming the field, never a database error.


def _text(value, label: str, *, required: bool = False) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise RuleViolation(f"{label} must be text.")
    value = value.strip()
    if "\x00" in value:
        raise RuleViolation(f"{label}: text may not contain NUL (0x00) characters.")
    if required and not value:
        raise RuleViolation(f"Give the {label.lower()}.")
    return value


def _code(value, label: str, *, max_length: int) -> str:
    value = _text(value, label, required=True)
    if len(value) > max_length or not CODE.fullmatch(value):
        raise RuleViolation(f"{label} '{value}' is not usable: up to {max_length} letters, digits, '.', '_' or '-', "
                            "starting with a letter or digit.")
    return value


def _whole_number(value, label: str, *, minimum: int, maximum: int, unit: str) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise RuleViolation(f"{label} must be a whole number of {unit}.")
    if not isinstance(value, int):
        try:
            value = int(str(value).strip())
        except ValueError:
            raise RuleViolation(f"{label} must be a whole number of {unit}, not '{value}'.") from None
    if value < minimum or value > maximum:
        raise RuleViolation(f"{label} must be between {minimum} and {maximum} {unit}, not {value}.")
    return value


def _interval(value, label: str) -> int | None:
    return _whole_number(value, label, minimum=1, maximum=MAX_INTERVAL_DAYS, unit="days")


def _day(value, label: str) -> dt.date | None:
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        raise RuleViolation(f"{label} is a date (YYYY-MM-DD), not a date and time.")
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value).strip())
    except ValueError:
        raise RuleViolation(f"Write the {label} as YYYY-MM-DD, not '{value}'.") from None


def _choice(value, choices, label: str) -> str:
    if value not in choices.values:
        raise RuleViolation(f"{label} must be one of: {', '.join(choices.values)}; not '{value}'.")
    return value


def _invalid(exc: ValidationError, model) -> RuleViolation:
    """A model's refusal of a value (length, range, format) as a message naming the field."""
    if not hasattr(exc, "error_dict"):
        return RuleViolation(" ".join(exc.messages))
    names = {f.name: str(f.verbose_name) for f in model._meta.get_fields() if hasattr(f, "verbose_name")}
    return RuleViolation(" ".join(f"{names.get(field, field).capitalize()}: {' '.join(messages)}"
                                  for field, messages in exc.message_dict.items()))


def _create(actor, obj, *, reason: str = ""):
    try:
        return create_record(actor, obj, reason=reason)
    except ValidationError as exc:
        raise _invalid(exc, type(obj)) from None


def _update(actor, obj, *, reason: str = "", action: str = "update", **changes):
    try:
        return update_record(actor, obj, reason=reason, action=action, **changes)
    except ValidationError as exc:
        raise _invalid(exc, type(obj)) from None


def _signer(actor, transition, signature: SignatureInput | None, first_in_session: bool):
    """Re-authenticate before the record's transaction, so a wrong password is counted (P11-6)."""
    if not transition.signature:
        return None
    if signature is None:
        raise RuleViolation(f"{transition.label} needs your signature ('{transition.signature}').")
    return authenticate_signer(actor, signature, first_in_session=first_in_session)


# Sites, areas and rooms

@transaction.atomic
def create_site(actor, *, code: str, name: str, address: str = "") -> Site:
    require(actor, "facilities.manage_rooms")
    code = _code(code, "Site code", max_length=16).upper()
    if Site.objects.filter(code__iexact=code).exists():
        raise Conflict(f"A site with code {code} exists already.")
    return _create(actor, Site(code=code, name=_text(name, "Site name", required=True),
                               address=_text(address, "Address")))


@transaction.atomic
def create_area(actor, *, site: Site, code: str, name: str) -> Area:
    require(actor, "facilities.manage_rooms")
    code = _code(code, "Area code", max_length=16).upper()
    if Area.objects.filter(code__iexact=code).exists():
        raise Conflict(f"An area with code {code} exists already.")
    return _create(actor, Area(site=Site.objects.get(pk=site.pk), code=code,
                               name=_text(name, "Area name", required=True)))


def _iso_class(value, label: str) -> int | None:
    try:
        return _whole_number(value, label, minimum=1, maximum=9, unit="")
    except RuleViolation:
        raise RuleViolation(f"The {label} must be a whole number from 1 to 9 (ISO 14644-1), not '{value}'.") from None


@transaction.atomic
def create_room(actor, *, area: Area, code: str, name: str, grade: str, iso_class_at_rest=None,
                iso_class_in_operation=None, within: Room | None = None) -> Room:
    """A room with its cleanroom grade; ISO classes not given are those of the grade (A1-4).
    A zone (a grade A cabinet or isolator) names the room it stands in."""
    require(actor, "facilities.manage_rooms")
    code = _code(code, "Room code", max_length=16).upper()
    name = _text(name, "Room name", required=True)
    grade = _text(grade, "Grade", required=True).upper()
    if grade not in room_rules.GRADES:
        raise RuleViolation(f"'{grade}' is not a cleanroom grade; use one of {', '.join(room_rules.GRADES)} "
                            "(U: unclassified).")
    default_rest, default_operation = room_rules.default_iso_classes(grade)
    at_rest = _iso_class(iso_class_at_rest, "ISO class at rest")
    in_operation = _iso_class(iso_class_in_operation, "ISO class in operation")
    at_rest = default_rest if at_rest is None else at_rest
    in_operation = default_operation if in_operation is None else in_operation
    if problems := room_rules.iso_class_problems(grade, at_rest, in_operation):
        raise RuleViolation(" ".join(problems))
    if Room.objects.filter(code__iexact=code).exists():
        raise Conflict(f"A room with code {code} exists already.")
    if within is not None:
        within = Room.objects.get(pk=within.pk)
        if within.within_id is not None:
            raise RuleViolation(f"{within} is itself a zone of {within.within.code}: a zone stands in a room, "
                                "not in another zone.")
    return _create(actor, Room(area=Area.objects.get(pk=area.pk), code=code, name=name, grade=grade, within=within,
                               iso_class_at_rest=at_rest, iso_class_in_operation=in_operation,
                               status=room_workflow.initial, created_at=clock.now(), created_by=actor))


def transition_room(actor, room: Room, action: str, *, signature: SignatureInput | None = None,
                    first_in_session: bool = True, reason: str = "") -> Room:
    """Change a room's status (the action is the status it sets); always with a reason (A11-8)."""
    transition = room_workflow.get(action)
    signer = _signer(actor, transition, signature, first_in_session)
    with transaction.atomic():
        room = Room.objects.select_for_update().get(pk=room.pk)
        if room.status == transition.target:
            raise RuleViolation(f"{room} is already {room_workflow.label(room.status)}.")
        # A room is not a core Record, whose version the audited update bumps; bump it the same way
        # (after the old → new diff, saved with the change, carried by its audit event).
        room.version += 1
        room_workflow.apply(room, action, actor=actor, signer=signer, reason=_text(reason, "Reason"))
    return room


def change_room_status(actor, room: Room, *, status: str, reason: str) -> Room:
    if status not in ROOM_STATES:
        raise RuleViolation(f"A room's status is one of: {', '.join(ROOM_STATES)}; not '{status}'.")
    return transition_room(actor, room, status, reason=reason)


@transaction.atomic
def record_room_cleaning(actor, room: Room, *, agent: str, agent_type: str, agent_lot: str,
                         notes: str = "") -> RoomCleaning:
    """A cleaning of a room with its agent and lot: the disinfectant rotation is read from these."""
    require(actor, "facilities.clean")
    agent = _text(agent, "Cleaning agent", required=True)
    agent_type = _choice(agent_type, RoomCleaning.AgentType, "Agent type")
    agent_lot = _text(agent_lot, "Agent lot", required=True)
    room = Room.objects.get(pk=room.pk)
    return _create(actor, RoomCleaning(room=room, agent=agent, agent_type=agent_type, agent_lot=agent_lot,
                                       notes=_text(notes, "Notes"), performed_by=actor, performed_at=clock.now()))


# Line clearance

def _checks(checks) -> list[dict]:
    if not isinstance(checks, (list, tuple)) or not checks:
        raise RuleViolation("A line clearance needs at least one checklist item.")
    result, seen = [], set()
    for check in checks:
        if not isinstance(check, dict):
            raise RuleViolation("Each checklist item is an item and whether it was found clear.")
        item = _text(check.get("item"), "Checklist item", required=True)
        if len(item) > 200:
            raise RuleViolation(f"A checklist item is at most 200 characters: '{item[:40]}…'.")
        if item.lower() in seen:
            raise RuleViolation(f"The checklist names '{item}' twice.")
        seen.add(item.lower())
        ok = check.get("ok")
        if not isinstance(ok, bool):
            raise RuleViolation(f"Say whether '{item}' was found clear (true or false).")
        result.append({"item": item, "ok": ok})
    return result


@transaction.atomic
def start_line_clearance(actor, *, room: Room, for_record: str, checks, comments: str = "",
                         for_record_type: str = "", for_record_id: str = "") -> LineClearance:
    """The checklist of a room's line clearance before a batch starts; then signed as performed."""
    require(actor, "facilities.line_clearance")
    room = Room.objects.select_for_update().get(pk=room.pk)
    if room.status in ("shut_down", "maintenance"):
        raise RuleViolation(f"{room} is {room_workflow.label(room.status)}: a line clearance is made in a room "
                            "that is at rest or in operation.")
    return _create(actor, LineClearance(
        room=room, for_record=_text(for_record, "Batch or campaign", required=True), checks=_checks(checks),
        comments=_text(comments, "Comments"), for_record_type=_text(for_record_type, "Record type"),
        for_record_id=_text(for_record_id, "Record id"), status=line_clearance_workflow.initial))


@transaction.atomic
def record_line_clearance_checks(actor, clearance: LineClearance, *, checks, comments: str | None = None,
                                 reason: str = "") -> LineClearance:
    """Record the checklist again (after clearing what was found), while the clearance is open."""
    require(actor, "facilities.line_clearance")
    clearance = LineClearance.objects.select_for_update().get(pk=clearance.pk)
    if clearance.status != "open":
        raise RuleViolation(f"{clearance} is {line_clearance_workflow.label(clearance.status)}: its checklist "
                            "can be changed only while it is open.")
    changes = {"checks": _checks(checks)}
    if comments is not None:
        changes["comments"] = _text(comments, "Comments")
    return _update(actor, clearance, reason=_text(reason, "Reason"), **changes)


def transition_line_clearance(actor, clearance: LineClearance, action: str, *,
                              signature: SignatureInput | None = None, first_in_session: bool = True,
                              reason: str = "") -> LineClearance:
    """Perform (signed 'Performed'), verify (signed 'Verified' by someone else), return or void."""
    transition = line_clearance_workflow.get(action)
    signer = _signer(actor, transition, signature, first_in_session)
    with transaction.atomic():
        clearance = LineClearance.objects.select_for_update().get(pk=clearance.pk)
        line_clearance_workflow.apply(clearance, action, actor=actor, signer=signer, reason=_text(reason, "Reason"))
    return clearance


# Equipment

EDITABLE_EQUIPMENT_FIELDS = {
    "name", "kind", "manufacturer", "model_number", "serial_number", "room", "calibration_interval_days",
    "calibration_tolerance", "maintenance_interval_days", "requalification_interval_days", "clean_hold_hours",
    "iq_date", "oq_date", "pq_date",
}
QUALIFICATION_FIELDS = ("iq_date", "oq_date", "pq_date")


def _equipment_values(fields: dict) -> dict:
    if unknown := fields.keys() - EDITABLE_EQUIPMENT_FIELDS:
        raise RuleViolation(f"These equipment fields are unknown or cannot be set: {', '.join(sorted(unknown))}.")
    values = {}
    for field, value in fields.items():
        if field == "name":
            values[field] = _text(value, "Equipment name", required=True)
        elif field == "kind":
            values[field] = _choice(value, Equipment.Kind, "Equipment class")
        elif field in ("manufacturer", "model_number", "serial_number", "calibration_tolerance"):
            values[field] = _text(value, Equipment._meta.get_field(field).verbose_name.capitalize())
        elif field == "room":
            if value is not None and not isinstance(value, Room):
                raise RuleViolation("Choose the room from the list.")
            values[field] = Room.objects.get(pk=value.pk) if value is not None else None
        elif field in ("calibration_interval_days", "maintenance_interval_days", "requalification_interval_days"):
            values[field] = _interval(value, field.replace("_days", "").replace("_", " ").capitalize() + " (days)")
        elif field == "clean_hold_hours":
            values[field] = _whole_number(value, "Clean hold", minimum=1, maximum=MAX_CLEAN_HOLD_HOURS, unit="hours")
        else:
            values[field] = _day(value, field.replace("_date", "").upper() + " date")
    return values


def _check_qualification_dates(iq, oq, pq) -> None:
    if problems := qualification_date_problems(iq, oq, pq):
        raise RuleViolation(" ".join(problems))


@transaction.atomic
def register_equipment(actor, *, number: str, name: str, kind: str, room: Room | None = None,
                       **fields) -> Equipment:
    """A new asset under its asset id, in commissioning until QA approves its qualification."""
    require(actor, "facilities.manage_equipment")
    number = _code(number, "Asset id", max_length=32)
    if number.lower() in RESERVED_ASSET_IDS:
        raise RuleViolation(f"'{number}' cannot be an asset id: the equipment pages use that word.")
    values = _equipment_values({"name": name, "kind": kind, "room": room, **fields})
    _check_qualification_dates(*(values.get(f) for f in QUALIFICATION_FIELDS))
    if Equipment.objects.filter(number__iexact=number).exists():
        raise Conflict(f"The asset id {number} is taken: asset ids are never reused.")
    equipment = Equipment(number=number, status=equipment_workflow.initial, **values)
    equipment.maintenance_due_at = next_due(clock.now(), values.get("maintenance_interval_days"))
    return _create(actor, equipment)


def _last_passing_calibration(equipment) -> CalibrationRecord | None:
    return equipment.calibrations.filter(result=CalibrationRecord.Result.PASS).order_by("-performed_at", "-id").first()


def _last_preventive_maintenance(equipment) -> MaintenanceRecord | None:
    return equipment.maintenance.filter(kind=MaintenanceRecord.Kind.PREVENTIVE).order_by("-performed_at", "-id").first()


@transaction.atomic
def edit_equipment(actor, equipment: Equipment, *, reason: str = "", **changes) -> Equipment:
    """Change an asset's details; its due dates follow a changed interval. IQ/OQ/PQ dates change
    only while it is being commissioned (requalification sends it back there)."""
    require(actor, "facilities.manage_equipment")
    equipment = Equipment.objects.select_for_update().get(pk=equipment.pk)
    if equipment.status == "retired":
        raise RuleViolation(f"{equipment} is retired and can no longer be changed.")
    values = _equipment_values(changes)
    changed = {f for f, v in values.items() if getattr(equipment, f) != v}
    if changed & set(QUALIFICATION_FIELDS) and equipment.status != "commissioning":
        raise RuleViolation(f"The IQ, OQ and PQ dates of {equipment} change only while it is being commissioned: "
                            "send it for requalification first.")
    _check_qualification_dates(*(values.get(f, getattr(equipment, f)) for f in QUALIFICATION_FIELDS))
    derived = {}
    if "calibration_interval_days" in changed:
        last = _last_passing_calibration(equipment)
        derived["calibration_due_at"] = next_due(last.performed_at, values["calibration_interval_days"]) if last else None
    if "maintenance_interval_days" in changed:
        last = _last_preventive_maintenance(equipment)
        base = last.performed_at if last else equipment.created_at
        derived["maintenance_due_at"] = next_due(base, values["maintenance_interval_days"])
    if "requalification_interval_days" in changed and equipment.qualified_at is not None:
        derived["requalification_due_at"] = next_due(equipment.qualified_at, values["requalification_interval_days"])
    return _update(actor, equipment, reason=_text(reason, "Reason"), **values, **derived)


def transition_equipment(actor, equipment: Equipment, action: str, *, signature: SignatureInput | None = None,
                         first_in_session: bool = True, reason: str = "") -> Equipment:
    """Move equipment through its lifecycle; GMP decisions are signed, departures from service need a reason."""
    transition = equipment_workflow.get(action)
    signer = _signer(actor, transition, signature, first_in_session)
    with transaction.atomic():
        equipment = Equipment.objects.select_for_update().get(pk=equipment.pk)
        equipment_workflow.apply(equipment, action, actor=actor, signer=signer, reason=_text(reason, "Reason"))
        if action == "qualify":
            now = clock.now()
            _update(actor, equipment, reason=f"qualification approved (PQ {equipment.pq_date:%Y-%m-%d})",
                    qualified_at=now, requalification_due_at=next_due(now, equipment.requalification_interval_days))
    return equipment


def _not_retired(equipment) -> None:
    if equipment.status == "retired":
        raise RuleViolation(f"{equipment} is retired: nothing more is recorded against it.")


def _uses_since(equipment, since: dt.datetime | None) -> list[EquipmentUse]:
    uses = equipment.uses.order_by("started_at", "id")
    return list(uses.filter(started_at__gte=since) if since else uses)


@transaction.atomic
def record_calibration(actor, equipment: Equipment, *, result: str, as_found: str = "", as_left: str = "",
                       certificate: str = "", notes: str = "") -> CalibrationRecord:
    """A calibration, performed now. A pass sets the next due date from the interval. A failure takes
    the equipment out of service and raises a deviation linked to it, in this same transaction."""
    require(actor, "facilities.calibrate")
    result = _choice(result, CalibrationRecord.Result, "Calibration result")
    as_found, as_left = _text(as_found, "As found"), _text(as_left, "As left")
    certificate, notes = _text(certificate, "Certificate"), _text(notes, "Notes")
    equipment = Equipment.objects.select_for_update().get(pk=equipment.pk)
    _not_retired(equipment)
    if equipment.calibration_interval_days is None:
        raise RuleViolation(f"{equipment} needs no calibration (it has no calibration interval); set one first.")
    now = clock.now()
    passed = result == CalibrationRecord.Result.PASS
    deviation_number = ""
    if not passed:
        deviation = quality_services.raise_deviation(
            actor, title=f"{equipment.number} {equipment.name}: calibration failed",
            description=_failure_description(equipment, now, as_found, as_left, certificate, notes),
            source="equipment", records=[equipment])
        deviation_number = deviation.number
    calibration = _create(actor, CalibrationRecord(
        equipment=equipment, performed_at=now, performed_by=actor, result=result, as_found=as_found,
        as_left=as_left, certificate=certificate, notes=notes, deviation_number=deviation_number,
        next_due_at=next_due(now, equipment.calibration_interval_days) if passed else None))
    if passed:
        _update(actor, equipment, reason=f"calibration passed {local_time(now)}"
                + (f", certificate {certificate}" if certificate else ""), calibration_due_at=calibration.next_due_at)
    elif equipment.status in ("in_service", "maintenance", "qualified"):
        _update(actor, equipment, action="transition", status="out_of_service",
                reason=f"calibration failed {local_time(now)}: out of tolerance; deviation {deviation_number}")
    return calibration


def _failure_description(equipment, now, as_found, as_left, certificate, notes) -> str:
    last = _last_passing_calibration(equipment)
    uses = _uses_since(equipment, last.performed_at if last else None)
    lines = [
        f"The calibration of {equipment.number} {equipment.name} on {local_time(now)} failed: out of tolerance.",
        f"Tolerance: {equipment.calibration_tolerance or 'not stated'}. As found: {as_found or 'not stated'}. "
        f"As left: {as_left or 'not stated'}." + (f" Certificate: {certificate}." if certificate else ""),
        f"{equipment.number} was taken out of service." if equipment.status in ("in_service", "maintenance", "qualified")
        else f"{equipment.number} is {equipment_workflow.label(equipment.status)}.",
        (f"Last passing calibration: {local_time(last.performed_at)}." if last else "No earlier passing calibration.")
        + f" Uses since then, to assess for impact: {len(uses)}"
        + (": " + ", ".join(u.used_for_label for u in uses[:20]) + (" …" if len(uses) > 20 else "") if uses else "")
        + ".",
    ]
    if notes:
        lines.append(f"Notes: {notes}")
    return "\n".join(lines)


@transaction.atomic
def record_maintenance(actor, equipment: Equipment, *, kind: str, description: str) -> MaintenanceRecord:
    """Maintenance performed now; preventive maintenance sets the next due date from the interval."""
    require(actor, "facilities.maintain")
    kind = _choice(kind, MaintenanceRecord.Kind, "Maintenance kind")
    description = _text(description, "Description of the work", required=True)
    equipment = Equipment.objects.select_for_update().get(pk=equipment.pk)
    _not_retired(equipment)
    now = clock.now()
    preventive = kind == MaintenanceRecord.Kind.PREVENTIVE
    record = _create(actor, MaintenanceRecord(
        equipment=equipment, kind=kind, performed_at=now, performed_by=actor, description=description,
        next_due_at=next_due(now, equipment.maintenance_interval_days) if preventive else None))
    if preventive and equipment.maintenance_interval_days is not None:
        _update(actor, equipment, reason=f"preventive maintenance done {local_time(now)}",
                maintenance_due_at=record.next_due_at)
    return record


@transaction.atomic
def clean_equipment(actor, equipment: Equipment, *, agent: str, agent_lot: str = "") -> EquipmentCleaning:
    """A cleaning, now: the equipment is clean (not dirty) and its clean hold starts."""
    require(actor, "facilities.clean")
    agent = _text(agent, "Cleaning agent", required=True)
    agent_lot = _text(agent_lot, "Agent lot")
    equipment = Equipment.objects.select_for_update().get(pk=equipment.pk)
    _not_retired(equipment)
    now = clock.now()
    hold = dt.timedelta(hours=equipment.clean_hold_hours) if equipment.clean_hold_hours else None
    cleaning = _create(actor, EquipmentCleaning(equipment=equipment, performed_at=now, performed_by=actor,
                                                agent=agent, agent_lot=agent_lot,
                                                clean_until=now + hold if hold else None))
    _update(actor, equipment, reason=f"cleaned with {agent}" + (f" lot {agent_lot}" if agent_lot else ""),
            cleaned_at=now, dirty=False)
    return cleaning


@transaction.atomic
def log_equipment_use(actor, equipment: Equipment, *, used_for_label: str = "", used_for_type: str = "",
                      used_for_id: str = "", record=None) -> EquipmentUse:
    """Start a use in the logbook, now, for a record (a batch, later: pass `record`). Refused, with
    every reason, unless the equipment is usable now; a use makes it dirty until it is cleaned."""
    require(actor, USE_PERMISSION)
    if record is not None:
        used_for_type, used_for_id = audit.record_type(record), str(record.pk)
        used_for_label = used_for_label or str(getattr(record, "number", "") or record)
    used_for_label = _text(used_for_label, "What it is used for", required=True)
    equipment = Equipment.objects.select_for_update().get(pk=equipment.pk)
    now = clock.now()
    usability = selectors.equipment_usability(equipment, now, for_record=record)
    if not usability.usable:
        raise RuleViolation(f"{equipment} may not be used: " + "; ".join(map(str, usability.reasons)) + ".")
    use = _create(actor, EquipmentUse(equipment=equipment, used_by=actor, started_at=now,
                                      used_for_type=_text(used_for_type, "Record type"),
                                      used_for_id=_text(used_for_id, "Record id"), used_for_label=used_for_label))
    _update(actor, equipment, reason=f"used for {used_for_label}", dirty=True)
    return use


@transaction.atomic
def end_equipment_use(actor, use: EquipmentUse) -> EquipmentUse:
    require(actor, USE_PERMISSION)
    use = EquipmentUse.objects.select_for_update().get(pk=use.pk)
    if use.ended_at is not None:
        raise RuleViolation(f"This use of {use.equipment} ended {local_time(use.ended_at)} already.")
    return _update(actor, use, reason=f"use for {use.used_for_label} ended", ended_at=clock.now())
