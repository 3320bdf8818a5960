"""EM worklist, samples, excursions and room programme pages and API: the shared view tests for
every route and operation (P11-1d, P11-1g), bad input refused with a 4xx and no change, and the
browser path of the acceptance test: an action count shows its deviation and affected batch."""

import datetime as dt
import re

import pytest
from django.test import Client
from django.urls import reverse

from opencdmo.core.domain.roles import Role
from opencdmo.envmon import services
from opencdmo.envmon.models import EmSample, Excursion, Location
from tests.envmon import sampling_builders as b
from tests.web.conftest import bearer, records_a, records_b, signed_in  # noqa: F401
from tests.web.viewtests import PermissionApiTest, PermissionPageTest

pytestmark = [pytest.mark.django_db, pytest.mark.req("P11-1d")]


@pytest.fixture(autouse=True)
def _site_clock(fake_clock):
    return fake_clock


def _programme(world) -> b.Programme:
    if getattr(world, "em_programme", None) is None:
        world.em_programme = b.programme(world.sponsor)
        world.em_location = b.location(world.em_programme)
    return world.em_programme


def _location(world) -> Location:
    _programme(world)
    return world.em_location


def _plate(world) -> EmSample:
    """A contact plate, collected and not yet incubated."""
    if getattr(world, "em_plate", None) is None:
        world.em_plate = b.plate(_programme(world), _location(world))
    return world.em_plate


def _particle_excursion(world) -> Excursion:
    """An action excursion from a particle count (grade B in operation, ≥0.5 µm: 352,000/m³)."""
    if getattr(world, "em_excursion", None) is None:
        p = _programme(world)
        sample = services.collect_sample(p.sampler, location=_location(world), sample_type="particles_0_5",
                                         state="in_operation", volume_litres="1000", instrument=p.particle_counter,
                                         count=400000)
        world.em_excursion = Excursion.objects.get(sample=sample, kind="action")
    return world.em_excursion


class _Page(PermissionPageTest):
    roles = (Role.OPERATOR,)
    refused_roles = ()
    args = staticmethod(lambda world: ())

    def url(self, world):
        return reverse(self.route, args=self.args(world))


class TestWorklist(_Page):
    route = "envmon:worklist"


class TestSamples(_Page):
    route = "envmon:samples"


class TestSample(_Page):
    route = "envmon:sample"
    args = staticmethod(lambda world: (_plate(world).number,))


class TestExcursions(_Page):
    route = "envmon:excursions"


class TestExcursion(_Page):
    route = "envmon:excursion"
    args = staticmethod(lambda world: (_particle_excursion(world).number,))


class TestRoomProgramme(_Page):
    route = "envmon:room_programme"
    args = staticmethod(lambda world: (_programme(world).room.code,))


class TestCollectForm(_Page):
    route = "envmon:collect"
    refused_roles = (Role.QA_SPECIALIST,)

    def url(self, world):
        return reverse(self.route) + f"?location={_location(world).code}"


class TestCollecting(TestCollectForm):
    method, status = "POST", 302

    def url(self, world):
        return reverse(self.route)

    def data(self, world, user):
        return {"location": _location(world).code, "type": "contact_plate", "state": "in_operation",
                "media_lot": "TSA-1", "submission_id": "f" * 32}


class TestIncubating(_Page):
    route = "envmon:sample_action"
    method, status = "POST", 302
    roles, refused_roles = (Role.QC_ANALYST,), (Role.OPERATOR,)
    args = staticmethod(lambda world: (_plate(world).number, "incubate"))

    def data(self, world, user):
        return {"temperature_c": "22.5"}


class TestInvalidating(TestIncubating):
    roles, refused_roles = (Role.QC_REVIEWER,), (Role.QC_ANALYST,)
    args = staticmethod(lambda world: (_plate(world).number, "invalidate"))

    def data(self, world, user):
        return {"reason": "lid found open"}


