"""What every display and printout of a signed record shows (P11-3, P11-4, A11-7), audit-trail
exports (P11-1b, DI-4) and attachments, through the pages."""

import csv
import hashlib
import io
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from pypdf import PdfReader

from opencdmo.core.models import AuditEvent
from opencdmo.sponsors.models import QualityAgreement
from tests import factories

from .conftest import signed_in

# The fake clock starts at 2026-03-02 08:30 UTC; the site's zone is Europe/Berlin (CET, UTC+01:00).
SIGNED_AT = "2026-03-02 09:30:00 CET (UTC+01:00)"


@pytest.fixture
def approved(fake_clock, qa_author, qa_approver, sponsor_a):
    return factories.approved_agreement(qa_author, qa_approver, sponsor_a)


def _manifestations(html: str) -> list[tuple[str, str, str, str]]:
    """(printed name, meaning, date and time, status) of each row of the signature table."""
    rows = re.findall(
        r'<td class="manifest-name">(.*?)</td>\s*<td class="manifest-meaning">(.*?)</td>\s*'
        r'<td class="manifest-time">(.*?)</td>\s*<td>v\d+</td>\s*<td>(.*?)</td>', html, re.S)
    return [(name, meaning, time, re.sub(r"<[^>]+>", "", status)) for name, meaning, time, status in rows]


def _pdf_text(content: bytes) -> str:
    assert content.startswith(b"%PDF")
    return " ".join(" ".join(page.extract_text().split()) for page in PdfReader(io.BytesIO(content)).pages)


@pytest.mark.req("P11-3")
def test_agreement_page_shows_printed_name_time_with_zone_and_meaning_of_each_signature(approved, qa_author):
    response = signed_in(qa_author).get(f"/sponsors/quality-agreements/{approved.number}/")

    assert response.status_code == 200
    assert _manifestations(response.content.decode()) == [
        ("Qa Author", "Authored", SIGNED_AT, "Valid"),
        ("Qa Approver", "Approved", SIGNED_AT, "Valid"),
    ]


@pytest.mark.req("P11-3")
def test_signatures_tab_shows_the_same_manifestation(approved, qa_author):
    response = signed_in(qa_author).get(f"/records/sponsors.qualityagreement/{approved.number}/signatures/")

    assert _manifestations(response.content.decode())[-1] == ("Qa Approver", "Approved", SIGNED_AT, "Valid")


@pytest.mark.req("P11-3")
@pytest.mark.req("P11-1b")
def test_agreement_pdf_shows_printed_name_time_with_zone_and_meaning_of_each_signature(approved, qa_author):
    response = signed_in(qa_author).get(f"/sponsors/quality-agreements/{approved.number}/pdf/")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    text = _pdf_text(response.content)
    assert approved.number in text
    assert "Signature manifestation" in text
    assert f"Qa Approver Approved {SIGNED_AT}" in text
    assert f"Qa Author Authored {SIGNED_AT}" in text


@pytest.mark.req("P11-4")
@pytest.mark.req("A11-7")
def test_editing_a_signed_record_shows_its_signature_no_longer_valid(fake_clock, qa_author, sponsor_a):
    agreement = factories.submitted_agreement(qa_author, sponsor_a)
    client = signed_in(qa_author)
    page = f"/sponsors/quality-agreements/{agreement.number}/"
    assert _manifestations(client.get(page).content.decode()) == [("Qa Author", "Authored", SIGNED_AT, "Valid")]

    edited = client.post(f"{page}edit/", {"title": agreement.title, "terms": "Critical deviations within 24 h.",
                                          "deviation_notification_days": "1", "reason": "sponsor's request"})

    assert edited.status_code == 302
    assert _manifestations(client.get(page).content.decode()) == [
        ("Qa Author", "Authored", SIGNED_AT, "No longer valid: record changed after signing")]
    assert "No longer valid" in _pdf_text(client.get(f"{page}pdf/").content)


@pytest.mark.req("A11-8")
def test_editing_a_record_out_of_draft_without_a_reason_is_refused_with_the_rule(qa_author, sponsor_a):
    agreement = factories.submitted_agreement(qa_author, sponsor_a)

    response = signed_in(qa_author).post(f"/sponsors/quality-agreements/{agreement.number}/edit/", {
        "title": agreement.title, "terms": "changed", "deviation_notification_days": "2", "reason": ""})

    assert response.status_code == 422
    assert "give a reason for the change" in response.content.decode()
    agreement.refresh_from_db()
    assert agreement.version == 2  # unchanged since submission


