"""Training assignments appear for the right people (a role granted, a curriculum set up, a version
approved) and not for others; superseded and obsolete training is cancelled."""

import datetime as dt

import pytest

from opencdmo.core import services as core_services
from opencdmo.core.domain.roles import Role
from opencdmo.core.errors import PermissionDenied, RuleViolation
from opencdmo.documents import services as document_services
from opencdmo.training import services
from opencdmo.training.models import TrainingAssignment
from tests.documents.builders import approve, effective_document, next_version
from tests.factories import signature

pytestmark = pytest.mark.req("P11-1i")


def _open(user):
    return sorted((a.subject.split(" ")[0] if a.document_version_id else a.course.name)
                  for a in TrainingAssignment.objects.filter(user=user, status="assigned"))


def test_a_new_curriculum_assigns_its_documents_and_courses_to_the_role_holders(operator, trainer,
                                                                               operator_curriculum):
    assert _open(operator) == ["Grade B gowning qualification", "SOP-0001"]
    assert _open(trainer) == []  # a supervisor: not in the operator curriculum
    a = TrainingAssignment.objects.get(user=operator, document_version__isnull=False)
    assert a.due_date == dt.date(2026, 4, 1)  # 30 days after today (the version is effective already)
    assert a.curriculum == operator_curriculum


def test_granting_a_role_assigns_that_roles_curriculum(make_user, admin_user, operator_curriculum, sponsor_a):
    newcomer = make_user("op.new", Role.PLANNER, sponsors=[sponsor_a])
    assert _open(newcomer) == []
    core_services.grant_role(admin_user, newcomer, Role.OPERATOR, reason="moves to manufacturing")
    assert _open(newcomer) == ["Grade B gowning qualification", "SOP-0001"]
    core_services.grant_role(admin_user, newcomer, Role.SUPERVISOR, reason="also supervises")
    assert TrainingAssignment.objects.filter(user=newcomer).count() == 2  # no duplicates


def test_an_approved_version_is_assigned_at_approval_due_after_its_effective_date(
        author, reviewer, approver, operator, trainer, aseptic, operator_curriculum):
    document, _ = aseptic
    v2 = approve(next_version(author, document, effective_date=dt.date(2026, 4, 1)), author, reviewer, approver)
    mine = TrainingAssignment.objects.get(user=operator, document_version=v2)
    assert mine.due_date == dt.date(2026, 5, 1)
    assert not TrainingAssignment.objects.filter(user=trainer, document_version=v2).exists()


def test_an_editorial_version_assigns_nothing(author, reviewer, approver, operator, aseptic, operator_curriculum):
    document, _ = aseptic
    before = TrainingAssignment.objects.count()
    approve(next_version(author, document, major_change=False, change_summary="Typo in step 3."),
            author, reviewer, approver)
    assert TrainingAssignment.objects.count() == before


def test_open_training_on_a_superseded_version_is_cancelled_when_the_new_one_takes_effect(
        author, reviewer, approver, operator, aseptic, operator_curriculum, fake_clock):
    document, v1 = aseptic
    v2 = approve(next_version(author, document, effective_date=dt.date(2026, 4, 1)), author, reviewer, approver)
    old = TrainingAssignment.objects.get(user=operator, document_version=v1)
    fake_clock.set(dt.datetime(2026, 4, 1, 6, tzinfo=dt.UTC))
    document_services.take_effect_due()
    old.refresh_from_db()
    assert old.status == "cancelled"
    assert TrainingAssignment.objects.get(user=operator, status="assigned", document_version__isnull=False
                                          ).document_version == v2


def test_open_training_moves_to_an_editorial_version_with_the_same_due_date(
        author, reviewer, approver, operator, aseptic, operator_curriculum, fake_clock):
    document, v1 = aseptic
    old = TrainingAssignment.objects.get(user=operator, document_version=v1)
    v11 = approve(next_version(author, document, major_change=False, effective_date=dt.date(2026, 3, 2)),
                  author, reviewer, approver)
    old.refresh_from_db()
    new = TrainingAssignment.objects.get(user=operator, document_version=v11)
    assert (old.status, new.status, new.due_date) == ("cancelled", "assigned", old.due_date)


def test_obsoleting_a_document_cancels_its_open_training(approver, operator, aseptic, operator_curriculum):
    document, _ = aseptic
    document_services.transition_document(approver, document, "make_obsolete",
                                          signature=signature(approver, "Approved"), reason="merged into SOP-0002")
    assert _open(operator) == ["Grade B gowning qualification"]


@pytest.mark.req("P11-1d")
def test_a_sponsors_document_is_assigned_only_to_people_of_that_sponsor(
        make_user, author, reviewer, approver, sponsor_a, sponsor_b):
    acme_op = make_user("op.acme", Role.OPERATOR, sponsors=[sponsor_a])
    beta_op = make_user("op.beta", Role.OPERATOR, sponsors=[sponsor_b])
    spec, _ = effective_document(author, reviewer, approver, "ACM-101 release specification",
                                 doc_type="specification", sponsor=sponsor_a)
    services.create_curriculum(reviewer, name="Operator", roles=["operator"], documents=[spec])
    assert _open(acme_op) == ["SPEC-0001"]
    assert _open(beta_op) == []


def test_curriculum_management_needs_training_manage_and_valid_input(operator, reviewer):
    with pytest.raises(PermissionDenied, match="training.manage"):
        services.create_curriculum(operator, name="Mine", roles=["operator"])
    with pytest.raises(RuleViolation, match="Unknown role"):
        services.create_curriculum(reviewer, name="Ghosts", roles=["ghost"])
    with pytest.raises(RuleViolation, match="1 to 365"):
        services.create_curriculum(reviewer, name="Slow", roles=["operator"], due_days=0)


def test_changing_a_curriculum_assigns_what_was_added(reviewer, operator, trainer, operator_curriculum, aseptic):
    services.update_curriculum(reviewer, operator_curriculum, name="Operator and supervisor",
                               roles=["operator", "supervisor"], documents=[aseptic[0]], courses=[], due_days=14,
                               reason="supervisors work in the BSC too")
    assert _open(trainer) == ["SOP-0001"]
    assert TrainingAssignment.objects.get(user=trainer).due_date == dt.date(2026, 3, 16)
