"""Due dates and overdue flags (DEV-1: closure target by class, default 30 days, configurable;
moved only by a QA-approved extension), at the boundary day, across approved and rejected extensions."""

import datetime as dt

import pytest
from django.test import override_settings

from opencdmo.core.domain.roles import Role
from opencdmo.core.errors import PermissionDenied, RuleViolation
from opencdmo.quality import selectors, services
from opencdmo.quality.domain import due
from opencdmo.quality.models import DueDateExtension
from tests.factories import signature

from . import builders

pytestmark = pytest.mark.req("DEV-1")

RAISED_ON = dt.date(2026, 3, 2)  # the fake clock: 2026-03-02 08:30 UTC (09:30 in Berlin)


def test_pure_overdue_is_from_the_day_after_the_due_date():
    day = dt.date(2026, 4, 1)
    assert not due.is_overdue(day, day, "investigation")
    assert due.is_overdue(day, day + dt.timedelta(days=1), "investigation")
    assert not due.is_overdue(day, day + dt.timedelta(days=9), "closed")
    assert not due.is_overdue(day, day + dt.timedelta(days=9), "cancelled")
    assert not due.is_overdue(None, day, "open")
    assert due.days_left(day, day) == 0 and due.days_left(day, day + dt.timedelta(days=2)) == -2


@pytest.mark.parametrize(("current", "requested", "problem"), [
    (dt.date(2026, 4, 1), dt.date(2026, 4, 1), "later than the current"),
    (dt.date(2026, 4, 1), dt.date(2026, 3, 20), "later than the current"),
    (None, dt.date(2026, 3, 1), "in the future"),
    (dt.date(2026, 4, 1), dt.date(2026, 4, 2), None),
])
def test_pure_extension_must_be_later_and_in_the_future(current, requested, problem):
    found = due.extension_problem(current, requested, dt.date(2026, 3, 2))
    assert (problem is None and found is None) or problem in found


def test_a_new_deviation_is_due_after_the_default_days(raiser, sponsor_a):
    assert builders.raised(raiser, sponsor_a).due_date == RAISED_ON + dt.timedelta(days=30)


@override_settings(DEVIATION_DUE_DAYS={"critical": 10, "major": 20, "minor": 45, "default": 30})
@pytest.mark.parametrize(("answers", "days"), [({"patient_safety": "yes"}, 10), (builders.MAJOR, 20),
                                               (builders.MINOR, 45)])
def test_classification_sets_the_due_date_by_class(answers, days, raiser, classifier, investigator, sponsor_a,
                                                    fake_clock):
    deviation = builders.raised(raiser, sponsor_a)
    fake_clock.advance(days=2)  # classified two days later: still counted from when it was raised
    builders.classified(deviation, classifier, investigator, answers=answers)
    deviation.refresh_from_db()
    assert deviation.due_date == RAISED_ON + dt.timedelta(days=days)


def test_due_days_from_the_environment(monkeypatch):
    from opencdmo.quality import conf  # noqa: PLC0415

    monkeypatch.setenv("OPENCDMO_DEVIATION_DUE_DAYS", "critical=15, minor=60")
    assert conf.deviation_due_days() == {"default": 30, "minor": 60, "major": 30, "critical": 15}


@pytest.mark.parametrize("bad", ["critical=0", "severe=10", "critical", "critical=ten"])
def test_a_wrong_due_days_setting_is_refused_with_its_name(bad, monkeypatch):
    from opencdmo.quality import conf  # noqa: PLC0415

    monkeypatch.setenv("OPENCDMO_DEVIATION_DUE_DAYS", bad)
    with pytest.raises(RuleViolation, match="DEVIATION_DUE_DAYS"):
        conf.deviation_due_days()


@pytest.fixture
def investigating(raiser, classifier, investigator, sponsor_a):
    return builders.classified(builders.raised(raiser, sponsor_a), classifier, investigator)


def _at(fake_clock, day: dt.date):
    fake_clock.set(dt.datetime.combine(day, dt.time(10, 0), tzinfo=dt.UTC))


def test_overdue_at_the_boundary_day(investigating, fake_clock, classifier):
    due_on = investigating.due_date
    _at(fake_clock, due_on)
    assert not selectors.is_overdue(investigating)
    assert investigating not in selectors.deviations_for(classifier, overdue=True)
    _at(fake_clock, due_on + dt.timedelta(days=1))
    assert selectors.is_overdue(investigating)
    assert list(selectors.deviations_for(classifier, overdue=True)) == [investigating]


def test_overdue_follows_the_site_calendar_not_utc(investigating, fake_clock):
    # 23:30 UTC on the due date is already the next day in Berlin (UTC+1 in March)
    fake_clock.set(dt.datetime.combine(investigating.due_date, dt.time(23, 30), tzinfo=dt.UTC))
    assert selectors.is_overdue(investigating)


