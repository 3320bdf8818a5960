"""Disposition reads: the prerequisites of a batch or a lot (REL-1), the lists and the tasks.
Always scoped to the sponsors the user may see."""

import datetime as dt

from django.db.models import Q
from django.urls import NoReverseMatch, reverse

from opencdmo.batches import selectors as batch_selectors
from opencdmo.batches.models import Batch, BatchException, BatchStep, MaterialUse
from opencdmo.batches.workflows import batch_workflow
from opencdmo.core import audit, clock
from opencdmo.core.access import require_to_see
from opencdmo.core.errors import NotFound
from opencdmo.core.models import Signature
from opencdmo.core.scoping import get_scoped, scoped
from opencdmo.core.tasks import Task
from opencdmo.envmon import selectors as envmon_selectors
from opencdmo.identity import selectors as identity_selectors
from opencdmo.identity.models import TherapyOrder
from opencdmo.materials import selectors as material_selectors
from opencdmo.materials.models import Lot
from opencdmo.materials.workflows import STATUS_LABELS as LOT_STATUS_LABELS
from opencdmo.qc import selectors as qc_selectors
from opencdmo.qc.models import OosInvestigation, Sample
from opencdmo.quality.models import Deviation, DeviationLink

from .domain.prerequisites import MET, NOT_APPLICABLE, PENDING, UNMET, Prerequisite
from .models import Disposition, PostReleaseNotice
from .workflows import DECIDED_STATES, NOTICE_STATES, RELEASED_STATES, disposition_workflow

VIEW = "release.view"
BATCH, LOT = "batches.batch", "materials.lot"
SUBJECT_LABELS = {BATCH: "Batch", LOT: "Material lot"}
CLOSED_DEVIATION = ("closed", "cancelled")


def _in_sentence(label: str) -> str:
    """'Awaiting review' → 'awaiting review', but 'OOS under investigation' keeps its capitals."""
    return label if label[:2].isupper() else label[:1].lower() + label[1:]


def _url(name: str, *args) -> str:
    try:
        return reverse(name, args=args)
    except NoReverseMatch:
        return ""


# --- Prerequisites of a batch -----------------------------------------------------------------

def _reviewed(batch: Batch) -> Prerequisite:
    name = "Batch record reviewed"
    if batch.status == "reviewed":
        return Prerequisite(name, MET, f"{batch.number} reviewed and signed by QA"
                            + (f" on {batch.reviewed_at:%Y-%m-%d}" if batch.reviewed_at else "") + ".",
                            _url("batches:review", batch.number))
    still = ("its review by exception must be signed" if batch.status == "completed"
             else "it must be completed and its review by exception signed")
    return Prerequisite(name, UNMET, f"{batch.number} is {batch_workflow.label(batch.status).lower()}: {still} first.",
                        _url("batches:review", batch.number))


def specification_prerequisite(name: str, spec, statuses, *, missing_spec: str, allow_pending: bool,
                               link: str = "") -> Prerequisite:
    """Every criterion of the specification within it; a missing or unreviewed result of a criterion
    that may be pending at release is 'pending' (a conditional release may go ahead)."""
    if spec is None:
        return Prerequisite(name, UNMET, missing_spec, link)
    problems, pending = [], []
    for s in statuses:
        attribute = s.test.attribute
        if s.state == qc_selectors.PASSES:
            continue
        if (allow_pending and s.test.may_be_pending_at_release
                and s.state in (qc_selectors.MISSING, qc_selectors.AWAITING_REVIEW)):
            pending.append(f"{attribute} ({_in_sentence(s.label)}; may be pending at release)")
            continue
        ref = f" ({s.result.number})" if s.result is not None else ""
        if s.state == qc_selectors.INVESTIGATING:
            oos = getattr(s.result, "investigation", None)
            ref += f", {oos.number}" if oos is not None else ""
        problems.append(f"{attribute}: {_in_sentence(s.label)}{ref}")
    if problems:
        return Prerequisite(name, UNMET, f"{spec.number} rev {spec.revision}: " + "; ".join(problems + pending) + ".",
                            link)
    if pending:
        return Prerequisite(name, PENDING, f"{spec.number} rev {spec.revision}: pending " + "; ".join(pending) + ".",
                            link, conditional=True)
    return Prerequisite(name, MET, f"All {len(statuses)} criteria of {spec.number} rev {spec.revision} within "
                        "specification and reviewed.", link)


