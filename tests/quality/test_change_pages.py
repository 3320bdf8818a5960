"""Change control, risk assessment and dashboard pages and API: the shared view tests for every
route, and what the pages show (a sponsor's quality lead sees only their own sponsor)."""

import datetime as dt

import pypdfium2
import pytest
from django.urls import reverse

from opencdmo.core.domain.roles import Role
from opencdmo.quality.models import ChangeControl, ChangeTask, FailureMode, RiskAssessment
from tests.conftest import PASSWORD
from tests.web.conftest import SponsorRecords, bearer, signed_in
from tests.web.viewtests import PermissionApiTest, PermissionPageTest

from .change_builders import FAILURE_MODE

pytestmark = pytest.mark.req("P11-1d")

CHANGE, APPROVAL, RISK = "quality.changecontrol", "quality.sponsorapproval", "quality.riskassessment"


def _task_id(world: SponsorRecords) -> int:
    return ChangeTask.objects.filter(change__number=world.references[CHANGE]).first().pk


def _method_number(world: SponsorRecords) -> str:
    return RiskAssessment.objects.get(number=world.references[RISK]).method.number


def _row_id(world: SponsorRecords) -> int:
    return FailureMode.objects.filter(assessment__number=world.references[RISK]).first().pk


class _Quality(PermissionPageTest):
    roles = (Role.QA_SPECIALIST,)
    route_args: tuple = ()

    def url(self, world):
        return reverse(self.route, args=[world.references.get(a, a)
                                         for a in self.route_args])


# --- Change control ---

class TestChangeList(_Quality):
    route = "quality:changes"


class TestChangeListFilteredAndSorted(_Quality):
    route = "quality:changes"

    def url(self, world):
        return reverse(self.route) + "?status=open&kind=process&classification=&sponsor=ACME&q=Change&sort=-number"


class TestNewChangeForm(_Quality):
    route = "quality:change_new"
    roles = (Role.SUPERVISOR,)
    refused_roles = (Role.SPONSOR_VIEWER,)


class TestProposeChange(TestNewChangeForm):
    method, status = "POST", 302

    def data(self, world, user):
        return {"title": "New cryobag supplier", "description": "CryoMACS 250 → 500", "kind": "material",
                "justification": "Supply shortage", "sponsor": "", "target_date": "2026-07-01"}


class TestChangePage(_Quality):
    route = "quality:change"
    route_args = (CHANGE,)


class TestChangePageForSponsorViewer(TestChangePage):
    roles = (Role.SPONSOR_VIEWER,)


class TestEditChangeForm(_Quality):
    route = "quality:change_edit"
    route_args = (CHANGE,)
    refused_roles = (Role.SPONSOR_VIEWER,)


class TestEditChangeRefusedOutOfDraft(TestEditChangeForm):
    method, status = "POST", 422  # the world's change is in assessment: the form says why not

    def data(self, world, user):
        return {"title": "Edited", "description": "d", "justification": "j", "kind": "process", "reason": "r"}


class TestChangeAssessment(_Quality):
    route = "quality:change_assessment"
    route_args = (CHANGE,)
    method, status = "POST", 302
    refused_roles = (Role.SUPERVISOR,)

    def data(self, world, user):
        return {"classification": "major", "risk_summary": "Low", "regulatory_notes": ""}


class TestAddImpact(_Quality):
    route = "quality:change_impacts"
    route_args = (CHANGE,)
    method, status = "POST", 302

    def data(self, world, user):
        return {"area": "document", "assessment": "SOP-CRY-002 revised", "record_type": "", "reference": ""}


class TestPlanTask(_Quality):
    route = "quality:change_tasks"
    route_args = (CHANGE,)
    method, status = "POST", 302

    def data(self, world, user):
        return {"description": "Retrain operators", "owner": user.username, "due_date": "2026-06-01"}


class TestChangePdf(_Quality):
    route = "quality:change_pdf"
    route_args = (CHANGE,)


class TestSponsorApprovalPage(_Quality):
    route = "quality:sponsor_approval"
    route_args = (APPROVAL,)
    roles = (Role.SPONSOR_VIEWER,)


# --- Risk assessment ---

