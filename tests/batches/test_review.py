"""Review by exception: QA dispositions every exception and signs the review; a batch is never
reviewed with an exception open, nor by someone who executed it (segregation of duties)."""

import pytest
from django.test import Client
from django.urls import reverse

from opencdmo.batches import selectors, services
from opencdmo.batches.models import BatchEntry, BatchException
from opencdmo.core import signatures
from opencdmo.core.domain.roles import Role
from opencdmo.core.errors import Conflict, NotFound, PermissionDenied, RuleViolation
from opencdmo.core.models import AuditEvent
from opencdmo.core.tasks import tasks_for
from tests.factories import signature
from tests.web.conftest import records_a  # noqa: F401  (the shared view tests' world)
from tests.web.viewtests import PermissionApiTest, PermissionPageTest

from . import builders
from .builders import submission
from .test_pages import batch_world

ORIGINAL_VIABILITY, CORRECTED_VIABILITY = "95.0", "92.5"


def executed(world):
    """A completed batch with one exception of most kinds: a value outside its normal range (A1,
    verified by a second operator), a value outside its acceptable range that raised a deviation
    (B1), an optional step skipped (A2), a correction after the step was signed (A1) and a QA
    override of the training interlock."""
    builders.start(world)
    builders.run_step(world, "A1", values={"viable_cells": "6e8", "viability": ORIGINAL_VIABILITY})
    services.skip_step(world.operator, world.batch, "A2", reason="Sterility sample taken at B3 instead.")
    builders.run_step(world, "B1", values={"moi": "7"})
    builders.run_step(world, "B2")
    builders.run_step(world, "B3")
    original = BatchEntry.objects.get(batch=world.batch, parameter="viability")
    services.correct_entry(world.operator, original, value=CORRECTED_VIABILITY, submission_id=submission(),
                           reason="Transcription error: the counter printout reads 92.5 %.")
    services.override_interlock(world.qa_approver, world.batch, step_key="B2", interlock="training",
                                subject=world.second_operator.username, refusal="Training on SOP expired.",
                                reason="Retraining completed, record pending.",
                                signature=signature(world.qa_approver, "Approved"))
    world.batch = services.transition_batch(world.operator, world.batch, "complete",
                                            signature=signature(world.operator, "Performed"))
    return world


def disposition_all(world, reviewer):
    for exception in world.batch.exceptions.filter(status="open").select_related("deviation"):
        cited = f" See {exception.deviation.number}." if exception.deviation_id else ""
        services.disposition_exception(reviewer, exception, disposition=f"Assessed: no impact on quality.{cited}")


def sign_review(world, reviewer):
    return services.transition_batch(reviewer, world.batch, "review", signature=signature(reviewer, "Reviewed"))


@pytest.fixture
def done(world):
    return executed(world)


def _one(world, kind) -> BatchException:
    return world.batch.exceptions.select_related("deviation").get(kind=kind)


# --- Dispositions -----------------------------------------------------------------------------

@pytest.mark.django_db
def test_the_executed_batch_has_an_exception_of_each_kind_it_went_through(done):
    kinds = set(done.batch.exceptions.values_list("kind", flat=True))
    assert {"outside_normal", "outside_acceptable", "skipped_step", "correction", "override"} <= kinds
    assert _one(done, "outside_acceptable").deviation is not None


@pytest.mark.django_db
@pytest.mark.req("A11-8")
def test_a_disposition_is_recorded_with_who_when_and_why_and_audited(done, fake_clock):
    exception = _one(done, "skipped_step")
    services.disposition_exception(done.qa, exception, disposition="  Sample taken at B3: no impact.  ")
    exception.refresh_from_db()
    assert (exception.status, exception.disposition, exception.dispositioned_by, exception.dispositioned_at) == (
        "dispositioned", "Sample taken at B3: no impact.", done.qa, fake_clock())
    event = AuditEvent.objects.filter(action="disposition").get()
    assert (event.actor_id, event.record_id) == (done.qa.pk, str(exception.pk))


@pytest.mark.django_db
def test_a_disposition_needs_the_review_permission_a_text_and_is_made_once(done):
    exception = _one(done, "skipped_step")
    with pytest.raises(PermissionDenied, match="batches.review"):
        services.disposition_exception(done.supervisor, exception, disposition="Fine.")
    with pytest.raises(RuleViolation, match="Write the disposition"):
        services.disposition_exception(done.qa, exception, disposition="   ")
    services.disposition_exception(done.qa, exception, disposition="Fine.")
    with pytest.raises(Conflict, match="already dispositioned by"):
        services.disposition_exception(done.qa_approver, exception, disposition="Again.")


