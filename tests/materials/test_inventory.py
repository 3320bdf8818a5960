"""Stock movements: issue, return, sample, transfer, adjust, destroy. Balances never go negative;
a lot that may not be used is never issued, and a refusal writes nothing."""

import datetime as dt
import json
from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction

from opencdmo.core.errors import Conflict, NotFound, PermissionDenied, RuleViolation
from opencdmo.core.models import AuditEvent
from opencdmo.materials import selectors, services
from opencdmo.materials.models import GenealogyLink, InventoryTransaction, LotBalance
from opencdmo.quality.models import Deviation, DeviationLink
from tests.factories import signature

from . import builders
from .conftest import written

PAPER = services.Destination("external", "", "HLX-101 batch B-2601 (paper batch record)")


def balance(lot, location) -> Decimal:
    row = LotBalance.objects.filter(lot=lot, location=location).first()
    return row.quantity if row else Decimal(0)


def issue(actor, lot, location, quantity, unit="", to=PAPER):
    return services.issue_lot(actor, lot, location=location, quantity=quantity, unit=unit, to=to)


def test_a_released_lot_is_issued_to_a_record(released, operator, store):
    row = issue(operator, released, store["cold"], "2.5", "L")

    assert (row.kind, row.quantity, row.balance_after, row.for_type, row.for_label) == (
        "issue", Decimal("-2500"), Decimal("7500"), "external", PAPER.label)
    assert balance(released, store["cold"]) == 7500
    event = AuditEvent.objects.filter(record_id=str(released.pk), action="issue").get()
    changes = json.loads(event.changes)
    assert changes["balance at WH-COLD"] == ["10000", "7500"]
    assert changes["transaction"][1][0]["entered"] == "2.5 L"


def _on_hold(lot, qa):
    return services.transition_lot(qa, lot, "hold", reason="supplier notification")


def _rejected(lot, qa):
    services.transition_lot(qa, lot, "hold", reason="supplier notification")
    return services.transition_lot(qa, lot, "reject", signature=signature(qa, "Rejected"), reason="confirmed defect")


def _expired(lot, qa, fake_clock):
    fake_clock.set(dt.datetime.combine(lot.expiry_date + dt.timedelta(days=1), dt.time(7), tzinfo=dt.UTC))
    return lot


@pytest.mark.parametrize(("make", "reason"), [
    (lambda lot, qa, clock: lot, "is in quarantine: QA has not released it"),
    (lambda lot, qa, clock: _on_hold(builders.release(qa, lot), qa), "is on hold"),
    (lambda lot, qa, clock: _rejected(builders.release(qa, lot), qa), "was rejected by QA"),
    (lambda lot, qa, clock: _expired(builders.release(qa, lot), qa, clock), "cannot be used: it expired on"),
], ids=["quarantined", "on-hold", "rejected", "expired"])
def test_a_lot_that_may_not_be_used_is_not_issued_and_nothing_is_written(quarantined, qa, operator, store,
                                                                         fake_clock, make, reason):
    lot = make(quarantined, qa, fake_clock)
    before = written()

    with pytest.raises(RuleViolation) as refused:
        issue(operator, lot, store["quarantine"], "1", "mL")

    assert refused.value.status == 422
    assert refused.value.message.startswith("Not issued: ") and reason in refused.value.message
    assert written() == before


def test_more_than_is_at_the_location_is_not_issued(released, operator, store):
    before = written()

    with pytest.raises(Conflict, match="Only 10000 mL of LOT-2026-0001 is at WH-COLD: 10001 mL cannot be taken"):
        issue(operator, released, store["cold"], "10001")
    with pytest.raises(Conflict, match="Only 0 mL of LOT-2026-0001 is at ULT-80-01"):
        issue(operator, released, store["ult"], "1")
    assert written() == before


def test_the_database_refuses_a_negative_balance_too(released, store):
    with pytest.raises(IntegrityError), transaction.atomic():
        LotBalance.objects.filter(lot=released, location=store["cold"]).update(quantity=Decimal("-0.000001"))


