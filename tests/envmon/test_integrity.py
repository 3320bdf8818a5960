"""EM integrity: one submission records one sample (form and API), the batches an EM record
names are shown only to users of their sponsors (the others counted, never numbered), and a
grade A zone's monitoring bears on the batches of the room it stands in."""

import datetime as dt
import json
import re

import pytest
from django.test import Client
from django.urls import reverse

from opencdmo.core.domain.roles import Role
from opencdmo.core.errors import RuleViolation
from opencdmo.core.models import AuditEvent
from opencdmo.envmon import selectors, services
from opencdmo.envmon.models import EmSample, Excursion
from opencdmo.facilities import services as facilities_services
from tests.batches import builders as batches
from tests.batches.builders import person
from tests.envmon import sampling_builders as b
from tests.web.conftest import bearer, signed_in

pytestmark = pytest.mark.django_db

COLLECT_FORM = {"type": "contact_plate", "state": "in_operation", "media_lot": "TSA-1"}


@pytest.fixture
def p(sponsor_a, fake_clock):
    return b.programme(sponsor_a)


def _text(response) -> str:
    return response.content.decode()


def _sample_creates() -> int:
    return AuditEvent.objects.filter(record_type="envmon.emsample", action="create").count()


# --- One submission, one sample ---


def test_a_double_posted_collection_form_records_one_sample_and_one_create_event(p):
    loc = b.location(p)
    client = signed_in(p.sampler)
    form = _text(client.get(reverse("envmon:collect"), {"location": loc.code}))
    submission_id = re.search(r'name="submission_id" value="([0-9a-f]{32})"', form).group(1)
    data = {**COLLECT_FORM, "location": loc.code, "submission_id": submission_id}
    first = client.post(reverse("envmon:collect"), data)
    second = client.post(reverse("envmon:collect"), data)
    assert first.status_code == second.status_code == 302
    assert first["Location"] == second["Location"]
    assert EmSample.objects.get().submission_id == submission_id
    assert _sample_creates() == 1


def test_each_collection_form_carries_a_fresh_submission_id(p):
    loc = b.location(p)
    client = signed_in(p.sampler)
    ids = {re.search(r'name="submission_id" value="(\w+)"', _text(client.get(reverse("envmon:collect"),
                                                                              {"location": loc.code}))).group(1)
           for _ in range(2)}
    assert len(ids) == 2


def test_a_double_posted_api_collection_records_one_sample(p):
    loc = b.location(p)
    body = json.dumps({"location": loc.code, "sample_type": "contact_plate", "state": "in_operation",
                       "media_lot": "TSA-1", "submission_id": "api-retry-0001"})
    headers = bearer(p.sampler)
    first = Client().post("/api/v1/envmon/samples", body, content_type="application/json", headers=headers)
    second = Client().post("/api/v1/envmon/samples", body, content_type="application/json", headers=headers)
    assert first.status_code == second.status_code == 201
    assert first.json()["number"] == second.json()["number"]
    assert EmSample.objects.count() == 1 and _sample_creates() == 1


def test_other_data_under_a_used_submission_id_is_refused_409(p):
    loc = b.location(p)
    b.plate(p, loc, submission_id="form-0001")
    body = json.dumps({"location": loc.code, "sample_type": "settle_plate", "state": "in_operation",
                       "media_lot": "TSA-1", "exposure_minutes": 240, "submission_id": "form-0001"})
    response = Client().post("/api/v1/envmon/samples", body, content_type="application/json",
                             headers=bearer(p.sampler))
    assert response.status_code == 409
    assert EmSample.objects.count() == 1


def test_another_user_cannot_reuse_a_submission_id(p):
    loc = b.location(p)
    b.plate(p, loc, submission_id="form-0002")
    response = signed_in(p.coordinator).post(reverse("envmon:collect"), {
        **COLLECT_FORM, "location": loc.code, "submission_id": "form-0002"})
    assert response.status_code == 409
    assert EmSample.objects.count() == 1


def test_collections_without_a_submission_id_are_each_recorded(p):
    loc = b.location(p)
    b.plate(p, loc)
    b.plate(p, loc)
    assert EmSample.objects.count() == 2


# --- Sponsor segregation of the batches an excursion names ---


