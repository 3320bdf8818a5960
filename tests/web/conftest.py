"""Fixtures for the pages and the HTTP API: two sponsors with records of every registered kind,
users signed in through the session or a personal API token."""

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from opencdmo.core import registry, services
from opencdmo.core.domain.roles import Role
from opencdmo.core.models import Attachment
from tests import factories

# WhiteNoise warns on every request when the static root of the (fresh) data folder is missing.
settings.STATIC_ROOT.mkdir(parents=True, exist_ok=True)

# Every role that opens a page or an endpoint: a user holding all of them is refused only
# by sponsor segregation, never by a missing permission.
EVERY_STAFF_ROLE = (Role.SYSTEM_ADMIN, Role.QA_SPECIALIST, Role.QA_APPROVER, Role.MATERIAL_HANDLER, Role.SUPERVISOR,
                    Role.QC_ANALYST, Role.QC_REVIEWER)


class LazyReferences(Mapping):
    """Record type name → reference, each record built the first time a test asks for it: most
    tests need one kind of record, and building all of them for two sponsors is most of their time."""

    def __init__(self, builders: dict[str, Callable[[], str]], built: dict[str, str]):
        self._builders = builders
        self._built = built

    def __getitem__(self, type_name: str) -> str:
        if type_name not in self._built:
            self._built[type_name] = self._builders[type_name]()
        return self._built[type_name]

    def __iter__(self):
        return iter({**self._built, **self._builders})

    def __len__(self) -> int:
        return len({**self._built, **self._builders})

    def built(self) -> dict[str, str]:
        """The records built so far: only they exist, so only they could leak."""
        return dict(self._built)


@dataclass
class SponsorRecords:
    """One sponsor's records, by the names the URLs use."""

    sponsor: object
    agreement: object  # in review, signed 'Authored', with an attachment
    attachment: Attachment
    author: object
    program_code: str = ""
    product_code: str = ""
    # record type name -> reference, for every registered kind of record
    references: LazyReferences = field(default_factory=lambda: LazyReferences({}, {}))

    @property
    def texts(self) -> list[str]:
        """Strings that name this sponsor's records: none may appear in another sponsor's view."""
        return [self.sponsor.code, self.sponsor.name, self.program_code, self.product_code,
                self.agreement.number, self.agreement.title, self.attachment.filename, self.attachment.sha256,
                *self.references.built().values()]


def attach(user, record, content: bytes = b"batch record scan", name: str = "scan.pdf") -> Attachment:
    upload = SimpleUploadedFile(name, content, content_type="application/pdf")
    return services.add_attachment(user, record, upload, description=f"{name} for {record}")


def _deviation(author, sponsor, title: str) -> str:
    from opencdmo.quality import services as quality_services  # noqa: PLC0415

    return quality_services.raise_deviation(
        author, title=f"Deviation: {title}", description="Seal of the transfer bag found open.",
        source="manual", sponsor=sponsor).number


# How to make one record of each registered kind for a sponsor: (author, sponsor, title) → reference.
# A kind registered without a builder here fails test_every_kind_of_record_has_records_of_both_sponsors.
def _lot(author, sponsor, title: str) -> str:
    from tests.materials.builders import lot_for_sponsor  # noqa: PLC0415

    return lot_for_sponsor(author, sponsor, title)


# Documents and training: a sponsor's effective specification, and a trainee's assignment on it.
def _document(author, sponsor, title: str) -> str:
    from tests.documents.builders import sponsor_specification  # noqa: PLC0415

    return sponsor_specification(author, sponsor, title)[0].number


def _document_version(author, sponsor, title: str) -> str:
    from opencdmo.documents.models import DocumentVersion  # noqa: PLC0415
    from tests.documents.builders import sponsor_specification  # noqa: PLC0415

    existing = DocumentVersion.objects.filter(document__sponsor=sponsor).first()
    return (existing or sponsor_specification(author, sponsor, title)[1]).number


def _training_assignment(author, sponsor, title: str) -> str:
    from tests.documents.builders import sponsor_training  # noqa: PLC0415

    return sponsor_training(author, sponsor, title).number


def _capa(author, sponsor, title: str) -> str:
    from tests.quality.builders import capa_for_sponsor  # noqa: PLC0415

    return capa_for_sponsor(author, sponsor, title)


def _extension(author, sponsor, title: str) -> str:
    from tests.quality.builders import extension_for_sponsor  # noqa: PLC0415

    return extension_for_sponsor(author, sponsor, title)


# --- Change control / Risk assessment ---
def _change(author, sponsor, title: str) -> str:
    from tests.quality.change_builders import change_for_sponsor  # noqa: PLC0415

    return change_for_sponsor(author, sponsor, title)


def _sponsor_approval(author, sponsor, title: str) -> str:
    from tests.quality.change_builders import sponsor_approval_for_sponsor  # noqa: PLC0415

    return sponsor_approval_for_sponsor(author, sponsor, title)


def _risk_assessment(author, sponsor, title: str) -> str:
    from tests.quality.change_builders import risk_assessment_for_sponsor  # noqa: PLC0415

    return risk_assessment_for_sponsor(author, sponsor, title)


def _mbr(author, sponsor, title: str) -> str:
    from tests.processes.builders import mbr_for_sponsor  # noqa: PLC0415

    return mbr_for_sponsor(author, sponsor, title)


def _mbr_version(author, sponsor, title: str) -> str:
    from tests.processes.builders import version_for_sponsor  # noqa: PLC0415

    return version_for_sponsor(author, sponsor, title)


def _batch(author, sponsor, title: str) -> str:
    from tests.batches.builders import batch_for_sponsor  # noqa: PLC0415

    return batch_for_sponsor(author, sponsor, title)