def release_tests(batch: Batch):
    """(the product's effective release specification or None, each criterion's TestStatus)."""
    spec = qc_selectors.effective_specification(stage="release", product=batch.product)
    return spec, (qc_selectors.subject_tests(spec, BATCH, batch.number) if spec else [])


def incoming_tests(lot: Lot):
    spec = qc_selectors.effective_specification(stage="incoming", material=lot.material)
    return spec, (qc_selectors.subject_tests(spec, LOT, lot.number) if spec else [])


def _release_tests(batch: Batch, spec, statuses) -> Prerequisite:
    product = batch.product
    return specification_prerequisite(
        "Release tests", spec, statuses, allow_pending=True, link="#release-tests",
        missing_spec=f"No approved release specification for {product.code} {product.name}: QC approves one first.")


def _open_deviations(record, record_type: str) -> list[Deviation]:
    links = DeviationLink.objects.filter(record_type=record_type, record_id=str(record.pk))
    return list(Deviation.objects.filter(pk__in=links.values("deviation_id"))
                .exclude(status__in=CLOSED_DEVIATION).order_by("raised_at", "id"))


def _deviations(record, record_type: str) -> Prerequisite:
    name = "Deviations closed"
    open_ones = _open_deviations(record, record_type)
    if not open_ones:
        return Prerequisite(name, MET, f"No open deviation is linked to {record.number}.")
    named = ", ".join(f"{d.number} ({d.status.replace('_', ' ')})" for d in open_ones)
    return Prerequisite(name, UNMET, f"Open deviation(s) linked to {record.number}: {named}; close them first.",
                        _url("quality:deviation", open_ones[0].number))


def _investigations(subject_type: str, ref: str) -> Prerequisite:
    name = "OOS investigations closed"
    open_ones = list(OosInvestigation.objects.filter(
        result__sample__subject_type=subject_type, result__sample__subject_ref=ref, closed_at__isnull=True)
        .order_by("opened_at", "id"))
    if not open_ones:
        return Prerequisite(name, MET, f"No OOS investigation of {ref}'s results is open.")
    return Prerequisite(name, UNMET, "OOS investigation(s) still open: " + ", ".join(i.number for i in open_ones)
                        + ".", _url("qc:investigation", open_ones[0].number))


def _materials(batch: Batch) -> Prerequisite:
    name = "Materials used released"
    lots = {use.lot for use in MaterialUse.objects.filter(batch=batch).select_related("lot")}
    problems = [f"{lot.number} is {LOT_STATUS_LABELS.get(lot.status, lot.status).lower()}"
                for lot in sorted(lots, key=lambda lot: lot.number) if lot.status not in ("released", "depleted")]
    overrides = BatchException.objects.filter(batch=batch, kind=BatchException.Kind.OVERRIDE, status="open",
                                              override__interlock="material").select_related("override")
    problems += [f"override of the material interlock for {e.override.subject} not dispositioned" for e in overrides]
    if problems:
        return Prerequisite(name, UNMET, "; ".join(problems) + ".", _url("batches:review", batch.number))
    return Prerequisite(name, MET, f"{len(lots)} lot(s) used, each released or used up." if lots
                        else "No material lot was used.")


