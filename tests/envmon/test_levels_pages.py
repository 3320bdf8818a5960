"""Pages and API of alert and action levels and room classifications: the shared permission tests
for every route and operation (P11-1d), what the pages show, the Preview that saves nothing, and
bad input answered 4xx with nothing changed."""

import datetime as dt

import pytest
from django.test import Client
from django.urls import reverse

from opencdmo.core.domain.roles import Role
from opencdmo.envmon import selectors, services
from opencdmo.envmon.models import Classification, LevelSet
from tests.batches.builders import person
from tests.conftest import PASSWORD
from tests.factories import signature
from tests.web.conftest import bearer, records_a, signed_in  # noqa: F401
from tests.web.viewtests import PermissionApiTest, PermissionPageTest

from . import builders

pytestmark = pytest.mark.req("P11-1d")


def _cached(world, name: str, build):
    if getattr(world, name, None) is None:
        setattr(world, name, build(world))
    return getattr(world, name)


def _room(world):
    return _cached(world, "em_room", lambda w: builders.room("EM-PG1", grade="B", width="2", length="1"))


def _draft_levels(world) -> str:
    return _cached(world, "em_levels", lambda w: services.propose_levels(
        w.author, grade="B", sample_type="active_air", state="in_operation", method="manual", alert="5",
        action="8", rationale="PQ data").number)


def _reviewed_levels(world) -> str:
    def build(w):
        level_set = LevelSet.objects.get(number=_draft_levels(w))
        reviewer = person("em.reviewer", Role.QC_REVIEWER)
        return services.transition_level_set(reviewer, level_set, "review",
                                             signature=signature(reviewer, "Reviewed")).number
    return _cached(world, "em_reviewed", build)


def _planned(world) -> str:
    return _cached(world, "em_planned", lambda w: services.plan_classification(
        w.author, _room(w), state="in_operation").number)


def _read(world) -> str:
    def build(w):
        c = Classification.objects.get(number=_planned(w))
        counter = person("em.counter", Role.OPERATOR)
        for size in selectors.classification_sizes(c):
            services.record_reading(counter, c, point=1, size=size, volume_litres="6.9", count=2)
        return c.number
    return _cached(world, "em_read", build)


def _completed(world) -> str:
    return _cached(world, "em_completed", lambda w: services.complete_classification(
        w.author, Classification.objects.get(number=_read(w))).number)


class _Page(PermissionPageTest):
    roles = (Role.OPERATOR,)
    args = staticmethod(lambda world: ())
    body = None

    def url(self, world):
        return reverse(self.route, args=self.args(world))

    def data(self, world, user):
        return None if self.body is None else self.body(world)


class TestLevels(_Page):
    route = "envmon:levels"


class TestAnnex1(_Page):
    route = "envmon:annex1"


class TestLevel(_Page):
    route = "envmon:level"
    args = staticmethod(lambda world: (_draft_levels(world),))


class TestLevelForm(_Page):
    route = "envmon:level_new"
    roles = (Role.QC_REVIEWER,)
    refused_roles = (Role.OPERATOR,)


class TestProposingLevels(TestLevelForm):
    method = "POST"
    status = 302
    body = staticmethod(lambda world: {"grade": "C", "sample_type": "contact_plate", "state": "in_operation",
                                       "method": "manual", "alert": "10", "action": "20", "rationale": "PQ"})


class TestLevelEditForm(_Page):
    route = "envmon:level_edit"
    roles = (Role.QC_REVIEWER,)
    refused_roles = (Role.QC_ANALYST,)
    args = staticmethod(lambda world: (_draft_levels(world),))


class _OwnDraft:
    """Only a draft's author changes it (four eyes): the permitted user changes a draft of their own."""

    def permitted_user(self, make_user, world):
        user = super().permitted_user(make_user, world)
        world.em_levels = services.propose_levels(
            user, grade="B", sample_type="active_air", state="in_operation", method="manual", alert="5",
            action="8", rationale="PQ data").number
        return user


class TestChangingLevels(_OwnDraft, TestLevelEditForm):
    method = "POST"
    status = 302
    body = staticmethod(lambda world: {"alert": "4", "action": "7", "rationale": "Tighter"})


class TestClassifications(_Page):
    route = "envmon:classifications"


class TestClassificationForm(_Page):
    route = "envmon:classification_new"
    roles = (Role.QC_REVIEWER,)
    refused_roles = (Role.OPERATOR,)


class TestPlanningClassification(TestClassificationForm):
    method = "POST"
    status = 302
    body = staticmethod(lambda world: {"room": _room(world).code, "state": "at_rest"})


class TestClassification(_Page):
    route = "envmon:classification"
    args = staticmethod(lambda world: (_planned(world),))


