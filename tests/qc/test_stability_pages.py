"""Stability pages and API (issue 7, item 5): the shared view tests for every route and operation
(P11-1d), what the pages show (ICH Q5C default time points on the form, the pull schedule with its
badges, results by time point and a trend chart), and sponsor segregation (404 for another
sponsor's user; another sponsor's pulls are never listed as due)."""

import re

import pytest
from django.test import Client
from django.urls import reverse

from opencdmo.core import clock
from opencdmo.core.domain.roles import Role
from opencdmo.qc import services
from opencdmo.qc.models import Sample, StabilityPull, StabilityStudy
from tests.conftest import PASSWORD
from tests.web.conftest import bearer, records_a, records_b, signed_in  # noqa: F401
from tests.web.viewtests import PermissionApiTest, PermissionPageTest

from . import builders
from .test_stability import CONDITIONS, active_study, stability_people, stability_spec, study_for_sponsor

pytestmark = [pytest.mark.django_db, pytest.mark.req("P11-1d")]


@pytest.fixture(autouse=True)
def _site_clock(fake_clock):
    return fake_clock


def _cached(world, name: str, build):
    if getattr(world, name, None) is None:
        setattr(world, name, build(world))
    return getattr(world, name)


def _study(world) -> str:
    return _cached(world, "stability_study", lambda w: study_for_sponsor(None, w.sponsor, "pages"))


def _spec(world):
    return _cached(world, "stability_spec", lambda w: stability_spec(
        stability_people(w.sponsor, prefix="spec.")["reviewer"], w.sponsor))


def _due_pull(world) -> StabilityPull:
    """The 0-month pull of the sponsor's study: due today, its window open."""
    return StabilityStudy.objects.get(number=_study(world)).pulls.get(condition=CONDITIONS[0], months=0)


def _new_study_form(world) -> dict:
    return {"title": "Real-time stability, cryopreserved DP", "specification": str(_spec(world).pk),
            "subject_ref": "B-2026-0031", "start_date": "2026-03-02", "time_points": "0, 3, 6, 9, 12, 18, 24",
            "window_days": "7", "conditions": "≤ −150 °C vapour-phase LN2\n−80 °C"}


# --- The shared view tests, one class per route -------------------------------------------------

class _Page(PermissionPageTest):
    roles = (Role.QC_ANALYST,)
    refused_roles = ()
    args = staticmethod(lambda world: ())

    def url(self, world):
        return reverse(self.route, args=self.args(world))


class TestStabilityStudies(_Page):
    route = "qc:stability_studies"


class TestStabilityStudyForm(_Page):
    route = "qc:stability_study_new"
    roles = (Role.QC_REVIEWER,)
    refused_roles = (Role.QC_ANALYST,)


class TestCreatingStabilityStudy(TestStabilityStudyForm):
    method = "POST"
    status = 302

    def data(self, world, user):
        return _new_study_form(world)


class TestStabilityStudyPage(_Page):
    route = "qc:stability_study"
    args = staticmethod(lambda world: (_study(world),))


class TestPullingStabilitySample(_Page):
    route = "qc:stability_pull"
    method = "POST"
    status = 302
    refused_roles = (Role.QA_SPECIALIST,)
    args = staticmethod(lambda world: (_due_pull(world).pk,))

    def data(self, world, user):
        return {"quantity": "2", "unit": "vials"}


class TestStabilityPullsDue(_Page):
    route = "qc:stability_pulls_due"


class _Api(PermissionApiTest):
    roles = (Role.QC_ANALYST,)
    refused_roles = ()
    fill = staticmethod(lambda world: {})  # world → the values of the path's {placeholders}
    body = None  # world → the JSON body

    def url(self, world):
        return "/api/v1" + self.operation[1].format(**self.fill(world))

    def data(self, world, user):
        return self.body(world) if self.body else None


class TestApiStabilityStudies(_Api):
    operation = ("GET", "/qc/stability-studies")