def test_issuing_the_last_of_a_lot_depletes_it_and_a_return_brings_it_back(released, operator, store):
    issue(operator, released, store["cold"], "10", "L")
    released.refresh_from_db()
    assert released.status == "depleted"
    assert selectors.lot_usability(released) == (False, [f"{released.number} is depleted"])
    depleted = AuditEvent.objects.filter(record_id=str(released.pk), action="transition").latest("id")
    assert (json.loads(depleted.changes), depleted.reason) == (
        {"status": ["released", "depleted"]}, "the last of the lot was used")

    services.return_lot(operator, released, location=store["cold"], quantity="500", source=PAPER,
                        reason="unopened bottle")
    released.refresh_from_db()
    assert released.status == "released"
    assert selectors.lot_total(released) == 500


def test_no_more_comes_back_from_a_record_than_went_into_it(released, operator, store):
    issue(operator, released, store["cold"], "1", "L")
    before = written()

    with pytest.raises(RuleViolation, match="1000 mL of LOT-2026-0001 is issued to HLX-101 batch B-2601"):
        services.return_lot(operator, released, location=store["cold"], quantity="1001", source=PAPER)
    with pytest.raises(RuleViolation, match="0 mL of LOT-2026-0001 is issued to Another batch"):
        services.return_lot(operator, released, location=store["cold"], quantity="1",
                            source=services.Destination("external", "", "Another batch"))
    assert written() == before
    assert selectors.outstanding_issues(released)[0].quantity == 1000


def test_issuing_to_a_registered_record_links_the_genealogy(released, operator, handler, qa, medium, store):
    intermediate = builders.material(qa, "MSC-INT", name="MSC intermediate, passage 2", category="intermediate",
                                     suppliers=list(medium.approved_suppliers.all()))
    target = builders.release(qa, builders.receive(handler, intermediate, quantity="4"))
    to = services.destination(operator, for_type="materials.lot", for_reference=target.number)

    issue(operator, released, store["cold"], "100", to=to)
    issue(operator, released, store["cold"], "50", to=to)  # a second issue to the same record: one link

    [link] = GenealogyLink.objects.all()
    assert (link.parent_label, link.child_label, link.quantity, link.unit) == (
        released.number, target.number, Decimal("100"), "mL")
    recall = selectors.recall(qa, released)
    assert [n.label for n in recall.downstream] == [target.number]
    assert [n.label for n in selectors.recall(qa, target).upstream] == [released.number]


def test_a_sponsors_lot_is_not_used_for_another_sponsors_record(make_user, sponsor_a, sponsor_b, qa, store,
                                                                fake_clock):
    from opencdmo.core.domain.roles import Role  # noqa: PLC0415

    both = make_user("mh.both", Role.MATERIAL_HANDLER, sponsors=[sponsor_a, sponsor_b])
    a_lot = selectors.lot(both, builders.lot_for_sponsor(None, sponsor_a, "Acme"))
    b_lot = selectors.lot(both, builders.lot_for_sponsor(None, sponsor_b, "Beta"))
    before = written()

    with pytest.raises(RuleViolation, match="belongs to Acme Cell Therapeutics and cannot be used for another"):
        issue(both, a_lot, a_lot.balances.get().location, "1",
              to=services.destination(both, for_type="materials.lot", for_reference=b_lot.number))
    with pytest.raises(RuleViolation, match="cannot be issued to itself"):
        issue(both, a_lot, a_lot.balances.get().location, "1",
              to=services.destination(both, for_type="materials.lot", for_reference=a_lot.number))
    assert written() == before


def test_the_record_issued_to_must_exist_and_be_visible(released, operator):
    with pytest.raises(RuleViolation, match="'batches.nope' is not a kind of record"):
        services.destination(operator, for_type="batches.nope", for_reference="B-1")
    with pytest.raises(NotFound):
        services.destination(operator, for_type="materials.lot", for_reference="LOT-1999-0001")
    with pytest.raises(RuleViolation, match="Say which record"):
        services.destination(operator, for_type="external", for_label="  ")


