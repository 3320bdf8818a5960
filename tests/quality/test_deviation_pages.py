"""What the deviation and CAPA pages show and do, the PDF report with its signature manifestation
(P11-3), the trend report, My tasks, and bad input (4xx, nothing changes)."""

import datetime as dt
import io

import pytest
from django.test import Client
from pypdf import PdfReader

from opencdmo.core import tasks
from opencdmo.core.models import AuditEvent
from opencdmo.quality import services
from opencdmo.quality.models import Capa, Deviation, DeviationCapa, DueDateExtension
from tests.factories import signature
from tests.web.conftest import bearer, signed_in

from . import builders

pytestmark = pytest.mark.req("DEV-1")


def _state():
    return (Deviation.objects.count(), Capa.objects.count(), DueDateExtension.objects.count(),
            AuditEvent.objects.count())


def test_raise_a_deviation_with_the_records_it_concerns(raiser, sponsor_a, records_a):
    lot = records_a.references["materials.lot"]
    response = signed_in(raiser).post("/quality/deviations/new/", {
        "title": "Prodigy tubing set leak", "description": "Leak at the TS520 spike port during priming.",
        "area": "B-101", "category": "equipment", "sponsor": sponsor_a.code,
        "immediate_actions": "Run paused, set replaced, sterility sample taken.",
        "record_type": ["materials.lot", "materials.lot"], "reference": [lot, ""]})
    assert response.status_code == 302
    deviation = Deviation.objects.get(title="Prodigy tubing set leak")
    assert response["Location"] == f"/quality/deviations/{deviation.number}/"
    assert [link.record_label for link in deviation.links.all()] == [lot]
    assert deviation.immediate_actions.startswith("Run paused")
    page = signed_in(raiser).get(response["Location"]).content.decode()
    assert "Prodigy tubing set leak" in page and lot in page and "Open, to classify" in page


def test_a_bad_reference_raises_nothing(raiser, sponsor_a):
    before = _state()
    response = signed_in(raiser).post("/quality/deviations/new/", {
        "title": "Leak", "description": "Leak", "sponsor": sponsor_a.code, "category": "equipment",
        "record_type": ["materials.lot"], "reference": ["LOT-NOPE"]})
    assert response.status_code == 422 and "Check the kind and the reference" in response.content.decode()
    assert _state() == before


def test_qa_classifies_on_the_page_and_another_class_needs_a_rationale(raiser, classifier, investigator, sponsor_a):
    deviation = builders.raised(raiser, sponsor_a)
    client = signed_in(classifier)
    page = client.get(f"/quality/deviations/{deviation.number}/").content.decode()
    assert "Could it affect patient safety or product sterility?" in page
    url = f"/quality/deviations/{deviation.number}/classify/"
    answers = {"patient_safety": "no", "identity": "no", "product_quality": "yes", "investigator": investigator.username}
    before = _state()
    refused = client.post(url, answers | {"classification": "minor"})
    assert refused.status_code == 422 and "give a rationale" in refused.content.decode()
    assert _state() == before
    assert client.post(url, answers | {"classification": "minor", "rationale": "CQA not affected: in-process "
                                       "sample only"}).status_code == 302
    deviation.refresh_from_db()
    assert (deviation.status, deviation.classification, deviation.investigator) == ("investigation", "minor",
                                                                                    investigator)
    assert deviation.classification_answers["suggested"] == "major"
    assert deviation.classification_answers["product_quality"]["answer"] == "yes"


def test_the_investigator_records_the_investigation_and_raises_a_capa_on_the_page(raiser, classifier, investigator,
                                                                                  sponsor_a):
    deviation = builders.classified(builders.raised(raiser, sponsor_a), classifier, investigator)
    client = signed_in(investigator)
    response = client.post(f"/quality/deviations/{deviation.number}/investigation/", {
        "impact_assessment": "Batch HLX-B-0007 only", "root_cause_category": "procedure",
        "root_cause": "SOP lacks the check", "conclusion": "No product impact",
        "why": ["Why missed?", "Why no step?", ""], "because": ["No step in SOP", "SOP not reviewed", ""]})
    assert response.status_code == 302
    deviation.refresh_from_db()
    assert deviation.five_whys == [{"why": "Why missed?", "because": "No step in SOP"},
                                   {"why": "Why no step?", "because": "SOP not reviewed"}]
    response = client.post(f"/quality/deviations/{deviation.number}/capas/", {
        "title": "Add second-person check to SOP-101", "problem": "SOP lacks the check",
        "owner": investigator.username, "due_date": "2026-04-30"})
    capa = Capa.objects.get(title="Add second-person check to SOP-101")
    assert response["Location"] == f"/quality/capas/{capa.number}/"
    assert DeviationCapa.objects.filter(deviation=deviation, capa=capa).exists()
    assert deviation.number in client.get(response["Location"]).content.decode()


