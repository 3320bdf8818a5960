"""Batch disposition (REL-1): every prerequisite red refuses the release and names itself, and is
green once fixed; conditional release records what is pending; QA who performed the batch may not
release it; a lot is released through the same mechanism with its incoming specification; no
release for shipment before the batch's disposition."""

import datetime as dt

import pytest

from opencdmo.batches.models import BatchEntry
from opencdmo.core import services as core_services
from opencdmo.core.domain.roles import Role
from opencdmo.core.errors import PermissionDenied, RuleViolation
from opencdmo.core.models import Signature
from opencdmo.identity.models import TherapyOrder
from opencdmo.materials import services as materials_services
from opencdmo.quality import services as quality_services
from opencdmo.release import selectors, services
from opencdmo.release.models import Disposition
from tests.batches import builders as batches
from tests.factories import signature
from tests.materials import builders as materials

from . import builders

pytestmark = pytest.mark.req("REL-1")


@pytest.fixture(autouse=True)
def _clock(fake_clock):
    return fake_clock


def _decide(user, batch, decision="release", **kwargs):
    disposition = services.open_disposition(user, batch)
    meaning = "Rejected" if decision == "reject" else "QA Released"
    return services.decide(user, disposition, decision, signature=signature(user, meaning), **kwargs)


def _states(batch) -> dict:
    return {p.name: p.state for p in selectors.batch_prerequisites(batch)}


def _refused(user, batch, *names, decision="release", **kwargs) -> str:
    with pytest.raises(RuleViolation) as refused:
        _decide(user, batch, decision, **kwargs)
    for name in names:
        assert name in refused.value.message
    disposition = selectors.disposition_of(batch)
    assert disposition.status == "open" and disposition.decided_at is None
    return refused.value.message


@pytest.fixture
def ready(sponsor_a):
    """A reviewed batch whose release tests all pass."""
    world, spec = builders.releasable(sponsor_a)
    world.spec = spec
    return world


@pytest.mark.django_db
def test_a_batch_with_every_prerequisite_met_is_released_and_the_snapshot_stored(ready):
    assert _states(ready.batch) == {
        "Batch record reviewed": "met", "Release tests": "met", "OOS investigations closed": "met",
        "Deviations closed": "met", "Materials used released": "met", "Chain of identity verified": "met",
        "Environmental monitoring": "not_applicable"}
    disposition = _decide(ready.qa_approver, ready.batch)
    assert disposition.status == "released"
    assert disposition.decided_by == ready.qa_approver
    assert {p["name"]: p["state"] for p in disposition.prerequisites}["Release tests"] == "met"
    signed = Signature.objects.get(record_type="release.disposition", record_id=str(disposition.pk))
    assert (signed.meaning, signed.signer) == ("QA Released", ready.qa_approver)


@pytest.mark.django_db
def test_an_unreviewed_batch_is_refused_naming_the_review_and_released_once_reviewed(sponsor_a):
    world = batches.world(sponsor_a)
    builders.completed(world)
    analyst, reviewer = builders.lab(world)
    spec = builders.release_spec(world.qa, product=world.product, sponsor=sponsor_a)
    builders.passing(analyst, reviewer, spec, world.batch)
    message = _refused(world.qa_approver, world.batch, "Batch record reviewed")
    assert "Release tests" not in message
    from opencdmo.batches import services as batch_services  # noqa: PLC0415

    batch_services.transition_batch(world.qa, world.batch, "review", signature=signature(world.qa, "Reviewed"))
    world.batch.refresh_from_db()
    assert _decide(world.qa_approver, world.batch).status == "released"


@pytest.mark.django_db
def test_no_approved_release_specification_refuses_the_release(sponsor_a):
    world = batches.world(sponsor_a)
    builders.reviewed(world)
    message = _refused(world.qa_approver, world.batch, "Release tests", "No approved release specification")
    assert world.product.code in message


@pytest.mark.django_db
def test_a_failing_release_test_refuses_release_and_conditional_release_naming_the_attribute(sponsor_a):
    world = batches.world(sponsor_a)
    builders.reviewed(world)
    analyst, reviewer = builders.lab(world)
    spec = builders.release_spec(world.qa, product=world.product, sponsor=sponsor_a)
    builders.result(analyst, spec, world.batch, "Viability", "55.0", builders.FAILS, reviewer=reviewer)
    builders.result(analyst, spec, world.batch, "Sterility", "no growth", builders.CONFORMS, reviewer=reviewer)
    assert "Viability: out of specification" in _refused(world.qa_approver, world.batch, "Release tests")
    _refused(world.qa_approver, world.batch, "Viability", decision="conditional_release",
             risk_assessment="Physician asked for it.")