def _chain_of_identity(batch: Batch) -> Prerequisite:
    name = "Chain of identity verified"
    if not batch.patient_reference:
        return Prerequisite(name, NOT_APPLICABLE, "Not a patient-specific batch.")
    problems = []
    definition = batch_selectors.definition_of(batch)
    for step in BatchStep.objects.filter(batch=batch).exclude(status="skipped").order_by("position"):
        try:
            handles_patient_material = definition.step(step.key).patient_material
        except KeyError:
            continue
        if handles_patient_material and not step.identity_scans.exists():
            problems.append(f"step {step.key} {step.name} has no chain of identity scan")
    order = TherapyOrder.objects.filter(coi=batch.patient_reference).first()
    if order is None:
        problems.append(f"no therapy order has the identifier {batch.patient_reference}")
    else:
        custody = [d for d in _open_deviations(order, "identity.therapyorder") if d.source == "custody"]
        problems += [f"custody deviation {d.number} open" for d in custody]
        reconciliation = identity_selectors.label_reconciliation(order)
        problems += [f"{c.unaccounted} of {c.printed} {c.label.lower()} label(s) not reconciled"
                     for c in reconciliation.kinds if c.unaccounted]
    if problems:
        return Prerequisite(name, UNMET, "; ".join(problems) + ".",
                            _url("identity:order", order.number) if order else "")
    return Prerequisite(name, MET, f"Every patient-material step scanned against {batch.patient_reference}; "
                        "no open custody deviation; labels reconciled.",
                        _url("identity:order", order.number) if order else "")


def _environment(batch: Batch) -> Prerequisite:
    """The room's environmental monitoring while the batch was made (envmon.selectors.batch_em_summary):
    samples still to read or excursions to acknowledge may wait for a conditional release; an open
    action excursion naming the batch, or a room sampled not once, never."""
    summary = envmon_selectors.batch_em_summary(batch)
    return Prerequisite("Environmental monitoring", summary.state, summary.detail, "#environmental-monitoring",
                        conditional=summary.state == PENDING)


def batch_prerequisites(batch: Batch) -> list[Prerequisite]:
    spec, statuses = release_tests(batch)
    return [
        _reviewed(batch),
        _release_tests(batch, spec, statuses),
        _investigations(BATCH, batch.number),
        _deviations(batch, BATCH),
        _materials(batch),
        _chain_of_identity(batch),
        _environment(batch),
    ]


# --- Prerequisites of a material lot ----------------------------------------------------------

def _certificate(lot: Lot) -> Prerequisite:
    name = "Supplier certificate on file"
    problems = []
    if not material_selectors.has_certificate(lot):
        problems.append("no supplier certificate of analysis is attached")
    if (why := material_selectors.expiry_reason(lot)) is not None:
        problems.append(f"the lot is expired: {why}")
    if problems:
        return Prerequisite(name, UNMET, "; ".join(problems) + ".", _url("materials:lot", lot.number))
    return Prerequisite(name, MET, "Certificate of analysis attached; the lot is within its expiry and retest dates.",
                        _url("materials:lot", lot.number))


def _incoming_tests(lot: Lot, spec, statuses) -> Prerequisite:
    if spec is None:
        return Prerequisite("Incoming tests", NOT_APPLICABLE,
                            f"{lot.material.code} has no approved incoming specification: released on its certificate.")
    return specification_prerequisite("Incoming tests", spec, statuses, allow_pending=False, link="#release-tests",
                                      missing_spec="")


def lot_prerequisites(lot: Lot) -> list[Prerequisite]:
    spec, statuses = incoming_tests(lot)
    return [_certificate(lot), _incoming_tests(lot, spec, statuses), _investigations(LOT, lot.number),
            _deviations(lot, LOT)]


def prerequisites_of(subject) -> list[Prerequisite]:
    return batch_prerequisites(subject) if isinstance(subject, Batch) else lot_prerequisites(subject)


def tests_of(subject):
    return release_tests(subject) if isinstance(subject, Batch) else incoming_tests(subject)


