"""Batch pages: anonymous → sign in; without the permission → 403 with a message; with it → the
page (the shared view tests); sponsor B's people never see sponsor A's batches; and what the
operator screen shows and does (P11-1d, P11-1f, P11-1g)."""

import re

import pytest
from django.urls import reverse

from opencdmo.batches import services
from opencdmo.batches.models import BatchEntry, EquipmentScan, InterlockOverride
from opencdmo.core.domain.roles import Role
from opencdmo.identity.selectors import printed_coi
from tests.conftest import PASSWORD
from tests.facilities.factories import equipment_in_service
from tests.factories import signature
from tests.web.conftest import records_a, signed_in  # noqa: F401
from tests.web.viewtests import PermissionPageTest

from . import builders

pytestmark = pytest.mark.req("P11-1d")

PERMITTED = "permitted.user"  # the user the shared view tests create with the class's roles


def batch_world(records) -> builders.World:
    """Sponsor A's batch world, in progress with step A1 started by the operator; the shared tests'
    permitted user may work on its steps (QA overrode the training interlock for that user ID)."""
    if getattr(records, "batch_world", None) is None:
        world = builders.world(records.sponsor, prefix="web.")
        builders.start(world)
        services.override_interlock(
            world.qa, world.batch, step_key=None, interlock="training", subject=PERMITTED,
            refusal="not trained on the step's SOP", reason="Trained on paper; the record follows.",
            signature=signature(world.qa, "Approved"))
        services.start_step(world.operator, world.batch, "A1")
        records.batch_world = world
    return records.batch_world


def _number(records) -> str:
    return batch_world(records).batch.number


class _Page(PermissionPageTest):
    roles = (Role.OPERATOR,)
    refused_roles = ()
    args = staticmethod(lambda records: (_number(records),))

    def url(self, world):
        return reverse(self.route, args=self.args(world))


class TestBatchList(_Page):
    route = "batches:list"
    args = staticmethod(lambda records: ())


class TestPlanBatchForm(_Page):
    route = "batches:new"
    roles = (Role.PLANNER,)
    refused_roles = (Role.OPERATOR,)
    args = staticmethod(lambda records: ())


class TestBatchPage(_Page):
    route = "batches:batch"


class TestOperatorScreen(_Page):
    route = "batches:execute"


def _sample(records) -> str:
    world = batch_world(records)
    builders.run_step(world, "A1")
    services.start_step(world.operator, world.batch, "A2")
    return services.take_sample(world.operator, world.batch, "A2", "SP-STER", submission_id=builders.submission()).number


class TestSamplePage(_Page):
    route = "batches:sample"
    args = staticmethod(lambda records: (_sample(records),))


class TestStepAction(_Page):
    """A step action posted from the operator screen: back to the step (302). Starting a step in
    progress is the retried 'Start step' and changes nothing."""

    route = "batches:step_action"
    method = "POST"
    refused_roles = (Role.QC_ANALYST,)  # reads batches, may not execute them
    status = 302
    args = staticmethod(lambda records: (_number(records), "A1", "start"))

    def data(self, world, user):
        return {"submission_id": builders.submission()}


class TestOverride(_Page):
    route = "batches:override"
    method = "POST"
    roles = (Role.QA_SPECIALIST,)
    refused_roles = (Role.OPERATOR,)
    status = 302

    def data(self, world, user):
        return {"step_key": "A1", "interlock": "equipment", "subject": "EQ-BSC-OLD", "refusal": "Calibration overdue.",
                "reason": "Cabinet recertified this morning; paperwork follows.", "username": user.username,
                "password": PASSWORD}


# --- Sponsor segregation -------------------------------------------------------------------------

@pytest.mark.req("P11-1g")
def test_sponsor_b_user_gets_404_for_sponsor_a_batch_pages(make_user, records_a, sponsor_b):  # noqa: F811
    world = batch_world(records_a)
    outsider = signed_in(make_user("beta.operator", Role.OPERATOR, Role.QA_SPECIALIST, sponsors=[sponsor_b]))
    number = world.batch.number
    for url in (reverse("batches:batch", args=[number]), reverse("batches:execute", args=[number])):
        assert outsider.get(url).status_code == 404
    for url, data in ((reverse("batches:step_action", args=[number, "A1", "start"]), {}),
                      (reverse("batches:override", args=[number]), {"interlock": "room", "subject": "X"})):
        assert outsider.post(url, data).status_code == 404
    listing = outsider.get(reverse("batches:list")).content.decode()
    assert number not in listing


# --- What the pages show and do ------------------------------------------------------------------

