"""Training over HTTP. Thin: selectors and services do the work."""

import datetime as dt
from decimal import Decimal

from ninja import Field, Router, Schema
from ninja.pagination import paginate

from opencdmo.core.access import require
from opencdmo.core.api import Pagination
from opencdmo.core.signatures import SignatureInput
from opencdmo.documents import selectors as document_selectors

from . import selectors, services
from .workflows import assignment_workflow

router = Router(tags=["Training"])


def _may_view(request) -> None:
    require(request.user, "training.view", to="see this")


class AssignmentOut(Schema):
    number: str
    user: str = Field(alias="user.username")
    status: str
    status_label: str
    document_version: str | None = Field(None, alias="document_version.number")
    course: str | None = Field(None, alias="course.name")
    subject: str
    due_date: dt.date
    completed_at: dt.datetime | None
    method: str
    trainer: str | None = Field(None, alias="trainer.full_name")
    passed: bool | None
    score: Decimal | None

    @staticmethod
    def resolve_status_label(obj):
        return assignment_workflow.label(obj.status)


class SignatureIn(Schema):
    username: str = Field("", description="your user ID: every API signature re-enters both components")
    password: str = ""
    comment: str = ""


class TrainedOut(Schema):
    username: str
    document: str
    at: dt.datetime
    trained: bool
    reason: str | None


@router.get("/training/assignments", response=list[AssignmentOut], summary="My training assignments")
@paginate(Pagination)
def my_assignments(request, open_only: bool = True):
    _may_view(request)
    return selectors.my_assignments(request.user, state="open" if open_only else "done")


@router.get("/training/assignments/{number}", response=AssignmentOut)
def assignment(request, number: str):
    _may_view(request)
    return selectors.assignment(request.user, number)


@router.post("/training/assignments/{number}/read-and-understood", response=AssignmentOut,
             summary="Complete my assignment with my 'Read and Understood' signature")
def read_and_understood(request, number: str, payload: SignatureIn):
    signature = SignatureInput(meaning="Read and Understood", password=payload.password, username=payload.username,
                               comment=payload.comment)
    return services.transition_assignment(request.user, selectors.assignment(request.user, number),
                                          "read_and_understood", signature=signature)


@router.get("/training/people/{username}/record", response=list[AssignmentOut],
            summary="A person's training record (yours, or anyone's with training.view_all)")
@paginate(Pagination)
def training_record(request, username: str):
    _may_view(request)
    return selectors.training_record(request.user, selectors.person(request.user, username))


@router.get("/training/is-trained", response=TrainedOut,
            summary="Is this person trained on the version of a document in force at an instant?")
def is_trained(request, document: str, username: str = "", at: dt.datetime | None = None):
    _may_view(request)
    person = selectors.person(request.user, username or request.user.username)
    doc = document_selectors.document(request.user, document)
    at = document_selectors.instant(at)
    reason = selectors.training_gap(person, doc, at)
    return {"username": person.username, "document": doc.number, "at": at, "trained": reason is None,
            "reason": reason}
