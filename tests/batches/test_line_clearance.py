"""A line clearance made on its page for a batch (named by number) is the one the batch's start checks."""

import pytest
from django.test import Client
from django.urls import reverse

from opencdmo.batches import services
from opencdmo.facilities import services as facilities_services
from opencdmo.facilities.models import LineClearance
from tests.facilities.factories import CLEAR
from tests.factories import signature

from . import builders


@pytest.mark.req("P11-1f")
def test_a_clearance_for_a_batch_number_lets_that_batch_start(world):
    batch = builders.plan(world, cleared=False)
    client = Client()
    client.force_login(world.operator)
    page = reverse("facilities:line_clearance_new", args=[batch.room.code])
    assert batch.number in client.get(f"{page}?for_record={batch.number}").content.decode()  # the batch page's link

    form = {"for_record": batch.number, "item": [c["item"] for c in CLEAR], "ok": [str(i) for i in range(len(CLEAR))]}
    assert client.post(page, form).status_code == 302
    clearance = LineClearance.objects.get(for_record=batch.number)
    assert (clearance.for_record_type, clearance.for_record_id) == ("batches.batch", str(batch.pk))
    facilities_services.transition_line_clearance(world.operator, clearance, "perform",
                                                  signature=signature(world.operator, "Performed"))
    facilities_services.transition_line_clearance(world.supervisor, clearance, "verify",
                                                  signature=signature(world.supervisor, "Verified"))
    assert services.transition_batch(world.operator, batch, "start").status == "in_progress"


def test_a_clearance_for_a_campaign_names_no_batch(world):
    client = Client()
    client.force_login(world.operator)
    form = {"for_record": "HLX-101 campaign week 12", "item": [c["item"] for c in CLEAR], "ok": ["0", "1"]}
    client.post(reverse("facilities:line_clearance_new", args=[world.room.code]), form)
    assert LineClearance.objects.get(for_record="HLX-101 campaign week 12").for_record_type == ""
