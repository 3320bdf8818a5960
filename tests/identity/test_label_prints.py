"""Labels printed from the records of a therapy, and their reconciliation: every symbol of every
label printed for a unit or a shipper decodes (zxing-cpp) to the structures of that record; every
print is recorded, and printed = applied + destroyed is what 'reconciled' means."""

import datetime as dt
import io
import itertools

import pypdf
import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from opencdmo.core.domain.roles import Role
from opencdmo.core.errors import NotFound, PermissionDenied, RuleViolation
from opencdmo.core.models import AuditEvent
from opencdmo.core.records import create_record
from opencdmo.identity import selectors, services
from opencdmo.identity.domain.isbt128 import ChainOfIdentity, Din, parse_concatenated
from opencdmo.identity.models import LabelPrint, ProductIdentity, Shipment, TherapyOrder, Unit
from tests.identity.test_labels import _decoded_pages
from tests.web.conftest import bearer, records_a, signed_in  # noqa: F401
from tests.web.viewtests import PermissionApiTest, PermissionPageTest

from . import builders

_dins = itertools.count(1)
EXPIRY = dt.datetime(2026, 9, 1, 10, 0, tzinfo=dt.UTC)


def make_unit(actor, order, kind=Unit.Kind.FINAL_PRODUCT_BAG, *, din: str = "", product_code: str = "S1295100",
              expires_at=EXPIRY) -> Unit:
    """A container of the order, written directly (the custody services make them in production)."""
    return create_record(actor, Unit(order=order, kind=kind, din=din or f"A999926{next(_dins):06d}",
                                     product_code=product_code, expires_at=expires_at, status="at_cdmo"))


def make_shipment(actor, order, units) -> Shipment:
    shipment = create_record(actor, Shipment(order=order, direction=Shipment.Direction.OUTBOUND, courier="Cryoport",
                                             origin="CDMO", destination="UKL", status="packing"))
    shipment.units.add(*units)
    return shipment


@pytest.fixture
def therapy(sponsor_a, make_user):
    planner = builders.planner(sponsor_a)
    order = builders.order(planner, builders.patient(planner, sponsor_a))
    ProductIdentity.objects.create(product=order.product, collection_pdc="S1001", final_pdc="S1295",
                                   collection_type="1", storage="≤ −150 °C, vapour phase of liquid nitrogen")
    operator = make_user("op.labels", Role.OPERATOR, sponsors=[sponsor_a])
    return order, operator


def _texts(pdf: bytes) -> list[str]:
    return [page.extract_text() for page in pypdf.PdfReader(io.BytesIO(pdf)).pages]


@pytest.mark.django_db
@pytest.mark.req("ISBT-8")
@pytest.mark.req("ISBT-3")
def test_a_final_product_bag_label_carries_the_units_din_product_code_expiry_and_coi(therapy):
    order, operator = therapy
    first, second = (make_unit(operator, order, din="A99992600001" + "2", product_code=code)
                     for code in ("S1295100", "S12951A0"))

    prints, pdf = services.print_labels(operator, order, kind="final_product_bag", units=[first, second], copies=2)

    assert [(p.unit, p.copies) for p in prints] == [(first, 2), (second, 2)]
    pages = _decoded_pages(pdf)
    assert len(pages) == 4  # two copies of each
    coi = ChainOfIdentity.from_content(order.coi)
    for page, (unit, flags) in zip(pages[::2], [(first, "01"), (second, "02")], strict=True):
        [compound] = [data for data, symbology in page if symbology == "DataMatrix"]
        din, code, expiry, identifier = parse_concatenated(compound)
        assert (din.din13, din.flags, code.data_content, identifier) == (unit.din, flags, unit.product_code, coi)
        assert expiry.at == timezone.localtime(EXPIRY).replace(tzinfo=None)  # the site's wall clock
        assert (coi.text, "Code128") in page
    text = _texts(pdf)[0]
    assert f"COI {coi.eye_readable()} {coi.check_character}" in text.splitlines()
    assert "≤ −150 °C, vapour phase of liquid nitrogen" in text


@pytest.mark.django_db
@pytest.mark.req("ISBT-3")
def test_a_single_container_carries_the_type_3_check_flags(therapy):
    order, operator = therapy
    unit = make_unit(operator, order, Unit.Kind.COLLECTION_BAG, product_code="S10011" + "00", expires_at=None)
    _, pdf = services.print_labels(operator, order, kind="collection_bag", units=[unit])
    [page] = _decoded_pages(pdf)
    din = Din.from_content(unit.din + Din.from_content(unit.din + "00").type3_flags)
    assert (din.text, "Code128") in page
    assert "Storage" not in _texts(pdf)[0]  # the storage conditions are the final product's