def test_half_a_why_is_refused_and_nothing_changes(raiser, classifier, investigator, sponsor_a):
    deviation = builders.classified(builders.raised(raiser, sponsor_a), classifier, investigator)
    before = _state()
    response = signed_in(investigator).post(f"/quality/deviations/{deviation.number}/investigation/",
                                            {"why": ["Why?"], "because": [""]})
    assert response.status_code == 422 and "write both" in response.content.decode()
    assert _state() == before


@pytest.mark.parametrize(("form", "message"), [
    ({"requested_due_date": "31/12/2026", "justification": "x"}, "YYYY-MM-DD"),
    ({"requested_due_date": "2026-03-01", "justification": "x"}, "later than the current"),
    ({"requested_due_date": "2026-12-31", "justification": " "}, "justification"),
])
def test_bad_extension_requests_are_refused_and_change_nothing(form, message, raiser, classifier, investigator,
                                                               sponsor_a):
    deviation = builders.classified(builders.raised(raiser, sponsor_a), classifier, investigator)
    before = _state()
    response = signed_in(investigator).post(f"/quality/deviations/{deviation.number}/extensions/", form)
    assert response.status_code == 422 and message in response.content.decode()
    assert _state() == before


def test_an_unknown_step_is_not_found(raiser, sponsor_a):
    deviation = builders.raised(raiser, sponsor_a)
    assert signed_in(raiser).post(f"/quality/deviations/{deviation.number}/teleport/").status_code == 404


def test_the_list_filters_sorts_pages_and_flags_overdue(raiser, classifier, investigator, sponsor_a, fake_clock,
                                                        django_assert_max_num_queries):
    for n in range(55):
        builders.raised(raiser, sponsor_a, title=f"Settle plate excursion {n:02d}", area=f"B-{100 + n % 3}")
    late = builders.classified(builders.raised(raiser, sponsor_a, title="Late one"), classifier, investigator)
    fake_clock.advance(days=31)
    client = signed_in(classifier)
    with django_assert_max_num_queries(20):
        page = client.get("/quality/deviations/").content.decode()
    assert "Page 1 of 2" in page and page.count('class="badge badge-overdue"') == 50
    overdue = client.get("/quality/deviations/?overdue=1&classification=major").content.decode()
    assert late.number in overdue and "Settle plate" not in overdue
    by_title = client.get("/quality/deviations/?sort=title").content.decode()
    assert by_title.index("Late one") < by_title.index("Settle plate excursion 00")
    assert 'aria-sort="ascending"' in by_title
    found = client.get("/quality/deviations/?q=excursion 07").content.decode()
    assert "excursion 07" in found and "excursion 08" not in found


def test_the_api_lists_and_refuses_bad_input_with_json(raiser, classifier, investigator, sponsor_a):
    deviation = builders.raised(raiser, sponsor_a)
    api = Client()
    headers = bearer(classifier)
    listed = api.get("/api/v1/deviations?status=open", headers=headers).json()
    assert [d["number"] for d in listed["items"]] == [deviation.number]
    before = _state()
    bad = api.post(f"/api/v1/deviations/{deviation.number}/classify", {"answers": {"patient_safety": "maybe"},
                                                                       "investigator": investigator.username},
                   content_type="application/json", headers=headers)
    assert bad.status_code == 422 and "neither yes nor no" in bad.json()["detail"]
    bad = api.post(f"/api/v1/deviations/{deviation.number}/extensions", {"requested_due_date": "soon"},
                   content_type="application/json", headers=headers)
    assert bad.status_code == 422
    assert _state() == before


@pytest.mark.req("P11-3")
def test_the_pdf_report_renders_every_section_and_the_signature_manifestation(raiser, classifier, investigator,
                                                                              closer, sponsor_a):
    deviation = builders.in_state("closed", raiser, classifier, investigator, sponsor_a, closer)
    response = signed_in(classifier).get(f"/quality/deviations/{deviation.number}/pdf/")
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    text = " ".join(page.extract_text() for page in PdfReader(io.BytesIO(response.content)).pages)
    text = " ".join(text.split())
    for expected in (deviation.number, "Apheresis bag received above temperature limit", "Classification",
                     "Why were they not conditioned?", "Impact assessment", "Signature manifestation",
                     "Sup Santos", "Performed", "Qp Dubois", "Approved", "UTC"):
        assert expected in text, expected


