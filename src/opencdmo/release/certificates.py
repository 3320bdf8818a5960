"""Certificates of analysis: the specification, every result against its limit, conformance, and
the signature manifestation of the person who released the batch or lot (P11-3, P11-4, REL-1).

A certificate is issued only for a subject with a decided release (released or conditionally
released); a conditional release prints the tests still pending and the risk assessment it rests
on. Every result of the subject against the specification is accounted for: the reportable one
in the table, any other (invalidated, retested, investigated) in a footnote. Each issue is
written to the audit trail with the SHA-256 of the PDF handed out.
"""

import datetime as dt
import hashlib
from dataclasses import dataclass, field

from django.db import transaction
from django.utils import timezone

from opencdmo.batches.models import Batch
from opencdmo.core import audit, clock
from opencdmo.core.access import require
from opencdmo.core.errors import RuleViolation
from opencdmo.core.models import Signature
from opencdmo.core.pdf import render_pdf
from opencdmo.core.presentation import local_time
from opencdmo.core.scoping import get_scoped
from opencdmo.core.signatures import with_validity
from opencdmo.facilities import selectors as facility_selectors
from opencdmo.identity import selectors as identity_selectors
from opencdmo.identity.domain import isbt128
from opencdmo.materials.models import Lot
from opencdmo.qc import selectors as qc
from opencdmo.qc.models import Specification, Stage, TestResult

from .models import Disposition

BATCH, LOT = "batches.batch", "materials.lot"
DECIDED = ("released", "conditionally_released")
DECISION_LABELS = {"released": "Released", "conditionally_released": "Conditionally released"}
RELEASE_MEANING = Signature.Meaning.QA_RELEASED
TEMPLATE = "release/coa_pdf.html"
PERMISSION = "release.view"

CONFORMS, DOES_NOT_CONFORM, PENDING, REPORTED = "conforms", "does_not_conform", "pending", "reported"
CONFORMANCE_LABELS = {CONFORMS: "Conforms", DOES_NOT_CONFORM: "Does not conform", PENDING: "Pending",
                      REPORTED: "Reported"}


@dataclass
class CertificateRow:
    """One criterion of the specification as the certificate prints it."""

    attribute: str
    method: str
    limit: str
    result: str
    conformance: str
    conformance_label: str
    result_number: str = ""
    result_date: str = ""
    analyst: str = ""
    reviewer: str = ""
    notes: list[int] = field(default_factory=list)


@dataclass
class Footnote:
    number: int
    text: str


def _utc(value) -> str:
    """'2026-03-02 08:30:00 UTC': the moment as stored, beside the site's local time."""
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _short_time(value) -> str:
    """'2026-03-02 09:30 CET': a table cell's time in the site's zone (the zone always printed)."""
    if value is None:
        return ""
    local = timezone.localtime(value)
    return f"{local:%Y-%m-%d %H:%M} {local.tzname()}"


def _printed_coi(coi: str) -> dict:
    """The chain of identity identifier as its labels print it: in groups, with its check character
    (identity.selectors.printed_coi); as stored if it cannot be read."""
    try:
        printed = identity_selectors.printed_coi(coi)
    except isbt128.Isbt128Error:
        return {"text": coi, "check": ""}
    return {"text": printed.text, "check": printed.check}


def _name(user) -> str:
    return user.full_name if user is not None else ""


def _value(result: TestResult) -> str:
    shown = result.reported or result.value
    unit = result.unit or ""
    return f"{shown} {unit}".strip()


def _decided_disposition(subject_type: str, subject_ref: str, label: str) -> Disposition:
    """The subject's decided release; a RuleViolation that says what to do otherwise."""
    disposition = (Disposition.objects.filter(subject_type=subject_type, subject_ref=subject_ref)
                   .exclude(status="cancelled").select_related("decided_by").order_by("-created_at", "-id").first())
    if disposition is None:
        raise RuleViolation(f"{label} has no disposition yet: a certificate of analysis is issued only after QA "
                            "has released it. Open its disposition page and take the decision first.")
    if disposition.status not in DECIDED or disposition.decided_at is None:
        state = "rejected" if disposition.status == "rejected" else "not decided yet"
        raise RuleViolation(f"{label} is {state} ({disposition.number}, {disposition.status.replace('_', ' ')}): "
                            "a certificate of analysis is issued only for a released or conditionally "
                            "released subject.")
    return disposition


def _release_signatures(disposition: Disposition, label: str) -> list[dict]:
    """Every 'QA Released' signature of the disposition, oldest first, with whether it still holds: a
    conditional release completed later carries two."""
    signed = sorted(((s, valid) for s, valid in with_validity(disposition) if s.meaning == RELEASE_MEANING),
                    key=lambda pair: (pair[0].signed_at, pair[0].pk))
    if not signed:
        raise RuleViolation(f"{disposition.number} of {label} carries no '{RELEASE_MEANING}' signature: "
                            "a certificate of analysis needs the releasing person's signature.")
    shown = []
    for s, valid in signed:
        state = "Valid electronic signature" if valid else "No longer valid: the disposition changed after signing"
        shown.append({"printed_name": s.printed_name, "meaning": s.meaning, "signed_at": local_time(s.signed_at),
                      "signed_at_utc": _utc(s.signed_at), "valid": valid, "state": state, "comment": s.comment,
                      "username": s.signer.username})
    return shown


