"""Training pages and API: the shared view tests, and what My training, the matrix, the session form
and the training record show and do."""

import io

import pytest
from django.test import Client
from django.urls import reverse
from pypdf import PdfReader

from opencdmo.core.domain.roles import Role
from opencdmo.training.models import Curriculum, TrainingAssignment
from tests.conftest import PASSWORD
from tests.web.conftest import bearer, records_a, signed_in  # noqa: F401
from tests.web.viewtests import PermissionApiTest, PermissionPageTest

pytestmark = pytest.mark.req("P11-1d")


def _assignment(world) -> str:
    return world.references["training.trainingassignment"]


def _trainee(world) -> str:
    return TrainingAssignment.objects.get(number=_assignment(world)).user.username


class _Page(PermissionPageTest):
    roles = (Role.SUPERVISOR,)
    refused_roles = (Role.OPERATOR,)
    args = staticmethod(lambda world: ())

    def url(self, world):
        return reverse(self.route, args=self.args(world))


class TestMyTraining(_Page):
    route = "training:mine"
    roles = (Role.OPERATOR,)
    refused_roles = ()


class TestAssignmentPage(_Page):
    route = "training:assignment"
    args = staticmethod(lambda world: (_assignment(world),))


class TestSessionForm(TestAssignmentPage):
    route = "training:session"


class TestMatrix(_Page):
    route = "training:matrix"


class TestOverdue(_Page):
    route = "training:overdue"


class TestCurricula(_Page):
    route = "training:curricula"


class TestNewCurriculum(_Page):
    route = "training:curriculum_new"
    roles = (Role.QA_SPECIALIST,)
    refused_roles = (Role.SUPERVISOR,)


class TestEditCurriculum(TestNewCurriculum):
    route = "training:curriculum_edit"
    args = staticmethod(lambda world: (world.references["training.trainingassignment"]
                                       and Curriculum.objects.first().pk,))


class TestNewCourse(TestNewCurriculum):
    route = "training:course_new"


class TestPersonRecord(_Page):
    route = "training:person"
    args = staticmethod(lambda world: (_trainee(world),))


class TestPersonRecordPdf(TestPersonRecord):
    route = "training:person_pdf"


class _Api(PermissionApiTest):
    roles = (Role.SUPERVISOR,)
    refused_roles = (Role.OPERATOR,)

    def url(self, world):
        path = self.operation[1].format(number=_assignment(world), username=_trainee(world))
        if path.endswith("is-trained"):
            document = TrainingAssignment.objects.get(number=_assignment(world)).document_version.document
            path += f"?document={document.number}&username={_trainee(world)}"
        return "/api/v1" + path


class TestApiMyAssignments(_Api):
    operation = ("GET", "/training/assignments")
    roles = (Role.OPERATOR,)
    refused_roles = ()


class TestApiAssignment(_Api):
    operation = ("GET", "/training/assignments/{number}")


class TestApiReadAndUnderstood(_Api):
    operation = ("POST", "/training/assignments/{number}/read-and-understood")
    status = 422  # only the trainee signs their own read and understood

    def data(self, world, user):
        return {"username": user.username, "password": PASSWORD}


class TestApiTrainingRecord(_Api):
    operation = ("GET", "/training/people/{username}/record")


class TestApiIsTrained(_Api):
    operation = ("GET", "/training/is-trained")


# What the pages show and do.

def test_my_training_lists_due_work_and_the_trainee_signs_read_and_understood(operator, aseptic,
                                                                             operator_curriculum):
    client = signed_in(operator)
    page = client.get("/training/").content.decode()
    assert "SOP-0001 v1.0" in page and "Due 2026-04-01" in page and "Grade B gowning qualification" in page
    a = TrainingAssignment.objects.get(user=operator, document_version=aseptic[1])
    detail = client.get(f"/training/assignments/{a.number}/").content.decode()
    assert "Sign read and understood" in detail and "Work aseptically in the BSC" in detail
    url = f"/records/training.trainingassignment/{a.number}/actions/read_and_understood/"
    response = client.post(url, {"username": operator.username, "password": PASSWORD})
    assert response.status_code == 302
    a.refresh_from_db()
    assert a.status == "completed"
    home = client.get("/").content.decode()
    assert a.number not in home  # no longer a task


def test_home_lists_training_due_and_overdue_for_trainers(operator, trainer, aseptic, operator_curriculum,
                                                          fake_clock):
    assert "Complete training" in signed_in(operator).get("/").content.decode()
    fake_clock.advance(days=45)
    assert "2 overdue assignment(s)" in signed_in(trainer).get("/").content.decode()
    overdue = signed_in(trainer).get("/training/overdue/").content.decode()
    assert "Op Olsen" in overdue and "Overdue since 2026-04-01" in overdue


