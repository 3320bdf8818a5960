"""The demo dispositions, on the whole `seed-demo` seeded once for this module (see tests/qc/test_demo.py):
the reviewed CAR-T batch conditionally released by a QP who did not make it, with the pending
sterility recorded and printed on its certificate of analysis; the AAV batch's disposition open,
its prerequisites red; neither visible to the other sponsor."""

import io
import re

import pytest
from pypdf import PdfReader

from opencdmo.batches.models import Batch
from opencdmo.core.errors import NotFound, RuleViolation
from opencdmo.core.models import Signature
from opencdmo.core.signatures import SignatureInput
from opencdmo.demo.management.commands.seed_demo import DEMO_PASSWORD
from opencdmo.release import certificates, selectors, services
from opencdmo.release.domain.prerequisites import MET, PENDING, UNMET
from opencdmo.release.models import Disposition
from tests.qc.test_demo import DEMO_NOW, seeded_demo

# One seeded demo per module: its tests stay together on one xdist worker.
pytestmark = pytest.mark.xdist_group("release_demo")


@pytest.fixture(scope="module")
def demo(django_db_setup, django_db_blocker):
    with seeded_demo(django_db_blocker) as seeded:
        yield seeded


@pytest.fixture
def users(demo, db):
    from opencdmo.core import clock  # noqa: PLC0415
    from tests.conftest import FakeClock  # noqa: PLC0415

    with clock.use_clock(FakeClock(DEMO_NOW)):
        yield demo[1]


def pdf_text(pdf: bytes) -> str:
    return re.sub(r"\s+", " ", " ".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages))


def car_t_disposition() -> Disposition:
    return Disposition.objects.get(subject_ref=Batch.objects.get(product__code="HLX-101", status="reviewed").number)


def test_the_car_t_batch_is_conditionally_released_by_a_qp_who_did_not_make_it(users):
    qp = users["qp.dubois"]
    disposition = car_t_disposition()
    batch = selectors.subject_of(disposition)
    assert disposition.status == "conditionally_released" and disposition.decided_by == qp
    assert not selectors.performed_by(batch, qp)
    assert [p["attribute"] for p in disposition.pending_tests] == ["Sterility"]
    assert "Gram stain of the final product negative" in disposition.risk_assessment
    shown = {p["name"]: p["state"] for p in disposition.prerequisites}
    assert shown["Release tests"] == PENDING
    assert {state for name, state in shown.items() if name != "Release tests"} <= {MET, "not_applicable"}
    signature = Signature.objects.get(record_type="release.disposition", record_id=str(disposition.pk))
    assert (signature.signer, signature.meaning) == (qp, "QA Released")


def test_its_certificate_of_analysis_renders_with_the_pending_sterility(users):
    disposition = car_t_disposition()
    text = pdf_text(certificates.batch_certificate(users["helix.quality"], disposition.subject_ref))
    assert disposition.subject_ref in text and "Claire Dubois" in text
    assert "Pending at the time of issue: Sterility" in text
    assert "Viability" in text and "91.4" in text


def test_the_aav_batch_disposition_is_open_with_red_prerequisites(users):
    aav = Batch.objects.get(product__code="NVG-201")
    disposition = selectors.disposition_of(aav)
    assert disposition.status == "open"
    states = {p.name: p for p in selectors.prerequisites_of(aav)}
    assert states["Batch record reviewed"].state == UNMET
    assert states["Release tests"].state == UNMET and "Full capsids" in states["Release tests"].detail
    assert states["OOS investigations closed"].state == UNMET
    qp = users["qp.dubois"]
    # Opened by QA, it waits in the Disposition list although the review is not signed yet.
    assert aav.number in [row["reference"] for row in selectors.awaiting_for(qp)]
    with pytest.raises(RuleViolation, match="Batch record reviewed"):
        services.decide(qp, disposition, "release",
                        signature=SignatureInput(meaning="QA Released", password=DEMO_PASSWORD, username=qp.username))


def test_each_sponsor_viewer_sees_only_its_own_dispositions(users):
    helix, nord = users["helix.quality"], users["nordvector.quality"]
    car_t = car_t_disposition()
    assert list(selectors.dispositions_for(helix)) == [car_t]
    assert list(selectors.dispositions_for(nord)) == []
    assert [d.sponsor.code for d in selectors.dispositions_for(nord, status="open")] == ["NORDV"]
    with pytest.raises(NotFound):
        selectors.disposition(nord, car_t.number)
    with pytest.raises(NotFound):
        certificates.batch_certificate(nord, car_t.subject_ref)