def _specification(subject_type: str, subject_ref: str, stage: str, *, product=None, material=None,
                   label: str) -> Specification:
    """The specification the subject was tested against: the one its results name (the effective
    one among them if several), else the effective specification for its product or material."""
    effective = qc.effective_specification(stage=stage, product=product, material=material)
    tested = set(TestResult.objects.filter(sample__subject_type=subject_type, sample__subject_ref=subject_ref,
                                           test__specification__stage=stage)
                 .values_list("test__specification_id", flat=True).distinct())
    if effective is not None and (not tested or effective.pk in tested):
        return effective
    if tested:
        return Specification.objects.filter(pk__in=tested).order_by("-revision", "-id").first()
    what = "product" if product is not None else "material"
    raise RuleViolation(f"No approved {Stage(stage).label.lower()} specification applies to the {what} of "
                        f"{label}: approve one before issuing a certificate of analysis.")


def _conformance(status: qc.TestStatus) -> str:
    if status.state == qc.PASSES:
        return REPORTED if status.result.conformance == TestResult.Conformance.REPORTED else CONFORMS
    if status.state in (qc.FAILS, qc.INVESTIGATING):
        return DOES_NOT_CONFORM
    return PENDING  # no result yet, or one still awaiting review


def _result_note(result: TestResult, *, reportable: bool) -> str | None:
    """Why a result is footnoted: invalidated, not the reportable one, or investigated (OOS-1)."""
    parts = []
    retest = f", retest of {result.retest_of.number}" if result.retest_of_id else ""
    head = (f"{result.number} (attempt {result.attempt}{retest}), "
            f"entered {local_time(result.entered_at)} by {_name(result.analyst)}: {_value(result)}, "
            f"{result.get_conformance_display().lower()}")
    if result.status == "invalidated":
        parts.append(f"invalidated {local_time(result.invalidated_at)} by {_name(result.invalidated_by)}: "
                     f"{(result.invalidation_reason or 'no reason recorded').rstrip('.')}")
    elif not reportable:
        parts.append("also valid; the table shows the latest valid result")
    investigation = getattr(result, "investigation", None)
    if investigation is not None:
        state = investigation.status.replace("_", " ")
        conclusion = f", conclusion: {investigation.get_conclusion_display()}" if investigation.conclusion else ""
        parts.append(f"OOS investigation {investigation.number} ({state}{conclusion})")
    if not parts:
        return None
    return f"{head} — {'; '.join(parts)}."


def _rows(statuses: list[qc.TestStatus]) -> tuple[list[CertificateRow], list[Footnote], int]:
    rows, notes, accounted = [], [], 0
    for status in statuses:
        test, result = status.test, status.result
        conformance = _conformance(status)
        row = CertificateRow(
            attribute=test.attribute, method=f"{test.method.code} {test.method.name}", limit=qc.limit_text(test),
            result=_value(result) if result else "—", conformance=conformance,
            conformance_label=CONFORMANCE_LABELS[conformance],
            result_number=result.number if result else "",
            result_date=_short_time(result.entered_at) if result else "",
            analyst=_name(result.analyst) if result else "",
            reviewer=(f"{_name(result.reviewed_by)}, {_short_time(result.reviewed_at)}"
                      if result and result.reviewed_by_id else ("awaiting review" if result else "")))
        for attempt in status.results:
            accounted += 1
            text = _result_note(attempt, reportable=result is not None and attempt.pk == result.pk)
            if text is not None:
                notes.append(Footnote(len(notes) + 1, f"{test.attribute}: {text}"))
                row.notes.append(len(notes))
        rows.append(row)
    return rows, notes, accounted


def _pending_text(item) -> str:
    """One entry of Disposition.pending_tests as the decision recorded it (release.selectors.pending_tests:
    attribute, method, limit, sample, expected date); a plain string is printed as it is."""
    if not isinstance(item, dict):
        return str(item)
    main = item.get("attribute") or item.get("test") or item.get("name") or ""
    extra = [str(item[k]) for k in ("method", "limit") if item.get(k)]
    if item.get("sample"):
        extra.append(f"sample {item['sample']}")
    if item.get("expected") or item.get("due"):
        extra.append(f"result expected by {item.get('expected') or item.get('due')}")
    return " · ".join([str(main), *extra]) if main else ", ".join(f"{k}: {v}" for k, v in item.items())


