"""Test methods and specifications through their services: what is refused (and that a refusal
changes nothing), segregation of duties at approval, revisions only under an approved change
control, supersession, and sponsor segregation."""

from decimal import Decimal

import pytest

from opencdmo.core.domain.roles import Role
from opencdmo.core.errors import Conflict, NotFound, PermissionDenied, RuleViolation
from opencdmo.core.models import AuditEvent, Signature
from opencdmo.core.records import update_record
from opencdmo.qc import models as qc_models
from opencdmo.qc import selectors, services
from opencdmo.quality.models import ChangeTask
from tests.factories import signature

# --- builders (also used by test_spec_pages.py and test_spec_api.py) ----------------------------


def _person(username: str, *roles: Role, sponsors=()):
    from opencdmo.core import services as core_services  # noqa: PLC0415
    from opencdmo.core.models import User  # noqa: PLC0415
    from tests.conftest import PASSWORD  # noqa: PLC0415

    found = User.objects.filter(username=username).first()
    return found or core_services.create_user(
        None, username=username, full_name=username.replace(".", " ").title(), password=PASSWORD,
        roles=[r.value for r in roles], sponsor_ids=[s.pk for s in sponsors])


def lab_methods(manager=None) -> dict[str, qc_models.TestMethod]:
    """Viability (numeric %, 1 decimal), endotoxin (EU/mL, 2 decimals), sterility (growth), mycoplasma
    (detection), appearance (choice); the same ones when they exist already."""
    manager = manager or _person("spec.methods", Role.QC_REVIEWER)
    wanted = {
        "VIA": {"name": "Viability by automated cell counter", "result_kind": "numeric", "unit": "%", "decimals": 1,
                "instrument_kinds": ["cell_counter"]},
        "LAL": {"name": "Endotoxin, kinetic chromogenic LAL", "result_kind": "numeric", "unit": "EU/mL",
                "decimals": 2},
        "STER": {"name": "Sterility, Ph. Eur. 2.6.27", "result_kind": "growth", "turnaround_days": 14},
        "MYCO": {"name": "Mycoplasma by PCR", "result_kind": "detection", "turnaround_days": 2},
        "APP": {"name": "Appearance", "result_kind": "choice",
                "choices": ["Clear, colourless", "Slightly opalescent", "Particles visible"]},
    }
    return {code: (qc_models.TestMethod.objects.filter(code=code).first()
                   or services.create_method(manager, code=code, **fields))
            for code, fields in wanted.items()}


def release_criteria() -> list[dict]:
    return [
        {"attribute": "Viability", "method": "VIA", "criterion": "at_least", "lower": "70.0"},
        {"attribute": "Endotoxin", "method": "LAL", "criterion": "at_most", "upper": "0.50"},
        {"attribute": "Sterility", "method": "STER", "criterion": "not_detected", "may_be_pending_at_release": True},
        {"attribute": "Mycoplasma", "method": "MYCO", "criterion": "not_detected"},
    ]


def draft_spec(author, sponsor, *, code: str | None = None, stage: str = "release",
               tests=None) -> qc_models.Specification:
    lab_methods()
    product = sponsor.programs.first().products.first()
    return services.create_specification(
        author, code=code or f"{product.code}-{stage[:3].upper()}", title=f"{product.name} {stage} specification",
        stage=stage, product=product, tests=release_criteria() if tests is None else tests)


def approve(spec, approver):
    return services.transition_specification(approver, spec, "approve", signature=signature(approver, "Approved"))


def approved_change(sponsor, title="Tighten the endotoxin limit to 0.25 EU/mL"):
    """An approved change control of kind 'specification' for `sponsor` (its own proposer, QA and approver)."""
    from tests.quality import change_builders as cc  # noqa: PLC0415

    prefix = sponsor.code.lower()
    proposer = _person(f"{prefix}.cc.proposer", Role.QA_SPECIALIST, sponsors=[sponsor])
    approver = _person(f"{prefix}.cc.approver", Role.QA_APPROVER, sponsors=[sponsor])
    change = cc.submitted(cc.proposed(proposer, sponsor, title=title, kind="specification",
                                      description="Release specification: endotoxin ≤ 0.50 → ≤ 0.25 EU/mL."),
                          proposer)
    cc.assessed(change, proposer)
    cc.awaiting_approval(change, proposer)
    return cc.qa_approved(change, approver)


