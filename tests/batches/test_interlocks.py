"""Interlocks: each refuses with its reason and writes nothing; QA may override one, signed and
with a reason, which becomes an exception, and the operator's retry then passes (P11-1f, A11-12)."""

import pytest

from opencdmo.batches import services
from opencdmo.batches.models import BatchEntry, BatchException, EquipmentScan, InterlockOverride, MaterialUse
from opencdmo.core import signatures
from opencdmo.core.domain.roles import Role
from opencdmo.core.errors import PermissionDenied, RuleViolation
from opencdmo.documents import services as documents
from opencdmo.facilities import services as facilities_services
from opencdmo.facilities.models import EquipmentUse
from opencdmo.materials.models import GenealogyLink, InventoryTransaction
from opencdmo.materials.selectors import node_of
from tests.facilities.factories import equipment_in_service, registered
from tests.factories import signature
from tests.materials import builders as materials

from . import builders
from .builders import submission


def refused(call, interlock: str, message: str) -> services.Interlocked:
    with pytest.raises(services.Interlocked, match=message) as caught:
        call()
    assert caught.value.interlock == interlock
    return caught.value


def override(world, refusal: services.Interlocked, reason: str = "assessed by QA: no impact on the batch"):
    return services.override_interlock(
        world.qa, world.batch, step_key=refusal.step_key, interlock=refusal.interlock, subject=refusal.subject,
        refusal=refusal.message, reason=reason, signature=signature(world.qa, "Approved"))


def _at_b1(world):
    builders.run_step(world, "A1")
    services.start_step(world.operator, world.batch, "B1")


# --- Room and line clearance ---------------------------------------------------------------------

@pytest.mark.req("P11-1f")
@pytest.mark.django_db
def test_a_batch_starts_only_in_a_room_in_operation_and_a_qa_override_lets_the_retry_pass(world):
    facilities_services.transition_room(world.supervisor, world.room, "at_rest", reason="end of campaign")
    refusal = refused(lambda: services.transition_batch(world.operator, world.batch, "start"), "room",
                      f"{world.room} is at rest: {world.batch} can start only in a room in operation")
    assert (refusal.subject, refusal.step_key) == (world.room.code, None)
    world.batch.refresh_from_db()
    assert world.batch.status == "planned"
    with pytest.raises(PermissionDenied, match="batches.override_interlock"):
        services.override_interlock(world.operator, world.batch, step_key=None, interlock="room",
                                    subject=world.room.code, refusal=refusal.message, reason="urgent",
                                    signature=signature(world.operator, "Approved"))
    with pytest.raises(RuleViolation, match="reason for the override is required"):
        override(world, refusal, reason=" ")
    granted = override(world, refusal)
    assert [(s.meaning, s.signer) for s in signatures.signatures_of(granted)] == [("Approved", world.qa)]
    exception = BatchException.objects.get(kind="override")
    assert exception.override == granted and "assessed by QA" in exception.description
    assert services.transition_batch(world.operator, world.batch, "start").status == "in_progress"


@pytest.mark.req("P11-1f")
@pytest.mark.django_db
def test_a_batch_and_each_step_need_a_verified_line_clearance_for_this_batch(world):
    batch = builders.plan(world, cleared=False)
    refused(lambda: services.transition_batch(world.operator, batch, "start"), "line_clearance",
            f"No verified line clearance of {world.room} for {batch}")
    builders.line_clearance(world.operator, world.supervisor, batch)
    services.transition_batch(world.operator, batch, "start")
    facilities_services.transition_room(world.supervisor, world.room, "maintenance", reason="HVAC repair")
    refused(lambda: services.start_step(world.operator, batch, "A1"), "room", "step A1 can start only in a room")
    assert batch.steps.get(key="A1").status == "pending"


# --- Training ----------------------------------------------------------------------------------------

@pytest.mark.req("P11-1i")
@pytest.mark.django_db
def test_a_person_not_trained_on_the_steps_sop_cannot_start_it_nor_record_nor_verify(started, make_user):
    w = started
    newcomer = make_user("op.new", Role.OPERATOR, sponsors=[w.sponsor])
    refusal = refused(lambda: services.start_step(newcomer, w.batch, "A1"), "training",
                      rf"Op New may not work on step A1: not trained on {w.sop.number} v1.0 \(assigned, due")
    assert (refusal.subject, refusal.step_key) == ("op.new", "A1")
    services.start_step(w.operator, w.batch, "A1")
    refused(lambda: services.record_entry(newcomer, w.batch, "A1", "bag_intact", value="yes",
                                          submission_id=submission()), "training", "may not work on step A1")
    entry = services.record_entry(w.operator, w.batch, "A1", "viable_cells", value="3e8", submission_id=submission())
    refused(lambda: services.verify_entry(newcomer, entry, signature=signature(newcomer, "Verified")), "training",
            "Op New may not verify step A1")
    assert BatchEntry.objects.count() == 1
    override(w, refusal)
    services.record_entry(newcomer, w.batch, "A1", "bag_intact", value="yes", submission_id=submission())


