"""Reads of sites, rooms, line clearances and equipment, and the one usability rule for equipment.

Facilities are CDMO-wide records (no sponsor): every CDMO staff member with `facilities.view`
sees them; views and the API check that permission.
"""

import calendar
import datetime as dt
from dataclasses import dataclass, field
from typing import NamedTuple

from django.db.models import Count, Max, OuterRef, Q, Subquery
from django.urls import reverse
from django.utils import timezone

from opencdmo.core import audit, clock
from opencdmo.core.errors import RuleViolation
from opencdmo.core.scoping import get_scoped, scoped
from opencdmo.core.tasks import Task

from . import conf
from .domain.schedule import DUE_SOON, OVERDUE, due_state, sporicidal_warning
from .domain.usability import EquipmentState, Reason, unusable_reasons
from .models import (
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
from .workflows import equipment_workflow, line_clearance_workflow, room_workflow

NEVER = "never"  # a due state: needed (e.g. calibration) but never done


def when(moment: dt.datetime | None) -> str:
    """'2026-03-02 09:30 CET': a moment in the site's zone, to the minute, for logs, warnings and reasons."""
    if moment is None:
        return ""
    local = timezone.localtime(moment)
    return f"{local:%Y-%m-%d %H:%M} {local.tzname()}"

# Equipment usability: the interlock batches will check before every use.


class Usability(NamedTuple):
    usable: bool
    reasons: list[Reason]


def equipment_state(equipment: Equipment) -> EquipmentState:
    return EquipmentState(
        status=equipment.status,
        iq_date=equipment.iq_date, oq_date=equipment.oq_date, pq_date=equipment.pq_date,
        calibration_required=equipment.calibration_interval_days is not None,
        calibration_due_at=equipment.calibration_due_at,
        maintenance_due_at=equipment.maintenance_due_at,
        cleaning_required=equipment.clean_hold_hours is not None,
        cleaned_at=equipment.cleaned_at,
        clean_hold=dt.timedelta(hours=equipment.clean_hold_hours) if equipment.clean_hold_hours else None,
        dirty=equipment.dirty,
        requalification_due_at=equipment.requalification_due_at,
    )


def equipment_usability(equipment: Equipment, at: dt.datetime | None = None, *, for_record=None) -> Usability:
    """(usable, [every reason it is not]) for `equipment` at `at` (default: now, server time).

    Due dates and the clean hold are judged at `at`; status and cleanliness are as recorded.
    IQ/OQ/PQ dates are the site's calendar days. For `for_record` (a batch), its own uses since the
    last cleaning do not make the equipment unclean: it is cleaned between batches, not between steps.
    """
    at = timezone.localtime(clock.now() if at is None else at)
    reasons = unusable_reasons(equipment_state(equipment), at, show_time=when)
    if for_record is not None and equipment.dirty and _used_only_for(equipment, for_record):
        reasons = [r for r in reasons if r.code != "not_clean"]
    return Usability(not reasons, reasons)


def _used_only_for(equipment: Equipment, record) -> bool:
    since = equipment.uses.filter(started_at__gte=equipment.cleaned_at) if equipment.cleaned_at else equipment.uses
    return since.exists() and not since.exclude(used_for_type=audit.record_type(record),
                                                used_for_id=str(record.pk)).exists()


# Rooms


def sites(user):
    return scoped(Site, user).prefetch_related("areas")


def rooms(user):
    return scoped(Room, user).select_related("area__site", "within")


def room(user, code: str) -> Room:
    return get_scoped(Room.objects.select_related("area__site", "created_by", "within"), user, code=code)


def zone_codes(room_ids) -> dict[int, list[str]]:
    """Per room, the codes of the zones (grade A cabinets, isolators) standing in it."""
    codes: dict[int, list[str]] = {}
    for within_id, code in Room.objects.filter(within__in=list(room_ids)).order_by("code").values_list("within_id",
                                                                                                         "code"):
        codes.setdefault(within_id, []).append(code)
    return codes


def zone_hosts(user):
    """The rooms a new zone may stand in: rooms that are not zones themselves (one level only)."""
    return rooms(user).filter(within__isnull=True).order_by("code")


def zone_host(user, code) -> Room | None:
    """The room a new zone stands in, by its code; None for a room that is no zone."""
    code = str(code or "").strip()[:16]
    if not code:
        return None
    found = zone_hosts(user).filter(code__iexact=code).first()
    if found is None:
        raise RuleViolation(f"No room {code} for the zone to stand in: choose a room that is not itself a zone "
                            "from the list.")
    return found


def rooms_for_choice(user):
    return rooms(user).order_by("code")


@dataclass
class RoomRow:
    room: Room
    last_cleaning: RoomCleaning | None
    last_sporicidal_at: dt.datetime | None
    rotation_warning: str | None
    open_clearances: int = 0
    zones: list[str] = field(default_factory=list)

    @property
    def status_label(self) -> str:
        return room_workflow.label(self.room.status)


def _last_cleaning_ids():
    return RoomCleaning.objects.filter(room=OuterRef("pk")).order_by("-performed_at", "-id").values("id")[:1]


def room_board(user, *, at: dt.datetime | None = None, room: Room | None = None) -> list[RoomRow]:
    """Every room (or one) with its status, grade, last cleaning and disinfectant-rotation warning."""
    at = clock.now() if at is None else at
    max_age = conf.sporicidal_rotation()
    queryset = rooms(user) if room is None else rooms(user).filter(pk=room.pk)
    annotated = queryset.annotate(
        last_cleaning_id=Subquery(_last_cleaning_ids()),
        last_sporicidal_at=Max("cleanings__performed_at", filter=Q(cleanings__agent_type="sporicidal")),
    ).order_by("area__code", "code")
    annotated = list(annotated)
    cleanings = RoomCleaning.objects.select_related("performed_by").in_bulk(
        [r.last_cleaning_id for r in annotated if r.last_cleaning_id])
    zones = zone_codes(r.pk for r in annotated)
    counts = dict(LineClearance.objects.filter(status__in=["open", "performed"]).values("room_id")
                  .annotate(n=Count("id")).values_list("room_id", "n"))
    return [
        RoomRow(room=r, last_cleaning=cleanings.get(r.last_cleaning_id),
                last_sporicidal_at=r.last_sporicidal_at,
                rotation_warning=sporicidal_warning(r.last_sporicidal_at, at, max_age, when),
                open_clearances=counts.get(r.pk, 0), zones=zones.get(r.pk, []))
        for r in annotated
    ]


def room_rotation(room: Room, *, at: dt.datetime | None = None) -> dict:
    """The disinfectant rotation of one room: last sporicidal use and the warning, if any."""
    at = clock.now() if at is None else at
    last = room.cleanings.filter(agent_type="sporicidal").aggregate(at=Max("performed_at"))["at"]
    max_age = conf.sporicidal_rotation()
    return {"last_sporicidal_at": last, "max_age_days": max_age.days,
            "warning": sporicidal_warning(last, at, max_age, when)}


def room_cleanings(room: Room, *, limit: int = 100):
    return room.cleanings.select_related("performed_by")[:limit]


# Line clearances


def line_clearances(user, *, status: str | None = None, room: Room | None = None):
    queryset = scoped(LineClearance, user).select_related("room", "created_by")
    if status:
        queryset = queryset.filter(status=status)
    if room is not None:
        queryset = queryset.filter(room=room)
    return queryset


def line_clearance(user, number: str) -> LineClearance:
    return get_scoped(LineClearance.objects.select_related("room__area", "created_by"), user, number=number)


def verified_line_clearance(room: Room, *, for_record_type: str, for_record_id: str) -> LineClearance | None:
    """The verified line clearance of `room` for a record (a batch), if there is one: batches check it."""
    return (LineClearance.objects.filter(room=room, for_record_type=for_record_type, for_record_id=for_record_id,
                                         status="verified").order_by("-modified_at", "-id").first())


# Equipment


def equipment_list(user, *, status: str | None = None, room: Room | None = None, kind: str | None = None):
    queryset = scoped(Equipment, user).select_related("room")
    if status:
        queryset = queryset.filter(status=status)
    if room is not None:
        queryset = queryset.filter(room=room)
    if kind:
        queryset = queryset.filter(kind=kind)
    return queryset


def equipment(user, number: str) -> Equipment:
    return get_scoped(Equipment.objects.select_related("room__area", "created_by"), user, number=number)


@dataclass
class Due:
    what: str  # Calibration, Preventive maintenance, Requalification
    at: dt.datetime | None
    state: str | None  # overdue, due_soon, current, never (needed but never done) or None


@dataclass
class EquipmentRow:
    equipment: Equipment
    usability: Usability
    dues: list[Due] = field(default_factory=list)
    at: dt.datetime | None = None

    @property
    def status_label(self) -> str:
        return equipment_workflow.label(self.equipment.status)

    @property
    def clean_until(self) -> dt.datetime | None:
        e = self.equipment
        if e.clean_hold_hours and e.cleaned_at and not e.dirty:
            return e.cleaned_at + dt.timedelta(hours=e.clean_hold_hours)
        return None

    @property
    def clean_state(self) -> str | None:
        """clean (in its clean hold), expired, dirty (used since cleaned), never (cleaned), or None (not needed)."""
        e = self.equipment
        if not e.clean_hold_hours:
            return None
        if e.dirty:
            return "dirty"
        if e.cleaned_at is None:
            return "never"
        return "expired" if self.at is not None and self.at >= self.clean_until else "clean"

    @property
    def worst_due(self) -> str | None:
        states = {d.state for d in self.dues}
        for state in (OVERDUE, NEVER, DUE_SOON):
            if state in states:
                return state
        return None


def _dues(e: Equipment, at: dt.datetime, warn: dt.timedelta) -> list[Due]:
    dues = []
    if e.calibration_interval_days is not None:
        dues.append(Due("Calibration", e.calibration_due_at,
                        due_state(e.calibration_due_at, at, warn) if e.calibration_due_at else NEVER))
    if e.maintenance_due_at is not None:
        dues.append(Due("Preventive maintenance", e.maintenance_due_at, due_state(e.maintenance_due_at, at, warn)))
    if e.requalification_due_at is not None:
        dues.append(Due("Requalification", e.requalification_due_at, due_state(e.requalification_due_at, at, warn)))
    return dues


def equipment_row(equipment: Equipment, *, at: dt.datetime | None = None) -> EquipmentRow:
    at = clock.now() if at is None else at
    return EquipmentRow(equipment, equipment_usability(equipment, at), _dues(equipment, at, conf.due_warning()), at)


def equipment_board(user, *, status: str | None = None, room: Room | None = None, kind: str | None = None,
                    usable: bool | None = None, at: dt.datetime | None = None) -> list[EquipmentRow]:
    """Every asset with its status, usability (with reasons) and due dates flagged ahead of time."""
    at = clock.now() if at is None else at
    rows = [equipment_row(e, at=at) for e in equipment_list(user, status=status, room=room, kind=kind)]
    if usable is not None:
        rows = [r for r in rows if r.usability.usable == usable]
    return rows


@dataclass
class DueItem:
    equipment: Equipment
    what: str
    due_at: dt.datetime
    state: str


def end_of_month(at: dt.datetime) -> dt.datetime:
    """The first instant after the site's current month (calendar months are the site's, not UTC's)."""
    local = timezone.localtime(at)
    last_day = calendar.monthrange(local.year, local.month)[1]
    end = local.replace(day=last_day, hour=0, minute=0, second=0, microsecond=0) + dt.timedelta(days=1)
    return timezone.make_aware(end.replace(tzinfo=None), timezone.get_current_timezone())


def equipment_due(user, *, until: dt.datetime, at: dt.datetime | None = None) -> list[DueItem]:
    """Calibrations, preventive maintenance and requalifications due before `until` (overdue ones
    included), soonest first: the maintenance lead's list. Retired equipment owes nothing."""
    at = clock.now() if at is None else at
    warn = conf.due_warning()
    items = []
    queryset = equipment_list(user).exclude(status="retired").filter(
        Q(calibration_due_at__lt=until) | Q(maintenance_due_at__lt=until) | Q(requalification_due_at__lt=until))
    for e in queryset:
        for what, due_at in (("Calibration", e.calibration_due_at), ("Preventive maintenance", e.maintenance_due_at),
                             ("Requalification", e.requalification_due_at)):
            if due_at is not None and due_at < until:
                items.append(DueItem(e, what, due_at, due_state(due_at, at, warn)))
    return sorted(items, key=lambda i: (i.due_at, i.equipment.number))


def calibrations(equipment: Equipment, *, limit: int = 100):
    return CalibrationRecord.objects.filter(equipment=equipment).select_related("performed_by")[:limit]


def maintenance(equipment: Equipment, *, limit: int = 100):
    return MaintenanceRecord.objects.filter(equipment=equipment).select_related("performed_by")[:limit]


def cleanings(equipment: Equipment, *, limit: int = 100):
    return EquipmentCleaning.objects.filter(equipment=equipment).select_related("performed_by")[:limit]


def uses(equipment: Equipment, *, limit: int = 100):
    return EquipmentUse.objects.filter(equipment=equipment).select_related("used_by")[:limit]


def use(user, equipment: Equipment, pk) -> EquipmentUse:
    return get_scoped(EquipmentUse.objects.select_related("equipment"), user, equipment=equipment, pk=pk)


# 'My tasks'


def equipment_tasks(user, *, at: dt.datetime | None = None) -> list[Task]:
    """Overdue calibration, maintenance and requalification, for the people who do them."""
    at = clock.now() if at is None else at
    duties = [(p, what, f) for p, what, f in (
        ("facilities.calibrate", "Calibrate", "calibration_due_at"),
        ("facilities.maintain", "Maintain", "maintenance_due_at"),
        ("facilities.qualify_equipment", "Requalify", "requalification_due_at"),
    ) if user.has_permission(p)]
    if not duties or not user.has_permission("facilities.view"):
        return []
    tasks = []
    active = equipment_list(user).exclude(status="retired")
    for _, what, due_field in duties:
        for e in active.filter(**{f"{due_field}__lte": at}).order_by(due_field):
            tasks.append(Task(
                title=f"{what} (overdue)", record=f"{e.number} {e.name}",
                url=reverse("facilities:equipment", args=[e.number]), status=e.status,
                status_label=equipment_workflow.label(e.status), detail=f"was due {when(getattr(e, due_field))}"))
    return tasks


def line_clearance_tasks(user) -> list[Task]:
    """Line clearances to verify (for verifiers who did not perform them) and one's own to sign."""
    if not user.has_permission("facilities.view"):
        return []
    tasks = []
    pending = line_clearances(user).filter(Q(status="performed") | Q(status="open", created_by=user))
    for clearance in pending:
        steps = [t for t in line_clearance_workflow.available(clearance, user) if t.signature]
        if steps:
            tasks.append(Task(
                title=" / ".join(t.label for t in steps), record=f"{clearance.number} {clearance.room.code}",
                url=reverse("facilities:line_clearance", args=[clearance.number]), status=clearance.status,
                status_label=line_clearance_workflow.label(clearance.status), detail=clearance.for_record))
    return tasks


def task_list(user) -> list[Task]:
    return line_clearance_tasks(user) + equipment_tasks(user)
