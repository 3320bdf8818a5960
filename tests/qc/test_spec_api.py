"""Test methods and specifications over the HTTP API: the shared API tests for each operation
(P11-1d), refusals as JSON 4xx that change nothing, approval with a re-entered signature, and
sponsor segregation (404)."""

import pytest
from django.test import Client

from opencdmo.core.domain.roles import Role
from opencdmo.qc import models as qc_models
from tests.conftest import PASSWORD
from tests.web.conftest import bearer, records_a, records_b  # noqa: F401
from tests.web.viewtests import PermissionApiTest

from .test_specifications import approved_change, approved_spec_for_sponsor, draft_spec, lab_methods

pytestmark = pytest.mark.req("P11-1d")


def _cached(world, name: str, build):
    if getattr(world, name, None) is None:
        setattr(world, name, build(world))
    return getattr(world, name)


def _draft(world) -> str:
    return _cached(world, "spec_draft", lambda w: draft_spec(w.author, w.sponsor, code=f"{w.sponsor.code}-DRAFT").number)


def _approved(world) -> str:
    return _cached(world, "spec_approved", lambda w: approved_spec_for_sponsor(w.author, w.sponsor).number)


class _Api(PermissionApiTest):
    roles = (Role.QC_ANALYST,)
    number = staticmethod(lambda world: "")
    body = None

    def url(self, world):
        path = self.operation[1]
        if "{code}" in path:
            lab_methods()
            path = path.replace("{code}", "VIA")
        if "{number}" in path:
            path = path.replace("{number}", self.number(world))
        return "/api/v1" + path.replace("{action}", getattr(self, "action", ""))

    def data(self, world, user):
        return None if self.body is None else self.body(world, user)


class TestMethodsApi(_Api):
    operation = ("GET", "/qc/methods")


class TestMethodApi(_Api):
    operation = ("GET", "/qc/methods/{code}")


class TestCreateMethodApi(_Api):
    operation = ("POST", "/qc/methods")
    roles, refused_roles, status = (Role.QC_REVIEWER,), (Role.QC_ANALYST,), 201
    body = staticmethod(lambda world, user: {"code": "VCN-DDPCR", "name": "Vector copy number by ddPCR",
                                             "result_kind": "numeric", "unit": "copies/cell", "decimals": 2})


class TestSpecificationsApi(_Api):
    operation = ("GET", "/qc/specifications")


class TestSpecificationApi(_Api):
    operation = ("GET", "/qc/specifications/{number}")
    number = staticmethod(_draft)


def _new_spec(world, user):
    lab_methods()
    return {"code": "API-REL", "title": "Release by API", "stage": "release", "product": world.product_code,
            "criteria": [{"attribute": "Viability", "method": "VIA", "criterion": "at_least", "lower": "70.0"},
                         {"attribute": "Sterility", "method": "STER", "criterion": "not_detected",
                          "may_be_pending_at_release": True}]}


class TestCreateSpecificationApi(_Api):
    operation = ("POST", "/qc/specifications")
    roles, refused_roles, status = (Role.QA_SPECIALIST,), (Role.QC_ANALYST,), 201
    body = staticmethod(_new_spec)


class TestReviseSpecificationApi(_Api):
    operation = ("POST", "/qc/specifications/{number}/revise")
    roles, refused_roles, status = (Role.QA_SPECIALIST,), (Role.QC_ANALYST,), 201
    number = staticmethod(_approved)
    body = staticmethod(lambda world, user: {
        "change_control": _cached(world, "spec_change", lambda w: approved_change(w.sponsor).number),
        "reason": "Endotoxin limit tightened"})


class TestApproveSpecificationApi(_Api):
    operation = ("POST", "/qc/specifications/{number}/{action}")
    action = "approve"
    roles, refused_roles = (Role.QA_APPROVER,), (Role.QA_SPECIALIST,)
    number = staticmethod(_draft)
    body = staticmethod(lambda world, user: {"username": user.username, "password": PASSWORD})


# --- behaviour ------------------------------------------------------------------------------------

