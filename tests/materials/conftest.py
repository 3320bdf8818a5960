"""Fixtures for the materials tests: the people of the warehouse and QA, master data, lots."""

from dataclasses import dataclass

import pytest
from django.db.models import Sum

from opencdmo.core.domain.roles import Role
from opencdmo.core.models import Attachment, AuditEvent, Signature
from opencdmo.materials.models import GenealogyLink, InventoryLocation, InventoryTransaction, Lot, LotBalance
from opencdmo.quality.models import Deviation

from . import builders


@pytest.fixture
def qa(make_user, sponsor_a):
    """QA specialist: master data and disposition."""
    return make_user("qa.patel", Role.QA_SPECIALIST, sponsors=[sponsor_a])


@pytest.fixture
def qp(make_user, sponsor_a):
    return make_user("qp.dubois", Role.QA_APPROVER, sponsors=[sponsor_a])


@pytest.fixture
def handler(make_user, sponsor_a):
    return make_user("mh.mueller", Role.MATERIAL_HANDLER, sponsors=[sponsor_a])


@pytest.fixture
def operator(make_user, sponsor_a):
    return make_user("op.olsen", Role.OPERATOR, sponsors=[sponsor_a])


@pytest.fixture
def store(qa):
    return {
        "quarantine": builders.location(qa, "QUAR-01", InventoryLocation.Kind.QUARANTINE),
        "cold": builders.location(qa, "WH-COLD", InventoryLocation.Kind.COLD),
        "ult": builders.location(qa, "ULT-80-01", InventoryLocation.Kind.ULT),
        "production": builders.location(qa, "PROD-B", InventoryLocation.Kind.PRODUCTION),
    }


@pytest.fixture
def medium(qa, store):
    """The CDMO's own T-cell medium, counted in mL, from one approved supplier."""
    return builders.material(qa)


@pytest.fixture
def vector(qa, store, sponsor_a):
    """Acme's lentiviral vector, supplied by the sponsor."""
    return builders.material(qa, "LV-CD19", name="Lentiviral vector anti-CD19 CAR", sponsor=sponsor_a,
                             category="critical_reagent", storage="ult",
                             suppliers=[builders.supplier(qa, "ACMESUP", "Acme (sponsor-supplied)",
                                                          sponsor=sponsor_a)])


@pytest.fixture
def quarantined(handler, medium, fake_clock):
    return builders.receive(handler, medium, quantity="10", unit="L", containers=10)


@pytest.fixture
def released(quarantined, qa, handler, store):
    """10 L of medium, released by QA and put away in the cold room."""
    from opencdmo.materials import services  # noqa: PLC0415

    lot = builders.release(qa, quarantined)
    services.transfer_lot(handler, lot, from_location=store["quarantine"], to_location=store["cold"],
                          quantity="10", unit="L", reason="put away")
    lot.refresh_from_db()
    return lot


def written() -> dict:
    """Everything a materials action could write: compared before and after a refused action."""
    return {
        "events": AuditEvent.objects.count(),
        "signatures": Signature.objects.count(),
        "attachments": Attachment.objects.count(),
        "lots": sorted(Lot.objects.values_list("number", "status", "version")),
        "transactions": InventoryTransaction.objects.count(),
        "balances": sorted((b.lot_id, b.location_id, str(b.quantity)) for b in LotBalance.objects.all()),
        "stock": str(LotBalance.objects.aggregate(total=Sum("quantity"))["total"]),
        "links": GenealogyLink.objects.count(),
        "deviations": Deviation.objects.count(),
    }


@dataclass
class MaterialsWorld:
    """One sponsor's materials records, by the names the URLs use (the shape tests/web's view tests expect)."""

    sponsor: object
    author: object
    lot: Lot
    material_code: str

    @property
    def texts(self) -> list[str]:
        return [self.lot.number, self.material_code, self.lot.supplier_lot]


def _world(sponsor) -> MaterialsWorld:
    number = builders.lot_for_sponsor(None, sponsor, "view tests")
    lot = Lot.objects.get(number=number)
    author = builders.person(f"{sponsor.code.lower()}.lotqa")
    return MaterialsWorld(sponsor=sponsor, author=author, lot=lot, material_code=lot.material.code)


@pytest.fixture
def records_a(sponsor_a):
    """Sponsor A's materials records (the fixture name tests/web/viewtests.py uses)."""
    return _world(sponsor_a)


@pytest.fixture
def records_b(sponsor_b):
    return _world(sponsor_b)


@pytest.fixture
def api_urls(settings):
    """The URLs with the materials API mounted (tests/materials/urls.py), until /api/v1 has it."""
    settings.ROOT_URLCONF = "tests.materials.urls"