@pytest.mark.django_db
@pytest.mark.req("ISBT-6")
def test_a_shipper_label_carries_the_coi_the_dins_inside_and_the_shipment_number(therapy):
    order, operator = therapy
    bag = make_unit(operator, order)
    shipment = make_shipment(operator, order, [bag])

    [printed], pdf = services.print_labels(operator, order, kind="shipper", shipment=shipment)

    assert printed.shipment == shipment and printed.unit is None
    [page] = _decoded_pages(pdf)
    [compound] = [data for data, symbology in page if symbology == "DataMatrix"]
    identifier, din = parse_concatenated(compound)
    assert identifier.data_content == order.coi and din.din13 == bag.din
    assert shipment.number in _texts(pdf)[0]


@pytest.mark.django_db
def test_what_cannot_be_labelled_is_refused_and_nothing_is_recorded(therapy, sponsor_a):
    order, operator = therapy
    bag = make_unit(operator, order, expires_at=None)
    collection_bag = make_unit(operator, order, Unit.Kind.COLLECTION_BAG)
    with pytest.raises(RuleViolation, match="no expiry"):
        services.print_labels(operator, order, kind="final_product_bag", units=[bag])
    with pytest.raises(RuleViolation, match="is not a final product bag"):
        services.print_labels(operator, order, kind="final_product_bag", units=[collection_bag])
    with pytest.raises(RuleViolation, match="holds no container"):
        services.print_labels(operator, order, kind="shipper", shipment=make_shipment(operator, order, []))
    with pytest.raises(RuleViolation, match="copies"):
        services.print_labels(operator, order, kind="collection_bag", units=[collection_bag], copies=0)
    planner = builders.planner(sponsor_a)
    with pytest.raises(PermissionDenied):
        services.print_labels(planner, order, kind="collection_bag", units=[collection_bag])
    assert not LabelPrint.objects.exists()


@pytest.mark.django_db
def test_labels_are_reconciled_when_every_label_printed_is_applied_or_destroyed(therapy):
    order, operator = therapy
    bag = make_unit(operator, order)
    [first], _ = services.print_labels(operator, order, kind="final_product_bag", units=[bag], copies=2)
    [reprint], _ = services.print_labels(operator, order, kind="final_product_bag", units=[bag])

    found = selectors.label_reconciliation(order)
    assert [(c.kind, c.printed, c.unaccounted) for c in found.kinds] == [("final_product_bag", 3, 3)]
    assert not found.reconciled

    services.reconcile_labels(operator, first, applied=1, destroyed=1)
    assert not selectors.label_reconciliation(order).reconciled  # the reprint is still out
    services.reconcile_labels(operator, reprint, applied=1, destroyed=0)

    found = selectors.label_reconciliation(order)
    assert found.reconciled
    assert [(c.printed, c.applied, c.destroyed) for c in found.kinds] == [(3, 2, 1)]
    assert AuditEvent.objects.filter(action="reconcile", record_type="identity.labelprint").count() == 2


@pytest.mark.django_db
def test_more_labels_than_printed_cannot_be_accounted_for_and_a_lowered_count_needs_a_note(therapy):
    order, operator = therapy
    [printed], _ = services.print_labels(operator, order, kind="final_product_bag", units=[make_unit(operator, order)])
    with pytest.raises(RuleViolation, match="cannot be 2"):
        services.reconcile_labels(operator, printed, applied=1, destroyed=1)
    services.reconcile_labels(operator, printed, applied=1, destroyed=0)
    with pytest.raises(RuleViolation, match="note"):
        services.reconcile_labels(operator, printed, applied=0, destroyed=1)
    corrected = services.reconcile_labels(operator, printed, applied=0, destroyed=1, note="torn while applying")
    assert (corrected.applied, corrected.destroyed, corrected.version) == (0, 1, 3)


