"""Pages and API of samples and results: the shared permission tests for every route and
operation (P11-1d, P11-1g), what the pages show, and sponsor segregation (another sponsor's
user gets 404 and sees nothing in the worklist)."""

import pytest
from django.test import Client
from django.urls import reverse

from opencdmo.core.domain.roles import Role
from opencdmo.qc import services
from opencdmo.qc.models import Sample
from tests.conftest import PASSWORD
from tests.factories import signature
from tests.web.conftest import bearer, records_a, signed_in  # noqa: F401
from tests.web.viewtests import PermissionApiTest, PermissionPageTest

from . import builders

pytestmark = pytest.mark.req("P11-1d")


@pytest.fixture(autouse=True)
def _clock(fake_clock):
    return fake_clock


def _cached(world, name: str, build):
    if getattr(world, name, None) is None:
        setattr(world, name, build())
    return getattr(world, name)


def _lab(world) -> dict:
    return builders.people(world.sponsor, prefix="pg.")


def _spec(world):
    return _cached(world, "qc_spec", lambda: builders.approved_spec(_lab(world)["reviewer"], world.sponsor))


def _sample(world, name: str = "qc_sample", **fields):
    return _cached(world, name, lambda: builders.sample(_lab(world)["analyst"], _spec(world),
                                                        subject_ref=f"B-{name.upper()}", **fields))


def _registered(world):
    return _sample(world, "qc_registered", received=False)


def _retained(world):
    return _cached(world, "qc_retained", lambda: services.retain_sample(
        _lab(world)["analyst"], _sample(world, "qc_to_retain"), location="Retain freezer"))


def _partial(world):
    return _sample(world, "qc_partial", tests=[_spec(world).tests.get(attribute="Viability")])


def _unassigned(world):
    builders.batch(world.author, world.sponsor.programs.first().products.first(), "B-UNASSIGNED")
    return _cached(world, "qc_unassigned", lambda: services.register_sample(
        _lab(world)["analyst"], subject_type="batches.batch", subject_ref="B-UNASSIGNED", subject_label="B-UNASSIGNED",
        origin="manual", description="Extra sample", sponsor=world.sponsor,
        product=world.sponsor.programs.first().products.first()))


def _result(world):
    return _cached(world, "qc_result", lambda: services.enter_result(
        _lab(world)["analyst"], _sample(world), _spec(world).tests.get(attribute="Endotoxin"), value="0.10",
        submission_id=builders.submission()))


# --- The shared view tests, one class per route -------------------------------------------------

class _Page(PermissionPageTest):
    roles = (Role.QC_ANALYST,)
    refused_roles = ()
    args = staticmethod(lambda world: ())

    def url(self, world):
        return reverse(self.route, args=self.args(world))


class _Post(_Page):
    method = "POST"
    status = 302
    refused_roles = (Role.OPERATOR,)


class TestWorklistPage(_Page):
    route = "qc:worklist"


class TestSampleListPage(_Page):
    route = "qc:samples"


class TestSamplePage(_Page):
    route = "qc:sample"
    args = staticmethod(lambda world: (_sample(world).number,))


class TestNewSampleForm(_Page):
    route = "qc:sample_new"
    refused_roles = (Role.OPERATOR,)


class TestRegisteringSample(TestNewSampleForm):
    method = "POST"
    status = 302

    def data(self, world, user):
        builders.batch(world.author, _spec(world).product, "B-HAND-1")
        return {"subject_type": "batches.batch", "subject_ref": "B-HAND-1", "description": "Extra viability sample",
                "specification": _spec(world).number, "quantity": "1", "unit": "mL"}


class TestNewLotSampleForm(_Page):
    route = "qc:lot_sample_new"
    refused_roles = (Role.OPERATOR,)


class TestReceivingSample(_Post):
    route = "qc:sample_receive"
    args = staticmethod(lambda world: (_registered(world).number,))

    def data(self, world, user):
        return {"location": "QC fridge 2"}


class TestMovingSample(_Post):
    route = "qc:sample_move"
    args = staticmethod(lambda world: (_sample(world).number,))

    def data(self, world, user):
        return {"to_location": "BSC 2", "purpose": "sterility"}


class TestMakingAliquots(_Post):
    route = "qc:sample_aliquot"
    args = staticmethod(lambda world: (_sample(world).number,))

    def data(self, world, user):
        return {"count": "2", "quantity": "0.5", "unit": "mL"}


class TestRetainingSample(_Post):
    route = "qc:sample_retain"
    args = staticmethod(lambda world: (_sample(world).number,))

    def data(self, world, user):
        return {"location": "Retain freezer"}


class TestDisposingSample(_Post):
    route = "qc:sample_dispose"
    args = staticmethod(lambda world: (_retained(world).number,))

    def data(self, world, user):
        return {"reason": "retention period over"}


