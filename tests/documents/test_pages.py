"""Documents pages and API: anonymous → sign in / 401; without the permission → 403 with a message;
with it → the page or resource (the shared view tests); and what the pages show and do."""

import io

import pytest
from django.test import Client
from django.urls import reverse
from pypdf import PdfReader

from opencdmo.core.domain.roles import Role
from opencdmo.documents.models import Document, DocumentVersion
from tests.conftest import PASSWORD
from tests.web.conftest import bearer, records_a, signed_in  # noqa: F401
from tests.web.viewtests import PermissionApiTest, PermissionPageTest

from .builders import approve, draft, effective_document, next_version

pytestmark = pytest.mark.req("P11-1d")


def _doc(world) -> str:
    return world.references["documents.document"]


def _version(world) -> str:
    return world.references["documents.documentversion"]


class _Page(PermissionPageTest):
    roles = (Role.OPERATOR,)
    refused_roles = ()  # every staff role reads documents; a user with no role reads nothing
    args = staticmethod(lambda world: ())

    def url(self, world):
        return reverse(self.route, args=self.args(world))


class TestDocumentList(_Page):
    route = "documents:list"


class TestReviewDue(_Page):
    route = "documents:review_due"


class TestDocumentPage(_Page):
    route = "documents:document"
    args = staticmethod(lambda world: (_doc(world),))


class TestVersionPage(_Page):
    route = "documents:version"
    args = staticmethod(lambda world: (_version(world),))


class TestVersionPdf(_Page):
    route = "documents:version_pdf"
    args = staticmethod(lambda world: (_version(world),))


class TestNewDocumentForm(_Page):
    route = "documents:new"
    roles = (Role.SUPERVISOR,)
    refused_roles = (Role.OPERATOR,)


class TestNewVersionForm(TestNewDocumentForm):
    route = "documents:new_version"
    args = staticmethod(lambda world: (_doc(world),))


class TestEditVersionForm(TestNewDocumentForm):
    route = "documents:version_edit"
    args = staticmethod(lambda world: (_version(world),))


class TestPeriodicReviewForm(_Page):
    route = "documents:periodic_review"
    args = staticmethod(lambda world: (_doc(world),))
    roles = (Role.QA_SPECIALIST,)
    refused_roles = (Role.SUPERVISOR,)


class _Api(PermissionApiTest):
    roles = (Role.OPERATOR,)
    body: dict | None = None

    def url(self, world):
        return "/api/v1" + self.operation[1].format(number=_doc(world) if "/documents/" in self.operation[1]
                                                    else _version(world), action="withdraw")

    def data(self, world, user):
        return self.body


class TestApiDocuments(_Api):
    operation = ("GET", "/documents")


class TestApiDocument(_Api):
    operation = ("GET", "/documents/{number}")


class TestApiEffectiveVersion(_Api):
    operation = ("GET", "/documents/{number}/effective-version")


class TestApiVersion(_Api):
    operation = ("GET", "/document-versions/{number}")


class TestApiCreateDocument(_Api):
    operation = ("POST", "/documents")
    roles = (Role.SUPERVISOR,)
    refused_roles = (Role.OPERATOR,)
    status = 201
    body = {"doc_type": "sop", "title": "Cell counting with the automated counter", "content": "1. Purpose"}


class TestApiNewVersion(TestApiCreateDocument):
    operation = ("POST", "/documents/{number}/versions")
    body = {"major_change": True, "change_summary": "New acceptance range for viability."}


class TestApiEditVersion(TestApiCreateDocument):
    operation = ("PATCH", "/document-versions/{number}")
    status = 422  # the world's version is effective: only a draft can be edited
    body = {"change_summary": "quietly changed"}


class TestApiTransitionVersion(TestApiCreateDocument):
    operation = ("POST", "/document-versions/{number}/{action}")
    status = 422  # an effective version cannot be withdrawn
    body = {"reason": "not needed"}


class TestApiMakeObsolete(_Api):
    operation = ("POST", "/documents/{number}/make-obsolete")
    roles = (Role.QA_APPROVER,)
    refused_roles = (Role.OPERATOR,)

    def data(self, world, user):
        return {"username": user.username, "password": PASSWORD, "reason": "replaced by a global SOP"}


# What the pages show and do.

@pytest.fixture
def people(author, reviewer, approver, operator):
    return author, reviewer, approver, operator


def test_document_list_filters_searches_and_pages(people):
    author = people[0]

    for i in range(27):
        draft(author, f"Line clearance of suite {i:02d}")
    draft(author, "CliniMACS Prodigy operation", doc_type="work_instruction")
    client = signed_in(people[3])
    page1 = client.get("/documents/").content.decode()
    assert "SOP-0001" in page1 and "Page 1 of 2" in page1
    only_wi = client.get("/documents/?type=work_instruction").content.decode()
    assert "WI-0001" in only_wi and "SOP-0001" not in only_wi
    found = client.get("/documents/?q=suite+13").content.decode()
    assert "SOP-0014" in found and "SOP-0013<" not in found
    assert client.get("/documents/?type=bogus&sort=bogus&page=x").status_code == 200


