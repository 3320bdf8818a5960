"""The post-release notification path (QC-1, REL-1 ATMP Part IV): a result that fails after a
(conditional) release raises one notice and one deviation; QA records whom they told; the release
is not completed while a notice is open."""

import pytest

from opencdmo.core.errors import PermissionDenied, RuleViolation
from opencdmo.release import services
from tests.batches import builders as batches
from tests.factories import signature

from . import builders

pytestmark = pytest.mark.req("QC-1")


@pytest.fixture(autouse=True)
def _clock(fake_clock):
    return fake_clock


@pytest.fixture
def sterility_pending(sponsor_a):
    world = batches.world(sponsor_a)
    builders.reviewed(world)
    world.analyst, world.reviewer = builders.lab(world)
    world.spec = builders.release_spec(world.qa, product=world.product, sponsor=sponsor_a)
    builders.passing(world.analyst, world.reviewer, world.spec, world.batch, skip=("Sterility",))
    return world


def _decide(user, batch, decision="release", **kwargs):
    disposition = services.open_disposition(user, batch)
    return services.decide(user, disposition, decision, signature=signature(user, "QA Released"), **kwargs)


@pytest.mark.django_db
@pytest.mark.req("QC-1")
def test_a_late_failing_sterility_raises_exactly_one_notice_and_one_deviation(sterility_pending):
    from opencdmo.quality.models import Deviation, DeviationLink  # noqa: PLC0415

    world = sterility_pending
    disposition = _decide(world.qa_approver, world.batch, "conditional_release", risk_assessment="Short shelf life.")
    failing = builders.result(world.analyst, world.spec, world.batch, "Sterility", "growth", builders.FAILS)
    from opencdmo.qc.models import TestResult  # noqa: PLC0415
    from opencdmo.qc.signals import result_changed  # noqa: PLC0415

    result_changed.send(sender=TestResult, result=failing, actor=world.reviewer, event="reviewed")  # again
    [notice] = disposition.notices.all()
    assert notice.status == "open" and "Sterility" in notice.finding
    assert notice.result_ref == failing.number
    deviation = Deviation.objects.get(pk=notice.deviation_id)
    assert (deviation.source, deviation.category) == ("oos", "laboratory")
    linked = set(DeviationLink.objects.filter(deviation=deviation).values_list("record_type", flat=True))
    assert linked == {"release.disposition", "batches.batch"}
    assert Deviation.objects.filter(source="oos").count() == 1
    # Completing the release while the notice is open is refused; the notification closes it.
    with pytest.raises(RuleViolation, match=notice.number):
        services.decide(world.qa_approver, disposition, "release", signature=signature(world.qa_approver, "QA Released"))
    notified = services.record_notification(world.qa, notice, notified_whom="Dr. Weber, treating physician",
                                            notification="Phoned 10:05 UTC; patient monitored, antibiotics started.")
    assert (notified.status, notified.notified_by) == ("notified", world.qa)


@pytest.mark.django_db
def test_a_failing_result_of_a_batch_not_released_raises_no_notice(sterility_pending):
    from opencdmo.release.models import PostReleaseNotice  # noqa: PLC0415

    world = sterility_pending
    builders.result(world.analyst, world.spec, world.batch, "Sterility", "growth", builders.FAILS)
    assert not PostReleaseNotice.objects.exists()


@pytest.mark.django_db
def test_recording_a_notification_needs_release_notify_and_says_whom(sterility_pending):
    world = sterility_pending
    disposition = _decide(world.qa_approver, world.batch, "conditional_release", risk_assessment="Short shelf life.")
    builders.result(world.analyst, world.spec, world.batch, "Sterility", "growth", builders.FAILS)
    notice = disposition.notices.get()
    with pytest.raises(PermissionDenied, match="release.notify"):
        services.record_notification(world.operator, notice, notified_whom="x", notification="y")
    with pytest.raises(RuleViolation, match="whom"):
        services.record_notification(world.qa, notice, notified_whom=" ", notification="Phoned.")


@pytest.mark.django_db
def test_my_tasks_list_the_batch_awaiting_disposition_and_the_notice_to_make(sterility_pending):
    from opencdmo.core.tasks import tasks_for  # noqa: PLC0415

    world = sterility_pending
    titles = {(t.title, t.record.split()[0]) for t in tasks_for(world.qa_approver)}
    assert ("Decide the disposition", world.batch.number) in titles
    disposition = _decide(world.qa_approver, world.batch, "conditional_release", risk_assessment="Short shelf life.")
    builders.result(world.analyst, world.spec, world.batch, "Sterility", "growth", builders.FAILS)
    notice = disposition.notices.get()
    assert ("Notify of a late failing result", notice.number) in {(t.title, t.record.split()[0])
                                                                  for t in tasks_for(world.qa)}
    assert not any(t.title.startswith("Notify") for t in tasks_for(world.operator))