@pytest.fixture
def world(records_a):  # noqa: F811
    return records_a


@pytest.fixture
def other_world(records_b):  # noqa: F811
    return records_b


@pytest.mark.django_db
def test_created_specification_is_returned_with_its_limits(world, make_user):
    author = make_user("qa.api", Role.QA_SPECIALIST, sponsors=[world.sponsor])
    response = Client().post("/api/v1/qc/specifications", _new_spec(world, author), content_type="application/json",
                             headers=bearer(author))
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["status"], body["revision"], body["sponsor"], body["product"]) == (
        "draft", 1, world.sponsor.code, world.product_code)
    assert [c["limit"] for c in body["criteria"]] == ["≥ 70.0 %", "no growth"]
    assert body["criteria"][1]["may_be_pending_at_release"] is True


@pytest.mark.django_db
def test_a_refused_specification_is_a_422_naming_the_criterion_and_changes_nothing(world, make_user):
    author = make_user("qa.api", Role.QA_SPECIALIST, sponsors=[world.sponsor])
    payload = _new_spec(world, author)
    payload["criteria"][0].update(criterion="range", lower="80", upper="70")
    response = Client().post("/api/v1/qc/specifications", payload, content_type="application/json",
                             headers=bearer(author))
    assert response.status_code == 422
    assert "Criterion 1 (Viability): the lower limit 80 is above" in response.json()["detail"]
    assert not qc_models.Specification.objects.exists()
    payload = _new_spec(world, author)
    payload["criteria"][0]["criterion"] = "between"
    response = Client().post("/api/v1/qc/specifications", payload, content_type="application/json",
                             headers=bearer(author))
    assert response.status_code == 422


@pytest.mark.django_db
def test_duplicate_method_code_is_409(world, make_user):
    lab_methods()
    reviewer = make_user("qcr.api", Role.QC_REVIEWER, sponsors=[world.sponsor])
    response = Client().post("/api/v1/qc/methods", {"code": "via", "name": "Again", "result_kind": "numeric"},
                             content_type="application/json", headers=bearer(reviewer))
    assert response.status_code == 409
    assert "exists already" in response.json()["detail"]


@pytest.mark.django_db
def test_the_author_cannot_approve_by_api_and_a_wrong_password_is_refused(world, make_user):
    both = make_user("qa.both", Role.QA_SPECIALIST, Role.QA_APPROVER, sponsors=[world.sponsor])
    number = draft_spec(both, world.sponsor, code="OWN-REL").number
    url = f"/api/v1/qc/specifications/{number}/approve"
    response = Client().post(url, {"username": both.username, "password": PASSWORD},
                             content_type="application/json", headers=bearer(both))
    assert response.status_code == 422
    assert "you created" in response.json()["detail"]
    approver = make_user("qp.api", Role.QA_APPROVER, sponsors=[world.sponsor])
    response = Client().post(url, {"username": approver.username, "password": "wrong"},
                             content_type="application/json", headers=bearer(approver))
    assert response.status_code in (401, 403, 422)
    assert qc_models.Specification.objects.get(number=number).status == "draft"
    response = Client().post(url, {"username": approver.username, "password": PASSWORD},
                             content_type="application/json", headers=bearer(approver))
    assert response.status_code == 200
    assert (response.json()["status"], response.json()["status_label"]) == ("approved", "Approved (effective)")


@pytest.mark.django_db
def test_another_sponsors_user_gets_404(world, other_world, make_user):
    number = _draft(world)
    outsider = make_user("beta.qp", Role.QA_APPROVER, sponsors=[other_world.sponsor])
    client, headers = Client(), bearer(outsider)
    assert client.get(f"/api/v1/qc/specifications/{number}", headers=headers).status_code == 404
    response = client.post(f"/api/v1/qc/specifications/{number}/approve",
                           {"username": outsider.username, "password": PASSWORD}, content_type="application/json",
                           headers=headers)
    assert response.status_code == 404
    listed = client.get("/api/v1/qc/specifications", headers=headers).json()
    assert number not in str(listed)
