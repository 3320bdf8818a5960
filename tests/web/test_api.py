"""The HTTP API's contract (DESIGN.md "Interfaces"): session auth with CSRF, personal tokens,
JSON errors with a 4xx, and the signature ceremony through the API (P11-6, P11-7)."""

import pytest
from django.conf import settings
from django.test import Client

from opencdmo.core import services
from opencdmo.core.domain.roles import Role
from opencdmo.core.models import ApiToken, AuditEvent, Signature, User
from opencdmo.core.security import LOCKED_MESSAGE
from opencdmo.sponsors.models import QualityAgreement
from tests import factories
from tests.conftest import PASSWORD

from .conftest import bearer

NEW_AGREEMENT = {"sponsor": "ACME", "title": "Quality agreement, commercial supply"}


def _csrf_client(user) -> Client:
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    return client


def test_session_auth_refuses_unsafe_method_without_csrf_token(qa_author):
    client = _csrf_client(qa_author)

    response = client.post("/api/v1/quality-agreements", NEW_AGREEMENT, content_type="application/json")

    assert response.status_code == 403
    assert "CSRF" in response.json()["detail"]
    assert not QualityAgreement.objects.exists()


def test_session_auth_accepts_unsafe_method_with_csrf_token(qa_author):
    client = _csrf_client(qa_author)
    client.get("/")  # the page sets the CSRF cookie, as the browser's first page does
    token = client.cookies[settings.CSRF_COOKIE_NAME].value

    response = client.post("/api/v1/quality-agreements", NEW_AGREEMENT, content_type="application/json",
                           headers={"X-CSRFToken": token})

    assert response.status_code == 201, response.content
    assert QualityAgreement.objects.get().created_by == qa_author


def test_session_auth_reads_without_csrf_token(qa_author):
    response = _csrf_client(qa_author).get("/api/v1/me")

    assert response.status_code == 200
    assert response.json()["username"] == "qa.author"


def test_bearer_token_authenticates_without_session_or_csrf(qa_author):
    headers = bearer(qa_author)

    me = Client(enforce_csrf_checks=True).get("/api/v1/me", headers=headers)
    created = Client(enforce_csrf_checks=True).post("/api/v1/quality-agreements", NEW_AGREEMENT,
                                                    content_type="application/json", headers=headers)

    assert me.status_code == 200
    assert me.json() == {"username": "qa.author", "full_name": "Qa Author", "roles": ["qa_specialist"],
                         "sponsors": ["ACME"]}
    assert created.status_code == 201, created.content
    assert ApiToken.objects.get().last_used_at is not None


def test_only_the_hash_of_a_token_is_kept(qa_author):
    token = bearer(qa_author)["Authorization"].removeprefix("Bearer ")

    stored = ApiToken.objects.get()

    assert token not in (stored.token_hash, stored.prefix)
    assert token.startswith(stored.prefix)


@pytest.mark.parametrize("token", ["", "ocd_not-a-token", "Basic cXE6cXE="])
def test_unknown_token_is_refused_with_401(qa_author, token):
    response = Client().get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})

    assert response.status_code == 401
    assert response.json()["detail"]


def test_revoked_token_is_refused(qa_author):
    headers = bearer(qa_author)
    assert Client().get("/api/v1/me", headers=headers).status_code == 200

    services.revoke_api_token(qa_author, ApiToken.objects.get())
    response = Client().get("/api/v1/me", headers=headers)

    assert response.status_code == 401
    assert response.json()["detail"]
    assert AuditEvent.objects.filter(action="revoke", record_type="core.apitoken").exists()


def test_token_of_a_deactivated_user_is_refused(qa_author, admin_user):
    headers = bearer(qa_author)

    services.deactivate_user(admin_user, qa_author, reason="left the company")

    assert Client().get("/api/v1/me", headers=headers).status_code == 401


def test_token_of_a_locked_user_is_refused(qa_author):
    headers = bearer(qa_author)
    for _ in range(settings.LOCKOUT_FAILURES):
        Client().post("/login/", {"username": "qa.author", "password": "not the password"})

    assert Client().get("/api/v1/me", headers=headers).status_code == 401


@pytest.mark.parametrize(("method", "path", "body", "status"), [
    ("get", "/api/v1/quality-agreements/QAG-1999-9999", None, 404),
    ("get", "/api/v1/sponsors/NOPE", None, 404),
    ("get", "/api/v1/records/no.kind/X/signatures", None, 404),
    ("get", "/api/v1/audit-events?since=yesterday", None, 422),
    ("get", "/api/v1/audit-events?limit=0", None, 422),
    ("get", "/api/v1/audit-events?offset=99999999999999999999999", None, 422),
    ("post", "/api/v1/quality-agreements", {"title": "no sponsor"}, 422),
    ("post", "/api/v1/quality-agreements", {"sponsor": "ACME", "title": "   "}, 422),
    ("post", "/api/v1/quality-agreements", {"sponsor": "ACME", "title": "x", "deviation_notification_days": -1}, 422),
    ("post", "/api/v1/quality-agreements", {"sponsor": "ACME", "title": "NUL \x00 in text"}, 400),
    ("get", "/api/v1/quality-agreements?status=draft%00", None, 422),
    ("get", "/api/v1/sponsors/AC%00ME", None, 422),
    ("post", "/api/v1/quality-agreements/QAG-1999-9999/approve", {}, 404),
    ("post", "/api/v1/quality-agreements/QAG-1999-9999/publish", {}, 422),
    ("delete", "/api/v1/quality-agreements", None, 405),
    ("get", "/api/v1/no-such-thing", None, 404),
    ("post", "/api/v1/users", {"username": "x", "full_name": "X", "password": "short"}, 403),
])
def test_errors_are_json_detail_with_4xx(qa_author, method, path, body, status):
    client, headers = Client(), bearer(qa_author)
    if body is None:
        response = getattr(client, method)(path, headers=headers)
    else:
        response = getattr(client, method)(path, body, content_type="application/json", headers=headers)

    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    assert response.json()["detail"]


