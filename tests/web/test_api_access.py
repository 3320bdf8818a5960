"""Every API operation: anonymous → 401 with a JSON detail; without the permission → 403 with a
JSON detail; with it → the resource (personal API token, `Authorization: Bearer …`)."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from opencdmo.core.domain.roles import Role
from tests.conftest import PASSWORD

from .viewtests import ApiTest, PermissionApiTest

pytestmark = pytest.mark.req("P11-1d")

QA = "sponsors.qualityagreement"


class TestMe(ApiTest):
    operation = ("GET", "/me")
    roles = (Role.OPERATOR,)


class TestAuditEvents(PermissionApiTest):
    operation = ("GET", "/audit-events")
    roles = (Role.OPERATOR,)


class TestVerifyAuditTrail(PermissionApiTest):
    operation = ("POST", "/audit-events/verify")
    roles = (Role.SYSTEM_ADMIN,)
    refused_roles = (Role.QA_APPROVER,)


class _RecordApiTest:
    def url(self, world):
        return "/api/v1" + self.operation[1].format(type_name=QA, reference=world.agreement.number)


class TestRecordSignatures(_RecordApiTest, PermissionApiTest):
    operation = ("GET", "/records/{type_name}/{reference}/signatures")
    roles = (Role.SPONSOR_VIEWER,)


class TestRecordAuditEvents(_RecordApiTest, PermissionApiTest):
    operation = ("GET", "/records/{type_name}/{reference}/audit-events")
    roles = (Role.SPONSOR_VIEWER,)


class TestRecordAttachments(_RecordApiTest, ApiTest):
    operation = ("GET", "/records/{type_name}/{reference}/attachments")
    roles = (Role.SPONSOR_VIEWER,)


class TestAddAttachment(_RecordApiTest, PermissionApiTest):
    operation = ("POST", "/records/{type_name}/{reference}/attachments")
    multipart = True
    roles = (Role.OPERATOR,)
    refused_roles = (Role.SPONSOR_VIEWER,)
    status = 201

    def data(self, world, user):
        return {"file": SimpleUploadedFile("coa.pdf", b"%PDF-1.4 certificate"), "description": "CoA"}


class TestUsers(PermissionApiTest):
    operation = ("GET", "/users")
    roles = (Role.SYSTEM_ADMIN,)
    refused_roles = (Role.QA_APPROVER,)


class TestCreateUser(TestUsers):
    operation = ("POST", "/users")
    status = 201

    def data(self, world, user):
        return {"username": "new.starter", "full_name": "Nora Starter", "password": "Gr1ffin-Lantern-77",
                "roles": ["operator"], "sponsors": [world.sponsor.pk], "reason": "new starter"}


class _UserApiTest(TestUsers):
    def url(self, world):
        return "/api/v1" + self.operation[1].format(username=world.author.username)

    def data(self, world, user):
        return {"reason": "confirmed by phone with the line manager"}


class TestUnlockUser(_UserApiTest):
    operation = ("POST", "/users/{username}/unlock")


class TestDeactivateUser(_UserApiTest):
    operation = ("POST", "/users/{username}/deactivate")


class TestSponsors(PermissionApiTest):
    operation = ("GET", "/sponsors")
    roles = (Role.SPONSOR_VIEWER,)


class _SponsorApiTest(TestSponsors):
    def url(self, world):
        return "/api/v1" + self.operation[1].format(code=world.sponsor.code, number=world.agreement.number)


class TestSponsor(_SponsorApiTest):
    operation = ("GET", "/sponsors/{code}")


class TestSponsorPrograms(_SponsorApiTest):
    operation = ("GET", "/sponsors/{code}/programs")


class TestProducts(TestSponsors):
    operation = ("GET", "/products")


class TestQualityAgreements(TestSponsors):
    operation = ("GET", "/quality-agreements")


class TestQualityAgreement(_SponsorApiTest):
    operation = ("GET", "/quality-agreements/{number}")


class TestDraftQualityAgreement(PermissionApiTest):
    operation = ("POST", "/quality-agreements")
    roles = (Role.QA_SPECIALIST,)
    refused_roles = (Role.OPERATOR,)
    status = 201

    def data(self, world, user):
        return {"sponsor": world.sponsor.code, "title": "Quality agreement, commercial supply"}


class TestEditQualityAgreement(_SponsorApiTest):
    operation = ("PATCH", "/quality-agreements/{number}")
    roles = (Role.QA_SPECIALIST,)
    refused_roles = (Role.QA_APPROVER,)

    def data(self, world, user):
        return {"deviation_notification_days": 1, "reason": "sponsor asked for faster notification"}


class TestApproveQualityAgreement(_SponsorApiTest):
    operation = ("POST", "/quality-agreements/{number}/{action}")
    roles = (Role.QA_APPROVER,)
    refused_roles = (Role.QA_SPECIALIST,)

    def url(self, world):
        return f"/api/v1/quality-agreements/{world.agreement.number}/approve"

    def data(self, world, user):
        return {"username": user.username, "password": PASSWORD, "comment": "Reviewed with the sponsor"}
