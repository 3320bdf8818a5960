"""Shared test classes for pages and API endpoints (NetBox's ViewTestCases, P11-1d, P11-1g).

A test class names a route, the roles that open it and the roles that do not; it inherits the
tests every page or endpoint must pass:
- anonymous: a page sends the visitor to sign in, an endpoint answers 401 with a JSON detail;
- signed in without the permission: 403 with a message saying which permission is missing;
- signed in with the permission: the page or the endpoint's success status.
`test_every_route_has_view_tests` (test_views.py) fails when a route has no such class.
"""

from django.test import Client
from django.urls import reverse

from .conftest import SponsorRecords, bearer, signed_in

NO_ROLE: tuple = ()  # a signed-in user who holds no role at all


def _all_subclasses(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from _all_subclasses(sub)


class _Request:
    method = "GET"
    roles: tuple = ()  # a user with these roles (and the sponsor) opens it
    status = 200  # what a permitted user gets

    def url(self, world: SponsorRecords) -> str:
        raise NotImplementedError

    def data(self, world: SponsorRecords, user) -> dict | None:
        return None

    def send(self, client, world, user=None, headers=None, **extra):
        method = self.method.lower()
        data = self.data(world, user) if user is not None else self.data(world, world.author)
        if data is None:
            return getattr(client, method)(self.url(world), headers=headers, **extra)
        return getattr(client, method)(self.url(world), data, headers=headers, **extra)

    def permitted_user(self, make_user, world):
        return make_user("permitted.user", *self.roles, sponsors=[world.sponsor])


class PageTest(_Request):
    """A page open to every signed-in user."""

    route = ""  # URL name, e.g. "sponsors:agreement"

    def url(self, world):
        return reverse(self.route)

    def test_anonymous_visitor_is_sent_to_sign_in(self, records_a):
        response = self.send(Client(), records_a)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("core:login") + "?next=")

    def test_user_with_permission_gets_the_page(self, make_user, records_a):
        user = self.permitted_user(make_user, records_a)
        response = self.send(signed_in(user), records_a, user)
        assert response.status_code == self.status, response.content[:1000]


class PermissionPageTest(PageTest):
    """A page that needs a permission."""

    refused_roles: tuple = NO_ROLE

    def test_user_without_permission_is_refused_with_a_message(self, make_user, records_a):
        user = make_user("refused.user", *self.refused_roles, sponsors=[records_a.sponsor])
        response = self.send(signed_in(user), records_a, user)
        assert response.status_code == 403, response.content[:1000]
        body = response.content.decode()
        assert 'role="alert"' in body
        assert "You do not have the permission" in body


class ApiTest(_Request):
    """An API operation open to every authenticated user."""

    operation: tuple[str, str] = ("", "")  # (method, path as the API declares it)
    multipart = False

    @property
    def method(self):
        return self.operation[0]

    def url(self, world):
        return "/api/v1" + self.operation[1]

    def send(self, client, world, user=None, headers=None, **extra):
        if not self.multipart and self.data(world, user or world.author) is not None:
            extra.setdefault("content_type", "application/json")
        return super().send(client, world, user, headers, **extra)

    def test_anonymous_request_gets_401_with_json_detail(self, records_a):
        response = self.send(Client(), records_a)
        assert response.status_code == 401
        assert response["Content-Type"].startswith("application/json")
        assert "Sign in" in response.json()["detail"]

    def test_user_with_permission_gets_the_resource(self, make_user, records_a):
        user = self.permitted_user(make_user, records_a)
        response = self.send(Client(), records_a, user, headers=bearer(user))
        assert response.status_code == self.status, response.content[:1000]
        assert response["Content-Type"].startswith("application/json")


class PermissionApiTest(ApiTest):
    """An API operation that needs a permission."""

    refused_roles: tuple = NO_ROLE

    def test_user_without_permission_gets_403_with_json_detail(self, make_user, records_a):
        user = make_user("refused.user", *self.refused_roles, sponsors=[records_a.sponsor])
        response = self.send(Client(), records_a, user, headers=bearer(user))
        assert response.status_code == 403, response.content[:1000]
        assert "You do not have the permission" in response.json()["detail"]


def page_tests():
    return [c for c in _all_subclasses(PageTest) if c.route]


def api_tests():
    return [c for c in _all_subclasses(ApiTest) if c.operation[0]]