class TestOrderingTests(_Post):
    route = "qc:sample_order"
    args = staticmethod(lambda world: (_partial(world).number,))

    def data(self, world, user):
        return {"tests": [_spec(world).tests.get(attribute="Endotoxin").pk]}


class TestAssigningSpecification(_Post):
    route = "qc:sample_specification"
    args = staticmethod(lambda world: (_unassigned(world).number,))

    def data(self, world, user):
        return {"specification": _spec(world).number}


class TestEnteringResult(_Post):
    route = "qc:sample_result"
    args = staticmethod(lambda world: (_sample(world).number,))

    def data(self, world, user):
        return {"test": _spec(world).tests.get(attribute="Endotoxin").pk, "value": "0.10",
                "submission_id": "form-1234567890"}


class TestResultPage(_Page):
    route = "qc:result"
    args = staticmethod(lambda world: (_result(world).number,))


# --- The shared API tests, one class per operation -------------------------------------------------

class _Api(PermissionApiTest):
    roles = (Role.QC_ANALYST,)
    refused_roles = ()
    ref = None  # world → the path's {number} or {number}
    action = ""  # the path's {action}
    body = None

    def url(self, world):
        path = self.operation[1]
        if "{" in path:
            path = (path.replace("{number}", str(self.ref(world))).replace("{number}", str(self.ref(world)))
                    .replace("{action}", self.action))
        return "/api/v1" + path

    def data(self, world, user):
        return self.body(world) if self.body else None


class TestApiSamples(_Api):
    operation = ("GET", "/qc/samples")


class TestApiSample(_Api):
    operation = ("GET", "/qc/samples/{number}")
    ref = staticmethod(lambda world: _sample(world).number)


class TestApiRegisterSample(_Api):
    operation = ("POST", "/qc/samples")
    refused_roles, status = (Role.OPERATOR,), 201
    body = staticmethod(lambda world: {"subject_type": "batches.batch", "description": "Extra sample",
                                       "subject_ref": builders.batch(world.author, _spec(world).product, "B-API-1").number,
                                       "specification": _spec(world).number})


class TestApiReceiveSample(_Api):
    operation = ("POST", "/qc/samples/{number}/receive")
    refused_roles = (Role.OPERATOR,)
    ref = staticmethod(lambda world: _registered(world).number)
    body = staticmethod(lambda world: {"location": "QC fridge 3"})


class TestApiEnterResult(_Api):
    operation = ("POST", "/qc/samples/{number}/results")
    refused_roles, status = (Role.OPERATOR,), 201
    ref = staticmethod(lambda world: _sample(world).number)
    body = staticmethod(lambda world: {"test": _spec(world).tests.get(attribute="Endotoxin").pk, "value": "0.10",
                                       "submission_id": "api-1234567890"})


class TestApiResult(_Api):
    operation = ("GET", "/qc/results/{number}")
    ref = staticmethod(lambda world: _result(world).number)


class TestApiReviewResult(_Api):
    operation = ("POST", "/qc/results/{number}/{action}")
    action = "review"
    roles, refused_roles = (Role.QC_REVIEWER,), (Role.QC_ANALYST,)
    ref = staticmethod(lambda world: _result(world).number)

    def data(self, world, user):
        return {"username": user.username, "password": PASSWORD}


class TestApiRequestInvalidation(TestApiReviewResult):
    action = "request_invalidation"
    roles = (Role.QC_ANALYST,)
    refused_roles = (Role.OPERATOR,)

    def data(self, world, user):
        return {"reason": "wrong dilution"}


# --- What the pages show ---------------------------------------------------------------------------

@pytest.fixture
def world(records_a):  # noqa: F811
    return records_a


@pytest.mark.django_db
def test_sample_page_shows_criteria_limits_and_every_attempt(world):
    lab = _lab(world)
    counter = builders.instrument(lab["supervisor"], lab["qa"])
    sample = _sample(world)
    viability = _spec(world).tests.get(attribute="Viability")
    first = services.enter_result(lab["analyst"], sample, viability, value="82.0", instrument=counter,
                                  submission_id=builders.submission())
    services.transition_result(lab["analyst"], first, "request_invalidation", reason="counter clogged")
    services.transition_result(lab["qa"], first, "approve_invalidation", signature=signature(lab["qa"], "Approved"))
    body = signed_in(lab["analyst"]).get(reverse("qc:sample", args=[sample.number])).content.decode()
    assert "≥ 70.0 %" in body and "≤ 0.50 EU/mL" in body
    assert "<del>82.0</del>" in body and "Invalidated: counter clogged" in body
    # The form to enter viability again offers the usable cell counter, with a server-made submission id.
    assert f'<option value="{counter.number}">' in body and 'name="submission_id" value="' in body


@pytest.mark.django_db
def test_a_refused_result_shows_the_reason(world):
    lab = _lab(world)
    sample = _sample(world)
    response = signed_in(lab["analyst"]).post(reverse("qc:sample_result", args=[sample.number]), {
        "test": _spec(world).tests.get(attribute="Endotoxin").pk, "value": "lots", "submission_id": "x" * 20})
    assert response.status_code == 422 and 'role="alert"' in response.content.decode()
    assert not sample.results.exists()


