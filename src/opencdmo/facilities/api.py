"""The facilities app over HTTP. Thin: selectors and services do the work.

Reads need `facilities.view`; each write checks its own permission in the service. Times are
the server's: no endpoint takes "when it happened". Errors are the services' domain
exceptions, answered as JSON {"detail": …} with a 4xx status by the API's one handler.
"""

import datetime as dt
from typing import Literal

from ninja import Field, Router, Schema, Status
from ninja.pagination import paginate

from opencdmo.core import clock
from opencdmo.core.api import Pagination
from opencdmo.core.errors import NotFound, PermissionDenied, RuleViolation
from opencdmo.core.signatures import SignatureInput

from . import selectors, services
from .workflows import equipment_workflow, line_clearance_workflow, room_workflow

router = Router(tags=["Facilities and equipment"])


def _may_view(request) -> None:
    if not request.user.has_permission("facilities.view"):
        raise PermissionDenied("You do not have the permission to see this (facilities.view).")


def _room(request, code: str | None):
    if code is None or code == "":
        return None
    return selectors.room(request.user, code)


def _signature(transition, payload) -> SignatureInput | None:
    if not transition.signature:
        return None
    return SignatureInput(meaning=transition.signature, password=payload.password, username=payload.username,
                          comment=payload.comment)


class TransitionIn(Schema):
    username: str = Field("", description="your user ID: every API signature re-enters both components")
    password: str = ""
    comment: str = ""
    reason: str = Field("", description="why: required to take equipment out of service, quarantine, retire …")


# Sites and areas

class AreaOut(Schema):
    code: str
    name: str


class SiteOut(Schema):
    code: str
    name: str
    address: str
    areas: list[AreaOut]

    @staticmethod
    def resolve_areas(obj):
        return list(obj.areas.all())


class SiteIn(Schema):
    code: str
    name: str
    address: str = ""


class AreaIn(Schema):
    site: str = Field(description="site code")
    code: str
    name: str


@router.get("/sites", response=list[SiteOut], summary="Sites and their areas")
def sites(request):
    _may_view(request)
    return list(selectors.sites(request.user))


@router.post("/sites", response={201: SiteOut})
def create_site(request, payload: SiteIn):
    return Status(201, services.create_site(request.user, **payload.dict()))


@router.post("/areas", response={201: AreaOut})
def create_area(request, payload: AreaIn):
    data = payload.dict()
    site = next((s for s in selectors.sites(request.user) if s.code == data.pop("site")), None)
    if site is None:
        raise NotFound("No site matches that code.")
    return Status(201, services.create_area(request.user, site=site, **data))


# Rooms

class RoomOut(Schema):
    code: str
    name: str
    area: str = Field(alias="area.code")
    site: str = Field(alias="area.site.code")
    grade: str
    iso_class_at_rest: int | None
    iso_class_in_operation: int | None = Field(description="empty for grade D: not predetermined")
    status: str
    status_label: str
    within: str | None = Field(None, alias="within.code", description="the room this zone stands in")
    zones: list[str] = Field(description="the zones (grade A cabinets, isolators) standing in this room")

    @staticmethod
    def resolve_status_label(obj):
        return room_workflow.label(obj.status)

    @staticmethod
    def resolve_zones(obj) -> list[str]:
        return selectors.zone_codes([obj.pk]).get(obj.pk, [])


class RoomIn(Schema):
    area: str = Field(description="area code")
    code: str
    name: str
    grade: str = Field(description="A, B, C, D or U (unclassified)")
    iso_class_at_rest: int | None = Field(None, description="empty: the grade's class (Annex 1, A1-4)")
    iso_class_in_operation: int | None = Field(None, description="empty: the grade's class (Annex 1, A1-4)")
    within: str = Field("", max_length=16, description="for a zone (a grade A cabinet, an isolator): the code "
                        "of the room it stands in")


class RoomStatusIn(Schema):
    status: str = Field(description="in_operation, at_rest, shut_down or maintenance")
    reason: str = ""


class RoomCleaningIn(Schema):
    agent: str
    agent_type: str = Field(description="disinfectant, sporicidal or detergent")
    agent_lot: str
    notes: str = ""


