"""The demo's documents and training: built through the services, telling the story the demo promises."""

import pytest

from opencdmo.core import services as core_services
from opencdmo.core.verification import verify_audit_trail
from opencdmo.demo.management.commands import seed_demo
from opencdmo.documents import demo as documents_demo
from opencdmo.documents import selectors as document_selectors
from opencdmo.documents.models import Document, DocumentVersion
from opencdmo.sponsors import services as sponsor_services
from opencdmo.training import demo as training_demo
from opencdmo.training import selectors
from opencdmo.training.models import TrainingAssignment

NEEDED = ("admin", "sup.santos", "qa.patel", "qp.dubois", "op.olsen", "op.garcia", "op.locked", "qc.chen",
          "helix.quality")


@pytest.fixture
def demo(db, fake_clock):
    users = {}
    for username, name, roles, _ in seed_demo.DEMO_USERS:
        if username in NEEDED:
            users[username] = core_services.create_user(
                None, username=username, full_name=name, password=seed_demo.DEMO_PASSWORD, roles=roles)
    helix = sponsor_services.create_sponsor(users["admin"], code="HELIX", name="Helix Cell Therapeutics")
    for user in users.values():
        user.sponsors.add(helix)
        user.forget_cached_access()
    documents_demo.seed(users, {"HELIX": helix}, password=seed_demo.DEMO_PASSWORD)
    training_demo.seed(users, {"HELIX": helix}, password=seed_demo.DEMO_PASSWORD)
    documents_demo.seed_revisions(users, password=seed_demo.DEMO_PASSWORD)
    training_demo.seed_recent(users, password=seed_demo.DEMO_PASSWORD)
    return users


def test_the_demo_users_it_needs_exist_in_seed_demo():
    assert set(NEEDED) <= {username for username, *_ in seed_demo.DEMO_USERS}


def test_the_demo_documents_have_history_an_upcoming_version_and_one_in_review(demo):
    status = dict(DocumentVersion.objects.values_list("number", "status"))
    assert status["SOP-0001-v1.0"] == "superseded" and status["SOP-0001-v2.0"] == "effective"
    assert status["SOP-0003-v1.1"] == "effective"
    assert status["SOP-0004-v2.0"] == "approved" and status["SOP-0008-v2.0"] == "in_review"
    spec = Document.objects.get(number="SPEC-0001")
    assert spec.sponsor.code == "HELIX"
    overdue = [d.number for d in document_selectors.review_overdue(demo["qa.patel"])]
    assert overdue == ["SOP-0005", "SPEC-0001"]  # reviewed every 12 months, in force for 13


def test_the_matrix_tells_who_is_trained_and_who_is_overdue(demo):
    olsen, garcia, locked = demo["op.olsen"], demo["op.garcia"], demo["op.locked"]
    gowning = Document.objects.get(title="Gowning for grade B cleanrooms")
    assert selectors.is_trained(olsen, gowning)
    assert "not trained on SOP-0001 v2.0 (assigned, due" in selectors.training_gap(garcia, gowning)
    assert "overdue" in selectors.training_gap(garcia, gowning)
    assert not selectors.is_trained(locked, gowning)
    assert TrainingAssignment.objects.filter(document_version__number="SOP-0004-v2.0", status="assigned").count() == 3
    columns, rows = selectors.training_matrix(demo["qa.patel"], role="operator")
    states = {state for row in rows for state in row.cells}
    assert {"trained", "overdue"} <= states


def test_the_demo_audit_trail_is_intact(demo):
    assert verify_audit_trail().intact
