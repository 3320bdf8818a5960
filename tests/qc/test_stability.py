"""Stability studies (issue 7, item 5; ICH Q5C, QC-8): the pull schedule in calendar months, the
ICH Q5C default time points, approval by someone other than the author scheduling the pulls, a
pull registering its sample once and never before its window, the stability coordinator's "due
next month" list, results by time point and the trend chart with the specification limit, and
sponsor segregation of all of it."""

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from opencdmo.core.domain.roles import Role
from opencdmo.core.errors import Conflict, NotFound, PermissionDenied, RuleViolation
from opencdmo.core.models import AuditEvent, Signature
from opencdmo.core.records import update_record
from opencdmo.qc import selectors, services
from opencdmo.qc.domain import stability
from opencdmo.qc.models import Sample, StabilityPull, StabilityStudy
from tests.factories import signature
from tests.qc import builders

D = dt.date
CONDITIONS = ["≤ −150 °C vapour-phase LN2", "−80 °C"]


# --- Builders (study_for_sponsor has the signature of tests/web/conftest.py RECORD_BUILDERS) -----

def stability_people(sponsor, prefix: str = "") -> dict:
    return builders.people(sponsor, prefix=f"{prefix}stb.")


def stability_spec(author, sponsor, **kwargs):
    """An approved stability specification: Viability ≥ 70.0 %, Sterility not detected, Endotoxin ≤ 0.50 EU/mL."""
    return builders.approved_spec(author, sponsor, stage="stability", **kwargs)


def draft_study(author, sponsor, *, spec=None, start: dt.date | None = None, time_points=(0, 1, 3),
                conditions=tuple(CONDITIONS), window_days: int = 7, title: str = "Real-time stability of DP"):
    spec = spec or stability_spec(author, sponsor)
    on_study = builders.batch(author, spec.product, f"B-{sponsor.code}-0007").number
    return services.create_study(author, title=title, product=spec.product, specification=spec,
                                 subject_ref=on_study, conditions=list(conditions),
                                 time_points=list(time_points), start_date=start or D(2026, 3, 2),
                                 window_days=window_days)


def active_study(lab, sponsor, **kwargs) -> StabilityStudy:
    study = draft_study(lab["reviewer"], sponsor, **kwargs)
    return services.transition_study(lab["qp"], study, "approve", signature=signature(lab["qp"], "Approved"))


def study_for_sponsor(author, sponsor, title: str) -> str:
    """An active study of `sponsor` (pulls scheduled from the test clock's today)."""
    from opencdmo.core import clock  # noqa: PLC0415

    lab = stability_people(sponsor, prefix=f"{sponsor.code.lower()}.")
    return active_study(lab, sponsor, start=clock.site_today(), title=f"Stability: {title}"[:200]).number


def pull_of(study, condition: str, months: int) -> StabilityPull:
    return study.pulls.get(condition=condition, months=months)


@pytest.fixture(autouse=True)
def _clock(fake_clock):
    return fake_clock


@pytest.fixture
def lab(sponsor_a):
    return stability_people(sponsor_a)


# --- Pure domain: calendar months, validation, window, ICH Q5C ---------------------------------

@pytest.mark.parametrize(("start", "months", "due"), [
    (D(2026, 1, 31), 1, D(2026, 2, 28)),  # month end: the shorter month's last day
    (D(2024, 1, 31), 1, D(2024, 2, 29)),  # leap year
    (D(2026, 3, 31), 1, D(2026, 4, 30)),
    (D(2025, 11, 30), 3, D(2026, 2, 28)),  # across the year end
    (D(2024, 2, 29), 12, D(2025, 2, 28)),  # from a leap day
    (D(2024, 2, 29), 48, D(2028, 2, 29)),
    (D(2026, 3, 2), 0, D(2026, 3, 2)),
    (D(2026, 3, 15), 120, D(2036, 3, 15)),
])
def test_due_dates_are_calendar_months(start, months, due):
    assert stability.add_months(start, months) == due


def test_pull_schedule_is_every_condition_at_every_time_point():
    schedule = stability.pull_schedule(D(2026, 1, 31), [0, 1, 3], ["5 °C", "25 °C"])
    assert schedule == [("5 °C", 0, D(2026, 1, 31)), ("5 °C", 1, D(2026, 2, 28)), ("5 °C", 3, D(2026, 4, 30)),
                        ("25 °C", 0, D(2026, 1, 31)), ("25 °C", 1, D(2026, 2, 28)), ("25 °C", 3, D(2026, 4, 30))]


