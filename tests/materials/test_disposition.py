"""QA disposition of a lot: quarantine → released / rejected with a signature, on hold ↔ released
with a reason; and expiry, which is derived from the dates, never stored."""

import datetime as dt

import pytest

from opencdmo.core import services as core_services
from opencdmo.core import signatures, tasks
from opencdmo.core.domain.roles import Role
from opencdmo.core.errors import PermissionDenied, RuleViolation
from opencdmo.core.models import AuditEvent
from opencdmo.materials import selectors, services
from tests.factories import signature

from . import builders
from .conftest import written


def transition(actor, lot, action, **kwargs):
    return services.transition_lot(actor, lot, action, **kwargs)


@pytest.mark.req("P11-3")
def test_qa_releases_a_lot_with_a_signature(quarantined, qa):
    lot = transition(qa, quarantined, "release", signature=signature(qa, "QA Released", comment="CoA conforms"))

    assert lot.status == "released"
    assert selectors.lot_usability(lot) == (True, [])
    [(signed, valid)] = signatures.with_validity(lot)
    assert (signed.printed_name, signed.meaning, signed.comment, valid) == ("Qa Patel", "QA Released", "CoA conforms",
                                                                           True)


@pytest.mark.req("P11-1g")
def test_the_receiver_does_not_release_the_lot(make_user, sponsor_a, medium, qa, fake_clock):
    both = make_user("mh.qa", Role.MATERIAL_HANDLER, Role.QA_SPECIALIST, sponsors=[sponsor_a])
    lot = builders.receive(both, medium)
    before = written()

    with pytest.raises(RuleViolation, match=f"Receiver is not releaser: you received {lot.number}"):
        transition(both, lot, "release", signature=signature(both, "QA Released"))
    assert written() == before

    assert transition(qa, lot, "release", signature=signature(qa, "QA Released")).status == "released"


def test_a_lot_is_released_only_against_the_suppliers_certificate(handler, medium, qa, fake_clock):
    lot = builders.receive(handler, medium, with_certificate=False)
    assert selectors.disposition_blockers(qa, lot) == [
        f"{lot.number} has no supplier certificate of analysis attached: attach it before release."]

    with pytest.raises(RuleViolation, match="no supplier certificate of analysis"):
        transition(qa, lot, "release", signature=signature(qa, "QA Released"))

    core_services.add_attachment(handler, lot, builders.certificate(), description="CoA arrived by e-mail")
    assert transition(qa, lot, "release", signature=signature(qa, "QA Released")).status == "released"


def test_an_expired_lot_is_not_released(quarantined, qa, fake_clock):
    fake_clock.set(dt.datetime.combine(quarantined.expiry_date + dt.timedelta(days=1), dt.time(9), tzinfo=dt.UTC))

    with pytest.raises(RuleViolation, match="cannot be released: it expired on"):
        transition(qa, quarantined, "release", signature=signature(qa, "QA Released"))


def test_only_qa_disposes_of_a_lot(quarantined, handler):
    before = written()

    with pytest.raises(PermissionDenied, match=r"materials\.disposition"):
        transition(handler, quarantined, "release", signature=signature(handler, "QA Released"))
    assert written() == before


@pytest.mark.req("P11-7")
def test_a_wrong_password_refuses_the_release_and_counts_toward_lockout(quarantined, qa):
    with pytest.raises(PermissionDenied, match="Signature refused"):
        transition(qa, quarantined, "release", signature=signature(qa, "QA Released", password="not mine"))

    qa.refresh_from_db()
    quarantined.refresh_from_db()
    assert qa.failed_logins == 1
    assert quarantined.status == "quarantine"


def test_qa_rejects_a_lot_with_a_signature_and_a_reason(quarantined, qp):
    with pytest.raises(RuleViolation, match="Give a reason to reject"):
        transition(qp, quarantined, "reject", signature=signature(qp, "Rejected"))

    lot = transition(qp, quarantined, "reject", signature=signature(qp, "Rejected"), reason="CoA sterility missing")

    assert lot.status == "rejected"
    assert [s.meaning for s in signatures.signatures_of(lot)] == ["Rejected"]
    assert selectors.lot_usability(lot) == (False, [f"{lot.number} was rejected by QA"])


