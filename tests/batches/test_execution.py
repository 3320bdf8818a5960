"""Executing a batch record: planning, order, entries with range checks, idempotent submissions,
verification, corrections, calculated values, hold times, late entries and skipped steps."""

import datetime as dt
from decimal import Decimal

import pytest

from opencdmo.batches import selectors, services
from opencdmo.batches.models import Batch, BatchEntry, BatchException, BatchStep
from opencdmo.core import signatures
from opencdmo.core.domain.roles import Role
from opencdmo.core.errors import Conflict, NotFound, PermissionDenied, RuleViolation
from opencdmo.quality.models import Deviation, DeviationLink
from tests.factories import signature
from tests.processes.builders import draft_version

from . import builders
from .builders import submission


def record(world, key, parameter, value, *, by=None, sid=None, **kwargs):
    return services.record_entry(by or world.operator, world.batch, key, parameter, value=value,
                                 submission_id=sid or submission(), **kwargs)


def status(world, key) -> str:
    return BatchStep.objects.get(batch=world.batch, key=key).status


# --- Planning --------------------------------------------------------------------------------

@pytest.mark.django_db
def test_a_batch_is_planned_from_the_effective_mbr_with_one_step_row_per_mbr_step(world):
    batch = world.batch
    assert (batch.number, batch.status, batch.product, batch.sponsor, batch.scale, batch.scale_unit) == (
        "B-2026-0001", "planned", world.product, world.sponsor, Decimal(1), "patient dose")
    assert list(batch.steps.values_list("key", "position", "stage")) == [
        ("A1", 1, "Starting material"), ("A2", 2, "Starting material"), ("B1", 3, "Transduction"),
        ("B2", 4, "Transduction"), ("B3", 5, "Transduction")]


@pytest.mark.django_db
def test_planning_refuses_bad_scale_a_missing_patient_a_duplicate_number_and_a_version_not_effective(world):
    plan = dict(mbr_version=world.version, room=world.room, patient_reference=builders.therapy(world))
    for scale in ("0", "-1", "abc", "1e400"):
        with pytest.raises(RuleViolation):
            services.create_batch(world.supervisor, scale=scale, **plan)
    with pytest.raises(RuleViolation, match="autologous product: give the patient's chain of identity"):
        services.create_batch(world.supervisor, mbr_version=world.version, room=world.room, scale="1")
    services.create_batch(world.supervisor, scale="2.5", number="ACM-B-7", **plan)
    with pytest.raises(Conflict, match="exists already"):
        services.create_batch(world.supervisor, scale="1", number="acm-b-7",
                              **{**plan, "patient_reference": builders.therapy(world)})
    draft = draft_version(world.supervisor, world.product)
    with pytest.raises(RuleViolation, match="not effective"):
        services.create_batch(world.supervisor, mbr_version=draft, scale="1", room=world.room,
                              patient_reference=builders.therapy(world))
    with pytest.raises(PermissionDenied, match="batches.plan"):
        services.create_batch(world.operator, scale="1", **plan)


@pytest.mark.django_db
def test_an_autologous_batch_is_made_for_one_open_therapy_order_named_by_its_identifier(world):
    from opencdmo.identity import services as identity_services  # noqa: PLC0415
    from opencdmo.identity.domain.isbt128 import ChainOfIdentity  # noqa: PLC0415
    from opencdmo.identity.models import TherapyOrder  # noqa: PLC0415

    plan = dict(mbr_version=world.version, room=world.room, scale="1")
    with pytest.raises(RuleViolation, match="No therapy order has the chain of identity identifier 'PAT-1'"):
        services.create_batch(world.supervisor, patient_reference="PAT-1", **plan)
    coi = builders.therapy(world)
    printed = ChainOfIdentity.from_content(coi)
    typed = f"{printed.eye_readable()} {printed.check_character}"  # as printed on the patient page, K included
    assert services.create_batch(world.supervisor, patient_reference=typed, **plan).patient_reference == coi
    with pytest.raises(Conflict, match="is already made for"):
        services.create_batch(world.supervisor, patient_reference=coi, **plan)
    cancelled = TherapyOrder.objects.get(coi=builders.therapy(world))
    identity_services.transition_order(world.qa, cancelled, "cancel", reason="patient withdrew consent")
    with pytest.raises(RuleViolation, match="cancelled: no batch is made for it"):
        services.create_batch(world.supervisor, patient_reference=cancelled.coi, **plan)


