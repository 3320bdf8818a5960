"""The batch API: the shared view tests for every operation, sponsor segregation, the execution
path end to end, interlocks answered with what QA would override, and idempotent retries
(P11-1d, P11-1f, P11-1g)."""

import pytest
from django.test import Client

from opencdmo.batches import services
from opencdmo.batches.models import BatchEntry, BatchException
from opencdmo.core.domain.roles import Role
from opencdmo.core.models import AuditEvent
from opencdmo.quality.models import Deviation
from tests.conftest import PASSWORD
from tests.web.conftest import bearer, records_a  # noqa: F401
from tests.web.viewtests import PermissionApiTest

from . import builders
from .test_pages import PERMITTED, batch_world

pytestmark = pytest.mark.req("P11-1d")


def _credentials(user) -> dict:
    return {"username": user.username, "password": PASSWORD}


class _Api(PermissionApiTest):
    roles = (Role.OPERATOR,)
    refused_roles = (Role.QC_ANALYST,)  # reads batches, may not execute them
    body: dict | None = None

    def url(self, world):
        built = batch_world(world)
        entry = getattr(self, "entry", None)
        return "/api/v1" + self.operation[1].format(
            number=built.batch.number, key="A1", action="hold", entry_id=entry(built) if entry else 0)

    def data(self, world, user):
        return self.body


def _recorded(parameter: str, value: str):
    def recorded(world) -> int:
        return services.record_entry(world.operator, world.batch, "A1", parameter, value=value,
                                              submission_id=builders.submission()).pk
    return recorded


class TestApiBatches(_Api):
    operation = ("GET", "/batches")
    refused_roles = ()


class TestApiBatch(_Api):
    operation = ("GET", "/batches/{number}")
    refused_roles = ()


class TestApiStep(_Api):
    operation = ("GET", "/batches/{number}/steps/{key}")
    refused_roles = ()


class TestApiCreateBatch(_Api):
    operation = ("POST", "/batches")
    roles = (Role.PLANNER,)
    refused_roles = (Role.OPERATOR,)
    status = 201

    def data(self, world, user):
        built = batch_world(world)
        return {"mbr_version": built.version.number, "scale": "1", "room": built.room.code,
                "patient_reference": builders.therapy(built), "planned_start": "2026-03-16"}


class TestApiTransition(_Api):
    operation = ("POST", "/batches/{number}/{action}")
    roles = (Role.SUPERVISOR,)
    refused_roles = (Role.OPERATOR,)  # executes, may not put a batch on hold
    body = {"reason": "Incubator alarm: batch held until the cause is known."}


class TestApiStartStep(_Api):
    operation = ("POST", "/batches/{number}/steps/{key}/start")  # A1 is in progress: the retried start


class TestApiRecordEntry(_Api):
    operation = ("POST", "/batches/{number}/steps/{key}/entries")
    status = 201

    def data(self, world, user):
        return {"parameter": "bag_intact", "value": "yes", "submission_id": builders.submission()}


class TestApiCorrectEntry(_Api):
    operation = ("POST", "/batches/{number}/entries/{entry_id}/corrections")
    entry = staticmethod(_recorded("viability", "95.0"))
    status = 201

    def data(self, world, user):
        return {"value": "92.0", "reason": "Read from the wrong counter line.", "submission_id": builders.submission()}


class TestApiVerifyEntry(_Api):
    operation = ("POST", "/batches/{number}/entries/{entry_id}/verification")
    entry = staticmethod(_recorded("viable_cells", "3e8"))

    def data(self, world, user):
        return _credentials(user)


class TestApiScanEquipment(_Api):
    operation = ("POST", "/batches/{number}/steps/{key}/equipment")
    status = 422  # A1 needs no equipment: the interlock refuses it, naming what QA would override

    def data(self, world, user):
        return {"scanned": batch_world(world).equipment.number, "submission_id": builders.submission()}


class TestApiUseMaterial(_Api):
    operation = ("POST", "/batches/{number}/steps/{key}/materials")
    status = 422  # A1 has no bill of materials

    def data(self, world, user):
        return {"line": 0, "lot": batch_world(world).lot.number, "submission_id": builders.submission()}


class TestApiTakeSample(_Api):
    operation = ("POST", "/batches/{number}/steps/{key}/samples")
    status = 422  # A1 has no sampling point SP-STER (A2 has)
    body = {"point": "SP-STER", "submission_id": "a2b4c6d8e0f2a4b6"}


