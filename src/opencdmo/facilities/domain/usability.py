"""Is this equipment usable at time t, and if not, why? Every reason, not just the first.

A due time is the moment a status stops being valid: calibration due at 12:00 is overdue at
12:00 exactly; a clean hold of 72 h from 08:00 on day 1 has expired at 08:00 on day 4.
"""

import datetime as dt
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


def unusable_reasons(state: EquipmentState, at: dt.datetime) -> list[str]:
    reasons = []
    if state.status != "in_service":
        reasons.append(STATUS_REASONS.get(state.status, f"its status is {state.status}"))
    missing = [name for name, day in (("IQ", state.iq_date), ("OQ", state.oq_date), ("PQ", state.pq_date))
               if day is None or day > at.date()]
    if missing:
        reasons.append(f"it is not qualified ({', '.join(missing)} not completed)")
    if state.calibration_required:
        if state.calibration_due_at is None:
            reasons.append("it has never been calibrated")
        elif at >= state.calibration_due_at:
            reasons.append(f"its calibration was due {state.calibration_due_at:%Y-%m-%d %H:%M} UTC")
    if state.maintenance_due_at is not None and at >= state.maintenance_due_at:
        reasons.append(f"its preventive maintenance was due {state.maintenance_due_at:%Y-%m-%d %H:%M} UTC")
    if state.cleaning_required:
        if state.cleaned_at is None or state.dirty:
            reasons.append("it is not clean")
        elif state.clean_hold is not None and at >= state.cleaned_at + state.clean_hold:
            reasons.append(f"its clean hold expired {state.cleaned_at + state.clean_hold:%Y-%m-%d %H:%M} UTC")
    return reasons