class RoomCleaningOut(Schema):
    id: int
    room: str = Field(alias="room.code")
    agent: str
    agent_type: str
    agent_lot: str
    notes: str
    performed_at: dt.datetime
    performed_by: str = Field(alias="performed_by.full_name")


def _board_row(row) -> dict:
    room = row.room
    return {**{f: getattr(room, f) for f in ("code", "name", "grade", "iso_class_at_rest", "iso_class_in_operation",
                                              "status")},
            "area": room.area.code, "site": room.area.site.code, "status_label": row.status_label,
            "last_cleaned_at": row.last_cleaning.performed_at if row.last_cleaning else None,
            "last_sporicidal_at": row.last_sporicidal_at, "rotation_warning": row.rotation_warning,
            "within": room.within.code if room.within_id else None, "zones": row.zones}


class RoomBoardRow(Schema):
    code: str
    name: str
    area: str
    site: str
    grade: str
    iso_class_at_rest: int | None
    iso_class_in_operation: int | None
    status: str
    status_label: str
    last_cleaned_at: dt.datetime | None
    last_sporicidal_at: dt.datetime | None
    rotation_warning: str | None = Field(description="set when no sporicidal agent was used within the rotation")
    within: str | None = Field(description="the room this zone stands in")
    zones: list[str] = Field(description="the zones standing in this room")


@router.get("/rooms", response=list[RoomBoardRow], summary="The room board: status, grade, cleaning, rotation")
@paginate(Pagination)
def rooms(request):
    _may_view(request)
    return [_board_row(row) for row in selectors.room_board(request.user)]


@router.post("/rooms", response={201: RoomOut})
def create_room(request, payload: RoomIn):
    data = payload.dict()
    area = next((a for s in selectors.sites(request.user) for a in s.areas.all() if a.code == data["area"]), None)
    if area is None:
        raise NotFound("No area matches that code.")
    data.pop("area")
    data["within"] = selectors.zone_host(request.user, data["within"])
    return Status(201, services.create_room(request.user, area=area, **data))


@router.get("/rooms/{code}", response=RoomBoardRow)
def room(request, code: str):
    _may_view(request)
    [row] = selectors.room_board(request.user, room=selectors.room(request.user, code))
    return _board_row(row)


@router.post("/rooms/{code}/status", response=RoomOut, summary="Change a room's status (a reason is required)")
def room_status(request, code: str, payload: RoomStatusIn):
    return services.change_room_status(request.user, selectors.room(request.user, code), status=payload.status,
                                       reason=payload.reason)


@router.get("/rooms/{code}/cleanings", response=list[RoomCleaningOut])
@paginate(Pagination)
def room_cleanings(request, code: str):
    _may_view(request)
    return selectors.room(request.user, code).cleanings.select_related("room", "performed_by")


@router.post("/rooms/{code}/cleanings", response={201: RoomCleaningOut}, summary="Record a cleaning, now")
def record_room_cleaning(request, code: str, payload: RoomCleaningIn):
    found = selectors.room(request.user, code)
    return Status(201, services.record_room_cleaning(request.user, found, **payload.dict()))


# Line clearances

class CheckItem(Schema):
    item: str
    ok: bool = Field(description="true: found clear")


class LineClearanceOut(Schema):
    number: str
    room: str = Field(alias="room.code")
    for_record: str
    for_record_type: str
    for_record_id: str
    status: str
    status_label: str
    version: int
    checks: list[CheckItem]
    comments: str
    created_at: dt.datetime
    created_by: str = Field(alias="created_by.full_name")

    @staticmethod
    def resolve_status_label(obj):
        return line_clearance_workflow.label(obj.status)


class LineClearanceIn(Schema):
    room: str = Field(description="room code")
    for_record: str = Field(description="the batch or campaign it clears the room for")
    checks: list[CheckItem] = Field(description="each item and whether it was found clear; the site's usual "
                                                "items: " + "; ".join(services.DEFAULT_LINE_CLEARANCE_CHECKS))
    comments: str = ""
    for_record_type: str = ""
    for_record_id: str = ""


class ChecksIn(Schema):
    checks: list[CheckItem]
    comments: str | None = None
    reason: str = ""


@router.get("/line-clearances", response=list[LineClearanceOut])
@paginate(Pagination)
def line_clearances(request, status: str = "", room: str = ""):
    _may_view(request)
    return selectors.line_clearances(request.user, status=status or None, room=_room(request, room))