def specification_for_sponsor(author, sponsor, title: str) -> str:
    """For tests/web RECORD_BUILDERS: a sponsor's draft release specification."""
    return draft_spec(author, sponsor, code=f"{sponsor.code}-REL-{abs(hash(title)) % 10000:04d}").number


def approved_spec_for_sponsor(author, sponsor, title: str = "") -> qc_models.Specification:
    approver = _person(f"{sponsor.code.lower()}.spec.approver", Role.QA_APPROVER, sponsors=[sponsor])
    return approve(draft_spec(author, sponsor, code=f"{sponsor.code}-REL-A"), approver)


# --- fixtures -----------------------------------------------------------------------------------

@pytest.fixture
def reviewer(make_user, sponsor_a):
    return make_user("qcr.ross", Role.QC_REVIEWER, sponsors=[sponsor_a])


@pytest.fixture
def methods(reviewer):
    return lab_methods(reviewer)


def _counts():
    return (qc_models.TestMethod.objects.count(), qc_models.Specification.objects.count(),
            qc_models.SpecificationTest.objects.count(),
            AuditEvent.objects.count(), Signature.objects.count())


# --- methods ------------------------------------------------------------------------------------

@pytest.mark.django_db
def test_a_method_is_created_with_its_result_definition_and_audited(reviewer):
    method = services.create_method(reviewer, code=" via-2 ", name="Viability (NC-200)", result_kind="numeric",
                                    unit="%", decimals=1, instrument_kinds=["cell_counter", "flow_cytometer"],
                                    turnaround_days=1)
    assert (method.code, method.unit, method.decimals, method.instrument_kinds) == (
        "VIA-2", "%", 1, ["cell_counter", "flow_cytometer"])
    event = AuditEvent.objects.get(record_type="qc.testmethod", action="create")
    assert event.actor_id == reviewer.pk


@pytest.mark.django_db
@pytest.mark.parametrize(("fields", "message"), [
    ({"result_kind": "colour"}, "What the method reports must be one of"),
    ({"result_kind": "choice"}, "at least two answers"),
    ({"result_kind": "choice", "choices": ["only one"]}, "at least two answers"),
    ({"result_kind": "growth", "choices": ["a", "b"]}, "Only a method reporting one of a list"),
    ({"instrument_kinds": ["centrifuge", "pcr_machine"]}, "'pcr_machine' is not a kind of equipment"),
    ({"decimals": 7}, "from 0 to 6"),
    ({"decimals": -1}, "from 0 to 6"),
    ({"decimals": "two"}, "whole number"),
    ({"result_kind": "growth", "unit": "%"}, "belong to a method reporting a number"),
    ({"turnaround_days": "fortnight"}, "whole days"),
    ({"turnaround_days": 999}, "from 0 to 365"),
    ({"code": ""}, "Give the method a code"),
    ({"code": "X" * 33}, "too long"),
    ({"name": "  "}, "Give the method's name"),
    ({"sop": "SOP-9999"}, "No document matches"),
])
def test_a_method_refused_changes_nothing(reviewer, fields, message):
    before = _counts()
    with pytest.raises((RuleViolation, NotFound), match=message):
        services.create_method(reviewer, **{"code": "NEW", "name": "New method", "result_kind": "numeric", **fields})
    assert _counts() == before


@pytest.mark.django_db
def test_method_code_is_unique_in_any_case(reviewer, methods):
    before = _counts()
    with pytest.raises(Conflict, match="VIA exists already"):
        services.create_method(reviewer, code="via", name="Viability again", result_kind="numeric")
    assert _counts() == before


@pytest.mark.django_db
def test_a_method_follows_an_sop_not_another_document(reviewer, qa_author, qa_approver, make_user, sponsor_a):
    from tests.documents import builders as docs  # noqa: PLC0415

    qa_reviewer = make_user("doc.reviewer", Role.QA_SPECIALIST, sponsors=[sponsor_a])
    sop, _ = docs.effective_document(qa_author, qa_reviewer, qa_approver, "Cell counting with the automated counter")
    form, _ = docs.draft(qa_author, "Viability worksheet", doc_type="form")
    with pytest.raises(RuleViolation, match="not an SOP"):
        services.create_method(reviewer, code="VIA-3", name="Viability", result_kind="numeric", sop=form.number)
    method = services.create_method(reviewer, code="VIA-3", name="Viability", result_kind="numeric", sop=sop)
    assert selectors.sop_state(method)["effective"] is True