@pytest.mark.django_db
def test_an_sop_no_longer_effective_refuses_even_the_trained(started, fake_clock):
    w = started
    documents.transition_document(w.qa, w.sop, "make_obsolete", reason="replaced by the new process",
                                  signature=signature(w.qa, "Approved"))
    fake_clock.advance(minutes=1)
    refused(lambda: services.start_step(w.operator, w.batch, "A1"), "training",
            f"Op Olsen may not work on step A1: {w.sop.number} has no effective version")


# --- Equipment -------------------------------------------------------------------------------------

@pytest.mark.django_db
def test_equipment_must_be_of_a_kind_the_step_needs_and_usable(started):
    w = started
    _at_b1(w)
    incubator = equipment_in_service(w.supervisor, w.qa, number="EQ-INC-01", name="Incubator 1", kind="incubator")
    refused(lambda: services.scan_equipment(w.operator, w.batch, "B1", scanned="eq-inc-01", submission_id=submission()),
            "equipment", "EQ-INC-01 .* is a co2 incubator; step B1 needs Biosafety cabinet")
    commissioning = registered(w.supervisor, number="EQ-BSC-99", name="Biosafety cabinet 99")
    refusal = refused(lambda: services.scan_equipment(w.operator, w.batch, "B1", scanned=" EQ-BSC-99 ",
                                                      submission_id=submission()),
                      "equipment", "EQ-BSC-99 .* may not be used: ")
    assert refusal.subject == "EQ-BSC-99"
    assert not EquipmentScan.objects.exists() and not EquipmentUse.objects.exists()
    override(w, refusal)
    scan = services.scan_equipment(w.operator, w.batch, "B1", scanned="EQ-BSC-99", submission_id=submission())
    assert (scan.equipment, scan.kind) == (commissioning, "biosafety_cabinet")
    assert incubator.pk


@pytest.mark.django_db
def test_a_scan_logs_the_equipment_use_naming_the_batch(started):
    w = started
    _at_b1(w)
    sid = submission()
    scan = services.scan_equipment(w.operator, w.batch, "B1", scanned=w.equipment.number.lower(), submission_id=sid)
    assert services.scan_equipment(w.operator, w.batch, "B1", scanned=w.equipment.number, submission_id=sid) == scan
    use = EquipmentUse.objects.get(equipment=w.equipment)
    assert (use.used_for_type, use.used_for_id, use.used_for_label, use.used_by) == (
        "batches.batch", str(w.batch.pk), w.batch.number, w.operator)


# --- Materials ---------------------------------------------------------------------------------------

def use(world, lot, **kwargs):
    return services.use_material(world.operator, world.batch, "B1", line=0, scanned_lot=lot.number,
                                 submission_id=submission(), **kwargs)


@pytest.mark.django_db
def test_a_lot_is_refused_when_of_the_wrong_material_or_not_released(started):
    w = started
    _at_b1(w)
    handler = materials.person("mh.novak", Role.MATERIAL_HANDLER)
    medium = materials.release(w.qa, materials.receive(handler, materials.material(w.qa)))
    refused(lambda: use(w, medium), "material", f"{medium} is TCM-SF .*; line 1 of step B1 needs {w.material.code}")
    quarantined = materials.receive(handler, w.material)
    refusal = refused(lambda: use(w, quarantined), "material", "is in quarantine: QA has not released it")
    assert not MaterialUse.objects.exists() and not InventoryTransaction.objects.filter(kind="issue").exists()
    override(w, refusal)
    used = use(w, quarantined, quantity="2", unit="mL")
    assert (used.quantity, used.unit, used.transaction.kind) == (2, "mL", "issue")


@pytest.mark.django_db
def test_an_expired_lot_is_refused(started, fake_clock):
    w = started
    _at_b1(w)
    handler = materials.person("mh.novak", Role.MATERIAL_HANDLER)
    lot = materials.release(w.qa, materials.receive(handler, w.material, expires_in_days=0))
    fake_clock.advance(days=1)
    refused(lambda: use(w, lot), "material", "cannot be used: it expired on")


@pytest.mark.django_db
def test_material_use_posts_the_bom_quantity_to_inventory_and_genealogy(started):
    w = started
    _at_b1(w)
    used = use(w, w.lot)
    assert (used.quantity, used.unit, used.line, used.lot) == (10, "mL", 0, w.lot)  # 10 × scale 1
    assert (used.transaction.quantity, used.transaction.for_label) == (-10, w.batch.number)
    assert GenealogyLink.objects.filter(parent=node_of(w.lot), child=node_of(w.batch)).exists()
    assert InterlockOverride.objects.count() == 0
