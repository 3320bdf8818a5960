"""Master batch record pages: anonymous → sign in; without the permission → 403 with a message;
with it → the page (the shared view tests); and what the pages show and do."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from opencdmo.core.domain.roles import Role
from opencdmo.core.models import AuditEvent
from opencdmo.processes import selectors, services
from opencdmo.processes.models import MbrVersion
from tests.conftest import PASSWORD
from tests.web.conftest import records_a, signed_in  # noqa: F401
from tests.web.viewtests import PermissionPageTest

from . import builders

pytestmark = pytest.mark.req("P11-1d")


def _version(world) -> MbrVersion:
    return builders.draft_for_sponsor(world.sponsor)


class _Page(PermissionPageTest):
    roles = (Role.OPERATOR,)
    refused_roles = ()  # every staff role reads master batch records; a user with no role reads nothing
    args = staticmethod(lambda world: ())

    def url(self, world):
        return reverse(self.route, args=self.args(world))


class TestMbrList(_Page):
    route = "processes:list"


class TestMbrPage(_Page):
    route = "processes:mbr"
    args = staticmethod(lambda world: (_version(world).mbr.number,))


class TestVersionPage(_Page):
    route = "processes:version"
    args = staticmethod(lambda world: (_version(world).number,))


class TestVersionExport(_Page):
    route = "processes:version_export"
    args = staticmethod(lambda world: (_version(world).number,))


class TestImportForm(_Page):
    route = "processes:import"
    roles = (Role.PD_SCIENTIST,)
    refused_roles = (Role.OPERATOR,)


class TestNewVersionForm(TestImportForm):
    route = "processes:new_version"
    args = staticmethod(lambda world: (_version(world).mbr.number,))


class TestEditVersionForm(TestImportForm):
    route = "processes:version_edit"
    args = staticmethod(lambda world: (_version(world).number,))


# What the pages show and do.

@pytest.fixture
def author(make_user, sponsor_a):
    return make_user("pd.author", Role.PD_SCIENTIST, sponsors=[sponsor_a])


@pytest.fixture
def approver(make_user, sponsor_a):
    return make_user("qa.mbr", Role.QA_APPROVER, sponsors=[sponsor_a])


def test_an_uploaded_file_becomes_a_draft_and_the_version_page_shows_its_structure(author):
    client = signed_in(author)
    upload = SimpleUploadedFile("acm-101.yaml", builders.file_text().encode(), content_type="application/yaml")
    response = client.post(reverse("processes:import"), {"file": upload, "change_summary": "First version.",
                                                         "change_control": "CC-2026-0001"})
    assert response.status_code == 302
    version = MbrVersion.objects.get()
    assert response["Location"] == reverse("processes:version", args=[version.number])
    page = client.get(response["Location"]).content.decode()
    for shown in ("Receive apheresis", "Vector volume", "moi * viable_cells / titer", "CPP", "KPP", "2nd person",
                  "Patient material", "Optional", "at most 240 min", "SP-STER", "Submit for review", "Edit draft"):
        assert shown in page, shown
    listing = client.get(reverse("processes:list"), {"q": "ACM"}).content.decode()
    assert version.mbr.number in listing and "In review" not in listing


def test_a_malformed_paste_shows_its_errors_by_line_and_stores_nothing(author):
    text = builders.file_text().replace("type: yes_no", "type: maybe", 1)
    line = next(n for n, row in enumerate(text.splitlines(), start=1) if "maybe" in row)
    response = signed_in(author).post(reverse("processes:import"), {"text": text})
    assert response.status_code == 422
    body = response.content.decode()
    assert f'href="#line-{line}">line {line}</a>' in body
    assert f'id="line-{line}" style=' in body  # the line itself is marked in the numbered listing
    assert not MbrVersion.objects.exists()


def test_the_editor_saves_a_draft_and_keeps_the_text_when_it_is_refused(author):
    version = builders.draft_for_sponsor(author.sponsors.get())
    client = signed_in(author)
    url = reverse("processes:version_edit", args=[version.number])
    form = client.get(url).content.decode()
    assert "Receive apheresis" in form and "CC-2026-0001" in form
    changed = builders.file_text().replace("Receive apheresis", "Receive the apheresis bag")
    response = client.post(url, {"text": changed, "change_summary": "Clearer step name.",
                                 "change_control": "CC-2026-0002"})
    assert response.status_code == 302
    version.refresh_from_db()
    assert selectors.definition_of(version).step("A1").name == "Receive the apheresis bag"
    assert version.change_control == "CC-2026-0002"
    refused = client.post(url, {"text": "format: opencdmo-mbr/1\nproduct: [", "change_summary": "x"})
    assert refused.status_code == 422 and "product: [" in refused.content.decode()


def test_a_new_version_copies_the_effective_one_and_export_is_audited(author, approver, sponsor_a):
    product = sponsor_a.programs.get().products.get()
    first = builders.effective_version(author, approver, product)
    client = signed_in(author)
    mbr_page = client.get(reverse("processes:mbr", args=[first.mbr.number])).content.decode()
    assert "New version" in mbr_page and "Export effective" in mbr_page
    response = client.post(reverse("processes:new_version", args=[first.mbr.number]),
                           {"change_summary": "MOI 2 → 3.", "text": ""})
    assert response.status_code == 302
    copy = first.mbr.versions.get(version_number=2)
    assert copy.definition == first.definition
    page = client.get(reverse("processes:version", args=[copy.number])).content.decode()
    assert "no step changed" in page
    exported = client.get(reverse("processes:version_export", args=[first.number]), {"format": "json"})
    assert exported.status_code == 200 and exported["Content-Type"].startswith("application/json")
    assert f'filename="{first.number}.json"' in exported["Content-Disposition"]
    assert AuditEvent.objects.filter(action="export", record_id=str(first.pk)).count() == 1
    assert client.get(reverse("processes:version_export", args=[first.number]), {"format": "xml"}).status_code == 422


def test_the_signature_dialog_runs_the_version_workflow(author, approver):
    version = builders.draft_for_sponsor(author.sponsors.get())
    url = f"/records/processes.mbrversion/{version.number}/actions/submit/"
    assert signed_in(author).get(url).status_code == 200
    response = signed_in(author).post(url, {"username": author.username, "password": PASSWORD})
    assert response.status_code == 302
    version.refresh_from_db()
    assert version.status == "in_review"
    refused = signed_in(approver).post(f"/records/processes.mbrversion/{version.number}/actions/approve/",
                                       {"username": approver.username, "password": "wrong"})
    assert refused.status_code in (403, 422)


def test_the_draft_page_lists_what_would_refuse_its_submission(author, make_user, sponsor_a):
    version = services.import_version(author, text=builders.file_text(sop="SOP-0042", material="XYZ-1"))
    page = signed_in(author).get(reverse("processes:version", args=[version.number])).content.decode()
    assert "Before this draft can be submitted" in page
    assert "SOP SOP-0042 is not a current controlled document" in page and "Material XYZ-1" in page
    reader = make_user("op.reader", Role.OPERATOR, sponsors=[sponsor_a])
    assert "Before this draft" not in signed_in(reader).get(reverse("processes:version", args=[version.number])
                                                            ).content.decode()
