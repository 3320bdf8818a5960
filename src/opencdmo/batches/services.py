"""Every write to a batch record: plan, execute step by step with interlocks, verify, correct,
override, review by exception. Each service checks permission and workflow guards and writes
its audit event in the same transaction.

Submissions from the operator screens and the API carry a `submission_id` (a UUID made when the
form was shown, or by the client): a retried request finds the row it made the first time and
returns it, writing nothing twice (a lost connection never loses or duplicates an entry).
"""

from django.db import transaction

from opencdmo.core.access import require
from opencdmo.core.errors import RuleViolation
from opencdmo.core.scoping import get_scoped
from opencdmo.core.signatures import SignatureInput

from .models import Batch
from .workflows import batch_workflow


class Interlocked(RuleViolation):
    """An action refused by an interlock QA may override (P11-1f, A11-12). Carries what the
    override form needs: the interlock, the step and the subject refused."""

    def __init__(self, message: str, *, interlock: str, subject: str, step_key: str | None):
        super().__init__(message)
        self.interlock = interlock
        self.subject = subject
        self.step_key = step_key


# The contract below is what views, the API, the demo and the benchmark call.
#
# create_batch(actor, *, mbr_version, scale, room, number="", patient_reference="", planned_start=None) -> Batch
# transition_batch(actor, batch, action, *, signature=None, first_in_session=True, reason="") -> Batch
# start_step(actor, batch, key) -> BatchStep
# record_entry(actor, batch, key, parameter, *, value, submission_id, comment="", late_reason="",
#              stated_activity_at=None) -> BatchEntry
# correct_entry(actor, entry, *, value, reason, submission_id, comment="") -> BatchEntry
# verify_entry(actor, entry, *, signature, first_in_session=True) -> BatchEntry
# scan_equipment(actor, batch, key, *, scanned, submission_id) -> EquipmentScan
# use_material(actor, batch, key, *, line, scanned_lot, quantity=None, unit="", submission_id) -> MaterialUse
# take_sample(actor, batch, key, point, *, submission_id) -> BatchSample
# skip_step(actor, batch, key, *, reason) -> BatchStep
# complete_step(actor, batch, key, *, signature, first_in_session=True) -> BatchStep
# override_interlock(actor, batch, *, step_key, interlock, subject, refusal, reason, signature,
#                    first_in_session=True) -> InterlockOverride
# disposition_exception(actor, exception, *, disposition) -> BatchException


def transition_batch(actor, batch, action: str, *, signature: SignatureInput | None = None,
                     first_in_session: bool = True, reason: str = "") -> Batch:
    """Start, hold, resume, complete, review or cancel a batch (workflows.batch_workflow)."""
    transition = batch_workflow.get(action)
    require(actor, transition.permission, to=transition.label.lower())
    signer = batch_workflow.authenticate(actor, action, signature, first_in_session=first_in_session)
    with transaction.atomic():
        batch = get_scoped(Batch.objects.select_for_update(of=("self",)), actor, pk=batch.pk)
        batch_workflow.apply(batch, action, actor=actor, signer=signer, reason=reason)
    batch.refresh_from_db()
    return batch
