"""Patients, therapy orders and the chain of identity identifier they are issued (ISBT-6):
in sequence, unique, never reused, under the configured facility; sponsor segregation throughout."""

import re

import pytest
from django.test import override_settings
from django.urls import reverse

from opencdmo.core.domain.roles import Role
from opencdmo.core.errors import Conflict, NotFound, PermissionDenied, RuleViolation
from opencdmo.identity import selectors, services
from opencdmo.identity.domain import isbt128
from opencdmo.identity.models import IdentifierSequence, TherapyOrder
from opencdmo.sponsors.models import Product
from tests.web.conftest import bearer, signed_in

from . import builders


@pytest.fixture
def planner_a(make_user, sponsor_a):
    return make_user("planner.a", Role.PLANNER, sponsors=[sponsor_a])


@pytest.fixture
def planner_b(make_user, sponsor_b):
    return make_user("planner.b", Role.PLANNER, sponsors=[sponsor_b])


@pytest.fixture
def order_a(planner_a, sponsor_a):
    return builders.order(planner_a, builders.patient(planner_a, sponsor_a))


# --- The chain of identity identifier ---

@pytest.mark.req("ISBT-6")
@pytest.mark.django_db
def test_cois_are_issued_in_sequence_and_round_trip_through_the_isbt_parser(planner_a, sponsor_a, fake_clock):
    first = builders.patient(planner_a, sponsor_a)
    orders = [builders.order(planner_a, first), builders.order(planner_a, builders.patient(planner_a, sponsor_a))]
    assert [o.coi for o in orders] == ["CHA999926000001", "CHA999926000002"]
    for o in orders:
        scanned, keyed = isbt128.parse("&/" + o.coi), isbt128.parse(o.coi + isbt128.check_character(o.coi))
        assert isinstance(scanned, isbt128.ChainOfIdentity)
        assert scanned == keyed
        assert scanned.data_content == o.coi and scanned.issuer == "A9999" and scanned.year == "26"
    printed = selectors.printed_coi(orders[0].coi)
    assert printed.text == "CH A9999 26 000001"
    assert printed.check == isbt128.check_character("CHA999926000001")


@pytest.mark.req("ISBT-6")
@pytest.mark.django_db
def test_a_cancelled_orders_coi_is_never_issued_again(planner_a, sponsor_a, order_a):
    services.transition_order(planner_a, order_a, "cancel", reason="Patient no longer eligible.")
    again = builders.order(planner_a, order_a.patient)
    assert again.coi != order_a.coi
    assert TherapyOrder.objects.filter(coi=order_a.coi).count() == 1
    assert IdentifierSequence.objects.get().last == "000002"


@pytest.mark.req("ISBT-6")
@pytest.mark.django_db
def test_the_coi_carries_the_configured_facility(planner_a, sponsor_a):
    with override_settings(ISBT_FACILITY="G1234"):
        order = builders.order(planner_a, builders.patient(planner_a, sponsor_a))
    assert order.coi.startswith("CHG1234")
    assert isbt128.parse_chain_of_identity("&/" + order.coi).issuer == "G1234"


@pytest.mark.django_db
@override_settings(ISBT_FACILITY="G12")
def test_an_invalid_configured_facility_is_refused_with_a_clear_message(planner_a, sponsor_a):
    patient = builders.patient(planner_a, sponsor_a)
    with pytest.raises(RuleViolation, match="ISBT_FACILITY is not a facility identification number"):
        builders.order(planner_a, patient)
    assert not TherapyOrder.objects.exists()


# --- Patients and orders ---

@pytest.mark.django_db
def test_a_subject_id_is_unique_within_a_sponsor_only(planner_a, planner_b, sponsor_a, sponsor_b):
    builders.patient(planner_a, sponsor_a, "S-001")
    with pytest.raises(Conflict, match="already has a patient with subject id S-001"):
        builders.patient(planner_a, sponsor_a, "S-001")
    assert builders.patient(planner_b, sponsor_b, "S-001").sponsor == sponsor_b