@pytest.mark.parametrize(("points", "conditions", "message"), [
    ([0, 3, 3, 6], ["5 °C"], "more than once"),
    ([0, 6, 3], ["5 °C"], "ascending"),
    ([0, 121], ["5 °C"], "outside 0–120"),
    ([-1, 3], ["5 °C"], "outside 0–120"),
    ([], ["5 °C"], "at least one time point"),
    ([0, 1.5], ["5 °C"], "whole number"),
    ([0, 3], [], "at least one storage condition"),
    ([0, 3], ["  "], "at least one storage condition"),
    ([0, 3], ["5 °C", "5 °c"], "more than once"),
    ([0, 3], ["x" * 101], "longer than 100"),
])
def test_protocol_validation_says_what_to_correct(points, conditions, message):
    with pytest.raises(stability.InvalidProtocol, match=message):
        stability.pull_schedule(D(2026, 3, 2), points, conditions)


def test_on_time_is_within_the_window_inclusive():
    due = D(2026, 6, 2)
    assert stability.on_time(due, D(2026, 5, 26), 7) and stability.on_time(due, D(2026, 6, 9), 7)
    assert not stability.on_time(due, D(2026, 5, 25), 7) and not stability.on_time(due, D(2026, 6, 10), 7)
    assert stability.on_time(due, due, 0) and not stability.on_time(due, D(2026, 6, 3), 0)


@pytest.mark.req("QC-8")
@pytest.mark.parametrize(("shelf_life", "points"), [
    (24, [0, 3, 6, 9, 12, 18, 24]),  # every 3 months in year 1, every 6 in year 2
    (36, [0, 3, 6, 9, 12, 18, 24, 36]),  # yearly after the second year
    (60, [0, 3, 6, 9, 12, 18, 24, 36, 48, 60]),
    (30, [0, 3, 6, 9, 12, 18, 24, 30]),  # ends at the shelf life
    (6, [0, 3, 6]),
    (1, [0, 1]),
])
def test_ich_q5c_default_time_points(shelf_life, points):
    assert stability.ich_q5c_time_points(shelf_life) == points


@pytest.mark.parametrize("bad", [0, 121, True, "24"])
def test_ich_q5c_needs_a_shelf_life_in_months(bad):
    with pytest.raises(stability.InvalidProtocol):
        stability.ich_q5c_time_points(bad)


def test_end_of_next_month():
    assert stability.end_of_next_month(D(2026, 3, 2)) == D(2026, 4, 30)
    assert stability.end_of_next_month(D(2026, 12, 31)) == D(2027, 1, 31)
    assert stability.end_of_next_month(D(2024, 1, 31)) == D(2024, 2, 29)


@given(st.dates(min_value=D(2000, 1, 1), max_value=D(2090, 12, 31)),
       st.lists(st.integers(0, 120), min_size=1, max_size=12, unique=True))
def test_due_dates_follow_the_time_points(start, months):
    points = sorted(months)
    dues = [due for _, _, due in stability.pull_schedule(start, points, ["5 °C"])]
    assert dues == sorted(dues)
    for point, due in zip(points, dues, strict=True):
        assert (due.year - start.year) * 12 + due.month - start.month == point
        assert due.day == start.day or due.day < start.day and (due + dt.timedelta(days=1)).day == 1


# --- Creating and approving a study -------------------------------------------------------------

def test_study_is_created_in_draft_for_the_products_sponsor(lab, sponsor_a):
    study = draft_study(lab["reviewer"], sponsor_a)
    assert study.number.startswith("STB-") and study.status == "draft"
    assert study.sponsor == sponsor_a and study.product == study.specification.product
    assert study.conditions == CONDITIONS and study.time_points == [0, 1, 3]
    assert not study.pulls.exists()
    assert AuditEvent.objects.filter(record_type="qc.stabilitystudy", record_id=str(study.pk), action="create").exists()


def test_only_a_stability_manager_creates_a_study(lab, sponsor_a):
    with pytest.raises(PermissionDenied, match="qc.manage_stability"):
        draft_study(lab["analyst"], sponsor_a, spec=stability_spec(lab["reviewer"], sponsor_a))


