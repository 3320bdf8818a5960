"""Pages of test methods and specifications: the shared view tests for each route (P11-1d), what
the pages show (limits as printed, the rounding rule in words, the revision history, the SOP and
whether it is effective), the repeated-rows form, approval through the signature dialog, and
sponsor segregation (another sponsor's user gets 404)."""

import pytest
from django.urls import reverse

from opencdmo.core.domain.roles import Role
from opencdmo.qc import models as qc_models
from opencdmo.qc import services
from tests.conftest import PASSWORD
from tests.web.conftest import records_a, records_b, signed_in  # noqa: F401
from tests.web.viewtests import PermissionPageTest

from .test_specifications import approved_change, approved_spec_for_sponsor, draft_spec, lab_methods

pytestmark = pytest.mark.req("P11-1d")


def _cached(world, name: str, build):
    if getattr(world, name, None) is None:
        setattr(world, name, build(world))
    return getattr(world, name)


def _draft(world) -> str:
    return _cached(world, "spec_draft", lambda w: draft_spec(w.author, w.sponsor, code=f"{w.sponsor.code}-DRAFT").number)


def _approved(world) -> str:
    return _cached(world, "spec_approved", lambda w: approved_spec_for_sponsor(w.author, w.sponsor).number)


def _method(world) -> str:
    lab_methods()
    return "VIA"


class _Page(PermissionPageTest):
    roles = (Role.QC_ANALYST,)
    args = staticmethod(lambda world: ())

    def url(self, world):
        return reverse(self.route, args=self.args(world))


class TestMethodList(_Page):
    route = "qc:methods"


class TestMethodPage(_Page):
    route = "qc:method"
    args = staticmethod(lambda world: (_method(world),))


class TestMethodForm(_Page):
    route = "qc:method_new"
    roles = (Role.QC_REVIEWER,)
    refused_roles = (Role.QC_ANALYST,)


class TestCreatingMethod(TestMethodForm):
    method = "POST"
    status = 302

    def data(self, world, user):
        return {"code": "RCL-QPCR", "name": "Replication-competent lentivirus (qPCR)", "result_kind": "detection",
                "instrument_kinds": ["other"], "turnaround_days": "21"}


class TestMethodEditForm(_Page):
    route = "qc:method_edit"
    roles = (Role.QC_REVIEWER,)
    refused_roles = (Role.QC_ANALYST,)
    args = staticmethod(lambda world: (_method(world),))


class TestChangingMethod(TestMethodEditForm):
    method = "POST"
    status = 302

    def data(self, world, user):
        return {"name": "Viability (NC-202)", "unit": "%", "decimals": "1", "instrument_kinds": ["cell_counter"],
                "turnaround_days": "1", "is_active": "yes", "reason": "new counter model"}


class TestSpecificationList(_Page):
    route = "qc:specifications"


class TestSpecificationPage(_Page):
    route = "qc:specification"
    args = staticmethod(lambda world: (_draft(world),))


class TestSpecificationForm(_Page):
    route = "qc:specification_new"
    roles = (Role.QA_SPECIALIST,)
    refused_roles = (Role.QC_ANALYST,)


def _rows(*rows) -> dict:
    data = {}
    for index, row in enumerate(rows, 1):
        for field, value in row.items():
            data[f"{field}_{index}"] = value
    return data


class TestCreatingSpecification(TestSpecificationForm):
    method = "POST"
    status = 302

    def data(self, world, user):
        lab_methods()
        return {"code": "NEW-REL", "title": "Release", "stage": "release", "product": world.product_code,
                "rounding": "half_up", **_rows(
                    {"attribute": "Viability", "method": "VIA", "criterion": "at_least", "lower": "70.0"},
                    {"attribute": "Sterility", "method": "STER", "criterion": "not_detected", "pending": "yes"})}


class TestSpecificationEditForm(_Page):
    route = "qc:specification_edit"
    roles = (Role.QA_SPECIALIST,)
    refused_roles = (Role.QC_ANALYST,)
    args = staticmethod(lambda world: (_draft(world),))