@pytest.mark.django_db
def test_a_planner_of_another_sponsor_cannot_see_the_mbr_nor_the_batch(world, sponsor_b, make_user):
    planner = make_user("plan.b", Role.SUPERVISOR, sponsors=[sponsor_b])
    with pytest.raises(NotFound):
        services.create_batch(planner, mbr_version=world.version, scale="1", room=world.room,
                              patient_reference=builders.therapy(world))
    assert not selectors.batches_for(planner).exists()
    with pytest.raises(NotFound):
        selectors.batch(planner, world.batch.number)


@pytest.mark.django_db
def test_sponsor_b_cannot_write_to_sponsor_a_batch(started, sponsor_b, make_user):
    outsider = make_user("op.b", Role.OPERATOR, sponsors=[sponsor_b])
    with pytest.raises(NotFound):
        services.start_step(outsider, started.batch, "A1")
    services.start_step(started.operator, started.batch, "A1")
    with pytest.raises(NotFound):
        record(started, "A1", "bag_intact", "yes", by=outsider)
    entry = record(started, "A1", "viable_cells", "3e8")
    with pytest.raises(NotFound):
        services.correct_entry(outsider, entry, value="4e8", reason="typo", submission_id=submission())
    assert BatchEntry.objects.count() == 1


# --- Order (P11-1f) ------------------------------------------------------------------------------

@pytest.mark.req("P11-1f")
@pytest.mark.django_db
def test_a_step_cannot_start_before_its_predecessors_and_parallel_branches_can_run_together(started):
    w = started
    with pytest.raises(RuleViolation, match="Step B1 cannot start before step A1 is completed or skipped"):
        services.start_step(w.operator, w.batch, "B1")
    assert status(w, "B1") == "pending"
    assert selectors.next_step_keys(w.batch) == ["A1"]
    builders.run_step(w, "A1")
    assert selectors.next_step_keys(w.batch) == ["A2", "B1"]
    services.start_step(w.operator, w.batch, "A2")
    services.start_step(w.second_operator, w.batch, "B1")  # a parallel branch, at the same time
    assert (status(w, "A2"), status(w, "B1")) == ("in_progress", "in_progress")
    with pytest.raises(RuleViolation, match="before steps A2, B2 are completed"):
        services.start_step(w.operator, w.batch, "B3")


@pytest.mark.req("P11-1f")
@pytest.mark.django_db
def test_entries_only_while_the_batch_is_in_progress_and_on_a_started_step(world, fake_clock):
    with pytest.raises(RuleViolation, match="planned: steps are executed only while the batch is in progress"):
        services.start_step(world.operator, world.batch, "A1")
    builders.start(world)
    with pytest.raises(RuleViolation, match="Step A1 is not started"):
        record(world, "A1", "bag_intact", "yes")
    services.start_step(world.operator, world.batch, "A1")
    services.transition_batch(world.supervisor, world.batch, "hold", reason="incubator alarm")
    with pytest.raises(RuleViolation, match="on hold: nothing can be recorded until it is resumed"):
        record(world, "A1", "bag_intact", "yes")
    services.transition_batch(world.supervisor, world.batch, "resume", reason="alarm cleared")
    assert record(world, "A1", "bag_intact", "yes").value == "yes"


@pytest.mark.req("P11-3")
@pytest.mark.django_db
def test_a_step_is_completed_only_when_nothing_is_missing_and_its_signature_binds_its_data(started):
    w = started
    services.start_step(w.operator, w.batch, "A1")
    with pytest.raises(RuleViolation, match="it lacks a value for Bag intact; a value for Viable cells"):
        services.complete_step(w.operator, w.batch, "A1", signature=signature(w.operator, "Performed"))
    step = builders.run_step(w, "A1")
    assert (step.status, step.completed_by, len(step.data_hash)) == ("completed", w.operator, 64)
    assert [(s.meaning, valid) for s, valid in signatures.with_validity(step)] == [("Performed", True)]


@pytest.mark.django_db
def test_the_batch_completes_once_every_step_is_finished(started):
    w = started
    with pytest.raises(RuleViolation, match="steps not yet done"):
        services.transition_batch(w.operator, w.batch, "complete", signature=signature(w.operator, "Performed"))
    for key in ("A1", "A2", "B1", "B2", "B3"):
        builders.run_step(w, key)
    batch = services.transition_batch(w.operator, w.batch, "complete", signature=signature(w.operator, "Performed"))
    assert (batch.status, batch.completed_at is not None) == ("completed", True)
    assert selectors.performers(batch) == {w.operator.pk, w.second_operator.pk}