@pytest.mark.django_db
def test_reviewer_reviews_through_the_generic_signature_dialog(world):
    lab = _lab(world)
    result = _result(world)
    client = signed_in(lab["reviewer"])
    page = client.get(reverse("qc:result", args=[result.number])).content.decode()
    assert "Review" in page
    response = client.post(reverse("core:record_transition", args=["qc.testresult", result.number, "review"]),
                           {"username": lab["reviewer"].username, "password": PASSWORD})
    assert response.status_code == 302
    result.refresh_from_db()
    assert result.status == "reviewed" and result.reviewed_by == lab["reviewer"]


@pytest.mark.django_db
def test_analyst_page_offers_no_review_of_own_result(world):
    lab = _lab(world)
    result = services.enter_result(lab["reviewer"], _sample(world), _spec(world).tests.get(
        attribute="Endotoxin"), value="0.10", submission_id=builders.submission())
    page = signed_in(lab["reviewer"]).get(reverse("qc:result", args=[result.number])).content.decode()
    assert "Segregation: you entered this result" in page


@pytest.mark.django_db
def test_sponsor_b_gets_404_and_an_empty_worklist(world, sponsor_b):
    result = _result(world)
    sample = result.sample
    other = builders.people(sponsor_b, prefix="b.")
    client = signed_in(other["reviewer"])
    assert client.get(reverse("qc:sample", args=[sample.number])).status_code == 404
    assert client.get(reverse("qc:result", args=[result.number])).status_code == 404
    assert client.post(reverse("qc:sample_receive", args=[sample.number]), {"location": "x"}).status_code == 404
    for tab in ("due", "review"):
        body = client.get(reverse("qc:worklist") + f"?tab={tab}").content.decode()
        assert sample.number not in body and world.sponsor.code not in body
    api = Client()
    headers = bearer(other["reviewer"])
    assert api.get(f"/api/v1/qc/samples/{sample.number}", headers=headers).status_code == 404
    assert api.get(f"/api/v1/qc/results/{result.number}", headers=headers).status_code == 404
    assert api.get("/api/v1/qc/samples", headers=headers).json()["items"] == []
    assert api.post(f"/api/v1/qc/results/{result.number}/review", {"username": "b.qc.rev", "password": PASSWORD},
                    content_type="application/json", headers=headers).status_code == 404


@pytest.mark.django_db
def test_worklist_shows_due_samples_and_overdue_badge(world, fake_clock):
    lab = _lab(world)
    sample = _sample(world)
    fake_clock.advance(days=20)
    body = signed_in(lab["analyst"]).get(reverse("qc:worklist")).content.decode()
    assert sample.number in body and "Overdue" in body and "Viability" in body


@pytest.mark.django_db
def test_api_result_entry_is_idempotent(world):
    lab = _lab(world)
    sample = _sample(world)
    body = {"test": _spec(world).tests.get(attribute="Endotoxin").pk, "value": "0.10",
            "submission_id": "same-submission-1"}
    client, headers = Client(), bearer(lab["analyst"])
    first = client.post(f"/api/v1/qc/samples/{sample.number}/results", body, content_type="application/json",
                        headers=headers)
    again = client.post(f"/api/v1/qc/samples/{sample.number}/results", body, content_type="application/json",
                        headers=headers)
    assert first.status_code == again.status_code == 201 and first.json()["number"] == again.json()["number"]
    assert first.json()["conformance"] == "conforms" and first.json()["limit"] == "≤ 0.50 EU/mL"
    changed = client.post(f"/api/v1/qc/samples/{sample.number}/results", {**body, "value": "0.2"},
                          content_type="application/json", headers=headers)
    assert changed.status_code == 409
    assert Sample.objects.get(pk=sample.pk).results.count() == 1


@pytest.mark.django_db
@pytest.mark.req("OOS-1")
def test_the_retest_form_appears_only_when_an_investigation_orders_one(world, monkeypatch):
    lab = _lab(world)
    original = _result(world)
    url = reverse("qc:sample", args=[original.sample.number])
    client = signed_in(lab["analyst2"])
    assert 'name="retest_of"' not in client.get(url).content.decode()
    monkeypatch.setattr(services, "retest_refusal", lambda result, actor: None)  # as if OOS-… ordered it
    page = client.get(url).content.decode()
    assert f'name="retest_of" value="{original.number}"' in page
    response = client.post(reverse("qc:sample_result", args=[original.sample.number]), {
        "test": original.test_id, "value": "0.12", "retest_of": original.number, "submission_id": "retest-123456"})
    assert response.status_code == 302
    retest = original.retests.get()
    assert (retest.attempt, retest.analyst) == (2, lab["analyst2"])