class TestChangingSpecification(TestSpecificationEditForm):
    method = "POST"
    status = 302

    def data(self, world, user):
        spec = qc_models.Specification.objects.get(number=_draft(world))
        rows = [{"attribute": t.attribute, "method": t.method.code, "criterion": t.criterion,
                 "lower": "" if t.lower is None else str(t.lower), "upper": "" if t.upper is None else str(t.upper)}
                for t in spec.tests.order_by("position")]
        return {"title": "Release (changed)", "rounding": "half_even", "reason": "", **_rows(*rows)}


class TestRevisionForm(_Page):
    route = "qc:specification_revise"
    roles = (Role.QA_SPECIALIST,)
    refused_roles = (Role.QC_ANALYST,)
    args = staticmethod(lambda world: (_approved(world),))


class TestRevising(TestRevisionForm):
    method = "POST"
    status = 302

    def data(self, world, user):
        change = _cached(world, "spec_change", lambda w: approved_change(w.sponsor).number)
        return {"change_control": change, "reason": "Endotoxin limit tightened"}


# --- what the pages show ------------------------------------------------------------------------

@pytest.fixture
def world(records_a):  # noqa: F811
    return records_a


@pytest.fixture
def other_world(records_b):  # noqa: F811
    return records_b


@pytest.mark.django_db
def test_specification_page_prints_limits_rounding_and_revision_history(world, make_user):
    spec = qc_models.Specification.objects.get(number=_approved(world))
    change = approved_change(world.sponsor)
    revision = services.revise_specification(world.author, spec, change_control=change, reason="tighter")
    viewer = make_user("qc.viewer", Role.QC_ANALYST, sponsors=[world.sponsor])
    body = signed_in(viewer).get(reverse("qc:specification", args=[revision.number])).content.decode()
    assert "≥ 70.0 %" in body and "≤ 0.50 EU/mL" in body and "no growth" in body
    assert "Rounded half up to the reported decimals before comparison" in body
    assert reverse("qc:specification", args=[spec.number]) in body  # the revision history links revision 1
    assert change.number in body
    assert "May be pending (conditional release)" in body
    old = signed_in(viewer).get(reverse("qc:specification", args=[spec.number])).content.decode()
    assert "Acme Spec Approver" in old and "manifest-meaning" in old  # the signature manifestation
    assert spec.created_by.full_name in old


@pytest.mark.django_db
def test_approval_through_the_signature_dialog_and_segregation_shown(world, make_user):
    number = _draft(world)
    approver = make_user("qp.page", Role.QA_APPROVER, sponsors=[world.sponsor])
    client = signed_in(approver)
    page = client.get(reverse("qc:specification", args=[number])).content.decode()
    assert reverse("core:record_transition", args=["qc.specification", number, "approve"]) in page
    response = client.post(reverse("core:record_transition", args=["qc.specification", number, "approve"]),
                           {"username": approver.username, "password": PASSWORD})
    assert response.status_code == 302
    spec = qc_models.Specification.objects.get(number=number)
    assert spec.status == "approved"
    body = client.get(reverse("qc:specification", args=[number])).content.decode()
    assert approver.full_name in body and "Approved (effective)" in body
    # The author holds no approval permission; an author who also approves is told why not.
    both = make_user("qa.both", Role.QA_SPECIALIST, Role.QA_APPROVER, sponsors=[world.sponsor])
    own = draft_spec(both, world.sponsor, code="OWN-REL", stage="stability")
    body = signed_in(both).get(reverse("qc:specification", args=[own.number])).content.decode()
    assert "Why an action is not possible yet" in body and "you created" in body


@pytest.mark.django_db
def test_new_specification_form_refusal_names_the_criterion_and_keeps_the_rows(world, make_user):
    lab_methods()
    author = make_user("qa.form", Role.QA_SPECIALIST, sponsors=[world.sponsor])
    response = signed_in(author).post(reverse("qc:specification_new"), {
        "code": "BAD-REL", "title": "Release", "stage": "release", "product": world.product_code,
        **_rows({"attribute": "Viability", "method": "VIA", "criterion": "range", "lower": "80", "upper": "70"})})
    assert response.status_code == 422
    body = response.content.decode()
    assert 'role="alert"' in body and "Criterion 1 (Viability): the lower limit 80 is above" in body
    assert 'value="Viability"' in body
    assert not qc_models.Specification.objects.filter(code="BAD-REL").exists()