class TestApiSkipStep(_Api):
    operation = ("POST", "/batches/{number}/steps/{key}/skip")
    status = 422  # A1 is not optional
    body = {"reason": "Not needed for this patient."}


class TestApiCompleteStep(_Api):
    operation = ("POST", "/batches/{number}/steps/{key}/complete")
    status = 422  # nothing recorded yet: the refusal says what the step lacks

    def data(self, world, user):
        return _credentials(user)


class TestApiOverride(_Api):
    operation = ("POST", "/batches/{number}/overrides")
    roles = (Role.QA_SPECIALIST,)
    refused_roles = (Role.OPERATOR,)
    status = 201

    def data(self, world, user):
        return {"step": "A1", "interlock": "equipment", "subject": "EQ-BSC-OLD", "refusal": "Calibration overdue.",
                "reason": "Recertified this morning; certificate follows.", **_credentials(user)}


# --- Sponsor segregation -------------------------------------------------------------------------

@pytest.mark.req("P11-1g")
def test_sponsor_b_user_gets_404_for_sponsor_a_batches(make_user, records_a, sponsor_b):  # noqa: F811
    number = batch_world(records_a).batch.number
    outsider = make_user("beta.all", Role.SUPERVISOR, Role.QA_SPECIALIST, sponsors=[sponsor_b])
    client, headers = Client(), bearer(outsider)
    for path in (f"/api/v1/batches/{number}", f"/api/v1/batches/{number}/steps/A1"):
        assert client.get(path, headers=headers).status_code == 404
    posted = client.post(f"/api/v1/batches/{number}/steps/A1/entries", content_type="application/json",
                         data={"parameter": "bag_intact", "value": "yes", "submission_id": builders.submission()},
                         headers=headers)
    assert posted.status_code == 404
    listing = client.get("/api/v1/batches", headers=headers).json()
    assert number not in {b["number"] for b in listing["items"]}


# --- The execution path --------------------------------------------------------------------------

class Caller:
    """One person calling the API with their token."""

    def __init__(self, user):
        self.client, self.headers, self.user = Client(), bearer(user), user

    def post(self, path: str, body: dict | None = None):
        return self.client.post("/api/v1" + path, data=body or {}, content_type="application/json",
                                headers=self.headers)

    def get(self, path: str):
        return self.client.get("/api/v1" + path, headers=self.headers)


def test_a_batch_is_executed_through_the_api(world):
    operator, second, qa = Caller(world.operator), Caller(world.second_operator), Caller(world.qa)
    batch = f"/batches/{world.batch.number}"
    assert operator.post(f"{batch}/start").json()["status"] == "in_progress"

    early = operator.post(f"{batch}/steps/B1/start")
    assert early.status_code == 422 and "A1" in early.json()["detail"]  # the order is enforced (P11-1f)

    assert operator.post(f"{batch}/steps/A1/start").json()["status"] == "in_progress"
    scanned = operator.post(f"{batch}/steps/A1/identity-scans", {"scanned": f"&/{world.batch.patient_reference}",
                                                                  "submission_id": builders.submission()})
    assert scanned.status_code == 201  # the apheresis bag is the patient's (ISBT-6)
    for parameter, value in (("bag_intact", "yes"), ("viable_cells", "3e8"), ("viability", "95.0")):
        answer = operator.post(f"{batch}/steps/A1/entries", {"parameter": parameter, "value": value,
                                                              "submission_id": builders.submission()})
        assert answer.status_code == 201 and answer.json()["outcome"] == "ok"
    cells = BatchEntry.objects.get(batch=world.batch, parameter="viable_cells")
    self_check = operator.post(f"{batch}/entries/{cells.pk}/verification", _credentials(world.operator))
    assert self_check.status_code == 422  # verifier ≠ performer
    verified = second.post(f"{batch}/entries/{cells.pk}/verification", _credentials(world.second_operator))
    assert verified.status_code == 200 and verified.json()["verified_by"] == world.second_operator.username
    done = operator.post(f"{batch}/steps/A1/complete", _credentials(world.operator))
    assert done.status_code == 200 and done.json()["status"] == "completed"

    detail = operator.get(batch).json()
    assert detail["available_steps"] == ["A2", "B1"]  # parallel branches
    assert operator.post(f"{batch}/steps/A2/skip", {"reason": "Sterility covered by the final product test."}) \
        .json()["status"] == "skipped"

    assert operator.post(f"{batch}/steps/B1/start").status_code == 200
    scan = operator.post(f"{batch}/steps/B1/equipment", {"scanned": world.equipment.number,
                                                         "submission_id": builders.submission()})
    assert scan.status_code == 201 and scan.json()["equipment"] == world.equipment.number
    lot = operator.post(f"{batch}/steps/B1/materials", {"line": 0, "lot": world.lot.number,
                                                        "submission_id": builders.submission()})
    assert lot.status_code == 201 and lot.json()["lot"] == world.lot.number
    step = operator.get(f"{batch}/steps/B1").json()
    assert [s["equipment"] for s in step["equipment"]] == [world.equipment.number]
    assert qa  # QA is not needed on the happy path


