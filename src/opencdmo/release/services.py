"""Disposition writes (REL-1): open a disposition, decide it with a QA signature, and the
post-release notification path of a late failing result (QC-1)."""

from django.db import IntegrityError, transaction

from opencdmo.batches.models import Batch
from opencdmo.core import clock
from opencdmo.core.access import require
from opencdmo.core.errors import Conflict, PermissionDenied, RuleViolation
from opencdmo.core.records import create_record, update_record
from opencdmo.core.scoping import get_scoped
from opencdmo.core.signatures import SignatureInput
from opencdmo.materials.models import Lot
from opencdmo.materials.workflows import lot_workflow
from opencdmo.qc.models import TestResult
from opencdmo.quality import services as quality_services

from . import selectors
from .models import Disposition, PostReleaseNotice
from .workflows import RELEASED_STATES, workflow_for

DECISIONS = ("release", "conditional_release", "reject", "complete")
MAX_TEXT = 4000


def _text(value, what: str, *, required: str = "", max_length: int = MAX_TEXT) -> str:
    text = str(value or "").strip()
    if required and not text:
        raise RuleViolation(required)
    if len(text) > max_length:
        raise RuleViolation(f"{what} is too long: at most {max_length} characters.")
    return text


def _locked_subject(actor, subject_type: str, ref: str):
    if subject_type == selectors.BATCH:
        return get_scoped(Batch.objects.select_for_update(of=("self",)).select_related("product", "sponsor", "mbr_version"),
                          actor, number=ref)
    return get_scoped(Lot.objects.select_for_update(of=("self",)).select_related("material", "sponsor"), actor, number=ref)


def open_disposition(actor, subject) -> Disposition:
    """The subject's disposition: the one already open or decided, or a new one, open."""
    require(actor, "release.prepare", to="prepare a disposition")
    subject_type = selectors.subject_type_of(subject)
    with transaction.atomic():
        subject = _locked_subject(actor, subject_type, subject.number)
        if (existing := selectors.disposition_of(subject)) is not None:
            return existing
        if subject_type == selectors.BATCH and subject.status in ("planned", "cancelled"):
            raise RuleViolation(f"{subject.number} is {subject.status}: nothing has been made to decide on.")
        if subject_type == selectors.LOT and subject.status not in ("quarantine", "on_hold"):
            raise RuleViolation(f"{subject.number} is {subject.status.replace('_', ' ')}: only a lot in quarantine or "
                                "on hold waits for a disposition.")
        try:
            with transaction.atomic():
                return create_record(actor, Disposition(
                    subject_type=subject_type, subject_ref=subject.number,
                    subject_label=selectors.subject_label(subject), sponsor=subject.sponsor, status="open",
                    prerequisites=[p.as_dict() for p in selectors.prerequisites_of(subject)]))
        except IntegrityError:
            raise Conflict(f"A disposition of {subject.number} was opened meanwhile: reload the page.") from None


def _action(disposition: Disposition, decision: str) -> str:
    if decision not in DECISIONS:
        raise RuleViolation(f"'{str(decision)[:40]}' is not a decision: release, conditional_release or reject.")
    if decision == "release" and disposition.status == "conditionally_released":
        return "complete"
    return decision


def decide_on(actor, subject, decision: str, *, signature: SignatureInput | None, first_in_session: bool = True,
              comment: str = "", risk_assessment: str = "") -> Disposition:
    """The decision taken on the subject's page: a disposition not yet opened is opened in the
    decision's own transaction, so a refused decision leaves nothing behind."""
    if (existing := selectors.disposition_of(subject)) is not None:
        return decide(actor, existing, decision, signature=signature, first_in_session=first_in_session,
                      comment=comment, risk_assessment=risk_assessment)
    require(actor, "release.prepare", to="prepare a disposition")
    fresh = Disposition(subject_type=selectors.subject_type_of(subject), status="open")
    signer = workflow_for(fresh).authenticate(actor, _action(fresh, decision), signature,
                                              first_in_session=first_in_session)
    with transaction.atomic():
        return decide(actor, open_disposition(actor, subject), decision, signer=signer, comment=comment,
                      risk_assessment=risk_assessment)