@pytest.mark.django_db
def test_new_specification_form_creates_every_filled_row(world, make_user):
    lab_methods()
    author = make_user("qa.form", Role.QA_SPECIALIST, sponsors=[world.sponsor])
    response = signed_in(author).post(reverse("qc:specification_new"), {
        "code": "ROWS-REL", "title": "Release", "stage": "release", "product": world.product_code,
        "rounding": "half_even", **_rows(
            {"attribute": "Viability", "method": "VIA", "criterion": "at_least", "lower": "70.0"},
            {"attribute": "", "method": ""},
            {"attribute": "Appearance", "method": "APP", "criterion": "equals", "expected": "Clear, colourless"})})
    spec = qc_models.Specification.objects.get(code="ROWS-REL")
    assert response["Location"] == reverse("qc:specification", args=[spec.number])
    assert [t.attribute for t in spec.tests.order_by("position")] == ["Viability", "Appearance"]
    assert spec.rounding == "half_even"


@pytest.mark.django_db
def test_method_page_shows_the_sop_and_whether_it_is_effective(world, make_user, qa_approver):
    from tests.documents import builders as docs  # noqa: PLC0415

    reviewer = make_user("qcr.page", Role.QC_REVIEWER, sponsors=[world.sponsor])
    doc_reviewer = make_user("doc.rev", Role.QA_SPECIALIST, sponsors=[world.sponsor])
    sop, version = docs.effective_document(world.author, doc_reviewer, qa_approver, "Flow cytometry of CAR+")
    draft_sop, _ = docs.draft(world.author, "Potency by IFN-γ ELISA")
    services.create_method(reviewer, code="CAR-FLOW", name="CAR expression", result_kind="numeric", unit="%",
                           decimals=1, sop=sop, instrument_kinds=["flow_cytometer"])
    services.create_method(reviewer, code="IFNG", name="IFN-γ release", result_kind="numeric", unit="pg/mL",
                           sop=draft_sop)
    client = signed_in(reviewer)
    body = client.get(reverse("qc:method", args=["CAR-FLOW"])).content.decode()
    assert sop.number in body and "Effective" in body and "Flow cytometer" in body
    body = client.get(reverse("qc:method", args=["IFNG"])).content.decode()
    assert draft_sop.number in body and "Not effective" in body


@pytest.mark.django_db
def test_lists_filter_and_sort(world, make_user):
    draft_spec(world.author, world.sponsor, code="AAA-STAB", stage="stability")
    draft_spec(world.author, world.sponsor, code="ZZZ-REL", stage="release")
    viewer = make_user("qc.viewer", Role.QC_ANALYST, sponsors=[world.sponsor])
    client = signed_in(viewer)
    body = client.get(reverse("qc:specifications"), {"stage": "stability"}).content.decode()
    assert "AAA-STAB" in body and "ZZZ-REL" not in body
    body = client.get(reverse("qc:specifications"), {"sort": "-code"}).content.decode()
    assert body.index("ZZZ-REL") < body.index("AAA-STAB")
    body = client.get(reverse("qc:methods"), {"result_kind": "growth"}).content.decode()
    assert "STER" in body and "VIA</a>" not in body


@pytest.mark.django_db
def test_another_sponsors_user_gets_404_for_the_specification(world, other_world, make_user):
    number = _draft(world)
    outsider = make_user("beta.qp", Role.QA_APPROVER, Role.QA_SPECIALIST, sponsors=[other_world.sponsor])
    client = signed_in(outsider)
    for route in ("qc:specification", "qc:specification_edit", "qc:specification_revise"):
        assert client.get(reverse(route, args=[number])).status_code == 404
    response = client.post(reverse("core:record_transition", args=["qc.specification", number, "approve"]),
                           {"username": outsider.username, "password": PASSWORD})
    assert response.status_code == 404
    assert number not in client.get(reverse("qc:specifications")).content.decode()
    assert qc_models.Specification.objects.get(number=number).status == "draft"
