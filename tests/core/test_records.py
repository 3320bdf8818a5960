"""Creating and changing audited records: old → new, who, when, why, in the same transaction."""

import datetime as dt
import json

import pytest
from django.db import transaction

from opencdmo.core import audit, context, records
from opencdmo.core.errors import RuleViolation
from opencdmo.core.models import AuditEvent
from opencdmo.sponsors.models import QualityAgreement
from tests.factories import draft_agreement, submitted_agreement


def events_of(record, *actions):
    events = AuditEvent.objects.filter(record_type=audit.record_type(record), record_id=str(record.pk))
    return list(events.filter(action__in=actions).order_by("id") if actions else events.order_by("id"))


@pytest.mark.req("A11-8")
@pytest.mark.req("DI-4")
def test_a_record_that_left_draft_needs_a_reason_for_change(qa_author, sponsor_a):
    agreement = submitted_agreement(qa_author, sponsor_a)
    version = agreement.version
    with pytest.raises(RuleViolation, match=rf"{agreement.number} has left draft \(in_review\): give a reason"):
        records.update_record(qa_author, agreement, terms="Deviations notified within 5 days.", reason="  ")
    agreement = QualityAgreement.objects.get(pk=agreement.pk)
    assert agreement.version == version and "2 working days" in agreement.terms
    assert events_of(agreement, "update") == []
    records.update_record(qa_author, agreement, terms="Deviations notified within 5 days.",
                          reason="sponsor QA asked for 5 days")
    [event] = events_of(agreement, "update")
    assert json.loads(event.changes) == {
        "terms": ["Deviations notified within 2 working days; changes need sponsor approval.",
                  "Deviations notified within 5 days."],
    }
    assert event.record_version == agreement.version == version + 1
    assert event.reason == "sponsor QA asked for 5 days"


@pytest.mark.req("A11-8")
def test_a_draft_can_be_changed_without_a_reason_and_each_change_is_a_new_version(qa_author, sponsor_a):
    agreement = draft_agreement(qa_author, sponsor_a)
    records.update_record(qa_author, agreement, deviation_notification_days=3)
    records.update_record(qa_author, agreement, deviation_notification_days=4)
    assert agreement.version == 3
    first, second = events_of(agreement, "update")
    assert json.loads(first.changes)["deviation_notification_days"] == [2, 3]
    assert json.loads(second.changes)["deviation_notification_days"] == [3, 4]
    assert (first.record_version, second.record_version) == (2, 3)


@pytest.mark.req("DI-4")
def test_saving_without_a_change_writes_no_event_and_no_version(qa_author, sponsor_a):
    agreement = draft_agreement(qa_author, sponsor_a)
    records.update_record(qa_author, agreement, title=agreement.title, reason="no-op")
    assert agreement.version == 1
    assert events_of(agreement, "update") == []


@pytest.mark.req("P11-1e")
@pytest.mark.req("DI-4")
def test_a_created_record_is_audited_field_by_field_with_who_when_and_from_where(qa_author, sponsor_a, fake_clock):
    with context.action(client_address="10.1.2.3", correlation_id="a" * 32):
        agreement = draft_agreement(qa_author, sponsor_a, deviation_notification_days=3)
    [event] = events_of(agreement)
    created = json.loads(event.changes)
    assert created["title"] == [None, agreement.title]
    assert created["deviation_notification_days"] == [None, 3]
    assert created["number"] == [None, agreement.number]
    assert created["created_by_id"] == [None, qa_author.pk]
    assert (event.action, event.actor_id, event.actor_name) == ("create", qa_author.pk, "Qa Author")
    assert (event.record_label, event.record_version, event.sponsor_id) == (agreement.number, 1, sponsor_a.pk)
    assert event.occurred_at == "2026-03-02T08:30:00.000000Z"
    assert (event.client_address, event.correlation_id) == ("10.1.2.3", "a" * 32)


@pytest.mark.req("P11-1e")
def test_the_audit_time_is_utc_even_when_the_clock_gives_another_zone(qa_author, sponsor_a, fake_clock):
    fake_clock.set(dt.datetime(2026, 3, 2, 9, 30, tzinfo=dt.timezone(dt.timedelta(hours=1))))
    agreement = draft_agreement(qa_author, sponsor_a)
    assert events_of(agreement)[0].occurred_at == "2026-03-02T08:30:00.000000Z"


@pytest.mark.req("P11-1e")
def test_a_change_and_its_audit_event_commit_or_roll_back_together(qa_author, sponsor_a):
    agreement = draft_agreement(qa_author, sponsor_a)
    before = AuditEvent.objects.count()
    with pytest.raises(ZeroDivisionError), transaction.atomic():
        records.update_record(qa_author, agreement, title="Renamed")
        1 / 0  # noqa: B018 — anything failing later in the same service
    assert AuditEvent.objects.count() == before
    assert QualityAgreement.objects.get(pk=agreement.pk).title != "Renamed"


@pytest.mark.django_db(transaction=True)
@pytest.mark.req("P11-1e")
def test_an_audit_event_is_only_written_inside_the_transaction_of_its_change(qa_author):
    with pytest.raises(RuntimeError, match="inside the transaction"):
        audit.log_event(qa_author, "update", record=qa_author, changes={"email": ["", "x@y.example"]})
    assert not AuditEvent.objects.filter(action="update").exists()