@pytest.fixture
def shared_room(p, sponsor_b, fake_clock):
    """Sponsor A's and sponsor B's batches running in the same room when a plate reads at action level."""
    started = fake_clock() - dt.timedelta(hours=2)
    a_batch = b.batch_between(p, started, None)
    b_world = batches.world(sponsor_b, prefix="beta.")
    b_batch = b_world.batch
    type(b_batch).objects.filter(pk=b_batch.pk).update(started_at=started, completed_at=None, room=p.room)
    sample = b.read(p, b.plate(p, b.location(p)), 9, fake_clock)
    excursion = Excursion.objects.get(sample=sample, kind="action")
    assert set(excursion.batches.values_list("number", flat=True)) == {a_batch.number, b_batch.number}
    return a_batch, b_batch, excursion


@pytest.mark.req("A1-3")
def test_an_analyst_of_sponsor_a_sees_only_a_batches_on_the_excursion_page_and_list(p, shared_room):
    a_batch, b_batch, excursion = shared_room
    client = signed_in(p.reader)  # a QC analyst assigned to sponsor A only
    for page in (_text(client.get(reverse("envmon:excursion", args=[excursion.number]))),
                 _text(client.get(reverse("envmon:excursions"))),
                 _text(client.get(reverse("envmon:sample", args=[excursion.sample.number])))):
        assert a_batch.number in page
        assert "1 batch of another sponsor" in page
        assert b_batch.number not in page


def test_the_excursion_api_names_only_the_callers_batches(p, shared_room):
    a_batch, b_batch, excursion = shared_room
    headers = bearer(p.reader)
    one = Client().get(f"/api/v1/envmon/excursions/{excursion.number}", headers=headers)
    assert one.status_code == 200
    assert one.json()["batches"] == [a_batch.number] and one.json()["other_sponsor_batches"] == 1
    listed = Client().get("/api/v1/envmon/excursions", headers=headers)
    assert b_batch.number not in listed.content.decode() and a_batch.number in listed.content.decode()


def test_the_monthly_report_counts_other_sponsors_batches(p, shared_room):
    a_batch, b_batch, excursion = shared_room
    page = _text(signed_in(p.reader).get(reverse("envmon:report"), {"month": "2026-03"}))
    assert excursion.number in page and a_batch.number in page
    assert "1 batch of another sponsor" in page and b_batch.number not in page


def test_the_monthly_report_pdf_is_built_from_the_users_view(p, shared_room, monkeypatch):
    from opencdmo.envmon import reports
    seen = {}
    monkeypatch.setattr(reports, "render_pdf", lambda template, context, request=None: seen.update(context) or b"%PDF")
    reports.monthly_report_pdf(p.reader, dt.date(2026, 3, 1))
    [line] = [x for r in seen["report"].rooms for x in r.excursions]
    assert line.batches_seen.text == f"{shared_room[0].number} and 1 batch of another sponsor"


def test_the_deviation_description_names_no_batch(p, shared_room):
    a_batch, b_batch, excursion = shared_room
    description = excursion.deviation.description
    assert a_batch.number not in description and b_batch.number not in description
    assert "Batches in the room: 2" in description


def test_a_user_of_both_sponsors_sees_both_batches(p, shared_room, sponsor_b):
    a_batch, b_batch, excursion = shared_room
    both = person("em.both", Role.QC_ANALYST, sponsors=[p.world.sponsor, sponsor_b])
    page = _text(signed_in(both).get(reverse("envmon:excursion", args=[excursion.number])))
    assert a_batch.number in page and b_batch.number in page and "another sponsor" not in page