@pytest.fixture
def started_world(started):
    services.start_step(started.operator, started.batch, "A1")
    return started


def _screen(client, batch, key="A1"):
    return client.get(reverse("batches:execute", args=[batch.number]) + f"?step={key}")


def _post(client, batch, key, action, **data):
    return client.post(reverse("batches:step_action", args=[batch.number, key, action]),
                       {"submission_id": data.pop("submission_id", builders.submission()), **data})


def test_list_shows_progress_and_filters_by_status(client, started_world):
    client.force_login(started_world.supervisor)
    page = client.get(reverse("batches:list")).content.decode()
    assert started_world.batch.number in page
    assert "0 / 5" in page  # steps done of all
    assert "Plan a batch" in page
    filtered = client.get(reverse("batches:list"), {"status": "planned"}).content.decode()
    assert started_world.batch.number not in filtered


def test_a_planner_plans_a_batch_from_the_effective_version(client, world):
    client.force_login(world.supervisor)
    form = client.get(reverse("batches:new")).content.decode()
    assert world.version.number in form and "patient dose" in form
    refused = client.post(reverse("batches:new"), {"mbr_version": world.version.number, "scale": "1",
                                                   "room": world.room.code})
    assert refused.status_code == 422 and "chain of identity identifier" in refused.content.decode()
    coi = builders.therapy(world)
    response = client.post(reverse("batches:new"), {
        "mbr_version": world.version.number, "scale": "1", "room": world.room.code,
        "patient_reference": coi, "planned_start": "2026-03-09"})
    assert response.status_code == 302
    number = response["Location"].rstrip("/").rsplit("/", 1)[-1]
    overview = client.get(response["Location"]).content.decode()
    assert number in overview and printed_coi(coi).text in overview and "Available now" not in overview  # planned


def test_overview_highlights_the_steps_available_now(client, started):
    builders.run_step(started, "A1")
    client.force_login(started.operator)
    page = client.get(reverse("batches:batch", args=[started.batch.number])).content.decode()
    available = re.findall(r'<li class="pending available" data-step="(\w+)"', page)
    assert available == ["A2", "B1"]  # the parallel branches after A1


def test_operator_screen_shows_limits_badges_and_one_primary_action(client, started_world):
    client.force_login(started_world.operator)
    page = _screen(client, started_world.batch).content.decode()
    assert "NOR <strong>[1E+8, 5E+8]" in page or "NOR <strong>" in page
    assert 'badge badge-cpp' in page and "2nd person" in page
    assert page.count('class="primary"') == 1  # the next action, and only it
    assert 'data-nor-low="80"' in page  # viability's limits for the preview


def test_recording_outside_the_normal_range_needs_a_comment_and_shows_amber(client, started_world):
    batch = started_world.batch
    client.force_login(started_world.operator)
    refused = _post(client, batch, "A1", "record", parameter="viability", value="75.0")
    assert refused.status_code == 422 and "add a comment" in refused.content.decode()
    assert _post(client, batch, "A1", "record", parameter="viability", value="75.0",
                 comment="Long transport from the apheresis centre.").status_code == 302
    page = _screen(client, batch).content.decode()
    assert "badge-outcome-outside_normal" in page and "Long transport" in page


def test_a_retried_form_is_idempotent(client, started_world):
    batch = started_world.batch
    client.force_login(started_world.operator)
    same = builders.submission()
    for _ in range(2):
        assert _post(client, batch, "A1", "record", parameter="bag_intact", value="yes",
                     submission_id=same).status_code == 302
    assert BatchEntry.objects.filter(batch=batch, parameter="bag_intact").count() == 1


@pytest.mark.req("P11-4")
def test_a_second_person_verifies_on_the_operators_screen(client, started_world):
    batch = started_world.batch
    client.force_login(started_world.operator)
    _post(client, batch, "A1", "record", parameter="viable_cells", value="3e8")
    entry = BatchEntry.objects.get(batch=batch, parameter="viable_cells")
    own = _post(client, batch, "A1", "verify", entry=entry.pk, username=started_world.operator.username,
                password=PASSWORD)
    assert own.status_code == 422 and "someone else must verify" in own.content.decode()
    second = started_world.second_operator
    assert _post(client, batch, "A1", "verify", entry=entry.pk, username=second.username,
                 password=PASSWORD).status_code == 302
    entry.refresh_from_db()
    assert entry.verified_by == second
    assert second.full_name in _screen(client, batch).content.decode()