class TestAcknowledging(_Page):
    route = "envmon:excursion_acknowledge"
    method, status = "POST", 302
    roles, refused_roles = (Role.QA_SPECIALIST,), (Role.QC_REVIEWER,)
    args = staticmethod(lambda world: (_particle_excursion(world).number,))

    def data(self, world, user):
        return {"assessment": "Door left open during transfer; see the deviation."}


class TestChangingTheProgramme(_Page):
    route = "envmon:programme_action"
    method, status = "POST", 302
    roles, refused_roles = (Role.QC_REVIEWER,), (Role.OPERATOR,)
    args = staticmethod(lambda world: (_programme(world).room.code, "location"))

    def data(self, world, user):
        return {"code": "B-L9", "name": "Pass-through hatch", "x": "90", "y": "10", "sample_types": ["settle_plate"]}


class _Api(PermissionApiTest):
    roles = (Role.OPERATOR,)
    refused_roles = ()
    fill = staticmethod(lambda world: {})
    body = None

    def url(self, world):
        return "/api/v1" + self.operation[1].format(**self.fill(world))

    def data(self, world, user):
        return self.body(world) if self.body else None


class TestApiLocations(_Api):
    operation = ("GET", "/envmon/locations")


class TestApiCreateLocation(_Api):
    operation = ("POST", "/envmon/locations")
    roles, refused_roles, status = (Role.QC_REVIEWER,), (Role.OPERATOR,), 201
    body = staticmethod(lambda world: {"room": _programme(world).room.code, "code": "B-L8", "name": "Hatch",
                                       "x": "80", "y": "20", "sample_types": ["settle_plate"]})


class TestApiRetireLocation(_Api):
    operation = ("POST", "/envmon/locations/{code}/retire")
    roles, refused_roles = (Role.QA_SPECIALIST,), (Role.QC_ANALYST,)
    fill = staticmethod(lambda world: {"code": _location(world).code})
    body = staticmethod(lambda world: {"reason": "bench removed"})


class TestApiFloorPlan(_Api):
    operation = ("POST", "/envmon/rooms/{code}/floor-plan")
    roles, refused_roles = (Role.QC_REVIEWER,), (Role.SUPERVISOR,)
    fill = staticmethod(lambda world: {"code": _programme(world).room.code})
    body = staticmethod(lambda world: {"width_m": "6.5", "length_m": "4", "reason": "as built"})


class TestApiPlans(_Api):
    operation = ("GET", "/envmon/plans")


class TestApiCreatePlan(_Api):
    operation = ("POST", "/envmon/plans")
    roles, refused_roles, status = (Role.QC_REVIEWER,), (Role.OPERATOR,), 201
    body = staticmethod(lambda world: {"location": _location(world).code, "sample_type": "settle_plate",
                                       "frequency": "per_shift", "state": "in_operation"})


class TestApiRetirePlan(_Api):
    operation = ("POST", "/envmon/plans/{plan_id}/retire")
    roles, refused_roles = (Role.QC_REVIEWER,), (Role.OPERATOR,)
    fill = staticmethod(lambda world: {"plan_id": services.create_plan(
        _programme(world).coordinator, _location(world), sample_type="contact_plate", frequency="daily",
        state="in_operation").pk})
    body = staticmethod(lambda world: {"reason": "frequency revised"})


class TestApiWorklist(_Api):
    operation = ("GET", "/envmon/worklist")


class TestApiSamples(_Api):
    operation = ("GET", "/envmon/samples")


class TestApiCollect(_Api):
    operation = ("POST", "/envmon/samples")
    refused_roles, status = (Role.QA_SPECIALIST,), 201
    body = staticmethod(lambda world: {"location": _location(world).code, "sample_type": "contact_plate",
                                       "state": "in_operation", "media_lot": "TSA-1"})


class TestApiSample(_Api):
    operation = ("GET", "/envmon/samples/{number}")
    fill = staticmethod(lambda world: {"number": _plate(world).number})


