"""Shipments of a patient's material: collection bags to the CDMO and final product to the
treatment site. The shipper label names the patient (ISBT-6): another patient's shipper is refused
and kept with a deviation; an outbound dispatch is verified by a second person; at receipt the
temperature logger is read and the shipment accepted or rejected (a rejection holds every unit
and raises a deviation)."""

from decimal import Decimal

import pytest

from opencdmo.core.domain.roles import Role
from opencdmo.core.errors import Conflict, NotFound, PermissionDenied, RuleViolation
from opencdmo.core.models import Signature
from opencdmo.core.signatures import SignatureInput
from opencdmo.identity import selectors, services
from opencdmo.identity.models import CustodyEvent, Shipment, TherapyOrder, Unit
from opencdmo.quality.models import Deviation, DeviationLink
from tests.conftest import PASSWORD

from . import builders

pytestmark = pytest.mark.django_db

LOGGER_OK = {"logger_min_c": Decimal("-182.4"), "logger_max_c": Decimal("-165.0"), "minutes_out_of_range": 0}


def _statuses(shipment) -> set[str]:
    return set(Unit.objects.filter(shipments=shipment).values_list("status", flat=True))


def _inbound(order, *, bags: int = 2) -> Shipment:
    planner = builders.planner(order.patient.sponsor)
    return services.create_shipment(planner, order, direction="inbound", units=builders.collected(order, bags=bags),
                                    courier="World Courier", origin=order.patient.centre.name,
                                    destination="CDMO goods-in", logger_id="LOG-7")


def _dispatched_inbound(order, *, bags: int = 2) -> Shipment:
    shipment = _inbound(order, bags=bags)
    return services.dispatch_shipment(builders.planner(order.patient.sponsor), shipment,
                                      scanned=builders.shipper_scan(order))


# --- Outbound: product to the treatment site ---

@pytest.mark.req("ISBT-6")
def test_outbound_product_is_dispatched_with_a_second_person_received_at_site_and_infused(
        order_a, sponsor_a, fake_clock):
    handler, verifier, planner = builders.handler(sponsor_a), builders.second(sponsor_a), builders.planner(sponsor_a)
    shipment = builders.outbound(order_a, bags=2)
    assert (shipment.status, shipment.direction) == ("packing", "outbound")
    with pytest.raises(RuleViolation, match="second person"):
        services.dispatch_shipment(handler, shipment, scanned=builders.shipper_scan(order_a))
    assert shipment.status == "packing" and _statuses(shipment) == {"released"}
    fake_clock.advance(hours=1)
    services.dispatch_shipment(handler, shipment, scanned=builders.shipper_scan(order_a),
                               **builders.verified(verifier))
    shipment.refresh_from_db()
    assert (shipment.status, shipment.dispatched_at) == ("in_transit", fake_clock())
    assert _statuses(shipment) == {"shipped"}
    events = CustodyEvent.objects.filter(shipment=shipment, kind="shipment")
    assert events.count() == 2 and {e.verified_by for e in events} == {verifier}
    assert Signature.objects.filter(record_type="identity.custodyevent", signer=verifier, meaning="Verified",
                                    record_id__in=[str(e.pk) for e in events]).count() == 2
    fake_clock.advance(hours=20)
    with pytest.raises(PermissionDenied, match="identity.collect"):
        services.receive_shipment(handler, shipment, scanned=builders.shipper_scan(order_a), accepted=True, **LOGGER_OK)
    services.receive_shipment(planner, shipment, scanned=builders.shipper_scan(order_a), accepted=True, **LOGGER_OK)
    shipment.refresh_from_db()
    assert (shipment.status, shipment.accepted, shipment.received_at) == ("received", True, fake_clock())
    assert (shipment.logger_min_c, shipment.logger_max_c, shipment.minutes_out_of_range) == (
        Decimal("-182.4"), Decimal("-165.0"), 0)
    assert _statuses(shipment) == {"at_site"}
    assert CustodyEvent.objects.filter(shipment=shipment, kind="site_receipt", result="verified").count() == 2
    bag = Unit.objects.filter(shipments=shipment).first()
    services.hand_over(planner, bag, "infusion", scanned=builders.unit_scan(bag), to_party="Patient")
    assert Unit.objects.get(pk=bag.pk).status == "infused"
    assert TherapyOrder.objects.get(pk=order_a.pk).stage == "infusion"