@pytest.mark.django_db
def test_a_product_not_made_for_one_patient_cannot_be_ordered(planner_a, sponsor_a):
    vector = Product.objects.create(program=sponsor_a.programs.get(), code="ACM-AAV", name="Vector",
                                    modality="aav_vector", phase="phase_1")
    with pytest.raises(RuleViolation, match="not an autologous product"):
        builders.order(planner_a, builders.patient(planner_a, sponsor_a), product=vector)


@pytest.mark.django_db
def test_a_withdrawn_patient_gets_no_new_order(planner_a, sponsor_a):
    patient = builders.patient(planner_a, sponsor_a)
    services.transition_patient(planner_a, patient, "withdraw", reason="Consent withdrawn.")
    with pytest.raises(RuleViolation, match="no therapy can be ordered"):
        builders.order(planner_a, patient)


@pytest.mark.django_db
def test_cancelling_an_order_needs_a_reason(planner_a, order_a):
    with pytest.raises(RuleViolation):
        services.transition_order(planner_a, order_a, "cancel", reason="  ")
    order_a.refresh_from_db()
    assert order_a.status == "ordered"


@pytest.mark.django_db
def test_a_sponsor_viewer_sees_their_patients_but_enrols_nobody(make_user, planner_a, sponsor_a):
    """A sponsor's quality lead reads; the CDMO's planner enrols and orders for the sponsor."""
    viewer = make_user("helix.viewer", Role.SPONSOR_VIEWER, sponsors=[sponsor_a])
    patient = builders.patient(planner_a, sponsor_a)
    assert list(selectors.patients_for(viewer)) == [patient]
    with pytest.raises(PermissionDenied, match="identity.enroll"):
        builders.patient(viewer, sponsor_a, at=patient.centre)


# --- Segregation ---

@pytest.mark.django_db
def test_sponsor_b_cannot_enrol_at_sponsor_as_centre(planner_a, planner_b, sponsor_a):
    with pytest.raises(NotFound):
        builders.patient(planner_b, sponsor_a, at=builders.centre(planner_a, sponsor_a))


@pytest.mark.django_db
def test_sponsor_b_cannot_enrol_at_sponsor_as_centre_through_the_form(planner_a, planner_b, sponsor_a):
    centre = builders.centre(planner_a, sponsor_a)
    response = signed_in(planner_b).post(reverse("identity:patient_new"), {"centre": centre.pk, "subject_id": "X1"})
    assert response.status_code == 404
    assert 'role="alert"' in response.content.decode()


@pytest.mark.django_db
def test_sponsor_b_gets_404_for_sponsor_as_patient_and_order(planner_a, planner_b, order_a):
    pages, api = signed_in(planner_b), bearer(planner_b)
    patient = order_a.patient.number
    for url in (reverse("identity:patient", args=[patient]), reverse("identity:order", args=[order_a.number]),
                reverse("identity:order_new", args=[patient])):
        assert pages.get(url).status_code == 404, url
    client = signed_in(planner_b)
    for url in (f"/api/v1/patients/{patient}", f"/api/v1/therapy-orders/{order_a.number}"):
        assert client.get(url, headers=api).status_code == 404, url
    response = client.post(f"/api/v1/patients/{patient}/orders", {"product": "ACM-101", "planned_collection":
                           "2026-05-01"}, content_type="application/json", headers=api)
    assert response.status_code == 404
    listed = client.get("/api/v1/patients", headers=api).json()
    assert listed["count"] == 0


# --- Pages and API behaviour ---

@pytest.mark.django_db
def test_enrol_form_re_shows_the_form_with_the_error(planner_a, sponsor_a):
    centre = builders.centre(planner_a, sponsor_a)
    builders.patient(planner_a, sponsor_a, "S-9", at=centre)
    response = signed_in(planner_a).post(reverse("identity:patient_new"), {"centre": centre.pk, "subject_id": "S-9",
                                                                         "date_of_birth": "1980-13-01"})
    assert response.status_code == 422
    assert "YYYY-MM-DD" in response.content.decode()
    response = signed_in(planner_a).post(reverse("identity:patient_new"), {"centre": centre.pk, "subject_id": "S-9"})
    assert response.status_code == 409
    assert 'value="S-9"' in response.content.decode()