@pytest.mark.django_db
def test_a_deviation_exception_is_dispositioned_only_by_citing_its_deviation(done):
    exception = _one(done, "outside_acceptable")
    number = exception.deviation.number
    with pytest.raises(RuleViolation, match=f"Cite deviation {number}"):
        services.disposition_exception(done.qa, exception, disposition="Within process capability.")
    with pytest.raises(RuleViolation, match="a citation alone is not a disposition"):
        services.disposition_exception(done.qa, exception, disposition=f"See deviation {number}: ")  # the form's text
    services.disposition_exception(done.qa, exception, disposition=f"Investigated under {number}.")
    item = next(i for label, items in selectors.review(done.qa, done.batch)["groups"] for i in items
                if i.exception.pk == exception.pk)
    assert item.deviation_status == "Open, to classify"


def qa_who_verified(world, make_user, sponsor):
    """A QA specialist who also verified an entry of the batch: one of its performers."""
    both = make_user("qa.who.verified", Role.QA_SPECIALIST, sponsors=[sponsor])
    BatchEntry.objects.filter(batch=world.batch, parameter="viable_cells").update(verified_by=both)
    return both


@pytest.mark.django_db
def test_someone_who_executed_the_batch_may_not_disposition_its_exceptions(done, make_user, sponsor_a):
    with pytest.raises(RuleViolation, match="Segregation of duties"):
        services.disposition_exception(qa_who_verified(done, make_user, sponsor_a), _one(done, "skipped_step"),
                                       disposition="Fine.")


@pytest.mark.django_db
def test_sponsor_segregation_hides_another_sponsors_exception(done, make_user, sponsor_b):
    other_qa = make_user("beta.qa", Role.QA_SPECIALIST, sponsors=[sponsor_b])
    with pytest.raises(NotFound):
        services.disposition_exception(other_qa, _one(done, "skipped_step"), disposition="Fine.")
    with pytest.raises(NotFound):
        selectors.exception_of(other_qa, done.batch.number, _one(done, "skipped_step").pk)
    for nonsense in (0, -1, 2**80):
        with pytest.raises(NotFound):
            selectors.exception_of(done.qa, done.batch.number, nonsense)


# --- Signing the review -----------------------------------------------------------------------

@pytest.mark.django_db
@pytest.mark.req("P11-3")
def test_the_review_cannot_be_signed_while_an_exception_is_open(done):
    with pytest.raises(RuleViolation, match="open exception"):
        sign_review(done, done.qa)
    disposition_all(done, done.qa)
    batch = sign_review(done, done.qa)
    assert (batch.status, batch.reviewed_at is not None) == ("reviewed", True)
    assert [(s.meaning, s.printed_name, valid) for s, valid in signatures.with_validity(batch)
            if s.meaning == "Reviewed"] == [("Reviewed", done.qa.full_name, True)]


@pytest.mark.django_db
def test_an_exception_raised_after_the_dispositions_blocks_the_review_again(done):
    disposition_all(done, done.qa)
    assert selectors.review(done.qa, done.batch)["may_sign"]
    BatchException.objects.create(batch=done.batch, kind="late_entry", description="Late.",
                                  raised_at=done.batch.completed_at, raised_by=done.operator)
    review = selectors.review(done.qa, done.batch)
    assert (review["open"], review["may_sign"]) == (1, False)


@pytest.mark.django_db
def test_whoever_executed_the_batch_cannot_sign_its_review(done, make_user, sponsor_a):
    disposition_all(done, done.qa)
    both = qa_who_verified(done, make_user, sponsor_a)
    with pytest.raises(RuleViolation, match="Segregation of duties"):
        sign_review(done, both)
    assert sign_review(done, done.qa).status == "reviewed"


@pytest.mark.django_db
def test_dispositions_end_with_the_review(done):
    disposition_all(done, done.qa)
    sign_review(done, done.qa)
    late = BatchException.objects.create(batch=done.batch, kind="late_entry", description="Late.",
                                         raised_at=done.batch.completed_at, raised_by=done.operator)
    with pytest.raises(RuleViolation, match="reviewed"):
        services.disposition_exception(done.qa, late, disposition="Too late.")


# --- What the review shows --------------------------------------------------------------------

@pytest.mark.django_db
def test_the_review_groups_exceptions_by_kind_with_progress_and_the_reasons_it_cannot_be_signed(done):
    review = selectors.review(done.qa, done.batch)
    labels = [label for label, _ in review["groups"]]
    assert labels[:2] == ["Value outside the normal operating range", "Value outside the proven acceptable range"]
    assert (review["total"], review["open"], review["dispositioned"]) == (review["total"], review["total"], 0)
    assert any("open exception" in why for why in review["blockers"])
    outside = dict(review["groups"])["Value outside the normal operating range"][0]
    assert (outside.parameter, outside.exception.entry.value) == ("Viable cells", "6e8")
    assert "NOR" in outside.limits and "PAR" in outside.limits
    override = dict(review["groups"])["Interlock overridden"][0]
    assert [(s["printed_name"], s["meaning"]) for s in override.signatures] == [(done.qa_approver.full_name, "Approved")]
    assert review["step_count"] == 5
    operator_view = selectors.review(done.operator, done.batch)
    assert not operator_view["may_disposition"] and not operator_view["may_sign"]