@router.post("/line-clearances", response={201: LineClearanceOut})
def start_line_clearance(request, payload: LineClearanceIn):
    data = payload.dict()
    room_found = selectors.room(request.user, data.pop("room"))
    return Status(201, services.start_line_clearance(request.user, room=room_found, **data))


@router.get("/line-clearances/{number}", response=LineClearanceOut)
def line_clearance(request, number: str):
    _may_view(request)
    return selectors.line_clearance(request.user, number)


@router.post("/line-clearances/{number}/checks", response=LineClearanceOut,
             summary="Record the checklist again, while the clearance is open")
def record_checks(request, number: str, payload: ChecksIn):
    data = payload.dict()
    return services.record_line_clearance_checks(request.user, selectors.line_clearance(request.user, number),
                                                 **data)


@router.post("/line-clearances/{number}/{action}", response=LineClearanceOut,
             summary="Perform (signed), verify (signed, by someone else), return or void")
def transition_line_clearance(request, number: str, action: Literal["perform", "verify", "return", "void"],
                              payload: TransitionIn):
    transition = line_clearance_workflow.get(action)
    return services.transition_line_clearance(
        request.user, selectors.line_clearance(request.user, number), action,
        signature=_signature(transition, payload), first_in_session=True, reason=payload.reason)


# Equipment

class ReasonOut(Schema):
    code: str
    text: str


class UsabilityOut(Schema):
    equipment: str
    at: dt.datetime
    usable: bool
    reasons: list[ReasonOut] = Field(description="every reason it may not be used; empty when usable")


class DueOut(Schema):
    what: str
    due_at: dt.datetime | None
    state: str | None = Field(description="overdue, due_soon, current or never (needed, never done)")


class EquipmentOut(Schema):
    number: str = Field(description="asset id")
    name: str
    kind: str
    kind_label: str
    room: str | None
    status: str
    status_label: str
    version: int
    manufacturer: str
    model_number: str
    serial_number: str
    iq_date: dt.date | None
    oq_date: dt.date | None
    pq_date: dt.date | None
    qualified_at: dt.datetime | None
    requalification_interval_days: int | None
    requalification_due_at: dt.datetime | None
    calibration_interval_days: int | None
    calibration_tolerance: str
    calibration_due_at: dt.datetime | None
    maintenance_interval_days: int | None
    maintenance_due_at: dt.datetime | None
    clean_hold_hours: int | None
    cleaned_at: dt.datetime | None
    dirty: bool
    usable: bool
    reasons: list[ReasonOut]
    dues: list[DueOut]


def _equipment_out(equipment) -> dict:
    row = selectors.equipment_row(equipment)
    data = {f: getattr(equipment, f) for f in (
        "number", "name", "kind", "status", "version", "manufacturer", "model_number", "serial_number", "iq_date",
        "oq_date", "pq_date", "qualified_at", "requalification_interval_days", "requalification_due_at",
        "calibration_interval_days", "calibration_tolerance", "calibration_due_at", "maintenance_interval_days",
        "maintenance_due_at", "clean_hold_hours", "cleaned_at", "dirty")}
    return {**data, "kind_label": equipment.get_kind_display(), "room": equipment.room.code if equipment.room else None,
            "status_label": equipment_workflow.label(equipment.status), "usable": row.usability.usable,
            "reasons": [{"code": r.code, "text": r.text} for r in row.usability.reasons],
            "dues": [{"what": d.what, "due_at": d.at, "state": d.state} for d in row.dues]}


class EquipmentIn(Schema):
    number: str = Field(description="asset id, e.g. EQ-BSC-03: letters, digits, '.', '_', '-'")
    name: str
    kind: str = Field(description="equipment class, e.g. biosafety_cabinet, pipette, incubator")
    room: str | None = Field(None, description="room code")
    manufacturer: str = ""
    model_number: str = ""
    serial_number: str = ""
    calibration_interval_days: int | None = None
    calibration_tolerance: str = ""
    maintenance_interval_days: int | None = None
    requalification_interval_days: int | None = None
    clean_hold_hours: int | None = None
    iq_date: dt.date | None = None
    oq_date: dt.date | None = None
    pq_date: dt.date | None = None