class TestRecordingReading(_Page):
    route = "envmon:classification_reading"
    method = "POST"
    status = 302
    refused_roles = (Role.QA_APPROVER,)
    args = staticmethod(lambda world: (_planned(world),))
    body = staticmethod(lambda world: {"point": "1", "size": "0.5", "volume_litres": "6.9", "count": "3"})


class TestClassificationPdf(_Page):
    route = "envmon:classification_pdf"
    args = staticmethod(lambda world: (_completed(world),))


class _Api(PermissionApiTest):
    roles = (Role.OPERATOR,)
    number = staticmethod(lambda world: "")
    body = None

    def url(self, world):
        path = self.operation[1].replace("{number}", self.number(world))
        return "/api/v1" + path.replace("{action}", getattr(self, "action", ""))

    def data(self, world, user):
        return None if self.body is None else self.body(world, user)


def _signed(user, **extra):
    return {"username": user.username, "password": PASSWORD} | extra


class TestLevelSetsApi(_Api):
    operation = ("GET", "/envmon/level-sets")


class TestLevelSetApi(_Api):
    operation = ("GET", "/envmon/level-sets/{number}")
    number = staticmethod(_draft_levels)


class TestProposeLevelSetApi(_Api):
    operation = ("POST", "/envmon/level-sets")
    roles = (Role.QC_REVIEWER,)
    status = 201
    body = staticmethod(lambda world, user: {"grade": "B", "sample_type": "settle_plate", "state": "at_rest",
                                             "method": "manual", "alert": 2, "action": 4, "rationale": "PQ"})


class TestPreviewLevelSetApi(_Api):
    operation = ("POST", "/envmon/level-sets/preview")
    roles = (Role.QC_REVIEWER,)
    refused_roles = (Role.QA_APPROVER,)
    status = 422  # no history yet: the answer says so, and a permitted user gets that far
    body = staticmethod(lambda world, user: {"grade": "B", "sample_type": "settle_plate", "state": "at_rest",
                                             "method": "percentile"})


class TestChangeLevelSetApi(_OwnDraft, _Api):
    operation = ("PATCH", "/envmon/level-sets/{number}")
    roles = (Role.QC_REVIEWER,)
    number = staticmethod(_draft_levels)
    body = staticmethod(lambda world, user: {"action_level": 9})


class TestReviewLevelSetApi(_Api):
    operation = ("POST", "/envmon/level-sets/{number}/{action}")
    action = "review"
    roles = (Role.QC_REVIEWER,)
    refused_roles = (Role.QA_APPROVER,)
    number = staticmethod(_draft_levels)
    body = staticmethod(lambda world, user: _signed(user))


class TestApproveLevelSetApi(TestReviewLevelSetApi):
    action = "approve"
    roles = (Role.QA_APPROVER,)
    refused_roles = (Role.QC_REVIEWER,)
    number = staticmethod(_reviewed_levels)


class TestClassificationsApi(_Api):
    operation = ("GET", "/envmon/classifications")


class TestClassificationApi(_Api):
    operation = ("GET", "/envmon/classifications/{number}")
    number = staticmethod(_planned)


class TestPlanClassificationApi(_Api):
    operation = ("POST", "/envmon/classifications")
    roles = (Role.QC_REVIEWER,)
    status = 201
    body = staticmethod(lambda world, user: {"room": _room(world).code, "state": "in_operation"})


class TestReadingApi(_Api):
    operation = ("POST", "/envmon/classifications/{number}/readings")
    refused_roles = (Role.QA_APPROVER,)
    status = 201
    number = staticmethod(_planned)
    body = staticmethod(lambda world, user: {"point": 1, "size": "0.5", "volume_litres": "6.9", "count": 3})


class TestCompleteClassificationApi(_Api):
    operation = ("POST", "/envmon/classifications/{number}/{action}")
    action = "complete"
    roles = (Role.QC_REVIEWER,)
    number = staticmethod(_read)
    body = staticmethod(lambda world, user: {})


class TestApproveClassificationApi(TestCompleteClassificationApi):
    action = "approve"
    roles = (Role.QA_APPROVER,)
    refused_roles = (Role.QC_REVIEWER,)
    number = staticmethod(_completed)
    body = staticmethod(lambda world, user: _signed(user))


@pytest.fixture
def manager(make_user):
    return make_user("em.manager", Role.QC_REVIEWER)