class TestApiCreateStabilityStudy(_Api):
    operation = ("POST", "/qc/stability-studies")
    roles, refused_roles, status = (Role.QC_REVIEWER,), (Role.QC_ANALYST,), 201
    body = staticmethod(lambda world: {"title": "Accelerated stability 25 °C", "specification": _spec(world).number,
                                       "subject_ref": "B-2026-0032", "conditions": ["25 °C / 60 % RH"],
                                       "start_date": "2026-03-02", "shelf_life_months": 12})


class TestApiStabilityStudy(_Api):
    operation = ("GET", "/qc/stability-studies/{number}")
    fill = staticmethod(lambda world: {"number": _study(world)})


class TestApiStabilityPullsDue(_Api):
    operation = ("GET", "/qc/stability-pulls/due")


class TestApiPullStabilitySample(_Api):
    operation = ("POST", "/qc/stability-pulls/{pull_id}/pull")
    refused_roles, status = (Role.QA_SPECIALIST,), 201
    fill = staticmethod(lambda world: {"pull_id": _due_pull(world).pk})
    body = staticmethod(lambda world: {"quantity": "1.5", "unit": "mL"})


# --- What the pages do ---------------------------------------------------------------------------

def _text(response) -> str:
    return re.sub(r"\s+", " ", response.content.decode())


@pytest.fixture
def lab(sponsor_a):
    return stability_people(sponsor_a)


@pytest.mark.req("QC-8")
def test_new_study_form_suggests_ich_q5c_time_points(lab):
    page = _text(signed_in(lab["reviewer"]).get(reverse("qc:stability_study_new")))
    assert 'name="time_points" required value="0, 3, 6, 9, 12, 18, 24"' in page
    page = _text(signed_in(lab["reviewer"]).get(reverse("qc:stability_study_new") + "?shelf_life=36"))
    assert 'value="0, 3, 6, 9, 12, 18, 24, 36"' in page


def test_study_is_created_and_approved_through_the_pages(lab, sponsor_a):
    spec = stability_spec(lab["reviewer"], sponsor_a)
    client = signed_in(lab["reviewer"])
    form = {"title": "Real-time stability", "specification": str(spec.pk), "subject_ref": "B-2026-0040",
            "start_date": "2026-01-31", "time_points": "0, 1, 3", "window_days": "5", "conditions": "5 °C\n25 °C"}
    response = client.post(reverse("qc:stability_study_new"), form)
    study = StabilityStudy.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("qc:stability_study", args=[study.number])
    assert (study.conditions, study.time_points, study.window_days) == (["5 °C", "25 °C"], [0, 1, 3], 5)
    approver = signed_in(lab["qp"])
    response = approver.post(reverse("core:record_transition", args=["qc.stabilitystudy", study.number, "approve"]),
                             {"username": lab["qp"].username, "password": PASSWORD})
    assert response.status_code == 302
    page = _text(approver.get(reverse("qc:stability_study", args=[study.number])))
    assert "2026-02-28" in page  # 31 Jan + 1 month
    assert page.count('<tr id="pull-') == 6 and "Overdue: window closed" in page


def test_a_bad_protocol_is_refused_on_the_form_with_the_services_message(lab, sponsor_a):
    spec = stability_spec(lab["reviewer"], sponsor_a)
    response = signed_in(lab["reviewer"]).post(reverse("qc:stability_study_new"), {
        "title": "Bad", "specification": str(spec.pk), "subject_ref": "B-1", "start_date": "2026-03-02",
        "time_points": "0, 6, 3", "conditions": "5 °C"})
    assert response.status_code == 422 and 'role="alert"' in response.content.decode()
    assert "ascending" in response.content.decode() and not StabilityStudy.objects.exists()
    response = signed_in(lab["reviewer"]).post(reverse("qc:stability_study_new"), {
        "title": "Bad", "specification": str(spec.pk), "subject_ref": "B-1", "start_date": "2026-03-02",
        "time_points": "zero, three", "conditions": "5 °C"})
    assert response.status_code == 422 and "whole months" in response.content.decode()