@pytest.mark.django_db
def test_qa_finds_completed_batches_awaiting_review_in_my_tasks(done):
    tasks = [t for t in tasks_for(done.qa) if t.title == "Review batch record"]
    open_count = done.batch.exceptions.filter(status="open").count()
    assert [(t.record, t.detail) for t in tasks] == [(done.batch.number, f"{open_count} open exceptions")]
    assert tasks[0].url == reverse("batches:review", args=[done.batch.number])
    assert not [t for t in tasks_for(done.operator) if t.title == "Review batch record"]


# --- The page ---------------------------------------------------------------------------------

def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.django_db
def test_the_review_page_lists_the_exceptions_with_a_link_to_the_step_and_a_disabled_sign_action(done):
    body = _client(done.qa).get(reverse("batches:review", args=[done.batch.number])).content.decode()
    assert f"0 of {done.batch.exceptions.count()} dispositioned" in body
    assert f"{reverse('batches:execute', args=[done.batch.number])}?step=A1" in body
    assert 'disabled aria-describedby="review-blockers"' in body
    assert _one(done, "outside_acceptable").deviation.number in body


@pytest.mark.django_db
def test_a_disposition_through_the_page_updates_the_review_in_place(done):
    client, exception = _client(done.qa), _one(done, "skipped_step")
    url = reverse("batches:disposition", args=[done.batch.number, exception.pk])
    refused = client.post(url, {"disposition": ""}, headers={"HX-Request": "true"})
    assert refused.status_code == 422 and "Write the disposition" in refused.content.decode()
    response = client.post(url, {"disposition": "No impact."}, headers={"HX-Request": "true"})
    assert response.status_code == 200 and f"1 of {done.batch.exceptions.count()} dispositioned" in response.content.decode()
    disposition_all(done, done.qa)
    body = client.get(reverse("batches:review", args=[done.batch.number])).content.decode()
    assert "hx-get=\"" + reverse("core:record_transition", args=["batches.batch", done.batch.number, "review"]) in body


@pytest.mark.django_db
def test_another_sponsors_reviewer_gets_404(done, make_user, sponsor_b):
    other = _client(make_user("beta.qa", Role.QA_SPECIALIST, sponsors=[sponsor_b]))
    exception = _one(done, "skipped_step")
    for url in (reverse("batches:review", args=[done.batch.number]),
                f"/api/v1/batches/{done.batch.number}/review/exceptions"):
        assert other.get(url).status_code == 404
    response = other.post(reverse("batches:disposition", args=[done.batch.number, exception.pk]),
                          {"disposition": "x"})
    assert response.status_code == 404


@pytest.mark.django_db
def test_the_api_lists_the_review_and_dispositions_an_exception(done):
    client, exception = _client(done.qa), _one(done, "skipped_step")
    review = client.get(f"/api/v1/batches/{done.batch.number}/review/exceptions").json()
    assert review["open"] == review["total"] and not review["may_sign"]
    assert {x["kind"] for x in review["exceptions"]} >= {"skipped_step", "outside_acceptable"}
    response = client.post(f"/api/v1/batches/{done.batch.number}/exceptions/{exception.pk}/disposition",
                           {"disposition": "No impact."}, content_type="application/json")
    assert response.status_code == 200, response.content
    assert (response.json()["status"], response.json()["dispositioned_by"]["username"]) == (
        "dispositioned", done.qa.username)


# --- Shared view tests: anonymous, without permission, with permission (P11-1d, P11-1g) -------
# On H4's in-progress batch world, whose QA override is an open exception.

def number_of(records) -> str:
    return batch_world(records).batch.number


def override_exception(records) -> BatchException:
    return BatchException.objects.get(batch=batch_world(records).batch, kind="override")


class TestReviewPage(PermissionPageTest):
    route = "batches:review"
    roles = (Role.QA_SPECIALIST,)

    def url(self, world):
        return reverse(self.route, args=[number_of(world)])


class TestDispositionPage(PermissionPageTest):
    route = "batches:disposition"
    method = "POST"
    roles = (Role.QA_SPECIALIST,)
    refused_roles = (Role.OPERATOR,)
    status = 302

    def url(self, world):
        return reverse(self.route, args=[number_of(world), override_exception(world).pk])

    def data(self, world, user):
        return {"disposition": "Training record checked: the operator was trained on paper."}


class TestReviewApi(PermissionApiTest):
    operation = ("GET", "/batches/{number}/review/exceptions")
    roles = (Role.QA_SPECIALIST,)

    def url(self, world):
        return f"/api/v1/batches/{number_of(world)}/review/exceptions"


class TestDispositionApi(PermissionApiTest):
    operation = ("POST", "/batches/{number}/exceptions/{exception_id}/disposition")
    roles = (Role.QA_SPECIALIST,)
    refused_roles = (Role.OPERATOR,)

    def url(self, world):
        return f"/api/v1/batches/{number_of(world)}/exceptions/{override_exception(world).pk}/disposition"

    def data(self, world, user):
        return {"disposition": "Training record checked: the operator was trained on paper."}