@pytest.mark.django_db
def test_ordering_through_the_pages_prints_the_coi_with_its_boxed_check_character(planner_a, sponsor_a):
    patient = builders.patient(planner_a, sponsor_a)
    client = signed_in(planner_a)
    response = client.post(reverse("identity:order_new", args=[patient.number]),
                           {"product": "ACM-101", "planned_collection": "2026-04-02"})
    assert response.status_code == 302
    order = TherapyOrder.objects.get()
    check = isbt128.check_character(order.coi)
    for url in (response["Location"], reverse("identity:patient", args=[patient.number]),
                reverse("identity:patients")):
        body = client.get(url).content.decode()
        assert re.search(rf'CH A9999 26 000001 <span class="coi-check"[^>]*>{re.escape(check)}</span>', body), url


@pytest.mark.django_db
def test_api_enrols_and_orders_and_answers_errors_in_json(planner_a, sponsor_a):
    builders.centre(planner_a, sponsor_a, "UKL")
    client, headers = signed_in(planner_a), bearer(planner_a)
    response = client.post("/api/v1/patients", {"centre": "UKL", "subject_id": "API-1"},
                           content_type="application/json", headers=headers)
    assert response.status_code == 201, response.content
    number = response.json()["number"]
    response = client.post(f"/api/v1/patients/{number}/orders", {"product": "ACM-101", "planned_collection":
                           "2026-04-03"}, content_type="application/json", headers=headers)
    assert response.status_code == 201, response.content
    assert response.json()["coi_printed"] == "CH A9999 26 000001"
    assert client.get(f"/api/v1/patients/{number}", headers=headers).json()["orders"][0]["coi"] == "CHA999926000001"
    again = client.post("/api/v1/patients", {"centre": "UKL", "subject_id": "API-1"},
                        content_type="application/json", headers=headers)
    assert again.status_code == 409 and "API-1" in again.json()["detail"]
    assert client.get("/api/v1/patients?q=API-1", headers=headers).json()["count"] == 1


@pytest.mark.django_db
def test_withdrawing_and_cancelling_go_through_the_record_pages_sign_dialog(planner_a, order_a):
    client, patient = signed_in(planner_a), order_a.patient
    cancel = reverse("core:record_transition", args=["identity.therapyorder", order_a.number, "cancel"])
    assert f'hx-get="{cancel}"' in client.get(reverse("identity:order", args=[order_a.number])).content.decode()
    assert client.post(cancel, {"reason": ""}).status_code == 422
    assert client.post(cancel, {"reason": "Collection not possible."}).status_code == 302
    withdraw = reverse("core:record_transition", args=["identity.patient", patient.number, "withdraw"])
    body = client.get(reverse("identity:patient", args=[patient.number])).content.decode()
    assert f'hx-get="{withdraw}"' in body and "Order a therapy" in body
    assert client.post(withdraw, {"reason": "Consent withdrawn."}).status_code == 302
    order_a.refresh_from_db()
    patient.refresh_from_db()
    assert (order_a.status, patient.status) == ("cancelled", "withdrawn")
    assert "Order a therapy" not in client.get(reverse("identity:patient", args=[patient.number])).content.decode()


@pytest.mark.django_db
def test_the_patient_list_filters_and_sorts_by_the_latest_order(planner_a, sponsor_a, order_a):
    other = builders.patient(planner_a, sponsor_a, "S-LATER")
    client, url = signed_in(planner_a), reverse("identity:patients")
    for sort in ("coi", "-collection", "subject", "-centre"):
        body = client.get(url, {"sort": sort, "q": "CH A9999 26 000001", "status": "enrolled"}).content.decode()
        assert order_a.patient.number in body and other.number not in body, sort
    assert other.number in client.get(url, {"q": "s-later", "centre": "UKL"}).content.decode()