class TestRiskAssessmentList(_Quality):
    route = "quality:risk_assessments"


class TestNewRiskAssessmentForm(_Quality):
    route = "quality:risk_assessment_new"
    roles = (Role.PD_SCIENTIST,)
    refused_roles = (Role.SPONSOR_VIEWER,)


class TestCreateRiskAssessment(TestNewRiskAssessmentForm):
    method, status = "POST", 302

    def data(self, world, user):
        return {"title": "Vector thaw FMEA", "scope": "Thaw to transduction", "method": _method_number(world),
                "sponsor": world.sponsor.code}


class TestRiskAssessmentPage(_Quality):
    route = "quality:risk_assessment"
    route_args = (RISK,)

    def url(self, world):
        return super().url(world) + "?sort=-rpn"


class TestFailureModeForm(_Quality):
    route = "quality:failure_modes"
    route_args = (RISK,)
    roles = (Role.PD_SCIENTIST,)
    refused_roles = (Role.SPONSOR_VIEWER,)


class TestAddFailureMode(TestFailureModeForm):
    method, status = "POST", 302

    def data(self, world, user):
        return {**FAILURE_MODE, "residual_severity": "7", "residual_occurrence": "1", "residual_detection": "2"}


class TestRiskMethodList(_Quality):
    route = "quality:risk_methods"


class TestRiskMethodPage(_Quality):
    route = "quality:risk_method"

    def url(self, world):
        return reverse(self.route, args=[_method_number(world)])


class TestNewRiskMethodForm(_Quality):
    route = "quality:risk_method_new"
    roles = (Role.PD_SCIENTIST,)
    refused_roles = (Role.SPONSOR_VIEWER,)


class TestCreateRiskMethod(TestNewRiskMethodForm):
    method, status = "POST", 302

    def data(self, world, user):
        return {"name": "1–5 FMEA", "severity_max": "5", "occurrence_max": "5", "detection_max": "5",
                "levels": '[{"level": "high", "min_rpn": 40}, {"level": "low"}]', "scale_definitions": ""}


class TestDashboard(_Quality):
    route = "quality:dashboard"


class TestDashboardTasks(_Quality):
    route = "quality:dashboard_tasks"


# --- API ---

class _Api(PermissionApiTest):
    roles = (Role.QA_SPECIALIST,)

    def url(self, world):
        path = self.operation[1].replace("{number}", world.references.get(self.reference, ""))
        return "/api/v1" + path.replace("{task_id}", str(_task_id(world))).replace("{row_id}", str(_row_id(world)))

    reference = CHANGE


class TestApiChanges(_Api):
    operation = ("GET", "/change-controls")


class TestApiProposeChange(_Api):
    operation, status = ("POST", "/change-controls"), 201
    roles, refused_roles = (Role.SUPERVISOR,), (Role.SPONSOR_VIEWER,)

    def data(self, world, user):
        return {"title": "New cryobag", "description": "a → b", "justification": "shortage", "kind": "material",
                "sponsor": world.sponsor.code}


class TestApiChange(_Api):
    operation = ("GET", "/change-controls/{number}")


class TestApiAssessChange(_Api):
    operation = ("PATCH", "/change-controls/{number}/assessment")
    refused_roles = (Role.SUPERVISOR,)

    def data(self, world, user):
        return {"classification": "minor", "risk_summary": "No product impact"}


class TestApiAddImpact(_Api):
    operation, status = ("POST", "/change-controls/{number}/impacts"), 201

    def data(self, world, user):
        return {"area": "sponsor", "sponsor": world.sponsor.code, "assessment": "Sponsor informed"}


class TestApiAddTask(_Api):
    operation, status = ("POST", "/change-controls/{number}/tasks"), 201

    def data(self, world, user):
        return {"description": "Retrain", "owner": user.username, "due_date": "2026-06-01"}


class TestApiCompleteTask(_Api):
    # The world's change is still in assessment: completion is refused with the reason (tested
    # through the whole lifecycle in test_change_control.py).
    operation, status = ("POST", "/change-controls/{number}/tasks/{task_id}/complete"), 422

    def data(self, world, user):
        return {}


