"""Master batch records over HTTP: the shared view tests for every operation, and what they do."""

import json

import pytest
from django.test import Client

from opencdmo.core.domain.roles import Role
from opencdmo.processes.domain import mbr_format
from tests.conftest import PASSWORD
from tests.web.conftest import bearer, records_a  # noqa: F401
from tests.web.viewtests import PermissionApiTest

from . import builders

pytestmark = pytest.mark.req("P11-1d")


class _Api(PermissionApiTest):
    roles = (Role.OPERATOR,)
    refused_roles = ()
    body: dict | None = None

    def url(self, world):
        path = self.operation[1]
        if "{number}" not in path:
            return "/api/v1" + path
        version = builders.draft_for_sponsor(world.sponsor)
        number = version.mbr.number if path.startswith("/mbrs/") else version.number
        return "/api/v1" + path.format(number=number, action="withdraw")

    def data(self, world, user):
        return self.body


class TestApiMbrs(_Api):
    operation = ("GET", "/mbrs")


class TestApiMbr(_Api):
    operation = ("GET", "/mbrs/{number}")


class TestApiVersions(_Api):
    operation = ("GET", "/mbrs/{number}/versions")


class TestApiVersion(_Api):
    operation = ("GET", "/mbr-versions/{number}")


class TestApiExport(_Api):
    operation = ("GET", "/mbr-versions/{number}/export")


class TestApiImport(_Api):
    operation = ("POST", "/mbrs/import")
    roles = (Role.PD_SCIENTIST,)
    refused_roles = (Role.OPERATOR,)
    status = 201

    def data(self, world, user):
        return {"text": builders.file_text(world.product_code), "change_control": "CC-2026-0001"}


class TestApiNewVersion(TestApiImport):
    operation = ("POST", "/mbrs/{number}/versions")
    status = 422  # the world's MBR already has a draft open

    def data(self, world, user):
        return {"change_summary": "Copy of the effective version."}


class TestApiEditVersion(TestApiNewVersion):
    operation = ("PATCH", "/mbr-versions/{number}")
    status = 200

    def data(self, world, user):
        return {"change_summary": "Clearer instructions."}


class TestApiTransition(TestApiNewVersion):
    operation = ("POST", "/mbr-versions/{number}/{action}")
    status = 200

    def data(self, world, user):
        return {"reason": "replaced by a revised file"}


# What the operations do.

@pytest.fixture
def author(make_user, sponsor_a):
    return make_user("pd.author", Role.PD_SCIENTIST, sponsors=[sponsor_a])


def _post(path, body, headers, method="post"):
    return getattr(Client(), method)(f"/api/v1{path}", json.dumps(body), content_type="application/json",
                                     headers=headers)


def test_import_edit_submit_and_export_through_the_api(author):
    headers = bearer(author)
    created = _post("/mbrs/import", {"text": builders.file_text(), "change_control": "CC-2026-0001"}, headers)
    assert created.status_code == 201, created.content
    version = created.json()
    assert version["status"] == "draft" and version["definition"]["stages"][0]["steps"][0]["id"] == "A1"
    number = version["number"]
    exported = Client().get(f"/api/v1/mbr-versions/{number}/export", {"format": "json"}, headers=headers).json()
    assert mbr_format.load(exported["text"]) == mbr_format.load(builders.file_text())
    edited = _post(f"/mbr-versions/{number}", {"text": exported["text"].replace("Harvest the cells.", "Harvest.")},
                   headers, method="patch")
    assert edited.status_code == 200 and edited.json()["definition"] != version["definition"]
    submitted = _post(f"/mbr-versions/{number}/submit", {"username": author.username, "password": PASSWORD},
                      headers)
    assert submitted.status_code == 200 and submitted.json()["status"] == "in_review"
    mbr = Client().get(f"/api/v1/mbrs/{version['mbr']}", headers=headers).json()
    assert mbr["open_version"] == number and mbr["effective_version"] is None and len(mbr["versions"]) == 1


def test_a_malformed_file_is_a_422_with_line_numbers(author):
    text = builders.file_text().replace("type: yes_no", "type: maybe", 1)
    line = next(n for n, row in enumerate(text.splitlines(), start=1) if "maybe" in row)
    refused = _post("/mbrs/import", {"text": text}, bearer(author))
    assert refused.status_code == 422 and f"line {line}:" in refused.json()["detail"]
    bad_format = Client().get("/api/v1/mbr-versions/MBR-0/export", {"format": "xml"}, headers=bearer(author))
    assert bad_format.status_code in (404, 422)
