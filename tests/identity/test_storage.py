"""Cryostorage: freezers → racks → boxes → positions; units placed, moved and retrieved by scan,
one unit per position and one position per unit; freezer alarms and their acknowledgement."""

import itertools

import pytest
from django.db import IntegrityError, transaction
from django.db.models import QuerySet

from opencdmo.core import clock
from opencdmo.core.domain.roles import Role
from opencdmo.core.errors import Conflict, NotFound, PermissionDenied, RuleViolation
from opencdmo.core.models import AuditEvent
from opencdmo.identity import selectors, services
from opencdmo.identity.domain import isbt128, storage
from opencdmo.identity.models import CustodyEvent, FreezerAlarm, Milestone, Placement, TherapyOrder
from opencdmo.quality.models import Deviation, DeviationLink

from . import builders

BOX = "LN2-01-R1-B01"


@pytest.fixture
def supervisor(make_user, sponsor_a):
    return make_user("sup.storage", Role.SUPERVISOR, sponsors=[sponsor_a])


@pytest.fixture
def operator(make_user, sponsor_a):
    return make_user("op.storage", Role.OPERATOR, sponsors=[sponsor_a])


@pytest.fixture
def freezer(supervisor, fake_clock):
    return builders.freezer(supervisor, boxes=2)


@pytest.fixture
def order(sponsor_a):
    planner = builders.planner(sponsor_a)
    return builders.order(planner, builders.patient(planner, sponsor_a))


@pytest.fixture
def unit(order):
    return builders.unit(order)


@pytest.fixture
def other_unit(order):
    return builders.unit(order)


def place(actor, unit, where=f"{BOX}/A1"):
    return services.place_unit(actor, unit_scan=builders.unit_scan(unit), position_scan=where)


def open_placements():
    return Placement.objects.filter(removed_at__isnull=True)


# --- The position barcode and the box geometry (pure) ----------------------------------------

def test_a_position_barcode_is_read_with_spaces_and_lower_case_tolerated():
    assert storage.read_position_scan(" ln2-01-r1-b03 / a5\n") == storage.PositionScan("LN2-01-R1-B03", "A5")
    assert str(storage.read_position_scan("LN2-01-R1-B03/A5")) == "LN2-01-R1-B03/A5"


@pytest.mark.parametrize("text", ["", "LN2-01-R1-B03", "/A5", "LN2-01-R1-B03/", "LN2/01/5A", "LN2_01/A5"])
def test_text_that_is_not_a_position_barcode_is_refused_with_what_to_scan(text):
    with pytest.raises(storage.StorageError, match="scan|position"):
        storage.read_position_scan(text)


def test_positions_are_row_letters_and_column_numbers():
    assert storage.grid(2, 3) == [["A1", "A2", "A3"], ["B1", "B2", "B3"]]
    assert storage.position_in_box("a05", 5, 5) == "A5"


@pytest.mark.parametrize("position", ["F1", "A6", "A0", "Z99"])
def test_a_position_outside_the_box_is_refused(position):
    with pytest.raises(storage.StorageError, match="positions are A1 to E5"):
        storage.position_in_box(position, 5, 5, box=BOX)


@pytest.mark.parametrize(("rows", "columns"), [(0, 5), (27, 5), (5, 0), (5, 100), ("x", 5)])
def test_a_box_size_outside_the_lettering_is_refused(rows, columns):
    with pytest.raises(storage.StorageError):
        storage.box_size(rows, columns)


# --- Freezers, racks and boxes ----------------------------------------------------------------

@pytest.mark.django_db
def test_a_freezer_its_racks_and_boxes_are_added_and_audited(freezer):
    assert freezer.code == "LN2-01" and freezer.alarm_above_c == -150
    assert [r.code for r in freezer.racks.all()] == ["R1"]
    assert [(b.code, b.rows, b.columns) for b in freezer.racks.get().boxes.all()] == [
        (BOX, 5, 5), ("LN2-01-R1-B02", 5, 5)]
    audited = set(AuditEvent.objects.filter(action="create").values_list("record_type", flat=True))
    assert {"identity.freezer", "identity.rack", "identity.box"} <= audited