@pytest.mark.django_db
def test_only_a_method_manager_creates_and_changes_methods(qa_author, methods):
    with pytest.raises(PermissionDenied, match="qc.manage_methods"):
        services.create_method(qa_author, code="NEW", name="New", result_kind="text")
    with pytest.raises(PermissionDenied, match="qc.manage_methods"):
        services.update_method(qa_author, methods["VIA"], reason="typo", name="Viability")


@pytest.mark.django_db
def test_a_method_is_changed_with_a_reason_and_deactivated(reviewer, methods, qa_author, sponsor_a):
    method = methods["LAL"]
    with pytest.raises(RuleViolation, match="Give a reason"):
        services.update_method(reviewer, method, reason=" ", turnaround_days=3)
    with pytest.raises(RuleViolation, match="cannot be changed: result_kind"):
        services.update_method(reviewer, method, reason="wrong kind", result_kind="text")
    services.update_method(reviewer, method, reason="new reader", turnaround_days=3, is_active=False)
    method.refresh_from_db()
    assert (method.turnaround_days, method.is_active) == (3, False)
    assert AuditEvent.objects.filter(record_type="qc.testmethod", action="update", reason="new reader").exists()
    # An inactive method is not chosen for a new criterion.
    with pytest.raises(RuleViolation, match="no longer in use"):
        draft_spec(qa_author, sponsor_a, tests=[{"attribute": "Endotoxin", "method": "LAL", "criterion": "at_most",
                                                 "upper": "0.50"}])


@pytest.mark.django_db
def test_what_a_method_reports_cannot_change_under_its_specifications(reviewer, methods, qa_author, sponsor_a):
    method = methods["LAL"]
    services.update_method(reviewer, method, reason="before use", decimals=3)  # unused yet: allowed
    services.update_method(reviewer, method, reason="back", decimals=2)
    spec = draft_spec(qa_author, sponsor_a)
    appearance = draft_spec(qa_author, sponsor_a, code="APP-STB", stage="stability", tests=[
        {"attribute": "Appearance", "method": "APP", "criterion": "equals", "expected": "Clear, colourless"}])
    before = _counts()
    with pytest.raises(RuleViolation, match=f"used by {spec.number}: its result definition \\(decimals, unit\\)"):
        services.update_method(reviewer, method, reason="coarser", decimals=1, unit="EU/kg")
    with pytest.raises(RuleViolation, match=f"used by {appearance.number}: its result definition \\(choices\\)"):
        services.update_method(reviewer, methods["APP"], reason="fewer answers", choices=["Clear", "Cloudy"])
    assert _counts() == before
    services.update_method(reviewer, method, reason="faster reader", turnaround_days=1, decimals=2)  # unchanged
    method.refresh_from_db()
    assert (method.decimals, method.unit, method.turnaround_days) == (2, "EU/mL", 1)


# --- specifications -----------------------------------------------------------------------------

@pytest.mark.django_db
def test_a_specification_is_drafted_as_revision_1_of_the_products_sponsor(qa_author, sponsor_a, methods):
    spec = draft_spec(qa_author, sponsor_a)
    assert (spec.status, spec.revision, spec.sponsor, spec.code, spec.rounding) == (
        "draft", 1, sponsor_a, "ACM-101-REL", "half_up")
    assert spec.number.startswith("SPEC-")
    tests = selectors.specification_criteria(spec)
    assert [(t.position, t.attribute, t.limit) for t in tests] == [
        (1, "Viability", "≥ 70.0 %"), (2, "Endotoxin", "≤ 0.50 EU/mL"),
        (3, "Sterility", "no growth"), (4, "Mycoplasma", "not detected")]
    assert tests[2].may_be_pending_at_release is True
    assert AuditEvent.objects.filter(record_type="qc.specificationtest", action="create").count() == 4