def test_qa_creates_a_document_through_the_form_and_bad_input_changes_nothing(people):
    author = people[0]
    client = signed_in(author)
    response = client.post("/documents/new/", {"doc_type": "sop", "title": "", "content": "x"})
    assert response.status_code == 422 and "title" in response.content.decode()
    response = client.post("/documents/new/", {"doc_type": "sop", "title": "Gowning", "effective_date": "tomorrow"})
    assert response.status_code == 422 and "YYYY-MM-DD" in response.content.decode()
    assert not Document.objects.exists()
    response = client.post("/documents/new/", {"doc_type": "sop", "title": "Gowning for grade B",
                                                "content": "1. Enter the gowning room.",
                                                "effective_date": "2026-03-05", "training_required": "on"})
    assert response.status_code == 302
    version = DocumentVersion.objects.get()
    assert response["Location"] == f"/documents/versions/{version.number}/"
    page = client.get(response["Location"]).content.decode()
    assert "Submit for review" in page and "Edit draft" in page


def test_the_signature_dialog_runs_the_version_workflow(people):
    author, reviewer, approver, _ = people

    _, version = draft(author)
    url = f"/records/documents.documentversion/{version.number}/actions/submit/"
    response = signed_in(author).post(url, {"username": author.username, "password": PASSWORD})
    assert response.status_code == 302
    version.refresh_from_db()
    assert version.status == "in_review"
    refused = signed_in(author).post(f"/records/documents.documentversion/{version.number}/actions/review/",
                                     {"username": author.username, "password": PASSWORD})
    assert refused.status_code == 403 and "documents.review" in refused.content.decode()  # a supervisor


def _pdf_text(content: bytes) -> str:
    return " ".join(" ".join(p.extract_text() for p in PdfReader(io.BytesIO(content)).pages).split())


def test_version_pdf_has_the_controlled_copy_header_and_manifestation(people, fake_clock):
    author, reviewer, approver, operator = people

    document, v1 = effective_document(author, reviewer, approver)
    v2 = approve(next_version(author, document), author, reviewer, approver)
    fake_clock.set(v2.effective_from)
    response = signed_in(operator).get(f"/documents/versions/{v1.number}/pdf/")
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    text = _pdf_text(response.content)
    assert "Controlled copy printed by Op Olsen" in text
    assert "valid only on that day" in text
    assert "SUPERSEDED — NOT FOR USE" in text
    for name, meaning in (("Sup Santos", "Authored"), ("Qa Patel", "Reviewed"), ("Qp Dubois", "Approved")):
        assert name in text and meaning in text
    assert "(UTC+0" in text  # signature times are shown with their zone
    current = signed_in(operator).get(f"/documents/versions/{v2.number}/pdf/")
    current_text = _pdf_text(current.content)
    assert "NOT FOR USE" not in current_text and "status Effective" in current_text


def test_document_page_shows_versions_where_used_and_review_due(people, sponsor_a):
    author, reviewer, approver, operator = people
    from opencdmo.documents import services  # noqa: PLC0415


    document, _ = effective_document(author, reviewer, approver)
    services.cite_document(author, document, sponsor_a)
    body = signed_in(operator).get(f"/documents/{document.number}/").content.decode()
    assert "v1.0" in body and "Acme Cell Therapeutics" in body and "2028-03-02" in body
    assert "New version" not in body  # an operator cannot author


def test_the_api_gives_the_effective_version_at_an_instant(people):
    author, reviewer, approver, operator = people


    document, v1 = effective_document(author, reviewer, approver)
    headers = bearer(operator)
    now = Client().get(f"/api/v1/documents/{document.number}/effective-version", headers=headers).json()
    assert now["version"]["number"] == v1.number
    before = Client().get(f"/api/v1/documents/{document.number}/effective-version",
                          {"at": "2026-03-01T00:00:00Z"}, headers=headers).json()
    assert before["version"] is None
    bad = Client().get(f"/api/v1/documents/{document.number}/effective-version", {"at": "yesterday"},
                       headers=headers)
    assert bad.status_code == 422
    refused = Client().post(f"/api/v1/document-versions/{v1.number}/approve", {"password": "x"},
                            content_type="application/json", headers=bearer(approver))
    assert refused.status_code in (403, 422)


def test_a_time_without_a_zone_is_read_in_the_site_zone(people):
    author, reviewer, approver, operator = people
    document, v1 = effective_document(author, reviewer, approver)
    headers = bearer(operator)
    naive = Client().get(f"/api/v1/documents/{document.number}/effective-version", {"at": "2026-03-02T09:31:00"},
                         headers=headers)  # 08:31 UTC in Berlin: one minute after approval
    assert naive.status_code == 200 and naive.json()["version"]["number"] == v1.number
    trained = Client().get("/api/v1/training/is-trained", {"document": document.number, "at": "2026-03-02T09:31:00"},
                           headers=headers)
    assert trained.status_code == 200 and trained.json()["trained"] is False