def test_a_transfer_moves_stock_between_locations(released, handler, store):
    out, into = services.transfer_lot(handler, released, from_location=store["cold"], to_location=store["ult"],
                                      quantity="400", reason="aliquots to −80")

    assert (out.kind, out.quantity, out.other_location, into.kind, into.quantity, into.other_location) == (
        "transfer_out", Decimal("-400"), store["ult"], "transfer_in", Decimal("400"), store["cold"])
    assert (balance(released, store["cold"]), balance(released, store["ult"])) == (9600, 400)
    assert selectors.lot_total(released) == 10000
    with pytest.raises(RuleViolation, match="two different locations"):
        services.transfer_lot(handler, released, from_location=store["cold"], to_location=store["cold"], quantity="1")
    with pytest.raises(Conflict, match="Only 400 mL"):
        services.transfer_lot(handler, released, from_location=store["ult"], to_location=store["cold"],
                              quantity="401")


def test_an_adjustment_needs_a_reason_and_may_raise_a_deviation(released, handler, store):
    before = written()
    with pytest.raises(RuleViolation, match="Give a reason for the adjustment"):
        services.adjust_lot(handler, released, location=store["cold"], counted="9800", reason="")
    with pytest.raises(RuleViolation, match="is 10000 mL already: there is nothing to adjust"):
        services.adjust_lot(handler, released, location=store["cold"], counted="10", unit="L", reason="count")
    with pytest.raises(RuleViolation, match="zero or more"):
        services.adjust_lot(handler, released, location=store["cold"], counted="-1", reason="count")
    assert written() == before

    row = services.adjust_lot(handler, released, location=store["cold"], counted="9.8", unit="L",
                              reason="cycle count: one bottle broken", raise_deviation=True)

    assert (row.kind, row.quantity, row.balance_after, row.reason) == (
        "adjust", Decimal("-200"), Decimal("9800"), "cycle count: one bottle broken")
    deviation = Deviation.objects.get()
    assert deviation.source == "material" and released.number in deviation.title
    assert DeviationLink.objects.get(deviation=deviation).record_label == released.number


def test_a_count_of_zero_empties_the_location(released, handler, store):
    services.adjust_lot(handler, released, location=store["cold"], counted="0", reason="nothing found at count")

    released.refresh_from_db()
    assert released.status == "depleted"


def test_destroying_stock_needs_a_reason(released, handler, store):
    with pytest.raises(RuleViolation, match="Give a reason for destroying"):
        services.destroy_lot(handler, released, location=store["cold"], quantity="1", unit="L", reason=" ")

    row = services.destroy_lot(handler, released, location=store["cold"], quantity="1", unit="L",
                               reason="bottle dropped")
    assert (row.kind, row.quantity) == ("destroy", Decimal("-1000"))


def test_a_quarantined_lot_may_be_sampled_for_incoming_inspection(quarantined, handler, store):
    row = services.sample_lot(handler, quarantined, location=store["quarantine"], quantity="20",
                              reason="identity test")

    assert (row.kind, row.quantity, row.reason) == ("sample", Decimal("-20"), "identity test")


@pytest.mark.parametrize(("who", "move"), [
    ("operator", lambda actor, lot, store: services.transfer_lot(actor, lot, from_location=store["cold"],
                                                                 to_location=store["ult"], quantity="1")),
    ("operator", lambda actor, lot, store: services.adjust_lot(actor, lot, location=store["cold"], counted="1",
                                                               reason="count")),
    ("operator", lambda actor, lot, store: services.sample_lot(actor, lot, location=store["cold"], quantity="1")),
    ("qa", lambda actor, lot, store: issue(actor, lot, store["cold"], "1")),
])
def test_each_movement_needs_its_permission(released, operator, qa, store, who, move):
    before = written()

    with pytest.raises(PermissionDenied, match="You do not have the permission"):
        move({"operator": operator, "qa": qa}[who], released, store)
    assert written() == before


def test_the_transaction_history_is_complete(released, operator, handler, store):
    issue(operator, released, store["cold"], "1", "L")
    services.return_lot(operator, released, location=store["cold"], quantity="200", source=PAPER)

    kinds = [t.kind for t in selectors.lot_transactions(released)]
    assert kinds == ["return", "issue", "transfer_in", "transfer_out", "receive"]
    running = [t.balance_after for t in InventoryTransaction.objects.filter(lot=released, location=store["cold"])
               .order_by("id")]
    assert running == [Decimal("10000"), Decimal("9000"), Decimal("9200")]
