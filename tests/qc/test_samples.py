"""Samples: registered from the batch record, a material receipt or by hand; received, moved,
split into aliquots, retained, disposed (issue 7, item 2)."""

import datetime as dt
import functools
from decimal import Decimal

import pytest

from opencdmo.core import clock
from opencdmo.core.errors import NotFound, PermissionDenied, RuleViolation
from opencdmo.core.models import AuditEvent
from opencdmo.qc import selectors, services
from opencdmo.qc.models import Sample
from tests.batches import builders as batches
from tests.materials import builders as materials
from tests.qc import builders

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _clock(fake_clock):
    return fake_clock


@pytest.fixture
def lab(sponsor_a):
    return builders.people(sponsor_a)


@pytest.fixture
def spec(lab, sponsor_a):
    return builders.approved_spec(lab["reviewer"], sponsor_a)


def test_register_orders_every_criterion_and_is_due_after_the_longest_turnaround(lab, spec, fake_clock):
    sample = builders.sample(lab["analyst"], spec, received=False)
    assert sample.number.startswith("QCS-") and sample.status == "registered"
    assert sorted(t.attribute for t in sample.tests.all()) == ["Endotoxin", "Sterility", "Viability"]
    assert sample.due_at == fake_clock() + dt.timedelta(days=14)  # sterility: 14 days
    assert sample.sponsor == spec.sponsor and sample.product == spec.product
    assert AuditEvent.objects.filter(record_type="qc.sample", action="order_tests").exists()


def test_register_with_chosen_tests_only(lab, spec):
    viability = spec.tests.get(attribute="Viability")
    sample = builders.sample(lab["analyst"], spec, received=False, tests=[viability])
    assert list(sample.tests.all()) == [viability]
    assert sample.due_at - sample.created_at == dt.timedelta(days=1)


def test_register_refuses_a_test_of_another_specification(lab, spec, sponsor_a):
    other = builders.approved_spec(lab["reviewer"], sponsor_a)
    with pytest.raises(RuleViolation, match="not a criterion"):
        builders.sample(lab["analyst"], spec, tests=[other.tests.first()])
    assert not Sample.objects.exists()


def test_register_needs_the_permission(make_user, sponsor_a, spec):
    from opencdmo.core.domain.roles import Role

    viewer = make_user("sponsor.view", Role.SPONSOR_VIEWER, sponsors=[sponsor_a])
    with pytest.raises(PermissionDenied):
        builders.sample(viewer, spec)


def test_register_refuses_unknown_origin_and_long_text(lab, spec):
    with pytest.raises(RuleViolation, match="origin"):
        builders.sample(lab["analyst"], spec, origin="teleport")
    with pytest.raises(RuleViolation, match="too long"):
        builders.sample(lab["analyst"], spec, description="x" * 201)
    assert not Sample.objects.exists()


def test_receive_move_and_custody(lab, spec):
    sample = builders.sample(lab["analyst"], spec, received=False)
    sample = services.receive_sample(lab["analyst"], sample, location="QC fridge 1")
    assert sample.status == "received" and sample.received_by == lab["analyst"] and sample.location == "QC fridge 1"
    with pytest.raises(RuleViolation, match="already received"):
        services.receive_sample(lab["analyst"], sample, location="QC fridge 2")
    services.move_sample(lab["analyst2"], sample, to_location="BSC bench 2", purpose="sterility test")
    sample.refresh_from_db()
    assert sample.location == "BSC bench 2"
    moves = list(sample.movements.values_list("from_location", "to_location", "purpose"))
    assert moves == [("", "QC fridge 1", "received in the laboratory"),
                     ("QC fridge 1", "BSC bench 2", "sterility test")]


def test_move_before_receipt_is_refused(lab, spec):
    sample = builders.sample(lab["analyst"], spec, received=False)
    with pytest.raises(RuleViolation, match="only a sample in the laboratory"):
        services.move_sample(lab["analyst"], sample, to_location="Bench")


def test_aliquots_share_the_subject_and_carry_their_tests(lab, spec):
    sample = builders.sample(lab["analyst"], spec)
    viability, sterility = spec.tests.get(attribute="Viability"), spec.tests.get(attribute="Sterility")
    children = services.make_aliquots(lab["analyst"], sample, count=2, quantity="0.5", unit="mL",
                                      tests_per_aliquot=[[viability], [sterility]])
    assert [c.origin for c in children] == ["aliquot", "aliquot"]
    assert {c.subject_ref for c in children} == {sample.subject_ref}
    assert [list(c.tests.all()) for c in children] == [[viability], [sterility]]
    assert all(c.parent == sample and c.status == "received" for c in children)
    with pytest.raises(RuleViolation, match="between 1 and 50"):
        services.make_aliquots(lab["analyst"], sample, count=0)


