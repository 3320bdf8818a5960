"""Effectiveness by date: `effective_version` is exact at the instant, the sweep makes the status
column agree (idempotent, audited), periodic review dates follow, and where-used is recorded."""

import datetime as dt
from io import StringIO

import pytest
from django.core.management import call_command

from opencdmo.core.errors import PermissionDenied, RuleViolation
from opencdmo.core.models import AuditEvent
from opencdmo.documents import selectors, services
from opencdmo.documents.models import DocumentCitation, PeriodicReview
from tests.factories import signature

from .builders import approve, effective_document, next_version
from .conftest import utc

# Europe/Berlin: 2026-04-01 00:00 CEST is 2026-03-31 22:00 UTC.
APRIL_FIRST_BERLIN = utc(2026, 3, 31, 22, 0)


@pytest.fixture
def v1_then_approved_v2(author, reviewer, approver):
    document, v1 = effective_document(author, reviewer, approver)
    v2 = approve(next_version(author, document, effective_date=dt.date(2026, 4, 1)), author, reviewer, approver)
    return document, v1, v2


def test_an_approved_version_is_not_effective_before_its_date(v1_then_approved_v2):
    document, v1, v2 = v1_then_approved_v2
    assert v2.status == "approved"
    assert v2.effective_from == APRIL_FIRST_BERLIN
    assert selectors.effective_version(document) == v1
    assert selectors.effective_version(document, at=APRIL_FIRST_BERLIN - dt.timedelta(microseconds=1)) == v1


def test_the_new_version_is_effective_at_the_instant_even_before_any_sweep(v1_then_approved_v2, fake_clock):
    document, v1, v2 = v1_then_approved_v2
    fake_clock.set(APRIL_FIRST_BERLIN)
    assert selectors.effective_version(document) == v2
    v1.refresh_from_db()
    assert v1.status == "effective"  # the column lags until the sweep; the selector does not


def test_the_history_stays_answerable(v1_then_approved_v2, fake_clock):
    document, v1, v2 = v1_then_approved_v2
    fake_clock.set(utc(2026, 6, 1))
    assert selectors.effective_version(document, at=utc(2026, 3, 15)) == v1
    assert selectors.effective_version(document, at=utc(2026, 3, 2, 8, 0)) is None  # before v1's approval


def test_the_sweep_supersedes_at_the_date_is_idempotent_and_audited(v1_then_approved_v2, fake_clock):
    document, v1, v2 = v1_then_approved_v2
    assert services.take_effect_due() == []
    fake_clock.set(APRIL_FIRST_BERLIN + dt.timedelta(minutes=5))
    out = StringIO()
    call_command("documents_take_effect", stdout=out)
    assert "SOP-0001-v2.0 effective from" in out.getvalue()
    v1.refresh_from_db()
    v2.refresh_from_db()
    assert (v1.status, v2.status) == ("superseded", "effective")
    events = AuditEvent.objects.filter(record_type="documents.documentversion", action="transition",
                                       actor_name="system")
    assert {e.reason for e in events} >= {"superseded by SOP-0001-v2.0"}
    assert services.take_effect_due() == []
    document.refresh_from_db()
    assert document.next_review_due == dt.date(2028, 4, 1)


def test_a_version_approved_after_its_date_takes_effect_at_approval(author, reviewer, approver, fake_clock):
    document, v1 = effective_document(author, reviewer, approver, effective_date=dt.date(2026, 2, 1))
    assert v1.effective_from == utc(2026, 3, 2, 8, 30)
    assert v1.status == "effective"


