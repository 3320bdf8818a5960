"""The complete batch record as JSON (P11-1b): it validates against its published schema
(draft 2020-12), a tampered export does not, the download is audited, and a sponsor's record is
never served to another sponsor."""

import copy
import json

import jsonschema
import pytest
from django.test import Client
from django.urls import reverse

from opencdmo.batches import selectors
from opencdmo.core.domain.roles import Role
from opencdmo.core.models import AuditEvent
from tests.web.conftest import records_a  # noqa: F401  (the shared view tests' world)
from tests.web.viewtests import PageTest, PermissionApiTest, PermissionPageTest

from .test_pages import batch_world
from .test_review import CORRECTED_VIABILITY, ORIGINAL_VIABILITY, executed

pytestmark = pytest.mark.req("P11-1b")


def validate(record: dict) -> None:
    jsonschema.validate(record, selectors.batch_record_schema(), cls=jsonschema.Draft202012Validator,
                        format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)


@pytest.fixture
def done(world):
    return executed(world)


def _entries(record: dict) -> list[dict]:
    return [e for stage in record["stages"] for step in stage["steps"] for e in step["entries"]]


def test_the_published_schema_is_a_valid_draft_2020_12_schema():
    jsonschema.Draft202012Validator.check_schema(selectors.batch_record_schema())


@pytest.mark.django_db
def test_the_export_validates_and_holds_the_whole_record(done):
    record = selectors.batch_record(done.batch)
    validate(record)
    assert record["format"] == "opencdmo-batch-record/1"
    assert (record["batch"]["number"], record["batch"]["status"], record["batch"]["patient_reference"][:7]) == (
        done.batch.number, "completed", "CHA9999")  # the patient's chain of identity identifier
    assert [s["key"] for stage in record["stages"] for s in stage["steps"]] == ["A1", "A2", "B1", "B2", "B3"]
    viability = [e for e in _entries(record) if e["parameter"] == "viability"]
    original, correction = viability
    assert (original["value"], original["corrected_by"], original["changed_since_original"]) == (
        ORIGINAL_VIABILITY, correction["id"], True)
    assert (correction["value"], correction["corrects"], correction["correction_reason"]) == (
        CORRECTED_VIABILITY, original["id"], "Transcription error: the counter printout reads 92.5 %.")
    cells = next(e for e in _entries(record) if e["parameter"] == "viable_cells")
    assert [(s["meaning"], s["printed_name"], s["valid"]) for s in cells["signatures"]] == [
        ("Verified", done.second_operator.full_name, True)]
    assert cells["normal"]["low"] == "1E+8" and cells["outcome"] == "outside_normal"
    a1 = record["stages"][0]["steps"][0]
    # A1 was corrected after it was signed 'Performed': its signature shows as no longer valid.
    assert [(s["meaning"], s["valid"]) for s in a1["signatures"]] == [("Performed", False)]
    b1 = record["stages"][1]["steps"][0]
    assert [m["lot"] for m in b1["materials"]] == [done.lot.number]
    assert [q["equipment"] for q in b1["equipment"]] == [done.equipment.number]
    assert {x["kind"] for x in record["exceptions"]} >= {"outside_normal", "outside_acceptable", "correction",
                                                          "skipped_step", "override"}
    assert [o["signatures"][0]["meaning"] for o in record["overrides"]] == ["Approved"]
    assert [s["meaning"] for s in record["signatures"]] == ["Performed"]


@pytest.mark.django_db
def test_a_tampered_export_does_not_validate(done):
    record = selectors.batch_record(done.batch)
    tampered = [copy.deepcopy(record) for _ in range(4)]
    del tampered[0]["batch"]["sponsor"]
    tampered[1]["format"] = "opencdmo-batch-record/2"
    del _entries(tampered[2])[0]["recorded_by"]
    tampered[3]["stages"][0]["steps"][0]["signatures"][0]["content_hash"] = "not a hash"
    for bad in tampered:
        with pytest.raises(jsonschema.ValidationError):
            validate(bad)


@pytest.mark.django_db
def test_the_record_is_read_in_a_fixed_number_of_queries(done, django_assert_max_num_queries):
    with django_assert_max_num_queries(14):
        selectors.batch_record(done.batch)


@pytest.mark.django_db
def test_the_json_download_is_the_record_and_is_audited(done):
    client = Client()
    client.force_login(done.qa)
    response = client.get(reverse("batches:record_json", args=[done.batch.number]))
    assert response["Content-Type"] == "application/json"
    assert "attachment" in response["Content-Disposition"]
    validate(json.loads(response.content))
    event = AuditEvent.objects.filter(action="export").latest("id")
    assert (event.actor_id, event.record_label, json.loads(event.changes)["export"][1]["format"]) == (
        done.qa.pk, done.batch.number, "json")
    schema = client.get(reverse("batches:record_schema"))
    assert schema.json()["$id"].endswith("batch-record-1.schema.json")


@pytest.mark.django_db
def test_another_sponsors_user_gets_404(done, make_user, sponsor_b):
    client = Client()
    client.force_login(make_user("beta.viewer", Role.QA_SPECIALIST, sponsors=[sponsor_b]))
    assert client.get(reverse("batches:record_json", args=[done.batch.number])).status_code == 404
    assert client.get(f"/api/v1/batches/{done.batch.number}/record/json").status_code == 404


# --- Shared view tests -------------------------------------------------------------------------

class TestRecordJson(PermissionPageTest):
    route = "batches:record_json"
    roles = (Role.SPONSOR_VIEWER,)

    def url(self, world):
        return reverse(self.route, args=[batch_world(world).batch.number])


class TestRecordSchema(PageTest):
    route = "batches:record_schema"


class TestRecordJsonApi(PermissionApiTest):
    operation = ("GET", "/batches/{number}/record/json")
    roles = (Role.SPONSOR_VIEWER,)

    def url(self, world):
        return f"/api/v1/batches/{batch_world(world).batch.number}/record/json"