@pytest.mark.django_db
def test_an_incoming_specification_is_of_a_material_and_its_sponsor(qa_author, sponsor_a, methods, make_user):
    from opencdmo.materials import services as material_services  # noqa: PLC0415

    handler = make_user("mh.mueller", Role.MATERIAL_HANDLER, sponsors=[sponsor_a])
    vector = material_services.create_material(handler, code="LV-CD19", name="Lentiviral vector",
                                               category="critical_reagent", storage="ult", unit="mL",
                                               sponsor=sponsor_a)
    il2 = material_services.create_material(handler, code="IL2", name="IL-2", category="critical_reagent",
                                            storage="frozen", unit="mL")
    tests = [{"attribute": "Sterility", "method": "STER", "criterion": "not_detected"}]
    spec = services.create_specification(qa_author, code="LV-CD19-IN", title="Incoming LV", stage="incoming",
                                         material=vector, tests=tests)
    assert (spec.material, spec.product, spec.sponsor) == (vector, None, sponsor_a)
    own = services.create_specification(qa_author, code="IL2-IN", title="Incoming IL-2", stage="incoming",
                                        material="IL2", tests=tests)
    assert (own.material, own.sponsor) == (il2, None)
    with pytest.raises(RuleViolation, match="incoming specification is of a material"):
        services.create_specification(qa_author, code="X-IN", title="x", stage="incoming",
                                      product=sponsor_a.programs.get().products.get(), tests=tests)
    with pytest.raises(RuleViolation, match="is of a product"):
        services.create_specification(qa_author, code="X-REL", title="x", stage="release", material=il2, tests=tests)


def _crit(**fields):
    return {"attribute": "Viability", "method": "VIA", "criterion": "at_least", "lower": "70.0", **fields}


@pytest.mark.django_db
@pytest.mark.parametrize(("fields", "tests", "message"), [
    ({"stage": "final"}, None, "The stage must be one of"),
    ({"rounding": "ceiling"}, None, "rounding rule must be one of"),
    ({"code": ""}, None, "Give the specification a code"),
    ({"title": "T" * 201}, None, "too long"),
    ({"product": "NOPE-1"}, None, "No product matches"),
    ({"material": "LV-CD19"}, None, "of one product or one material, not both"),
    ({}, [_crit(criterion="range", lower="80", upper="70")], r"Criterion 1 \(Viability\): the lower limit 80 is above"),
    ({}, [_crit(criterion="range", upper=None)], "a range needs both a lower and an upper limit"),
    ({}, [_crit(lower=None)], "'at least' needs a lower limit"),
    ({}, [_crit(criterion="more_than", lower=None)], "'more than' needs a lower limit"),
    ({}, [_crit(criterion="at_most", lower=None)], "'at most' needs an upper limit"),
    ({}, [_crit(criterion="less_than", lower=None)], "'less than' needs an upper limit"),
    ({}, [_crit(upper="100.0")], "takes only a lower limit"),
    ({}, [_crit(criterion="at_most", upper="5.0")], "takes only an upper limit"),
    ({}, [_crit(criterion="equals", lower=None)], "needs the expected number"),
    ({}, [_crit(criterion="not_detected", lower=None)], "needs a detection or growth method"),
    ({}, [_crit(method="STER", criterion="at_least")], r"Criterion 1 \(Viability\): a numeric limit needs a method "
                                                       "that reports a number"),
    ({}, [_crit(method="STER", criterion="equals", lower=None)], "needs the expected answer"),
    ({}, [_crit(method="STER", criterion="equals", lower=None, expected="sterile")],
     "expected answer must be one of: no growth, growth"),
    ({}, [_crit(method="APP", criterion="equals", lower=None, expected="Cloudy")], "must be one of: Clear, colourless"),
    ({}, [_crit(method="STER", criterion="not_detected", lower=None, decimals=1)], "apply only to a numeric method"),
    ({}, [_crit(criterion="report_only")], "'report only' takes no limits"),
    ({}, [_crit(decimals=7)], "from 0 to 6"),
    ({}, [_crit(lower="69.95")], "has more decimals than the 1 a result is reported with"),
    ({}, [_crit(lower="abc")], "the lower limit 'abc' is not a number"),
    ({}, [_crit(lower="1e30")], "cannot be stored"),
    ({}, [_crit(method="PCR-X")], "No test method has the code 'PCR-X'"),
    ({}, [_crit(criterion="between")], "the criterion must be one of"),
    ({}, [_crit(attribute="")], "Give the attribute criterion 1 tests"),
    ({}, [_crit(), _crit(attribute=" viability ")], "listed twice"),
    ({}, [_crit(), _crit(attribute="Endotoxin", method="LAL", criterion="at_most", lower=None, upper="0.5x")],
     r"Criterion 2 \(Endotoxin\)"),
])
def test_a_specification_refused_changes_nothing(qa_author, sponsor_a, methods, fields, tests, message):
    before = _counts()
    with pytest.raises((RuleViolation, NotFound), match=message):
        services.create_specification(qa_author, **{
            "code": "ACM-101-REL", "title": "Release", "stage": "release", "product": "ACM-101",
            "tests": [_crit()] if tests is None else tests, **fields})
    assert _counts() == before


