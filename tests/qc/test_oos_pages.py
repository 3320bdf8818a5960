"""Pages and API of OOS investigations (OOS-1, P11-1d): the shared view tests for every route and
operation; what the investigation page shows (the original result with its limit, every retest,
invalidated ones struck through with their reason, the deviation); QA-only invalidation over HTTP;
bad input refused with a message and nothing changed; another sponsor's user gets 404."""

import itertools
import uuid

import pytest
from django.test import Client
from django.urls import reverse

from opencdmo.core import services as core_services
from opencdmo.core.domain.roles import Role
from opencdmo.core.models import User
from opencdmo.qc import models as qc_models
from opencdmo.qc import services
from opencdmo.qc.models import OosInvestigation
from tests.conftest import PASSWORD
from tests.web.conftest import bearer, records_a, records_b, signed_in  # noqa: F401
from tests.web.viewtests import PermissionApiTest, PermissionPageTest

from .test_oos import answers, received_sample

pytestmark = [pytest.mark.req("OOS-1"), pytest.mark.req("P11-1d")]

_batches = itertools.count(1)


@pytest.fixture(autouse=True)
def _clock(fake_clock):
    return fake_clock


def _staff(sponsor, name: str, *roles) -> User:
    username = f"{name}.{sponsor.code.lower()}"
    return User.objects.filter(username=username).first() or core_services.create_user(
        None, username=username, full_name=name.replace(".", " ").title(), password=PASSWORD,
        roles=[r.value for r in roles], sponsor_ids=[sponsor.pk])


def _failing(sponsor) -> qc_models.TestResult:
    analyst = _staff(sponsor, "oos.analyst", Role.QC_ANALYST)
    sample = received_sample(analyst, sponsor, f"B-PAGE-{next(_batches):04d}")
    return services.enter_result(analyst, sample, sample.tests.get(), value="58.3", submission_id=uuid.uuid4().hex)


def _investigation(world, stage: str = "phase_1") -> str:
    """One investigation of the world's sponsor per stage: phase_1 (open), cause (Phase I with a
    laboratory cause documented), no_cause (Phase I done, none found), phase_2, documented (Phase II
    written, ready to close)."""
    cache = world.__dict__.setdefault("oos", {})
    if stage not in cache:
        inv = _failing(world.sponsor).investigation
        reviewer = _staff(world.sponsor, "oos.reviewer", Role.QC_REVIEWER)
        if stage == "cause":
            services.record_phase_one(reviewer, inv, answers=answers(finding="Pipette out of calibration"),
                                      assignable_cause="Pipette P200-03 out of calibration")
        elif stage != "phase_1":
            services.record_phase_one(reviewer, inv, answers=answers())
        if stage in ("phase_2", "documented"):
            services.transition_investigation(reviewer, inv, "escalate")
        if stage == "documented":
            services.record_phase_two(reviewer, inv, production_review="Batch record reviewed: in order",
                                      batch_impact="This batch only")
        cache[stage] = inv.number
    return cache[stage]


def _signed(user, **extra) -> dict:
    return {"username": user.username, "password": PASSWORD, **extra}


# --- The shared view tests, one class per route --------------------------------------------------

class _Page(PermissionPageTest):
    roles = (Role.QC_ANALYST,)
    refused_roles = ()
    args = staticmethod(lambda world: ())

    def url(self, world):
        return reverse(self.route, args=self.args(world))


class TestInvestigationList(_Page):
    route = "qc:investigations"


class TestInvestigationPage(_Page):
    route = "qc:investigation"
    args = staticmethod(lambda world: (_investigation(world),))


class _Step(_Page):
    route = "qc:investigation_step"
    method = "POST"
    status = 302
    stage = "phase_1"
    step = ""

    def url(self, world):
        return reverse(self.route, args=(_investigation(world, self.stage), self.step))


class TestRecordingPhaseOne(_Step):
    roles = (Role.QC_REVIEWER,)
    refused_roles = (Role.QC_ANALYST,)
    step = "phase-one"

    def data(self, world, user):
        return {"answer_calculations": "yes", "note_calculations": "checked twice"}


class TestEscalating(_Step):
    roles = (Role.QC_REVIEWER,)
    refused_roles = (Role.QC_ANALYST,)
    stage = "no_cause"
    step = "escalate"


class TestApprovingInvalidation(_Step):
    roles = (Role.QA_SPECIALIST,)
    refused_roles = (Role.QC_REVIEWER,)
    stage = "cause"
    step = "invalidate"

    def data(self, world, user):
        return _signed(user)


class TestRecordingPhaseTwo(_Step):
    roles = (Role.QC_REVIEWER,)
    refused_roles = (Role.QC_ANALYST,)
    stage = "phase_2"
    step = "phase-two"

    def data(self, world, user):
        return {"production_review": "Batch record and sampling reviewed", "batch_impact": "None on other batches"}


