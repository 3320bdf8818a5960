from opencdmo.core.signatures import SignatureInput
from opencdmo.core.verification import verify_audit_trail
from opencdmo.sponsors import services
from tests.conftest import PASSWORD


def test_agreement_lifecycle_is_audited_and_verifies(qa_author, qa_approver, sponsor_a):
    agreement = services.draft_quality_agreement(qa_author, sponsor=sponsor_a, title="QA agreement v1")
    services.transition_quality_agreement(
        qa_author, agreement, "submit",
        signature=SignatureInput(meaning="Authored", password=PASSWORD, username="qa.author"))
    services.transition_quality_agreement(
        qa_approver, agreement, "approve",
        signature=SignatureInput(meaning="Approved", password=PASSWORD, username="qa.approver"))
    agreement.refresh_from_db()
    assert agreement.status == "approved"
    result = verify_audit_trail()
    assert result.intact, result.first_break
    assert result.events > 5