def test_study_needs_an_approved_stability_specification_of_its_product(lab, sponsor_a, sponsor_b):
    reviewer = lab["reviewer"]
    release = builders.approved_spec(reviewer, sponsor_a, stage="release")
    with pytest.raises(RuleViolation, match="stability specification"):
        draft_study(reviewer, sponsor_a, spec=release)
    spec = stability_spec(reviewer, sponsor_a, criteria=False)
    update_record(reviewer, spec, reason="superseded in this test", action="transition", status="superseded")
    with pytest.raises(RuleViolation, match="not approved"):
        draft_study(reviewer, sponsor_a, spec=spec)
    other_product = sponsor_b.programs.get().products.get()
    spec_b = stability_spec(reviewer, sponsor_a, product=other_product)
    both = builders.person("stb.both", Role.QC_REVIEWER, sponsors=[sponsor_a, sponsor_b])
    with pytest.raises(RuleViolation, match="not a specification of"):
        services.create_study(both, title="Wrong product", product=sponsor_a.programs.get().products.get(),
                              specification=spec_b, subject_ref="B-1", conditions=["5 °C"], time_points=[0],
                              start_date=D(2026, 3, 2))
    assert not StabilityStudy.objects.exists()


@pytest.mark.parametrize(("fields", "message"), [
    ({"time_points": [0, 6, 3]}, "ascending"),
    ({"conditions": []}, "storage condition"),
    ({"window_days": 61}, "pull window"),
    ({"title": " "}, "title"),
    ({"start": D(1, 1, 1)}, "between the years 2000 and 2100"),
])
def test_bad_protocol_is_refused_and_nothing_is_written(lab, sponsor_a, fields, message):
    spec = stability_spec(lab["reviewer"], sponsor_a)
    with pytest.raises(RuleViolation, match=message):
        draft_study(lab["reviewer"], sponsor_a, spec=spec, **fields)
    assert not StabilityStudy.objects.exists()


def test_approval_is_not_by_the_author(make_user, sponsor_a, lab):
    both = make_user("qc.lead", Role.QC_REVIEWER, Role.QA_APPROVER, sponsors=[sponsor_a])
    study = draft_study(both, sponsor_a)
    with pytest.raises(RuleViolation, match="Segregation of duties"):
        services.transition_study(both, study, "approve", signature=signature(both, "Approved"))
    study.refresh_from_db()
    assert study.status == "draft" and not study.pulls.exists()


def test_approval_needs_the_approvers_permission_and_signature(lab, sponsor_a):
    study = draft_study(lab["reviewer"], sponsor_a)
    with pytest.raises(PermissionDenied, match="qc.approve_specifications"):
        services.transition_study(lab["analyst"], study, "approve", signature=signature(lab["analyst"], "Approved"))
    with pytest.raises(RuleViolation, match="signature"):
        services.transition_study(lab["qp"], study, "approve")


def test_approval_needs_the_specification_still_approved(lab, sponsor_a):
    study = draft_study(lab["reviewer"], sponsor_a)
    update_record(lab["qp"], study.specification, reason="superseded by revision 2", action="transition",
                  status="superseded")
    with pytest.raises(RuleViolation, match="no longer approved"):
        services.transition_study(lab["qp"], study, "approve", signature=signature(lab["qp"], "Approved"))
    assert not study.pulls.exists()


@pytest.mark.req("QC-8")
def test_approval_schedules_exactly_the_protocols_pulls(lab, sponsor_a):
    study = active_study(lab, sponsor_a, start=D(2026, 1, 31), time_points=(0, 1, 3, 12))
    assert study.status == "active"
    pulls = {(p.condition, p.months): p.due_date for p in study.pulls.all()}
    expected = {(c, m): due for c, m, due in stability.pull_schedule(D(2026, 1, 31), [0, 1, 3, 12], CONDITIONS)}
    assert pulls == expected and len(pulls) == 8
    assert pulls[(CONDITIONS[0], 1)] == D(2026, 2, 28) and pulls[(CONDITIONS[1], 12)] == D(2027, 1, 31)
    assert all(p.sample_id is None and p.pulled_at is None for p in study.pulls.all())
    assert Signature.objects.filter(record_type="qc.stabilitystudy", record_id=str(study.pk), meaning="Approved").count() == 1


# --- Pulling ------------------------------------------------------------------------------------