class TestClosing(_Step):
    roles = (Role.QA_APPROVER,)
    refused_roles = (Role.QA_SPECIALIST,)
    stage = "documented"
    step = "close"

    def data(self, world, user):
        return _signed(user, conclusion="confirmed", summary="OOS confirmed: the batch fails")


class _Api(PermissionApiTest):
    roles = (Role.QC_ANALYST,)
    refused_roles = ()
    stage = "phase_1"
    body = None

    def url(self, world):
        return "/api/v1" + self.operation[1].format(number=_investigation(world, self.stage))

    def data(self, world, user):
        return self.body(user) if self.body else None


class TestApiList(_Api):
    operation = ("GET", "/qc/oos-investigations")


class TestApiGet(_Api):
    operation = ("GET", "/qc/oos-investigations/{number}")


class TestApiPhaseOne(_Api):
    operation = ("POST", "/qc/oos-investigations/{number}/phase-one")
    roles = (Role.QC_REVIEWER,)
    refused_roles = (Role.QC_ANALYST,)
    body = staticmethod(lambda user: {"answers": [{"item": "method", "answer": "yes", "note": ""}]})


class TestApiPhaseTwo(_Api):
    operation = ("POST", "/qc/oos-investigations/{number}/phase-two")
    roles = (Role.QC_REVIEWER,)
    refused_roles = (Role.QC_ANALYST,)
    stage = "phase_2"
    body = staticmethod(lambda user: {"production_review": "Reviewed", "batch_impact": "None"})


class TestApiTransition(_Api):
    operation = ("POST", "/qc/oos-investigations/{number}/{action}")
    roles = (Role.QA_SPECIALIST,)
    refused_roles = (Role.QC_REVIEWER,)
    stage = "cause"
    body = staticmethod(lambda user: _signed(user))

    def url(self, world):
        return "/api/v1" + self.operation[1].format(number=_investigation(world, self.stage), action="invalidate")


# --- What the pages show and refuse -------------------------------------------------------------

@pytest.mark.django_db
def test_investigation_page_shows_every_result_with_limit_and_the_struck_through_original(records_a, make_user):  # noqa: F811
    number = _investigation(records_a, "cause")
    inv = OosInvestigation.objects.get(number=number)
    qa = make_user("qa.person", Role.QA_SPECIALIST, sponsors=[records_a.sponsor])
    client = signed_in(qa)
    response = client.post(reverse("qc:investigation_step", args=[number, "invalidate"]), _signed(qa))
    assert response.status_code == 302
    original = inv.result
    original.refresh_from_db()
    assert original.status == "invalidated"
    analyst = _staff(records_a.sponsor, "oos.analyst", Role.QC_ANALYST)
    services.enter_result(analyst, original.sample, original.test, value="77.7", submission_id=uuid.uuid4().hex,
                          retest_of=original)

    body = signed_in(analyst).get(reverse("qc:investigation", args=[number])).content.decode()
    assert "58.3" in body and "77.7" in body  # the original and the retest
    assert "≥ 70.0 %" in body or "70.0" in body  # the limit
    assert 'class="invalidated"' in body and "Pipette P200-03" in body  # struck through, with its reason
    assert original.sample.number in body and original.sample.subject_label in body
    assert "allows 1 retest" in body  # no further retest


@pytest.mark.django_db
def test_escalation_links_the_deviation_on_the_page(records_a):  # noqa: F811
    number = _investigation(records_a, "phase_2")
    inv = OosInvestigation.objects.get(number=number)
    analyst = _staff(records_a.sponsor, "oos.analyst", Role.QC_ANALYST)
    body = signed_in(analyst).get(reverse("qc:investigation", args=[number])).content.decode()
    assert reverse("quality:deviation", args=[inv.deviation.number]) in body


@pytest.mark.django_db
@pytest.mark.parametrize("role", [Role.QC_ANALYST, Role.QC_REVIEWER])
def test_only_qa_invalidates_over_http(records_a, make_user, role):  # noqa: F811
    number = _investigation(records_a, "cause")
    user = make_user("not.qa", role, sponsors=[records_a.sponsor])
    response = signed_in(user).post(reverse("qc:investigation_step", args=[number, "invalidate"]), _signed(user))
    assert response.status_code == 403
    assert "qc.approve_invalidation" in response.content.decode()
    api = Client().post(f"/api/v1/qc/oos-investigations/{number}/invalidate", _signed(user),
                        content_type="application/json", headers=bearer(user))
    assert api.status_code == 403
    assert OosInvestigation.objects.get(number=number).status == "phase_1"


@pytest.mark.django_db
def test_incomplete_checklist_is_refused_on_the_page_with_a_message(records_a, make_user):  # noqa: F811
    number = _investigation(records_a, "phase_1")
    reviewer = make_user("page.reviewer", Role.QC_REVIEWER, sponsors=[records_a.sponsor])
    response = signed_in(reviewer).post(reverse("qc:investigation_step", args=[number, "escalate"]), {})
    assert response.status_code == 422
    body = response.content.decode()
    assert 'role="alert"' in body and "Answer every Phase I checklist item" in body
    assert OosInvestigation.objects.get(number=number).status == "phase_1"


