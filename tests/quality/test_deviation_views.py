"""Every deviation and CAPA page and API operation passes the shared view tests (anonymous → sign
in / 401; without the permission → 403 with a message; with it → the page or resource)."""

import datetime as dt

import pytest
from django.urls import reverse

from opencdmo.core.domain.roles import Role
from opencdmo.quality import services
from opencdmo.quality.models import Capa, Deviation, DueDateExtension
from tests.factories import signature
from tests.web.viewtests import PermissionApiTest, PermissionPageTest

pytestmark = pytest.mark.req("P11-1d")

OPERATOR, QA, QP, VIEWER = Role.OPERATOR, Role.QA_SPECIALIST, Role.QA_APPROVER, Role.SPONSOR_VIEWER
LATER = "2099-12-31"


def _deviation(world) -> Deviation:
    return Deviation.objects.get(number=world.references["quality.deviation"])


def _capa(world) -> Capa:
    return Capa.objects.get(number=world.references["quality.capa"])


def _ref(world, kind: str) -> str:
    return world.references[f"quality.{kind}"]


# --- Deviations: pages ---

class _Page(PermissionPageTest):
    roles = (OPERATOR,)
    kind = ""

    def url(self, world):
        return reverse(self.route, args=[_ref(world, self.kind)] if self.kind else [])


class TestDeviationTrends(_Page):
    route = "quality:deviation_trends"


class TestNewDeviationPage(_Page):
    route = "quality:deviation_new"
    refused_roles = (VIEWER,)  # a sponsor's people read, they do not raise the CDMO's deviations


class TestDeviationPdf(_Page):
    route = "quality:deviation_pdf"
    kind = "deviation"


class TestDeviationStep(PermissionPageTest):
    route = "quality:deviation_step"
    method = "POST"
    roles = (QA,)
    refused_roles = (VIEWER,)
    status = 302

    def url(self, world):
        return reverse(self.route, args=[_ref(world, "deviation"), "immediate-actions"])

    def data(self, world, user):
        return {"immediate_actions": "Bag quarantined at 2-8 °C pending QA decision."}


class TestExtensionPage(_Page):
    route = "quality:extension"
    kind = "duedateextension"


# --- CAPA: pages ---

class TestCapaList(_Page):
    route = "quality:capas"


class TestCapaPage(_Page):
    route = "quality:capa"
    kind = "capa"


class TestNewCapaPage(_Page):
    route = "quality:capa_new"
    roles = (QA,)
    refused_roles = (OPERATOR,)


class TestCapaStep(PermissionPageTest):
    route = "quality:capa_step"
    method = "POST"
    roles = (QA,)
    status = 302

    def url(self, world):
        return reverse(self.route, args=[_ref(world, "capa"), "extensions"])

    def data(self, world, user):
        return {"requested_due_date": LATER, "justification": "Supplier audit moved to next quarter."}


class TestCapaActionStep(PermissionPageTest):
    route = "quality:capa_action_step"
    method = "POST"
    roles = (QA,)
    status = 302

    def url(self, world):
        return reverse(self.route, args=[_ref(world, "capa"), _capa(world).actions.get().pk, "cancel"])

    def data(self, world, user):
        return {"reason": "Superseded by the SOP revision action."}


# --- Deviations: API ---

class _Api(PermissionApiTest):
    roles = (OPERATOR,)
    kind = "deviation"
    action = ""

    def url(self, world):
        path = self.operation[1].format(number=_ref(world, self.kind) if "{number}" in self.operation[1] else "",
                                        action=self.action, step=self.action,
                                        action_id=_capa(world).actions.get().pk if "{action_id}" in
                                        self.operation[1] else "")
        return "/api/v1" + path


class TestDeviationsApi(_Api):
    operation = ("GET", "/deviations")


class TestRaiseDeviationApi(_Api):
    operation = ("POST", "/deviations")
    refused_roles = (VIEWER,)
    status = 201

    def data(self, world, user):
        return {"title": "Label printed with wrong expiry", "description": "Expiry 2027-13-01 on 4 labels.",
                "sponsor": world.sponsor.code, "area": "Labelling room", "category": "labelling",
                "records": [{"type": "materials.lot", "reference": world.references["materials.lot"]}]}


class TestDeviationApi(_Api):
    operation = ("GET", "/deviations/{number}")


class TestClassifyApi(_Api):
    operation = ("POST", "/deviations/{number}/classify")
    roles = (QA,)
    refused_roles = (OPERATOR,)

    def data(self, world, user):
        return {"answers": {"patient_safety": "no", "identity": "no", "product_quality": "yes"},
                "investigator": world.author.username}


def _under_investigation(world, investigator):
    services.classify_deviation(world.author, _deviation(world), investigator=investigator,
                                answers={"patient_safety": "yes"})


