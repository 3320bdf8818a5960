"""The facilities API: lists, details, usability, actions; errors are JSON {"detail"} with a 4xx."""

import pytest
from django.test import Client

from opencdmo.core.domain.roles import Role
from opencdmo.core.models import AuditEvent
from opencdmo.facilities.models import Equipment, LineClearance, Room
from tests.conftest import PASSWORD
from tests.web.conftest import bearer

from .factories import CLEAR

pytestmark = [pytest.mark.urls("tests.facilities.api_urls"), pytest.mark.req("P11-1d")]


@pytest.fixture
def api(supervisor):
    return as_user(supervisor)


def as_user(user):
    client, headers = Client(raise_request_exception=False), bearer(user)

    def call(method, path, data=None):
        kwargs = {"headers": headers}
        if data is not None:
            kwargs |= {"data": data, "content_type": "application/json"}
        return getattr(client, method)(f"/api/v1{path}", **kwargs)

    return call


def writes():
    return Equipment.objects.count(), Room.objects.count(), LineClearance.objects.count(), AuditEvent.objects.count()


def test_the_equipment_list_and_detail_say_whether_it_is_usable_and_why_not(api, cabinet, make_equipment):
    make_equipment("EQ-BAL-01", name="Balance", kind="balance", calibration_interval_days=30)
    page = api("get", "/equipment?limit=10").json()
    assert page["count"] == 2 and [e["number"] for e in page["items"]] == ["EQ-BAL-01", "EQ-BSC-01"]
    detail = api("get", "/equipment/EQ-BSC-01").json()
    assert (detail["status"], detail["status_label"], detail["kind_label"], detail["room"]) == (
        "in_service", "In service", "Biosafety cabinet", "B-101")
    assert (detail["usable"], detail["reasons"]) == (True, [])
    assert [d["what"] for d in detail["dues"]] == ["Calibration", "Preventive maintenance"]
    usability = api("get", "/equipment/EQ-BSC-01/usability?at=2027-03-02T08:30:00Z").json()
    assert usability["usable"] is False
    assert [r["code"] for r in usability["reasons"]] == ["calibration_overdue", "maintenance_overdue",
                                                          "clean_hold_expired"]
    assert api("get", "/equipment?usable=false").json()["count"] == 0


def test_equipment_is_registered_and_moved_through_its_lifecycle_with_signatures(api, supervisor, qa, room):
    created = api("post", "/equipment", {"number": "EQ-CEN-02", "name": "Centrifuge 2", "kind": "centrifuge",
                                         "room": "B-101", "iq_date": "2026-02-01", "oq_date": "2026-02-02",
                                         "pq_date": "2026-02-03"})
    assert created.status_code == 201 and created.json()["status"] == "commissioning"
    qualify = as_user(qa)("post", "/equipment/EQ-CEN-02/qualify", {"username": "qa.patel", "password": PASSWORD})
    assert qualify.status_code == 200 and qualify.json()["status"] == "qualified"
    released = api("post", "/equipment/EQ-CEN-02/release", {"username": "sup.santos", "password": PASSWORD})
    assert released.json()["status"] == "in_service"
    refused = api("post", "/equipment/EQ-CEN-02/take_out_of_service", {})
    assert refused.status_code == 422 and refused.json() == {
        "detail": "Give a reason to take out of service EQ-CEN-02 Centrifuge 2."}
    assert api("post", "/equipment/EQ-CEN-02/take_out_of_service", {"reason": "noise"}).json()["status"] == (
        "out_of_service")
    edited = api("patch", "/equipment/EQ-CEN-02", {"serial_number": "SN-9", "reason": "nameplate"})
    assert edited.status_code == 200 and edited.json()["serial_number"] == "SN-9"


def test_a_failed_calibration_over_the_api_reports_the_deviation(api, cabinet):
    response = api("post", "/equipment/EQ-BSC-01/calibrations", {"result": "fail", "as_found": "0.21 m/s"})
    assert response.status_code == 201
    body = response.json()
    assert body["equipment_status"] == "out_of_service" and body["deviation_number"].startswith("DEV-")
    assert api("get", "/equipment/EQ-BSC-01/calibrations").json()["count"] == 2


def test_logs_cleaning_maintenance_and_use(api, cabinet, operator):
    assert api("post", "/equipment/EQ-BSC-01/maintenance", {"kind": "preventive", "description": "PM"}
               ).status_code == 201
    use = as_user(operator)("post", "/equipment/EQ-BSC-01/uses", {"used_for_label": "HLX-B-0007"})
    assert use.status_code == 201
    refused = as_user(operator)("post", "/equipment/EQ-BSC-01/uses", {"used_for_label": "HLX-B-0008"})
    assert refused.status_code == 422 and "it is not clean" in refused.json()["detail"]
    ended = as_user(operator)("post", f"/equipment/EQ-BSC-01/uses/{use.json()['id']}/end")
    assert ended.status_code == 200 and ended.json()["ended_at"]
    assert api("post", "/equipment/EQ-BSC-01/cleanings", {"agent": "IPA"}).status_code == 201
    for log in ("uses", "cleanings", "maintenance"):
        assert api("get", f"/equipment/EQ-BSC-01/{log}").json()["count"] >= 1


