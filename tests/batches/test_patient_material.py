"""The batch record's chain of identity hook: a step handling an autologous patient's material is
completed only after the bag's chain of identity label is scanned and matches the batch's patient
(ISBT-6); another patient's label is refused, kept as a refused custody event with its deviation,
and an exception of the batch. A batch completed while its therapy's labels are not reconciled is
an exception too. And the batch links its patient into the genealogy, so a lot's recall reaches
the patients it touched."""

import io

import pypdf
import pytest
from django.urls import reverse

from opencdmo.batches import selectors, services
from opencdmo.batches.models import BatchException, BatchStep, PatientMaterialScan
from opencdmo.core.domain.roles import Role
from opencdmo.core.errors import NotFound, RuleViolation
from opencdmo.identity import services as identity_services
from opencdmo.identity.models import CustodyEvent, TherapyOrder, Unit
from opencdmo.identity.services import CustodyMismatch
from opencdmo.materials import selectors as materials_selectors
from tests.factories import signature
from tests.identity.test_label_prints import make_unit
from tests.web.conftest import records_a, signed_in  # noqa: F401

from . import builders
from .test_api import _Api
from .test_pages import batch_world

pytestmark = pytest.mark.django_db
STEPS = ("A1", "A2", "B1", "B2", "B3")


def _coi_label(coi: str) -> str:
    """The chain of identity barcode of the bag's label (DS040 with its data identifier)."""
    return f"&/{coi}"


def _scan(world, coi: str, key: str = "A1"):
    return services.scan_patient_material(world.operator, world.batch, key, scanned=_coi_label(coi),
                                          submission_id=builders.submission())


def _complete(world, key: str = "A1"):
    return services.complete_step(world.operator, world.batch, key, signature=signature(world.operator, "Performed"))


def _values(world, key: str = "A1") -> None:
    for parameter in world.definition.step(key).parameters:
        services.record_entry(world.operator, world.batch, key, parameter.id,
                              value=builders.good_value(parameter), submission_id=builders.submission())
    for entry in selectors.unverified_entries(world.batch):
        services.verify_entry(world.second_operator, entry, signature=signature(world.second_operator, "Verified"))


@pytest.mark.req("ISBT-6")
def test_the_patients_own_label_lets_the_patient_material_step_complete(started):
    w = started
    services.start_step(w.operator, w.batch, "A1")
    _values(w)
    with pytest.raises(RuleViolation, match="chain of identity label"):
        _complete(w)

    scan = _scan(w, w.batch.patient_reference)

    assert (scan.step.key, scan.scanned_by, scan.scanned) == ("A1", w.operator, _coi_label(w.batch.patient_reference))
    step = _complete(w)
    assert step.status == BatchStep.Status.COMPLETED
    assert w.operator.pk in selectors.performers(w.batch)
    record = selectors.batch_record(w.batch)
    [a1] = [s for stage in record["stages"] for s in stage["steps"] if s["key"] == "A1"]
    assert [i["scanned_by"]["username"] for i in a1["identity_scans"]] == [w.operator.username]


@pytest.mark.req("ISBT-6")
def test_a_retried_scan_returns_the_first_and_writes_nothing_twice(started):
    w = started
    services.start_step(w.operator, w.batch, "A1")
    submission = builders.submission()
    first = services.scan_patient_material(w.operator, w.batch, "A1", scanned=_coi_label(w.batch.patient_reference),
                                           submission_id=submission)
    again = services.scan_patient_material(w.operator, w.batch, "A1", scanned=_coi_label(w.batch.patient_reference),
                                           submission_id=submission)
    assert again == first and PatientMaterialScan.objects.count() == 1


@pytest.mark.req("ISBT-6")
def test_another_patients_label_is_refused_with_a_deviation_and_a_batch_exception(started):
    w = started
    other_patient = builders.therapy(w)  # a second patient of the same sponsor: their bag, mixed up
    services.start_step(w.operator, w.batch, "A1")
    _values(w)

    with pytest.raises(CustodyMismatch, match="another patient's") as refused:
        _scan(w, other_patient)

    assert not PatientMaterialScan.objects.exists()  # nothing verified
    event = CustodyEvent.objects.get(result=CustodyEvent.Result.REFUSED)
    assert event.order.coi == w.batch.patient_reference and event.deviation == refused.value.deviation
    exception = BatchException.objects.get(batch=w.batch, kind=BatchException.Kind.IDENTITY_MISMATCH)
    assert (exception.step.key, exception.deviation) == ("A1", refused.value.deviation)
    with pytest.raises(RuleViolation, match="chain of identity label"):
        _complete(w)  # still blocked
    assert w.batch.steps.get(key="A1").status == BatchStep.Status.IN_PROGRESS


def test_a_label_without_a_chain_of_identity_does_not_identify_the_patient(started):
    w = started
    services.start_step(w.operator, w.batch, "A1")
    with pytest.raises(RuleViolation, match="DIN alone"):
        services.scan_patient_material(w.operator, w.batch, "A1", scanned="=A99992600000100",
                                       submission_id=builders.submission())
    assert not PatientMaterialScan.objects.exists()


