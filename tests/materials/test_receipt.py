"""Receiving a delivery: a new lot in quarantine, its stock and the supplier's CoA; any refusal
writes nothing."""

import datetime as dt
import json
from decimal import Decimal

import pytest

from opencdmo.core.errors import Conflict, PermissionDenied, RuleViolation
from opencdmo.core.models import Attachment, AuditEvent
from opencdmo.materials import selectors, services
from opencdmo.materials.models import InventoryTransaction, LotBalance

from . import builders
from .conftest import written

TODAY = dt.date(2026, 3, 2)  # the fake clock's date at the site


def receive(handler, material, **fields):
    defaults = {"supplier": material.approved_suppliers.first(), "supplier_lot": "TCM-2602-01",
                "quantity": "10", "unit": "L", "containers": 10, "location": fields.pop("into", None),
                "expiry_date": TODAY + dt.timedelta(days=180), "certificate": builders.certificate()}
    return services.receive_lot(handler, material=material, **{**defaults, **fields})


@pytest.fixture
def receiving(handler, medium, store, fake_clock):
    def go(**fields):
        return receive(handler, medium, **{"into": store["quarantine"], **fields})
    return go


def test_a_delivery_is_received_into_quarantine_with_a_lot_number(receiving, handler, store):
    lot = receiving()

    assert lot.number == "LOT-2026-0001"
    assert lot.status == "quarantine"
    assert (lot.quantity_received, lot.unit, lot.entered_quantity, lot.entered_unit) == (
        Decimal("10000"), "mL", Decimal("10"), "L")
    assert lot.received_at == dt.datetime(2026, 3, 2, 8, 30, tzinfo=dt.UTC)  # server time
    assert lot.created_by == handler
    receipt = InventoryTransaction.objects.get(lot=lot)
    assert (receipt.kind, receipt.location, receipt.quantity, receipt.balance_after) == (
        "receive", store["quarantine"], Decimal("10000"), Decimal("10000"))
    assert LotBalance.objects.get(lot=lot).quantity == 10000
    coa = Attachment.objects.get(record_type="materials.lot", record_id=str(lot.pk))
    assert coa.description == "Supplier certificate of analysis"
    events = AuditEvent.objects.filter(record_type="materials.lot", record_id=str(lot.pk)).order_by("id")
    assert [e.action for e in events] == ["create", "receive", "attach"]
    assert json.loads(events[1].changes)["balance at QUAR-01"] == ["0", "10000"]


def test_a_lot_of_a_sponsor_supplied_material_belongs_to_the_sponsor(handler, vector, store, sponsor_a, fake_clock):
    lot = receive(handler, vector, into=store["quarantine"], quantity="12", unit="mL")

    assert lot.sponsor == sponsor_a


def test_lot_numbers_count_up_per_year(receiving, fake_clock):
    first = receiving(supplier_lot="A")
    second = receiving(supplier_lot="B")
    fake_clock.set(dt.datetime(2027, 1, 4, 9, 0, tzinfo=dt.UTC))
    next_year = receiving(supplier_lot="C", expiry_date=dt.date(2027, 6, 1))

    assert [first.number, second.number, next_year.number] == ["LOT-2026-0001", "LOT-2026-0002", "LOT-2027-0001"]


def test_the_supplier_must_be_approved_for_the_material(receiving, qa):
    other = builders.supplier(qa, "CHEAPLAB", "Cheap Lab Supplies")
    before = written()

    with pytest.raises(RuleViolation, match="Cheap Lab Supplies is not an approved supplier of TCM-SF"):
        receiving(supplier=other)
    assert written() == before


def test_a_disqualified_supplier_is_refused(receiving, qa, medium):
    services.set_supplier_approval(qa, medium.approved_suppliers.get(), approved=False, reason="audit failed")
    before = written()

    with pytest.raises(RuleViolation, match="not an approved supplier: its deliveries are not received"):
        receiving()
    assert written() == before


@pytest.mark.parametrize("again", ["TCM-2602-01", "tcm-2602-01", "  TCM-2602-01 "])
def test_a_supplier_lot_is_received_once_per_material_and_supplier(receiving, again):
    first = receiving()
    before = written()

    with pytest.raises(Conflict, match=f"was received already as {first.number}"):
        receiving(supplier_lot=again)
    assert written() == before


def test_the_same_supplier_lot_number_of_another_material_is_another_lot(receiving, handler, qa, store, medium):
    receiving()
    other = builders.material(qa, "MSC-MED", name="MSC medium", suppliers=list(medium.approved_suppliers.all()))

    lot = receive(handler, other, into=store["quarantine"])

    assert lot.supplier_lot == "TCM-2602-01"


@pytest.mark.parametrize(("field", "date", "message"), [
    ("expiry_date", TODAY - dt.timedelta(days=1), "The expiry date 2026-03-01 is before the receipt date 2026-03-02"),
    ("retest_date", TODAY - dt.timedelta(days=30), "The retest date 2026-01-31 is before the receipt date"),
    ("retest_date", TODAY + dt.timedelta(days=200), "The retest date cannot be after the expiry date"),
])
def test_dates_that_make_no_sense_are_refused(receiving, field, date, message):
    before = written()

    with pytest.raises(RuleViolation, match=message):
        receiving(**{field: date})
    assert written() == before