@pytest.mark.django_db
def test_only_storage_managers_add_freezers_racks_and_boxes(operator, supervisor, freezer):
    room = builders.storage_room(supervisor)
    with pytest.raises(PermissionDenied, match="identity.manage_storage"):
        services.create_freezer(operator, code="LN2-02", name="Second", room=room)
    with pytest.raises(PermissionDenied):
        services.add_rack(operator, freezer, code="R2")
    with pytest.raises(PermissionDenied):
        services.add_box(operator, freezer.racks.get(), code="LN2-01-R1-B09")


@pytest.mark.django_db
def test_duplicate_codes_are_a_conflict(supervisor, freezer):
    room = builders.storage_room(supervisor)
    with pytest.raises(Conflict, match="LN2-01 exists already"):
        services.create_freezer(supervisor, code="ln2-01", name="Again", room=room)
    with pytest.raises(Conflict, match="already has a rack R1"):
        services.add_rack(supervisor, freezer, code="r1")
    other = builders.freezer(supervisor, "LN2-02", boxes=0)
    with pytest.raises(Conflict, match="unique across the site"):
        services.add_box(supervisor, other.racks.get(), code=BOX)


@pytest.mark.django_db
@pytest.mark.parametrize("code", ["", "LN2/01", "LN2 01", "-LN2", "X" * 33])
def test_a_freezer_code_that_cannot_be_printed_and_scanned_is_refused(supervisor, code):
    with pytest.raises(RuleViolation):
        services.create_freezer(supervisor, code=code, name="Freezer", room=builders.storage_room(supervisor))


@pytest.mark.django_db
@pytest.mark.parametrize("limit", ["warm", "10", "-250"])
def test_an_alarm_limit_outside_cryogenic_range_is_refused(supervisor, limit):
    with pytest.raises(RuleViolation, match="alarm limit"):
        services.create_freezer(supervisor, code="LN2-09", name="Freezer", room=builders.storage_room(supervisor),
                                alarm_above_c=limit)


@pytest.mark.django_db
def test_a_freezer_is_retired_with_a_reason_once_empty_and_then_takes_no_units(supervisor, operator, freezer, unit):
    place(operator, unit)
    with pytest.raises(RuleViolation, match="still holds 1 unit"):
        services.retire_freezer(supervisor, freezer, reason="Replaced")
    services.retrieve_unit(operator, unit_scan=builders.unit_scan(unit))
    with pytest.raises(RuleViolation, match="reason"):
        services.retire_freezer(supervisor, freezer, reason=" ")
    retired = services.retire_freezer(supervisor, freezer, reason="Replaced by LN2-02")
    assert retired.is_active is False and retired.version == 2
    assert AuditEvent.objects.filter(action="retire", record_type="identity.freezer",
                                     reason="Replaced by LN2-02").exists()
    with pytest.raises(RuleViolation, match="retired"):
        place(operator, unit)


# --- Placing, moving, retrieving -------------------------------------------------------------

@pytest.mark.django_db
@pytest.mark.req("ISBT-3")
def test_placing_a_unit_writes_the_placement_its_custody_event_and_where_it_is(operator, freezer, unit, fake_clock):
    placement = place(operator, unit, f" {BOX.lower()} / a5 ")
    assert (placement.box.code, placement.position, placement.placed_by, placement.placed_at) == (
        BOX, "A5", operator, clock.now())
    event = CustodyEvent.objects.get(unit=unit, kind=Milestone.CRYO_IN)
    assert (event.kind, event.result, event.location, event.by) == (Milestone.CRYO_IN, "verified", f"{BOX}/A5",
                                                                    operator)
    assert unit.din in event.scanned and f"{BOX.lower()} / a5" in event.scanned
    unit.refresh_from_db()
    assert (unit.holder, unit.status) == (f"{BOX}/A5", "collected")
    assert TherapyOrder.objects.get(pk=unit.order_id).milestones.filter(milestone=Milestone.CRYO_IN).exists()
    assert AuditEvent.objects.filter(action="create", record_type="identity.placement",
                                     record_id=str(placement.pk)).exists()
    assert selectors.placement_of(operator, unit) == placement


