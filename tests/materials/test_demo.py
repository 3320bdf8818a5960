"""The materials demo data, built through the services: one expired lot, one in quarantine,
released lots with QA signatures, issued stock — and an intact audit trail."""

import pytest

from opencdmo.core import services as core_services
from opencdmo.core.domain.roles import Role
from opencdmo.core.models import Signature
from opencdmo.core.verification import verify_audit_trail
from opencdmo.demo.management.commands.seed_demo import DEMO_PASSWORD
from opencdmo.materials import demo, selectors
from opencdmo.materials.models import InventoryTransaction, Lot
from opencdmo.sponsors.models import Sponsor

PEOPLE = [("qa.patel", Role.QA_SPECIALIST), ("qp.dubois", Role.QA_APPROVER), ("mh.mueller", Role.MATERIAL_HANDLER),
          ("op.olsen", Role.OPERATOR), ("sup.santos", Role.SUPERVISOR)]


@pytest.fixture
def seeded(db):
    sponsors = {code: Sponsor.objects.create(code=code, name=f"{code} demo sponsor")
                for code in ("HELIX", "NORDV", "STROMA")}
    users = {name: core_services.create_user(None, username=name, full_name=name.title(), password=DEMO_PASSWORD,
                                             roles=[role.value], sponsor_ids=[s.pk for s in sponsors.values()])
             for name, role in PEOPLE}
    demo.seed(users, sponsors)
    return users


def test_the_demo_password_is_the_demo_commands(seeded):
    assert demo.PASSWORD == DEMO_PASSWORD


def test_the_demo_has_one_expired_lot_and_one_in_quarantine(seeded):
    qa = seeded["qa.patel"]
    lots = list(selectors.lots_for(qa))

    expired = [lot for lot in lots if selectors.lot_status(lot) == "expired"]
    quarantined = [lot for lot in lots if selectors.lot_status(lot) == "quarantine"]

    assert len(expired) == 1 and expired[0].total > 0 and expired[0].material.code == "IL2-RH"
    assert len(quarantined) == 1 and quarantined[0].material.code == "LV-CD19"
    assert {selectors.lot_status(lot) for lot in lots} == {"released", "quarantine", "expired", "on_hold", "rejected"}


def test_demo_lots_were_released_by_qa_never_by_their_receiver(seeded):
    released = Signature.objects.filter(meaning="QA Released")

    assert released.count() >= 10
    for signature in released:
        lot = Lot.objects.get(pk=signature.record_id)
        assert signature.signer_id != lot.created_by_id
        assert signature.signer.username in ("qa.patel", "qp.dubois")


def test_demo_stock_was_issued_and_the_audit_trail_is_intact(seeded):
    assert InventoryTransaction.objects.filter(kind="issue").count() >= 7
    assert InventoryTransaction.objects.filter(kind="return").exists()
    result = verify_audit_trail()
    assert result.intact, result.first_break