def test_steps_without_patient_material_and_batches_not_for_a_patient_need_no_scan(started, sponsor_b):
    w = started
    builders.run_step(w, "A1")
    services.start_step(w.operator, w.batch, "A2")
    with pytest.raises(RuleViolation, match="does not handle the patient's material"):
        _scan(w, w.batch.patient_reference, key="A2")
    for key in STEPS[1:]:
        builders.run_step(w, key)  # none of them scans: A1 alone handles the patient's material
    assert PatientMaterialScan.objects.filter(batch=w.batch).count() == 1

    vector = builders.world(sponsor_b, prefix="beta.")  # an AAV vector batch: made for no patient
    builders.start(vector)
    assert vector.batch.patient_reference == ""
    services.start_step(vector.operator, vector.batch, "A1")
    _values(vector)
    assert _complete(vector).status == BatchStep.Status.COMPLETED


def _order(world) -> TherapyOrder:
    return TherapyOrder.objects.get(coi=world.batch.patient_reference)


def _completed(world):
    for key in STEPS:
        builders.run_step(world, key)
    return services.transition_batch(world.operator, world.batch, "complete",
                                     signature=signature(world.operator, "Performed"))


def test_a_batch_completed_with_its_labels_not_reconciled_records_an_exception(started):
    w = started
    order = _order(w)
    bag = make_unit(w.operator, order, Unit.Kind.INTERMEDIATE_CONTAINER)
    identity_services.print_labels(w.operator, order, kind="intermediate_container", units=[bag], copies=3)

    batch = _completed(w)

    exception = BatchException.objects.get(batch=batch, kind=BatchException.Kind.LABEL_RECONCILIATION)
    assert "intermediate container: 3 of 3 unaccounted" in exception.description


def test_a_batch_completed_with_its_labels_reconciled_records_no_exception(started):
    w = started
    order = _order(w)
    bag = make_unit(w.operator, order, Unit.Kind.INTERMEDIATE_CONTAINER)
    [printed], _ = identity_services.print_labels(w.operator, order, kind="intermediate_container", units=[bag],
                                                  copies=2)
    identity_services.reconcile_labels(w.operator, printed, applied=1, destroyed=1)

    batch = _completed(w)

    assert not BatchException.objects.filter(batch=batch, kind=BatchException.Kind.LABEL_RECONCILIATION).exists()


def test_the_recall_of_a_lot_reaches_the_patients_it_touched_and_no_other_sponsor_sees_them(started, sponsor_b,
                                                                                          make_user):
    w = started
    patient = _order(w).patient
    for key in ("A1", "B1"):  # B1 uses the vector lot
        builders.run_step(w, key)

    found = materials_selectors.recall(w.qa, w.lot)

    [node] = [n for n in found.downstream if n.key == f"identity.patient:{patient.pk}"]
    assert node.label == f"{patient.number} ({patient.subject_id})"
    assert node.url == reverse("identity:patient", args=[patient.number])
    assert {n.key for n in found.downstream} == {f"batches.batch:{w.batch.pk}", node.key}

    other = make_user("qa.beta", Role.QA_SPECIALIST, sponsors=[sponsor_b])
    assert materials_selectors.recall(other, w.lot).downstream == []


class TestApiScanPatientMaterial(_Api):
    operation = ("POST", "/batches/{number}/steps/{key}/identity-scans")
    status = 201

    def data(self, world, user):
        return {"scanned": _coi_label(batch_world(world).batch.patient_reference),
                "submission_id": builders.submission()}


def test_the_operator_screen_asks_for_the_scan_and_shows_a_refusal(client, started):
    w = started
    services.start_step(w.operator, w.batch, "A1")
    client.force_login(w.operator)
    screen = reverse("batches:execute", args=[w.batch.number]) + "?step=A1"
    page = client.get(screen).content.decode()
    assert "Scan chain of identity label" in page and "data-focus-first" in page.split("Scan chain of identity")[1][:400]

    action = reverse("batches:step_action", args=[w.batch.number, "A1", "identity"])
    refused = client.post(action, {"scanned": _coi_label(builders.therapy(w)), "submission_id": builders.submission()})
    assert refused.status_code == 422
    assert 'role="alert"' in refused.content.decode() and "Deviation DEV-" in refused.content.decode()

    done = client.post(action, {"scanned": _coi_label(w.batch.patient_reference),
                                "submission_id": builders.submission()})
    assert done.status_code == 302 and PatientMaterialScan.objects.filter(batch=w.batch).exists()


def test_the_review_and_the_batch_record_pdf_show_the_identity_scans(client, started):
    w = started
    builders.run_step(w, "A1")
    client.force_login(w.qa)
    review = client.get(reverse("batches:review", args=[w.batch.number])).content.decode()
    assert "Chain of identity scans" in review and w.operator.full_name in review
    pdf = selectors.batch_record_pdf(w.batch, printed_by=w.qa)
    text = "".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(pdf)).pages)
    assert f"matched to {w.batch.patient_reference}" in " ".join(text.split())


def test_another_sponsors_operator_cannot_scan_the_batch(started, sponsor_b, make_user):
    w = started
    services.start_step(w.operator, w.batch, "A1")
    other = make_user("op.beta", Role.OPERATOR, sponsors=[sponsor_b])
    with pytest.raises(NotFound):
        services.scan_patient_material(other, w.batch, "A1", scanned=_coi_label(w.batch.patient_reference),
                                       submission_id=builders.submission())
    assert not PatientMaterialScan.objects.exists() and not CustodyEvent.objects.exists()


def test_the_batch_page_leads_to_the_therapy_it_is_made_for_and_its_timeline(started):
    w = started
    page = signed_in(w.operator).get(reverse("batches:batch", args=[w.batch.number])).content.decode()
    order = TherapyOrder.objects.get(coi=w.batch.patient_reference)
    assert reverse("identity:order", args=[order.number]) in page
    assert reverse("identity:timeline", args=[order.number]) in page