def _batch_sample(author, sponsor, title: str) -> str:
    from tests.batches.builders import sample_for_sponsor  # noqa: PLC0415

    return sample_for_sponsor(author, sponsor, title)


def _patient(author, sponsor, title: str) -> str:
    from tests.identity.builders import patient_for_sponsor  # noqa: PLC0415

    return patient_for_sponsor(author, sponsor, title)


def _therapy_order(author, sponsor, title: str) -> str:
    from tests.identity.builders import order_for_sponsor  # noqa: PLC0415

    return order_for_sponsor(author, sponsor, title)


def _collection(author, sponsor, title: str) -> str:
    from tests.identity.builders import collection_for_sponsor  # noqa: PLC0415

    return collection_for_sponsor(author, sponsor, title)


def _unit(author, sponsor, title: str) -> str:
    from tests.identity.builders import stored_unit_for_sponsor  # noqa: PLC0415

    return stored_unit_for_sponsor(author, sponsor, title)


def _shipment(author, sponsor, title: str) -> str:
    from tests.identity.builders import shipment_for_sponsor  # noqa: PLC0415

    return shipment_for_sponsor(author, sponsor, title)


# --- QC laboratory: a draft specification, a received sample, an entered result, an open OOS
# investigation, an active stability study (tests/qc/) ---
def _qc_specification(author, sponsor, title: str) -> str:
    from tests.qc.test_specifications import specification_for_sponsor  # noqa: PLC0415

    return specification_for_sponsor(author, sponsor, title)


def _qc_sample(author, sponsor, title: str) -> str:
    from tests.qc.builders import sample_for_sponsor  # noqa: PLC0415

    return sample_for_sponsor(author, sponsor, title)


def _qc_result(author, sponsor, title: str) -> str:
    from tests.qc.builders import result_for_sponsor  # noqa: PLC0415

    return result_for_sponsor(author, sponsor, title)


def _qc_investigation(author, sponsor, title: str) -> str:
    from tests.qc.builders import investigation_for_sponsor  # noqa: PLC0415

    return investigation_for_sponsor(author, sponsor, title)


def _qc_stability_study(author, sponsor, title: str) -> str:
    from tests.qc.test_stability import study_for_sponsor  # noqa: PLC0415

    return study_for_sponsor(author, sponsor, title)


# --- Disposition: an open disposition of a quarantined lot, a post-release notice (tests/release/) ---
def _disposition(author, sponsor, title: str) -> str:
    from tests.release.builders import lot_disposition_for_sponsor  # noqa: PLC0415

    return lot_disposition_for_sponsor(author, sponsor, title)


def _post_release_notice(author, sponsor, title: str) -> str:
    from tests.release.builders import lot_notice_for_sponsor  # noqa: PLC0415

    return lot_notice_for_sponsor(author, sponsor, title)


RECORD_BUILDERS = {
    "identity.patient": _patient,
    "identity.therapyorder": _therapy_order,
    "identity.collection": _collection,
    "identity.unit": _unit,
    "identity.shipment": _shipment,
    "batches.batch": _batch,
    "batches.batchsample": _batch_sample,
    "processes.masterbatchrecord": _mbr,
    "processes.mbrversion": _mbr_version,
    "quality.changecontrol": _change,
    "quality.sponsorapproval": _sponsor_approval,
    "quality.riskassessment": _risk_assessment,
    "quality.deviation": _deviation,
    "quality.capa": _capa,
    "quality.duedateextension": _extension,
    "materials.lot": _lot,
    "documents.document": _document,
    "documents.documentversion": _document_version,
    "training.trainingassignment": _training_assignment,
    "qc.specification": _qc_specification,
    "qc.sample": _qc_sample,
    "qc.testresult": _qc_result,
    "qc.oosinvestigation": _qc_investigation,
    "qc.stabilitystudy": _qc_stability_study,
    "release.disposition": _disposition,
    "release.postreleasenotice": _post_release_notice,
}


def _records_of(make_user, sponsor, prefix: str, title: str) -> SponsorRecords:
    author = make_user(f"{prefix}.author", Role.QA_SPECIALIST, sponsors=[sponsor])
    agreement = factories.submitted_agreement(author, sponsor, title=title)
    attachment = attach(author, agreement, content=f"{title} annex".encode(), name=f"{prefix}-annex.pdf")
    program = sponsor.programs.get()
    builders = {
        kind.type_name: functools.partial(RECORD_BUILDERS[kind.type_name], author, sponsor, title)
        for kind in registry.kinds()
        if getattr(kind.model, "sponsor_scope", None) is not None and kind.type_name in RECORD_BUILDERS
    }
    references = LazyReferences(builders, {"sponsors.qualityagreement": agreement.number})
    return SponsorRecords(
        sponsor=sponsor, agreement=agreement, attachment=attachment, author=author,
        program_code=program.code, product_code=program.products.get().code, references=references,
    )


@pytest.fixture
def records_a(make_user, sponsor_a):
    return _records_of(make_user, sponsor_a, "acme", "Acme quality agreement for CD19 CAR-T supply")


@pytest.fixture
def records_b(make_user, sponsor_b):
    return _records_of(make_user, sponsor_b, "beta", "Beta confidential agreement for AAV9 vector")


@pytest.fixture
def user_a(make_user, sponsor_a):
    """Holds every staff role, but is assigned to sponsor A only."""
    return make_user("only.acme", *EVERY_STAFF_ROLE, sponsors=[sponsor_a])


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def bearer(user, name: str = "integration") -> dict:
    """Headers that authenticate as `user` with a new personal API token."""
    return {"Authorization": f"Bearer {services.create_api_token(user, name=name)}"}
