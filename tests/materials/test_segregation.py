"""Sponsor segregation for materials: a user of sponsor A meets sponsor B's lots and materials
nowhere — every URL naming them answers 404 as for a lot that does not exist, writes against them
change nothing, lists leave them out; the CDMO's own lots are for CDMO staff only."""

import pytest
from django.test import Client

from opencdmo.core.domain.roles import Role
from tests.web.conftest import EVERY_STAFF_ROLE, bearer

from . import builders
from .conftest import written

pytestmark = [pytest.mark.req("P11-1d"), pytest.mark.usefixtures("api_urls")]

ALL_MATERIALS_ROLES = (*EVERY_STAFF_ROLE, Role.MATERIAL_HANDLER, Role.SUPERVISOR)

PAGES = [
    ("GET", "/materials/lots/{lot}/", None),
    ("GET", "/materials/lots/{lot}/labels/", None),
    *(("GET", f"/materials/lots/{{lot}}/{kind}/", None)
      for kind in ("issue", "return", "sample", "transfer", "adjust", "destroy")),
    ("POST", "/materials/lots/{lot}/issue/", {"location": "QUAR-01", "quantity": "1", "for_label": "B-1"}),
    ("POST", "/materials/lots/{lot}/adjust/", {"location": "QUAR-01", "quantity": "0", "reason": "probe"}),
    ("POST", "/materials/lots/{lot}/destroy/", {"location": "QUAR-01", "quantity": "1", "reason": "probe"}),
    ("GET", "/materials/scan/?number={lot}", None),
    ("GET", "/materials/trace/?lot={lot}", None),
    ("GET", "/materials/trace/?lot={lot}&format=json", None),
    ("GET", "/materials/master/{material}/", None),
    ("POST", "/materials/master/{material}/", {"action": "edit", "name": "taken", "category": "reagent",
                                               "storage": "ult", "unit": "mL", "reason": "probe"}),
    ("POST", "/materials/receive/", {"material": "{material}", "supplier": "{supplier}", "supplier_lot": "P-1",
                                     "quantity": "1", "location": "QUAR-01", "expiry_date": "2099-01-01"}),
    *(("GET", f"/records/materials.lot/{{lot}}/{tab}/", None) for tab in ("audit-trail", "signatures", "attachments")),
    ("POST", "/records/materials.lot/{lot}/actions/hold/", {"reason": "probe"}),
]

API = [
    ("GET", "/api/v1/lots/{lot}", None),
    ("GET", "/api/v1/lots/{lot}/transactions", None),
    ("GET", "/api/v1/lots/{lot}/trace", None),
    ("GET", "/api/v1/materials/{material}", None),
    ("POST", "/api/v1/lots/{lot}/transactions", {"kind": "issue", "location": "QUAR-01", "quantity": 1,
                                                 "for_label": "B-1"}),
    ("POST", "/api/v1/lots/{lot}/hold", {"reason": "probe"}),
    ("POST", "/api/v1/lots/{lot}/release", {"username": "only.acme", "password": "x"}),
    ("POST", "/api/v1/lots", {"material": "{material}", "supplier": "{supplier}", "supplier_lot": "P-2",
                              "quantity": 1, "location": "QUAR-01"}),
]


def _fill(value, world):
    names = {"lot": world.lot.number, "material": world.material_code, "supplier": world.lot.supplier.code}
    if isinstance(value, dict):
        return {k: _fill(v, world) for k, v in value.items()}
    return value.format(**names) if isinstance(value, str) else value


@pytest.fixture
def user_a(make_user, sponsor_a):
    return make_user("only.acme", *ALL_MATERIALS_ROLES, sponsors=[sponsor_a])


@pytest.mark.parametrize(("method", "url", "data"), PAGES, ids=[f"{m} {u}" for m, u, _ in PAGES])
def test_pages_naming_another_sponsors_lot_answer_404_and_change_nothing(records_a, records_b, user_a, method, url,
                                                                         data):
    client = Client(raise_request_exception=False)
    client.force_login(user_a)
    before = written()

    response = getattr(client, method.lower())(_fill(url, records_b), _fill(data, records_b) or {})

    assert response.status_code == 404, response.content[:500]
    assert written() == before
    typed = _fill(url, records_b).partition("?")[2]  # what the user typed is echoed, as for any unknown lot
    for text in records_b.texts:
        assert text in typed or text not in response.content.decode()


@pytest.mark.parametrize(("method", "url", "data"), API, ids=[f"{m} {u}" for m, u, _ in API])
def test_the_api_naming_another_sponsors_lot_answers_404_and_changes_nothing(records_a, records_b, user_a, method,
                                                                             url, data):
    headers = bearer(user_a)
    before = written()

    if data is None:
        response = Client().get(_fill(url, records_b), headers=headers)
    else:
        response = Client().post(_fill(url, records_b), _fill(data, records_b), content_type="application/json",
                                 headers=headers)

    assert response.status_code == 404, response.content[:500]
    assert response.json()["detail"]
    assert written() == before


def test_lists_show_only_the_users_sponsors_and_the_cdmos_own(records_a, records_b, user_a, qa, handler, medium,
                                                              store, fake_clock):
    own = builders.receive(handler, medium)
    client = Client()
    client.force_login(user_a)
    headers = bearer(user_a)

    pages = "".join(client.get(url).content.decode() for url in (
        "/materials/", "/materials/master/", "/materials/?status=released", "/"))
    api = "".join(Client().get(url, headers=headers).content.decode() for url in ("/api/v1/lots", "/api/v1/materials"))

    for seen in (pages, api):
        assert records_a.lot.number in seen and own.number in seen
        for text in records_b.texts:
            assert text not in seen


def test_a_sponsor_sees_its_own_lots_and_never_the_cdmos(records_a, make_user, sponsor_a, handler, medium, store,
                                                         fake_clock):
    own = builders.receive(handler, medium)
    viewer = make_user("acme.quality", Role.SPONSOR_VIEWER, sponsors=[sponsor_a])
    client = Client()
    client.force_login(viewer)

    inventory = client.get("/materials/").content.decode()

    assert records_a.lot.number in inventory and own.number not in inventory
    assert client.get(f"/materials/lots/{own.number}/").status_code == 404
    assert Client().get(f"/api/v1/lots/{own.number}", headers=bearer(viewer)).status_code == 404
