"""Disposition pages and API: the shared view tests for every route and operation (P11-1d), what
the pages show (prerequisite rows coloured by state, the tests table, the refusal naming each red
prerequisite in an alert, the signature manifestation, the CoA link once released) and sponsor
segregation (another sponsor's user gets 404 and never sees the records in lists)."""

import pytest
from django.test import Client
from django.urls import reverse

from opencdmo.core.domain.roles import Role
from opencdmo.release import services
from opencdmo.release.models import Disposition, PostReleaseNotice
from tests.conftest import PASSWORD
from tests.factories import signature
from tests.web.conftest import bearer, records_a, signed_in, user_a  # noqa: F401
from tests.web.viewtests import PermissionApiTest, PermissionPageTest

from . import builders

pytestmark = pytest.mark.req("P11-1d")


@pytest.fixture(autouse=True)
def _clock(fake_clock):
    return fake_clock


def _cached(records, name: str, build):
    if getattr(records, name, None) is None:
        setattr(records, name, build(records))
    return getattr(records, name)


def _lot(records) -> str:
    return _cached(records, "rel_lot", lambda r: builders.quarantined_lot(r.sponsor)[0].number)


def _disposition(records) -> str:
    return _cached(records, "rel_disposition", lambda r: builders.lot_disposition_for_sponsor(None, r.sponsor, ""))


def _notice(records) -> str:
    return _cached(records, "rel_notice", lambda r: builders.lot_notice_for_sponsor(None, r.sponsor, ""))


def _batch(records) -> str:
    from tests.batches.builders import batch_for_sponsor  # noqa: PLC0415

    return _cached(records, "rel_batch", lambda r: batch_for_sponsor(None, r.sponsor, ""))


# --- Pages ------------------------------------------------------------------------------------

class _Page(PermissionPageTest):
    roles = (Role.SPONSOR_VIEWER,)
    refused_roles = ()
    args = staticmethod(lambda records: ())

    def url(self, world):
        return reverse(self.route, args=self.args(world))


class TestDispositionList(_Page):
    route = "release:dispositions"


class TestBatchDispositionPage(_Page):
    route = "release:batch"
    args = staticmethod(lambda records: (_batch(records),))


class TestLotDispositionPage(_Page):
    route = "release:lot"
    args = staticmethod(lambda records: (_lot(records),))


class TestDispositionByNumber(_Page):
    route = "release:disposition"
    status = 302
    args = staticmethod(lambda records: (_disposition(records),))


class TestNoticePage(_Page):
    route = "release:notice"
    args = staticmethod(lambda records: (_notice(records),))


# --- API --------------------------------------------------------------------------------------

class _Api(PermissionApiTest):
    roles = (Role.SPONSOR_VIEWER,)
    refused_roles = ()
    number = None
    body = None

    def url(self, world):
        path = self.operation[1]
        return "/api/v1" + (path.format(number=self.number(world)) if "{number}" in path else path)

    def data(self, world, user):
        return self.body(user) if self.body else None


class TestApiDispositions(_Api):
    operation = ("GET", "/release/dispositions")


class TestApiBatchDisposition(_Api):
    operation = ("GET", "/release/batches/{number}/disposition")
    number = staticmethod(_batch)


class TestApiDecideBatch(_Api):
    operation = ("POST", "/release/batches/{number}/disposition")
    roles = (Role.QA_APPROVER,)
    number = staticmethod(_batch)
    body = staticmethod(lambda user: {"decision": "reject", "username": user.username, "password": PASSWORD,
                                      "comment": "Batch aborted: contamination suspected."})


class TestApiLotDisposition(_Api):
    operation = ("GET", "/release/lots/{number}/disposition")
    number = staticmethod(_lot)


class TestApiDecideLot(_Api):
    operation = ("POST", "/release/lots/{number}/disposition")
    roles = (Role.QA_APPROVER,)
    number = staticmethod(_lot)
    body = staticmethod(lambda user: {"decision": "release", "username": user.username, "password": PASSWORD})


class TestApiNotices(_Api):
    operation = ("GET", "/release/notices")


class TestApiNotice(_Api):
    operation = ("GET", "/release/notices/{number}")
    number = staticmethod(_notice)


class TestApiRecordNotification(_Api):
    operation = ("POST", "/release/notices/{number}/notification")
    roles = (Role.QA_SPECIALIST,)
    number = staticmethod(_notice)
    body = staticmethod(lambda user: {"notified_whom": "Sponsor QP", "notification": "Told by phone and e-mail."})


# --- What the pages show ------------------------------------------------------------------------