# --- Entries -----------------------------------------------------------------------------------

@pytest.mark.req("P11-1e")
@pytest.mark.django_db
def test_an_entry_is_stamped_with_server_time_and_the_performer(started, fake_clock):
    services.start_step(started.operator, started.batch, "A1")
    fake_clock.advance(minutes=7)
    entry = record(started, "A1", "viable_cells", "3.2e8")
    assert (entry.value, entry.number, entry.unit, entry.outcome) == ("3.2e8", Decimal("3.2e8"), "cells", "ok")
    assert (entry.recorded_by, entry.recorded_at) == (started.operator, fake_clock())
    with pytest.raises(RuleViolation, match="has a value already: use a correction"):
        record(started, "A1", "viable_cells", "3.3e8")
    with pytest.raises(RuleViolation, match="not a number"):
        record(started, "A1", "viability", "ninety")
    with pytest.raises(RuleViolation, match="no parameter 'moi'"):
        record(started, "A1", "moi", "3")


def _at_b1(world):
    builders.run_step(world, "A1")
    services.start_step(world.operator, world.batch, "B1")


BOUNDARIES = [  # MOI: NOR [2, 5] both ends inclusive; PAR [1.5, 6), the high end exclusive
    ("2", "ok"), ("5", "ok"), ("1.99", "outside_normal"), ("5.01", "outside_normal"), ("1.5", "outside_normal"),
    ("5.999", "outside_normal"), ("6", "outside_acceptable"), ("1.49", "outside_acceptable"),
]


@pytest.mark.django_db
def test_range_checks_at_the_exact_boundaries_of_entries_and_corrections(started):
    _at_b1(started)
    entry = record(started, "B1", "moi", "3")
    for moi, outcome in BOUNDARIES:
        entry = services.correct_entry(started.operator, entry, value=moi, reason="re-read", submission_id=submission(),
                                       comment="" if outcome == "ok" else "as found")
        assert (moi, entry.outcome) == (moi, outcome)
        assert sorted(BatchException.objects.filter(entry=entry).values_list("kind", flat=True)) == sorted(
            ["correction"] + ([] if outcome == "ok" else [outcome]))
    assert Deviation.objects.count() == 2


@pytest.mark.django_db
def test_outside_the_normal_range_or_an_unexpected_answer_needs_a_comment_and_is_an_exception(started):
    services.start_step(started.operator, started.batch, "A1")
    with pytest.raises(RuleViolation, match="outside the normal operating range: add a comment"):
        record(started, "A1", "viability", "75.0")
    with pytest.raises(RuleViolation, match="not the expected answer: add a comment"):
        record(started, "A1", "bag_intact", "no")
    assert not BatchEntry.objects.exists()
    record(started, "A1", "viability", "75.0", comment="sample re-counted, same result")
    record(started, "A1", "bag_intact", "no", comment="pinhole at the port; bag transferred")
    exceptions = BatchException.objects.order_by("id")
    assert [e.kind for e in exceptions] == ["outside_normal", "unexpected"]
    assert "Viability = 75.0 % is outside the normal operating range" in exceptions[0].description
    assert not Deviation.objects.exists()


@pytest.mark.django_db
def test_outside_the_acceptable_range_raises_one_linked_deviation_even_when_the_request_is_retried(started):
    _at_b1(started)
    first = record(started, "B1", "moi", "7", sid="moi-1", comment="vector overdosed")
    again = record(started, "B1", "moi", "7", sid="moi-1", comment="vector overdosed")  # the client retried
    assert again.pk == first.pk
    deviation = Deviation.objects.get()
    assert (deviation.source, deviation.sponsor, deviation.area, deviation.category) == (
        "batch_exception", started.sponsor, started.room.code, "process")
    assert "step B1" in deviation.title and "MOI" in deviation.title
    assert DeviationLink.objects.get(deviation=deviation).record_label == started.batch.number
    exception = BatchException.objects.get(kind="outside_acceptable")
    assert (exception.entry, exception.deviation) == (first, deviation)


@pytest.mark.django_db
def test_a_submission_id_is_required_and_reused_for_other_data_is_a_conflict(started):
    services.start_step(started.operator, started.batch, "A1")
    with pytest.raises(RuleViolation, match="submission id"):
        record(started, "A1", "bag_intact", "yes", sid=" ")
    entry = record(started, "A1", "bag_intact", "yes", sid="s-1")
    assert record(started, "A1", "bag_intact", " yes ", sid="s-1").pk == entry.pk
    with pytest.raises(Conflict, match="already used for other data"):
        record(started, "A1", "viability", "95.0", sid="s-1")
    assert BatchEntry.objects.count() == 1


