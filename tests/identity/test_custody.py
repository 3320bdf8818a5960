"""Collections and handoffs of a patient's material (ISBT 128 chain of custody): DINs issued in
sequence (ISBT-3), bags labelled with their product code and division (ISBT-5), every handoff's scan
matched to the patient and the container, mix-ups refused and kept with a deviation, the two-person
rule at critical handoffs, status guards, sponsor segregation."""

import datetime as dt

import pytest

from opencdmo.core import clock
from opencdmo.core.domain.roles import Role
from opencdmo.core.errors import NotFound, PermissionDenied, RuleViolation
from opencdmo.core.models import Signature, User
from opencdmo.identity import selectors, services
from opencdmo.identity.domain import isbt128
from opencdmo.identity.models import Collection, CustodyEvent, IdentifierSequence, MilestoneReached, TherapyOrder, Unit
from opencdmo.quality.models import Deviation, DeviationLink

from . import builders

pytestmark = pytest.mark.django_db


def _reload(unit) -> Unit:
    return Unit.objects.get(pk=unit.pk)


def _in_transit(order) -> Unit:
    unit = builders.collected(order)[0]
    services.hand_over(builders.planner(order.patient.sponsor), unit, "courier_pickup",
                       scanned=builders.unit_scan(unit), to_party="World Courier")
    return _reload(unit)


# --- Collections and their DINs ---

@pytest.mark.req("ISBT-3")
@pytest.mark.req("ISBT-4")
def test_each_collection_gets_the_next_din_of_the_site_and_year_and_it_round_trips(order_a, other_order_a):
    first, second = builders.booked(order_a), builders.booked(other_order_a)
    assert [first.din, second.din] == ["A999926000001", "A999926000002"]
    assert first.status == "booked" and first.centre == order_a.patient.centre
    counter = IdentifierSequence.objects.get(structure="din", issuer="A9999", year="26")
    assert counter.last == "000002"
    # The chain of identity identifiers count on their own: issuing DINs did not move them.
    assert IdentifierSequence.objects.get(structure="coi").last == "000002"
    for collection in (first, second):
        issued = isbt128.Din.from_content(collection.din + "00")
        with_check_flags = isbt128.parse(isbt128.Din.from_content(collection.din + issued.type3_flags).text)
        assert with_check_flags.din13 == collection.din and with_check_flags.flag_kind == "check"
        keyed = isbt128.parse(collection.din + isbt128.check_character(collection.din))
        assert keyed.din13 == collection.din
    printed = selectors.printed_din(first.din)
    assert printed.text == "A9999 26 000001" and printed.check == isbt128.check_character("A999926000001")


def test_a_collection_is_booked_by_the_case_manager_for_an_open_order_at_an_active_centre_of_the_sponsor(
        order_a, sponsor_a, sponsor_b):
    planner = builders.planner(sponsor_a)
    with pytest.raises(PermissionDenied, match="identity.collect"):
        services.book_collection(builders.handler(sponsor_a), order_a, planned_on=builders.COLLECTION)
    closed = builders.centre(planner, sponsor_a, "OLD")
    closed.is_active = False
    closed.save()
    with pytest.raises(RuleViolation, match="no longer treats"):
        services.book_collection(planner, order_a, planned_on=builders.COLLECTION, centre=closed)
    elsewhere = builders.centre(builders.planner(sponsor_b), sponsor_b, "BXL")
    with pytest.raises(NotFound):
        services.book_collection(planner, order_a, planned_on=builders.COLLECTION, centre=elsewhere)
    with pytest.raises(RuleViolation, match="today or a later day"):
        services.book_collection(planner, order_a, planned_on=clock.site_today() - dt.timedelta(days=1))
    services.transition_order(planner, order_a, "cancel", reason="Patient no longer eligible.")
    with pytest.raises(RuleViolation, match="cancelled"):
        services.book_collection(planner, order_a, planned_on=builders.COLLECTION)
    assert not Collection.objects.exists()
    assert not IdentifierSequence.objects.filter(structure="din").exclude(last="").exists()