@pytest.mark.django_db
def test_a_unit_is_found_by_its_typed_unit_number_too(operator, freezer, unit):
    services.place_unit(operator, unit_scan=unit.number.lower(), position_scan=f"{BOX}/B2")
    assert open_placements().get().unit == unit


@pytest.mark.django_db
def test_an_occupied_position_is_refused_and_nothing_is_written(operator, freezer, unit, other_unit):
    place(operator, unit)
    events = CustodyEvent.objects.count()
    with pytest.raises(Conflict, match=f"Position {BOX}/A1 holds another unit: scan a free position"):
        place(operator, other_unit)
    assert CustodyEvent.objects.count() == events
    assert list(open_placements().values_list("unit", flat=True)) == [unit.pk]
    holder = other_unit.holder
    other_unit.refresh_from_db()
    assert other_unit.holder == holder


@pytest.mark.django_db
def test_the_database_refuses_a_second_unit_in_an_occupied_position(operator, freezer, unit, other_unit):
    placement = place(operator, unit)
    with pytest.raises(IntegrityError), transaction.atomic():
        Placement.objects.create(unit=other_unit, box=placement.box, position="A1", placed_at=clock.now(),
                                 placed_by=operator)


@pytest.mark.django_db
def test_the_database_refuses_a_unit_in_two_positions(operator, freezer, unit):
    placement = place(operator, unit)
    with pytest.raises(IntegrityError), transaction.atomic():
        Placement.objects.create(unit=unit, box=placement.box, position="A2", placed_at=clock.now(),
                                 placed_by=operator)


def _blind_to_placements(monkeypatch, *, checks: int):
    """The next `checks` existence checks of placements see none, as when someone else fills the
    position between the check and the write."""
    real, blinded = QuerySet.exists, itertools.count()

    def exists(queryset):
        if queryset.model is Placement and next(blinded) < checks:
            return False
        return real(queryset)

    monkeypatch.setattr(QuerySet, "exists", exists)


@pytest.mark.django_db
@pytest.mark.parametrize("checks", [1, 2], ids=["model-constraint-check", "database-constraint"])
def test_a_position_filled_between_the_check_and_the_write_is_a_conflict(monkeypatch, operator, freezer, unit,
                                                                         other_unit, checks):
    place(operator, unit)
    events = CustodyEvent.objects.count()
    _blind_to_placements(monkeypatch, checks=checks)
    with pytest.raises(Conflict, match=f"Position {BOX}/A1 was just filled by someone else: scan a free position"):
        place(operator, other_unit)
    assert CustodyEvent.objects.count() == events
    assert list(open_placements().values_list("unit", flat=True)) == [unit.pk]


@pytest.mark.django_db
def test_a_unit_already_stored_is_not_placed_again_but_moved(operator, freezer, unit):
    place(operator, unit)
    with pytest.raises(RuleViolation, match=f"already in {BOX}/A1: choose Move"):
        place(operator, unit, f"{BOX}/A2")
    assert open_placements().count() == 1


@pytest.mark.django_db
def test_a_freed_position_takes_another_unit(operator, freezer, unit, other_unit):
    place(operator, unit)
    services.retrieve_unit(operator, unit_scan=builders.unit_scan(unit))
    assert place(operator, other_unit).position == "A1"
    assert Placement.objects.filter(box__code=BOX, position="A1").count() == 2