def test_wrong_method_names_the_allowed_ones(qa_author):
    response = Client().delete("/api/v1/me", headers=bearer(qa_author))

    assert response.status_code == 405
    assert response["Allow"] == "GET"
    assert "GET" in response.json()["detail"]


def test_user_id_taken_before_is_a_conflict(admin_user, qa_author):
    response = Client().post("/api/v1/users", {"username": "QA.Author", "full_name": "Someone Else",
                                               "password": "Gr1ffin-Lantern-77"},
                             content_type="application/json", headers=bearer(admin_user))

    assert response.status_code == 409
    assert "never reused" in response.json()["detail"]


# Signing through the API (P11-6: both components at every signing over the API).

@pytest.fixture
def agreement_in_review(qa_author, sponsor_a):
    return factories.submitted_agreement(qa_author, sponsor_a)


def _approve(user, agreement, **body):
    return Client().post(f"/api/v1/quality-agreements/{agreement.number}/approve", body,
                         content_type="application/json", headers=bearer(user))


@pytest.mark.req("P11-6")
def test_api_signature_needs_user_id_and_password(qa_approver, agreement_in_review):
    response = _approve(qa_approver, agreement_in_review, password=PASSWORD)

    assert response.status_code == 403
    assert "user ID and password" in response.json()["detail"]
    agreement_in_review.refresh_from_db()
    assert agreement_in_review.status == "in_review"
    assert not Signature.objects.filter(meaning="Approved").exists()


@pytest.mark.req("P11-6")
def test_api_signature_with_user_id_and_password_approves_and_signs(qa_approver, agreement_in_review):
    response = _approve(qa_approver, agreement_in_review, username="qa.approver", password=PASSWORD,
                        comment="Reviewed with the sponsor")

    assert response.status_code == 200, response.content
    assert response.json()["status"] == "approved"
    signature = Signature.objects.get(meaning="Approved")
    assert (signature.signer, signature.printed_name, signature.comment) == (
        qa_approver, "Qa Approver", "Reviewed with the sponsor")
    signatures = Client().get(f"/api/v1/records/sponsors.qualityagreement/{agreement_in_review.number}/signatures",
                              headers=bearer(qa_approver)).json()
    assert [(s["printed_name"], s["meaning"], s["valid"]) for s in signatures] == [
        ("Qa Author", "Authored", True), ("Qa Approver", "Approved", True)]
    assert signatures[1]["signed_at_local"].endswith(":00)")  # zone offset printed, e.g. (UTC+01:00)


@pytest.mark.req("P11-6")
def test_api_signature_as_someone_else_is_refused(qa_approver, agreement_in_review):
    response = _approve(qa_approver, agreement_in_review, username="qa.author", password=PASSWORD)

    assert response.status_code == 403
    agreement_in_review.refresh_from_db()
    assert agreement_in_review.status == "in_review"


@pytest.mark.req("P11-7")
def test_api_signature_with_wrong_password_is_refused_and_counts_toward_lockout(qa_approver, agreement_in_review):
    response = _approve(qa_approver, agreement_in_review, username="qa.approver", password="not my password")

    assert response.status_code == 403
    assert "not correct" in response.json()["detail"]
    qa_approver.refresh_from_db()
    assert qa_approver.failed_logins == 1
    assert AuditEvent.objects.filter(action="failed_signature", actor_id=qa_approver.pk).count() == 1
    agreement_in_review.refresh_from_db()
    assert agreement_in_review.status == "in_review"


@pytest.mark.req("P11-7")
def test_repeated_wrong_signature_passwords_lock_the_account(qa_approver, agreement_in_review):
    headers = bearer(qa_approver)
    url = f"/api/v1/quality-agreements/{agreement_in_review.number}/approve"
    wrong = {"username": "qa.approver", "password": "not my password"}
    for _ in range(settings.LOCKOUT_FAILURES - 1):
        Client().post(url, wrong, content_type="application/json", headers=headers)

    last = Client().post(url, wrong, content_type="application/json", headers=headers)

    assert last.status_code == 403
    assert LOCKED_MESSAGE in last.json()["detail"]
    qa_approver.refresh_from_db()
    assert qa_approver.is_locked
    assert AuditEvent.objects.filter(action="security_alert", record_id=str(qa_approver.pk)).exists()
    # Locked: even the right password and the token no longer work.
    right = Client().post(url, {"username": "qa.approver", "password": PASSWORD}, content_type="application/json",
                          headers=headers)
    assert right.status_code == 401


def test_api_roles_are_checked_for_each_transition(make_user, sponsor_a, agreement_in_review):
    viewer = make_user("sponsor.viewer", Role.SPONSOR_VIEWER, sponsors=[sponsor_a])

    response = _approve(viewer, agreement_in_review, username="sponsor.viewer", password=PASSWORD)

    assert response.status_code == 403
    assert "sponsors.approve_agreement" in response.json()["detail"]


@pytest.mark.parametrize(("field", "value"), [("email", "not-an-e-mail"), ("full_name", "x" * 201)])
def test_value_the_model_refuses_is_a_422_with_json_detail(admin_user, field, value):
    body = {"username": "new.starter", "full_name": "Nora Starter", "password": "Gr1ffin-Lantern-77", field: value}

    response = Client().post("/api/v1/users", body, content_type="application/json", headers=bearer(admin_user))

    assert response.status_code == 422, response.content
    assert response.json()["detail"]
    assert not User.objects.filter(username="new.starter").exists()