def test_detail_page_shows_schedule_results_and_chart(lab, sponsor_a, fake_clock):
    study = active_study(lab, sponsor_a)
    client = signed_in(lab["analyst"])
    response = client.post(reverse("qc:stability_pull", args=[study.pulls.get(condition=CONDITIONS[0], months=0).pk]))
    assert response.status_code == 302
    point = study.pulls.get(condition=CONDITIONS[0], months=0)
    sample = services.receive_sample(lab["analyst"], point.sample, location="Stability chamber 1")
    services.enter_result(lab["analyst"], sample, study.specification.tests.get(attribute="Endotoxin"),
                          value="0.12", submission_id=builders.submission())
    page = _text(client.get(reverse("qc:stability_study", args=[study.number])))
    assert "Pulled on time" in page and sample.number in page
    assert "Due: window open" in page and "window opens 2026-03-26" in page  # 1-month pull not yet
    assert "0.12 EU/mL" in page and "≤ 0.50" in page
    assert page.count("<svg") >= 2  # viability and endotoxin are numbers; sterility has no chart
    assert "Upper limit 0.5 EU/mL" in page


def test_early_pull_is_refused_on_the_page(lab, sponsor_a):
    study = active_study(lab, sponsor_a)
    early = study.pulls.get(condition=CONDITIONS[0], months=1)
    response = signed_in(lab["analyst"]).post(reverse("qc:stability_pull", args=[early.pk]))
    assert response.status_code == 422 and "window opens 2026-03-26" in response.content.decode()
    assert not Sample.objects.exists()


def test_pulls_due_page_defaults_to_next_month(lab, sponsor_a):
    study = active_study(lab, sponsor_a, time_points=(0, 1, 3))
    page = _text(signed_in(lab["analyst"]).get(reverse("qc:stability_pulls_due")))
    assert "by 2026-04-30" in page
    assert page.count(f'>{study.number}</a>') == 4  # 0 and 1 month at two conditions; 3 months is June
    assert "2026-06-02" not in page
    page = _text(signed_in(lab["analyst"]).get(reverse("qc:stability_pulls_due") + "?until=2026-07-01"))
    assert "2026-06-02" in page
    response = signed_in(lab["analyst"]).get(reverse("qc:stability_pulls_due") + "?until=soon")
    assert response.status_code == 422 and "YYYY-MM-DD" in response.content.decode()


def test_api_pulls_due_and_pull(lab, sponsor_a):
    study = active_study(lab, sponsor_a)
    headers = bearer(lab["analyst"])
    due = Client().get("/api/v1/qc/stability-pulls/due", headers=headers).json()
    assert [(d["condition"], d["months"], d["state"]) for d in due] == [
        (CONDITIONS[0], 0, "due"), (CONDITIONS[1], 0, "due"), (CONDITIONS[0], 1, "upcoming"),
        (CONDITIONS[1], 1, "upcoming")]
    response = Client().post(f"/api/v1/qc/stability-pulls/{due[2]['id']}/pull", {}, content_type="application/json",
                             headers=headers)
    assert response.status_code == 422 and "window opens" in response.json()["detail"]
    response = Client().post(f"/api/v1/qc/stability-pulls/{due[0]['id']}/pull", {}, content_type="application/json",
                             headers=headers)
    assert response.status_code == 201 and response.json()["state"] == "on_time"
    again = Client().post(f"/api/v1/qc/stability-pulls/{due[0]['id']}/pull", {}, content_type="application/json",
                          headers=headers)
    assert again.status_code == 409
    detail = Client().get(f"/api/v1/qc/stability-studies/{study.number}", headers=headers).json()
    assert detail["pulls"][0]["sample"] == response.json()["sample"]
    assert Client().post("/api/v1/qc/stability-pulls/99999999999999/pull", {}, content_type="application/json",
                         headers=headers).status_code == 404