@pytest.mark.django_db
@pytest.mark.parametrize(("where", "error", "message"), [
    (f"{BOX}/F1", RuleViolation, "has no position F1: its positions are A1 to E5"),
    (f"{BOX}/A6", RuleViolation, "has no position A6"),
    ("LN2-01-R1-B01", RuleViolation, "not a position barcode"),
    ("LN2-01-R1-B77/A1", NotFound, "No box LN2-01-R1-B77"),
])
def test_a_position_that_does_not_exist_is_refused(operator, freezer, unit, where, error, message):
    with pytest.raises(error, match=message):
        place(operator, unit, where)
    assert not Placement.objects.exists() and not CustodyEvent.objects.filter(kind=Milestone.CRYO_IN).exists()


@pytest.mark.django_db
def test_an_unknown_or_unreadable_unit_scan_is_refused(operator, freezer, unit):
    unknown = [isbt128.Din.build("A9999", 26, 999_999).text, isbt128.ProductCode.from_content(unit.product_code).text]
    with pytest.raises(NotFound, match="No container"):
        services.place_unit(operator, unit_scan=unknown, position_scan=f"{BOX}/A1")
    with pytest.raises(RuleViolation):
        services.place_unit(operator, unit_scan="not a barcode", position_scan=f"{BOX}/A1")
    assert not Placement.objects.exists()


@pytest.mark.django_db
def test_another_sponsors_unit_does_not_exist_for_the_operator(make_user, sponsor_a, sponsor_b, operator, freezer):
    theirs = builders.unit(TherapyOrder.objects.get(number=builders.order_for_sponsor(None, sponsor_b, "storage")))
    with pytest.raises(NotFound):
        place(operator, theirs)
    with pytest.raises(NotFound):
        services.place_unit(operator, unit_scan=theirs.number, position_scan=f"{BOX}/A1")


@pytest.mark.django_db
def test_only_custody_holders_place_units(make_user, sponsor_a, freezer, unit):
    qa = make_user("qa.storage", Role.QC_REVIEWER, sponsors=[sponsor_a])
    with pytest.raises(PermissionDenied, match="identity.custody"):
        place(qa, unit)


@pytest.mark.django_db
def test_a_move_closes_the_old_placement_and_opens_the_new_one_with_one_custody_event(operator, freezer, unit):
    old = place(operator, unit)
    new = services.move_unit(operator, unit_scan=builders.unit_scan(unit), position_scan="LN2-01-R1-B02/C3")
    old.refresh_from_db()
    assert (old.removed_at, old.removed_by) == (new.placed_at, operator)
    assert list(open_placements()) == [new] and (new.box.code, new.position) == ("LN2-01-R1-B02", "C3")
    moved = CustodyEvent.objects.filter(unit=unit).last()
    assert (moved.kind, moved.from_party, moved.to_party) == (Milestone.CRYO_IN, f"{BOX}/A1", "LN2-01-R1-B02/C3")
    assert "Moved from" in moved.note
    assert CustodyEvent.objects.filter(unit=unit, kind=Milestone.CRYO_IN).count() == 2
    order = TherapyOrder.objects.get(pk=unit.order_id)
    assert order.stage == Milestone.CRYO_IN  # it never left cryostorage
    unit.refresh_from_db()
    assert unit.holder == "LN2-01-R1-B02/C3"


@pytest.mark.django_db
def test_a_move_into_an_occupied_position_changes_nothing(operator, freezer, unit, other_unit):
    place(operator, unit)
    place(operator, other_unit, f"{BOX}/A2")
    with pytest.raises(Conflict, match="A2 holds another unit"):
        services.move_unit(operator, unit_scan=builders.unit_scan(unit), position_scan=f"{BOX}/A2")
    assert sorted(open_placements().values_list("position", flat=True)) == ["A1", "A2"]
    assert open_placements().get(unit=unit).position == "A1"