@pytest.mark.django_db
def test_bad_input_is_a_clear_4xx_and_changes_nothing(records_a, make_user):  # noqa: F811
    number = _investigation(records_a, "phase_1")
    reviewer = make_user("page.reviewer", Role.QC_REVIEWER, sponsors=[records_a.sponsor])
    version = OosInvestigation.objects.get(number=number).version
    page = signed_in(reviewer).post(reverse("qc:investigation_step", args=[number, "phase-one"]),
                                    {"answer_method": "perhaps"})
    assert page.status_code == 422 and "yes, no or n.a." in page.content.decode()
    api = Client().post(f"/api/v1/qc/oos-investigations/{number}/phase-one",
                        {"answers": [{"item": "coffee", "answer": "yes"}]}, content_type="application/json",
                        headers=bearer(reviewer))
    assert api.status_code == 422
    unknown = signed_in(reviewer).post(reverse("qc:investigation_step", args=[number, "delete"]), {})
    assert unknown.status_code == 404
    assert OosInvestigation.objects.get(number=number).version == version


@pytest.mark.django_db
def test_close_over_the_api_needs_a_conclusion(records_a, make_user):  # noqa: F811
    number = _investigation(records_a, "documented")
    qp = make_user("api.qp", Role.QA_APPROVER, sponsors=[records_a.sponsor])
    url = f"/api/v1/qc/oos-investigations/{number}/close"
    missing = Client().post(url, _signed(qp), content_type="application/json", headers=bearer(qp))
    assert missing.status_code == 422 and "conclusion" in missing.json()["detail"]
    done = Client().post(url, _signed(qp, conclusion="confirmed"), content_type="application/json",
                         headers=bearer(qp))
    assert done.status_code == 200, done.content
    assert done.json()["conclusion"] == "confirmed"
    assert [r["is_original"] for r in done.json()["results"]] == [True]
    assert done.json()["results"][0]["status"] != "invalidated"


@pytest.mark.django_db
def test_another_sponsors_user_gets_404_on_page_and_api(records_a, records_b, make_user):  # noqa: F811
    number = _investigation(records_a, "phase_1")
    outsider = make_user("beta.person", Role.QA_APPROVER, Role.QA_SPECIALIST, Role.QC_REVIEWER,
                         sponsors=[records_b.sponsor])
    client = signed_in(outsider)
    assert client.get(reverse("qc:investigation", args=[number])).status_code == 404
    assert client.post(reverse("qc:investigation_step", args=[number, "phase-one"]),
                       {"answer_method": "yes"}).status_code == 404
    listing = client.get(reverse("qc:investigations")).content.decode()
    assert number not in listing
    api = Client().get(f"/api/v1/qc/oos-investigations/{number}", headers=bearer(outsider))
    assert api.status_code == 404
    api_list = Client().get("/api/v1/qc/oos-investigations", headers=bearer(outsider, "list"))
    assert number not in api_list.content.decode()


@pytest.mark.django_db
def test_list_shows_open_first_with_phase_badges(records_a, make_user):  # noqa: F811
    closed = _investigation(records_a, "cause")
    qa = _staff(records_a.sponsor, "oos.qa", Role.QA_SPECIALIST)
    from tests.factories import signature  # noqa: PLC0415

    services.transition_investigation(qa, OosInvestigation.objects.get(number=closed), "invalidate",
                                      signature=signature(qa, "Approved"))
    open_one = _investigation(records_a, "phase_2")
    viewer = make_user("list.viewer", Role.QC_ANALYST, sponsors=[records_a.sponsor])
    body = signed_in(viewer).get(reverse("qc:investigations")).content.decode()
    assert body.index(open_one) < body.index(closed)
    assert "badge-phase_2" in body and "badge-closed" in body
    filtered = signed_in(viewer).get(reverse("qc:investigations") + "?status=open").content.decode()
    assert open_one in filtered and closed not in filtered


@pytest.mark.django_db
def test_list_sorts_by_a_column(records_a, make_user):  # noqa: F811
    first = _investigation(records_a, "phase_1")
    second = _investigation(records_a, "phase_2")
    viewer = make_user("sort.viewer", Role.QC_ANALYST, sponsors=[records_a.sponsor])
    ascending = signed_in(viewer).get(reverse("qc:investigations") + "?sort=number").content.decode()
    descending = signed_in(viewer).get(reverse("qc:investigations") + "?sort=-number").content.decode()
    assert ascending.index(first) < ascending.index(second)
    assert descending.index(second) < descending.index(first)
    assert 'aria-sort="ascending"' in ascending
