"""Pages and API of vein to vein: a therapy's timeline, the in-flight board and a product's
labelling settings and custody windows (the shared view tests, P11-1d), what they show, and
sponsor segregation: another sponsor's user gets 404 and never sees the therapy on the board."""

import itertools

import pytest
from django.test import Client
from django.urls import reverse

from opencdmo.core.domain.roles import Role
from opencdmo.identity.models import CustodyWindow, ProductIdentity, TherapyOrder
from tests.web.conftest import bearer, records_a, signed_in  # noqa: F401
from tests.web.viewtests import PermissionApiTest, PermissionPageTest

from . import builders

pytestmark = pytest.mark.req("P11-1d")

_unique = itertools.count(1)
PRODUCT = "ACM-101"


def _order(records):
    if getattr(records, "therapy_order", None) is None:
        records.therapy_order = builders.order_for_sponsor(records.author, records.sponsor, "timeline tests")
    return records.therapy_order


class _Page(PermissionPageTest):
    roles = (Role.OPERATOR,)
    refused_roles = ()


class TestTimelinePage(_Page):
    route = "identity:timeline"

    def url(self, world):
        return reverse(self.route, args=[_order(world)])


class TestBoardPage(_Page):
    route = "identity:board"


class TestProductSettingsPage(_Page):
    route = "identity:product_settings"
    roles = (Role.PLANNER,)
    refused_roles = (Role.OPERATOR,)

    def url(self, world):
        return reverse(self.route, args=[PRODUCT])


class _Api(PermissionApiTest):
    roles = (Role.OPERATOR,)
    refused_roles = ()
    body = None

    def url(self, world):
        return "/api/v1" + self.operation[1].format(number=_order(world), code=PRODUCT)

    def data(self, world, user):
        return self.body(world) if self.body else None


class _ConfigureApi(_Api):
    roles = (Role.PLANNER,)
    refused_roles = (Role.OPERATOR,)


class TestApiTimeline(_Api):
    operation = ("GET", "/therapy-orders/{number}/timeline")


class TestApiInFlight(_Api):
    operation = ("GET", "/in-flight")


class TestApiIdentitySettings(_Api):
    operation = ("GET", "/products/{code}/identity-settings")


class TestApiSetIdentitySettings(_ConfigureApi):
    operation = ("PUT", "/products/{code}/identity-settings")
    body = staticmethod(lambda world: {"collection_pdc": "S1001", "final_pdc": "S1295", "collection_type": "1",
                                       "storage": "Store at ≤ −150 °C", "shelf_life_days": 180})


class TestApiAddCustodyWindow(_ConfigureApi):
    operation = ("POST", "/products/{code}/custody-windows")
    status = 201
    body = staticmethod(lambda world: {"start": "collection", "end": "receipt", "limit_hours": 48,
                                       "warn_hours": 6})


# --- What the pages and the API show ------------------------------------------------------------

@pytest.fixture
def flight(sponsor_a, make_user, fake_clock):
    """A therapy of sponsor A 50 h after collection, receipt refused once then verified late."""
    product = builders.autologous_product(sponsor_a)
    builders.windows(product, ("collection", "receipt", 48, 6))
    planner = builders.planner(sponsor_a)
    order = builders.order(planner, builders.patient(planner, sponsor_a))
    handler = make_user("v2v.handler", Role.MATERIAL_HANDLER, sponsors=[sponsor_a])
    builders.reach(order, ("collection", 1), clock=fake_clock, by=handler)
    fake_clock.advance(hours=49)
    refused = builders.refused_scan(handler, order)
    builders.reach(order, ("receipt", 1), clock=fake_clock, by=handler)
    return order, refused, handler