@pytest.mark.django_db
def test_a_late_entry_gives_its_reason_and_a_past_time_after_the_step_started(started, fake_clock):
    services.start_step(started.operator, started.batch, "A1")
    started_at = fake_clock()
    fake_clock.advance(minutes=40)
    for stated, message in ((started_at - dt.timedelta(minutes=1), "after step A1 started"),
                            (fake_clock() + dt.timedelta(minutes=1), "must be in the past")):
        with pytest.raises(RuleViolation, match=message):
            record(started, "A1", "bag_intact", "yes", late_reason="network down", stated_activity_at=stated)
    with pytest.raises(RuleViolation, match="needs both"):
        record(started, "A1", "bag_intact", "yes", late_reason="network down")
    entry = record(started, "A1", "bag_intact", "yes", late_reason="tablet battery empty",
                   stated_activity_at=started_at + dt.timedelta(minutes=5))
    assert (entry.recorded_at, entry.stated_activity_at) == (fake_clock(), started_at + dt.timedelta(minutes=5))
    assert BatchException.objects.get(entry=entry).kind == "late_entry"


# --- Verification and corrections ----------------------------------------------------------------

@pytest.mark.req("P11-1g")
@pytest.mark.req("P11-3")
@pytest.mark.django_db
def test_the_verifier_must_be_someone_other_than_the_performer(started):
    services.start_step(started.operator, started.batch, "A1")
    entry = record(started, "A1", "viable_cells", "3e8")
    with pytest.raises(RuleViolation, match="Segregation of duties: you recorded Viable cells"):
        services.verify_entry(started.operator, entry, signature=signature(started.operator, "Verified"))
    not_needed = record(started, "A1", "viability", "95.0")
    with pytest.raises(RuleViolation, match="does not need second-person verification"):
        services.verify_entry(started.second_operator, not_needed,
                              signature=signature(started.second_operator, "Verified"))
    assert [e.pk for e in selectors.unverified_entries(started.batch)] == [entry.pk]
    verified = services.verify_entry(started.second_operator, entry,
                                     signature=signature(started.second_operator, "Verified"))
    assert verified.verified_by == started.second_operator
    assert [(s.meaning, s.signer, valid) for s, valid in signatures.with_validity(verified)] == [
        ("Verified", started.second_operator, True)]
    assert selectors.unverified_entries(started.batch) == []


@pytest.mark.req("A11-7")
@pytest.mark.req("A11-8")
@pytest.mark.req("P11-4")
@pytest.mark.django_db
def test_a_correction_keeps_the_original_needs_a_reason_and_a_new_verification(started):
    w = started
    builders.run_step(w, "A1")
    original = BatchEntry.objects.get(parameter="viable_cells")
    step = BatchStep.objects.get(batch=w.batch, key="A1")
    hash_before = step.data_hash
    with pytest.raises(RuleViolation, match="reason for the correction is required"):
        services.correct_entry(w.operator, original, value="4e8", reason=" ", submission_id=submission())
    corrected = services.correct_entry(w.operator, original, value="4e8", reason="transcription error",
                                       submission_id="fix-1")
    assert services.correct_entry(w.operator, original, value="4e8", reason="transcription error",
                                  submission_id="fix-1").pk == corrected.pk
    original.refresh_from_db()
    assert (original.value, corrected.corrects, corrected.correction_reason) == ("3e8", original,
                                                                                   "transcription error")
    assert [e.value for e in selectors.current_entries(w.batch).filter(parameter="viable_cells")] == ["4e8"]
    exception = BatchException.objects.get(kind="correction")
    assert "corrected from 3e8 to 4e8" in exception.description and exception.entry == corrected
    assert [e.pk for e in selectors.unverified_entries(w.batch)] == [corrected.pk]
    with pytest.raises(RuleViolation, match="was corrected: verify the current value"):
        services.verify_entry(w.second_operator, original, signature=signature(w.second_operator, "Verified"))
    with pytest.raises(RuleViolation, match="corrected already"):
        services.correct_entry(w.operator, original, value="5e8", reason="again", submission_id=submission())
    step.refresh_from_db()
    assert step.data_hash != hash_before
    assert [valid for _, valid in signatures.with_validity(step)] == [False]  # changed since 'Performed'


# --- Calculated values ---------------------------------------------------------------------------