@pytest.mark.django_db
def test_equals_on_a_numeric_method_keeps_the_number_and_a_choice_keeps_the_listed_answer(qa_author, sponsor_a,
                                                                                        methods):
    spec = draft_spec(qa_author, sponsor_a, tests=[
        _crit(criterion="equals", lower=None, expected="100.0"),
        {"attribute": "Appearance", "method": "APP", "criterion": "equals", "expected": "clear, COLOURLESS"}])
    first, second = spec.tests.order_by("position")
    assert (first.lower, first.expected) == (Decimal("100.0"), "")
    assert second.expected == "Clear, colourless"
    assert selectors.evaluate(second, "Clear, colourless").conformance == "conforms"


@pytest.mark.django_db
def test_a_specification_code_is_unique(qa_author, sponsor_a, methods):
    draft_spec(qa_author, sponsor_a)
    before = _counts()
    with pytest.raises(Conflict, match="ACM-101-REL exists already"):
        draft_spec(qa_author, sponsor_a, code="acm-101-rel")
    assert _counts() == before


@pytest.mark.django_db
def test_only_an_author_of_specifications_drafts_one(make_user, sponsor_a, methods):
    analyst = make_user("qc.chen", Role.QC_ANALYST, sponsors=[sponsor_a])
    with pytest.raises(PermissionDenied, match="qc.author_specifications"):
        draft_spec(analyst, sponsor_a)


@pytest.mark.django_db
def test_a_draft_is_changed_in_place_and_criteria_are_never_removed(qa_author, sponsor_a, methods, qa_approver):
    spec = draft_spec(qa_author, sponsor_a)
    criteria = release_criteria()
    criteria[1]["upper"] = "0.25"
    criteria.append({"attribute": "Appearance", "method": "APP", "criterion": "report_only"})
    spec = services.update_specification(qa_author, spec, reason="limit tightened", title="Release HLX",
                                         rounding="half_even", tests=criteria)
    assert (spec.title, spec.rounding, spec.tests.count()) == ("Release HLX", "half_even", 5)
    assert spec.tests.get(position=2).upper == Decimal("0.25")
    before = _counts()
    with pytest.raises(RuleViolation, match="criteria are never deleted"):
        services.update_specification(qa_author, spec, tests=criteria[:2])
    assert _counts() == before
    approve(spec, qa_approver)
    with pytest.raises(RuleViolation, match="only a draft is changed"):
        services.update_specification(qa_author, spec, title="Another")


# --- approval and segregation -------------------------------------------------------------------

@pytest.mark.django_db
def test_approval_is_signed_and_makes_the_specification_effective(qa_author, qa_approver, sponsor_a, methods,
                                                                  fake_clock):
    spec = approve(draft_spec(qa_author, sponsor_a), qa_approver)
    assert (spec.status, spec.effective_at) == ("approved", fake_clock())
    assert Signature.objects.get(record_id=str(spec.pk), record_type="qc.specification").meaning == "Approved"
    # Stamping the effective date after signing leaves the signature valid (P11-4).
    from opencdmo.core.signatures import with_validity  # noqa: PLC0415

    assert [valid for _, valid in with_validity(spec)] == [True]
    product = sponsor_a.programs.get().products.get()
    assert selectors.effective_specification(stage="release", product=product) == spec