@pytest.mark.django_db
def test_a_result_awaiting_review_that_may_not_be_pending_refuses_even_a_conditional_release(sponsor_a):
    world = batches.world(sponsor_a)
    builders.reviewed(world)
    analyst, reviewer = builders.lab(world)
    spec = builders.release_spec(world.qa, product=world.product, sponsor=sponsor_a)
    builders.result(analyst, spec, world.batch, "Viability", "92.0", builders.CONFORMS)  # not reviewed
    _refused(world.qa_approver, world.batch, "Viability: awaiting review", decision="conditional_release",
             risk_assessment="Short shelf life.")


@pytest.mark.django_db
def test_an_open_deviation_of_the_batch_refuses_release_until_it_is_closed_or_cancelled(ready):
    deviation = quality_services.raise_deviation(ready.operator, title="Bag seal found open", description="At B3.",
                                                 source="manual", records=[ready.batch], sponsor=ready.sponsor)
    assert deviation.number in _refused(ready.qa_approver, ready.batch, "Deviations closed")
    quality_services.transition_deviation(ready.qa, deviation, "cancel", reason="Raised in error: duplicate.")
    assert _states(ready.batch)["Deviations closed"] == "met"
    assert _decide(ready.qa_approver, ready.batch).status == "released"


@pytest.mark.django_db
def test_a_used_lot_no_longer_released_refuses_release_until_the_hold_is_lifted(ready):
    materials_services.transition_lot(ready.qa, ready.lot, "hold", reason="Supplier notice of a recall.")
    message = _refused(ready.qa_approver, ready.batch, "Materials used released")
    assert f"{ready.lot.number} is on hold" in message
    materials_services.transition_lot(ready.qa, ready.lot, "lift_hold", reason="Recall does not concern our lot.")
    assert _decide(ready.qa_approver, ready.batch).status == "released"


@pytest.mark.django_db
def test_an_open_custody_deviation_of_the_therapy_refuses_release(ready):
    order = TherapyOrder.objects.get(coi=ready.batch.patient_reference)
    deviation = quality_services.raise_deviation(
        ready.operator, title="Identity mismatch at receipt", description="Wrong bag scanned.", source="custody",
        records=[order], sponsor=ready.sponsor, category="chain_of_identity")
    assert deviation.number in _refused(ready.qa_approver, ready.batch, "Chain of identity verified")
    quality_services.transition_deviation(ready.qa, deviation, "cancel", reason="Raised in error.")
    assert _decide(ready.qa_approver, ready.batch).status == "released"


@pytest.mark.django_db
def test_chain_of_identity_is_verified_for_a_patient_batch_and_not_applicable_otherwise(ready):
    step = ready.batch.steps.get(key="A1")
    assert step.identity_scans.exists()
    found = selectors._chain_of_identity(ready.batch)
    assert found.state == "met"
    ready.batch.patient_reference = ""
    assert selectors._chain_of_identity(ready.batch).state == "not_applicable"


@pytest.mark.django_db
def test_an_open_oos_investigation_refuses_release(ready):
    from opencdmo.core.records import create_record  # noqa: PLC0415
    from opencdmo.qc.models import OosInvestigation  # noqa: PLC0415

    analyst, _ = builders.lab(ready)
    failing = builders.result(analyst, ready.spec, ready.batch, "Viability", "40.0", builders.FAILS)
    investigation = create_record(analyst, OosInvestigation(result=failing, sponsor=ready.sponsor, opened_by=analyst,
                                                            opened_at=failing.entered_at, status="phase_1"))
    message = _refused(ready.qa_approver, ready.batch, "OOS investigations closed", "Release tests")
    assert investigation.number in message


@pytest.mark.django_db
def test_environmental_monitoring_of_a_room_without_a_programme_is_not_applicable(ready):
    # Each EM state's effect on the disposition: tests/envmon/test_batch_summary.py.
    em = next(p for p in selectors.batch_prerequisites(ready.batch) if p.name == "Environmental monitoring")
    assert (em.state, em.detail) == ("not_applicable", f"Room {ready.batch.room.code} has no EM programme.")


@pytest.mark.django_db
def test_qa_who_performed_work_on_the_batch_may_not_release_it(sponsor_a):
    world = batches.world(sponsor_a)
    builders.reviewed(world)
    analyst, reviewer = builders.lab(world)
    builders.passing(analyst, reviewer, builders.release_spec(world.qa, product=world.product, sponsor=sponsor_a),
                     world.batch)
    verifier = BatchEntry.objects.filter(batch=world.batch, verified_by__isnull=False).first().verified_by
    core_services.grant_role(None, verifier, "qa_approver", reason="Moved to QA.")
    with pytest.raises(RuleViolation, match="Segregation of duties"):
        _decide(verifier, world.batch)
    assert _decide(world.qa_approver, world.batch).status == "released"


