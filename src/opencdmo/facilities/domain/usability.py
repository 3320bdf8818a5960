"""Is this equipment usable at time t, and if not, why? Every reason, not just the first.

A due time is the moment a status stops being valid: calibration due at 12:00 is overdue at
12:00 exactly; a clean hold of 72 h from 08:00 on day 1 has expired at 08:00 on day 4.
"""

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

STATUS_REASONS = {
    "commissioning": "it is still being commissioned",
    "qualified": "it is qualified but not yet released for service",
    "out_of_service": "it is out of service",
    "maintenance": "it is under maintenance",
    "quarantine": "it is in quarantine",
    "retired": "it is retired",
}


@dataclass(frozen=True)
class EquipmentState:
    status: str
    iq_date: dt.date | None
    oq_date: dt.date | None
    pq_date: dt.date | None
    calibration_required: bool
    calibration_due_at: dt.datetime | None
    maintenance_due_at: dt.datetime | None
    cleaning_required: bool
    cleaned_at: dt.datetime | None
    clean_hold: dt.timedelta | None
    dirty: bool
    requalification_due_at: dt.datetime | None = None


@dataclass(frozen=True)
class Reason:
    """One reason the equipment may not be used: a stable code for programs, a sentence for people."""

    code: str
    text: str

    def __str__(self) -> str:
        return self.text


def utc(moment: dt.datetime) -> str:
    return f"{moment.astimezone(dt.UTC):%Y-%m-%d %H:%M} UTC"


def unusable_reasons(state: EquipmentState, at: dt.datetime,
                     show_time: Callable[[dt.datetime], str] = utc) -> list[Reason]:
    """Every reason `state` forbids use at `at`; an empty list means usable.

    `show_time` writes a moment for people (the caller passes the site's zone; UTC by default).
    """
    reasons = []
    if state.status != "in_service":
        reasons.append(Reason("status", STATUS_REASONS.get(state.status, f"its status is {state.status}")))
    missing = [name for name, day in (("IQ", state.iq_date), ("OQ", state.oq_date), ("PQ", state.pq_date))
               if day is None or day > at.date()]
    if missing:
        reasons.append(Reason("not_qualified", f"it is not qualified ({', '.join(missing)} not completed)"))
    elif state.requalification_due_at is not None and at >= state.requalification_due_at:
        reasons.append(Reason("requalification_overdue",
                              f"it is not qualified: its requalification was due {show_time(state.requalification_due_at)}"))
    if state.calibration_required:
        if state.calibration_due_at is None:
            reasons.append(Reason("never_calibrated", "it has never been calibrated"))
        elif at >= state.calibration_due_at:
            reasons.append(Reason("calibration_overdue",
                                  f"its calibration was due {show_time(state.calibration_due_at)}"))
    if state.maintenance_due_at is not None and at >= state.maintenance_due_at:
        reasons.append(Reason("maintenance_overdue",
                              f"its preventive maintenance was due {show_time(state.maintenance_due_at)}"))
    if state.cleaning_required:
        if state.cleaned_at is None or state.dirty:
            reasons.append(Reason("not_clean", "it is not clean" + (" (used since its last cleaning)"
                                                                   if state.cleaned_at and state.dirty else "")))
        elif state.clean_hold is not None and at >= state.cleaned_at + state.clean_hold:
            reasons.append(Reason("clean_hold_expired",
                                  f"its clean hold expired {show_time(state.cleaned_at + state.clean_hold)}"))
    return reasons