@pytest.mark.django_db
def test_the_author_cannot_approve_their_own_specification(make_user, sponsor_a, methods):
    both = make_user("qa.both", Role.QA_SPECIALIST, Role.QA_APPROVER, sponsors=[sponsor_a])
    spec = draft_spec(both, sponsor_a)
    before = _counts()
    with pytest.raises(RuleViolation, match="Segregation of duties.*you created"):
        approve(spec, both)
    spec.refresh_from_db()
    assert spec.status == "draft"
    assert _counts()[4] == before[4]  # no signature


@pytest.mark.django_db
def test_approval_needs_the_approver_permission_and_a_signature(qa_author, qa_approver, reviewer, sponsor_a, methods):
    spec = draft_spec(qa_author, sponsor_a)
    with pytest.raises(PermissionDenied, match="qc.approve_specifications"):
        approve(spec, reviewer)
    with pytest.raises(RuleViolation, match="needs your signature"):
        services.transition_specification(qa_approver, spec, "approve")
    with pytest.raises(RuleViolation, match="sign with the meaning 'Approved'"):
        services.transition_specification(qa_approver, spec, "approve", signature=signature(qa_approver, "Reviewed"))
    spec.refresh_from_db()
    assert spec.status == "draft"


@pytest.mark.django_db
def test_a_specification_without_criteria_is_not_approved(qa_author, qa_approver, sponsor_a, methods):
    spec = draft_spec(qa_author, sponsor_a, tests=[])
    with pytest.raises(RuleViolation, match="no acceptance criteria"):
        approve(spec, qa_approver)


@pytest.mark.django_db
def test_a_second_effective_specification_of_the_same_product_and_stage_is_refused(qa_author, qa_approver, sponsor_a,
                                                                                  methods):
    approve(draft_spec(qa_author, sponsor_a, code="REL-A"), qa_approver)
    other = draft_spec(qa_author, sponsor_a, code="REL-B")
    with pytest.raises(RuleViolation, match="already the effective release specification"):
        approve(other, qa_approver)


@pytest.mark.django_db
def test_retiring_needs_a_reason_and_leaves_no_effective_specification(qa_author, qa_approver, sponsor_a, methods):
    spec = approve(draft_spec(qa_author, sponsor_a), qa_approver)
    with pytest.raises(RuleViolation, match="Give a reason"):
        services.transition_specification(qa_approver, spec, "retire")
    spec = services.transition_specification(qa_approver, spec, "retire", reason="product discontinued")
    assert spec.status == "retired"
    assert selectors.effective_specification(stage="release", product=spec.product) is None


# --- revisions under change control ---------------------------------------------------------------

@pytest.mark.django_db
@pytest.mark.req("Q10-1")
def test_a_revision_needs_an_approved_change_control_of_kind_specification(qa_author, qa_approver, sponsor_a,
                                                                           methods):
    from tests.quality import change_builders as cc  # noqa: PLC0415

    spec = approve(draft_spec(qa_author, sponsor_a), qa_approver)
    before = _counts()
    with pytest.raises(RuleViolation, match="needs the number of its approved change control"):
        services.revise_specification(qa_author, spec, change_control="", reason="tighter endotoxin")
    with pytest.raises(RuleViolation, match="No change control CC-2026-9999"):
        services.revise_specification(qa_author, spec, change_control="CC-2026-9999", reason="tighter endotoxin")
    submitted = cc.submitted(cc.proposed(qa_author, sponsor_a, kind="specification"), qa_author)
    with pytest.raises(RuleViolation, match="only under an approved change control"):
        services.revise_specification(qa_author, spec, change_control=submitted.number, reason="tighter endotoxin")
    process_change = approved_change(sponsor_a)
    update_record(qa_author, process_change, reason="test set-up", kind="process")
    with pytest.raises(RuleViolation, match="under a change of kind 'Specification or method'"):
        services.revise_specification(qa_author, spec, change_control=process_change.number, reason="tighter")
    with pytest.raises(RuleViolation, match="Give a reason"):
        services.revise_specification(qa_author, spec, change_control=process_change.number, reason="")
    assert _counts()[1:3] == before[1:3]


