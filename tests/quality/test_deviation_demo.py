"""The demo's deviations and CAPAs: built through the services, in every state the pages show."""

import pytest

from opencdmo.core import services as core_services
from opencdmo.demo.management.commands.seed_demo import DEMO_USERS
from opencdmo.quality import demo, selectors
from opencdmo.quality.models import Capa, Deviation, DueDateExtension
from opencdmo.sponsors.models import Sponsor
from tests.conftest import PASSWORD


@pytest.fixture
def demo_world(db):
    sponsors = {code: Sponsor.objects.create(code=code, name=code.title()) for code in ("HELIX", "NORDV", "STROMA")}
    users = {}
    for username, name, roles, access in DEMO_USERS:
        ids = [s.pk for s in sponsors.values()] if access == "all" else [sponsors[c].pk for c in access]
        users[username] = core_services.create_user(None, username=username, full_name=name, password=PASSWORD,
                                                    roles=[r.value for r in roles], sponsor_ids=ids)
    demo.seed(users, sponsors, password=PASSWORD)
    return users


def test_the_demo_has_deviations_and_capas_in_every_state(demo_world):
    states = set(Deviation.objects.values_list("status", flat=True))
    assert states == {"open", "investigation", "closure_review", "closed", "cancelled"}
    assert set(Capa.objects.values_list("status", flat=True)) == {"draft", "implementing", "effectiveness_check",
                                                                  "closed"}
    assert DueDateExtension.objects.get().status == "approved"
    qa = demo_world["qa.patel"]
    assert selectors.deviations_for(qa, overdue=True).exists()
    trend = selectors.deviation_trend(qa)
    assert dict(trend["by_area"])["B-101"] >= 3 and sum(n for _, n in trend["by_month"]) == trend["total"]
    helix = demo_world["helix.quality"]
    assert not selectors.deviations_for(helix).filter(sponsor__code="NORDV").exists()
