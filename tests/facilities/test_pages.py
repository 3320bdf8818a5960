"""The facilities pages: anonymous → sign in; without the permission → 403 with a message; with
it → the page (the shared view tests); and what the pages show and do."""

import pytest
from django.test import Client

from opencdmo.core.domain.roles import Role
from opencdmo.core.models import AuditEvent
from opencdmo.facilities import services
from opencdmo.facilities.models import CalibrationRecord, Equipment, LineClearance, Room
from tests.conftest import PASSWORD
from tests.web.conftest import signed_in
from tests.web.viewtests import PermissionPageTest

from .factories import CLEAR

pytestmark = pytest.mark.req("P11-1d")


@pytest.fixture(autouse=True)
def world(supervisor, operator, room, cabinet):
    """Room B-101, cabinet EQ-BSC-01 in service with a use in progress, line clearance LC-2026-0001."""
    services.start_line_clearance(operator, room=room, for_record="HLX-B-0007", checks=CLEAR)
    services.log_equipment_use(operator, cabinet, used_for_label="HLX-B-0007")
    return {"room": room, "cabinet": cabinet}


class _Facilities(PermissionPageTest):
    roles = (Role.OPERATOR,)
    refused_roles = (Role.SPONSOR_VIEWER,)  # sponsors' people never see the CDMO's rooms and equipment
    args: tuple = ()

    def url(self, world):
        from django.urls import reverse  # noqa: PLC0415

        return reverse(self.route, args=self.args)


class TestRoomBoard(_Facilities):
    route = "facilities:rooms"


class TestNewRoomPage(_Facilities):
    route = "facilities:room_new"
    roles = (Role.SUPERVISOR,)
    refused_roles = (Role.OPERATOR,)


class TestRoomPage(_Facilities):
    route = "facilities:room"
    args = ("B-101",)


class TestRoomCleaningForm(_Facilities):
    route = "facilities:room_cleaning_new"
    args = ("B-101",)
    refused_roles = (Role.QC_ANALYST,)


class TestLineClearanceForm(_Facilities):
    route = "facilities:line_clearance_new"
    args = ("B-101",)
    refused_roles = (Role.QC_ANALYST,)


class TestLineClearanceList(_Facilities):
    route = "facilities:line_clearances"


class TestLineClearancePage(_Facilities):
    route = "facilities:line_clearance"
    args = ("LC-2026-0001",)


class TestLineClearanceChecksForm(_Facilities):
    route = "facilities:line_clearance_checks"
    args = ("LC-2026-0001",)
    refused_roles = (Role.QC_ANALYST,)


class TestEquipmentBoard(_Facilities):
    route = "facilities:equipment_board"


class TestEquipmentDue(_Facilities):
    route = "facilities:equipment_due"


class TestEquipmentPage(_Facilities):
    route = "facilities:equipment"
    args = ("EQ-BSC-01",)


class TestNewEquipmentPage(_Facilities):
    route = "facilities:equipment_new"
    roles = (Role.SUPERVISOR,)
    refused_roles = (Role.OPERATOR,)


class TestEditEquipmentPage(TestNewEquipmentPage):
    route = "facilities:equipment_edit"
    args = ("EQ-BSC-01",)


class TestCalibrationForm(TestEditEquipmentPage):
    route = "facilities:calibration_new"


class TestMaintenanceForm(TestEditEquipmentPage):
    route = "facilities:maintenance_new"


class TestEquipmentCleaningForm(_Facilities):
    route = "facilities:equipment_cleaning_new"
    args = ("EQ-BSC-01",)
    refused_roles = (Role.QC_ANALYST,)


class TestUseForm(_Facilities):
    route = "facilities:use_new"
    args = ("EQ-BSC-01",)
    roles = (Role.QC_ANALYST,)  # analysts log the use of their instruments


