"""Container labels: the PDF's Code 128 barcode, decoded by an independent reader (zxing-cpp from
the rendered page image), is exactly the lot number; the eye-readable text is on the label too."""

import pypdfium2
import pytest
import zxingcpp
from django.test import Client
from weasyprint import HTML

from opencdmo.core.barcodes import code128_svg
from opencdmo.core.models import AuditEvent


def _pages(pdf: bytes, scale: float = 4.0):
    document = pypdfium2.PdfDocument(pdf)
    try:
        for page in document:
            yield page.render(scale=scale).to_pil(), page.get_textpage().get_text_range()
    finally:
        document.close()


def _decoded(image) -> list[tuple[str, str]]:
    return [(r.text, r.format.name) for r in zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.Code128)]


def test_the_label_barcode_decodes_to_exactly_the_lot_number(released, handler, settings):
    settings.STATIC_ROOT.mkdir(parents=True, exist_ok=True)
    client = Client()
    client.force_login(handler)

    response = client.get(f"/materials/lots/{released.number}/labels/")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    pages = list(_pages(response.content))
    assert len(pages) == released.containers == 10
    for number, (image, text) in enumerate(pages, start=1):
        assert _decoded(image) == [(released.number, "Code128")]
        for shown in (released.number, "TCM-SF", "RELEASED", f"{released.expiry_date:%Y-%m-%d}",
                      f"Container {number} of 10"):
            assert shown in text
    event = AuditEvent.objects.filter(record_id=str(released.pk), action="print_labels").get()
    assert '"count":10' in event.changes and '"status shown":"released"' in event.changes


@pytest.mark.parametrize("data", ["LOT-2026-0001", "LOT-2099-9999", "A", "lot 42/7 (split)"])
def test_any_data_encoded_is_what_is_decoded(data):
    """The barcode SVG alone, in the same engine the labels are printed with (WeasyPrint)."""
    pdf = HTML(string=f"<div style='width:62mm'>{code128_svg(data)}</div>").write_pdf()

    [(image, _)] = list(_pages(pdf))
    assert _decoded(image) == [(data, "Code128")]


def test_a_quarantined_lot_label_says_quarantine(quarantined, handler):
    client = Client()
    client.force_login(handler)

    response = client.get(f"/materials/lots/{quarantined.number}/labels/")

    image, text = next(_pages(response.content))
    assert "QUARANTINE" in text
    assert _decoded(image) == [(quarantined.number, "Code128")]
