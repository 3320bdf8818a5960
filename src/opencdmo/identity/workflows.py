"""The lifecycles of a patient's enrolment and of a therapy order (custody events move it on later)."""

from opencdmo.core.workflows import Transition, Workflow

patient_workflow = Workflow(
    name="Patient",
    states={"enrolled": "Enrolled", "withdrawn": "Withdrawn"},
    initial="enrolled",
    transitions=[
        Transition("withdraw", "Withdraw", ("enrolled",), "withdrawn", permission="identity.enroll",
                   reason_required=True),
    ],
)

order_workflow = Workflow(
    name="Therapy order",
    states={"ordered": "Open", "cancelled": "Cancelled"},
    initial="ordered",
    transitions=[
        Transition("cancel", "Cancel", ("ordered",), "cancelled", permission="identity.enroll",
                   reason_required=True),
    ],
)