@pytest.mark.req("P11-1g")
def test_periodic_review_no_change_sets_the_next_due_date(v1_then_approved_v2, reviewer, fake_clock):
    document, _, v2 = v1_then_approved_v2
    fake_clock.set(utc(2028, 4, 10, 9))
    services.take_effect_due()
    assert list(selectors.review_overdue(reviewer)) == [document]
    services.record_periodic_review(reviewer, document, outcome="no_change",
                                    signature=signature(reviewer, "Reviewed", comment="still current"))
    document.refresh_from_db()
    assert document.next_review_due == dt.date(2030, 4, 10)
    assert list(selectors.review_overdue(reviewer)) == []
    review = PeriodicReview.objects.get()
    assert (review.document_version, review.outcome, review.comment) == (v2, "no_change", "still current")


def test_periodic_review_revision_needed_keeps_it_due(v1_then_approved_v2, reviewer, operator, fake_clock):
    document, *_ = v1_then_approved_v2
    fake_clock.set(utc(2026, 3, 10, 9))
    services.record_periodic_review(reviewer, document, outcome="revision_needed",
                                    signature=signature(reviewer, "Reviewed"))
    document.refresh_from_db()
    assert document.next_review_due == dt.date(2028, 3, 2)
    with pytest.raises(PermissionDenied):
        services.record_periodic_review(operator, document, outcome="no_change",
                                        signature=signature(operator, "Reviewed"))
    with pytest.raises(RuleViolation, match="outcome"):
        services.record_periodic_review(reviewer, document, outcome="fine", signature=signature(reviewer, "Reviewed"))


def test_add_months_keeps_the_day_or_takes_the_last_of_the_month():
    from opencdmo.documents.domain.rules import add_months  # noqa: PLC0415

    assert add_months(dt.date(2026, 1, 31), 1) == dt.date(2026, 2, 28)
    assert add_months(dt.date(2027, 11, 30), 3) == dt.date(2028, 2, 29)
    assert add_months(dt.date(2026, 3, 2), 24) == dt.date(2028, 3, 2)


def test_cite_document_records_where_used_once(author, reviewer, approver, sponsor_a):
    document, version = effective_document(author, reviewer, approver)
    services.cite_document(author, document, sponsor_a)
    services.cite_document(author, document, sponsor_a)
    citation = DocumentCitation.objects.get()
    assert (citation.record_type, citation.record_label, citation.sponsor_id) == (
        "sponsors.sponsor", str(sponsor_a), sponsor_a.pk)
    assert list(selectors.where_used(author, document)) == [citation]


@pytest.mark.req("P11-1d")
def test_a_sponsors_user_sees_only_that_sponsors_documents_and_no_cdmo_wide_ones(
        make_user, author, reviewer, approver, sponsor_a, sponsor_b):
    from opencdmo.core.domain.roles import Role  # noqa: PLC0415
    from opencdmo.core.errors import NotFound  # noqa: PLC0415

    sop, _ = effective_document(author, reviewer, approver, "Gowning for grade B")
    spec_a, _ = effective_document(author, reviewer, approver, "ACM-101 release specification",
                                   doc_type="specification", sponsor=sponsor_a)
    beta_author = make_user("qa.beta", Role.QA_SPECIALIST, sponsors=[sponsor_b])
    beta_reviewer = make_user("qa.beta2", Role.QA_SPECIALIST, sponsors=[sponsor_b])
    beta_approver = make_user("qp.beta", Role.QA_APPROVER, sponsors=[sponsor_b])
    spec_b, _ = effective_document(beta_author, beta_reviewer, beta_approver, "BVB-201 release specification",
                                   doc_type="specification", sponsor=sponsor_b)
    acme_quality = make_user("acme.quality", Role.SPONSOR_VIEWER, sponsors=[sponsor_a])
    assert list(selectors.documents_for(acme_quality)) == [spec_a]
    assert set(selectors.documents_for(author)) == {sop, spec_a}  # staff of sponsor A
    assert set(selectors.documents_for(beta_author)) == {sop, spec_b}
    for number in (sop.number, spec_b.number):
        with pytest.raises(NotFound):
            selectors.document(acme_quality, number)
    with pytest.raises(NotFound):
        services.create_document(author, doc_type="sop", title="For Beta", sponsor=sponsor_b)
