"""In a real browser, environmental monitoring (issue 8): a QC analyst reads a grade C contact plate
above the Annex 1 action limit and sees at once the action level, the excursion, its deviation and
the batch that was in the room (A1-3); QA finds the excursion among their tasks and the batch's
disposition names it as an unmet prerequisite. And the sampler's worklist takes a scanned location
label (keyboard wedge) straight to the collection form."""

import datetime as dt
import re

import pytest

from opencdmo.core import clock
from opencdmo.envmon import services
from opencdmo.envmon.models import EmSample, Excursion
from opencdmo.facilities import services as facilities_services
from opencdmo.quality.models import Deviation, DeviationLink
from tests.envmon import sampling_builders as sampling

from .conftest import sign_in
from .test_signing import LOCAL_TIME

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser"), pytest.mark.django_db(transaction=True)]

COUNT = "31"  # CFU on a grade C contact plate: above the Annex 1 limit of 25 (A1-3)


def _expect():
    from playwright.sync_api import expect  # noqa: PLC0415

    return expect


def _at(moment: dt.datetime):
    """The server clock stopped at a past moment: history built before the browser opens."""
    return clock.use_clock(lambda: moment)


def _sign_out(page):
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(re.compile(r"/login/"))


def _table_after(page, heading: str):
    return page.get_by_role("heading", name=heading).locator("xpath=following-sibling::table[1]")


def _grade_c_location(p: sampling.Programme):
    """A grade C room in operation with its floor plan, and a location sampled by contact plate daily."""
    supervisor = p.world.supervisor
    room = facilities_services.create_room(supervisor, area=p.room.area, code="EMC1", name="Preparation room",
                                           grade="C")
    room = facilities_services.transition_room(supervisor, room, "in_operation", reason="production campaign")
    services.set_floor_plan(p.coordinator, room, width_m="8", length_m="5", reason="floor plan drawn")
    location = sampling.location(p, "C-L1", room=room, types=("contact_plate", "settle_plate"))
    plan = services.create_plan(p.coordinator, location, sample_type="contact_plate", frequency="daily",
                                state="in_operation")
    return room, location, plan


def _plate_ready_to_read(p: sampling.Programme, location, plan, now: dt.datetime) -> EmSample:
    """Collected six days ago, through both incubations, each longer than its minimum."""
    collected = now - dt.timedelta(days=6)
    with _at(collected):
        plate = sampling.plate(p, location, plan=plan)
    with _at(collected + dt.timedelta(hours=1)):
        services.start_incubation(p.reader, plate, temperature_c="22.5")
    with _at(collected + dt.timedelta(hours=1 + 73)):
        services.second_incubation(p.reader, plate, temperature_c="32.5")
    return plate


