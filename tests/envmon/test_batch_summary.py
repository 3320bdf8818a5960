"""A batch's EM summary over its room and execution window, and the disposition prerequisite it
becomes (REL-1, A1-5): not applicable without a programme, pending before the start or with
unread samples or unacknowledged alerts, unmet with an open action excursion naming the batch or
a programme without one sample in the window, met otherwise."""

import datetime as dt

import pytest
from django.urls import reverse

from opencdmo.batches.models import Batch
from opencdmo.core import clock
from opencdmo.core.domain.roles import Role
from opencdmo.envmon import selectors
from opencdmo.envmon.models import EmSample, Excursion
from opencdmo.quality import services as quality_services
from opencdmo.quality.models import Deviation
from opencdmo.release import selectors as release_selectors
from opencdmo.release import services as release_services
from opencdmo.release.domain.prerequisites import conditional_refusal, release_refusal
from tests.batches import builders as batch_builders
from tests.factories import signature
from tests.release import builders as release_builders
from tests.web.conftest import signed_in

from . import builders

DAY = dt.timedelta(days=1)


@pytest.fixture
def em(db, fake_clock, sponsor_a, make_user):
    """A grade C room with a programme, and a batch made in it from 5 to 2 days ago."""
    world = batch_builders.world(sponsor_a)
    user = make_user("em.reviewer", Role.QC_REVIEWER)
    room = builders.room("EM-C10", grade="C")
    loc, *_ = builders.locations(room, user, 2, sample_types=("settle_plate",))
    builders.level_set(user, "C", "settle_plate", 10, 20)
    batch = builders.batch_in_room(world.batch, room, clock.now() - 5 * DAY, clock.now() - 2 * DAY)
    return user, room, loc, batch, world


def _samples(em, values, start, **kwargs):
    user, _, loc, _, _ = em
    return builders.samples(loc, user, values, sample_type="settle_plate", start=start, **kwargs)


@pytest.mark.req("REL-1")
def test_met_counts_the_samples_in_the_window_only(em):
    _, room, _, batch, _ = em
    _samples(em, [1], clock.now() - 6 * DAY)  # before the batch started
    _samples(em, [1, 12, 3], clock.now() - 4 * DAY)  # during: one at alert
    _samples(em, [25], clock.now() - DAY)  # after it completed
    summary = selectors.batch_em_summary(batch)
    assert summary.state == "met"
    assert summary.counts == {"settle_plate": {"within": 2, "alert": 1}}
    assert summary.detail == f"3 samples, 1 alerts, 0 actions in room {room.code}, all read and acknowledged."


def test_not_applicable_in_a_room_without_a_programme(em):
    _, _, _, _, world = em
    bare = builders.room("EM-D11", grade="D")
    summary = selectors.batch_em_summary(builders.batch_in_room(world.batch, bare, clock.now() - DAY))
    assert (summary.state, summary.detail) == ("not_applicable", "Room EM-D11 has no EM programme.")


def test_pending_before_the_batch_starts(em):
    _, room, _, _, world = em
    summary = selectors.batch_em_summary(builders.batch_in_room(world.batch, room, None))
    assert summary.state == "pending" and "has not started" in summary.detail


def test_unmet_when_the_room_was_not_sampled_while_the_batch_was_made(em):
    _samples(em, [1], clock.now() - 6 * DAY)
    summary = selectors.batch_em_summary(em[3])
    assert summary.state == "unmet" and "no sample was taken" in summary.detail


def test_a_running_batch_counts_up_to_now(em):
    _, room, _, _, world = em
    running = builders.batch_in_room(world.batch, room, clock.now() - 2 * DAY)
    _samples(em, [2], clock.now() - 3 * DAY)
    _samples(em, [2], clock.now() - DAY)
    summary = selectors.batch_em_summary(running)
    assert (summary.state, summary.total, summary.end) == ("met", 1, clock.now())


def test_pending_while_a_sample_in_the_window_is_not_read(em):
    _samples(em, [1, None], clock.now() - 4 * DAY)
    summary = selectors.batch_em_summary(em[3])
    assert (summary.state, summary.unread) == ("pending", 1)
    assert "1 sample(s) not read yet" in summary.detail


@pytest.mark.req("A1-5")
def test_pending_until_an_alert_excursion_in_the_window_is_acknowledged(em):
    user, _, _, batch, _ = em
    (alert,) = _samples(em, [12], clock.now() - 4 * DAY)
    excursion = builders.excursion(alert, user, kind=Excursion.Kind.ALERT)
    summary = selectors.batch_em_summary(batch)
    assert summary.state == "pending" and excursion.number in summary.detail
    Excursion.objects.filter(pk=excursion.pk).update(acknowledged_at=clock.now(), acknowledged_by=user)
    assert selectors.batch_em_summary(batch).state == "met"