def test_an_approved_extension_moves_the_due_date_and_the_overdue_flag(investigating, investigator, closer,
                                                                       fake_clock):
    old_due = investigating.due_date
    new_due = old_due + dt.timedelta(days=14)
    extension = services.request_extension(investigator, investigating, requested_due_date=new_due,
                                           justification="Awaiting the courier's data-logger report.")
    services.transition_extension(closer, extension, "approve", signature=signature(closer, "Approved"))
    investigating.refresh_from_db()
    assert investigating.due_date == new_due
    _at(fake_clock, old_due + dt.timedelta(days=1))
    assert not selectors.is_overdue(investigating)
    _at(fake_clock, new_due)
    assert not selectors.is_overdue(investigating)
    _at(fake_clock, new_due + dt.timedelta(days=1))
    assert selectors.is_overdue(investigating)


def test_a_rejected_extension_does_not_move_the_due_date(investigating, investigator, closer, fake_clock):
    old_due = investigating.due_date
    extension = services.request_extension(investigator, investigating, requested_due_date=old_due + dt.timedelta(30),
                                           justification="More time")
    services.transition_extension(closer, extension, "reject", reason="Not justified: data already available")
    investigating.refresh_from_db()
    assert investigating.due_date == old_due
    assert DueDateExtension.objects.get(pk=extension.pk).status == "rejected"
    _at(fake_clock, old_due + dt.timedelta(days=1))
    assert selectors.is_overdue(investigating)


def test_the_requester_cannot_approve_their_own_extension(make_user, sponsor_a, raiser, classifier, closer):
    both = make_user("qa.both", Role.SUPERVISOR, Role.QA_APPROVER, sponsors=[sponsor_a])
    deviation = builders.classified(builders.raised(raiser, sponsor_a), classifier, both)
    extension = services.request_extension(both, deviation, requested_due_date=deviation.due_date + dt.timedelta(7),
                                           justification="Waiting for lab results")
    with pytest.raises(RuleViolation, match="Approver is not the requester"):
        services.transition_extension(both, extension, "approve", signature=signature(both, "Approved"))
    services.transition_extension(closer, extension, "approve", signature=signature(closer, "Approved"))


def test_only_qa_approvers_decide_extensions(investigating, investigator, classifier):
    extension = services.request_extension(investigator, investigating,
                                           requested_due_date=investigating.due_date + dt.timedelta(7),
                                           justification="Waiting for lab results")
    with pytest.raises(PermissionDenied, match="quality.approve_extension"):
        services.transition_extension(classifier, extension, "reject", reason="no")


def test_an_extension_must_ask_for_a_later_date_and_one_at_a_time(investigating, investigator):
    with pytest.raises(RuleViolation, match="later than the current"):
        services.request_extension(investigator, investigating, requested_due_date=investigating.due_date,
                                   justification="x")
    services.request_extension(investigator, investigating, requested_due_date=investigating.due_date + dt.timedelta(1),
                               justification="x")
    with pytest.raises(RuleViolation, match="already has an extension request"):
        services.request_extension(investigator, investigating,
                                   requested_due_date=investigating.due_date + dt.timedelta(2), justification="y")


def test_an_extension_requested_before_another_moved_the_date_cannot_be_approved(investigating, investigator,
                                                                                 closer):
    first = services.request_extension(investigator, investigating,
                                       requested_due_date=investigating.due_date + dt.timedelta(7), justification="a")
    DueDateExtension.objects.filter(pk=first.pk).update(status="requested")
    investigating.due_date += dt.timedelta(3)
    investigating.save(update_fields=["due_date"])
    with pytest.raises(RuleViolation, match="reject this request and ask again"):
        services.transition_extension(closer, first, "approve", signature=signature(closer, "Approved"))


def test_capa_due_dates_use_the_same_extension_mechanism(classifier, closer, sponsor_a, fake_clock):
    capa = builders.capa(classifier, sponsor_a)
    new_due = capa.due_date + dt.timedelta(days=30)
    extension = services.request_extension(classifier, capa, requested_due_date=new_due,
                                           justification="New shipper model delivered in May")
    assert extension.capa == capa and extension.deviation is None and extension.sponsor == sponsor_a
    services.transition_extension(closer, extension, "approve", signature=signature(closer, "Approved"))
    capa.refresh_from_db()
    assert capa.due_date == new_due
    _at(fake_clock, new_due)
    assert not selectors.is_overdue(capa)
    _at(fake_clock, new_due + dt.timedelta(days=1))
    assert selectors.is_overdue(capa)