class TestApiSampleStep(_Api):
    operation = ("POST", "/envmon/samples/{number}/{action}")
    roles, refused_roles = (Role.QC_ANALYST,), (Role.OPERATOR,)
    fill = staticmethod(lambda world: {"number": _plate(world).number, "action": "incubate"})
    body = staticmethod(lambda world: {"temperature_c": "22.5"})


class TestApiExcursions(_Api):
    operation = ("GET", "/envmon/excursions")


class TestApiExcursion(_Api):
    operation = ("GET", "/envmon/excursions/{number}")
    fill = staticmethod(lambda world: {"number": _particle_excursion(world).number})


class TestApiAcknowledge(_Api):
    operation = ("POST", "/envmon/excursions/{number}/acknowledge")
    roles, refused_roles = (Role.QA_APPROVER,), (Role.QC_REVIEWER,)
    fill = staticmethod(lambda world: {"number": _particle_excursion(world).number})
    body = staticmethod(lambda world: {"assessment": "Door left open during transfer."})


# --- Bad input and what the pages show ---------------------------------------------------------------

def _text(response) -> str:
    return re.sub(r"\s+", " ", response.content.decode())


@pytest.fixture
def p(sponsor_a):
    return b.programme(sponsor_a)


@pytest.mark.req("A1-3")
@pytest.mark.parametrize("change", [
    {"exposure_minutes": "241"}, {"sample_type": "swab"}, {"state": "sleeping"}, {"media_lot": ""},
    {"exposure_minutes": "abc"}, {"count": -1}, {"plan": 99999}, {"batch": "B-NOPE"}, {"location": "NOWHERE"},
    {"volume_litres": "1e30"},
    *({"sample_type": "particles_0_5", "instrument": "EQ-PC-01", "exposure_minutes": None, **particles}
      for particles in ({"volume_litres": "0.1", "count": 10**9}, {"volume_litres": "0.04", "count": 1})),
])
def test_api_refuses_bad_collections_with_4xx_and_records_nothing(p, change):
    loc = b.location(p)
    body = {"location": loc.code, "sample_type": "settle_plate", "state": "in_operation", "media_lot": "TSA-1",
            "exposure_minutes": "120", **change}
    response = Client().post("/api/v1/envmon/samples", body, content_type="application/json",
                             headers=bearer(p.sampler))
    assert 400 <= response.status_code < 500, response.content
    assert "detail" in response.json()
    assert not EmSample.objects.exists()


@pytest.mark.parametrize("body", [{"assessment": ""}, {"assessment": "x" * 5000}, {}])
def test_api_refuses_an_empty_assessment(p, body, fake_clock):
    sample = services.collect_sample(p.sampler, location=b.location(p), sample_type="particles_0_5",
                                     state="in_operation", volume_litres="1000", instrument=p.particle_counter,
                                     count=400000)
    excursion = Excursion.objects.get(sample=sample, kind="action")
    response = Client().post(f"/api/v1/envmon/excursions/{excursion.number}/acknowledge", body,
                             content_type="application/json", headers=bearer(p.qa))
    assert response.status_code in (400, 422)
    assert Excursion.objects.get(pk=excursion.pk).status == "open"


def test_api_refuses_an_unknown_sample_step(p):
    sample = b.plate(p, b.location(p))
    response = Client().post(f"/api/v1/envmon/samples/{sample.number}/bake", {"temperature_c": "22"},
                             content_type="application/json", headers=bearer(p.reader))
    assert response.status_code in (400, 404, 422)
    assert EmSample.objects.get(pk=sample.pk).status == "collected"