class EquipmentPatch(Schema):
    name: str | None = None
    kind: str | None = None
    room: str | None = Field(None, description="room code; empty string: no room")
    manufacturer: str | None = None
    model_number: str | None = None
    serial_number: str | None = None
    calibration_interval_days: int | None = None
    calibration_tolerance: str | None = None
    maintenance_interval_days: int | None = None
    requalification_interval_days: int | None = None
    clean_hold_hours: int | None = None
    iq_date: dt.date | None = None
    oq_date: dt.date | None = None
    pq_date: dt.date | None = None
    reason: str = Field("", description="required once the equipment has left commissioning")


class CalibrationIn(Schema):
    result: str = Field(description="pass or fail")
    as_found: str = ""
    as_left: str = ""
    certificate: str = ""
    notes: str = ""


class CalibrationOut(Schema):
    id: int
    equipment: str = Field(alias="equipment.number")
    equipment_status: str = Field(alias="equipment.status")
    performed_at: dt.datetime
    performed_by: str = Field(alias="performed_by.full_name")
    result: str
    as_found: str
    as_left: str
    certificate: str
    notes: str
    next_due_at: dt.datetime | None
    deviation_number: str = Field(description="the deviation a failed calibration raised")


class MaintenanceIn(Schema):
    kind: str = Field(description="preventive or corrective")
    description: str


class MaintenanceOut(Schema):
    id: int
    equipment: str = Field(alias="equipment.number")
    kind: str
    description: str
    performed_at: dt.datetime
    performed_by: str = Field(alias="performed_by.full_name")
    next_due_at: dt.datetime | None


class CleaningIn(Schema):
    agent: str
    agent_lot: str = ""


class CleaningOut(Schema):
    id: int
    equipment: str = Field(alias="equipment.number")
    agent: str
    agent_lot: str
    performed_at: dt.datetime
    performed_by: str = Field(alias="performed_by.full_name")
    clean_until: dt.datetime | None


class UseIn(Schema):
    used_for_label: str = Field(description="what it is used for, as people read it (a batch number …)")
    used_for_type: str = Field("", description="the record's type, e.g. batches.batch")
    used_for_id: str = ""


class UseOut(Schema):
    id: int
    equipment: str = Field(alias="equipment.number")
    used_by: str = Field(alias="used_by.full_name")
    started_at: dt.datetime
    ended_at: dt.datetime | None
    used_for_type: str
    used_for_id: str
    used_for_label: str


class DueItemOut(Schema):
    equipment: str
    name: str
    room: str | None
    what: str
    due_at: dt.datetime
    state: str


EQUIPMENT_STATUSES = Literal["", "commissioning", "qualified", "in_service", "out_of_service", "maintenance",
                             "quarantine", "retired"]


@router.get("/equipment", response=list[EquipmentOut], summary="Equipment with status, usability and due dates")
@paginate(Pagination)
def equipment_list(request, status: EQUIPMENT_STATUSES = "", room: str = "", usable: bool | None = None):
    _may_view(request)
    rows = selectors.equipment_board(request.user, status=status or None, room=_room(request, room), usable=usable)
    return [_equipment_out(r.equipment) for r in rows]


@router.post("/equipment", response={201: EquipmentOut}, summary="Register equipment (in commissioning)")
def register_equipment(request, payload: EquipmentIn):
    data = payload.dict()
    data["room"] = _room(request, data.pop("room"))
    return Status(201, _equipment_out(services.register_equipment(request.user, **data)))


@router.get("/equipment-due", response=list[DueItemOut],
            summary="Calibration, maintenance and requalification due within `days` (overdue included)")
def equipment_due(request, days: int = 30):
    _may_view(request)
    if not 0 <= days <= 3660:
        raise RuleViolation("Ask for 0 to 3660 days ahead.")
    until = clock.now() + dt.timedelta(days=days)
    return [{"equipment": i.equipment.number, "name": i.equipment.name,
             "room": i.equipment.room.code if i.equipment.room else None, "what": i.what, "due_at": i.due_at,
             "state": i.state} for i in selectors.equipment_due(request.user, until=until)]


@router.get("/equipment/{number}", response=EquipmentOut)
def equipment_detail(request, number: str):
    _may_view(request)
    return _equipment_out(selectors.equipment(request.user, number))


