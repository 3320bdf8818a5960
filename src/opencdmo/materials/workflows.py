"""The lot's lifecycle: quarantine → released / rejected by QA with a signature; on hold ↔
released with a reason; depleted when the last of it has been used (and back in stock when
some is returned). Expired is not a state: see selectors.lot_status."""

from opencdmo.core import clock
from opencdmo.core.workflows import Transition, Workflow

LOT_STATES = {
    "quarantine": "Quarantine",
    "released": "Released",
    "rejected": "Rejected",
    "on_hold": "On hold",
    "depleted": "Depleted",
}

# The derived state a lot is in, whatever its stored status, once past its expiry or retest date.
EXPIRED = "expired"
STATUS_LABELS = {**LOT_STATES, EXPIRED: "Expired"}


# Named guards (one function per GMP rule). Each returns None, or why the step may not be taken.

def receiver_is_not_releaser(lot, actor):
    """Segregation of duties: whoever received the lot does not release it."""
    if lot.created_by_id == actor.pk:
        return (f"Receiver is not releaser: you received {lot}, so another QA person must release it.")
    return None


def not_expired(lot, actor):
    from .selectors import expiry_reason  # noqa: PLC0415  (selectors import this module)

    if (why := expiry_reason(lot, clock.now())) is not None:
        return f"{lot} cannot be released: {why}."
    return None


def certificate_on_file(lot, actor):
    """QA releases against the supplier's certificate of analysis, attached at receipt or later."""
    from .selectors import has_certificate  # noqa: PLC0415

    if not has_certificate(lot):
        return f"{lot} has no supplier certificate of analysis attached: attach it before release."
    return None


def nothing_in_stock(lot, actor):
    from .selectors import lot_total  # noqa: PLC0415

    if lot_total(lot) != 0:
        return f"{lot} still has stock; it is depleted only when the last of it is used."
    return None


def stock_is_back(lot, actor):
    from .selectors import lot_total  # noqa: PLC0415

    if lot_total(lot) == 0:
        return f"{lot} has no stock; it is back in stock only when some is returned."
    return None


# Checks a layer above adds to a lot's release (the QC laboratory: incoming tests done and within
# specification). Each is a guard: (lot, actor) -> None, or why the lot may not be released.
RELEASE_CHECKS: list = []


def release_checks_pass(lot, actor):
    return next((why for check in RELEASE_CHECKS if (why := check(lot, actor)) is not None), None)


lot_workflow = Workflow(
    name="Lot",
    states=LOT_STATES,
    initial="quarantine",
    transitions=[
        Transition("release", "Release", ("quarantine",), "released", permission="materials.disposition",
                   signature="QA Released", guards=(receiver_is_not_releaser, not_expired, certificate_on_file, release_checks_pass)),
        Transition("reject", "Reject", ("quarantine", "on_hold"), "rejected", permission="materials.disposition",
                   signature="Rejected", reason_required=True),
        Transition("hold", "Put on hold", ("released",), "on_hold", permission="materials.disposition",
                   reason_required=True),
        Transition("lift_hold", "Lift the hold", ("on_hold",), "released", permission="materials.disposition",
                   reason_required=True, guards=(not_expired,)),
        # Taken by the system in the transaction of the movement that empties or refills the lot;
        # the guards make them impossible at any other moment.
        Transition("deplete", "Mark depleted", ("released",), "depleted", permission="materials.view",
                   guards=(nothing_in_stock,)),
        Transition("restock", "Back in stock", ("depleted",), "released", permission="materials.view",
                   guards=(stock_is_back,)),
    ],
)