def test_an_alert_on_an_invalidated_sample_no_longer_holds_the_batch(em):
    user, _, _, batch, _ = em
    (alert, _) = _samples(em, [12, 1], clock.now() - 4 * DAY)
    builders.excursion(alert, user, kind=Excursion.Kind.ALERT)
    EmSample.objects.filter(pk=alert.pk).update(status="invalidated")
    assert selectors.batch_em_summary(batch).state == "met"


@pytest.mark.req("A1-3")
def test_unmet_while_an_action_excursion_naming_the_batch_has_an_open_deviation(em):
    user, _, _, batch, _ = em
    (action,) = _samples(em, [30], clock.now() - 4 * DAY)
    deviation = quality_services.raise_deviation(user, title="Settle plate at action level",
                                                 description="30 CFU in EM-C10", source="environmental")
    excursion = builders.excursion(action, user, batches=[batch], deviation=deviation)
    summary = selectors.batch_em_summary(batch)
    assert summary.state == "unmet"
    assert excursion.number in summary.detail and deviation.number in summary.detail
    Deviation.objects.filter(pk=deviation.pk).update(status="closed")  # its closure path is quality's own
    assert selectors.batch_em_summary(batch).state == "met"


def test_an_action_excursion_without_a_deviation_yet_is_unmet(em):
    user, _, _, batch, _ = em
    (action,) = _samples(em, [30], clock.now() - 4 * DAY)
    builders.excursion(action, user, batches=[batch])
    summary = selectors.batch_em_summary(batch)
    assert summary.state == "unmet" and "no deviation raised yet" in summary.detail


def test_summary_takes_a_fixed_number_of_queries(em, django_assert_max_num_queries):
    _samples(em, list(range(30)), clock.now() - 5 * DAY, step=dt.timedelta(hours=2))
    with django_assert_max_num_queries(4):
        selectors.batch_em_summary(em[3])


# --- The disposition -------------------------------------------------------------------------

@pytest.fixture
def ready(db, fake_clock, sponsor_a, make_user):
    """A reviewed batch whose release tests pass, made in a monitored room."""
    world, _ = release_builders.releasable(sponsor_a)
    user = make_user("em.reviewer", Role.QC_REVIEWER)
    loc, *_ = builders.locations(world.batch.room, user, 1, sample_types=("settle_plate",))
    Batch.objects.filter(pk=world.batch.pk).update(started_at=clock.now() - 5 * DAY,
                                                   completed_at=clock.now() - 2 * DAY)
    world.batch.refresh_from_db()
    return world, user, loc


def _em(batch):
    return next(p for p in release_selectors.batch_prerequisites(batch) if p.name == "Environmental monitoring")


@pytest.mark.req("REL-1")
def test_disposition_is_blocked_by_an_open_action_excursion_and_released_once_its_deviation_closes(ready):
    world, user, loc = ready
    (action,) = builders.samples(loc, user, [60], sample_type="settle_plate", start=clock.now() - 4 * DAY)
    deviation = quality_services.raise_deviation(user, title="Settle plate above Annex 1", description="60 CFU",
                                                 source="environmental")
    builders.excursion(action, user, batches=[world.batch], deviation=deviation)
    em = _em(world.batch)
    assert em.state == "unmet" and not em.conditional
    prerequisites = release_selectors.batch_prerequisites(world.batch)
    assert "Environmental monitoring" in release_refusal(prerequisites)
    assert "Environmental monitoring" in conditional_refusal(prerequisites)
    Deviation.objects.filter(pk=deviation.pk).update(status="closed")
    disposition = release_services.decide_on(world.qa_approver, world.batch, "release",
                                             signature=signature(world.qa_approver, "QA Released"))
    assert disposition.status == "released"
    assert {p["name"]: p["state"] for p in disposition.prerequisites}["Environmental monitoring"] == "met"


@pytest.mark.req("REL-1")
def test_pending_em_allows_only_a_conditional_release(ready):
    world, user, loc = ready
    builders.samples(loc, user, [None], sample_type="settle_plate", start=clock.now() - 4 * DAY)
    em = _em(world.batch)
    assert em.state == "pending" and em.conditional
    prerequisites = release_selectors.batch_prerequisites(world.batch)
    assert release_refusal(prerequisites) and conditional_refusal(prerequisites) is None


def test_the_disposition_page_shows_the_summary_to_the_batchs_sponsor(ready, make_user, sponsor_a):
    world, user, loc = ready
    builders.samples(loc, user, [2, 3], sample_type="settle_plate", start=clock.now() - 4 * DAY)
    viewer = make_user("sponsor.viewer", Role.SPONSOR_VIEWER, sponsors=[sponsor_a])
    page = signed_in(viewer).get(reverse("release:batch", args=[world.batch.number]))
    body = page.content.decode()
    assert page.status_code == 200, body[:500]
    assert 'id="environmental-monitoring"' in body and "2 samples, 0 alerts" in body
    assert signed_in(viewer).get(reverse("envmon:batch_summary", args=[world.batch.number])).status_code == 403