def test_the_preview_shows_the_computed_levels_and_saves_nothing(manager):
    room = builders.room("EM-C09", grade="C")
    location = builders.locations(room, manager, 1, sample_types=("settle_plate",))[0]
    builders.samples(location, manager, [1, 2, 3, 4, 90] * 5, sample_type="settle_plate",
                     start=dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    response = signed_in(manager).post(reverse("envmon:level_new"), {
        "grade": "C", "sample_type": "settle_plate", "state": "in_operation", "method": "percentile",
        "percentile": "95", "action_percentile": "99", "preview": "1"})
    body = response.content.decode()
    assert response.status_code == 200 and "Preview (not saved)" in body and "capped at Annex 1" in body
    assert "25 results" in body and not LevelSet.objects.exists()


@pytest.mark.parametrize("fields", [{"action": "11"}, {"alert": "NaN"}, {"grade": "Z"}, {"rationale": ""}])
def test_bad_level_input_is_answered_4xx_with_the_reason_and_nothing_saved(manager, fields):
    post = {"grade": "B", "sample_type": "active_air", "state": "in_operation", "method": "manual", "alert": "5",
            "action": "8", "rationale": "PQ"} | fields
    response = signed_in(manager).post(reverse("envmon:level_new"), post)
    assert response.status_code == 422 and 'role="alert"' in response.content.decode()
    assert not LevelSet.objects.exists()


def test_a_reading_below_the_volume_is_refused_on_the_page_with_the_reason(manager):
    c = services.plan_classification(manager, builders.room("EM-PG2", grade="B", width="2", length="1"),
                                     state="in_operation")
    response = signed_in(manager).post(reverse("envmon:classification_reading", args=[c.number]),
                                       {"point": "1", "size": "0.5", "volume_litres": "1", "count": "3"})
    assert response.status_code == 422 and "below the minimum sample volume" in response.content.decode()
    assert not c.readings.exists()


def test_the_levels_matrix_and_the_annex_1_page_show_the_limits(manager):
    services.propose_levels(manager, grade="B", sample_type="active_air", state="in_operation", method="manual",
                            alert="5", action="8", rationale="PQ")
    body = signed_in(manager).get(reverse("envmon:levels"), {"grade": "B"}).content.decode()
    assert "No growth" not in body and "Awaiting signatures" in body and "EML-" in body
    body = signed_in(manager).get(reverse("envmon:annex1")).content.decode()
    for words in ("EU GMP Annex 1 (2022)", "No growth", "3,520,000", "Not predetermined", "Above the limit"):
        assert words in body, words


@pytest.mark.parametrize(("path", "body"), [
    ("/api/v1/envmon/level-sets", {"grade": "B", "sample_type": "active_air", "state": "in_operation",
                                   "method": "manual", "alert": 5, "action": 11, "rationale": "PQ"}),
    ("/api/v1/envmon/level-sets", {"grade": "B", "sample_type": "active_air", "state": "in_operation",
                                   "method": "manual", "alert": "NaN", "action": 8, "rationale": "PQ"}),
    ("/api/v1/envmon/level-sets", {"grade": "B", "sample_type": "active_air", "state": "in_operation",
                                   "method": "sometimes", "rationale": "PQ"}),
    ("/api/v1/envmon/classifications", {"room": "EM-PG3", "state": "in_operation", "sizes": [0.25]}),
    ("/api/v1/envmon/classifications", {"room": "EM-PG3", "state": "asleep"}),
])
def test_bad_api_input_is_answered_4xx_and_nothing_is_saved(manager, path, body):
    builders.room("EM-PG3", grade="B", width="2", length="1")
    response = Client().post(path, body, content_type="application/json", headers=bearer(manager))
    assert 400 <= response.status_code < 500 and response.json()["detail"], response.content
    assert not LevelSet.objects.exists() and not Classification.objects.exists()


def test_the_record_pages_show_the_signatures_and_the_verdict(manager, make_user):
    reviewer, approver = make_user("qa.rev", Role.QA_SPECIALIST), make_user("qa.app", Role.QA_APPROVER)
    level_set = services.propose_levels(manager, grade="B", sample_type="active_air", state="in_operation",
                                        method="manual", alert="5", action="8", rationale="PQ")
    services.transition_level_set(reviewer, level_set, "review", signature=signature(reviewer, "Reviewed"))
    services.transition_level_set(approver, level_set, "approve", signature=signature(approver, "Approved"))
    body = signed_in(manager).get(reverse("envmon:level", args=[level_set.number])).content.decode()
    assert "Qa Rev" in body and "Qa App" in body and "Annex 1 (2022): 10" in body
    c = services.plan_classification(manager, builders.room("EM-PG4", grade="B", width="2", length="1"),
                                     state="in_operation")
    for size in selectors.classification_sizes(c):
        services.record_reading(manager, c, point=1, size=size, volume_litres="6.9", count=100)
    response = signed_in(manager).post(reverse("core:record_transition",
                                               args=["envmon.classification", c.number, "complete"]))
    assert response.status_code == 302, response.content[:500]  # through the shared dialog
    body = signed_in(manager).get(reverse("envmon:classification", args=[c.number])).content.decode()
    assert "Fail" in body and "14,492.8" in body and "Report (PDF)" in body