def test_material_expiring_on_the_day_of_receipt_is_received(receiving):
    assert receiving(expiry_date=TODAY).expiry_date == TODAY


@pytest.mark.parametrize(("quantity", "unit", "message"), [
    ("-5", "L", "must be more than zero"),
    ("0", "L", "must be more than zero"),
    ("abc", "L", "'abc' is not a number"),
    ("", "L", "Give a quantity"),
    ("NaN", "L", "is not a number"),
    ("1e400", "L", "more than this system can record"),
    ("10", "widgets", "'widgets' is not a unit of measure"),
    ("10", "mg", "mg cannot be converted to mL"),
    ("10", "vial", "vial cannot be converted to mL"),
])
def test_bad_quantities_and_units_are_refused_and_nothing_is_written(receiving, quantity, unit, message):
    before = written()

    with pytest.raises(RuleViolation, match=message):
        receiving(quantity=quantity, unit=unit)
    assert written() == before


@pytest.mark.parametrize("containers", [0, -1, 501, "many"])
def test_the_number_of_containers_is_checked(receiving, containers):
    before = written()

    with pytest.raises(RuleViolation, match="Containers"):
        receiving(containers=containers)
    assert written() == before


def test_an_empty_certificate_file_refuses_the_whole_receipt(receiving):
    before = written()

    with pytest.raises(RuleViolation, match="The file is empty"):
        receiving(certificate=builders.certificate(content=b""))
    assert written() == before


def test_only_a_material_handler_receives(operator, medium, store, fake_clock):
    before = written()

    with pytest.raises(PermissionDenied, match=r"materials\.receive"):
        receive(operator, medium, into=store["quarantine"])
    assert written() == before


def test_nothing_is_received_into_production(receiving, store):
    with pytest.raises(RuleViolation, match="not into PROD-B"):
        receiving(into=store["production"])


def test_a_retired_material_is_not_received(receiving, qa, medium):
    services.update_material(qa, medium, is_active=False, reason="replaced by TCM-SF2")

    with pytest.raises(RuleViolation, match="retired"):
        receiving()


def test_a_material_unit_is_checked_and_stored_in_one_spelling(qa, store):
    material = builders.material(qa, "CS10", name="Cryopreservation medium", unit="ml")

    assert material.unit == "mL"
    with pytest.raises(RuleViolation, match="Stock cannot be counted in ml/min"):
        services.create_material(qa, code="X1", name="Flow", category="reagent", storage="ambient", unit="mL/min")
    with pytest.raises(RuleViolation, match="not a unit of measure"):
        services.create_material(qa, code="X2", name="Odd", category="reagent", storage="ambient", unit="widgets")


def test_the_unit_of_a_material_with_lots_cannot_change(receiving, qa, medium):
    receiving()

    with pytest.raises(RuleViolation, match="has lots counted in mL: its unit cannot change"):
        services.update_material(qa, medium, unit="L", reason="count in litres")
    medium.refresh_from_db()
    assert medium.unit == "mL"


def test_master_data_changes_need_a_reason_and_are_audited(qa, medium):
    with pytest.raises(RuleViolation, match="reason"):
        services.update_material(qa, medium, name="New name", reason=" ")

    services.update_material(qa, medium, name="Serum-free T-cell medium v2", reason="supplier renamed the product")
    event = AuditEvent.objects.filter(record_type="materials.material", action="update").latest("id")
    assert json.loads(event.changes) == {"name": ["Serum-free T-cell expansion medium", "Serum-free T-cell medium v2"]}
    assert event.reason == "supplier renamed the product"


def test_approved_suppliers_are_changed_with_a_reason_and_audited(qa, medium):
    new = builders.supplier(qa, "BIOMED", "BioMed Media")

    services.set_approved_suppliers(qa, medium, [new, *medium.approved_suppliers.all()], reason="second source")

    assert sorted(medium.approved_suppliers.values_list("code", flat=True)) == ["BIOMED", "CELLMED"]
    event = AuditEvent.objects.filter(record_type="materials.material", action="update").latest("id")
    assert json.loads(event.changes) == {"approved_suppliers": [["CELLMED"], ["BIOMED", "CELLMED"]]}


def test_a_lot_is_found_by_a_scanned_number_in_any_case(receiving, handler):
    lot = receiving()

    assert selectors.find_lot(handler, f"  {lot.number.lower()}\n") == lot


def test_a_sponsor_supplies_only_its_own_materials(qa, medium, vector, sponsor_a):
    acme = vector.approved_suppliers.get()
    assert acme.sponsor == sponsor_a

    with pytest.raises(RuleViolation, match="supplies only its own sponsor's materials, and TCM-SF is not one"):
        services.set_approved_suppliers(qa, medium, [acme], reason="try")
