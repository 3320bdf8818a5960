"""The demo site: built through the services, with exactly the situations the demo promises."""

import pytest

from opencdmo.core import clock, signatures, tasks
from opencdmo.core import services as core_services
from opencdmo.core.verification import verify_audit_trail
from opencdmo.demo.management.commands import seed_demo
from opencdmo.facilities import demo, selectors
from opencdmo.facilities.models import Equipment, LineClearance, Room
from opencdmo.quality import selectors as quality_selectors

NEEDED = ("admin", "sup.santos", "qa.patel", "op.olsen", "op.garcia")


@pytest.fixture
def demo_site(db, fake_clock):
    users = {}
    for username, name, roles, _ in seed_demo.DEMO_USERS:
        if username in NEEDED:
            users[username] = core_services.create_user(
                None, username=username, full_name=name, password=seed_demo.DEMO_PASSWORD, roles=roles)
    demo.seed(users, {}, password=seed_demo.DEMO_PASSWORD)
    return users


def test_the_demo_users_the_site_needs_exist_in_seed_demo():
    assert set(NEEDED) <= {username for username, *_ in seed_demo.DEMO_USERS}


@pytest.mark.req("A1-4")
def test_the_demo_site_has_rooms_of_every_grade_with_their_iso_classes(demo_site):
    rooms = {r.code: r for r in Room.objects.all()}
    assert {r.grade for r in rooms.values()} == {"A", "B", "C", "D", "U"}
    assert (rooms["B-101"].iso_class_at_rest, rooms["B-101"].iso_class_in_operation) == (5, 7)
    assert (rooms["A-BSC-101"].grade, rooms["C-201"].grade, rooms["D-001"].grade) == ("A", "C", "D")
    warnings = {row.room.code for row in selectors.room_board(demo_site["admin"]) if row.rotation_warning}
    assert warnings == {"C-201", "B-102"}


def test_the_demo_equipment_has_one_overdue_calibration_a_failed_pipette_and_a_cabinet_in_clean_hold(demo_site):
    sup = demo_site["sup.santos"]
    overdue = [i for i in selectors.equipment_due(sup, until=clock.now()) if i.what == "Calibration"]
    assert [i.equipment.number for i in overdue] == ["EQ-BAL-01"]
    pipette = Equipment.objects.get(number="EQ-PIP-07")
    assert pipette.status == "out_of_service" and pipette.calibrations.first().result == "fail"
    [deviation] = quality_selectors.deviations_about(sup, pipette)
    assert deviation.source == "equipment" and pipette.calibrations.first().deviation_number == deviation.number
    cabinet = Equipment.objects.get(number="EQ-BSC-01")
    assert selectors.equipment_usability(cabinet).usable
    assert selectors.equipment_row(cabinet).clean_until > clock.now()
    assert [r.code for r in selectors.equipment_usability(Equipment.objects.get(number="EQ-BSC-02")).reasons] == [
        "clean_hold_expired"]
    statuses = dict(Equipment.objects.values_list("number", "status"))
    assert statuses["EQ-BR-01"] == "commissioning" and statuses["EQ-ULT-02"] == "quarantine"
    assert all(valid for e in Equipment.objects.all() for _, valid in signatures.with_validity(e))


def test_the_demo_line_clearance_waits_for_its_verifier(demo_site):
    waiting = LineClearance.objects.get(status="performed")
    assert (waiting.room.code, waiting.created_by.username) == ("B-101", "op.olsen")
    assert [t.title for t in tasks.tasks_for(demo_site["sup.santos"]) if t.record.startswith(waiting.number)] == [
        "Verify"]
    assert LineClearance.objects.filter(status="verified").count() == 1


def test_the_demo_history_leaves_an_intact_audit_trail(demo_site):
    assert verify_audit_trail().intact