def test_aliquots_never_add_up_to_more_than_the_sample(lab, spec):
    sample = builders.sample(lab["analyst"], spec, quantity="1", unit="mL")
    services.make_aliquots(lab["analyst"], sample, count=2, quantity="0.4", unit="mL")
    with pytest.raises(RuleViolation, match="more than is left"):
        services.make_aliquots(lab["analyst"], sample, count=1, quantity="0.3", unit="mL")
    assert sample.aliquots.count() == 2


def test_retained_sample_is_not_tested(lab, spec):
    sample = builders.sample(lab["analyst"], spec)
    sample = services.retain_sample(lab["analyst"], sample, location="Retain freezer -150")
    assert sample.status == "retained" and sample.retained
    with pytest.raises(RuleViolation, match="not tested"):
        services.enter_result(lab["analyst"], sample, spec.tests.get(attribute="Endotoxin"), value="0.1",
                              submission_id=builders.submission())


def test_retained_at_registration_orders_nothing(lab, spec):
    sample = builders.sample(lab["analyst"], spec, received=False, retained=True)
    assert not sample.tests.exists() and sample.due_at is None
    assert services.receive_sample(lab["analyst"], sample, location="Retain store").status == "retained"


def test_order_tests_and_assign_specification(lab, spec, sponsor_a):
    builders.batch(lab["analyst"], spec.product, "B-1")
    sample = services.register_sample(lab["analyst"], subject_type="batches.batch", subject_ref="B-1",
                                      subject_label="B-1", origin="manual", description="Extra sample",
                                      sponsor=sponsor_a)
    assert sample.specification is None
    with pytest.raises(RuleViolation, match="Assign a specification"):
        services.order_tests(lab["analyst"], sample, [spec.tests.first()])
    sample = services.assign_specification(lab["analyst"], sample, spec)
    assert sample.specification == spec and sample.tests.count() == 3


def test_specification_cannot_change_after_results(lab, spec, sponsor_a):
    sample = builders.sample(lab["analyst"], spec)
    services.enter_result(lab["analyst"], sample, spec.tests.get(attribute="Endotoxin"), value="0.10",
                          submission_id=builders.submission())
    other = builders.approved_spec(lab["reviewer"], sponsor_a)
    with pytest.raises(RuleViolation, match="has results"):
        services.assign_specification(lab["analyst"], sample, other)


def test_dispose_needs_a_reason_and_a_finished_sample(lab, spec):
    sample = builders.sample(lab["analyst"], spec, received=False)
    with pytest.raises(RuleViolation, match="reason"):
        services.dispose_sample(lab["analyst"], sample, reason=" ")
    received = services.receive_sample(lab["analyst"], sample, location="Fridge")
    with pytest.raises(RuleViolation, match="tests to do"):
        services.dispose_sample(lab["analyst"], received, reason="spilled")
    retained = services.retain_sample(lab["analyst"], received, location="Freezer")
    assert services.dispose_sample(lab["analyst"], retained, reason="retention period over").status == "disposed"


def test_sponsor_b_cannot_see_or_touch_sponsor_a_samples(lab, spec, sponsor_b):
    sample = builders.sample(lab["analyst"], spec)
    other = builders.people(sponsor_b, prefix="b.")["analyst"]
    with pytest.raises(NotFound):
        selectors.sample(other, sample.number)
    with pytest.raises(NotFound):
        services.receive_sample(other, sample, location="x")
    assert not selectors.samples_for(other).exists()
    assert not selectors.worklist(other).exists()


@pytest.mark.req("REL-1")
def test_taking_an_ebr_sample_registers_the_qc_sample(sponsor_a, fake_clock):
    world = batches.world(sponsor_a)
    spec = builders.approved_spec(world.qa, sponsor_a, world.product)
    batches.start(world)
    batches.run_step(world, "A1")
    batches.run_step(world, "A2")
    taken = world.batch.samples.get()
    qc_sample = Sample.objects.get(origin="batch_sampling", origin_ref=taken.number)
    assert qc_sample.subject_type == "batches.batch" and qc_sample.subject_ref == world.batch.number
    assert qc_sample.specification == spec and qc_sample.sponsor == sponsor_a and qc_sample.status == "registered"
    # "Sterility of starting material": the sterility criterion is ordered, the others at receipt.
    assert [t.attribute for t in qc_sample.tests.all()] == ["Sterility"]
    assert qc_sample.quantity == Decimal(1) and qc_sample.unit == "mL"
    # Taking the sample again (a retried request) registers nothing more.
    from opencdmo.batches import services as batch_services

    batch_services.take_sample(world.operator, world.batch, "A2", "SP-STER", submission_id=builders.submission())
    assert Sample.objects.filter(origin="batch_sampling").count() == 1