class TestApiChangeTransition(_Api):
    operation = ("POST", "/change-controls/{number}/{action}")

    def url(self, world):
        return super().url(world).replace("{action}", "reject")

    def data(self, world, user):
        return {"reason": "Not justified"}


class TestApiSponsorApproval(_Api):
    operation, reference = ("GET", "/sponsor-approvals/{number}"), APPROVAL
    roles = (Role.SPONSOR_VIEWER,)


class TestApiSponsorDecision(TestApiSponsorApproval):
    operation = ("POST", "/sponsor-approvals/{number}/{action}")
    refused_roles = (Role.QA_APPROVER,)  # CDMO QA cannot sign for the sponsor

    def url(self, world):
        return super().url(world).replace("{action}", "approve")

    def data(self, world, user):
        return {"username": user.username, "password": PASSWORD, "comment": "Agreed"}


class TestApiRiskAssessments(_Api):
    operation = ("GET", "/risk-assessments")


class TestApiCreateRiskAssessment(_Api):
    operation, status = ("POST", "/risk-assessments"), 201
    refused_roles = (Role.SPONSOR_VIEWER,)

    def data(self, world, user):
        return {"title": "Thaw FMEA", "scope": "Thaw", "method": _method_number(world), "sponsor": world.sponsor.code}


class TestApiRiskAssessment(_Api):
    operation, reference = ("GET", "/risk-assessments/{number}"), RISK


class TestApiAddFailureMode(TestApiRiskAssessment):
    operation, status = ("POST", "/risk-assessments/{number}/failure-modes"), 201
    refused_roles = (Role.SPONSOR_VIEWER,)

    def data(self, world, user):
        return FAILURE_MODE


class TestApiEditFailureMode(TestApiAddFailureMode):
    operation, status = ("PATCH", "/risk-assessments/{number}/failure-modes/{row_id}"), 200

    def data(self, world, user):
        return {"occurrence": 1}


class TestApiRiskTransition(TestApiAddFailureMode):
    operation, status = ("POST", "/risk-assessments/{number}/{action}"), 200

    def url(self, world):
        return super().url(world).replace("{action}", "void")

    def data(self, world, user):
        return {"reason": "Duplicate"}


class TestApiDashboard(_Api):
    operation = ("GET", "/quality/dashboard")


# --- What the pages show ---

@pytest.mark.django_db
def test_the_sponsor_approval_page_shows_only_that_sponsors_impacts(make_user, sponsor_a, sponsor_b):
    from .change_builders import agreement_requiring_approval, assessed, awaiting_approval, proposed, submitted  # noqa: PLC0415

    qa = make_user("qa.both", Role.QA_SPECIALIST, sponsors=[sponsor_a, sponsor_b])
    agreement_requiring_approval(sponsor_a)
    agreement_requiring_approval(sponsor_b)
    change = submitted(proposed(qa, None, title="Shared suite HVAC upgrade", kind="equipment"), qa)
    awaiting_approval(assessed(change, qa, sponsors=[sponsor_a, sponsor_b]), qa)
    lead_a = make_user("acme.lead", Role.SPONSOR_VIEWER, sponsors=[sponsor_a])
    approval_a = change.sponsor_approvals.get(sponsor=sponsor_a)
    approval_b = change.sponsor_approvals.get(sponsor=sponsor_b)

    page = signed_in(lead_a).get(reverse("quality:sponsor_approval", args=[approval_a.number]))
    body = page.content.decode()
    assert page.status_code == 200
    assert "Master batch record of ACME" in body and "Approve the change" in body
    assert "BETA" not in body and sponsor_b.name not in body and approval_b.number not in body
    assert signed_in(lead_a).get(reverse("quality:sponsor_approval", args=[approval_b.number])).status_code == 404
    assert signed_in(lead_a).get(reverse("quality:change", args=[change.number])).status_code == 404  # CDMO-wide
    api = signed_in(lead_a).get(f"/api/v1/sponsor-approvals/{approval_a.number}", headers=bearer(lead_a)).json()
    assert [i["sponsor"] for i in api["impacts"]] == ["ACME"]
    assert "BETA" not in str(api)


