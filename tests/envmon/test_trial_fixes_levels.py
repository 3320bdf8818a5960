"""What a user trial on the demo found in levels, classification, dates, charts and the monthly
report: each fix pinned by a test that fails without it."""

import datetime as dt
import re
from decimal import Decimal

import pytest
from django.urls import reverse
from matplotlib.figure import Figure

from opencdmo.core import clock
from opencdmo.core.domain.roles import Role
from opencdmo.core.errors import PermissionDenied, RuleViolation
from opencdmo.core.models import AuditEvent
from opencdmo.envmon import charts, reports, selectors, services
from opencdmo.envmon.models import Classification, LevelSet
from tests.factories import signature
from tests.web.conftest import signed_in

from . import builders

DAY = dt.timedelta(days=1)


@pytest.fixture(autouse=True)
def _server_clock(fake_clock):
    return fake_clock


@pytest.fixture
def people(make_user):
    return {"author": make_user("em.author", Role.QC_REVIEWER), "other": make_user("em.other", Role.QA_SPECIALIST),
            "reviewer": make_user("qa.reviewer", Role.QA_SPECIALIST),
            "approver": make_user("qa.approver", Role.QA_APPROVER), "operator": make_user("op.one", Role.OPERATOR)}


def manual(author, *, sample_type="active_air", alert="5", action="8"):
    return services.propose_levels(author, grade="B", sample_type=sample_type, state="in_operation",
                                   method="manual", alert=alert, action=action, rationale="From the PQ data.")


def failed_classification(people, room):
    c = services.plan_classification(people["author"], room, state="at_rest")
    for point in range(1, c.location_count + 1):
        for size in selectors.classification_sizes(c):
            services.record_reading(people["operator"], c, point=point, size=size,
                                    volume_litres=c.sample_volume_litres, count=10**6)
    return services.complete_classification(people["author"], c)


# 1. Four eyes on levels


@pytest.mark.req("P11-1")
def test_only_the_author_changes_a_draft_level_set(people):
    draft = manual(people["author"])
    with pytest.raises(PermissionDenied, match="Only .*em.author.* may change it"):
        services.update_level_set(people["other"], draft, rationale="Someone else's words")
    assert services.update_level_set(people["author"], draft, rationale="Mine").rationale == "Mine"
    page = signed_in(people["other"]).get(reverse("envmon:level", args=[draft.number])).content.decode()
    assert "Change the draft" not in page
    response = signed_in(people["other"]).post(reverse("envmon:level_edit", args=[draft.number]),
                                               {"rationale": "Theirs", "alert": "5", "action": "8"})
    assert response.status_code == 403 and "em.author" in response.content.decode()


# 2. A failed classification


@pytest.mark.req("A1-6")
def test_a_failed_classification_needs_a_comment_to_approve_and_the_room_stays_due(people):
    room = builders.room("EM-FAIL", grade="B", width="2", length="1")
    c = failed_classification(people, room)
    assert c.passed is False
    page = signed_in(people["approver"]).get(reverse("envmon:classification", args=[c.number])).content.decode()
    assert "This classification failed ISO class" in page  # warned before signing
    with pytest.raises(RuleViolation, match="give a comment on the failure"):
        services.transition_classification(people["approver"], c, "approve",
                                           signature=signature(people["approver"], "Approved"))
    services.transition_classification(people["approver"], c, "approve",
                                       signature=signature(people["approver"], "Approved", comment="Filters replaced"))
    c.refresh_from_db()
    assert c.status == "approved" and c.passed is False
    assert AuditEvent.objects.filter(reason__startswith="Approved as FAILED", reason__endswith="Filters replaced").exists()
    due = {(d.room.code, d.state): d for d in selectors.classifications_due()}
    assert due["EM-FAIL", "at_rest"].overdue and due["EM-FAIL", "at_rest"].last_failed == c
    assert "last classification failed" in selectors.classification_due_text(due["EM-FAIL", "at_rest"])
    page = signed_in(people["author"]).get(reverse("envmon:classifications")).content.decode()
    assert "last classification failed" in page