@pytest.mark.req("ISBT-6")
def test_another_patients_shipper_label_at_dispatch_is_refused_kept_with_a_deviation_and_nothing_moves(
        order_a, other_order_a, sponsor_a):
    shipment = builders.outbound(order_a)
    with pytest.raises(services.CustodyMismatch, match="another patient") as refused:
        services.dispatch_shipment(builders.handler(sponsor_a), shipment, scanned=builders.shipper_scan(other_order_a),
                                   **builders.verified(builders.second(sponsor_a)))
    event = refused.value.event
    assert (event.kind, event.result, event.shipment, event.unit) == ("shipment", "refused", shipment, None)
    deviation = Deviation.objects.get(pk=refused.value.deviation.pk)
    assert deviation.source == "custody" and deviation.number in str(refused.value)
    links = set(DeviationLink.objects.filter(deviation=deviation).values_list("record_type", "record_id"))
    assert {("identity.therapyorder", str(order_a.pk)), ("identity.shipment", str(shipment.pk))} <= links
    assert not CustodyEvent.objects.filter(kind="shipment", result="verified").exists()
    shipment.refresh_from_db()
    assert shipment.status == "packing" and shipment.dispatched_at is None
    assert _statuses(shipment) == {"released"}


def test_only_released_final_product_is_packed_for_the_site_and_only_this_therapys(
        order_a, other_order_a, sponsor_a):
    handler = builders.handler(sponsor_a)
    filled = builders.filled(order_a)
    ship = {"courier": "Cryoport", "origin": "CDMO", "destination": "UKL"}
    with pytest.raises(RuleViolation, match="released for shipment"):
        services.create_shipment(handler, order_a, direction="outbound", units=filled, **ship)
    collected = Unit.objects.filter(order=order_a, kind="collection_bag")
    with pytest.raises(RuleViolation, match="final product bags"):
        services.create_shipment(handler, order_a, direction="outbound", units=collected, **ship)
    with pytest.raises(RuleViolation, match=f"containers of {order_a.number} only"):
        services.create_shipment(handler, order_a, direction="outbound", units=builders.released(other_order_a),
                                 **ship)
    with pytest.raises(RuleViolation, match="Choose the units"):
        services.create_shipment(handler, order_a, direction="outbound", units=[], **ship)
    with pytest.raises(PermissionDenied, match="identity.ship"):
        services.create_shipment(builders.planner(sponsor_a), order_a, direction="outbound",
                                 units=Unit.objects.filter(order=other_order_a, kind="final_product_bag"), **ship)
    assert not Shipment.objects.exists()


def test_a_unit_is_packed_in_one_open_shipment_at_a_time(order_a, sponsor_a):
    shipment = builders.outbound(order_a)
    with pytest.raises(Conflict, match=f"already packed in {shipment.number}"):
        services.create_shipment(builders.handler(sponsor_a), order_a, direction="outbound",
                                 units=list(shipment.units.all()), courier="Other", origin="CDMO", destination="UKL")


# --- Inbound: collection bags to the CDMO ---

