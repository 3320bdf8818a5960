"""Every page: anonymous → sign in; without the permission → 403 with a message; with it → the page."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from opencdmo.core.domain.roles import Role
from tests.conftest import PASSWORD

from .viewtests import PageTest, PermissionPageTest

pytestmark = pytest.mark.req("P11-1d")

QA = "sponsors.qualityagreement"


class TestHomePage(PageTest):
    route = "core:home"
    roles = (Role.OPERATOR,)


class TestProfilePage(PageTest):
    route = "core:profile"
    roles = (Role.OPERATOR,)


class TestAuditTrailPage(PermissionPageTest):
    route = "core:audit_trail"
    roles = (Role.OPERATOR,)


class TestAuditTrailCsvExport(PermissionPageTest):
    route = "core:audit_trail"
    roles = (Role.QA_APPROVER,)
    refused_roles = (Role.OPERATOR,)

    def url(self, world):
        return reverse(self.route) + "?format=csv"


class TestAuditTrailPdfExport(TestAuditTrailCsvExport):
    def url(self, world):
        return reverse(self.route) + "?format=pdf"


class TestDeviationsPage(PermissionPageTest):
    route = "quality:deviations"
    roles = (Role.OPERATOR,)


class TestDeviationPage(TestDeviationsPage):
    route = "quality:deviation"

    def url(self, world):
        return reverse(self.route, args=[world.references["quality.deviation"]])


class TestUsersPage(PermissionPageTest):
    route = "core:users"
    roles = (Role.SYSTEM_ADMIN,)
    refused_roles = (Role.QA_APPROVER,)


class TestNewUserPage(TestUsersPage):
    route = "core:user_new"


class TestUserPage(TestUsersPage):
    route = "core:user"

    def url(self, world):
        return reverse(self.route, args=[world.author.username])


class TestSecurityAlertsPage(PermissionPageTest):
    route = "core:security_alerts"
    roles = (Role.SYSTEM_ADMIN,)
    refused_roles = (Role.QA_SPECIALIST,)


class TestSponsorsPage(PermissionPageTest):
    route = "sponsors:list"
    roles = (Role.SPONSOR_VIEWER,)


class TestQualityAgreementsPage(TestSponsorsPage):
    route = "sponsors:agreements"


class TestQualityAgreementPage(TestSponsorsPage):
    route = "sponsors:agreement"

    def url(self, world):
        return reverse(self.route, args=[world.agreement.number])


class TestQualityAgreementPdf(TestQualityAgreementPage):
    route = "sponsors:agreement_pdf"


class TestNewQualityAgreementPage(PermissionPageTest):
    route = "sponsors:agreement_new"
    roles = (Role.QA_SPECIALIST,)
    refused_roles = (Role.OPERATOR,)


class TestDraftQualityAgreement(TestNewQualityAgreementPage):
    method = "POST"
    status = 302

    def data(self, world, user):
        return {"sponsor": world.sponsor.code, "title": "Quality agreement, commercial supply",
                "deviation_notification_days": "2", "terms": "As negotiated."}


class TestEditQualityAgreementPage(PermissionPageTest):
    route = "sponsors:agreement_edit"
    roles = (Role.QA_SPECIALIST,)
    refused_roles = (Role.QA_APPROVER,)

    def url(self, world):
        return reverse(self.route, args=[world.agreement.number])


class TestEditQualityAgreement(TestEditQualityAgreementPage):
    method = "POST"
    status = 302

    def data(self, world, user):
        return {"title": world.agreement.title, "terms": "Deviations notified within 1 working day.",
                "deviation_notification_days": "1", "reason": "sponsor asked for faster notification"}


class TestRecordAuditTrailTab(PermissionPageTest):
    route = "core:record_audit_trail"
    roles = (Role.SPONSOR_VIEWER,)

    def url(self, world):
        return reverse(self.route, args=[QA, world.agreement.number])


class TestRecordSignaturesTab(TestRecordAuditTrailTab):
    route = "core:record_signatures"


class TestRecordAttachmentsTab(PageTest):
    route = "core:record_attachments"
    roles = (Role.SPONSOR_VIEWER,)

    def url(self, world):
        return reverse(self.route, args=[QA, world.agreement.number])


class TestAttachFile(PermissionPageTest):
    route = "core:record_attachments"
    method = "POST"
    roles = (Role.OPERATOR,)
    refused_roles = (Role.SPONSOR_VIEWER,)

    def url(self, world):
        return reverse(self.route, args=[QA, world.agreement.number])

    def data(self, world, user):
        return {"file": SimpleUploadedFile("coa.pdf", b"%PDF-1.4 certificate"), "description": "CoA"}


class TestDownloadAttachment(PageTest):
    route = "core:attachment"
    roles = (Role.SPONSOR_VIEWER,)

    def url(self, world):
        return reverse(self.route, args=[world.attachment.pk])


class TestSignatureDialog(PageTest):
    route = "core:record_transition"
    roles = (Role.QA_APPROVER,)

    def url(self, world):
        return reverse(self.route, args=[QA, world.agreement.number, "approve"])


class TestApproveInSignatureDialog(PermissionPageTest):
    route = "core:record_transition"
    method = "POST"
    roles = (Role.QA_APPROVER,)
    refused_roles = (Role.QA_SPECIALIST,)
    status = 302

    def url(self, world):
        return reverse(self.route, args=[QA, world.agreement.number, "approve"])

    def data(self, world, user):
        return {"username": user.username, "password": PASSWORD, "comment": "Reviewed with the sponsor"}