@pytest.mark.django_db
def test_a_move_needs_a_stored_unit_and_another_position(operator, freezer, unit):
    with pytest.raises(RuleViolation, match="not in cryostorage: choose Place"):
        services.move_unit(operator, unit_scan=builders.unit_scan(unit), position_scan=f"{BOX}/A2")
    place(operator, unit)
    with pytest.raises(RuleViolation, match="already in"):
        services.move_unit(operator, unit_scan=builders.unit_scan(unit), position_scan=f"{BOX}/a1")


@pytest.mark.django_db
def test_retrieving_closes_the_placement_and_hands_the_unit_to_the_person(operator, freezer, unit):
    place(operator, unit)
    placement = services.retrieve_unit(operator, unit_scan=builders.unit_scan(unit), reason="Thaw for manufacture")
    assert (placement.removed_by, placement.removed_at) == (operator, clock.now())
    assert not open_placements().exists()
    out = CustodyEvent.objects.filter(unit=unit).last()
    assert (out.kind, out.from_party, out.note) == (Milestone.CRYO_OUT, f"{BOX}/A1", "Thaw for manufacture")
    unit.refresh_from_db()
    assert unit.holder == operator.full_name
    assert selectors.placement_of(operator, unit) is None
    with pytest.raises(RuleViolation, match="not in cryostorage"):
        services.retrieve_unit(operator, unit_scan=builders.unit_scan(unit))


# --- Alarms --------------------------------------------------------------------------------

@pytest.mark.django_db
def test_a_temperature_alarm_raises_one_cdmo_deviation_with_positions_but_no_sponsor_data(
        operator, sponsor_a, freezer, unit, other_unit):
    place(operator, unit)
    place(operator, other_unit, f"{BOX}/B4")
    alarm = services.raise_alarm(operator, freezer, kind="temperature", value="−128 °C", note="Lid seal iced")
    deviation = Deviation.objects.get()
    assert alarm.deviation == deviation and alarm.raised_by == operator and alarm.value == "-128.0 °C"
    assert (deviation.sponsor, deviation.source, deviation.category) == (None, "equipment", "material")
    assert f"2 unit(s) were stored in it: {BOX}/A1, {BOX}/B4." in deviation.description
    for secret in (sponsor_a.code, unit.number, unit.din, unit.order.coi, unit.order.patient.subject_id):
        assert secret not in deviation.description
    assert DeviationLink.objects.filter(deviation=deviation, record_type="identity.freezer").exists()


@pytest.mark.django_db
def test_a_temperature_alarm_needs_the_reading_and_other_alarms_raise_no_deviation(operator, freezer):
    with pytest.raises(RuleViolation, match="reading"):
        services.raise_alarm(operator, freezer, kind="temperature")
    with pytest.raises(RuleViolation, match=r"Give the temperature read in °C as a number"):
        services.raise_alarm(operator, freezer, kind="temperature", value="abc")
    assert not FreezerAlarm.objects.exists()  # nothing raised, the freezer is not blocked
    with pytest.raises(RuleViolation, match="Unknown alarm"):
        services.raise_alarm(operator, freezer, kind="fire")
    alarm = services.raise_alarm(operator, freezer, kind="ln2_level", value="12 %")
    assert alarm.deviation is None and not Deviation.objects.exists()
    with pytest.raises(Conflict, match="already has an open"):
        services.raise_alarm(operator, freezer, kind="ln2_level", value="10 %")


