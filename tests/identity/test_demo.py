"""The chain of custody demo, built through the services: one therapy's product labelled and frozen
and at risk of its collection-to-release window, one in manufacturing after a bag mix-up was
caught at receipt, one collection booked — and an intact audit trail."""

import pytest

from opencdmo.core import services as core_services
from opencdmo.core.domain.roles import Role
from opencdmo.core.verification import verify_audit_trail
from opencdmo.demo.management.commands.seed_demo import DEMO_PASSWORD
from opencdmo.facilities import services as facilities_services
from opencdmo.identity import demo, selectors
from opencdmo.identity.domain.vein_to_vein import State
from opencdmo.identity.models import Collection, CustodyEvent, Placement
from opencdmo.sponsors.models import Product, Program, Sponsor

PEOPLE = [("plan.kim", Role.PLANNER), ("qa.patel", Role.QA_SPECIALIST), ("mh.mueller", Role.MATERIAL_HANDLER),
          ("op.olsen", Role.OPERATOR), ("op.garcia", Role.OPERATOR), ("sup.santos", Role.SUPERVISOR)]


@pytest.fixture
def orders(db):
    helix = Sponsor.objects.create(code="HELIX", name="Helix Cell Therapeutics")
    program = Program.objects.create(sponsor=helix, code="HLX-CD19", name="CD19 CAR-T")
    Product.objects.create(program=program, code="HLX-101", name="Anti-CD19 CAR-T", modality="autologous_cell",
                           phase="phase_1")
    users = {name: core_services.create_user(None, username=name, full_name=name.title(), password=DEMO_PASSWORD,
                                             roles=[role.value], sponsor_ids=[helix.pk]) for name, role in PEOPLE}
    supervisor = users["sup.santos"]
    site = facilities_services.create_site(supervisor, code="S1", name="Demo site")
    area = facilities_services.create_area(supervisor, site=site, code="GEN", name="Staging")
    facilities_services.create_room(supervisor, area=area, code="D-002", name="Cold storage", grade="D")
    return users, demo.seed(users, {"HELIX": helix}, password=DEMO_PASSWORD)


def test_the_demo_follows_three_patients_from_vein_to_vein(orders):
    users, (first, second, third) = orders
    board = selectors.board(users["plan.kim"])
    assert [row.number for row in board] == [first.number, second.number, third.number]  # most urgent first
    assert [row.stage for row in board] == ["final_labeling", "issue_to_manufacturing", "ordered"]
    assert [row.flag for row in board] == [State.AT_RISK, None, None]  # 22 days since collection, release in 28
    assert Placement.objects.filter(unit__order=first, removed_at__isnull=True).count() == 2
    refused = CustodyEvent.objects.get(result="refused")
    assert (refused.order, refused.kind, refused.deviation.source) == (second, "receipt", "custody")
    assert Collection.objects.get(order=third).status == "booked"
    assert selectors.label_reconciliation(first).reconciled


def test_the_demo_audit_trail_is_intact(orders):
    result = verify_audit_trail()
    assert result.intact, result.first_break