def test_api_create_uses_ich_q5c_points_by_default(lab, sponsor_a):
    spec = stability_spec(lab["reviewer"], sponsor_a)
    response = Client().post("/api/v1/qc/stability-studies", {
        "title": "Real-time", "specification": spec.number, "subject_ref": "B-9", "conditions": ["5 °C"],
        "start_date": "2026-03-02", "shelf_life_months": 24}, content_type="application/json",
        headers=bearer(lab["reviewer"]))
    assert response.status_code == 201, response.content
    assert response.json()["time_points"] == [0, 3, 6, 9, 12, 18, 24] and response.json()["status"] == "draft"
    bad = Client().post("/api/v1/qc/stability-studies", {
        "title": "Real-time", "specification": spec.number, "subject_ref": "B-9", "conditions": ["5 °C"],
        "start_date": "2026-03-02", "time_points": [0, 6, 3]}, content_type="application/json",
        headers=bearer(lab["reviewer"]))
    assert bad.status_code == 422 and "ascending" in bad.json()["detail"]


# --- Sponsor segregation ----------------------------------------------------------------------

def test_another_sponsors_user_gets_404_and_sees_no_pulls(records_a, records_b, make_user):  # noqa: F811
    number = _study(records_a)
    pull = _due_pull(records_a)
    other = make_user("beta.qc", Role.QC_REVIEWER, Role.QA_APPROVER, sponsors=[records_b.sponsor])
    client = signed_in(other)
    assert client.get(reverse("qc:stability_study", args=[number])).status_code == 404
    assert client.post(reverse("qc:stability_pull", args=[pull.pk])).status_code == 404
    assert number not in client.get(reverse("qc:stability_studies")).content.decode()
    assert number not in client.get(reverse("qc:stability_pulls_due") + "?until=2030-01-01").content.decode()
    headers = bearer(other)
    assert Client().get(f"/api/v1/qc/stability-studies/{number}", headers=headers).status_code == 404
    assert Client().post(f"/api/v1/qc/stability-pulls/{pull.pk}/pull", {}, content_type="application/json",
                         headers=headers).status_code == 404
    assert Client().get("/api/v1/qc/stability-pulls/due?until=2030-01-01", headers=headers).json() == []
    assert Client().get("/api/v1/qc/stability-studies", headers=headers).json()["count"] == 0
    response = Client().post("/api/v1/qc/stability-studies", {
        "title": "x", "specification": _spec(records_a).number, "subject_ref": "B-1", "conditions": ["5 °C"],
        "start_date": "2026-03-02"}, content_type="application/json", headers=headers)
    assert response.status_code == 422 and _spec(records_a).number in response.json()["detail"]
    pull.refresh_from_db()
    assert pull.pulled_at is None


def test_task_list_links_to_the_due_pull(lab, sponsor_a):
    study = active_study(lab, sponsor_a, start=clock.site_today())
    page = _text(signed_in(lab["analyst"]).get(reverse("core:home")))
    assert "Pull stability sample" in page and study.number in page


def test_study_is_completed_from_its_page_with_a_reason_when_pulls_are_outstanding(lab, sponsor_a):
    study = active_study(lab, sponsor_a, time_points=(0,), conditions=("5 °C",))
    client = signed_in(lab["reviewer"])
    page = _text(client.get(reverse("qc:stability_study", args=[study.number])))
    assert "Complete the study" in page
    url = reverse("core:record_transition", args=["qc.stabilitystudy", study.number, "complete"])
    refused = client.post(url, {"reason": ""})
    assert refused.status_code == 422 and "give a reason" in refused.content.decode()
    assert client.post(url, {"reason": "Batch consumed by the comparability study"}).status_code == 302
    study.refresh_from_db()
    assert study.status == "completed"