def pending_tests(subject) -> list[dict]:
    """What a conditional release records as still to come: each pendable criterion without a
    reviewed conforming result, with its method and when its result is expected."""
    spec, statuses = tests_of(subject)
    pending = []
    for s in statuses:
        if not (s.test.may_be_pending_at_release and s.state in (qc_selectors.MISSING, qc_selectors.AWAITING_REVIEW)):
            continue
        sample = (Sample.objects.filter(subject_type=subject_type_of(subject), subject_ref=subject.number, tests=s.test)
                  .order_by("created_at", "id").first())
        start = (sample.taken_at or sample.created_at) if sample else clock.now()
        expected = (sample.due_at if sample and sample.due_at
                    else start + dt.timedelta(days=s.test.method.turnaround_days))
        pending.append({"test_id": s.test.pk, "attribute": s.test.attribute,
                        "method": f"{s.test.method.code} {s.test.method.name}", "limit": qc_selectors.limit_text(s.test),
                        "state": s.state, "sample": sample.number if sample else "",
                        "expected": expected.date().isoformat()})
    return pending


# --- Segregation of duties --------------------------------------------------------------------

def performed_by(batch: Batch, user) -> bool:
    """Whether `user` took part in making the batch: recorded, verified, scanned, used material, took
    samples, completed steps (batches.selectors.performers) or signed anything 'Performed' on it."""
    if user.pk in batch_selectors.performers(batch):
        return True
    step_ids = [str(pk) for pk in BatchStep.objects.filter(batch=batch).values_list("pk", flat=True)]
    return Signature.objects.filter(signer=user, meaning=Signature.Meaning.PERFORMED).filter(
        Q(record_type=audit.record_type(Batch), record_id=str(batch.pk))
        | Q(record_type=audit.record_type(BatchStep), record_id__in=step_ids)).exists()


# --- Subjects and dispositions ----------------------------------------------------------------

def batch(user, number: str) -> Batch:
    require_to_see(user, VIEW)
    return get_scoped(Batch.objects.select_related("product", "sponsor", "mbr_version", "room"), user,
                      number=str(number).strip())


def lot(user, number: str) -> Lot:
    require_to_see(user, VIEW)
    return get_scoped(Lot.objects.select_related("material", "supplier", "sponsor", "created_by"), user,
                      number=str(number).strip())


def subject_type_of(subject) -> str:
    return BATCH if isinstance(subject, Batch) else LOT


def subject_of(disposition: Disposition):
    """The batch or lot a disposition decides on (unscoped: the disposition was already)."""
    if disposition.subject_type == BATCH:
        return Batch.objects.select_related("product", "sponsor", "mbr_version").get(number=disposition.subject_ref)
    return Lot.objects.select_related("material", "sponsor").get(number=disposition.subject_ref)


def disposition_of(subject) -> Disposition | None:
    """The subject's disposition (open or decided), if one was opened."""
    return (Disposition.objects.select_related("decided_by", "sponsor")
            .filter(subject_type=subject_type_of(subject), subject_ref=subject.number)
            .exclude(status="cancelled").first())


def disposition(user, number: str) -> Disposition:
    require_to_see(user, VIEW)
    return get_scoped(Disposition.objects.select_related("decided_by", "sponsor"), user, number=str(number).strip())


def subject_url(disposition: Disposition) -> str:
    name = "release:batch" if disposition.subject_type == BATCH else "release:lot"
    return reverse(name, args=[disposition.subject_ref])


DECIDED_ORDER = {"number": ("number",), "subject": ("subject_ref", "number"), "type": ("subject_type", "number"),
                 "sponsor": ("sponsor__code", "number"), "status": ("status", "number"),
                 "decided": ("decided_at", "number")}