def test_rooms_their_status_and_cleanings(api, room, operator):
    board = api("get", "/rooms").json()
    assert board["items"][0]["rotation_warning"] == "No sporicidal agent has been used in this room yet."
    assert api("post", "/rooms", {"area": "CT", "code": "A-BSC-1", "name": "BSC zone", "grade": "A"}
               ).json()["iso_class_in_operation"] == 5
    refused = api("post", "/rooms/B-101/status", {"status": "in_operation"})
    assert refused.status_code == 422 and "Give a reason" in refused.json()["detail"]
    assert api("post", "/rooms/B-101/status", {"status": "in_operation", "reason": "campaign"}).json()[
        "status_label"] == "In operation"
    assert as_user(operator)("post", "/rooms/B-101/cleanings", {"agent": "H2O2", "agent_type": "sporicidal",
                                                                "agent_lot": "SP-1"}).status_code == 201
    assert api("get", "/rooms/B-101").json()["rotation_warning"] is None
    assert api("get", "/sites").json()[0]["areas"] == [{"code": "CT", "name": "Cell therapy suites"}]


def test_line_clearance_performed_and_verified_by_two_people(api, operator, supervisor, room):
    created = as_user(operator)("post", "/line-clearances", {"room": "B-101", "for_record": "HLX-B-0007",
                                                               "checks": CLEAR})
    assert created.status_code == 201
    number = created.json()["number"]
    assert as_user(operator)("post", f"/line-clearances/{number}/perform",
                             {"username": "op.olsen", "password": PASSWORD}).json()["status"] == "performed"
    verified = api("post", f"/line-clearances/{number}/verify", {"username": "sup.santos", "password": PASSWORD})
    assert verified.json()["status_label"] == "Verified"
    assert api("get", "/line-clearances?status=verified").json()["count"] == 1


BAD = [
    ("post", "/rooms", {"area": "CT", "code": "E-1", "name": "E", "grade": "E"}, 422, "not a cleanroom grade"),
    ("post", "/rooms", {"area": "ZZ", "code": "E-1", "name": "E", "grade": "B"}, 404, "No area matches"),
    ("post", "/equipment", {"number": "EQ-X", "name": "X", "kind": "pipette", "calibration_interval_days": -1},
     422, "must be between 1 and 36500 days"),
    ("post", "/equipment", {"number": "EQ-X", "name": "X", "kind": "pipette", "iq_date": "2026-02-10",
                            "oq_date": "2026-02-01"}, 422, "The OQ date (2026-02-01) is before the IQ date"),
    ("post", "/equipment", {"number": "EQ-BSC-01", "name": "X", "kind": "pipette"}, 409, "is taken"),
    ("post", "/equipment", {"number": "EQ-X", "name": "X", "kind": "pipette", "room": "NOPE"}, 404,
     "No room matches"),
    ("post", "/equipment", {"number": "EQ-X", "name": "X", "kind": "pipette", "iq_date": "yesterday"}, 422, None),
    ("get", "/equipment/EQ-NONE", None, 404, "No equipment matches"),
    ("get", "/equipment/EQ-BSC-01/usability?at=2026-03-02T08:30:00", None, 422, "with its zone"),
    ("post", "/equipment/EQ-BSC-01/calibrations", {"result": "ok"}, 422, "must be one of: pass, fail"),
    ("post", "/equipment/EQ-BSC-01/explode", {}, 422, None),
    ("post", "/equipment/EQ-BSC-01/uses/99999999999999999999/end", None, 404, "No equipment use matches"),
    ("post", "/equipment/EQ-BSC-01/uses/9223372036854775807/end", None, 404, None),
    ("post", "/equipment/EQ-BSC-01/release", {"username": "sup.santos", "password": PASSWORD}, 422, "it is In service"),
    ("post", "/line-clearances", {"room": "B-101", "for_record": "X", "checks": []}, 422, "at least one"),
    ("get", "/equipment-due?days=-1", None, 422, "0 to 3660 days"),
    ("patch", "/equipment/EQ-BSC-01", {"iq_date": "2026-01-01", "reason": "typo"}, 422, "being commissioned"),
]


@pytest.mark.parametrize(("method", "path", "data", "status", "detail"), BAD, ids=[f"{b[0]} {b[1]}" for b in BAD])
def test_bad_input_is_a_json_4xx_and_writes_nothing(api, cabinet, method, path, data, status, detail):
    before = writes()
    response = api(method, path, data)
    assert response.status_code == status, response.content[:500]
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["detail"]
    if detail:
        assert detail in body["detail"]
    assert writes() == before


def test_reads_need_facilities_view_and_writes_their_own_permission(make_user, operator, cabinet):
    viewer = as_user(make_user("acme.viewer", Role.SPONSOR_VIEWER))
    for path in ("/equipment", "/equipment/EQ-BSC-01", "/rooms", "/line-clearances", "/equipment-due", "/sites"):
        response = viewer("get", path)
        assert response.status_code == 403 and "facilities.view" in response.json()["detail"], path
    refused = as_user(operator)("post", "/equipment/EQ-BSC-01/calibrations", {"result": "pass"})
    assert refused.status_code == 403 and refused.json() == {
        "detail": "You do not have the permission to do this (facilities.calibrate)."}
    anonymous = Client().get("/api/v1/equipment")
    assert anonymous.status_code == 401 and anonymous.json()["detail"]