@pytest.mark.req("A1-6")
def test_rooms_are_due_in_each_state_separately(people):
    builders.room("EM-TWO", grade="C", width="2", length="1")
    states = {d.state for d in selectors.classifications_due() if d.room.code == "EM-TWO"}
    assert states == {"at_rest", "in_operation"}


# 3. Dates far in the future or past


@pytest.mark.parametrize("day", ["9999-12-31", "0001-01-01"])
def test_far_dates_are_refused_with_what_to_type(people, day):
    room = builders.room("EM-DATE", grade="C")
    location = builders.locations(room, people["author"], 1)[0]
    client = signed_in(people["author"])
    for url in (reverse("envmon:room", args=[room.code]), reverse("envmon:location", args=[location.code])):
        for query in ({"window": "custom", "start": day}, {"window": "custom", "end": day}):
            response = client.get(url, query)
            assert response.status_code == 422, (url, query)
            assert "between the years 2000 and 2100" in response.content.decode()
    for field in ("history_from", "history_to"):
        with pytest.raises(RuleViolation, match="between the years 2000 and 2100"):
            selectors.preview_levels(grade="C", sample_type="settle_plate", state="in_operation",
                                     method="percentile", **{field: day})
    assert client.get(reverse("envmon:report"), {"month": day[:7]}).status_code == 422


# 4. Whole CFU by hand


@pytest.mark.req("A1-5")
def test_hand_set_viable_levels_are_whole_cfu(people):
    with pytest.raises(RuleViolation, match="whole number"):
        manual(people["author"], alert="2.5")
    draft = manual(people["author"], alert="2", action="4")
    with pytest.raises(RuleViolation, match="whole number"):
        services.update_level_set(people["author"], draft, alert_level="2.5")
    particles = manual(people["author"], sample_type="particles_0_5", alert="2000.5", action="3000")
    assert particles.alert_level == Decimal("2000.5")


# 5. The method in words


def test_the_level_page_shows_the_method_in_words(people):
    computed = LevelSet(method=LevelSet.Method.PERCENTILE,
                        parameters={"percentile": "95", "action_percentile": "99", "n": 24, "capped": True})
    assert selectors.level_method_text(computed) == "95th percentile of 24 results, action 99th; capped at Annex 1"
    draft = manual(people["author"])
    page = signed_in(people["author"]).get(reverse("envmon:level", args=[draft.number])).content.decode()
    assert "<dd>Set by hand</dd>" in page


# 6. The level form


def test_the_level_form_saves_hand_set_levels_on_enter_and_says_what_is_wrong(people, make_user):
    client = signed_in(people["author"])
    form = {"grade": "C", "sample_type": "settle_plate", "state": "in_operation", "method": "manual", "alert": "10",
            "action": "20", "rationale": "PQ", "preview": "1"}  # the first button, as Enter sends it
    assert client.post(reverse("envmon:level_new"), form).status_code == 302
    assert LevelSet.objects.filter(grade="C", sample_type="settle_plate").exists()
    with pytest.raises(RuleViolation, match="The alert percentile must be below the action percentile"):
        selectors.preview_levels(grade="C", sample_type="settle_plate", state="in_operation", method="percentile",
                                 percentile=99, action_percentile=95)
    room = builders.room("EM-ISO", grade="B", width="2", length="1")
    with pytest.raises(RuleViolation, match="e.g. 7"):
        services.plan_classification(people["author"], room, state="at_rest", iso_class="seven")
    room_c = builders.room("EM-HIST", grade="C")
    location = builders.locations(room_c, people["author"], 1, sample_types=("settle_plate",))[0]
    builders.samples(location, people["author"], [i % 5 for i in range(24)], sample_type="settle_plate",
                     start=clock.now() - 30 * DAY)
    response = client.post(reverse("envmon:level_new"), {**form, "method": "percentile", "percentile": "95",
                                                         "action_percentile": "99"})
    assert response.status_code == 200
    assert "excursions too" in response.content.decode()