def dispositions_for(user, *, status: str = "", subject_type: str = "", sponsor: str = "", text: str = "",
                     sort: str = "-decided"):
    """Dispositions decided (or opened, with status='open'), filtered and sorted in the database."""
    require_to_see(user, VIEW)
    found = scoped(Disposition.objects.select_related("decided_by", "sponsor"), user)
    found = found.filter(status=status) if status else found.filter(status__in=DECIDED_STATES)
    if subject_type in SUBJECT_LABELS:
        found = found.filter(subject_type=subject_type)
    if sponsor:
        found = found.filter(sponsor__code=sponsor)
    if text.strip():
        q = text.strip()[:64]
        found = found.filter(Q(number__icontains=q) | Q(subject_ref__icontains=q) | Q(subject_label__icontains=q))
    fields = DECIDED_ORDER.get(sort.lstrip("-"), DECIDED_ORDER["decided"])
    return found.order_by(*(f"-{f}" if sort.startswith("-") else f for f in fields))


def awaiting_for(user, *, subject_type: str = "", sponsor: str = "", text: str = "", sort: str = "reference"):
    """What waits for a disposition: reviewed batches, batches whose disposition QA has opened, and
    lots in quarantine or on hold, with no decision yet (rows: type, reference, label, sponsor, since,
    disposition number or '')."""
    require_to_see(user, VIEW)
    decided = Disposition.objects.filter(status__in=DECIDED_STATES)
    opened = dict(Disposition.objects.filter(status="open").values_list("subject_ref", "number"))
    q = text.strip()[:64]
    rows = []
    if subject_type in ("", BATCH):
        opened_batches = Disposition.objects.filter(status="open", subject_type=BATCH).values("subject_ref")
        batches = scoped(Batch.objects.select_related("product", "sponsor"), user).filter(
            Q(status="reviewed") | Q(number__in=opened_batches)).exclude(
            number__in=decided.filter(subject_type=BATCH).values("subject_ref"))
        if sponsor:
            batches = batches.filter(sponsor__code=sponsor)
        if q:
            batches = batches.filter(Q(number__icontains=q) | Q(product__code__icontains=q))
        rows += [{"type": BATCH, "type_label": "Batch", "reference": b.number,
                  "label": f"{b.product.code} {b.product.name}", "sponsor": b.sponsor.code if b.sponsor else "",
                  "since": b.reviewed_at or b.modified_at, "disposition": opened.get(b.number, ""),
                  "url": reverse("release:batch", args=[b.number])} for b in batches[:500]]
    if subject_type in ("", LOT):
        lots = scoped(Lot.objects.select_related("material", "sponsor"), user).filter(
            status__in=("quarantine", "on_hold")).exclude(
            number__in=decided.filter(subject_type=LOT).values("subject_ref"))
        if sponsor:
            lots = lots.filter(sponsor__code=sponsor)
        if q:
            lots = lots.filter(Q(number__icontains=q) | Q(material__code__icontains=q))
        rows += [{"type": LOT, "type_label": "Material lot", "reference": lot.number,
                  "label": f"{lot.material.code} {lot.material.name}", "sponsor": lot.sponsor.code if lot.sponsor else "",
                  "since": lot.received_at or lot.created_at, "disposition": opened.get(lot.number, ""),
                  "url": reverse("release:lot", args=[lot.number])} for lot in lots[:500]]
    key = sort.lstrip("-") if sort.lstrip("-") in ("reference", "type", "label", "sponsor", "since") else "reference"
    rows.sort(key=lambda r: (r[key] is None, r[key] or ""), reverse=sort.startswith("-"))
    return rows


def notices_for(user, *, status: str = ""):
    require_to_see(user, VIEW)
    found = scoped(PostReleaseNotice.objects.select_related("disposition", "deviation", "notified_by"), user)
    if status in NOTICE_STATES:
        found = found.filter(status=status)
    return found


def notice(user, number: str) -> PostReleaseNotice:
    require_to_see(user, VIEW)
    return get_scoped(PostReleaseNotice.objects.select_related("disposition", "deviation", "notified_by",
                                                               "created_by"), user, number=str(number).strip())