@pytest.mark.django_db
def test_a_performed_signature_alone_is_enough_to_be_refused(ready, make_user):
    qp = make_user("qp.signed", Role.QA_APPROVER, sponsors=[ready.sponsor])
    step = ready.batch.steps.get(key="A1")
    Signature.objects.create(signer=qp, printed_name="Qp Signed", meaning="Performed", signed_at=step.completed_at,
                             record_type="batches.batchstep", record_id=str(step.pk), record_label=str(step),
                             record_version=1, content_hash="0" * 64, correlation_id="t")
    assert selectors.performed_by(ready.batch, qp)
    with pytest.raises(RuleViolation, match="Segregation of duties"):
        _decide(qp, ready.batch)
    with pytest.raises(RuleViolation, match="Segregation of duties"):  # nor reject it
        services.decide_on(qp, ready.batch, "reject", signature=signature(qp, "Rejected"), comment="Not wanted")
    assert not Disposition.objects.filter(subject_ref=ready.batch.number).exclude(status="open").exists()


@pytest.mark.django_db
def test_deciding_needs_release_decide_and_a_correct_password(ready):
    with pytest.raises(PermissionDenied, match="release.decide"):
        _decide(ready.qa, ready.batch)  # QA specialist: prepares, does not decide
    disposition = selectors.disposition_of(ready.batch)
    with pytest.raises(PermissionDenied, match="Signature refused"):
        services.decide(ready.qa_approver, disposition, "release",
                        signature=signature(ready.qa_approver, "QA Released", password="wrong password 1"))
    assert Disposition.objects.get(pk=disposition.pk).status == "open"


@pytest.mark.django_db
def test_rejection_needs_a_reason_and_is_signed_rejected(ready):
    disposition = services.open_disposition(ready.qa, ready.batch)
    with pytest.raises(RuleViolation, match="reason"):
        services.decide(ready.qa_approver, disposition, "reject", signature=signature(ready.qa_approver, "Rejected"))
    rejected = services.decide(ready.qa_approver, disposition, "reject", comment="Viability trend unacceptable.",
                               signature=signature(ready.qa_approver, "Rejected"))
    assert rejected.status == "rejected"
    assert Signature.objects.filter(record_type="release.disposition", meaning="Rejected").count() == 1


@pytest.mark.django_db
def test_one_disposition_per_batch(ready):
    first = services.open_disposition(ready.qa, ready.batch)
    assert services.open_disposition(ready.qa_approver, ready.batch).pk == first.pk
    assert Disposition.objects.filter(subject_ref=ready.batch.number).count() == 1


# --- Conditional release --------------------------------------------------------------------

@pytest.fixture
def sterility_pending(sponsor_a):
    """A reviewed batch whose 14-day sterility result is not in yet; everything else passes."""
    world = batches.world(sponsor_a)
    builders.reviewed(world)
    world.analyst, world.reviewer = builders.lab(world)
    world.spec = builders.release_spec(world.qa, product=world.product, sponsor=sponsor_a)
    builders.passing(world.analyst, world.reviewer, world.spec, world.batch, skip=("Sterility",))
    return world


@pytest.mark.django_db
@pytest.mark.req("QC-1")
def test_conditional_release_with_pending_sterility_records_what_is_pending(sterility_pending):
    world = sterility_pending
    assert _states(world.batch)["Release tests"] == "pending"
    _refused(world.qa_approver, world.batch, "Release tests", "Sterility")
    _refused(world.qa_approver, world.batch, "risk assessment", decision="conditional_release")
    disposition = _decide(world.qa_approver, world.batch, "conditional_release",
                          risk_assessment="Fresh product, 3-day shelf life; Gram stain negative.")
    assert disposition.status == "conditionally_released"
    assert disposition.risk_assessment.startswith("Fresh product")
    [pending] = disposition.pending_tests
    assert pending["attribute"] == "Sterility"
    assert pending["method"] == "REL-STER Sterility USP <71>"
    assert pending["expected"] == (dt.date(2026, 3, 2) + dt.timedelta(days=14)).isoformat()  # taken + 14 days


@pytest.mark.django_db
def test_conditional_release_is_completed_once_the_pending_result_passes(sterility_pending):
    world = sterility_pending
    disposition = _decide(world.qa_approver, world.batch, "conditional_release", risk_assessment="Short shelf life.")
    with pytest.raises(RuleViolation, match="Sterility"):
        services.decide(world.qa_approver, disposition, "release", signature=signature(world.qa_approver, "QA Released"))
    builders.result(world.analyst, world.spec, world.batch, "Sterility", "no growth", builders.CONFORMS,
                    reviewer=world.reviewer)
    completed = services.decide(world.qa_approver, disposition, "release",
                                signature=signature(world.qa_approver, "QA Released"))
    assert completed.status == "released"
    assert Signature.objects.filter(record_type="release.disposition", meaning="QA Released").count() == 2