@pytest.mark.parametrize(("field", "value"), [
    ("deviation_notification_days", "-1"), ("deviation_notification_days", "two"),
    ("title", "x" * 201), ("effective_date", "2026-13-45"),
])
def test_agreement_form_refuses_bad_input_with_a_message_not_a_server_error(qa_author, sponsor_a, field, value):
    form = {"sponsor": "ACME", "title": "Quality agreement", "deviation_notification_days": "2", field: value}

    response = signed_in(qa_author).post("/sponsors/quality-agreements/new/", form)

    assert response.status_code == 422
    assert 'role="alert"' in response.content.decode()
    assert not QualityAgreement.objects.exists()


# Audit-trail exports (P11-1b: human-readable and electronic copies; exports are audited, DI-4).

@pytest.mark.req("P11-1b")
def test_audit_trail_csv_export_lists_who_what_when_why_and_is_audited(approved, qa_approver):
    response = signed_in(qa_approver).get("/audit-trail/", {"record_type": "sponsors.qualityagreement",
                                                             "format": "csv"})

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    approval = [r for r in rows if r["action"] == "transition" and r["new value"] == "approved"]
    assert len(approval) == 1
    assert approval[0]["user"] == "Qa Approver"
    assert approval[0]["record"] == approved.number
    assert approval[0]["old value"] == "in_review"
    assert approval[0]["time (site)"].endswith("(UTC+01:00)")
    assert {r["action"] for r in rows} >= {"create", "transition", "sign"}
    export = AuditEvent.objects.get(action="export")
    assert export.actor_id == qa_approver.pk
    assert '"format":"csv"' in export.changes
    assert "sponsors.qualityagreement" in export.changes


@pytest.mark.req("P11-1b")
def test_audit_trail_pdf_export_is_readable_and_audited(approved, qa_approver):
    response = signed_in(qa_approver).get("/audit-trail/", {"record_type": "sponsors.qualityagreement",
                                                             "format": "pdf"})

    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    text = _pdf_text(response.content)
    assert "Audit trail export" in text and "by Qa Approver (qa.approver)" in text
    assert approved.number in text
    assert AuditEvent.objects.filter(action="export", actor_id=qa_approver.pk, changes__contains='"pdf"').exists()


def test_audit_trail_with_a_bad_date_filter_says_how_to_write_it(qa_approver):
    response = signed_in(qa_approver).get("/audit-trail/", {"since": "2026-02-31"})

    assert response.status_code == 422
    assert "YYYY-MM-DD" in response.content.decode()


# Attachments (stored by SHA-256, never replaced; the audit trail records them).

@pytest.mark.req("P11-1e")
def test_attachment_download_returns_the_same_bytes_and_its_sha256(qa_author, sponsor_a):
    agreement = factories.draft_agreement(qa_author, sponsor_a)
    content = b"%PDF-1.4\nsigned annex with \x00 binary \xff bytes\n"
    digest = hashlib.sha256(content).hexdigest()
    client = signed_in(qa_author)
    url = f"/records/sponsors.qualityagreement/{agreement.number}/attachments/"

    uploaded = client.post(url, {"file": SimpleUploadedFile("annex 1.pdf", content, "application/pdf"),
                                 "description": "Signed annex 1"})

    assert uploaded.status_code == 200
    assert digest in uploaded.content.decode()
    link = re.search(r'href="(/attachments/\d+/)">annex 1.pdf<', uploaded.content.decode()).group(1)
    download = client.get(link)
    assert download.status_code == 200
    assert b"".join(download.streaming_content) == content
    assert download["X-Content-SHA256"] == digest
    assert 'filename="annex 1.pdf"' in download["Content-Disposition"]
    event = AuditEvent.objects.get(action="attach")
    assert (event.actor_id, event.record_label, event.reason) == (qa_author.pk, agreement.number, "Signed annex 1")
    assert digest in event.changes
    listed = client.get(f"/api/v1/records/sponsors.qualityagreement/{agreement.number}/attachments").json()
    assert [(a["filename"], a["sha256"], a["size"]) for a in listed] == [("annex 1.pdf", digest, len(content))]


def test_attaching_without_a_file_says_so(qa_author, sponsor_a):
    agreement = factories.draft_agreement(qa_author, sponsor_a)

    response = signed_in(qa_author).post(f"/records/sponsors.qualityagreement/{agreement.number}/attachments/",
                                         {"description": "forgot the file"})

    assert response.status_code == 422
    assert "Choose a file" in response.content.decode()
    assert not AuditEvent.objects.filter(action="attach").exists()