def test_pull_registers_the_sample_with_the_study_as_subject_once(lab, sponsor_a):
    study = active_study(lab, sponsor_a)
    point = pull_of(study, CONDITIONS[0], 0)
    services.pull(lab["analyst"], point, quantity="2", unit="vials")
    point.refresh_from_db()
    sample = point.sample
    assert (sample.subject_type, sample.subject_ref) == ("qc.stabilitystudy", study.number)
    assert sample.subject_label == f"{study.number} {CONDITIONS[0]} 0 m"
    assert (sample.origin, sample.origin_ref) == ("stability_pull", f"{study.number}/{CONDITIONS[0]}/0")
    assert (sample.specification, sample.sponsor, sample.product) == (study.specification, sponsor_a, study.product)
    assert sample.quantity == 2 and sample.unit == "vials"
    assert set(sample.tests.all()) == set(study.specification.tests.all())
    assert point.pulled_by == lab["analyst"] and point.pulled_at is not None
    with pytest.raises(Conflict, match="already pulled"):
        services.pull(lab["reviewer"], point)
    assert Sample.objects.filter(subject_ref=study.number).count() == 1


def test_pull_before_its_window_is_refused(lab, sponsor_a, fake_clock):
    study = active_study(lab, sponsor_a)  # start 2026-03-02: the 1-month pull is due 2026-04-02 ± 7 days
    point = pull_of(study, CONDITIONS[0], 1)
    with pytest.raises(RuleViolation, match="window opens 2026-03-26"):
        services.pull(lab["analyst"], point)
    point.refresh_from_db()
    assert point.sample is None and not Sample.objects.exists()
    fake_clock.set(dt.datetime(2026, 3, 26, 8, 0, tzinfo=dt.UTC))
    services.pull(lab["analyst"], point)
    assert selectors.pull_row(StabilityPull.objects.get(pk=point.pk), D(2026, 3, 26)).state == "on_time"


def test_late_pull_is_allowed_and_flagged(lab, sponsor_a, fake_clock):
    study = active_study(lab, sponsor_a)
    point = pull_of(study, CONDITIONS[1], 0)
    fake_clock.set(dt.datetime(2026, 3, 10, 8, 0, tzinfo=dt.UTC))  # due 2026-03-02, window closed 03-09
    services.pull(lab["analyst"], point)
    row = next(r for r in selectors.pulls_of(study) if r.pull.pk == point.pk)
    assert row.state == "late" and "late" in row.state_label.lower()
    event = AuditEvent.objects.get(record_type="qc.stabilitypull", record_id=str(point.pk), action="pull")
    assert "pulled late" in event.reason


def test_only_stability_pullers_pull_and_only_active_studies(lab, sponsor_a, make_user):
    study = active_study(lab, sponsor_a)
    point = pull_of(study, CONDITIONS[0], 0)
    outsider = make_user("qa.only", Role.QA_SPECIALIST, sponsors=[sponsor_a])
    with pytest.raises(PermissionDenied, match="qc.pull_stability"):
        services.pull(outsider, point)
    services.transition_study(lab["reviewer"], study, "cancel", reason="Batch withdrawn from the programme")
    with pytest.raises(RuleViolation, match="not active"):
        services.pull(lab["analyst"], point)


@pytest.mark.parametrize(("quantity", "unit", "message"), [("-1", "mL", "positive"), ("abc", "mL", "number"),
                                                           ("2", "", "unit"), ("2", "u" * 33, "32")])
def test_bad_pull_quantity_is_refused(lab, sponsor_a, quantity, unit, message):
    study = active_study(lab, sponsor_a)
    with pytest.raises(RuleViolation, match=message):
        services.pull(lab["analyst"], pull_of(study, CONDITIONS[0], 0), quantity=quantity, unit=unit)
    assert not Sample.objects.exists()


# --- Completing and cancelling ------------------------------------------------------------------

def test_completion_needs_every_pull_tested_or_a_reason(lab, sponsor_a):
    study = active_study(lab, sponsor_a, time_points=(0,), conditions=("5 °C",))
    with pytest.raises(RuleViolation, match="5 °C 0 m"):
        services.transition_study(lab["reviewer"], study, "complete")
    services.transition_study(lab["reviewer"], study, "complete", reason="Batch consumed by the comparability study")
    study.refresh_from_db()
    assert study.status == "completed"