def test_inbound_pickup_by_the_case_manager_then_receipt_of_the_shipper_then_of_each_bag(
        order_a, sponsor_a):
    handler, verifier = builders.handler(sponsor_a), builders.second(sponsor_a)
    shipment = _inbound(order_a)
    with pytest.raises(PermissionDenied, match="identity.collect"):
        services.dispatch_shipment(handler, shipment, scanned=builders.shipper_scan(order_a))
    services.dispatch_shipment(builders.planner(sponsor_a), shipment, scanned=builders.shipper_scan(order_a))
    assert _statuses(shipment) == {"in_transit"}
    pickups = CustodyEvent.objects.filter(shipment=shipment, kind="courier_pickup")
    assert pickups.count() == 2 and {e.verified_by for e in pickups} == {None}
    bag = Unit.objects.filter(shipments=shipment).first()
    with pytest.raises(RuleViolation, match="receive the shipper first"):
        services.hand_over(handler, bag, "receipt", scanned=builders.unit_scan(bag), **builders.verified(verifier))
    with pytest.raises(PermissionDenied, match="identity.custody"):
        services.receive_shipment(builders.planner(sponsor_a), shipment, scanned=builders.shipper_scan(order_a),
                                  accepted=True, **LOGGER_OK)
    services.receive_shipment(handler, shipment, scanned=builders.shipper_scan(order_a), accepted=True, **LOGGER_OK)
    # The shipper is in; each bag is received on its own, with its second person.
    assert _statuses(shipment) == {"in_transit"}
    assert not CustodyEvent.objects.filter(kind="receipt").exists()
    services.hand_over(handler, bag, "receipt", scanned=builders.unit_scan(bag), **builders.verified(verifier))
    assert Unit.objects.get(pk=bag.pk).status == "received"


def test_a_rejected_shipment_needs_a_reason_holds_its_units_and_raises_a_deviation_with_the_logger_summary(
        order_a, sponsor_a):
    handler = builders.handler(sponsor_a)
    shipment = _dispatched_inbound(order_a)
    warm = {"logger_min_c": Decimal("-120.5"), "logger_max_c": Decimal("-60.0"), "minutes_out_of_range": 95}
    with pytest.raises(RuleViolation, match="Why the shipment is rejected"):
        services.receive_shipment(handler, shipment, scanned=builders.shipper_scan(order_a), accepted=False, **warm)
    assert Shipment.objects.get(pk=shipment.pk).status == "in_transit"
    services.receive_shipment(handler, shipment, scanned=builders.shipper_scan(order_a), accepted=False,
                              note="Dry shipper warm on arrival.", **warm)
    shipment.refresh_from_db()
    assert (shipment.status, shipment.accepted, shipment.acceptance_note) == (
        "received", False, "Dry shipper warm on arrival.")
    assert shipment.minutes_out_of_range == 95 and shipment.logger_max_c == Decimal("-60.0")
    link = DeviationLink.objects.get(record_type="identity.shipment", record_id=str(shipment.pk))
    deviation = link.deviation
    assert deviation.source == "custody" and deviation.sponsor == sponsor_a
    assert "lowest -120.5 °C, highest -60.0 °C, 95 min out of range" in deviation.description
    assert "LOG-7" in deviation.description and "Dry shipper warm on arrival." in deviation.description
    assert _statuses(shipment) == {"rejected"}
    bag = Unit.objects.filter(shipments=shipment).first()
    with pytest.raises(RuleViolation, match="held"):
        services.hand_over(handler, bag, "receipt", scanned=builders.unit_scan(bag),
                           **builders.verified(builders.second(sponsor_a)))


@pytest.mark.parametrize(("logger", "message"), [
    ({"logger_min_c": Decimal("-150"), "logger_max_c": Decimal("-160"), "minutes_out_of_range": 0}, "cannot be above"),
    ({"logger_min_c": Decimal("-150.25"), "logger_max_c": Decimal("-140"), "minutes_out_of_range": 0}, "to 0.1 °C"),
    ({"logger_min_c": Decimal("-300"), "logger_max_c": Decimal("-140"), "minutes_out_of_range": 0}, "between -273.1"),
    ({"logger_min_c": "cold", "logger_max_c": Decimal("-140"), "minutes_out_of_range": 0}, "as a number"),
    ({"logger_min_c": Decimal("-150"), "logger_max_c": Decimal("-140"), "minutes_out_of_range": -1}, "0 or more"),
])
def test_a_logger_summary_that_cannot_be_is_refused(order_a, sponsor_a, logger, message):
    shipment = _dispatched_inbound(order_a, bags=1)
    with pytest.raises(RuleViolation, match=message):
        services.receive_shipment(builders.handler(sponsor_a), shipment, scanned=builders.shipper_scan(order_a),
                                  accepted=True, **logger)
    assert Shipment.objects.get(pk=shipment.pk).status == "in_transit"


