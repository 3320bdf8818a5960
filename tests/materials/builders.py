"""Realistic materials records built through the services, as the people of a CDMO would build them.

`lot_for_sponsor` has the signature of tests/web/conftest.py RECORD_BUILDERS, so the shared
segregation probes cover lots too.
"""

import datetime as dt
import itertools

from django.core.files.uploadedfile import SimpleUploadedFile

from opencdmo.core import clock
from opencdmo.core import services as core_services
from opencdmo.core.domain.roles import Role
from opencdmo.core.models import User
from opencdmo.materials import services
from opencdmo.materials.models import InventoryLocation, Material, Supplier
from opencdmo.materials.selectors import site_date
from tests.conftest import PASSWORD
from tests.factories import signature

_supplier_lots = itertools.count(1001)


def person(username: str, *roles: Role, sponsors=()) -> User:
    """A user with these roles and sponsors (reused when the user ID exists already)."""
    found = User.objects.filter(username=username).first()
    if found is not None:
        return found
    return core_services.create_user(None, username=username, full_name=username.replace(".", " ").title(),
                                     password=PASSWORD, roles=[r.value for r in roles],
                                     sponsor_ids=[s.pk for s in sponsors])


def supplier(qa, code: str = "CELLMED", name: str = "CellMed Media Systems", *, sponsor=None) -> Supplier:
    return (Supplier.objects.filter(code=code).first()
            or services.create_supplier(qa, code=code, name=name, sponsor=sponsor))


def location(qa, code: str = "QUAR-01", kind: str = InventoryLocation.Kind.QUARANTINE,
             name: str = "") -> InventoryLocation:
    return (InventoryLocation.objects.filter(code=code).first()
            or services.create_location(qa, code=code, name=name or f"{kind} {code}", kind=kind))


def material(qa, code: str = "TCM-SF", *, name: str = "Serum-free T-cell expansion medium", unit: str = "mL",
             sponsor=None, suppliers=None, category: str = Material.Category.RAW_MATERIAL,
             storage: str = Material.Storage.REFRIGERATED) -> Material:
    found = Material.objects.filter(code=code).first()
    if found is not None:
        return found
    return services.create_material(qa, code=code, name=name, category=category, storage=storage, unit=unit,
                                    shelf_life_after_opening_days=30, sponsor=sponsor,
                                    suppliers=suppliers if suppliers is not None else [supplier(qa)])


def certificate(name: str = "CoA.pdf", content: bytes = b"%PDF-1.4 certificate of analysis") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type="application/pdf")


def receive(handler, of: Material, *, quantity="100", unit: str = "", supplier_lot: str | None = None,
            into: InventoryLocation | None = None, expires_in_days: int | None = 365, containers: int = 2,
            with_certificate: bool = True, retest_in_days: int | None = None):
    today = site_date(clock.now())
    return services.receive_lot(
        handler, material=of, supplier=of.approved_suppliers.first(),
        supplier_lot=supplier_lot or f"SL-{next(_supplier_lots)}", quantity=quantity, unit=unit,
        containers=containers, location=into or InventoryLocation.objects.get(code="QUAR-01"),
        expiry_date=today + dt.timedelta(days=expires_in_days) if expires_in_days is not None else None,
        retest_date=today + dt.timedelta(days=retest_in_days) if retest_in_days is not None else None,
        certificate=certificate() if with_certificate else None)


def release(qa, lot, **kwargs):
    return services.transition_lot(qa, lot, "release", signature=signature(qa, "QA Released"), **kwargs)


def lot_for_sponsor(author, sponsor, title: str) -> str:
    """A released lot of a material the sponsor supplies, received and released by the sponsor's
    material handler and QA (RECORD_BUILDERS signature: (author, sponsor, title) → lot number)."""
    prefix = sponsor.code.lower()
    qa = person(f"{prefix}.lotqa", Role.QA_SPECIALIST, sponsors=[sponsor])
    handler = person(f"{prefix}.handler", Role.MATERIAL_HANDLER, sponsors=[sponsor])
    location(qa)
    vector = material(qa, f"LV-{sponsor.code}", name=f"Lentiviral vector for {title}"[:200], sponsor=sponsor,
                      category=Material.Category.CRITICAL_REAGENT, storage=Material.Storage.ULT,
                      suppliers=[supplier(qa, f"SUP-{sponsor.code}"[:16], f"{sponsor.name} (sponsor-supplied)",
                                          sponsor=sponsor)])
    lot = receive(handler, vector, quantity="12", supplier_lot=f"{sponsor.code}-LV-0001")
    return release(qa, lot).number