def test_completion_without_reason_once_every_pull_is_tested(lab, sponsor_a):
    spec = stability_spec(lab["reviewer"], sponsor_a, criteria=False)
    builders.criterion(spec, 1, "Endotoxin", builders.endotoxin(), "at_most", upper="0.50")
    builders.criterion(spec, 2, "Potency (IFN-γ release)", builders.method(
        "POT-IFNG", name="IFN-γ release ELISA", unit="pg/mL", decimals=0, instrument_kinds=()), "at_least", lower="500")
    study = active_study(lab, sponsor_a, spec=spec, time_points=(0,), conditions=("5 °C",))
    point = pull_of(study, "5 °C", 0)
    services.pull(lab["analyst"], point)
    point.refresh_from_db()
    sample = services.receive_sample(lab["analyst"], point.sample, location="QC fridge 2")
    services.enter_result(lab["analyst"], sample, spec.tests.get(position=1), value="0.10",
                          submission_id=builders.submission())
    with pytest.raises(RuleViolation, match="not yet pulled or tested"):  # potency still missing
        services.transition_study(lab["reviewer"], study, "complete")
    services.enter_result(lab["analyst"], sample, spec.tests.get(position=2), value="812",
                          submission_id=builders.submission())
    services.transition_study(lab["reviewer"], study, "complete")
    study.refresh_from_db()
    assert study.status == "completed"


def test_cancel_needs_a_reason(lab, sponsor_a):
    study = draft_study(lab["reviewer"], sponsor_a)
    with pytest.raises(RuleViolation, match="reason"):
        services.transition_study(lab["reviewer"], study, "cancel")
    services.transition_study(lab["reviewer"], study, "cancel", reason="Protocol replaced")
    study.refresh_from_db()
    assert study.status == "cancelled"


# --- Pulls due (the stability coordinator's question) --------------------------------------------

def test_pulls_due_next_month_are_listed_by_due_date_with_overdue_flagged(lab, sponsor_a):
    old = active_study(lab, sponsor_a, start=D(2026, 1, 15), time_points=(0, 1, 3, 6), conditions=("5 °C",))
    new = active_study(lab, sponsor_a, start=D(2026, 3, 2), time_points=(0, 1, 3), conditions=("−80 °C",))
    services.pull(lab["analyst"], pull_of(new, "−80 °C", 0))
    draft_study(lab["reviewer"], sponsor_a, start=D(2026, 3, 2))  # draft: nothing scheduled
    until = stability.end_of_next_month(D(2026, 3, 2))
    rows = selectors.pulls_due(lab["analyst"], until=until)
    assert [(r.pull.study.number, r.pull.months, r.pull.due_date, r.state) for r in rows] == [
        (old.number, 0, D(2026, 1, 15), "overdue"),
        (old.number, 1, D(2026, 2, 15), "overdue"),
        (new.number, 1, D(2026, 4, 2), "upcoming"),
        (old.number, 3, D(2026, 4, 15), "upcoming"),
    ]
    assert [r.overdue for r in rows] == [True, True, False, False]
    assert selectors.pulls_due(lab["analyst"], until=D(2026, 3, 31))[-1].pull.due_date == D(2026, 2, 15)


def test_pulls_due_never_lists_another_sponsors_pulls(lab, sponsor_a, sponsor_b):
    active_study(lab, sponsor_a)
    lab_b = stability_people(sponsor_b, prefix="b.")
    mine = active_study(lab_b, sponsor_b)
    rows = selectors.pulls_due(lab_b["analyst"], until=D(2026, 12, 31))
    assert rows and {r.pull.study.number for r in rows} == {mine.number}
    tasks = selectors.stability_pull_tasks(lab_b["analyst"])
    assert tasks and {t.record for t in tasks} == {mine.number}


def test_pull_tasks_cover_the_next_30_days_and_overdue_for_pullers_only(lab, sponsor_a):
    study = active_study(lab, sponsor_a, start=D(2026, 1, 1), time_points=(0, 3, 6), conditions=("5 °C",))
    tasks = selectors.stability_pull_tasks(lab["analyst"])
    # 0 m (2026-01-01) is overdue; 3 m (2026-04-01) is within 30 days of 2026-03-02; 6 m is not.
    assert [(t.record, t.status) for t in tasks] == [(study.number, "overdue"), (study.number, "upcoming")]
    assert "3 m · due 2026-04-01" in tasks[1].detail and tasks[0].url.endswith(f"#pull-{pull_of(study, '5 °C', 0).pk}")
    assert selectors.stability_pull_tasks(lab["qa"]) == []


def test_another_sponsors_study_does_not_exist_for_the_user(lab, sponsor_a, sponsor_b):
    study = active_study(lab, sponsor_a)
    lab_b = stability_people(sponsor_b, prefix="b.")
    with pytest.raises(NotFound):
        selectors.study(lab_b["analyst"], study.number)
    with pytest.raises(NotFound):
        services.pull(lab_b["analyst"], pull_of(study, CONDITIONS[0], 0))
    with pytest.raises(NotFound):
        services.transition_study(lab_b["qp"], study, "cancel", reason="not mine")
    assert list(selectors.studies_for(lab_b["analyst"])) == []


