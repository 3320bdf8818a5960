"""Labels for patient-specific material: every symbol on every label PDF, decoded by an independent
reader (zxing-cpp, from the rendered page image), is exactly the ISBT 128 data structure it should
carry; the eye-readable text (pypdf) shows the identifiers with their check characters and flags."""

import datetime as dt
import io
import re

import pypdf
import pypdfium2
import pytest
import zxingcpp
from weasyprint import HTML

from opencdmo.core.barcodes import code128_svg, datamatrix_svg
from opencdmo.identity.domain.isbt128 import (
    ChainOfIdentity,
    Din,
    ExpiryDateTime,
    ProductCode,
    parse_concatenated,
)
from opencdmo.identity.labels import Label, LabelKind, Symbology, label_sheet_pdf, symbols_for

COI = ChainOfIdentity.build("G1234", 26, "00012A")
APHERESIS = ProductCode.build("S1001", "1")  # made-up product description codes: the real ones are licensed
CAR_T = ProductCode.build("S1295", "1")
FORMAT = {Symbology.CODE128: "Code128", Symbology.DATAMATRIX: "DataMatrix"}
SYMBOLOGIES = [zxingcpp.BarcodeFormat.Code128, zxingcpp.BarcodeFormat.DataMatrix]


def _label(kind, din, product_code=None, expiry=None, storage=""):
    structures = [s for s in (din, product_code, expiry, COI) if s is not None]
    return Label(kind=kind, product="ACM-101 autologous anti-CD19 CAR-T", din=din, coi=COI,
                 product_code=product_code, expiry=expiry, storage=storage, symbols=symbols_for(*structures))


LABELS = [
    _label(LabelKind.COLLECTION_BAG, Din.build("G1234", 26, 4711), APHERESIS,
           ExpiryDateTime(dt.datetime(2026, 11, 27, 9, 30)), "2–8 °C, do not freeze"),
    _label(LabelKind.INTERMEDIATE_CONTAINER, Din.build("G1234", 26, 4711, flags="01"), CAR_T,
           ExpiryDateTime(dt.datetime(2026, 12, 10, 16, 0)), "37 °C, 5 % CO₂"),
    _label(LabelKind.FINAL_PRODUCT_BAG, Din.build("G1234", 17, 654321, flags="02"), CAR_T,
           ExpiryDateTime.end_of_day(dt.date(2027, 5, 25)), "≤ −150 °C, vapour phase of liquid nitrogen"),
    _label(LabelKind.SHIPPER, Din.build("G1234", 17, 654321, flags="70")),
]


@pytest.fixture(scope="module")
def sheet() -> list[tuple[list[tuple[str, str]], str]]:
    """Each page of the rendered sheet: what zxing-cpp decodes from its image, and its text."""
    pdf = label_sheet_pdf(LABELS)
    texts = [page.extract_text() for page in pypdf.PdfReader(io.BytesIO(pdf)).pages]
    return list(zip(_decoded_pages(pdf), texts, strict=True))


def _decoded_pages(pdf: bytes) -> list[list[tuple[str, str]]]:
    """(data, symbology) of every symbol zxing-cpp finds on each page, rendered at 288 dpi."""
    document = pypdfium2.PdfDocument(pdf)
    try:
        images = [page.render(scale=4).to_pil() for page in document]
    finally:
        document.close()
    return [sorted((r.text, r.format.name) for r in zxingcpp.read_barcodes(image, formats=SYMBOLOGIES))
            for image in images]


@pytest.mark.req("ISBT-8")
def test_every_symbol_on_every_label_decodes_to_exactly_its_data_structure(sheet):
    assert len(sheet) == len(LABELS)
    for label, (decoded, _) in zip(LABELS, sheet, strict=True):
        assert decoded == sorted((s.data, FORMAT[s.symbology]) for s in label.symbols), label.kind


@pytest.mark.req("ISBT-8")
def test_the_final_product_bag_carries_each_structure_in_code_128_and_all_of_them_in_one_data_matrix(sheet):
    decoded, _ = sheet[2]
    compound = "=+04000=G12341765432102=<S1295100&>0271452359&/CHG12342600012A"
    assert decoded == sorted([("=G12341765432102", "Code128"), ("=<S1295100", "Code128"),
                              ("&>0271452359", "Code128"), ("&/CHG12342600012A", "Code128"),
                              (compound, "DataMatrix")])
    assert parse_concatenated(compound) == (LABELS[2].din, CAR_T, LABELS[2].expiry, COI)


@pytest.mark.req("ISBT-3")
@pytest.mark.req("ISBT-4")
def test_the_eye_readable_text_shows_each_identifier_with_its_check_character(sheet):
    for label, (_, text) in zip(LABELS, sheet, strict=True):
        lines = text.splitlines()
        assert label.kind.heading in lines
        assert f"DIN {label.din.eye_readable()} {label.din.check_character}" in lines
        assert f"COI {COI.eye_readable()} {COI.check_character}" in lines
    _, final_bag = sheet[2]
    assert "DIN G1234 17 654321 A" in final_bag  # the worked example of ISBT-4
    for shown in ("S1295100", "2027-05-25 23:59", "≤ −150 °C, vapour phase of liquid nitrogen"):
        assert shown in final_bag


@pytest.mark.req("ISBT-3")
def test_flags_are_printed_only_when_they_are_type_1_or_type_2(sheet):
    """00 is not printed, nor a Type 3 check value (70 on the shipper); 01 and 02 are, turned 90°."""
    printed = [[line for line in text.splitlines() if re.fullmatch(r"[0-9A-Y]{2}", line)] for _, text in sheet]
    assert printed == [[], ["01"], ["02"], []]


@pytest.mark.req("ISBT-1")
@pytest.mark.parametrize("symbology", [Symbology.CODE128, Symbology.DATAMATRIX])
def test_every_data_identifier_character_is_carried_exactly(symbology):
    """`=`, `&`, `<`, `>`, `/`, `+`, `*`, `}` and `,` open ISBT 128 structures; none may be lost or changed."""
    data = ["=G12341765432100", "=<S1295100", "=>026145", "&>0261452359", "&/CHG12342600012A", "=+02000",
            "=*026145", "&}0261451200", "=,000012"]
    render = code128_svg if symbology is Symbology.CODE128 else datamatrix_svg
    pdf = HTML(string="".join(f"<div style='margin:2mm'>{render(d)}</div>" for d in data)).write_pdf()

    [decoded] = _decoded_pages(pdf)
    assert decoded == sorted((d, FORMAT[symbology]) for d in data)