class TestEndUse(_Facilities):
    route = "facilities:use_end"
    method = "POST"
    status = 302

    def url(self, world):
        from django.urls import reverse  # noqa: PLC0415

        return reverse(self.route, args=["EQ-BSC-01", Equipment.objects.get(number="EQ-BSC-01").uses.get().pk])


# What the pages show and do.

def test_the_navigation_shows_rooms_and_equipment_to_staff_only(operator, make_user):
    body = signed_in(operator).get("/").content.decode()
    assert 'href="/facilities/rooms/"' in body and 'href="/facilities/equipment/"' in body
    viewer = make_user("acme.viewer", Role.SPONSOR_VIEWER)
    assert "/facilities/" not in signed_in(viewer).get("/").content.decode()


def test_the_room_board_shows_grade_status_last_cleaning_and_the_rotation_warning(operator, room):
    services.record_room_cleaning(operator, room, agent="70 % IPA", agent_type="disinfectant", agent_lot="IPA-7")
    body = signed_in(operator).get("/facilities/rooms/").content.decode()
    assert 'class="grade grade-B"' in body and "badge-at_rest" in body
    assert "70 % IPA (disinfectant) by Op Olsen" in body
    assert "No sporicidal agent has been used in this room yet." in body
    assert "1 line clearance in progress" in body


def test_the_equipment_page_shows_why_it_is_not_usable_and_offers_the_permitted_actions(supervisor, qa, operator):
    body = signed_in(operator).get("/facilities/equipment/EQ-BSC-01/").content.decode()
    assert "Not usable now" in body and "it is not clean (used since its last cleaning)" in body
    assert "HLX-B-0007" in body and "Take out of service" not in body  # operators do not manage equipment
    assert "Approved" in body and "Qa Patel" in body  # the qualification signature, with name and meaning
    body = signed_in(supervisor).get("/facilities/equipment/EQ-BSC-01/").content.decode()
    assert "/records/facilities.equipment/EQ-BSC-01/actions/take_out_of_service/" in body
    assert "Record calibration" in body and "Edit" in body


def test_a_failed_calibration_entered_on_the_page_takes_it_out_of_service(supervisor):
    response = signed_in(supervisor).post("/facilities/equipment/EQ-BSC-01/calibrations/new/", {
        "result": "fail", "as_found": "downflow 0.21 m/s", "as_left": "sent for repair"}, headers={"HX-Request": "true"})
    assert response.status_code == 204
    assert response["HX-Redirect"] == "/facilities/equipment/EQ-BSC-01/"
    equipment = Equipment.objects.get(number="EQ-BSC-01")
    assert equipment.status == "out_of_service"
    body = signed_in(supervisor).get("/facilities/equipment/EQ-BSC-01/").content.decode()
    assert "EQ-BSC-01 Biosafety cabinet 1: calibration failed" in body and "it is out of service" in body


@pytest.mark.parametrize(("url", "form", "message"), [
    ("/facilities/equipment/new/", {"number": "EQ-NEW-1", "name": "New cabinet", "kind": "biosafety_cabinet",
                                    "calibration_interval_days": "-5"}, "must be between 1 and 36500 days, not -5"),
    ("/facilities/equipment/new/", {"number": "EQ-NEW-1", "name": "New cabinet", "kind": "biosafety_cabinet",
                                    "iq_date": "2026-02-10", "oq_date": "2026-02-01"}, "The OQ date (2026-02-01) is before"),
    ("/facilities/equipment/new/", {"number": "EQ-NEW-1", "name": "New cabinet", "kind": "biosafety_cabinet",
                                    "room": "NOPE"}, "Choose the room from the list."),
    ("/facilities/rooms/new/", {"area": "CT", "code": "E-1", "name": "Room E", "grade": "E"},
     "&#x27;E&#x27; is not a cleanroom grade"),
    ("/facilities/equipment/EQ-BSC-01/calibrations/new/", {"result": "maybe"}, "Calibration result must be one of"),
    ("/facilities/equipment/EQ-BSC-01/edit/", {"name": "Cabinet", "kind": "biosafety_cabinet"}, "has left draft"),
])
def test_bad_input_on_a_form_is_a_422_with_the_message_and_nothing_is_written(supervisor, url, form, message):
    before = (Equipment.objects.count(), Room.objects.count(), CalibrationRecord.objects.count(),
              AuditEvent.objects.count())
    response = Client(raise_request_exception=False)
    response.force_login(supervisor)
    response = response.post(url, form)
    assert response.status_code == 422, response.content[:500]
    assert message in response.content.decode()
    assert (Equipment.objects.count(), Room.objects.count(), CalibrationRecord.objects.count(),
            AuditEvent.objects.count()) == before


