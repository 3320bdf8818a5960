"""Authoring master batch records through the services: import with line-numbered errors, one
open version, copies of the effective version, checks against the database at submission,
sponsor segregation, and export → import without loss."""

import pytest

from opencdmo.core.domain.roles import Role
from opencdmo.core.errors import NotFound, RuleViolation
from opencdmo.core.models import AuditEvent
from opencdmo.processes import selectors, services
from opencdmo.processes.domain import mbr_format
from opencdmo.sponsors.models import Product
from tests.documents.builders import draft as draft_document
from tests.factories import signature
from tests.materials.builders import material
from tests.processes import builders


@pytest.fixture
def author(make_user, sponsor_a):
    return make_user("pd.author", Role.PD_SCIENTIST, sponsors=[sponsor_a])


@pytest.fixture
def approver(make_user, sponsor_a):
    return make_user("qa.mbr", Role.QA_APPROVER, sponsors=[sponsor_a])


def _text(product="ACM-101", fmt="yaml", **references) -> str:
    definition = builders.small_definition(product, **references)
    return mbr_format.dump_json(definition) if fmt == "json" else mbr_format.dump_yaml(definition)


def _submit(author, version):
    return services.transition_version(author, version, "submit", signature=signature(author, "Authored"))


@pytest.mark.django_db
def test_import_creates_the_products_mbr_and_a_draft_version(author):
    version = services.import_version(author, text=_text(), change_control="CC-2026-0001")
    assert (version.status, version.version_number, version.change_control) == ("draft", 1, "CC-2026-0001")
    assert version.mbr.product.code == "ACM-101" and version.mbr.title == "CD19 CAR-T (short)"
    assert selectors.definition_of(version) == builders.small_definition()


@pytest.mark.django_db
def test_a_malformed_file_is_refused_with_line_numbers_and_nothing_is_stored(author):
    text = _text().replace("type: yes_no", "type: maybe", 1)
    line = next(n for n, row in enumerate(text.splitlines(), start=1) if "maybe" in row)
    with pytest.raises(services.DefinitionErrors) as refused:
        services.import_version(author, text=text)
    assert any(found == line for found, _ in refused.value.errors)
    assert f"line {line}:" in refused.value.message
    assert not selectors.mbrs_for(author).exists()
    with pytest.raises(services.DefinitionErrors, match="empty"):
        services.import_version(author, text="  ")


@pytest.mark.django_db
def test_a_definition_for_another_product_is_refused(author, sponsor_a):
    version = services.import_version(author, text=_text())
    with pytest.raises(RuleViolation, match="for product ACM-102"):
        services.edit_version(author, version, text=_text("ACM-102"))
    with pytest.raises(RuleViolation, match="not one of your sponsors' products"):
        services.import_version(author, text=_text("ACM-102"))


@pytest.mark.django_db
def test_an_mbr_has_one_open_version_at_a_time(author):
    services.import_version(author, text=_text())
    with pytest.raises(RuleViolation, match="already has a version being written"):
        services.import_version(author, text=_text())


@pytest.mark.django_db
def test_a_new_version_starts_as_a_copy_of_the_effective_one_and_supersedes_it(author, approver):
    product = Product.objects.get(code="ACM-101")
    first = builders.effective_version(author, approver, product)
    copy = services.new_version(author, first.mbr, change_summary="MOI 2 → 3.")
    assert copy.version_number == 2 and copy.definition == first.definition
    assert selectors.changed_steps(copy) == {"added": [], "removed": [], "changed": []}
    change = builders.approved_change(product.program.sponsor)
    services.edit_version(author, copy, change_control=change.number)
    _submit(author, copy)
    services.transition_version(approver, copy, "approve", signature=signature(approver, "Approved"))
    services.transition_version(approver, copy, "make_effective", signature=signature(approver, "QA Released"))
    first.refresh_from_db()
    copy.refresh_from_db()
    assert (first.status, copy.status) == ("superseded", "effective")
    assert selectors.effective_version(first.mbr) == copy


@pytest.mark.django_db
def test_a_user_of_another_sponsor_neither_sees_nor_imports_into_its_mbr(author, make_user, sponsor_b):
    version = services.import_version(author, text=_text())
    other = make_user("pd.beta", Role.PD_SCIENTIST, sponsors=[sponsor_b])
    with pytest.raises(NotFound):
        selectors.mbr(other, version.mbr.number)
    with pytest.raises(NotFound):
        selectors.version(other, version.number)
    assert not selectors.mbrs_for(other).exists()
    with pytest.raises(RuleViolation, match="not one of your sponsors' products"):
        services.import_version(other, text=_text())
    with pytest.raises(NotFound):
        services.new_version(other, version.mbr)


@pytest.mark.django_db
def test_sops_and_materials_must_exist_for_the_products_sponsor_when_submitted(author, make_user, sponsor_a,
                                                                                sponsor_b):
    version = services.import_version(author, text=_text(sop="SOP-0001", material="TCM-SF",
                                                         equipment="biosafety_cabinet"),
                                      change_control="CC-2026-0001")
    with pytest.raises(RuleViolation) as refused:
        _submit(author, version)
    assert "SOP SOP-0001" in refused.value.message and "Material TCM-SF" in refused.value.message
    qa = make_user("qa.docs", Role.QA_SPECIALIST, sponsors=[sponsor_a, sponsor_b])
    draft_document(qa, "Apheresis receipt")
    material(qa, "TCM-SF", sponsor=sponsor_b)  # another sponsor's material is not this product's
    with pytest.raises(RuleViolation, match="Material TCM-SF") as refused:
        _submit(author, version)
    assert "SOP" not in refused.value.message
    material(qa, "TCM-SF2", sponsor=sponsor_a)
    services.edit_version(author, version, text=_text(sop="SOP-0001", material="TCM-SF2"))
    assert _submit(author, version).status == "in_review"


@pytest.mark.django_db
def test_an_unknown_equipment_kind_is_a_line_numbered_error(author):
    text = _text(equipment="time_machine")
    with pytest.raises(services.DefinitionErrors, match="time_machine"):
        services.import_version(author, text=text)


@pytest.mark.django_db
@pytest.mark.parametrize("fmt", ["yaml", "json"])
def test_export_then_import_gives_an_identical_definition(author, fmt):
    first = services.import_version(author, text=_text(sop="SOP-0001", material="TCM-SF", equipment="incubator"))
    text = selectors.export_text(first, fmt)
    services.record_export(author, first, file_format=fmt)
    services.transition_version(author, first, "withdraw", reason="re-imported from its export")
    again = services.import_version(author, text=text)
    assert again.definition == first.definition
    assert selectors.definition_of(again) == selectors.definition_of(first)
    exported = AuditEvent.objects.get(action="export", record_id=str(first.pk))
    assert fmt in exported.changes


@pytest.mark.django_db
def test_export_in_an_unknown_format_is_refused(author):
    version = services.import_version(author, text=_text())
    with pytest.raises(RuleViolation, match="yaml or json"):
        selectors.export_text(version, "xml")