def test_the_trend_report_counts_by_month_category_area_and_root_cause(raiser, classifier, investigator, sponsor_a,
                                                                       fake_clock):
    builders.raised(raiser, sponsor_a, area="B-101", category="environmental")
    fake_clock.advance(days=40)
    deviation = builders.classified(builders.raised(raiser, sponsor_a, area="B-101", category="environmental"),
                                    classifier, investigator)
    builders.investigated(deviation, investigator)
    page = signed_in(raiser).get("/quality/deviations/trends/").content.decode()
    assert page.count("<svg") == 4
    assert "<td>2026-03</td><td>1</td>" in page and "<td>2026-04</td><td>1</td>" in page
    assert "<td>Environmental monitoring</td><td>2</td>" in page and "<td>B-101</td><td>2</td>" in page
    assert "<td>Material or supplier</td><td>1</td>" in page and "<td>Not yet investigated</td><td>1</td>" in page
    major = signed_in(raiser).get("/quality/deviations/trends/?classification=major").content.decode()
    assert "<td>B-101</td><td>1</td>" in major


def test_my_tasks_name_what_waits_for_each_person(raiser, classifier, investigator, closer, sponsor_a):
    open_one = builders.raised(raiser, sponsor_a, title="To classify")
    investigating = builders.classified(builders.raised(raiser, sponsor_a, title="To investigate"), classifier,
                                        investigator)
    closing = builders.in_state("closure_review", raiser, classifier, investigator, sponsor_a)
    extension = services.request_extension(investigator, investigating,
                                           requested_due_date=investigating.due_date + dt.timedelta(days=7),
                                           justification="Lab results pending")
    capa = builders.capa(classifier, sponsor_a, owner=investigator)
    builders.action(classifier, capa, investigator)

    def titles(user):
        return {(t.title, t.record) for t in tasks.tasks_for(user)}

    assert ("Classify deviation", open_one.number) in titles(classifier)
    assert ("Investigate deviation", investigating.number) in titles(investigator)
    assert ("Approve closure of deviation", closing.number) in titles(closer)
    assert ("Decide on extension", extension.number) in titles(closer)
    assert ("Approve CAPA plan", capa.number) in titles(closer)
    assert not {t for t in titles(raiser) if "deviation" in t[0].lower()}
    builders.approved(capa, closer)
    assert ("Do CAPA action", capa.number) in titles(investigator)
    services.complete_capa_action(investigator, capa.actions.get(), evidence="done")
    assert ("Verify CAPA action", capa.number) in titles(classifier)
    assert ("Verify CAPA action", capa.number) not in titles(investigator)


def test_capa_page_shows_actions_with_the_buttons_each_person_may_use(classifier, investigator, closer, sponsor_a):
    capa = builders.capa(classifier, sponsor_a, owner=investigator)
    builders.action(classifier, capa, investigator)
    builders.approved(capa, closer)
    owner_page = signed_in(investigator).get(f"/quality/capas/{capa.number}/").content.decode()
    assert "Mark done" in owner_page and "Add conditioning step to courier SOP" in owner_page
    assert "Mark done" not in signed_in(classifier).get(f"/quality/capas/{capa.number}/").content.decode()
    action = capa.actions.get()
    assert signed_in(investigator).post(f"/quality/capas/{capa.number}/actions/{action.pk}/complete/",
                                        {"evidence": "SOP v3"}).status_code == 302
    refused = signed_in(investigator).post(f"/quality/capas/{capa.number}/actions/{action.pk}/verify/")
    assert refused.status_code == 422 and "someone else must verify" in refused.content.decode()
    assert signed_in(classifier).post(f"/quality/capas/{capa.number}/actions/{action.pk}/verify/").status_code == 302
    listing = signed_in(classifier).get("/quality/capas/?status=implementing").content.decode()
    assert capa.number in listing


def test_closing_a_deviation_in_the_signature_dialog(raiser, classifier, investigator, closer, sponsor_a):
    deviation = builders.in_state("closure_review", raiser, classifier, investigator, sponsor_a)
    url = f"/records/quality.deviation/{deviation.number}/actions/close/"
    own = signed_in(raiser).post(url, {"username": raiser.username, "password": "x"})
    assert own.status_code in (403, 422)
    response = signed_in(closer).post(url, {"username": closer.username,
                                            "password": signature(closer, "Approved").password})
    assert response.status_code == 302
    assert Deviation.objects.get(pk=deviation.pk).status == "closed"
