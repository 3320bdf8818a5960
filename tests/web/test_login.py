"""The sign-in page: lockout with a security alert, a message that never says whether a user ID
exists, and the inactivity timeout (P11-7, A11-11; the numbers are settings, not regulation)."""

import datetime as dt
import os
import re
import subprocess
import sys

import pytest
from django.conf import settings
from django.contrib.sessions.models import Session
from django.test import Client
from django.utils import timezone

from opencdmo.core.models import AuditEvent
from opencdmo.core.security import LOCKED_MESSAGE
from tests.conftest import PASSWORD

GENERIC = "User ID or password is not correct."


def _alert(response) -> str:
    return re.search(r'<p class="error" role="alert">(.*?)</p>', response.content.decode()).group(1)


def _login(client, username, password, **extra):
    return client.post("/login/", {"username": username, "password": password, **extra})


def test_right_credentials_start_a_session_and_the_login_is_audited(qa_author):
    client = Client()

    response = _login(client, "qa.author", PASSWORD)

    assert response.status_code == 302
    assert response["Location"] == "/"
    assert client.get("/").status_code == 200
    assert AuditEvent.objects.filter(action="login", actor_id=qa_author.pk).count() == 1


def test_user_id_is_not_case_sensitive(qa_author):
    assert _login(Client(), "QA.Author", PASSWORD).status_code == 302


@pytest.mark.req("P11-7")
def test_unknown_user_id_gets_a_generic_message_that_does_not_say_it_is_unknown(db):
    response = _login(Client(), "nobody.here", PASSWORD)

    assert response.status_code == 403
    body = response.content.decode()
    assert GENERIC in body
    for hint in ("unknown", "does not exist", "no such user", "not found"):
        assert hint not in body.lower()
    event = AuditEvent.objects.get(action="failed_login")
    assert (event.actor_id, event.record_label) == (None, "nobody.here")


@pytest.mark.req("P11-7")
def test_deactivated_user_gets_the_same_generic_message(qa_author, admin_user):
    from opencdmo.core import services  # noqa: PLC0415

    services.deactivate_user(admin_user, qa_author, reason="left the company")

    response = _login(Client(), "qa.author", PASSWORD)

    assert response.status_code == 403
    assert GENERIC in response.content.decode()


@pytest.mark.req("P11-7")
def test_wrong_password_gets_the_same_answer_as_an_unknown_user_id(qa_author):
    """The page must not tell an attacker which user IDs exist."""
    known = _login(Client(), "qa.author", "not the password")
    unknown = _login(Client(), "nobody.here", "not the password")

    assert known.status_code == unknown.status_code == 403
    assert _alert(known) == _alert(unknown) == GENERIC
    qa_author.refresh_from_db()
    assert qa_author.failed_logins == 1


@pytest.mark.req("P11-7")
def test_account_locks_after_repeated_failed_logins_with_a_security_alert(qa_author):
    client = Client()
    for _ in range(settings.LOCKOUT_FAILURES - 1):
        _login(client, "qa.author", "not the password")

    last = _login(client, "qa.author", "not the password")

    assert last.status_code == 403
    assert LOCKED_MESSAGE in last.content.decode()
    qa_author.refresh_from_db()
    assert qa_author.is_locked
    alert = AuditEvent.objects.get(action="security_alert")
    assert alert.record_id == str(qa_author.pk)
    assert "account locked" in alert.reason
    # Even the right password no longer opens the account, and the user is told why.
    again = _login(client, "qa.author", PASSWORD)
    assert again.status_code == 403
    assert LOCKED_MESSAGE in again.content.decode()
    assert client.get("/").status_code == 302


@pytest.mark.req("P11-7")
def test_locked_account_appears_in_the_administrators_security_alerts(qa_author, admin_user):
    for _ in range(settings.LOCKOUT_FAILURES):
        _login(Client(), "qa.author", "not the password")
    admin = Client()
    admin.force_login(admin_user)

    body = admin.get("/security-alerts/").content.decode()

    assert "Qa Author (qa.author)" in body
    assert "account locked" in body


@pytest.mark.req("P11-7")
def test_locking_an_account_ends_its_open_session(qa_author):
    client = Client()
    _login(client, "qa.author", PASSWORD)
    assert client.get("/").status_code == 200

    for _ in range(settings.LOCKOUT_FAILURES):
        _login(Client(), "qa.author", "not the password")

    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


def test_successful_login_resets_the_failure_count(qa_author):
    _login(Client(), "qa.author", "not the password")

    _login(Client(), "qa.author", PASSWORD)

    qa_author.refresh_from_db()
    assert qa_author.failed_logins == 0


@pytest.mark.parametrize(("target", "landing"), [
    ("/sponsors/", "/sponsors/"), ("//evil.example/phish", "/"), ("https://evil.example/", "/"),
])
def test_sign_in_returns_only_to_a_page_of_this_site(qa_author, target, landing):
    response = _login(Client(), "qa.author", PASSWORD, next=target)

    assert response["Location"] == landing


def test_sign_out_ends_the_session_and_is_audited(qa_author):
    client = Client()
    _login(client, "qa.author", PASSWORD)

    response = client.post("/logout/")

    assert response["Location"] == "/login/"
    assert client.get("/").status_code == 302
    assert AuditEvent.objects.filter(action="logout", actor_id=qa_author.pk).exists()


# Inactivity timeout (P11-6 "continuous period of controlled access" ends with it).

@pytest.mark.req("P11-6")
def test_inactivity_timeout_comes_from_opencdmo_session_timeout_min():
    env = {**os.environ, "OPENCDMO_SESSION_TIMEOUT_MIN": "7"}
    code = ("import opencdmo.settings as s; "
            "print(s.SESSION_COOKIE_AGE, s.SESSION_SAVE_EVERY_REQUEST, s.SESSION_EXPIRE_AT_BROWSER_CLOSE)")

    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout

    assert out.split() == ["420", "True", "True"]
    assert settings.SESSION_COOKIE_AGE == settings.SESSION_TIMEOUT_MIN * 60
    assert settings.SESSION_SAVE_EVERY_REQUEST is True


def _session(client) -> Session:
    return Session.objects.get(session_key=client.session.session_key)


@pytest.mark.req("P11-6")
def test_each_request_renews_the_inactivity_timeout(qa_author):
    client = Client()
    _login(client, "qa.author", PASSWORD)
    soon = timezone.now() + dt.timedelta(minutes=1)
    Session.objects.filter(session_key=client.session.session_key).update(expire_date=soon)

    assert client.get("/").status_code == 200

    renewed = _session(client).expire_date
    expected = timezone.now() + dt.timedelta(seconds=settings.SESSION_COOKIE_AGE)
    assert abs((renewed - expected).total_seconds()) < 60


@pytest.mark.req("P11-6")
def test_an_inactive_session_expires_and_asks_to_sign_in_again(qa_author):
    client = Client()
    _login(client, "qa.author", PASSWORD)
    past = timezone.now() - dt.timedelta(seconds=1)
    Session.objects.filter(session_key=client.session.session_key).update(expire_date=past)

    response = client.get("/sponsors/")

    assert response.status_code == 302
    assert response["Location"] == "/login/?next=/sponsors/"


def test_sign_in_page_shows_no_navigation_and_asks_for_user_id_and_password(db):
    body = Client().get("/login/").content.decode()

    assert 'name="username"' in body and 'name="password"' in body
    assert 'class="topbar"' not in body
