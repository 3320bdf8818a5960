"""Every facilities API operation: anonymous → 401 with a JSON detail; without the permission →
403 with a JSON detail; with it → the resource (personal API token). Run against the facilities
router mounted as the project mounts it (tests/facilities/api_urls.py)."""

import pytest

from opencdmo.core.domain.roles import Role
from opencdmo.facilities import services
from opencdmo.facilities.models import EquipmentUse
from tests.conftest import PASSWORD
from tests.web.viewtests import PermissionApiTest

from .factories import CLEAR

pytestmark = [pytest.mark.urls("tests.facilities.api_urls"), pytest.mark.req("P11-1d")]

REFERENCES = {"code": "B-101", "number": "EQ-TW-01", "action": "take_out_of_service"}


@pytest.fixture(autouse=True)
def world(supervisor, operator, room, make_equipment):
    """Room B-101; tube welder EQ-TW-01 in service with a use in progress; line clearance LC-2026-0001."""
    welder = make_equipment("EQ-TW-01", name="Sterile tube welder", kind="tube_welder")
    services.log_equipment_use(operator, welder, used_for_label="HLX-B-0007")
    services.start_line_clearance(operator, room=room, for_record="HLX-B-0007", checks=CLEAR)


class _Api(PermissionApiTest):
    roles = (Role.OPERATOR,)
    refused_roles = (Role.SPONSOR_VIEWER,)
    references: dict = {}

    def url(self, world):
        refs = REFERENCES | {"number": "LC-2026-0001"} if "line-clearances" in self.operation[1] else REFERENCES
        refs = refs | {"use_id": EquipmentUse.objects.get(ended_at=None).pk} | self.references
        return "/api/v1" + self.operation[1].format(**refs)


class _Write(_Api):
    roles = (Role.SUPERVISOR,)
    refused_roles = (Role.OPERATOR,)
    body: dict = {}

    def data(self, world, user):
        return self.body


class _Signed(_Write):
    def data(self, world, user):
        return {"username": user.username, "password": PASSWORD, "reason": "API access test", **self.body}


class TestSites(_Api):
    operation = ("GET", "/sites")


class TestCreateSite(_Write):
    operation = ("POST", "/sites")
    status = 201
    body = {"code": "S2", "name": "Second site"}


class TestCreateArea(_Write):
    operation = ("POST", "/areas")
    status = 201
    body = {"site": "S1", "code": "VV", "name": "Viral vector suites"}


class TestRooms(_Api):
    operation = ("GET", "/rooms")


class TestCreateRoom(_Write):
    operation = ("POST", "/rooms")
    status = 201
    body = {"area": "CT", "code": "C-201", "name": "AAV upstream", "grade": "C"}


class TestRoom(_Api):
    operation = ("GET", "/rooms/{code}")


class TestRoomStatus(_Write):
    operation = ("POST", "/rooms/{code}/status")
    body = {"status": "in_operation", "reason": "campaign HLX-101"}


class TestRoomCleanings(_Api):
    operation = ("GET", "/rooms/{code}/cleanings")


class TestRecordRoomCleaning(_Write):
    operation = ("POST", "/rooms/{code}/cleanings")
    roles = (Role.OPERATOR,)
    refused_roles = (Role.QC_ANALYST,)
    status = 201
    body = {"agent": "H2O2/PAA", "agent_type": "sporicidal", "agent_lot": "SP-1"}


class TestLineClearances(_Api):
    operation = ("GET", "/line-clearances")


class TestStartLineClearance(_Write):
    operation = ("POST", "/line-clearances")
    roles = (Role.OPERATOR,)
    refused_roles = (Role.QC_ANALYST,)
    status = 201
    body = {"room": "B-101", "for_record": "HLX-B-0008", "checks": CLEAR}


class TestLineClearance(_Api):
    operation = ("GET", "/line-clearances/{number}")


class TestRecordChecks(TestStartLineClearance):
    operation = ("POST", "/line-clearances/{number}/checks")
    status = 200
    body = {"checks": CLEAR, "comments": "floor cleaned again"}


class TestLineClearanceAction(_Signed):
    operation = ("POST", "/line-clearances/{number}/{action}")
    roles = (Role.OPERATOR,)
    refused_roles = (Role.QC_ANALYST,)
    references = {"action": "perform"}


class TestEquipmentList(_Api):
    operation = ("GET", "/equipment")


class TestRegisterEquipment(_Write):
    operation = ("POST", "/equipment")
    status = 201
    body = {"number": "EQ-CEN-02", "name": "Centrifuge 2", "kind": "centrifuge", "room": "B-101"}


class TestEquipmentDue(_Api):
    operation = ("GET", "/equipment-due")


class TestEquipment(_Api):
    operation = ("GET", "/equipment/{number}")


class TestEditEquipment(_Write):
    operation = ("PATCH", "/equipment/{number}")
    body = {"serial_number": "SN-4711", "reason": "from the nameplate"}


class TestUsability(_Api):
    operation = ("GET", "/equipment/{number}/usability")


class TestCalibrations(_Api):
    operation = ("GET", "/equipment/{number}/calibrations")


class TestRecordCalibration(_Write):
    operation = ("POST", "/equipment/{number}/calibrations")
    status = 201
    references = {"number": "EQ-BAL-01"}
    body = {"result": "pass", "as_found": "100.0001 g"}

    @pytest.fixture(autouse=True)
    def balance(self, make_equipment):
        make_equipment("EQ-BAL-01", name="Analytical balance", kind="balance", calibration_interval_days=30)


class TestMaintenance(_Api):
    operation = ("GET", "/equipment/{number}/maintenance")


class TestRecordMaintenance(_Write):
    operation = ("POST", "/equipment/{number}/maintenance")
    status = 201
    body = {"kind": "preventive", "description": "electrodes cleaned"}


class TestCleanings(_Api):
    operation = ("GET", "/equipment/{number}/cleanings")


class TestRecordCleaning(_Write):
    operation = ("POST", "/equipment/{number}/cleanings")
    roles = (Role.OPERATOR,)
    refused_roles = (Role.QC_ANALYST,)
    status = 201
    body = {"agent": "70 % IPA", "agent_lot": "IPA-1"}


class TestUses(_Api):
    operation = ("GET", "/equipment/{number}/uses")


class TestStartUse(_Write):
    operation = ("POST", "/equipment/{number}/uses")
    roles = (Role.QC_ANALYST,)
    refused_roles = (Role.SPONSOR_VIEWER,)
    status = 201
    body = {"used_for_label": "HLX-B-0008"}


class TestEndUse(_Api):
    operation = ("POST", "/equipment/{number}/uses/{use_id}/end")


class TestEquipmentAction(_Signed):
    operation = ("POST", "/equipment/{number}/{action}")