@pytest.mark.req("ISBT-5")
def test_recording_a_collection_makes_one_unit_per_bag_with_divided_product_codes_at_the_centre(
        order_a, sponsor_a, fake_clock):
    collection = builders.booked(order_a)
    fake_clock.advance(hours=30)
    units = services.record_collection(builders.planner(sponsor_a), collection, bags=3,
                                       scanned=isbt128.Din.from_content(collection.din + "00").text)
    assert [u.product_code for u in units] == ["S12341A0", "S12341B0", "S12341C0"]
    assert {(u.din, u.kind, u.status, u.holder) for u in units} == {
        (collection.din, "collection_bag", "collected", order_a.patient.centre.name)}
    for unit in units:
        code = isbt128.parse(isbt128.ProductCode.from_content(unit.product_code).text)
        assert code.pdc == "S1234" and code.collection_type == "1" and code.divided
    collection.refresh_from_db()
    assert collection.status == "collected" and collection.collected_at == fake_clock()
    events = list(selectors.custody_events(builders.planner(sponsor_a), order_a))
    assert [(e.kind, e.unit, e.result) for e in events] == [("collection", u, "verified") for u in units]
    assert TherapyOrder.objects.get(pk=order_a.pk).stage == "collection"
    with pytest.raises(RuleViolation, match="collected already"):
        services.record_collection(builders.planner(sponsor_a), collection)


@pytest.mark.req("ISBT-5")
def test_a_single_bag_is_not_divided(order_a):
    (unit,) = builders.collected(order_a)
    assert unit.product_code == "S1234100"


def test_a_collection_needs_the_products_isbt_labelling(order_a, sponsor_a):
    collection = services.book_collection(builders.planner(sponsor_a), order_a, planned_on=builders.COLLECTION)
    with pytest.raises(RuleViolation, match=r"identity\.configure"):
        services.record_collection(builders.planner(sponsor_a), collection)
    assert not Unit.objects.exists()
    assert Collection.objects.get(pk=collection.pk).status == "booked"


@pytest.mark.req("ISBT-3")
def test_a_bag_label_of_another_collection_is_refused_at_collection_and_nothing_is_collected(
        order_a, other_order_a, sponsor_a):
    mine, theirs = builders.booked(order_a), builders.booked(other_order_a)
    with pytest.raises(services.CustodyMismatch) as refused:
        services.record_collection(builders.planner(sponsor_a), mine, bags=2,
                                   scanned=isbt128.Din.from_content(theirs.din + "00").text)
    assert refused.value.event.result == "refused" and refused.value.event.kind == "collection"
    assert Collection.objects.get(pk=mine.pk).status == "booked"
    assert not Unit.objects.exists()
    assert DeviationLink.objects.filter(deviation=refused.value.deviation, record_id=str(mine.pk)).exists()


# --- Handoffs: scans matched, mix-ups refused and kept ---

@pytest.mark.req("ISBT-6")
def test_the_wrong_patients_bag_at_receipt_is_refused_kept_with_a_deviation_and_nothing_moves(
        order_a, other_order_a, sponsor_a):
    unit, wrong = _in_transit(order_a), builders.collected(other_order_a)[0]
    handler, verifier = builders.handler(sponsor_a), builders.second(sponsor_a)
    with pytest.raises(services.CustodyMismatch, match="another container") as refused:
        services.hand_over(handler, unit, "receipt", scanned=builders.unit_scan(wrong), to_party="CDMO goods-in",
                           location="Goods-in", **builders.verified(verifier))
    deviation = Deviation.objects.get(pk=refused.value.deviation.pk)
    assert deviation.source == "custody" and deviation.category == "chain_of_identity"
    assert deviation.number in str(refused.value)
    links = set(DeviationLink.objects.filter(deviation=deviation).values_list("record_type", "record_id"))
    assert ("identity.therapyorder", str(order_a.pk)) in links and ("identity.unit", str(unit.pk)) in links
    kept = CustodyEvent.objects.get(order=order_a, kind="receipt")
    assert kept.result == "refused" and kept.deviation == deviation and kept.unit == unit
    assert kept.scanned == "\n".join(builders.unit_scan(wrong)) and "another container" in kept.problem
    assert not CustodyEvent.objects.filter(kind="receipt", result="verified").exists()
    assert not MilestoneReached.objects.filter(order=order_a, milestone="receipt").exists()
    after = _reload(unit)
    assert (after.status, after.holder, after.version) == ("in_transit", "World Courier", unit.version)
    assert not Signature.objects.filter(record_type="identity.custodyevent").exists()