@pytest.mark.django_db
class TestShown:
    def test_timeline_shows_refusals_in_red_with_their_deviation_and_links_back(self, flight):
        order, refused, handler = flight
        body = signed_in(handler).get(reverse("identity:timeline", args=[order.number])).content.decode()
        assert f'<li class="refused" id="event-{refused.pk}"' in body
        assert refused.deviation.number in body and reverse("quality:deviation", args=[refused.deviation.number]) in body
        assert reverse("identity:order", args=[order.number]) in body
        assert 'class="badge badge-rejected">Missed' in body  # collection → receipt took 50 h of 48
        assert "2 d 1 h 00 min since collection" in body  # the refused scan, 49 h after collection
        assert "2 d 2 h 00 min since collection · 1 h 00 min since the previous entry" in body  # the receipt

    def test_board_flags_and_links_to_the_timeline(self, flight):
        order, _, handler = flight
        body = signed_in(handler).get(reverse("identity:board") + "?at_risk=1").content.decode()
        assert reverse("identity:timeline", args=[order.number]) in body
        assert 'class="badge badge-rejected">Missed' in body
        assert 'hx-trigger="every 60s"' in body

    def test_api_timeline_and_board(self, flight):
        order, refused, handler = flight
        client = Client()
        timeline = client.get(f"/api/v1/therapy-orders/{order.number}/timeline", headers=bearer(handler)).json()
        assert [(e["kind"], e["result"]) for e in timeline["entries"]] == [
            ("ordered", None), ("collection", "verified"), ("receipt", "refused"), ("receipt", "verified")]
        assert timeline["entries"][2]["deviation"] == refused.deviation.number
        assert timeline["windows"][0]["state"] == "missed" and timeline["windows"][0]["remaining_hours"] == -2
        board = client.get("/api/v1/in-flight?at_risk=true", headers=bearer(handler, "b")).json()
        assert [(r["number"], r["flag"]) for r in board] == [(order.number, "missed")]

    def test_settings_form_sets_labelling_and_windows(self, sponsor_a):
        client = signed_in(builders.planner(sponsor_a))
        url = reverse("identity:product_settings", args=[PRODUCT])
        response = client.post(url, {"form": "identity", "collection_pdc": "s1001", "final_pdc": "S1295",
                                     "collection_type": "1", "storage": "LN2 vapour", "shelf_life_days": "120"})
        assert response.status_code == 302
        assert ProductIdentity.objects.get(product__code=PRODUCT).collection_pdc == "S1001"
        response = client.post(url, {"form": "window", "start": "receipt", "end": "collection", "limit_hours": "4"})
        assert response.status_code == 422 and "must come before" in response.content.decode()
        client.post(url, {"form": "window", "start": "receipt", "end": "cryo_in", "limit_hours": "24",
                          "warn_hours": "4"})
        assert CustodyWindow.objects.get(product__code=PRODUCT, start="receipt").limit_hours == 24
        assert "Receipt at the CDMO" in client.get(url).content.decode()


@pytest.mark.django_db
class TestSegregation:
    @pytest.fixture
    def outsider(self, sponsor_b, make_user):
        return make_user("beta.planner", Role.PLANNER, sponsors=[sponsor_b])

    def test_pages_are_404_and_the_board_leaves_the_therapy_out(self, flight, outsider):
        order = flight[0]
        client = signed_in(outsider)
        assert client.get(reverse("identity:timeline", args=[order.number])).status_code == 404
        assert client.get(reverse("identity:product_settings", args=[PRODUCT])).status_code == 404
        assert client.post(reverse("identity:product_settings", args=[PRODUCT]),
                           {"form": "window", "start": "collection", "end": "receipt",
                            "limit_hours": "1"}).status_code == 404
        board = client.get(reverse("identity:board")).content.decode()
        assert order.number not in board and "No therapy in flight matches" in board

    def test_api_is_404_and_the_board_leaves_the_therapy_out(self, flight, outsider):
        order, client = flight[0], Client()
        headers = bearer(outsider)
        assert client.get(f"/api/v1/therapy-orders/{order.number}/timeline", headers=headers).status_code == 404
        assert client.get(f"/api/v1/products/{PRODUCT}/identity-settings", headers=headers).status_code == 404
        assert client.post(f"/api/v1/products/{PRODUCT}/custody-windows", {"start": "collection", "end": "receipt",
                                                                          "limit_hours": 1},
                           content_type="application/json", headers=headers).status_code == 404
        assert client.get("/api/v1/in-flight", headers=headers).json() == []
        assert CustodyWindow.objects.get(product__code=PRODUCT).limit_hours == 48
        assert TherapyOrder.objects.filter(number=order.number).exists()


@pytest.mark.django_db
def test_board_page_sorts_and_filters(sponsor_a, fake_clock):
    planner = builders.planner(sponsor_a)
    first, second = (builders.order(planner, builders.patient(planner, sponsor_a)) for _ in range(2))
    builders.reach(first, ("collection", 1), clock=fake_clock)
    client, url = signed_in(planner), reverse("identity:board")

    def shown(query):
        body = client.get(url + query).content.decode()
        return [n for n in sorted((body.find(o.number), o.number) for o in (first, second)) if n[0] >= 0]

    assert [n for _, n in shown("?sort=-number")] == [second.number, first.number]
    assert [n for _, n in shown("?sort=collection")] == [first.number, second.number]  # not collected: last
    assert [n for _, n in shown(f"?product={PRODUCT}&sort=number")] == [first.number, second.number]
    assert shown("?product=NONE") == []