def test_another_patients_shipper_at_receipt_is_refused_and_the_shipment_stays_in_transit(
        order_a, other_order_a, sponsor_a):
    shipment = _dispatched_inbound(order_a, bags=1)
    with pytest.raises(services.CustodyMismatch):
        services.receive_shipment(builders.handler(sponsor_a), shipment, scanned=builders.shipper_scan(other_order_a),
                                  accepted=True, **LOGGER_OK)
    assert CustodyEvent.objects.get(shipment=shipment, result="refused").kind == "receipt"
    assert Shipment.objects.get(pk=shipment.pk).status == "in_transit"


# --- Reading shipments, and sponsor segregation ---

def test_shipments_are_listed_by_status_and_direction_and_hidden_from_other_sponsors(
        order_a, sponsor_a, sponsor_b, make_user):
    packing, travelling = _inbound(order_a, bags=1), _dispatched_inbound(
        builders.order(builders.planner(sponsor_a), builders.patient(builders.planner(sponsor_a), sponsor_a)), bags=1)
    viewer = make_user("acme.viewer", Role.SPONSOR_VIEWER, sponsors=[sponsor_a])
    assert set(selectors.shipments_for(viewer)) == {packing, travelling}
    assert list(selectors.shipments_for(viewer, status="in_transit")) == [travelling]
    assert not selectors.shipments_for(viewer, direction="outbound").exists()
    assert selectors.shipment(viewer, packing.number) == packing
    outsider = make_user("beta.everything", Role.PLANNER, Role.MATERIAL_HANDLER, sponsors=[sponsor_b])
    assert not selectors.shipments_for(outsider).exists()
    with pytest.raises(NotFound):
        selectors.shipment(outsider, packing.number)
    with pytest.raises(NotFound):
        services.dispatch_shipment(outsider, packing, scanned=builders.shipper_scan(order_a))
    with pytest.raises(NotFound):
        services.receive_shipment(outsider, travelling, scanned=builders.shipper_scan(order_a), accepted=True,
                                  **LOGGER_OK)
    with pytest.raises(NotFound):
        services.create_shipment(outsider, order_a, direction="inbound", units=[], courier="X", origin="Y",
                                 destination="Z")
    assert Shipment.objects.get(pk=packing.pk).status == "packing"


# --- A shipment cancelled while packing; material held after a rejection, decided by QA ---

def test_a_shipment_being_packed_is_cancelled_with_a_reason_and_its_units_are_free_again(order_a, sponsor_a):
    planner = builders.planner(sponsor_a)
    shipment = _inbound(order_a, bags=1)
    with pytest.raises(RuleViolation, match="Why the shipment is cancelled"):
        services.cancel_shipment(planner, shipment, reason=" ")
    services.cancel_shipment(planner, shipment, reason="Courier pickup moved to tomorrow.")
    assert Shipment.objects.get(pk=shipment.pk).status == "cancelled"
    again = services.create_shipment(planner, order_a, direction="inbound", units=list(shipment.units.all()),
                                     courier="World Courier", origin="UKL", destination="CDMO")
    assert list(again.units.all()) == list(shipment.units.all())
    with pytest.raises(RuleViolation, match="only a shipment packing can be cancelled"):
        services.cancel_shipment(planner, shipment, reason="Twice.")