def test_the_right_bag_is_received_verified_by_a_second_person_who_signs(order_a, sponsor_a, fake_clock):
    unit = _in_transit(order_a)
    handler, verifier = builders.handler(sponsor_a), builders.second(sponsor_a)
    event = services.hand_over(handler, unit, "receipt", scanned=builders.unit_scan(unit), from_party="World Courier",
                               to_party="CDMO goods-in", location="Goods-in", note="Seal intact",
                               **builders.verified(verifier))
    assert (event.kind, event.result, event.by, event.verified_by) == ("receipt", "verified", handler, verifier)
    assert event.at == fake_clock() and event.note == "Seal intact"
    signature = Signature.objects.get(record_type="identity.custodyevent", record_id=str(event.pk))
    assert (signature.signer, signature.meaning) == (verifier, "Verified")
    after = _reload(unit)
    assert (after.status, after.holder) == ("received", "CDMO goods-in")
    assert TherapyOrder.objects.get(pk=order_a.pk).stage == "receipt"


def test_two_person_rule_refuses_no_verifier_the_same_person_and_a_wrong_password(order_a, sponsor_a):
    unit = _in_transit(order_a)
    handler, verifier = builders.handler(sponsor_a), builders.second(sponsor_a)
    scan = builders.unit_scan(unit)
    with pytest.raises(RuleViolation, match="second person"):
        services.hand_over(handler, unit, "receipt", scanned=scan)
    with pytest.raises(RuleViolation, match="someone else"):
        services.hand_over(handler, unit, "receipt", scanned=scan, **builders.verified(handler))
    with pytest.raises(PermissionDenied, match="Signature refused"):
        services.hand_over(handler, unit, "receipt", scanned=scan, **builders.verified(verifier, "wrong password"))
    assert User.objects.get(pk=verifier.pk).failed_logins == 1
    planner = builders.planner(sponsor_a)  # may not verify custody
    with pytest.raises(PermissionDenied, match="identity.verify_custody"):
        services.hand_over(handler, unit, "receipt", scanned=scan, **builders.verified(planner))
    assert not CustodyEvent.objects.filter(kind="receipt").exists()
    assert _reload(unit).status == "in_transit"


def test_an_unreadable_scan_is_refused_and_nothing_is_written(order_a, sponsor_a):
    unit = _in_transit(order_a)
    before = CustodyEvent.objects.count(), Deviation.objects.count()
    for scanned in ("", "hello", ["=A9999"], "=<S1234100"):
        with pytest.raises(RuleViolation) as refused:
            services.hand_over(builders.handler(sponsor_a), unit, "receipt", scanned=scanned,
                               **builders.verified(builders.second(sponsor_a)))
        assert not isinstance(refused.value, services.CustodyMismatch)
    assert (CustodyEvent.objects.count(), Deviation.objects.count()) == before
    assert _reload(unit).status == "in_transit"


# --- Status guards and permissions ---

def test_each_handoff_takes_a_unit_only_from_where_it_can_be(order_a, sponsor_a):
    handler, planner = builders.handler(sponsor_a), builders.planner(sponsor_a)
    (unit,) = builders.collected(order_a)
    scan = builders.unit_scan(unit)
    with pytest.raises(RuleViolation, match="collected: receipt at the CDMO takes a unit that is in transit"):
        services.hand_over(handler, unit, "receipt", scanned=scan, **builders.verified(builders.second(sponsor_a)))
    with pytest.raises(RuleViolation, match="issue to manufacturing takes a unit that is received"):
        services.hand_over(handler, unit, "issue_to_manufacturing", scanned=scan)
    with pytest.raises(RuleViolation, match="final labeling takes a unit that is filled"):
        services.hand_over(handler, unit, "final_labeling", scanned=scan)
    with pytest.raises(RuleViolation, match="not a handoff"):
        services.hand_over(handler, unit, "cryo_in", scanned=scan)
    services.hand_over(planner, unit, "courier_pickup", scanned=scan, to_party="World Courier")
    with pytest.raises(RuleViolation, match="in transit: courier pickup takes a unit that is collected"):
        services.hand_over(planner, unit, "courier_pickup", scanned=scan)
    assert CustodyEvent.objects.filter(kind="courier_pickup").count() == 1
    assert not CustodyEvent.objects.filter(result="refused").exists()


