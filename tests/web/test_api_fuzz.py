"""Schemathesis against /api/v1/openapi.json: bad input never produces a server error (DESIGN.md
"Interfaces"): every operation answers with its documented success or a 4xx JSON {"detail": …}."""

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, settings

from opencdmo.core import services
from opencdmo.core.domain.roles import Role
from tests import factories

from .conftest import EVERY_STAFF_ROLE


@pytest.fixture
def _connection_kept_between_requests():
    """Django closes old connections around each WSGI request; in a test that would drop the
    test's transaction (Django's own test client disconnects the same signal handlers)."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@pytest.fixture
def admin_token(make_user, sponsor_a, sponsor_b):
    """A personal API token of an administrator who sees both sponsors and holds every staff role,
    with records to act on: a draft and an agreement in review."""
    admin = make_user("fuzz.admin", *EVERY_STAFF_ROLE, sponsors=[sponsor_a, sponsor_b])
    author = make_user("fuzz.author", Role.QA_SPECIALIST, sponsors=[sponsor_a, sponsor_b])
    factories.draft_agreement(author, sponsor_a)
    factories.submitted_agreement(author, sponsor_b)
    return services.create_api_token(admin, name="schemathesis")


# The OpenAPI document as the app serves it, and the app itself called in-process (WSGI).
schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", get_wsgi_application())


@schema.parametrize()
@settings(max_examples=30, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.function_scoped_fixture])
def test_api_answers_bad_input_with_4xx_json_never_5xx(case, admin_token, _connection_kept_between_requests):
    response = case.call(headers={"Authorization": f"Bearer {admin_token}"})

    assert response.status_code < 500, f"{case.method} {case.formatted_path}: {response.text[:500]}"
    if response.status_code >= 400:
        assert response.headers["content-type"][0].startswith("application/json"), response.text[:200]
        assert "detail" in response.json()