@pytest.mark.req("A1-3")
def test_a_plate_read_above_the_action_limit_shows_its_deviation_and_the_batch_in_the_room(page, sponsor_a):
    expect = _expect()
    now = clock.now()
    p = sampling.programme(sponsor_a)
    room, location, plan = _grade_c_location(p)
    batch = sampling.batch_between(p, now - dt.timedelta(days=7), None, room=room)
    plate = _plate_ready_to_read(p, location, plan, now)

    # 1. The analyst: EM worklist → plates to read → the plate → 31 CFU, judged at once.
    sign_in(page, p.reader.username)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="EM worklist").click()
    expect(page.get_by_role("heading", name="EM worklist")).to_be_visible()
    row = _table_after(page, "Plates to read").locator("tbody tr", has_text=plate.number)
    expect(row).to_contain_text(f"{location.code} ({room.code})")
    row.get_by_role("link", name=plate.number).click()
    page.wait_for_url(f"**/envmon/samples/{plate.number}/")
    form = page.locator("form", has=page.get_by_role("heading", name="Read the plate"))
    form.get_by_label("Colonies (CFU)").fill(COUNT)
    form.get_by_role("button", name="Record the count").click()
    page.wait_for_url(f"**/envmon/samples/{plate.number}/")
    facts = page.locator("dl.facts")
    expect(facts).to_contain_text(re.compile(rf"{COUNT}(\.00)? CFU/plate \({COUNT} counted\)"))
    expect(facts).to_contain_text("Action level")
    expect(facts).to_contain_text(re.compile(r"Annex 1 \(\d{4}\): 25"))
    expect(facts).to_contain_text(LOCAL_TIME)  # read at, in site time
    excursion = Excursion.objects.get(sample=plate, kind="action")
    deviation = excursion.deviation
    row = _table_after(page, "Excursions").locator("tbody tr", has_text=excursion.number)
    expect(row).to_contain_text("Action")
    expect(row.get_by_role("link", name=deviation.number)).to_be_visible()
    expect(row.get_by_role("link", name=batch.number)).to_have_attribute("href", re.compile(f"/{batch.number}/$"))

    # 2. The deviation it raised: environmental, concerning the batch.
    row.get_by_role("link", name=deviation.number).click()
    page.wait_for_url(f"**/{deviation.number}/")
    main = page.locator("main")
    expect(main).to_contain_text("Environmental excursion")
    expect(main).to_contain_text(batch.number)
    expect(main).to_contain_text(plate.number)
    _sign_out(page)
    assert list(Deviation.objects.values_list("number", flat=True)) == [deviation.number]
    assert (deviation.source, deviation.category) == ("environmental", "environmental")
    assert list(DeviationLink.objects.filter(deviation=deviation, record_type="batches.batch")
                .values_list("record_id", flat=True)) == [str(batch.pk)]
    assert list(excursion.batches.all()) == [batch]
    plate.refresh_from_db()
    assert (plate.status, plate.count, plate.level, plate.read_by) == ("read", 31, "action", p.reader)

    # 3. QA: the excursion waits among their tasks and in the EM excursions list.
    sign_in(page, p.qa.username)
    expect(page.get_by_role("heading", name="My tasks")).to_be_visible()
    expect(page.locator("tbody tr", has_text=excursion.number)).to_contain_text("to acknowledge")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="EM excursions").click()
    listed = page.locator("tbody tr", has_text=excursion.number)
    expect(listed).to_contain_text(location.code)
    listed.get_by_role("link", name=excursion.number).click()
    page.wait_for_url(f"**/envmon/excursions/{excursion.number}/")
    expect(_table_after(page, "Batches in the room during the window")).to_contain_text(batch.number)
    _sign_out(page)

    # 4. The QA approver: the batch's disposition names the excursion as unmet.
    sign_in(page, p.world.qa_approver.username)
    page.goto(f"/release/batches/{batch.number}/")
    prerequisite = page.locator("table.prerequisites tbody tr", has_text="Environmental monitoring")
    expect(prerequisite).to_have_attribute("data-state", "unmet")
    expect(prerequisite).to_contain_text("Not met")
    expect(prerequisite).to_contain_text(excursion.number)


def test_the_sampler_scans_a_location_and_records_a_settle_plate_into_incubation(page, sponsor_a):
    expect = _expect()
    p = sampling.programme(sponsor_a)
    room, location, _ = _grade_c_location(p)

    sign_in(page, p.sampler.username)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="EM worklist").click()
    expect(page.get_by_role("heading", name="EM worklist")).to_be_visible()
    expect(page.get_by_label("Scan a location")).to_be_focused()
    # A keyboard-wedge scanner types the label's code into the focused field and presses Enter.
    page.keyboard.type(location.code.lower())
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(rf"/envmon/samples/collect/\?location={location.code}$"))
    expect(page.get_by_role("heading", name=re.compile(location.code))).to_contain_text(f"grade {room.grade}")
    page.get_by_label("Sample type").select_option(label="Settle plate")
    page.get_by_label("Media lot").fill("TSA-2026-07")
    page.get_by_label(re.compile("^Exposure, minutes")).fill("240")
    page.get_by_role("button", name="Record the sample").click()
    page.wait_for_url(re.compile(r"/envmon/samples/EM-[^/]+/$"))
    sample = EmSample.objects.get(location=location)
    expect(page.get_by_role("heading", level=1)).to_contain_text(sample.number)
    assert (sample.sample_type, sample.status, sample.collected_by) == ("settle_plate", "collected", p.sampler)

    page.get_by_role("link", name="Worklist", exact=True).click()
    row = _table_after(page, "In incubation").locator("tbody tr", has_text=sample.number)
    expect(row).to_contain_text(f"{location.code} ({room.code})")
    expect(row).to_contain_text("Settle plate")
    expect(row).to_contain_text("not started")