@pytest.mark.django_db
@pytest.mark.req("REL-1")
def test_the_batch_page_shows_each_prerequisite_coloured_and_a_refusal_names_the_red_ones(sponsor_a, make_user):
    number = builders.batches.batch_for_sponsor(None, sponsor_a, "")  # in progress: not reviewed
    qp = make_user("page.qp", Role.QA_APPROVER, sponsors=[sponsor_a])
    client = signed_in(qp)
    page = client.get(reverse("release:batch", args=[number])).content.decode()
    assert 'class="prereq-unmet" data-state="unmet"' in page and "Batch record reviewed" in page
    assert 'data-state="not_applicable"' in page and "has no EM programme." in page
    assert "Release conditionally" in page and "Sign: QA Released" in page
    response = client.post(reverse("release:batch", args=[number]),
                           {"decision": "release", "username": qp.username, "password": PASSWORD})
    assert response.status_code == 422
    body = response.content.decode()
    assert 'role="alert"' in body
    alert = body[body.index('role="alert"'):]
    assert "Batch record reviewed" in alert and "Release tests" in alert
    assert not Disposition.objects.filter(subject_ref=number).exists()  # a refusal changes nothing


@pytest.mark.django_db
def test_after_a_lot_decision_the_page_shows_the_signature_manifestation_and_the_coa_link(sponsor_a, make_user):
    lot, qa = builders.quarantined_lot(sponsor_a)
    qp = make_user("page.qp", Role.QA_APPROVER, sponsors=[sponsor_a])
    client = signed_in(qp)
    url = reverse("release:lot", args=[lot.number])
    assert reverse("release:lot_coa", args=[lot.number]) not in client.get(url).content.decode()
    response = client.post(url, {"decision": "release", "username": qp.username, "password": PASSWORD})
    assert response.status_code == 302
    page = client.get(url).content.decode()
    assert "Page Qp" in page and "QA Released" in page and "UTC" in page
    assert reverse("release:lot_coa", args=[lot.number]) in page
    lot.refresh_from_db()
    assert lot.status == "released"


@pytest.mark.django_db
def test_the_notice_page_records_the_notification(sponsor_a, make_user):
    number = builders.lot_notice_for_sponsor(None, sponsor_a, "")
    qa = make_user("page.qa", Role.QA_SPECIALIST, sponsors=[sponsor_a])
    client = signed_in(qa)
    url = reverse("release:notice", args=[number])
    assert "Record the notification" in client.get(url).content.decode()
    refused = client.post(url, {"notified_whom": "", "notification": "x"})
    assert refused.status_code == 422 and 'role="alert"' in refused.content.decode()
    assert client.post(url, {"notified_whom": "Dr. Weber", "notification": "Phoned."}).status_code == 302
    assert PostReleaseNotice.objects.get(number=number).status == "notified"


@pytest.mark.django_db
def test_the_lists_show_awaiting_and_decided_dispositions(sponsor_a, make_user):
    lot, qa = builders.quarantined_lot(sponsor_a)
    decided_lot, _ = builders.quarantined_lot(sponsor_a, code="RM-DEC")
    disposition = services.open_disposition(qa, decided_lot)
    services.decide(qa, disposition, "reject", comment="Damaged in transit.", signature=signature(qa, "Rejected"))
    client = signed_in(make_user("viewer", Role.SPONSOR_VIEWER, sponsors=[sponsor_a]))
    awaiting = client.get(reverse("release:dispositions")).content.decode()
    assert lot.number in awaiting and decided_lot.number not in awaiting
    decided = client.get(reverse("release:dispositions") + "?view=decided&status=rejected&sort=-number").content.decode()
    assert disposition.number in decided and "Rejected" in decided


# --- Sponsor segregation -----------------------------------------------------------------------

@pytest.mark.django_db
def test_another_sponsors_user_gets_404_and_never_sees_the_records_in_lists(sponsor_a, sponsor_b, make_user):
    notice = builders.lot_notice_for_sponsor(None, sponsor_a, "")
    disposition = PostReleaseNotice.objects.get(number=notice).disposition
    lot = disposition.subject_ref
    other = make_user("beta.qp", Role.QA_APPROVER, sponsors=[sponsor_b])
    client = signed_in(other)
    for url in (reverse("release:lot", args=[lot]), reverse("release:notice", args=[notice]),
                reverse("release:disposition", args=[disposition.number])):
        assert client.get(url).status_code == 404, url
    assert client.post(reverse("release:lot", args=[lot]), {"decision": "reject"}).status_code == 404
    api = Client()
    headers = bearer(other)
    for path in (f"/api/v1/release/lots/{lot}/disposition", f"/api/v1/release/notices/{notice}"):
        assert api.get(path, headers=headers).status_code == 404, path
    for url in (reverse("release:dispositions") + "?view=decided", reverse("release:dispositions")):
        body = client.get(url).content.decode()
        assert disposition.number not in body and lot not in body and notice not in body
    listed = api.get("/api/v1/release/dispositions", headers=headers).json()
    assert disposition.number not in str(listed)
    assert notice not in str(api.get("/api/v1/release/notices", headers=headers).json())