def _statement(rows: list[CertificateRow], spec: Specification, what: str, conditional: bool) -> str:
    reference = f"specification {spec.code} revision {spec.revision} ({spec.number})"
    failing = [r.attribute for r in rows if r.conformance == DOES_NOT_CONFORM]
    pending = [r.attribute for r in rows if r.conformance == PENDING]
    if failing:
        return (f"This {what} does not conform to {reference}: {', '.join(failing)} out of specification "
                "(see the results and footnotes).")
    if pending:
        return (f"All results available conform to {reference}. Pending at the time of issue: "
                f"{', '.join(pending)}" + (" (conditional release, see below)." if conditional else "."))
    return f"This {what} conforms to {reference}: every result above is within its limit."


def _certificate(user, *, subject, subject_type: str, label: str, stage: str, what: str, product=None,
                 material=None, subject_fields: list[tuple[str, str]], coi: str = "", request=None) -> bytes:
    disposition = _decided_disposition(subject_type, subject.number, label)
    signatures = _release_signatures(disposition, label)
    spec = _specification(subject_type, subject.number, stage, product=product, material=material, label=label)
    rows, notes, accounted = _rows(qc.subject_tests(spec, subject_type, subject.number))
    conditional = disposition.status == "conditionally_released"
    site = facility_selectors.sites(user).first()
    now = clock.now()
    context = {
        "title": f"Certificate of Analysis {label}", "cdmo": site.name if site else "OpenCDMO",
        "cdmo_address": site.address if site else "", "label": label, "what": what,
        "subject_fields": subject_fields, "coi": _printed_coi(coi) if coi else None, "spec": spec,
        "spec_effective": local_time(spec.effective_at) if spec.effective_at else "",
        "rounding": spec.rounding.replace("_", " "),
        "rows": rows, "notes": notes, "accounted": accounted,
        "statement": _statement(rows, spec, what, conditional),
        "disposition": disposition, "decision": DECISION_LABELS[disposition.status],
        "decided_at": local_time(disposition.decided_at), "decided_by": _name(disposition.decided_by),
        "conditional": conditional, "pending": [_pending_text(p) for p in disposition.pending_tests or []]
        or [r.attribute for r in rows if r.conformance == PENDING],
        "signatures": signatures, "generated_by": user.full_name, "generated_at": local_time(now),
        "generated_at_utc": _utc(now),
    }
    pdf = render_pdf(TEMPLATE, context, request=request)
    with transaction.atomic():
        audit.log_event(user, "export", record=subject, changes={"export": [None, {
            "what": "certificate of analysis", "format": "pdf", "disposition": disposition.number,
            "specification": spec.number, "revision": spec.revision, "results": accounted,
            "sha256": hashlib.sha256(pdf).hexdigest()}]})
    return pdf


def batch_certificate(user, batch_number: str, *, request=None) -> bytes:
    """The certificate of analysis of a released (or conditionally released) batch, as PDF."""
    require(user, PERMISSION, to="see certificates of analysis")
    batch = get_scoped(Batch.objects.select_related("product", "sponsor"), user, number=str(batch_number).strip())
    fields = [("Product", f"{batch.product.code} {batch.product.name}"),
              ("Sponsor", f"{batch.sponsor.code} {batch.sponsor.name}"),
              ("Batch number", batch.number),
              ("Batch size", f"{batch.scale.normalize():f} {batch.scale_unit}"),
              ("Manufacturing started", local_time(batch.started_at) or "—"),
              ("Manufacturing completed", local_time(batch.completed_at) or "—")]
    return _certificate(user, subject=batch, subject_type=BATCH, label=batch.number, stage=Stage.RELEASE,
                        what="batch", product=batch.product, subject_fields=fields,
                        coi=batch.patient_reference, request=request)


def lot_certificate(user, lot_number: str, *, request=None) -> bytes:
    """The certificate of analysis of a released material lot against its incoming specification, as PDF."""
    require(user, PERMISSION, to="see certificates of analysis")
    lot = get_scoped(Lot.objects.select_related("material", "supplier", "sponsor"), user,
                     number=str(lot_number).strip())
    fields = [("Material", f"{lot.material.code} {lot.material.name}"),
              ("Sponsor", f"{lot.sponsor.code} {lot.sponsor.name}" if lot.sponsor_id else "CDMO stock (no sponsor)"),
              ("Lot number", lot.number),
              ("Supplier", f"{lot.supplier.name if lot.supplier_id else '—'}"
                           f"{f' · supplier lot {lot.supplier_lot}' if lot.supplier_lot else ''}"),
              ("Quantity received", f"{lot.quantity_received.normalize():f} {lot.unit}"),
              ("Received", local_time(lot.received_at) or "—"),
              ("Expiry date", lot.expiry_date.isoformat() if lot.expiry_date else "—"),
              ("Retest date", lot.retest_date.isoformat() if lot.retest_date else "—")]
    return _certificate(user, subject=lot, subject_type=LOT, label=lot.number, stage=Stage.INCOMING,
                        what="lot", material=lot.material, subject_fields=fields, request=request)


def filename(number: str) -> str:
    """'CoA-B-2026-0001.pdf': the download's name (only the characters a record number has)."""
    safe = "".join(c for c in str(number).strip() if c.isalnum() or c in "-_.")[:64]
    return f"CoA-{safe}.pdf"