def test_each_handoff_needs_its_permission(order_a, sponsor_a):
    (unit,) = builders.collected(order_a)
    scan = builders.unit_scan(unit)
    with pytest.raises(PermissionDenied, match="identity.collect"):
        services.hand_over(builders.handler(sponsor_a), unit, "courier_pickup", scanned=scan)
    services.hand_over(builders.planner(sponsor_a), unit, "courier_pickup", scanned=scan)
    with pytest.raises(PermissionDenied, match="identity.custody"):
        services.hand_over(builders.planner(sponsor_a), unit, "receipt", scanned=scan)


def test_the_final_product_is_registered_under_a_new_din_labelled_released_and_infused(
        order_a, sponsor_a, fake_clock):
    handler, qa, verifier = builders.handler(sponsor_a), builders.qa(sponsor_a), builders.second(sponsor_a)
    (bag,) = builders.received(order_a)
    with pytest.raises(RuleViolation, match="issue it to manufacturing"):
        services.register_final_product(handler, order_a, bags=2)
    services.hand_over(handler, bag, "issue_to_manufacturing", scanned=builders.unit_scan(bag), to_party="Suite B")
    with pytest.raises(PermissionDenied, match="identity.custody"):
        services.register_final_product(builders.planner(sponsor_a), order_a, bags=2)
    with pytest.raises(RuleViolation, match="after now"):
        services.register_final_product(handler, order_a, bags=2, expires_at=fake_clock() - dt.timedelta(hours=1))
    units = services.register_final_product(handler, order_a, bags=2)
    assert [u.product_code for u in units] == ["S56781A0", "S56781B0"]
    assert {u.din for u in units} == {"A999926000002"} and bag.din == "A999926000001"
    assert {(u.kind, u.status, u.expires_at) for u in units} == {
        ("final_product_bag", "filled", fake_clock() + dt.timedelta(days=180))}
    product_bag = units[0]
    scan = builders.unit_scan(product_bag)
    with pytest.raises(RuleViolation, match="release for shipment takes a unit that is labelled"):
        services.hand_over(qa, product_bag, "release_for_shipment", scanned=scan, **builders.verified(verifier))
    services.hand_over(handler, product_bag, "qc_sampling", scanned=scan, note="Sterility sample")
    assert _reload(product_bag).status == "filled"
    labelled = services.hand_over(handler, product_bag, "final_labeling", scanned=scan, **builders.verified(verifier))
    assert labelled.verified_by == verifier
    with pytest.raises(PermissionDenied, match="identity.release_for_shipment"):
        services.hand_over(handler, product_bag, "release_for_shipment", scanned=scan, **builders.verified(verifier))
    services.hand_over(qa, product_bag, "release_for_shipment", scanned=scan, **builders.verified(verifier))
    assert _reload(product_bag).status == "released"


# --- Sponsor segregation ---

def test_another_sponsors_user_finds_no_collection_unit_or_custody(order_a, sponsor_a, sponsor_b, make_user):
    collection = builders.booked(order_a)
    unit = services.record_collection(builders.planner(sponsor_a), collection)[0]
    outsider = make_user("beta.everything", Role.PLANNER, Role.MATERIAL_HANDLER, Role.QA_SPECIALIST,
                         sponsors=[sponsor_b])
    with pytest.raises(NotFound):
        services.book_collection(outsider, order_a, planned_on=builders.COLLECTION)
    with pytest.raises(NotFound):
        services.record_collection(outsider, builders.booked(order_a))
    with pytest.raises(NotFound):
        services.hand_over(outsider, unit, "courier_pickup", scanned=builders.unit_scan(unit))
    with pytest.raises(NotFound):
        services.register_final_product(outsider, order_a, bags=1)
    with pytest.raises(NotFound):
        selectors.unit(outsider, unit.number)
    with pytest.raises(NotFound):
        selectors.collection(outsider, collection.number)
    assert not selectors.custody_events(outsider, order_a).exists()
    assert _reload(unit).status == "collected"
    assert CustodyEvent.objects.filter(by=outsider).count() == 0