@pytest.mark.req("CELL-8")
@pytest.mark.django_db
def test_vector_volume_is_calculated_from_moi_cells_and_titer_and_recalculated_after_a_correction(started):
    w = started
    _at_b1(w)
    record(w, "B1", "titer", "1e8", sid="t")
    assert not BatchEntry.objects.filter(parameter="vector_volume").exists()  # MOI still missing
    record(w, "B1", "moi", "3", sid="m")
    volume = BatchEntry.objects.get(parameter="vector_volume")
    assert (Decimal(volume.value), volume.unit, volume.recorded_by, volume.submission_id) == (
        Decimal("9.00"), "mL", w.operator, "m:vector_volume")  # 3 × 3e8 cells ÷ 1e8 TU/mL
    with pytest.raises(RuleViolation, match="calculated"):
        record(w, "B1", "vector_volume", "10")
    moi = BatchEntry.objects.get(parameter="moi")
    services.correct_entry(w.operator, moi, value="4", reason="wrong MOI read", submission_id="m2")
    recalculated = selectors.current_entries(w.batch).get(parameter="vector_volume")
    assert (Decimal(recalculated.value), recalculated.corrects, recalculated.submission_id) == (
        Decimal("12.00"), volume, "m2:vector_volume")


# --- Hold times, skipped steps, samples ---------------------------------------------------------

@pytest.mark.django_db
def test_a_hold_time_exceeded_is_an_exception_not_a_refusal(started, fake_clock):
    builders.run_step(started, "A1")
    fake_clock.advance(hours=4, minutes=1)
    services.start_step(started.operator, started.batch, "B1")
    exception = BatchException.objects.get(kind="hold_time")
    assert exception.description == ("Step B1 Transduce started 4 h 01 min after step A1 was completed; "
                                      "the maximum hold time is 4 h 00 min.")


@pytest.mark.django_db
def test_within_the_hold_time_no_exception(started, fake_clock):
    builders.run_step(started, "A1")
    fake_clock.advance(hours=4)
    services.start_step(started.operator, started.batch, "B1")
    assert not BatchException.objects.filter(kind="hold_time").exists()


@pytest.mark.django_db
def test_only_an_optional_step_is_skipped_with_a_reason(started):
    w = started
    builders.run_step(w, "A1")
    with pytest.raises(RuleViolation, match="reason for skipping the step is required"):
        services.skip_step(w.operator, w.batch, "A2", reason="")
    with pytest.raises(RuleViolation, match="Step B1 is not optional"):
        services.skip_step(w.operator, w.batch, "B1", reason="no time")
    step = services.skip_step(w.operator, w.batch, "A2", reason="sterility covered by the final product test")
    assert (step.status, step.skip_reason) == ("skipped", "sterility covered by the final product test")
    assert BatchException.objects.get(kind="skipped_step").step == step


@pytest.mark.django_db
def test_a_sample_is_taken_once_per_sampling_point(started):
    w = started
    builders.run_step(w, "A1")
    services.start_step(w.operator, w.batch, "A2")
    sample = services.take_sample(w.operator, w.batch, "A2", "SP-STER", submission_id=submission())
    assert (sample.number, sample.status, sample.name, sample.quantity, sample.unit) == (
        "SMP-2026-0001", "taken", "Sterility of starting material", Decimal(1), "mL")
    assert services.take_sample(w.operator, w.batch, "A2", "SP-STER", submission_id=submission()).pk == sample.pk
    with pytest.raises(RuleViolation, match="no sampling point"):
        services.take_sample(w.operator, w.batch, "A2", "SP-X", submission_id=submission())


@pytest.mark.django_db
def test_step_detail_shows_limits_entries_history_and_what_is_missing(started):
    w = started
    builders.run_step(w, "A1")
    services.start_step(w.operator, w.batch, "B1")
    record(w, "B1", "moi", "3")
    detail = selectors.step_detail(w.batch, "B1")
    moi = next(p for p in detail.parameters if p.parameter.id == "moi")
    assert (moi.entry.value, moi.limits) == ("3", "NOR [2, 5] · PAR [1.5, 6)")
    assert [(m.material, m.quantity, m.unit) for m in detail.materials] == [(w.material.code, Decimal(10), "mL")]
    assert detail.missing == ["a value for Vector titer", "a value for Vector volume",
                              "a scan of the biosafety cabinet", f"a lot of {w.material.code}"]
    assert not detail.can_complete
    assert [s.key for s in selectors.step_states(w.batch) if s.can_start] == ["A2"]
    assert isinstance(w.batch, Batch)
