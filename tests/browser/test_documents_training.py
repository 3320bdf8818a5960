"""In a real browser: QA approves a new SOP version with the signature dialog, the operator whose
curriculum includes it finds the training on My training and signs read and understood, and the
training matrix then shows them trained."""

import pytest

from opencdmo.core.domain.roles import Role
from opencdmo.documents import services as document_services
from opencdmo.documents.selectors import site_today
from opencdmo.training import services as training_services
from opencdmo.training.models import TrainingAssignment
from tests.conftest import PASSWORD
from tests.documents.builders import effective_document
from tests.factories import signature

from .conftest import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser"), pytest.mark.django_db(transaction=True)]


def _sign_in_dialog(page, button: str, meaning: str, user_id: str):
    from playwright.sync_api import expect  # noqa: PLC0415

    page.get_by_role("button", name=button, exact=True).click()
    dialog = page.locator("dialog#dialog")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text(f"with the meaning {meaning}")
    dialog.get_by_label("User ID").fill(user_id)
    dialog.get_by_label("Password").fill(PASSWORD)
    dialog.get_by_role("button", name=f"Sign: {meaning}").click()


@pytest.mark.req("P11-3")
def test_qa_approves_a_version_the_operator_trains_and_the_matrix_shows_it(page, make_user, qa_approver, sponsor_a):
    from playwright.sync_api import expect  # noqa: PLC0415

    author = make_user("sup.santos", Role.SUPERVISOR, sponsors=[sponsor_a])
    reviewer = make_user("qa.patel", Role.QA_SPECIALIST, sponsors=[sponsor_a])
    operator = make_user("op.olsen", Role.OPERATOR, sponsors=[sponsor_a])
    document, v1 = effective_document(author, reviewer, qa_approver, "Aseptic technique in the grade A BSC",
                                      effective_date=site_today())
    training_services.create_curriculum(reviewer, name="Operator", roles=["operator"], documents=[document])
    first = TrainingAssignment.objects.get(user=operator, document_version=v1)
    training_services.transition_assignment(operator, first, "read_and_understood",
                                            signature=signature(operator, "Read and Understood"))
    v2 = document_services.new_version(author, document, major_change=True, effective_date=site_today(),
                                       change_summary="Outer gloves changed after every open manipulation.")
    document_services.edit_version(author, v2, content=v1.content + "\n2.5 Change outer gloves after each step.")
    document_services.transition_version(author, v2, "submit", signature=signature(author, "Authored"))
    document_services.transition_version(reviewer, v2, "review", signature=signature(reviewer, "Reviewed"))

    # QA approves v2.0 in the signature dialog: it is effective at once (effective date today).
    sign_in(page, "qa.approver")
    page.goto(f"/documents/versions/{v2.number}/")
    _sign_in_dialog(page, "Approve", "Approved", "qa.approver")
    page.wait_for_url(f"**/documents/versions/{v2.number}/")
    expect(page.locator(".record-header")).to_contain_text("Effective")
    expect(page.locator("#tab-details table.signatures")).to_contain_text("Approved")

    # The operator finds the training on My training and signs read and understood.
    page.context.clear_cookies()
    sign_in(page, "op.olsen")
    page.goto("/training/")
    row = page.locator("table tbody tr", has_text=f"{document.number} v2.0")
    expect(row).to_contain_text("Due")
    row.get_by_role("link", name="Read and sign").click()
    expect(page.locator(".document-content")).to_contain_text("Change outer gloves after each step")
    _sign_in_dialog(page, "Sign read and understood", "Read and Understood", "op.olsen")
    expect(page.locator(".record-header")).to_contain_text("Completed")
    page.goto("/training/")
    expect(page.locator("body")).to_contain_text("No training is waiting for you.")

    # The training matrix shows them trained on the document.
    page.context.clear_cookies()
    sign_in(page, "sup.santos")
    page.goto("/training/matrix/")
    cell = page.locator("table.matrix tbody tr", has_text="Op Olsen").locator("td").first
    expect(cell).to_have_attribute("data-state", "trained")