def test_a_per_batch_sample_of_another_sponsor_is_not_numbered(p, sponsor_b, fake_clock):
    loc = b.location(p)
    plan = services.create_plan(p.coordinator, loc, sample_type="contact_plate", frequency="per_batch",
                                state="in_operation")
    b_world = batches.world(sponsor_b, prefix="beta.")
    type(b_world.batch).objects.filter(pk=b_world.batch.pk).update(
        started_at=fake_clock() - dt.timedelta(hours=1), room=p.room)
    both = person("em.both.op", Role.OPERATOR, sponsors=[p.world.sponsor, sponsor_b])
    with pytest.raises(RuleViolation, match="No such batch"):  # a sampler names only their sponsors' batches
        b.plate(p, loc, plan=plan.pk, batch=b_world.batch.number)
    sample = b.plate(p, loc, plan=plan.pk, batch=b_world.batch.number, by=both)  # taken: no longer due
    b_other = batches.plan(b_world)
    type(b_other).objects.filter(pk=b_other.pk).update(started_at=fake_clock(), room=p.room)
    worklist = _text(signed_in(p.sampler).get(reverse("envmon:worklist")))
    assert b_other.number not in worklist and "1 batch of another sponsor" in worklist
    assert b_other.number in _text(signed_in(both).get(reverse("envmon:worklist")))
    page = _text(signed_in(p.reader).get(reverse("envmon:sample", args=[sample.number])))
    assert b_world.batch.number not in page and "1 batch of another sponsor" in page
    api = Client().get(f"/api/v1/envmon/samples/{sample.number}", headers=bearer(p.reader)).json()
    assert api["batch"] is None and api["batch_of_other_sponsor"] is True
    due = Client().get("/api/v1/envmon/worklist", headers=bearer(p.sampler)).content.decode()
    assert b_other.number not in due and '"batch_of_other_sponsor": true' in due.replace('":true', '": true')


@pytest.mark.req("P11-1")
def test_a_sponsors_quality_lead_cannot_open_the_cdmos_em_records_through_the_record_tabs(p, sponsor_a):
    sample = b.plate(p, b.location(p))
    viewer = person("em.sponsor.viewer", Role.SPONSOR_VIEWER, sponsors=[sponsor_a])
    for tab in ("audit-trail", "signatures"):
        url = f"/records/envmon.emsample/{sample.number}/{tab}/"
        assert signed_in(viewer).get(url).status_code == 404
        assert signed_in(p.reader).get(url).status_code == 200


# --- Zones ---


@pytest.fixture
def zone(p):
    """A grade A biosafety cabinet standing in the grade B room, in operation, with a location."""
    cabinet = facilities_services.create_room(p.world.supervisor, area=p.room.area, code="BSC-Z1",
                                              name="Biosafety cabinet", grade="A", within=p.room)
    cabinet = facilities_services.transition_room(p.world.supervisor, cabinet, "in_operation", reason="in use")
    return cabinet, b.location(p, "BSC-Z1-L1", room=cabinet, types=("contact_plate", "settle_plate"))


@pytest.mark.req("A1-3")
def test_an_action_excursion_in_a_zone_names_the_batches_of_its_room_only(p, zone, fake_clock):
    cabinet, loc = zone
    in_room = b.batch_between(p, fake_clock() - dt.timedelta(hours=2), None)
    elsewhere = b.batch_between(p, fake_clock() - dt.timedelta(hours=2), None, room=p.grade_a)
    sample = b.read(p, b.plate(p, loc), 1, fake_clock)  # grade A: any growth is an action
    excursion = Excursion.objects.get(sample=sample, kind="action")
    assert list(excursion.batches.all()) == [in_room]
    assert elsewhere not in excursion.batches.all()


def test_the_batch_summary_counts_the_zones_samples_and_is_blocked_by_its_action(p, zone, fake_clock):
    cabinet, loc = zone
    batch = b.batch_between(p, fake_clock() - dt.timedelta(hours=2), None)
    b.read(p, b.plate(p, loc), 0, fake_clock)
    summary = selectors.batch_em_summary(batch)
    assert summary.total == 1 and summary.state != selectors.UNMET
    b.read(p, b.plate(p, loc), 2, fake_clock)
    summary = selectors.batch_em_summary(batch)
    assert summary.total == 2 and summary.state == selectors.UNMET
    assert any(line.names_batch for line in summary.excursions)


def test_a_zone_sample_may_name_a_batch_of_the_room_it_stands_in(p, zone, fake_clock):
    cabinet, loc = zone
    batch = b.batch_between(p, fake_clock() - dt.timedelta(hours=1), None)
    assert b.plate(p, loc, batch=batch.number).batch == batch


def test_a_zones_per_batch_sample_is_due_for_the_batches_of_its_room(p, zone, fake_clock):
    cabinet, loc = zone
    plan = services.create_plan(p.coordinator, loc, sample_type="settle_plate", frequency="per_batch",
                                state="in_operation")
    batch = b.batch_between(p, fake_clock() - dt.timedelta(hours=1), None)
    assert [(d.plan, d.batch) for d in selectors.due_samples() if d.plan == plan] == [(plan, batch)]