# --- Results by time point and the trend chart ----------------------------------------------------

@pytest.fixture
def tested_study(lab, sponsor_a, fake_clock):
    """Two conditions pulled at 0 and 1 month, with viability results; 3 months not yet pulled."""
    study = active_study(lab, sponsor_a, time_points=(0, 1, 3))
    counter = builders.instrument(lab["supervisor"], lab["qa"], calibration_interval_days=365)
    values = {(CONDITIONS[0], 0): "92.0", (CONDITIONS[1], 0): "91.5",
              (CONDITIONS[0], 1): "90.4", (CONDITIONS[1], 1): "84.2"}
    for months in (0, 1):
        if months:
            fake_clock.set(dt.datetime(2026, 4, 2, 8, 0, tzinfo=dt.UTC))
        for condition in CONDITIONS:
            point = pull_of(study, condition, months)
            services.pull(lab["analyst"], point)
            point.refresh_from_db()
            sample = services.receive_sample(lab["analyst"], point.sample, location="Stability chamber log")
            tests = study.specification.tests
            services.enter_result(lab["analyst"], sample, tests.get(attribute="Viability"),
                                  value=values[(condition, months)], instrument=counter,
                                  submission_id=builders.submission())
    return study


def test_results_by_time_point_table(tested_study):
    columns, rows = selectors.results_by_time_point(tested_study)
    assert columns == [(c, m) for c in CONDITIONS for m in (0, 1, 3)]
    by_attribute = {row.test.attribute: row for row in rows}
    assert list(by_attribute) == ["Viability", "Sterility", "Endotoxin"]
    viability = by_attribute["Viability"]
    assert viability.limit.startswith("≥ 70.0")
    assert [cell.text for cell in viability.cells] == ["92.0 %", "90.4 %", "", "91.5 %", "84.2 %", ""]
    assert all(cell.result is None for cell in by_attribute["Endotoxin"].cells)
    assert viability.cells[0].result.conformance == "conforms" and viability.cells[0].result.status == "entered"


def test_an_invalidated_result_is_not_reportable_but_stays_listed(tested_study, lab):
    result = next(c.result for c in selectors.results_by_time_point(tested_study)[1][0].cells if c.result)
    services.transition_result(lab["analyst"], result, "request_invalidation", reason="Pipetting error documented")
    services.transition_result(lab["qp"], result, "approve_invalidation", signature=signature(lab["qp"], "Approved"))
    cell = selectors.results_by_time_point(tested_study)[1][0].cells[0]
    assert cell.result is None and [r.pk for r in cell.results] == [result.pk]


def test_trend_chart_draws_each_condition_and_the_limit(tested_study):
    viability = tested_study.specification.tests.get(attribute="Viability")
    svg = selectors.trend_chart(tested_study, viability)
    assert svg.startswith("<svg") and "<path" in svg
    assert "Lower limit 70 %" in svg
    assert all(condition in svg for condition in CONDITIONS)
    assert "Months on study" in svg
    assert selectors.trend_chart(tested_study, viability) == svg  # same data, same bytes
    sterility = tested_study.specification.tests.get(attribute="Sterility")
    assert selectors.trend_chart(tested_study, sterility) == ""  # not a number: no chart


def test_upper_limit_line_is_labelled(lab, sponsor_a):
    study = active_study(lab, sponsor_a)
    svg = selectors.trend_chart(study, study.specification.tests.get(attribute="Endotoxin"))
    assert "Upper limit 0.5 EU/mL" in svg


def test_a_schedule_beyond_the_calendar_is_refused_not_an_error():
    with pytest.raises(stability.InvalidProtocol, match="after the year 9999"):
        stability.pull_schedule(D(9999, 6, 1), [0, 12], ["5 °C"])


def test_a_study_keeps_pulling_against_the_revision_its_protocol_was_approved_with(lab, sponsor_a):
    """A later revision of the stability specification does not strand the running study (QC-8)."""
    study = active_study(lab, sponsor_a)
    spec = study.specification
    spec.status = "superseded"  # as approving revision 2 leaves it (tests/qc/test_specifications.py)
    spec.save(update_fields=["status"])
    services.pull(lab["analyst"], pull_of(study, CONDITIONS[0], 0))
    assert pull_of(study, CONDITIONS[0], 0).sample.specification == spec