# 7. The classification pages


def test_the_classification_form_and_page_read_well(people, make_user):
    room = builders.room("EM-FMT", grade="B", width="12", length="9")
    client = signed_in(people["author"])
    assert 'type="checkbox" name="sizes" value="0.5"' in client.get(reverse("envmon:classification_new")).content.decode()
    response = client.post(reverse("envmon:classification_new"), {"room": room.code, "state": "at_rest",
                                                                 "sizes": ["0.5"]})
    assert response.status_code == 302
    c = Classification.objects.get(room=room)
    assert c.sizes == [0.5]
    services.record_reading(people["operator"], c, point=1, size="0.5", volume_litres=c.sample_volume_litres,
                            count=100000)
    page = client.get(reverse("envmon:classification", args=[c.number])).content.decode()
    assert "108 m²" in page and "108.00" not in page
    assert re.search(r"\b\d{1,3}(,\d{3})+\.\d\b", page.split("Readings and results")[1])  # thousands separated
    reader = make_user("qa.only", Role.QA_APPROVER)
    response = signed_in(reader).post(reverse("envmon:classification_reading", args=[c.number]),
                                      {"point": "1", "size": "0.5", "volume_litres": "28.3", "count": "1"})
    assert response.status_code == 403
    assert "record readings (envmon.sample)" in response.content.decode()


# 8. Charts


def _axes():
    fig = Figure()
    return fig, fig.add_subplot()


def test_a_single_point_gets_a_day_either_side_and_an_all_zero_chart_an_axis_to_2():
    fig, ax = _axes()
    moment = dt.datetime(2026, 3, 1, 9, tzinfo=dt.UTC)
    ax.scatter([moment], [0])
    charts._scale(ax, [moment], [0.0], [(0, "Action: no growth (0)", "#000")])
    low, high = ax.get_xlim()
    assert high - low == pytest.approx(2)  # days
    assert ax.get_ylim() == (0, 2)
    assert str(ax.xaxis.get_major_locator().tz) == "Europe/Berlin"  # site time on the axis


@pytest.mark.req("A1-3")
def test_grade_a_all_zero_shows_the_no_growth_action_line(people):
    room = builders.room("EM-A01", grade="A", width="2", length="1")
    location = builders.locations(room, people["author"], 1, sample_types=("settle_plate",))[0]
    builders.samples(location, people["author"], [0, 0, 0], sample_type="settle_plate", start=clock.now() - 3 * DAY)
    svg = charts.trend_chart(selectors.room_trend(room, sample_type="settle_plate"))
    assert "Action: no growth (0)" in svg


def test_close_limit_labels_are_pushed_apart():
    fig, ax = _axes()
    ax.set_ylim(0, 40)
    charts._line_labels(fig, ax, [(5, "Annex 1 5", "#000"), (4, "Action 4", "#000")])
    offsets = {t.get_text(): t.xyann[1] for t in ax.texts}
    apart = (ax.transData.transform((0, 5))[1] - ax.transData.transform((0, 4))[1]) * 72 / fig.dpi
    assert apart < charts.LABEL_GAP_POINTS  # they would overlap where the lines are
    assert offsets["Action 4"] == 0 and apart + offsets["Annex 1 5"] == pytest.approx(charts.LABEL_GAP_POINTS)


# 9. The monthly report in site time


@pytest.mark.req("A1-5")
def test_the_monthly_report_is_the_sites_month_in_site_time(fake_clock, people):
    fake_clock.set(dt.datetime(2026, 2, 28, 23, 30, tzinfo=dt.UTC))  # already March in Berlin
    assert reports.current_month() == "2026-03"
    report = reports.monthly_report(dt.date(2026, 2, 1), with_charts=False)
    assert report.start == dt.datetime(2026, 1, 31, 23, tzinfo=dt.UTC)
    assert "CET (UTC+01:00)" in report.window_text
    page = signed_in(people["author"]).get(reverse("envmon:report"), {"month": "2026-02"}).content.decode()
    assert "CET (UTC+01:00)" in page