# --- Material lots ------------------------------------------------------------------------------

@pytest.fixture
def quarantined(sponsor_a):
    """A lot received in quarantine (with its certificate) of a material with an incoming specification."""
    qa = materials.person("lot.qa", Role.QA_SPECIALIST)
    qp = materials.person("lot.qp", Role.QA_APPROVER)
    handler = materials.person("lot.handler", Role.MATERIAL_HANDLER)
    analyst = materials.person("lot.analyst", Role.QC_ANALYST)
    reviewer = materials.person("lot.reviewer", Role.QC_REVIEWER)
    materials.location(qa)
    medium = materials.material(qa)
    lot = materials.receive(handler, medium)
    spec = builders.release_spec(qa, material=medium, stage="incoming", sterility_pending=False)
    return {"qa": qa, "qp": qp, "analyst": analyst, "reviewer": reviewer, "lot": lot, "spec": spec, "material": medium}


@pytest.mark.django_db
def test_the_materials_own_release_is_refused_while_incoming_tests_are_missing(quarantined):
    lot = quarantined["lot"]
    with pytest.raises(RuleViolation, match="incoming tests") as refused:
        materials.release(quarantined["qa"], lot)
    assert "Sterility" in refused.value.message
    lot.refresh_from_db()
    assert lot.status == "quarantine"
    builders.passing(quarantined["analyst"], quarantined["reviewer"], quarantined["spec"], lot,
                     subject_type="materials.lot")
    assert materials.release(quarantined["qa"], lot).status == "released"


@pytest.mark.django_db
def test_a_lot_released_through_its_disposition_moves_the_lot_to_released(quarantined):
    lot, qp = quarantined["lot"], quarantined["qp"]
    refused = _refused(qp, lot, "Incoming tests")
    assert "Viability" in refused
    builders.passing(quarantined["analyst"], quarantined["reviewer"], quarantined["spec"], lot,
                     subject_type="materials.lot")
    disposition = _decide(qp, lot)
    lot.refresh_from_db()
    assert (disposition.status, lot.status) == ("released", "released")
    assert Signature.objects.filter(signer=qp, meaning="QA Released",
                                    record_type__in=("release.disposition", "materials.lot")).count() == 2


@pytest.mark.django_db
def test_a_lot_rejected_through_its_disposition_is_rejected_and_cannot_be_conditionally_released(quarantined):
    lot, qp = quarantined["lot"], quarantined["qp"]
    _refused(qp, lot, "conditional release is for batches", decision="conditional_release",
             risk_assessment="Needed now.")
    disposition = _decide(qp, lot, "reject", comment="Certificate does not match the supplier lot.")
    lot.refresh_from_db()
    assert (disposition.status, lot.status) == ("rejected", "rejected")


@pytest.mark.django_db
def test_a_lot_without_incoming_specification_is_released_on_its_certificate(sponsor_a):
    qa = materials.person("lot.qa", Role.QA_SPECIALIST)
    handler = materials.person("lot.handler", Role.MATERIAL_HANDLER)
    materials.location(qa)
    lot = materials.receive(handler, materials.material(qa, "PBS-1", name="PBS"))
    states = {p.name: p.state for p in selectors.lot_prerequisites(lot)}
    assert states["Incoming tests"] == "not_applicable" and states["Supplier certificate on file"] == "met"
    assert _decide(qa, lot).status == "released"  # materials.disposition: the QA specialist decides lots


# --- Release for shipment -------------------------------------------------------------------------

@pytest.mark.django_db
def test_release_for_shipment_is_refused_before_the_batch_disposition(ready):
    from opencdmo.identity import services as identity_services  # noqa: PLC0415
    from tests.identity import builders as identity  # noqa: PLC0415

    order = TherapyOrder.objects.get(coi=ready.batch.patient_reference)
    [unit] = identity.filled(order)
    sponsor = ready.sponsor
    identity_services.hand_over(identity.handler(sponsor), unit, "final_labeling", scanned=identity.unit_scan(unit),
                                **identity.verified(identity.second(sponsor)))
    with pytest.raises(RuleViolation, match=f"{ready.batch.number} waits for QA disposition"):
        identity_services.hand_over(identity.qa(sponsor), unit, "release_for_shipment",
                                    scanned=identity.unit_scan(unit), **identity.verified(identity.second(sponsor)))
    _decide(ready.qa_approver, ready.batch)
    event = identity_services.hand_over(identity.qa(sponsor), unit, "release_for_shipment",
                                        scanned=identity.unit_scan(unit), **identity.verified(identity.second(sponsor)))
    assert event.unit.status == "released"