def test_equipment_is_registered_on_its_page_and_opens_in_commissioning(supervisor):
    response = signed_in(supervisor).post("/facilities/equipment/new/", {
        "number": "EQ-CEN-02", "name": "Centrifuge 2", "kind": "centrifuge", "room": "B-101",
        "calibration_interval_days": "365", "iq_date": "2026-02-01", "oq_date": "2026-02-02"})
    assert response.status_code == 302 and response["Location"] == "/facilities/equipment/EQ-CEN-02/"
    equipment = Equipment.objects.get(number="EQ-CEN-02")
    assert (equipment.status, equipment.room.code, equipment.calibration_interval_days) == ("commissioning", "B-101",
                                                                                          365)


@pytest.mark.req("A11-8")
def test_the_signature_dialog_takes_equipment_out_of_service_only_with_a_reason(supervisor):
    client = signed_in(supervisor)
    url = "/records/facilities.equipment/EQ-BSC-01/actions/take_out_of_service/"
    assert 'name="reason"' in client.get(url, headers={"HX-Request": "true"}).content.decode()
    refused = client.post(url, {"reason": ""}, headers={"HX-Request": "true"})
    assert refused.status_code == 422 and "Give a reason to take out of service" in refused.content.decode()
    done = client.post(url, {"reason": "downflow alarm"}, headers={"HX-Request": "true"})
    assert done.status_code == 204 and done["HX-Redirect"] == "/facilities/equipment/EQ-BSC-01/"
    assert Equipment.objects.get(number="EQ-BSC-01").status == "out_of_service"


@pytest.mark.req("P11-3")
def test_a_line_clearance_is_started_on_the_room_and_signed_in_the_dialog(operator, supervisor):
    client = signed_in(operator)
    form = {"for_record": "HLX-B-0008", "item": [c["item"] for c in CLEAR], "ok": [str(i) for i in range(len(CLEAR))]}
    response = client.post("/facilities/rooms/B-101/line-clearances/new/", form, headers={"HX-Request": "true"})
    assert response.status_code == 204
    clearance = LineClearance.objects.get(for_record="HLX-B-0008")
    assert response["HX-Redirect"] == f"/facilities/line-clearances/{clearance.number}/"
    assert all(c["ok"] for c in clearance.checks) and len(clearance.checks) == len(CLEAR)
    sign = f"/records/facilities.lineclearance/{clearance.number}/actions/perform/"
    assert client.post(sign, {"username": operator.username, "password": PASSWORD}).status_code == 302
    body = signed_in(supervisor).get(f"/facilities/line-clearances/{clearance.number}/").content.decode()
    assert "Op Olsen" in body and "Performed" in body and "actions/verify/" in body


def test_an_unticked_checklist_item_is_kept_when_the_form_is_refused(operator):
    form = {"for_record": "", "item": ["Waste removed", "Labels removed", ""], "ok": ["1"]}
    response = signed_in(operator).post("/facilities/rooms/B-101/line-clearances/new/", form)
    body = response.content.decode()
    assert response.status_code == 422 and "Give the batch or campaign" in body
    assert 'value="0" id="ok-0" aria-label="found clear">' in body
    assert 'value="1" id="ok-1" aria-label="found clear" checked>' in body


