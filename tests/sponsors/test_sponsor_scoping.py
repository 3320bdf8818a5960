"""Sponsor segregation: a user sees and changes only the sponsors assigned to them (P11-1d)."""

import pytest

from opencdmo.core import services as core_services
from opencdmo.core import signatures
from opencdmo.core.domain.roles import Role
from opencdmo.core.errors import NotFound
from opencdmo.core.models import AuditEvent, Signature
from opencdmo.core.scoping import get_scoped, may_see_sponsor, scoped
from opencdmo.sponsors import selectors, services
from opencdmo.sponsors.models import Product, Program, QualityAgreement, Sponsor
from tests.factories import approved_agreement, draft_agreement, signature


@pytest.fixture
def beta_agreement(make_user, sponsor_b):
    author = make_user("beta.author", Role.QA_SPECIALIST, sponsors=[sponsor_b])
    approver = make_user("beta.approver", Role.QA_APPROVER, sponsors=[sponsor_b])
    return approved_agreement(author, approver, sponsor_b, title="Quality agreement — AAV9 vector supply")


@pytest.fixture
def acme_agreement(qa_author, qa_approver, sponsor_a):
    return approved_agreement(qa_author, qa_approver, sponsor_a)


@pytest.mark.req("P11-1d")
def test_lists_show_only_the_users_sponsors(qa_author, sponsor_a, sponsor_b, acme_agreement, beta_agreement):
    assert list(selectors.sponsors_for(qa_author)) == [sponsor_a]
    assert [p.code for p in selectors.programs_for(qa_author)] == ["ACME-CD19"]
    assert [p.code for p in selectors.products_for(qa_author)] == ["ACM-101"]
    assert list(selectors.agreements_for(qa_author)) == [acme_agreement]
    assert set(scoped(Signature, qa_author).values_list("record_id", flat=True)) == {str(acme_agreement.pk)}


@pytest.mark.req("P11-1d")
def test_another_sponsors_records_do_not_exist_for_the_user(qa_author, sponsor_b, beta_agreement):
    beta_product = Product.objects.get(code="BVB-201")
    with pytest.raises(NotFound):
        selectors.sponsor(qa_author, "BETA")
    with pytest.raises(NotFound):
        selectors.agreement(qa_author, beta_agreement.number)
    with pytest.raises(NotFound):
        get_scoped(Product, qa_author, pk=beta_product.pk)
    with pytest.raises(NotFound):
        get_scoped(Program, qa_author, code="BETA-AAV9")
    assert not may_see_sponsor(qa_author, sponsor_b.pk) and may_see_sponsor(qa_author, None)


@pytest.mark.req("P11-1d")
def test_another_sponsors_records_cannot_be_changed(qa_author, make_user, sponsor_a, sponsor_b):
    beta_author = make_user("beta.author", Role.QA_SPECIALIST, sponsors=[sponsor_b])
    beta_draft = draft_agreement(beta_author, sponsor_b, title="Quality agreement — AAV9 vector supply")
    beta_program = Program.objects.get(code="BETA-AAV9")
    beta_product = Product.objects.get(code="BVB-201")
    events = AuditEvent.objects.count()
    attempts = [
        lambda: services.edit_quality_agreement(qa_author, beta_draft, terms="Acme's terms"),
        lambda: services.transition_quality_agreement(qa_author, beta_draft, "submit",
                                                      signature=signature(qa_author, "Authored")),
        lambda: services.transition_quality_agreement(qa_author, beta_draft, "void", reason="not ours"),
        lambda: services.change_product_phase(qa_author, beta_product, phase="phase_2", reason="moved on"),
        lambda: services.draft_quality_agreement(qa_author, sponsor=sponsor_b, title="Agreement for Beta"),
        lambda: services.create_program(qa_author, sponsor=sponsor_b, code="BETA-LV", name="Lentivirus"),
        lambda: services.create_product(qa_author, program=beta_program, code="BVB-301", name="LV vector",
                                        modality="lentiviral_vector", phase="preclinical"),
    ]
    for attempt in attempts:
        with pytest.raises(NotFound):
            attempt()
    beta_draft.refresh_from_db()
    beta_product.refresh_from_db()
    assert (beta_draft.status, beta_draft.version, beta_product.phase) == ("draft", 1, "phase_1")
    assert AuditEvent.objects.count() == events
    assert not Program.objects.filter(code="BETA-LV").exists() and QualityAgreement.objects.count() == 1


@pytest.mark.req("P11-1d")
@pytest.mark.req("P11-1e")
def test_audit_events_and_signatures_carry_their_sponsor_and_are_scoped_by_it(
        qa_author, sponsor_a, sponsor_b, acme_agreement, beta_agreement):
    beta_events = AuditEvent.objects.filter(record_type="sponsors.qualityagreement",
                                            record_id=str(beta_agreement.pk))
    assert beta_events.count() >= 5 and set(beta_events.values_list("sponsor_id", flat=True)) == {sponsor_b.pk}
    visible = scoped(AuditEvent, qa_author)
    assert set(visible.values_list("sponsor_id", flat=True)) == {sponsor_a.pk}
    assert visible.filter(record_id=str(acme_agreement.pk), action="sign").count() == 2
    assert not visible.filter(pk__in=beta_events.values("pk")).exists()
    assert {s.sponsor_id for s in signatures.signatures_of(beta_agreement)} == {sponsor_b.pk}
    assert not scoped(Signature, qa_author).filter(record_id=str(beta_agreement.pk)).exists()


@pytest.mark.req("P11-1d")
def test_a_user_assigned_to_both_sponsors_sees_both(admin_user, sponsor_a, sponsor_b, acme_agreement, beta_agreement):
    assert set(selectors.sponsors_for(admin_user)) == {sponsor_a, sponsor_b}
    assert set(selectors.agreements_for(admin_user)) == {acme_agreement, beta_agreement}


@pytest.mark.req("P11-1d")
def test_removing_a_sponsor_from_a_user_hides_its_records_at_once(qa_author, admin_user, sponsor_a, acme_agreement):
    core_services.set_sponsor_access(admin_user, qa_author, [], reason="moved to another sponsor team")
    assert list(selectors.agreements_for(qa_author)) == []
    with pytest.raises(NotFound):
        selectors.agreement(qa_author, acme_agreement.number)


@pytest.mark.req("P11-1d")
def test_deactivated_users_and_users_without_sponsors_see_no_sponsor_records(
        qa_author, admin_user, make_user, acme_agreement):
    newcomer = make_user("qc.new", Role.QC_ANALYST)
    assert not scoped(Sponsor, newcomer).exists() and not scoped(AuditEvent, newcomer).exists()
    core_services.deactivate_user(admin_user, qa_author, reason="left the company")
    qa_author.refresh_from_db()
    assert not scoped(QualityAgreement, qa_author).exists()
    assert not scoped(Sponsor, None).exists()


@pytest.mark.req("P11-1d")
def test_a_sponsor_viewer_reads_only_their_own_sponsor(make_user, sponsor_a, sponsor_b, acme_agreement,
                                                       beta_agreement):
    viewer = make_user("beta.qa", Role.SPONSOR_VIEWER, sponsors=[sponsor_b])
    assert list(selectors.agreements_for(viewer)) == [beta_agreement]
    assert selectors.agreement_tasks(viewer) == []