def notices_of(disposition: Disposition):
    return disposition.notices.select_related("deviation", "notified_by").order_by("created_at", "id")


def released_dispositions_of(subject_type: str, subject_ref: str):
    return Disposition.objects.filter(subject_type=subject_type, subject_ref=subject_ref,
                                      status__in=RELEASED_STATES)


# --- Hooks into the layers below ---------------------------------------------------------------

def incoming_tests_check(lot, actor) -> str | None:
    """materials.workflows.RELEASE_CHECKS: a lot whose material has an approved incoming specification is
    released only once its incoming tests pass — whatever page the release is signed from."""
    spec, statuses = incoming_tests(lot)
    if spec is None:
        return None
    open_ = [f"{s.test.attribute}: {_in_sentence(s.label)}" for s in statuses if s.state != qc_selectors.PASSES]
    if not open_:
        return None
    return (f"{lot.number} cannot be released before its incoming tests pass ({spec.number} rev {spec.revision}: "
            f"{'; '.join(open_)}). QC enters and reviews them first.")


def shipment_release_check(unit) -> str | None:
    """identity HANDOFF_CHECKS['release_for_shipment']: the therapy's batch released (or conditionally
    released) by QA. Applies only when a batch is made for the therapy: a unit with no batch in this
    system (e.g. material made before it went live) is not stopped here."""
    coi = unit.order.coi
    batches = list(Batch.objects.filter(patient_reference=coi).exclude(status="cancelled").order_by("created_at"))
    if not batches:
        return None
    numbers = [b.number for b in batches]
    if Disposition.objects.filter(subject_type=BATCH, subject_ref__in=numbers, status__in=RELEASED_STATES).exists():
        return None
    return (f"{unit.number} cannot be released for shipment: batch {', '.join(numbers)} waits for QA disposition "
            "(release or conditional release) first.")


# --- My tasks --------------------------------------------------------------------------------

def disposition_tasks(user) -> list[Task]:
    """Batches reviewed and lots in quarantine with results awaiting disposition; conditional releases
    whose pending results are in; post-release notices to make."""
    found = []
    if user.has_permission("release.decide") or user.has_permission("materials.disposition"):
        kinds = ((BATCH,) if user.has_permission("release.decide") else ()) + (
            (LOT,) if user.has_permission("materials.disposition") else ())
        for row in awaiting_for(user)[:50]:
            if row["type"] not in kinds:
                continue
            if row["type"] == LOT and not Sample.objects.filter(subject_type=LOT, subject_ref=row["reference"],
                                                                results__isnull=False).exists():
                continue  # lots without results are already in materials' own task list
            found.append(Task("Decide the disposition", f"{row['reference']} {row['label']}", row["url"],
                              "awaiting", "Awaiting disposition", row["type_label"]))
    if user.has_permission("release.decide"):
        for d in scoped(Disposition, user).filter(status="conditionally_released")[:50]:
            subject = subject_of(d)
            if all(p.state in (MET, NOT_APPLICABLE) for p in prerequisites_of(subject)):
                found.append(Task("Complete the conditional release", f"{d.number} {d.subject_label}", subject_url(d),
                                  d.status, disposition_workflow.label(d.status), "the pending results are in"))
    if user.has_permission("release.notify"):
        for n in scoped(PostReleaseNotice.objects.select_related("disposition"), user).filter(status="open")[:50]:
            found.append(Task("Notify of a late failing result", f"{n.number} {n.disposition.subject_label}",
                              reverse("release:notice", args=[n.number]), n.status, NOTICE_STATES[n.status],
                              n.finding[:120]))
    return found


def subject_label(subject) -> str:
    if isinstance(subject, Batch):
        return f"{subject.number} {subject.product.code} {subject.product.name}"[:200]
    return f"{subject.number} {subject.material.code} {subject.material.name}"[:200]


def not_found(what: str):
    raise NotFound(f"No {what} matches that reference.")