def test_the_due_list_and_the_board_filters(supervisor):
    client = signed_in(supervisor)
    assert "Nothing is due." in client.get("/facilities/equipment/due/").content.decode()
    assert "Due in the next 30 days" in client.get("/facilities/equipment/due/?horizon=ahead").content.decode()
    body = client.get("/facilities/equipment/?usable=no&status=in_service&room=B-101").content.decode()
    assert "EQ-BSC-01" in body  # in use, so not clean: not usable
    assert "EQ-BSC-01" not in client.get("/facilities/equipment/?usable=yes").content.decode()


def test_record_forms_work_without_script_as_pages(operator):
    client = signed_in(operator)
    page = client.get("/facilities/equipment/EQ-BSC-01/cleanings/new/")
    assert page.status_code == 200 and "<html" in page.content.decode() and "Cancel</a>" in page.content.decode()
    done = client.post("/facilities/equipment/EQ-BSC-01/cleanings/new/", {"agent": "70 % IPA", "agent_lot": "L1"})
    assert done.status_code == 302 and done["Location"] == "/facilities/equipment/EQ-BSC-01/"
    assert not Equipment.objects.get(number="EQ-BSC-01").dirty


def test_a_step_blocked_by_a_rule_says_which_rule(supervisor):
    client = signed_in(supervisor)
    client.post("/facilities/equipment/EQ-BSC-01/calibrations/new/", {"result": "fail", "as_found": "low"})
    body = client.get("/facilities/equipment/EQ-BSC-01/").content.decode()
    assert "actions/return_to_service/" not in body
    assert "<strong>Return to service</strong>: Calibration failed: the last calibration of EQ-BSC-01" in body


def test_the_board_shows_an_expired_clean_hold_and_the_use_form_says_why_it_cannot_be_used(operator, fake_clock):
    client = signed_in(operator)
    client.post("/facilities/equipment/EQ-BSC-01/cleanings/new/", {"agent": "70 % IPA"})
    fake_clock.advance(hours=25)
    assert "hold expired 2026-03-03 09:30 CET" in client.get("/facilities/equipment/").content.decode()
    form = client.get("/facilities/equipment/EQ-BSC-01/uses/new/", headers={"HX-Request": "true"}).content.decode()
    assert "its clean hold expired 2026-03-03 09:30 CET" in form and 'type="submit" disabled' in form


@pytest.mark.parametrize(("next_url", "target"), [
    ("/facilities/rooms/", "/facilities/rooms/"),
    ("https://evil.example/phish", "/facilities/rooms/B-101/"),
    ("//evil.example/", "/facilities/rooms/B-101/"),
])
def test_a_cleaning_entered_from_the_board_returns_to_it_and_only_to_this_site(operator, next_url, target):
    response = signed_in(operator).post("/facilities/rooms/B-101/cleanings/new/", {
        "agent": "70 % IPA", "agent_type": "disinfectant", "agent_lot": "IPA-9", "next": next_url},
        headers={"HX-Request": "true"})
    assert response.status_code == 204 and response["HX-Redirect"] == target


@pytest.mark.req("P11-1e")
@pytest.mark.parametrize(("type_name", "reference"), [
    ("facilities.equipment", "EQ-BSC-01"), ("facilities.room", "B-101"), ("facilities.lineclearance", "LC-2026-0001")])
def test_the_record_tabs_show_the_audit_trail_signatures_and_attachments_of_facilities_records(
        qa, type_name, reference):
    # QA, not the operator: the kernel shows events of records without a sponsor only to holders of
    # core.view_system_events (reported: CDMO-wide records' own trails should follow the record's visibility).
    client = signed_in(qa)
    audit = client.get(f"/records/{type_name}/{reference}/audit-trail/")
    assert audit.status_code == 200 and "create" in audit.content.decode()
    assert client.get(f"/records/{type_name}/{reference}/signatures/").status_code == 200
    assert client.get(f"/records/{type_name}/{reference}/attachments/").status_code == 200