class TestInvestigationApi(_Api):
    operation = ("POST", "/deviations/{number}/investigation")
    roles = (Role.SUPERVISOR,)
    refused_roles = (OPERATOR,)

    def permitted_user(self, make_user, world):
        user = super().permitted_user(make_user, world)
        _under_investigation(world, user)
        return user

    def data(self, world, user):
        return {"root_cause_category": "material", "five_whys": [{"why": "Why warm?", "because": "Packs unconditioned."}]}


class TestDeviationExtensionApi(_Api):
    operation = ("POST", "/deviations/{number}/extensions")
    roles = (QA,)
    refused_roles = (OPERATOR,)
    status = 201

    def permitted_user(self, make_user, world):
        _under_investigation(world, world.author)
        return super().permitted_user(make_user, world)

    def data(self, world, user):
        return {"requested_due_date": LATER, "justification": "Supplier's report expected next month."}


class TestDeviationTransitionApi(_Api):
    operation = ("POST", "/deviations/{number}/{action}")
    action = "cancel"
    roles = (QA,)
    refused_roles = (OPERATOR,)

    def data(self, world, user):
        return {"reason": "Duplicate of an earlier report"}


class TestExtensionApi(_Api):
    operation = ("GET", "/extensions/{number}")
    kind = "duedateextension"


class TestDecideExtensionApi(_Api):
    operation = ("POST", "/extensions/{number}/{action}")
    kind = "duedateextension"
    action = "reject"
    roles = (QP,)
    refused_roles = (QA,)

    def data(self, world, user):
        return {"reason": "The supplier's report is not needed to close it."}


# --- CAPA: API ---

class TestCapasApi(_Api):
    operation = ("GET", "/capas")


class TestRaiseCapaApi(_Api):
    operation = ("POST", "/capas")
    roles = (QA,)
    status = 201

    def data(self, world, user):
        return {"title": "Condition cool packs", "problem": "Warm shipments", "source": "trend",
                "source_reference": "TR-2026-Q1", "sponsor": world.sponsor.code}


class TestCapaApi(_Api):
    operation = ("GET", "/capas/{number}")
    kind = "capa"


class TestAddCapaActionApi(_Api):
    operation = ("POST", "/capas/{number}/actions")
    kind = "capa"
    roles = (QA,)
    status = 201

    def data(self, world, user):
        return {"kind": "preventive", "description": "Train couriers", "owner": world.author.username,
                "due_date": LATER}


class TestCapaActionStepApi(_Api):
    operation = ("POST", "/capas/{number}/actions/{action_id}/{step}")
    kind = "capa"
    action = "cancel"
    roles = (QA,)

    def data(self, world, user):
        return {"reason": "Replaced by a better action"}


def _capa_in(world, make_user, state: str):
    """Drive the world's CAPA (owner: the author) to `state`: plan approved, its action done and verified."""
    capa = _capa(world)
    approver = make_user("capa.approver", QP, sponsors=[world.sponsor])
    verifier = make_user("capa.verifier", QA, sponsors=[world.sponsor])
    services.transition_capa(approver, capa, "approve", signature=signature(approver, "Approved"))
    action = capa.actions.get()
    services.complete_capa_action(world.author, action, evidence="SOP-101 v3 effective")
    services.verify_capa_action(verifier, action)
    if state == "effectiveness_check":
        services.complete_implementation(world.author, capa)


class TestCapaCompletionApi(_Api):
    operation = ("POST", "/capas/{number}/completion")
    kind = "capa"
    roles = (QA,)

    def permitted_user(self, make_user, world):
        _capa_in(world, make_user, "implementing")
        return super().permitted_user(make_user, world)

    def data(self, world, user):
        return {"effectiveness_criteria": "No excursion in 20 shipments"}


class TestCapaEffectivenessApi(_Api):
    operation = ("POST", "/capas/{number}/effectiveness")
    kind = "capa"
    roles = (QA,)

    def permitted_user(self, make_user, world):
        _capa_in(world, make_user, "effectiveness_check")
        return super().permitted_user(make_user, world)

    def data(self, world, user):
        return {"result": "effective", "evidence": "20 shipments, none above 8 °C"}


class TestCapaExtensionApi(_Api):
    operation = ("POST", "/capas/{number}/extensions")
    kind = "capa"
    roles = (QA,)
    status = 201

    def data(self, world, user):
        return {"requested_due_date": LATER, "justification": "Waiting for the new shipper model."}


class TestCapaTransitionApi(_Api):
    operation = ("POST", "/capas/{number}/{action}")
    kind = "capa"
    action = "cancel"
    roles = (QP,)
    refused_roles = (QA,)

    def data(self, world, user):
        return {"reason": "Raised in error"}


def test_extension_request_fixture_moves_nothing_until_approved(records_a):
    extension = DueDateExtension.objects.get(number=_ref(records_a, "duedateextension"))
    assert extension.status == "requested"
    assert extension.deviation.due_date == extension.current_due_date < extension.requested_due_date
    assert extension.requested_due_date - extension.current_due_date == dt.timedelta(days=14)