def decide(actor, disposition: Disposition, decision: str, *, signature: SignatureInput | None = None,
           signer=None, first_in_session: bool = True, comment: str = "", risk_assessment: str = "") -> Disposition:
    """Release, conditionally release, complete or reject, signed. The prerequisites are recomputed in
    the transaction and stored with the decision as the decider saw them. A lot's own status follows
    in the same transaction, under the same signature (one authentication)."""
    disposition = get_scoped(Disposition, actor, pk=disposition.pk)
    action = _action(disposition, decision)
    comment = _text(comment, "The comment", required="Give the reason for the rejection." if action == "reject" else "")
    risk_assessment = _text(risk_assessment, "The risk assessment", required=(
        "Write the risk assessment: why the batch may be released before the pending results, and what is done "
        "if one fails." if action == "conditional_release" else ""))
    workflow = workflow_for(disposition)
    if signer is None:  # re-authenticated before the transaction, so that a wrong password still counts
        signer = workflow.authenticate(actor, action, signature, first_in_session=first_in_session)
    with transaction.atomic():
        disposition = get_scoped(Disposition.objects.select_for_update(), actor, pk=disposition.pk)
        subject = _locked_subject(actor, disposition.subject_type, disposition.subject_ref)
        if (why := workflow.refusal(disposition, action, actor)) is not None:
            raise PermissionDenied(why) if why.startswith("You do not have") else RuleViolation(why)
        fields = {"prerequisites": [p.as_dict() for p in selectors.prerequisites_of(subject)],
                  "decided_at": clock.now(), "decided_by": actor, "decision_comment": comment}
        if action == "conditional_release":
            fields.update(risk_assessment=risk_assessment, pending_tests=selectors.pending_tests(subject))
        update_record(actor, disposition, action="decision", reason=comment, **fields)
        workflow.apply(disposition, action, actor=actor, signer=signer, reason=comment)
        if isinstance(subject, Lot):
            if action == "release" and subject.status == "quarantine":
                lot_workflow.apply(subject, "release", actor=actor, signer=signer)
            elif action == "reject" and subject.status in ("quarantine", "on_hold"):
                lot_workflow.apply(subject, "reject", actor=actor, signer=signer, reason=comment)
    return disposition


def transition_disposition(actor, disposition: Disposition, action: str, *, signature=None,
                           first_in_session: bool = True, reason: str = "") -> Disposition:
    """The generic record transition (core:record_transition): a decision without a risk assessment."""
    return decide(actor, disposition, action, signature=signature, first_in_session=first_in_session, comment=reason)


# --- The post-release notification path (QC-1, REL-1 ATMP Part IV) ----------------------------

def notify_late_result(actor, result: TestResult) -> PostReleaseNotice | None:
    """A result that does not conform, of a subject already (conditionally) released: a notice and a
    deviation, once per result, in the result's transaction."""
    if result.status == "invalidated" or result.conformance != TestResult.Conformance.DOES_NOT_CONFORM:
        return None
    sample = result.sample
    with transaction.atomic():
        disposition = (Disposition.objects.select_for_update()
                       .filter(subject_type=sample.subject_type, subject_ref=sample.subject_ref,
                               status__in=RELEASED_STATES).first())
        if disposition is None or disposition.notices.filter(result_ref=result.number).exists():
            return None
        subject = selectors.subject_of(disposition)
        test = result.test
        finding = (f"{test.attribute}: {result.reported or result.value} {result.unit}".strip()
                   + f" against {_limit(test)} ({result.number}), after {disposition.number} "
                   f"{'conditionally ' if disposition.status == 'conditionally_released' else ''}released "
                   f"{subject.number}.")
        deviation = quality_services.raise_deviation(
            actor, title=f"Failing {test.attribute.lower()} result after release of {subject.number}"[:200],
            description=finding + " The treating physician and the sponsor must be told (post-release notification).",
            source="oos", records=[disposition, subject], sponsor=disposition.sponsor, category="laboratory")
        return create_record(actor, PostReleaseNotice(
            disposition=disposition, sponsor=disposition.sponsor, result_ref=result.number, finding=finding,
            deviation=deviation, status="open"))


def _limit(test) -> str:
    from opencdmo.qc import selectors as qc_selectors  # noqa: PLC0415

    return qc_selectors.limit_text(test)


def on_result_changed(sender, result=None, actor=None, event="", **kwargs):
    """Receiver of opencdmo.qc.signals.result_changed."""
    if result is not None and actor is not None:
        notify_late_result(actor, result)


def record_notification(actor, notice: PostReleaseNotice, *, notified_whom: str, notification: str
                        ) -> PostReleaseNotice:
    """QA records whom they told of the late failing result, and what: the notice is then closed."""
    require(actor, "release.notify", to="record a post-release notification")
    whom = _text(notified_whom, "Whom you notified", max_length=200,
                 required="Say whom you notified (e.g. the treating physician, the sponsor's QP).")
    what = _text(notification, "The notification", required="Write what you told them, and how.")
    with transaction.atomic():
        notice = get_scoped(PostReleaseNotice.objects.select_for_update(), actor, pk=notice.pk)
        if notice.status != "open":
            raise Conflict(f"{notice.number}: the notification was already recorded on "
                           f"{notice.notified_at:%Y-%m-%d %H:%M} UTC.")
        return update_record(actor, notice, action="transition", reason=f"Notified {whom}", status="notified",
                             notified_at=clock.now(), notified_by=actor, notified_whom=whom, notification=what)