@pytest.mark.django_db
def test_another_sponsors_user_cannot_see_print_or_reconcile_labels(therapy, sponsor_b, make_user):
    order, operator = therapy
    [printed], _ = services.print_labels(operator, order, kind="final_product_bag", units=[make_unit(operator, order)])
    other = make_user("op.beta", Role.OPERATOR, sponsors=[sponsor_b])
    with pytest.raises(NotFound):
        services.reconcile_labels(other, printed, applied=1, destroyed=0)
    with pytest.raises(NotFound):
        services.print_labels(other, order, kind="final_product_bag", units=[printed.unit])
    client = signed_in(other)
    assert client.get(reverse("identity:order_labels", args=[order.number])).status_code == 404
    api = Client()
    assert api.get(f"/api/v1/therapy-orders/{order.number}/labels", headers=bearer(other)).status_code == 404
    assert api.post(f"/api/v1/label-prints/{printed.pk}/reconciliation", {"applied": 1, "destroyed": 0},
                    content_type="application/json", headers=bearer(other)).status_code == 404


@pytest.mark.django_db
def test_the_labels_page_prints_a_pdf_and_records_a_reconciliation(therapy):
    order, operator = therapy
    bag = make_unit(operator, order)
    client = signed_in(operator)
    url = reverse("identity:order_labels", args=[order.number])
    response = client.post(url, {"action": "print", "kind": "final_product_bag", "unit": [bag.number], "copies": "1"})
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    printed = LabelPrint.objects.get(order=order)
    response = client.post(url, {"action": "reconcile", "print": printed.pk, "applied": "1", "destroyed": "0"})
    assert response.status_code == 302
    page = client.get(url).content.decode()
    assert "Reconciled" in page and f"print-{printed.pk}" in page and "Final product bag" in page
    refused = client.post(url, {"action": "reconcile", "print": printed.pk, "applied": "2", "destroyed": "0"})
    assert refused.status_code == 422 and 'role="alert"' in refused.content.decode()
    # QA reads what was printed and what became of it; who prints is said, not left to guess.
    qa_page = signed_in(builders.qa(order.patient.sponsor)).get(url).content.decode()
    assert f"print-{printed.pk}" in qa_page and "Print (PDF)" not in qa_page
    assert "printed, applied and reconciled by the operators and material handlers" in qa_page
    assert Din.from_content(bag.din + "00").eye_readable() in page  # the DIN in its groups, as on its label


# --- The shared view tests ---


def _order(records) -> TherapyOrder:
    if getattr(records, "label_order", None) is None:
        records.label_order = TherapyOrder.objects.get(
            number=builders.order_for_sponsor(records.author, records.sponsor, "label tests"))
    return records.label_order


def _unit_body(world):
    order = _order(world)
    return {"kind": "collection_bag", "units": [make_unit(world.author, order, Unit.Kind.COLLECTION_BAG).number]}


class TestOrderLabelsPage(PermissionPageTest):
    route = "identity:order_labels"
    roles = (Role.OPERATOR,)

    def url(self, world):
        return reverse(self.route, args=[_order(world).number])


class _LabelApi(PermissionApiTest):
    roles = (Role.OPERATOR,)
    refused_roles = (Role.PLANNER,)  # sees the therapy, may not print or reconcile its labels
    body = None

    def url(self, world):
        return "/api/v1" + self.operation[1].format(number=_order(world).number, print_id=self.print_id(world))

    def print_id(self, world):
        return 0

    def data(self, world, user):
        return self.body(world) if self.body else None


class TestApiPrintLabels(_LabelApi):
    operation = ("POST", "/therapy-orders/{number}/labels")
    body = staticmethod(_unit_body)

    def test_user_with_permission_gets_the_resource(self, make_user, records_a):  # noqa: F811
        """The answer is the label PDF, not JSON."""
        user = self.permitted_user(make_user, records_a)
        response = self.send(Client(), records_a, user, headers=bearer(user))
        assert response.status_code == 200, response.content[:1000]
        assert response["Content-Type"] == "application/pdf"


class TestApiLabelReconciliation(_LabelApi):
    operation = ("GET", "/therapy-orders/{number}/labels")
    refused_roles = ()


class TestApiReconcileLabels(_LabelApi):
    operation = ("POST", "/label-prints/{print_id}/reconciliation")
    body = staticmethod(lambda world: {"applied": 0, "destroyed": 1})

    def print_id(self, world):
        if getattr(world, "label_print", None) is None:
            printer = builders.person(f"op.print.{world.sponsor.code.lower()}", Role.OPERATOR, world.sponsor)
            order = _order(world)
            [world.label_print], _ = services.print_labels(
                printer, order, kind="collection_bag", units=[make_unit(printer, order, Unit.Kind.COLLECTION_BAG)])
        return world.label_print.pk