def test_a_released_lot_goes_on_hold_and_back_with_reasons(released, qa):
    with pytest.raises(RuleViolation, match="Give a reason to put on hold"):
        transition(qa, released, "hold")

    held = transition(qa, released, "hold", reason="supplier notification: endotoxin trend")
    assert selectors.lot_usability(held) == (False, [f"{released.number} is on hold"])
    transition(qa, released, "lift_hold", reason="supplier investigation closed, no impact")

    released.refresh_from_db()
    assert released.status == "released"
    reasons = AuditEvent.objects.filter(record_id=str(released.pk), action="transition").order_by("id")
    assert [e.reason for e in reasons][-2:] == ["supplier notification: endotoxin trend",
                                                "supplier investigation closed, no impact"]


def test_a_rejected_lot_cannot_be_released(quarantined, qa, qp):
    transition(qp, quarantined, "reject", signature=signature(qp, "Rejected"), reason="damaged in transit")

    with pytest.raises(RuleViolation, match="it is Rejected, and only a record that is Quarantine can be"):
        transition(qa, quarantined, "release", signature=signature(qa, "QA Released"))


def test_the_system_transitions_are_not_open_to_people(released, handler):
    """Depleted and back in stock follow the stock; nobody chooses them."""
    assert [t.name for t in services.lot_workflow.available(released, handler)] == []
    with pytest.raises(RuleViolation, match="still has stock"):
        transition(handler, released, "deplete")


# Expiry: derived from the dates at the site, whatever the stored status says.

def at_site(date: dt.date, hour: int, minute: int = 0, second: int = 0) -> dt.datetime:
    """An instant in Europe/Berlin (the test settings' site zone, CET in March = UTC+1)."""
    return dt.datetime(date.year, date.month, date.day, hour, minute, second,
                       tzinfo=dt.timezone(dt.timedelta(hours=1)))


def test_a_lot_is_expired_from_the_first_instant_after_its_expiry_date(released):
    last_day = released.expiry_date
    assert last_day.month not in (4, 5, 6, 7, 8, 9)  # CET, not CEST, at that date

    assert selectors.lot_status(released, at_site(last_day, 23, 59, 59)) == "released"
    assert selectors.lot_status(released, at_site(last_day + dt.timedelta(days=1), 0, 0, 0)) == "expired"
    assert released.status == "released"  # nothing stored changed


@pytest.mark.parametrize("stored", ["quarantine", "on_hold", "rejected", "depleted", "released"])
def test_expired_overrides_every_stored_status(released, stored):
    released.status = stored  # in memory only: what the lot would show in that status
    later = at_site(released.expiry_date + dt.timedelta(days=2), 10)

    assert selectors.lot_status(released, later) == "expired"
    usable, reasons = selectors.lot_usability(released, later)
    assert not usable
    assert f"{released.number} cannot be used: it expired on {released.expiry_date:%Y-%m-%d}" in reasons


def test_a_lot_past_its_retest_date_is_expired_too(handler, medium, qa, fake_clock):
    lot = builders.release(qa, builders.receive(handler, medium, expires_in_days=365, retest_in_days=30))
    later = fake_clock.current + dt.timedelta(days=32)

    assert selectors.lot_usability(lot, later) == (
        False, [f"{lot.number} cannot be used: its retest date {lot.retest_date:%Y-%m-%d} has passed"])


def test_the_inventory_filters_by_the_derived_status(released, quarantined, handler, medium, qa, fake_clock):
    old = builders.release(qa, builders.receive(handler, medium, expires_in_days=3))
    fake_clock.advance(days=5)

    expired = selectors.lots_for(handler, status="expired")
    still_released = selectors.lots_for(handler, status="released")

    assert [lot.number for lot in expired] == [old.number]
    assert [lot.number for lot in still_released] == [released.number]


def test_my_tasks_qa_sees_lots_awaiting_disposition(quarantined, qa, handler):
    mine = [t for t in tasks.tasks_for(qa) if t.record.startswith(quarantined.number)]

    assert [(t.title, t.status) for t in mine] == [("Release or reject", "quarantine")]
    assert not [t for t in tasks.tasks_for(handler) if t.title == "Release or reject"]


def test_my_tasks_handlers_see_lots_that_expire_within_30_days(released, handler, medium, qa, fake_clock):
    soon = builders.release(qa, builders.receive(handler, medium, expires_in_days=20))
    builders.release(qa, builders.receive(handler, medium, expires_in_days=45))

    expiring = [(t.record.split()[0], t.title) for t in tasks.tasks_for(handler) if t.title.startswith("Expire")]

    assert expiring == [(soon.number, "Expires in 20 days")]
    fake_clock.advance(days=21)
    assert [t.title for t in tasks.tasks_for(handler) if t.record.startswith(soon.number)] == [
        "Expired: take out of use"]