def test_a_shipment_on_its_way_is_received_or_rejected_never_cancelled(order_a, sponsor_a):
    shipment = _dispatched_inbound(order_a)
    with pytest.raises(RuleViolation, match="only a shipment packing can be cancelled"):
        services.cancel_shipment(builders.planner(sponsor_a), shipment, reason="Lost?")
    packed = _inbound(builders.order(builders.planner(sponsor_a), builders.patient(builders.planner(sponsor_a),
                                                                                 sponsor_a)))
    with pytest.raises(PermissionDenied):  # an operator neither books nor ships
        services.cancel_shipment(builders.second(sponsor_a), packed, reason="Not mine to cancel.")


def _signed(user, meaning: str, password: str = PASSWORD) -> SignatureInput:
    return SignatureInput(meaning=meaning, username=user.username, password=password)


@pytest.mark.req("P11-4")
def test_qa_accepts_a_held_unit_on_a_signed_assessment_and_it_is_then_received_with_a_second_person(order_a,
                                                                                                   sponsor_a):
    unit, qa = builders.held(order_a), builders.qa(sponsor_a)
    with pytest.raises(RuleViolation, match="meaning 'Approved'"):
        services.decide_held_unit(qa, unit, decision="accept", reason="Cells viable.", signature=_signed(qa, "Rejected"))
    services.decide_held_unit(qa, unit, decision="accept", reason="Deviation assessed: viability 96 %, within spec.",
                              signature=_signed(qa, "Approved"))
    unit.refresh_from_db()
    assert unit.status == "in_transit"  # awaits its own receipt, scanned and verified
    assert Signature.objects.filter(record_type="identity.unit", record_id=str(unit.pk), signer=qa,
                                    meaning="Approved").exists()
    services.hand_over(builders.handler(sponsor_a), unit, "receipt", scanned=builders.unit_scan(unit),
                       **builders.verified(builders.second(sponsor_a)))
    assert Unit.objects.get(pk=unit.pk).status == "received"


def test_qa_destroys_a_held_unit_and_no_handoff_takes_it_any_more(order_a, sponsor_a):
    unit, qa = builders.held(order_a), builders.qa(sponsor_a)
    services.decide_held_unit(qa, unit, decision="destroy", reason="Thawed in transit: not usable.",
                              signature=_signed(qa, "Rejected"))
    unit.refresh_from_db()
    assert unit.status == "destroyed"
    with pytest.raises(RuleViolation, match="destroyed"):
        services.hand_over(builders.handler(sponsor_a), unit, "receipt", scanned=builders.unit_scan(unit),
                           **builders.verified(builders.second(sponsor_a)))
    with pytest.raises(RuleViolation, match="not held"):
        services.decide_held_unit(qa, unit, decision="accept", reason="Again.", signature=_signed(qa, "Approved"))


def test_only_qa_decides_on_held_material_with_an_assessment_and_its_own_password(order_a, sponsor_a):
    unit, qa = builders.held(order_a), builders.qa(sponsor_a)
    with pytest.raises(PermissionDenied):
        services.decide_held_unit(builders.handler(sponsor_a), unit, decision="accept", reason="Fine.",
                                  signature=_signed(builders.handler(sponsor_a), "Approved"))
    with pytest.raises(RuleViolation, match="Your assessment"):
        services.decide_held_unit(qa, unit, decision="accept", reason="", signature=_signed(qa, "Approved"))
    with pytest.raises(RuleViolation, match="accept the unit on your assessment, or destroy it"):
        services.decide_held_unit(qa, unit, decision="keep", reason="Fine.", signature=_signed(qa, "Approved"))
    with pytest.raises(PermissionDenied, match="Signature refused"):
        services.decide_held_unit(qa, unit, decision="accept", reason="Fine.",
                                  signature=_signed(qa, "Approved", "wrong-password"))
    assert Unit.objects.get(pk=unit.pk).status == "rejected"