@pytest.mark.req("P11-1f")
def test_an_interlock_answers_422_with_what_qa_would_override(started):
    operator, qa = Caller(started.operator), Caller(started.qa)
    batch = f"/batches/{started.batch.number}"
    builders.run_step(started, "A1")
    operator.post(f"{batch}/steps/B1/start")
    refused = operator.post(f"{batch}/steps/B1/materials", {"line": 0, "lot": started.lot.number + "X",
                                                            "submission_id": builders.submission()})
    assert refused.status_code == 404  # no such lot: not an interlock
    from tests.facilities.factories import equipment_in_service  # noqa: PLC0415
    incubator = equipment_in_service(started.supervisor, started.qa, number="EQ-INC-11", kind="incubator",
                                     room=started.room)
    refused = operator.post(f"{batch}/steps/B1/equipment", {"scanned": incubator.number,
                                                            "submission_id": builders.submission()})
    body = refused.json()
    assert refused.status_code == 422
    assert body["interlock"] == "equipment" and body["subject"] == incubator.number and body["step"] == "B1"
    assert "needs" in body["detail"]
    override = qa.post(f"{batch}/overrides", {"step": body["step"], "interlock": body["interlock"],
                                              "subject": body["subject"], "refusal": body["detail"],
                                              "reason": "Qualified for this use by QA memo 12.",
                                              **_credentials(started.qa)})
    assert override.status_code == 201 and override.json()["overridden_by"] == started.qa.username
    assert BatchException.objects.filter(batch=started.batch, kind="override").count() == 1
    again = operator.post(f"{batch}/steps/B1/equipment", {"scanned": incubator.number,
                                                          "submission_id": builders.submission()})
    assert again.status_code == 201


def test_a_retried_entry_returns_the_same_entry_and_writes_nothing(started):
    operator = Caller(started.operator)
    batch = f"/batches/{started.batch.number}"
    operator.post(f"{batch}/steps/A1/start")
    body = {"parameter": "viability", "value": "65.0", "submission_id": builders.submission(),
            "comment": "Long transport; cells look stressed."}  # outside the PAR: a deviation
    first = operator.post(f"{batch}/steps/A1/entries", body)
    events, deviations = AuditEvent.objects.count(), Deviation.objects.count()
    retried = operator.post(f"{batch}/steps/A1/entries", body)
    assert first.status_code == retried.status_code == 201
    assert retried.json() == first.json() and first.json()["outcome"] == "outside_acceptable"
    assert BatchEntry.objects.filter(batch=started.batch).count() == 1
    assert AuditEvent.objects.count() == events and Deviation.objects.count() == deviations == 1
    reused = operator.post(f"{batch}/steps/A1/entries", {**body, "parameter": "bag_intact", "value": "yes"})
    assert reused.status_code == 409  # the same submission id for other data


def test_a_signature_needs_both_user_id_and_password_through_the_api(started):
    operator = Caller(started.operator)
    batch = f"/batches/{started.batch.number}"
    operator.post(f"{batch}/steps/A1/start")
    refused = operator.post(f"{batch}/steps/A1/complete", {"password": PASSWORD})
    assert refused.status_code == 403 and "user ID" in refused.json()["detail"]


def test_the_permitted_user_of_the_shared_tests_is_covered_by_the_training_override(make_user, records_a):  # noqa: F811
    """The shared view tests' user is not trained on the world's SOP: QA's batch-wide override lets
    them work, so those tests reach the rule under test instead of the training interlock."""
    world = batch_world(records_a)
    user = make_user(PERMITTED, Role.OPERATOR, sponsors=[world.sponsor])
    answer = Client().post(f"/api/v1/batches/{world.batch.number}/steps/A1/entries", content_type="application/json",
                           data={"parameter": "bag_intact", "value": "yes", "submission_id": builders.submission()},
                           headers=bearer(user))
    assert answer.status_code == 201