@pytest.mark.django_db
def test_the_change_page_shows_why_approval_is_blocked(make_user, sponsor_a):
    from .change_builders import agreement_requiring_approval, assessed, awaiting_approval, proposed, submitted  # noqa: PLC0415

    qa = make_user("qa.one", Role.QA_SPECIALIST, sponsors=[sponsor_a])
    approver = make_user("qp.one", Role.QA_APPROVER, sponsors=[sponsor_a])
    agreement_requiring_approval(sponsor_a)
    change = awaiting_approval(assessed(submitted(proposed(qa, sponsor_a), qa), qa, sponsors=[sponsor_a]), qa)
    body = signed_in(approver).get(reverse("quality:change", args=[change.number])).content.decode()
    assert "Waiting for the sponsor&#x27;s approval" in body
    assert "actions/approve/" not in body  # no button for a step that a rule blocks


@pytest.mark.django_db
def test_the_change_pdf_carries_the_signature_manifestation(make_user, sponsor_a):
    from .change_builders import proposed, submitted  # noqa: PLC0415

    proposer = make_user("sup.pdf", Role.SUPERVISOR, sponsors=[sponsor_a])
    change = submitted(proposed(proposer, sponsor_a), proposer)
    response = signed_in(proposer).get(reverse("quality:change_pdf", args=[change.number]))
    assert response["Content-Type"] == "application/pdf" and response.content.startswith(b"%PDF")
    document = pypdfium2.PdfDocument(response.content)
    text = "".join(page.get_textpage().get_text_range() for page in document)
    document.close()
    assert "Signature manifestation" in text and "Sup Pdf" in text and "Authored" in text


@pytest.mark.django_db
def test_a_bad_form_answers_4xx_and_changes_nothing(make_user, sponsor_a):
    from .change_builders import proposed, submitted  # noqa: PLC0415

    qa = make_user("qa.bad", Role.QA_SPECIALIST, sponsors=[sponsor_a])
    change = submitted(proposed(qa, sponsor_a), qa)
    client = signed_in(qa)
    for url, data in [
        (reverse("quality:change_impacts", args=[change.number]), {"area": "nowhere"}),
        (reverse("quality:change_impacts", args=[change.number]), {"impact": "x", "assessment": "y"}),
        (reverse("quality:change_tasks", args=[change.number]), {"description": "t", "due_date": "31/12/2026"}),
        (reverse("quality:change_assessment", args=[change.number]), {"classification": "huge"}),
    ]:
        response = client.post(url, data)
        assert 400 <= response.status_code < 500, (url, data, response.status_code)
        assert 'role="alert"' in response.content.decode()
    fresh = ChangeControl.objects.get(pk=change.pk)
    assert (fresh.version, fresh.classification, fresh.impacts.count(), fresh.tasks.count()) == (
        change.version, "", 0, 0)
    response = client.post("/api/v1/change-controls", {"title": "x"}, content_type="application/json")
    assert response.status_code == 422


@pytest.mark.django_db
def test_the_dashboard_counts_open_and_overdue_items(make_user, sponsor_a, sponsor_b, fake_clock):
    from .change_builders import proposed  # noqa: PLC0415

    qa = make_user("qa.dash", Role.QA_SPECIALIST, sponsors=[sponsor_a])
    proposed(qa, sponsor_a, title="Due long ago", target_date=dt.date(2026, 1, 1))
    proposed(qa, sponsor_a, title="Due later", target_date=dt.date(2026, 9, 1))
    other = make_user("qa.beta", Role.QA_SPECIALIST, sponsors=[sponsor_b])
    proposed(other, sponsor_b, title="Beta change")
    page = signed_in(qa).get(reverse("quality:dashboard"))
    board = page.context["board"]
    changes = next(t for t in board["types"] if t["label"] == "Change controls")
    assert (changes["open"], changes["overdue"]) == (2, 1)  # sponsor B's change is not counted for A's user
    assert next(p for p in board["by_owner"] if p["name"] == "Qa Dash")["overdue"] == 1
    api = signed_in(qa).get("/api/v1/quality/dashboard").json()
    assert next(t for t in api["types"] if t["label"] == "Change controls")["open"] == 2