@router.patch("/equipment/{number}", response=EquipmentOut)
def edit_equipment(request, number: str, payload: EquipmentPatch):
    equipment = selectors.equipment(request.user, number)
    changes = payload.dict(exclude_unset=True)
    reason = changes.pop("reason", "")
    if "room" in changes:
        changes["room"] = _room(request, changes["room"])
    return _equipment_out(services.edit_equipment(request.user, equipment, reason=reason, **changes))


@router.get("/equipment/{number}/usability", response=UsabilityOut,
            summary="Whether it may be used now (or at `at`), with every reason it may not")
def usability(request, number: str, at: dt.datetime | None = None):
    _may_view(request)
    equipment = selectors.equipment(request.user, number)
    if at is not None and at.tzinfo is None:
        raise RuleViolation("Give the time with its zone, e.g. 2026-03-02T08:30:00Z.")
    at = at or clock.now()
    result = selectors.equipment_usability(equipment, at)
    return {"equipment": equipment.number, "at": at, "usable": result.usable,
            "reasons": [{"code": r.code, "text": r.text} for r in result.reasons]}


@router.get("/equipment/{number}/calibrations", response=list[CalibrationOut])
@paginate(Pagination)
def calibrations(request, number: str):
    _may_view(request)
    equipment = selectors.equipment(request.user, number)
    return equipment.calibrations.select_related("equipment", "performed_by")


@router.post("/equipment/{number}/calibrations", response={201: CalibrationOut},
             summary="Record a calibration, now; a failure takes it out of service and raises a deviation")
def record_calibration(request, number: str, payload: CalibrationIn):
    equipment = selectors.equipment(request.user, number)
    return Status(201, services.record_calibration(request.user, equipment, **payload.dict()))


@router.get("/equipment/{number}/maintenance", response=list[MaintenanceOut])
@paginate(Pagination)
def maintenance(request, number: str):
    _may_view(request)
    return selectors.equipment(request.user, number).maintenance.select_related("equipment", "performed_by")


@router.post("/equipment/{number}/maintenance", response={201: MaintenanceOut})
def record_maintenance(request, number: str, payload: MaintenanceIn):
    equipment = selectors.equipment(request.user, number)
    return Status(201, services.record_maintenance(request.user, equipment, **payload.dict()))


@router.get("/equipment/{number}/cleanings", response=list[CleaningOut])
@paginate(Pagination)
def cleanings(request, number: str):
    _may_view(request)
    return selectors.equipment(request.user, number).cleanings.select_related("equipment", "performed_by")


@router.post("/equipment/{number}/cleanings", response={201: CleaningOut}, summary="Record a cleaning, now")
def clean(request, number: str, payload: CleaningIn):
    equipment = selectors.equipment(request.user, number)
    return Status(201, services.clean_equipment(request.user, equipment, **payload.dict()))


@router.get("/equipment/{number}/uses", response=list[UseOut], summary="The use logbook")
@paginate(Pagination)
def uses(request, number: str):
    _may_view(request)
    return selectors.equipment(request.user, number).uses.select_related("equipment", "used_by")


@router.post("/equipment/{number}/uses", response={201: UseOut},
             summary="Start a use, now; refused with every reason unless it is usable")
def start_use(request, number: str, payload: UseIn):
    equipment = selectors.equipment(request.user, number)
    return Status(201, services.log_equipment_use(request.user, equipment, **payload.dict()))


@router.post("/equipment/{number}/uses/{use_id}/end", response=UseOut)
def end_use(request, number: str, use_id: int):
    equipment = selectors.equipment(request.user, number)
    return services.end_equipment_use(request.user, selectors.use(request.user, equipment, use_id))


EQUIPMENT_ACTIONS = Literal["qualify", "release", "take_out_of_service", "start_maintenance", "quarantine",
                            "return_to_service", "release_from_quarantine", "requalify", "retire"]


@router.post("/equipment/{number}/{action}", response=EquipmentOut,
             summary="Lifecycle: qualify, release, take out of service … (signed steps need user ID and password)")
def transition_equipment(request, number: str, action: EQUIPMENT_ACTIONS, payload: TransitionIn):
    transition = equipment_workflow.get(action)
    equipment = services.transition_equipment(
        request.user, selectors.equipment(request.user, number), action,
        signature=_signature(transition, payload), first_in_session=True, reason=payload.reason)
    return _equipment_out(equipment)