@pytest.mark.req("A1-3")
def test_reading_an_action_count_shows_the_deviation_and_the_affected_batch(p, fake_clock):
    batch = b.batch_between(p, fake_clock() - dt.timedelta(hours=2), None)
    sample = b.plate(p, b.location(p))
    client = signed_in(p.reader)
    for action, data in (("incubate", {"temperature_c": "22.5"}), ("second-incubation", {"temperature_c": "32.5"}),
                         ("read", {"count": "9"})):
        response = client.post(reverse("envmon:sample_action", args=[sample.number, action]), data)
        assert response.status_code == 302, _text(response)[:2000]
        fake_clock.advance(hours=72)
    excursion = Excursion.objects.get(sample=sample, kind="action")
    page = _text(client.get(reverse("envmon:sample", args=[sample.number])))
    assert "Action level" in page and excursion.number in page and excursion.deviation.number in page
    page = _text(client.get(reverse("envmon:excursion", args=[excursion.number])))
    assert batch.number in page and reverse("batches:batch", args=[batch.number]) in page
    assert reverse("quality:deviation", args=[excursion.deviation.number]) in page


def test_reading_too_early_is_refused_on_the_page(p, fake_clock):
    sample = b.plate(p, b.location(p))
    client = signed_in(p.reader)
    client.post(reverse("envmon:sample_action", args=[sample.number, "incubate"]), {"temperature_c": "22.5"})
    response = client.post(reverse("envmon:sample_action", args=[sample.number, "second-incubation"]),
                           {"temperature_c": "32.5"})
    assert response.status_code == 422
    assert "minimum 72 h" in _text(response)


def test_a_double_submitted_collection_records_one_sample(p):
    loc = b.location(p)
    client = signed_in(p.sampler)
    form = {"location": loc.code, "type": "contact_plate", "state": "in_operation", "media_lot": "TSA-1",
            "submission_id": "a" * 32}
    first = client.post(reverse("envmon:collect"), form)
    second = client.post(reverse("envmon:collect"), form)
    assert first.status_code == second.status_code == 302
    assert first["Location"] == second["Location"]
    assert EmSample.objects.count() == 1


@pytest.mark.parametrize("change", [{"plan": "abc"}, {"plan": "9" * 30}, {"instrument": "EQ-NOPE"},
                                    {"batch": "B-NOPE"}, {"type": "swab"}, {"location": ""}])
def test_the_collection_form_refuses_bad_input_with_4xx(p, change):
    loc = b.location(p)
    form = {"location": loc.code, "type": "contact_plate", "state": "in_operation", "media_lot": "TSA-1", **change}
    response = signed_in(p.sampler).post(reverse("envmon:collect"), form)
    assert response.status_code == 422 and 'role="alert"' in response.content.decode()
    assert not EmSample.objects.exists()


def test_scanning_a_location_opens_its_collection_form(p):
    loc = b.location(p)
    client = signed_in(p.sampler)
    page = _text(client.get(reverse("envmon:worklist")))
    assert "autofocus" in page and 'name="scan"' in page
    response = client.get(reverse("envmon:worklist"), {"scan": loc.code.lower()})
    assert response.status_code == 302 and response["Location"].endswith(f"?location={loc.code}")
    assert "No active sampling location" in _text(client.get(reverse("envmon:worklist"), {"scan": "NOPE"}))


def test_the_worklist_shows_due_samples_by_room_and_plates_to_read(p, fake_clock):
    loc = b.location(p)
    services.create_plan(p.coordinator, loc, sample_type="settle_plate", frequency="daily", state="in_operation")
    ready = b.plate(p, loc)
    services.start_incubation(p.reader, ready, temperature_c="22.5")
    fake_clock.advance(hours=72)
    services.second_incubation(p.reader, ready, temperature_c="32.5")
    fake_clock.advance(hours=48)
    page = _text(signed_in(p.sampler).get(reverse("envmon:worklist")))
    assert f"{loc.code} · Settle plate" in page and f"?location={loc.code}&amp;type=settle_plate" in page
    assert p.room.code in page and ready.number in page
    tasks = _text(signed_in(p.sampler).get(reverse("core:home")))
    assert f"Take the settle plate at {loc.code}" in tasks
    form = _text(signed_in(p.sampler).get(reverse("envmon:collect"), {"location": loc.code, "type": "settle_plate"}))
    assert 'name="submission_id"' in form and '<option value="settle_plate" selected>' in form
