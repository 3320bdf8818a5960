"""Realistic facilities records built through the services, as a site would build them."""

import datetime as dt

from opencdmo.core import clock
from opencdmo.facilities import services
from tests.factories import signature

QUALIFIED_DAYS_AGO = (10, 9, 7)  # IQ, OQ, PQ: days before the clock's today


def area(user, code: str = "CT"):
    site = services.create_site(user, code="S1", name="Demo site")
    return services.create_area(user, site=site, code=code, name="Cell therapy suites")


def room(user, area, code: str, grade: str, **fields):
    return services.create_room(user, area=area, code=code, name=f"Suite {code}", grade=grade, **fields)


def qualification_dates() -> dict:
    today = clock.now().date()
    return {f"{stage}_date": today - dt.timedelta(days=days)
            for stage, days in zip(("iq", "oq", "pq"), QUALIFIED_DAYS_AGO, strict=True)}


def registered(supervisor, *, number: str = "EQ-BSC-01", **fields):
    fields.setdefault("name", "Biosafety cabinet 1")
    fields.setdefault("kind", "biosafety_cabinet")
    for key, value in qualification_dates().items():
        fields.setdefault(key, value)
    return services.register_equipment(supervisor, number=number, **fields)


def qualified(supervisor, qa, **fields):
    equipment = registered(supervisor, **fields)
    return services.transition_equipment(qa, equipment, "qualify", signature=signature(qa, "Approved"))


def equipment_in_service(supervisor, qa, **fields):
    """Registered, qualified (QA signs), calibrated and cleaned where it needs to be, released (signed)."""
    equipment = qualified(supervisor, qa, **fields)
    if equipment.calibration_interval_days:
        services.record_calibration(supervisor, equipment, result="pass", as_found="in tolerance",
                                    as_left="in tolerance", certificate="CAL-001")
    services.transition_equipment(supervisor, equipment, "release", signature=signature(supervisor, "Approved"))
    if equipment.clean_hold_hours:
        services.clean_equipment(supervisor, equipment, agent="70 % IPA", agent_lot="IPA-1")
    equipment.refresh_from_db()
    return equipment


CLEAR = [{"item": item, "ok": True} for item in services.DEFAULT_LINE_CLEARANCE_CHECKS]