def test_matrix_shows_trained_due_overdue_and_filters(operator, trainer, aseptic, operator_curriculum, fake_clock):
    from opencdmo.training import services  # noqa: PLC0415
    from tests.factories import signature  # noqa: PLC0415

    a = TrainingAssignment.objects.get(user=operator, document_version=aseptic[1])
    services.transition_assignment(operator, a, "read_and_understood",
                                   signature=signature(operator, "Read and Understood"))
    fake_clock.advance(days=45)
    body = signed_in(trainer).get("/training/matrix/").content.decode()
    assert 'data-state="trained"' in body and 'data-state="overdue"' in body
    none = signed_in(trainer).get("/training/matrix/?role=qc_analyst").content.decode()
    assert "No one holds the roles" in none
    assert signed_in(trainer).get("/training/matrix/?curriculum=abc&role=ghost").status_code == 200


def test_trainer_records_a_failed_then_a_passed_session(trainer, operator, gowning_course, operator_curriculum):
    a = TrainingAssignment.objects.get(user=operator, course=gowning_course)
    client = signed_in(trainer)
    bad = client.post(f"/training/assignments/{a.number}/session/",
                      {"result": "pass", "score": "abc", "username": trainer.username, "password": PASSWORD})
    assert bad.status_code == 422 and "score" in bad.content.decode()
    a.refresh_from_db()
    assert a.status == "assigned"
    client.post(f"/training/assignments/{a.number}/session/",
                {"result": "fail", "score": "40", "username": trainer.username, "password": PASSWORD})
    retry = TrainingAssignment.objects.get(user=operator, course=gowning_course, status="assigned")
    client.post(f"/training/assignments/{retry.number}/session/",
                {"result": "pass", "score": "95", "password": PASSWORD})
    retry.refresh_from_db()
    assert (retry.status, retry.trainer) == ("completed", trainer)


def test_training_record_pdf_lists_completions_with_signatures(operator, trainer, gowning_course,
                                                               operator_curriculum):
    from opencdmo.training import services  # noqa: PLC0415
    from tests.factories import signature  # noqa: PLC0415

    a = TrainingAssignment.objects.get(user=operator, course=gowning_course)
    services.record_session(trainer, a, passed=True, score=90, signature=signature(trainer, "Trainer"))
    response = signed_in(trainer).get(f"/training/people/{operator.username}/pdf/")
    assert response["Content-Type"] == "application/pdf"
    text = " ".join(" ".join(p.extract_text() for p in PdfReader(io.BytesIO(response.content)).pages).split())
    assert "Training record: Op Olsen" in text and "Sup Trainer" in text and "Trainer" in text
    assert "passed (90.0)" in text
    own = signed_in(operator).get(f"/training/people/{operator.username}/")
    assert own.status_code == 200
    other = signed_in(operator).get(f"/training/people/{trainer.username}/")
    assert other.status_code == 403


def test_curriculum_form_creates_and_edits_with_a_reason(reviewer, operator, aseptic, gowning_course):
    client = signed_in(reviewer)
    response = client.post("/training/curricula/new/", {"name": "Operator", "roles": ["operator"],
                                                        "documents": [str(aseptic[0].pk)], "due_days": "20"})
    assert response.status_code == 302
    assert TrainingAssignment.objects.filter(user=operator).count() == 1
    curriculum = Curriculum.objects.get()
    refused = client.post(f"/training/curricula/{curriculum.pk}/", {"name": "Operator", "roles": ["operator"],
                                                                   "courses": [str(gowning_course.pk)]})
    assert refused.status_code == 422 and "reason" in refused.content.decode()
    client.post(f"/training/curricula/{curriculum.pk}/", {
        "name": "Operator", "roles": ["operator"], "documents": [str(aseptic[0].pk)],
        "courses": [str(gowning_course.pk)], "reason": "gowning added"})
    assert TrainingAssignment.objects.filter(user=operator).count() == 2
    assert client.get("/training/curricula/999/").status_code == 404


@pytest.mark.req("P11-1d")
def test_a_persons_record_shows_only_training_on_documents_the_viewer_may_see(
        make_user, author, reviewer, approver, sponsor_a, sponsor_b):
    from opencdmo.training import services  # noqa: PLC0415
    from tests.documents.builders import effective_document  # noqa: PLC0415

    both = make_user("op.both", Role.OPERATOR, sponsors=[sponsor_a, sponsor_b])
    b_staff = make_user("qa.beta", Role.QA_SPECIALIST, sponsors=[sponsor_b])
    spec, _ = effective_document(author, reviewer, approver, "ACM-101 potency specification",
                                 doc_type="specification", sponsor=sponsor_a)
    services.create_curriculum(reviewer, name="Operator", roles=["operator"], documents=[spec])
    assert TrainingAssignment.objects.filter(user=both).count() == 1
    body = signed_in(b_staff).get(f"/training/people/{both.username}/").content.decode()
    assert "SPEC-0001" not in body and "potency" not in body
    api = Client().get(f"/api/v1/training/people/{both.username}/record", headers=bearer(b_staff)).json()
    assert api["items"] == []
    curricula = signed_in(b_staff).get("/training/curricula/").content.decode()
    assert "SPEC-0001" not in curricula