@pytest.mark.django_db
def test_a_revision_copies_the_criteria_and_only_one_draft_revision_at_a_time(qa_author, qa_approver, sponsor_a,
                                                                              methods):
    spec = approve(draft_spec(qa_author, sponsor_a), qa_approver)
    change = approved_change(sponsor_a)
    revision = services.revise_specification(qa_author, spec, change_control=change.number,
                                             reason="tighter endotoxin limit")
    assert (revision.code, revision.revision, revision.status, revision.supersedes, revision.change_control) == (
        spec.code, 2, "draft", spec, change)
    assert [selectors.limit_text(t) for t in revision.tests.order_by("position")] == [
        selectors.limit_text(t) for t in spec.tests.order_by("position")]
    with pytest.raises(Conflict, match="already a draft"):
        services.revise_specification(qa_author, spec, change_control=change.number, reason="again")
    with pytest.raises(RuleViolation, match="only the approved revision"):
        services.revise_specification(qa_author, revision, change_control=change.number, reason="again")


@pytest.mark.django_db
@pytest.mark.req("Q10-1")
def test_approving_revision_2_supersedes_revision_1(qa_author, qa_approver, sponsor_a, methods):
    first = approve(draft_spec(qa_author, sponsor_a), qa_approver)
    change = approved_change(sponsor_a)
    second = services.revise_specification(qa_author, first, change_control=change, reason="tighter endotoxin")
    criteria = release_criteria()
    criteria[1]["upper"] = "0.25"
    services.update_specification(qa_author, second, tests=criteria)
    second = approve(second, qa_approver)
    first.refresh_from_db()
    assert (first.status, second.status) == ("superseded", "approved")
    product = sponsor_a.programs.get().products.get()
    effective = selectors.effective_specification(stage="release", product=product)
    assert effective == second
    assert selectors.limit_text(effective.tests.get(position=2)) == "≤ 0.25 EU/mL"
    assert ChangeTask.objects.filter(change=change, record_id=str(second.pk)).exists()
    assert [s.revision for s in selectors.revisions_of(qa_author, first.code)] == [2, 1]


@pytest.mark.django_db
def test_a_revision_is_not_approved_once_its_change_control_is_no_longer_approved(qa_author, qa_approver, sponsor_a,
                                                                                  methods):
    first = approve(draft_spec(qa_author, sponsor_a), qa_approver)
    change = approved_change(sponsor_a)
    second = services.revise_specification(qa_author, first, change_control=change, reason="tighter endotoxin")
    update_record(qa_author, change, action="transition", reason="test set-up: cancelled", status="cancelled")
    with pytest.raises(RuleViolation, match="no longer approved"):
        approve(second, qa_approver)
    first.refresh_from_db()
    assert first.status == "approved"  # the supersession rolled back with the refusal


# --- sponsor segregation ------------------------------------------------------------------------

@pytest.mark.django_db
def test_another_sponsors_user_can_neither_see_nor_approve_the_specification(qa_author, sponsor_a, sponsor_b,
                                                                             make_user, methods):
    spec = draft_spec(qa_author, sponsor_a)
    approver_b = make_user("qp.beta", Role.QA_APPROVER, sponsors=[sponsor_b])
    author_b = make_user("qa.beta", Role.QA_SPECIALIST, sponsors=[sponsor_b])
    with pytest.raises(NotFound):
        selectors.specification(approver_b, spec.number)
    assert not selectors.specifications_for(approver_b).exists()
    with pytest.raises(NotFound):
        approve(spec, approver_b)
    with pytest.raises(NotFound):
        services.update_specification(author_b, spec, title="Taken over")
    with pytest.raises(NotFound):
        draft_spec(author_b, sponsor_a, code="ACM-STOLEN")  # sponsor A's product is not theirs
    spec.refresh_from_db()
    assert spec.status == "draft"


# --- demo -----------------------------------------------------------------------------------------