def test_a_correction_shows_the_original_struck_through(client, started_world):
    batch = started_world.batch
    client.force_login(started_world.operator)
    _post(client, batch, "A1", "record", parameter="viability", value="95.0")
    entry = BatchEntry.objects.get(batch=batch, parameter="viability")
    assert _post(client, batch, "A1", "correct", entry=entry.pk, value="92.0",
                 reason="Transcription error from the counter printout.").status_code == 302
    page = _screen(client, batch).content.decode()
    assert '<span class="old">95.0 %</span>' in page and "Transcription error" in page


def test_an_interlock_shows_a_red_box_and_qa_overrides_it_at_the_operators_screen(client, started):
    batch, operator, qa = started.batch, started.operator, started.qa
    builders.run_step(started, "A1")
    services.start_step(operator, batch, "B1")
    incubator = equipment_in_service(started.supervisor, qa, number="EQ-INC-09", kind="incubator", room=started.room)
    client.force_login(operator)
    refused = _post(client, batch, "B1", "scan", scanned=incubator.number)
    body = refused.content.decode()
    assert refused.status_code == 422 and 'class="interlock"' in body and "needs" in body and "Override (QA)" in body

    def override(user):
        return client.post(reverse("batches:override", args=[batch.number]), {
            "step_key": "B1", "interlock": "equipment", "subject": incubator.number, "refusal": "wrong kind",
            "reason": "Cabinet down; the incubator hood is qualified for this use (QA memo 12).",
            "username": user.username, "password": PASSWORD})

    denied = override(operator)  # only QA may override
    assert denied.status_code == 403 and "batches.override_interlock" in denied.content.decode()
    assert override(qa).status_code == 302  # QA signs on the operator's screen; the operator stays signed in
    assert InterlockOverride.objects.get(batch=batch, subject=incubator.number).overridden_by == qa
    assert _post(client, batch, "B1", "scan", scanned=incubator.number).status_code == 302
    assert EquipmentScan.objects.filter(batch=batch, equipment=incubator, scanned_by=operator).exists()


def test_completing_a_step_signs_it_performed(client, started_world):
    batch, operator = started_world.batch, started_world.operator
    client.force_login(operator)
    assert _post(client, batch, "A1", "identity", scanned=f"&/{batch.patient_reference}").status_code == 302
    for parameter, value in (("bag_intact", "yes"), ("viable_cells", "3e8"), ("viability", "95.0")):
        _post(client, batch, "A1", "record", parameter=parameter, value=value)
    services.verify_entry(started_world.second_operator, BatchEntry.objects.get(parameter="viable_cells"),
                          signature=signature(started_world.second_operator, "Verified"))
    page = _screen(client, batch).content.decode()
    assert re.search(r'<button class="primary">Complete step</button>', page)
    wrong = _post(client, batch, "A1", "complete", username=operator.username, password="wrong")
    assert wrong.status_code == 403
    assert _post(client, batch, "A1", "complete", username=operator.username,
                 password=PASSWORD).status_code == 302
    assert batch.steps.get(key="A1").status == "completed"


def test_my_tasks_list_steps_to_do_and_entries_to_verify(client, started_world):
    batch = started_world.batch
    services.record_entry(started_world.operator, batch, "A1", "viable_cells", value="3e8",
                          submission_id=builders.submission())
    client.force_login(started_world.second_operator)
    home = client.get(reverse("core:home")).content.decode()
    assert "Entries to verify" in home and batch.number in home
    client.force_login(started_world.operator)
    assert "Entries to verify" not in client.get(reverse("core:home")).content.decode()  # not their own


@pytest.mark.req("P11-1f")
def test_qa_overrides_a_missing_line_clearance_from_the_overview(client, world):
    batch = builders.plan(world, cleared=False)
    client.force_login(world.operator)
    start = reverse("core:record_transition", args=["batches.batch", batch.number, "start"])
    refused = client.post(start)
    assert refused.status_code == 422 and "line clearance" in refused.content.decode()
    overview = client.get(reverse("batches:batch", args=[batch.number])).content.decode()
    assert "Starting refused? Override (QA)" in overview
    response = client.post(reverse("batches:override", args=[batch.number]), {
        "interlock": "line_clearance", "subject": batch.room.code, "refusal": "No verified line clearance.",
        "reason": "Clearance done on paper during the network outage; scanned copy attached.",
        "username": world.qa.username, "password": PASSWORD})
    assert response.status_code == 302 and response["Location"] == reverse("batches:batch", args=[batch.number])
    assert client.post(start).status_code == 302
    batch.refresh_from_db()
    assert batch.status == "in_progress"