@pytest.mark.django_db
def test_no_unit_goes_into_a_freezer_with_an_open_alarm_until_it_is_acknowledged(
        operator, supervisor, freezer, unit, other_unit):
    place(operator, unit)
    alarm = services.raise_alarm(operator, freezer, kind="temperature", value="-120 °C")
    with pytest.raises(RuleViolation, match="open alarm .*place the unit in another freezer"):
        place(operator, other_unit, f"{BOX}/A2")
    # Rescue stays possible: a unit is taken out of a warming freezer.
    services.retrieve_unit(operator, unit_scan=builders.unit_scan(unit), reason="Rescued to LN2-02")
    acknowledged = services.acknowledge_alarm(supervisor, alarm, note="Refilled; back at -190 °C")
    assert (acknowledged.acknowledged_by, acknowledged.acknowledged_at) == (supervisor, clock.now())
    assert "Refilled" in acknowledged.note
    assert AuditEvent.objects.filter(action="acknowledge", reason="Refilled; back at -190 °C").exists()
    assert place(operator, other_unit, f"{BOX}/A2").position == "A2"


@pytest.mark.django_db
def test_only_storage_managers_acknowledge_alarms_with_a_note(operator, supervisor, freezer):
    alarm = services.raise_alarm(operator, freezer, kind="lid", value="4 min")
    with pytest.raises(PermissionDenied, match="identity.manage_storage"):
        services.acknowledge_alarm(operator, alarm, note="Closed")
    with pytest.raises(RuleViolation, match="note"):
        services.acknowledge_alarm(supervisor, alarm, note="  ")
    services.acknowledge_alarm(supervisor, alarm, note="Lid closed")
    with pytest.raises(Conflict, match="acknowledged already"):
        services.acknowledge_alarm(supervisor, alarm, note="Again")
    assert FreezerAlarm.objects.get().acknowledged_by == supervisor


# --- Reading the store ----------------------------------------------------------------------

@pytest.mark.django_db
def test_occupancy_shows_identifiers_only_of_the_users_sponsors(make_user, sponsor_a, sponsor_b, operator, freezer,
                                                                unit):
    theirs = builders.unit(TherapyOrder.objects.get(number=builders.order_for_sponsor(None, sponsor_b, "storage")))
    their_operator = make_user("op.beta", Role.OPERATOR, sponsors=[sponsor_b])
    place(operator, unit)
    place(their_operator, theirs, f"{BOX}/E5")
    box = selectors.box(operator, BOX)
    cells = {c.position: c for row in selectors.occupancy(operator, box).rows for c in row}
    assert len(cells) == 25
    assert (cells["A1"].occupied, cells["A1"].unit) == (True, unit.number)
    assert cells["A1"].coi == selectors.printed_coi(unit.order.coi).text
    assert (cells["E5"].occupied, cells["E5"].unit, cells["E5"].coi) == (True, "", "")
    assert not cells["C3"].occupied
    theirs_view = {c.position: c for row in selectors.occupancy(their_operator, box).rows for c in row}
    assert (theirs_view["E5"].unit, theirs_view["A1"].unit) == (theirs.number, "")


@pytest.mark.django_db
def test_freezer_list_counts_used_and_free_positions_and_open_alarms(operator, supervisor, freezer, unit):
    builders.freezer(supervisor, "LN2-02", boxes=0)
    place(operator, unit)
    services.raise_alarm(operator, freezer, kind="power")
    rows = {row.freezer.code: row for row in selectors.freezers(operator)}
    assert (rows["LN2-01"].capacity, rows["LN2-01"].used, rows["LN2-01"].free, rows["LN2-01"].open_alarms) == (
        50, 1, 49, 1)
    assert (rows["LN2-02"].capacity, rows["LN2-02"].used, rows["LN2-02"].open_alarms) == (0, 0, 0)


@pytest.mark.django_db
def test_sponsor_viewers_do_not_see_the_cdmo_freezers(make_user, sponsor_a, freezer):
    viewer = make_user("sponsor.viewer", Role.SPONSOR_VIEWER, sponsors=[sponsor_a])
    with pytest.raises(PermissionDenied, match="identity.view_storage"):
        selectors.freezers(viewer)
    with pytest.raises(PermissionDenied):
        selectors.freezer(viewer, "LN2-01")