@pytest.mark.django_db
def test_demo_methods_and_specifications_are_approved_and_effective(make_user, fake_clock):
    from opencdmo.materials import services as material_services  # noqa: PLC0415
    from opencdmo.qc.demo import seed_methods_and_specifications  # noqa: PLC0415
    from opencdmo.sponsors.models import Product, Program, Sponsor  # noqa: PLC0415
    from tests.conftest import PASSWORD  # noqa: PLC0415

    sponsors = {}
    for code, product in (("HELIX", "HLX-101"), ("NORDV", "NVG-201")):
        sponsors[code] = Sponsor.objects.create(code=code, name=code.title())
        program = Program.objects.create(sponsor=sponsors[code], code=f"{code}-P", name="Programme")
        Product.objects.create(program=program, code=product, name=product, modality="autologous_cell",
                               phase="phase_2")
    every = list(sponsors.values())
    users = {"qcr.ross": make_user("qcr.ross", Role.QC_REVIEWER, sponsors=every),
             "qp.dubois": make_user("qp.dubois", Role.QA_APPROVER, sponsors=every)}
    handler = make_user("mh.mueller", Role.MATERIAL_HANDLER, sponsors=every)
    material_services.create_material(handler, code="LV-CD19", name="Lentiviral vector", category="critical_reagent",
                                      storage="ult", unit="mL", sponsor=sponsors["HELIX"])

    made = seed_methods_and_specifications(users, sponsors, password=PASSWORD)

    assert {"STER-2627", "MYCO-PCR", "LAL-KCA", "VIA-CC", "VG-DDPCR", "APP-VIS"} <= made["methods"].keys()
    specs = made["specifications"]
    assert set(specs) == {"HLX-101-REL", "HLX-101-IPC", "HLX-101-STB", "NVG-201-REL", "LV-CD19-IN"}
    assert {s.status for s in specs.values()} == {"approved"}
    release = selectors.effective_specification(stage="release", product=Product.objects.get(code="HLX-101"))
    assert release == specs["HLX-101-REL"] and release.sponsor == sponsors["HELIX"]
    limits = {t.attribute: (selectors.limit_text(t), t.may_be_pending_at_release) for t in release.tests.all()}
    assert limits["Sterility"] == ("no growth", True)
    assert limits["Viability"] == ("≥ 70.0 %", False)
    assert limits["Vector copy number"] == ("< 5.00 copies/cell", False)
    assert specs["LV-CD19-IN"].material.code == "LV-CD19"
    assert specs["NVG-201-REL"].sponsor == sponsors["NORDV"]


@pytest.mark.django_db
def test_a_draft_waits_in_the_approvers_tasks_but_not_in_its_authors(make_user, sponsor_a, qa_author, qa_approver,
                                                                      methods):
    from opencdmo.core.tasks import tasks_for  # noqa: PLC0415

    spec = draft_spec(qa_author, sponsor_a)
    both = make_user("qa.both", Role.QA_SPECIALIST, Role.QA_APPROVER, sponsors=[sponsor_a])
    own = draft_spec(both, sponsor_a, code="OWN-STB", stage="stability")
    approver_tasks = [t.record for t in tasks_for(qa_approver) if t.title == "Approve the specification"]
    assert any(spec.number in r for r in approver_tasks) and any(own.number in r for r in approver_tasks)
    assert not any(own.number in t.record for t in tasks_for(both) if t.title == "Approve the specification")
    approve(spec, qa_approver)
    assert not any(spec.number in t.record for t in tasks_for(qa_approver))


@pytest.mark.django_db
def test_a_revision_is_made_only_under_a_change_of_its_own_sponsor(make_user, sponsor_a, sponsor_b, qa_approver,
                                                                   methods):
    author = make_user("qa.both.sponsors", Role.QA_SPECIALIST, sponsors=[sponsor_a, sponsor_b])
    spec = approve(draft_spec(author, sponsor_a), qa_approver)
    other = approved_change(sponsor_b, title="Beta: new potency assay")
    with pytest.raises(RuleViolation, match="another sponsor's change"):
        services.revise_specification(author, spec, change_control=other.number, reason="wrong change")
    assert not qc_models.Specification.objects.filter(code=spec.code, revision=2).exists()


def test_a_limit_written_with_a_comma_is_refused_not_guessed(reviewer, sponsor_a):
    """'69,5' is 69.5 to some and 695 to others."""
    tests = [{"attribute": "Viability", "method": "VIA", "criterion": "at_least", "lower": "69,5"}]
    with pytest.raises(RuleViolation, match="has a comma"):
        draft_spec(reviewer, sponsor_a, tests=tests)
    assert not qc_models.Specification.objects.exists()