def test_batch_sample_without_specification_is_registered_without_one(sponsor_a):
    world = batches.world(sponsor_a)
    batches.start(world)
    batches.run_step(world, "A1")
    batches.run_step(world, "A2")
    qc_sample = Sample.objects.get(origin="batch_sampling")
    assert qc_sample.specification is None and not qc_sample.tests.exists()


def test_an_in_process_sampling_point_is_tested_against_the_in_process_specification(lab, sponsor_a, fake_clock):
    """Not against the release criteria its name happens to share ('Sterility of the starting material')."""
    release = builders.approved_spec(lab["reviewer"], sponsor_a, stage="release")
    in_process = builders.approved_spec(lab["reviewer"], sponsor_a, stage="in_process")
    product = release.product
    taken = {stage: services.register_batch_sample(
        lab["analyst"], batch_number="B-2026-0042", batch_label="B-2026-0042", sample_ref=f"SMP-{stage}",
        description="Sterility of the starting material", sponsor=sponsor_a, product=product,
        taken_at=clock.now(), taken_by=lab["analyst"], stage=stage) for stage in ("in_process", "release")}
    assert taken["in_process"].specification == in_process
    assert [t.specification for t in taken["in_process"].tests.all()] == [in_process]
    assert taken["release"].specification == release


def test_lot_sample_needs_an_incoming_specification(lab, sponsor_a):
    qa = lab["qa"]
    handler = batches.person("mh.lab", batches.Role.MATERIAL_HANDLER, sponsors=[sponsor_a])
    materials.location(qa)
    material = materials.material(qa)
    lot = materials.receive(handler, material)
    with pytest.raises(RuleViolation, match="no effective incoming specification"):
        services.register_lot_sample(lab["analyst"], lot)
    spec = builders.approved_spec(lab["reviewer"], None, material=material, stage="incoming")
    sample = services.register_lot_sample(lab["analyst"], lot, quantity="5", description="Incoming QC")
    assert (sample.subject_type, sample.subject_ref, sample.origin) == ("materials.lot", lot.number,
                                                                         "material_receipt")
    assert sample.specification == spec and sample.unit == lot.unit and sample.tests.count() == 3


# --- What a sample tests -------------------------------------------------------------------------

def test_a_sample_tests_an_existing_batch_of_the_users_sponsors(lab, spec, sponsor_a, sponsor_b):
    """Another sponsor's batch is not found (no sample, no OOS, no block on its disposition), nor one
    that does not exist, nor a record that is not a batch or a lot."""
    other = builders.batch(lab["analyst"], sponsor_b.programs.first().products.first(), "B-BETA-0001")
    register = functools.partial(services.register_sample, lab["analyst"], origin="manual", description="Extra",
                                 specification=spec, subject_label="")
    with pytest.raises(NotFound):
        register(subject_type="batches.batch", subject_ref=other.number)
    with pytest.raises(NotFound):
        register(subject_type="batches.batch", subject_ref="B-9999-0001")
    with pytest.raises(RuleViolation, match="tests a batch or a material lot"):
        register(subject_type="core.user", subject_ref=lab["analyst"].username)
    assert not Sample.objects.exists()
    own = builders.batch(lab["analyst"], spec.product, "B-ACME-0001")
    made = register(subject_type="batches.batch", subject_ref=own.number)
    assert (made.sponsor, made.product, made.subject_label) == (sponsor_a, spec.product,
                                                               f"{own.number} {spec.product.code} {spec.product.name}")


def test_a_pharmacopoeia_reference_in_a_sampling_points_name_orders_no_ph_test(lab, sponsor_a):
    spec = builders.approved_spec(lab["reviewer"], sponsor_a)
    builders.criterion(spec, 4, "pH", builders.method("PH", name="pH", unit="", decimals=1, instrument_kinds=()),
                       "range", lower="6.8", upper="7.6")
    sample = services.register_batch_sample(
        lab["analyst"], batch_number="B-2026-0042", batch_label="B-2026-0042", sample_ref="SMP-1",
        description="Sterility (Ph. Eur. 2.6.1)", sponsor=sponsor_a, product=spec.product, taken_at=clock.now(),
        taken_by=lab["analyst"])
    assert [t.attribute for t in sample.tests.all()] == ["Sterility"]


def test_a_quantity_the_record_cannot_hold_is_refused_with_what_to_enter(lab, spec):
    with pytest.raises(RuleViolation, match="at most 6 decimals"):
        builders.sample(lab["analyst"], spec, quantity="0.0000001", unit="mL")
