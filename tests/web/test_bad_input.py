"""Pages answer bad input with a 4xx and a message the user can act on, never a server error."""

import pytest
from django.test import Client

from opencdmo.core.models import User

from .conftest import signed_in

GOOD_PASSWORD = "Gr1ffin-Lantern-77"


def _client(user) -> Client:
    client = Client(raise_request_exception=False)
    client.force_login(user)
    return client


@pytest.mark.parametrize(("field", "value", "message"), [
    ("email", "not-an-e-mail", "Email: Enter a valid email address."),
    ("full_name", "x" * 201, "Printed name: Ensure this value has at most 200 characters"),
    ("username", "u" * 65, "Username: Ensure this value has at most 64 characters"),
])
def test_new_user_form_refuses_a_value_the_account_cannot_hold(admin_user, field, value, message):
    form = {"username": "new.starter", "full_name": "Nora Starter", "password": GOOD_PASSWORD, field: value}
    users = User.objects.count()

    response = _client(admin_user).post("/users/new/", form)

    assert response.status_code == 422
    assert message in response.content.decode()
    assert User.objects.count() == users


def test_user_details_form_refuses_an_invalid_e_mail(admin_user, qa_author):
    response = _client(admin_user).post(f"/users/{qa_author.username}/", {
        "action": "details", "full_name": "Qa Author", "email": "not-an-e-mail", "reason": "typo"})

    assert response.status_code == 422
    assert "Enter a valid email address" in response.content.decode()
    qa_author.refresh_from_db()
    assert qa_author.email == ""


@pytest.mark.parametrize("token", ["abc", "99999999999999999999999", ""])
def test_revoking_a_token_that_does_not_exist_says_so(qa_author, token):
    response = _client(qa_author).post("/profile/", {"action": "revoke", "token": token})

    assert response.status_code == 422
    assert "That token does not exist." in response.content.decode()


def test_revoking_another_users_token_is_refused(qa_author, qa_approver):
    from opencdmo.core import services  # noqa: PLC0415

    services.create_api_token(qa_approver, name="LIMS")
    token = qa_approver.api_tokens.get()

    response = signed_in(qa_author).post("/profile/", {"action": "revoke", "token": str(token.pk)})

    assert response.status_code == 422
    token.refresh_from_db()
    assert token.revoked_at is None


NUL_URLS = [
    "/sponsors/quality-agreements/%00/",
    "/sponsors/quality-agreements/?status=%00",
    "/audit-trail/?text=%00",
    "/records/sponsors.qualityagreement/%00/signatures/",
    # --- QC laboratory and disposition ---
    "/qc/samples/%00/",
    "/qc/samples/?q=%00",
    "/qc/worklist/?tab=review&q=%00",
    "/qc/specifications/?q=%00",
    "/qc/methods/%00/",
    "/qc/oos/?q=%00",
    "/qc/stability/?q=%00",
    "/qc/stability/pulls-due/?until=%00",
    "/release/?view=decided&q=%00",
    "/release/batches/%00/",
    "/release/lots/%00/coa.pdf",
]


@pytest.mark.parametrize("url", NUL_URLS)
def test_nul_character_in_a_url_is_a_4xx_not_a_server_error(admin_user, url):
    response = _client(admin_user).get(url)

    assert response.status_code == 400


def test_nul_character_in_a_form_is_refused_and_nothing_is_written(admin_user):
    from opencdmo.core.models import User  # noqa: PLC0415

    response = _client(admin_user).post("/users/new/", {"username": "nul\x00user", "full_name": "Nul User",
                                                        "password": "a long enough passphrase"})

    assert response.status_code == 400
    assert not User.objects.filter(full_name="Nul User").exists()
