"""The demo's change controls and FMEA: built through the services, in the states the pages show."""

import pytest

from opencdmo.core import services as core_services
from opencdmo.core.tasks import tasks_for
from opencdmo.demo.management.commands.seed_demo import DEMO_USERS
from opencdmo.quality import demo
from opencdmo.quality.models import ChangeControl, RiskAssessment
from opencdmo.sponsors.models import Sponsor
from tests.conftest import PASSWORD
from tests.quality.change_builders import agreement_requiring_approval


@pytest.fixture
def demo_world(db):
    sponsors = {code: Sponsor.objects.create(code=code, name=code.title()) for code in ("HELIX", "NORDV", "STROMA")}
    users = {}
    for username, name, roles, access in DEMO_USERS:
        ids = [s.pk for s in sponsors.values()] if access == "all" else [sponsors[c].pk for c in access]
        users[username] = core_services.create_user(None, username=username, full_name=name, password=PASSWORD,
                                                    roles=[r.value for r in roles], sponsor_ids=ids)
    agreement_requiring_approval(sponsors["HELIX"])  # as seed_demo approves Helix's agreement
    demo.seed_changes_and_risk(users, sponsors, password=PASSWORD)
    return users


@pytest.mark.req("Q10-1")
def test_the_demo_has_a_change_awaiting_helix_one_in_implementation_and_one_closed(demo_world):
    assert sorted(ChangeControl.objects.values_list("status", flat=True)) == [
        "awaiting_approval", "closed", "implementation"]
    waiting = ChangeControl.objects.get(status="awaiting_approval")
    assert waiting.sponsor_approvals.get().sponsor.code == "HELIX"
    assert [t.title for t in tasks_for(demo_world["helix.quality"])] == [
        "Approve or reject the change for your sponsor"]
    assert not tasks_for(demo_world["nordvector.quality"])


@pytest.mark.req("QRM-1")
def test_the_demo_fmea_is_approved_with_mitigations_and_residual_scores(demo_world):
    fmea = RiskAssessment.objects.get()
    rows = list(fmea.failure_modes.all())
    assert fmea.status == "approved" and 10 <= len(rows) <= 15
    assert all(r.residual_rpn < r.rpn for r in rows if r.residual_rpn is not None)
    assert sum(r.residual_rpn is not None for r in rows) >= 10
