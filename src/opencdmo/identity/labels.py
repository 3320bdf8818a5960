"""Labels for patient-specific material: collection bags, intermediate containers, final product
bags and shippers. A label prints its identifiers eye-readable — the check character K boxed, in a
font that tells 0 from O and 1 from I (ISBT-4), DIN flags as ISBT-3 says — and carries ISBT 128
data structures as Code 128 and Data Matrix symbols (ISBT-8). It renders what it is given and reads
no database: the caller builds the structures from its records."""

import datetime as dt
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import NamedTuple

from opencdmo.core.barcodes import code128_svg, datamatrix_svg
from opencdmo.core.pdf import render_pdf

from .domain.isbt128 import ChainOfIdentity, CompoundMessage, DataStructure, Din, ExpiryDateTime, ProductCode

# ISBT-8: a linear symbol on a label leaving the facility is at least 5 mm high or 15 % of its length.
LINEAR_HEIGHT_RATIO = 0.15
LINEAR_MIN_HEIGHT_MM = 5.0


class LabelKind(StrEnum):
    COLLECTION_BAG = "collection_bag"
    INTERMEDIATE_CONTAINER = "intermediate_container"
    FINAL_PRODUCT_BAG = "final_product_bag"
    SHIPPER = "shipper"

    @property
    def heading(self) -> str:
        return self.replace("_", " ").upper()

    @property
    def label(self) -> str:
        return self.replace("_", " ").capitalize()


class Symbology(StrEnum):
    CODE128 = "code128"
    DATAMATRIX = "datamatrix"


class Symbol(NamedTuple):
    """A barcode on a label: the exact data it carries (an ISBT 128 data structure with its data
    identifier, or a compound message of several) and the caption printed under it."""

    symbology: Symbology
    data: str
    caption: str

    def svg(self) -> str:
        if self.symbology is Symbology.DATAMATRIX:
            return datamatrix_svg(self.data)
        return code128_svg(self.data, height_ratio=LINEAR_HEIGHT_RATIO, min_height_mm=LINEAR_MIN_HEIGHT_MM)


def symbols_for(*structures: DataStructure) -> tuple[Symbol, ...]:
    """The usual set for two or more structures: each as its own Code 128, and all of them in one
    Data Matrix as a compound message of undefined order (ISBT-8)."""
    linear = tuple(Symbol(Symbology.CODE128, s.text, s.NAME[:1].upper() + s.NAME[1:]) for s in structures)
    compound = CompoundMessage(len(structures)).text + "".join(s.text for s in structures)
    return (*linear, Symbol(Symbology.DATAMATRIX, compound, "Compound message"))


@dataclass(frozen=True)
class Label:
    """What one label shows. `expiry` is the facility's local wall-clock time, as its structure
    carries it; a shipper has no product code or expiry of its own."""

    kind: LabelKind
    product: str
    din: Din
    coi: ChainOfIdentity
    product_code: ProductCode | None
    expiry: ExpiryDateTime | None
    storage: str
    symbols: tuple[Symbol, ...]
    shipment: str = ""  # a shipper's eye-readable shipment number


# What each kind of label carries. Flags: containers of a set are told apart by Type 1 flags
# 01–04, 15–19 ("container n of a set", ISBT-3); a single container, and a shipper, carry the
# Type 3 check flags, so a misread DIN is refused when the label is scanned.
SET_FLAGS = ("01", "02", "03", "04", "15", "16", "17", "18", "19")


def container_din(din13: str, *, position: int, of: int) -> Din:
    """The DIN of the `position`-th (from 1) of `of` containers of one kind sharing it, with its flags."""
    din = Din.from_content(din13 + "00")
    return replace(din, flags=SET_FLAGS[position - 1] if 1 < of <= len(SET_FLAGS) else din.type3_flags)


def container_label(kind: LabelKind, *, product: str, coi: str, din: Din, product_code: str,
                    expires_at: dt.datetime | None, storage: str) -> Label:
    """A bag's or container's label: DIN, product code, expiry (local wall-clock time, to the minute)
    when it has one, and the chain of identity identifier, each also in the Data Matrix. Only the
    final product bag prints the storage conditions: they are the product's."""
    expiry = ExpiryDateTime(expires_at.replace(second=0, microsecond=0, tzinfo=None)) if expires_at else None
    code = ProductCode.from_content(product_code)
    identifier = ChainOfIdentity.from_content(coi)
    structures = [s for s in (din, code, expiry, identifier) if s is not None]
    return Label(kind=kind, product=product, din=din, coi=identifier, product_code=code, expiry=expiry,
                 storage=storage if kind is LabelKind.FINAL_PRODUCT_BAG else "", symbols=symbols_for(*structures))


def shipper_label(*, product: str, coi: str, dins: list[str], shipment: str) -> Label:
    """A shipper's label: the chain of identity identifier first (dispatch and receipt verify it),
    the DIN of each container inside, and the shipment number to read."""
    identifier = ChainOfIdentity.from_content(coi)
    carried = [container_din(din13, position=1, of=1) for din13 in dict.fromkeys(dins)]
    return Label(kind=LabelKind.SHIPPER, product=product, din=carried[0], coi=identifier, product_code=None,
                 expiry=None, storage="", symbols=symbols_for(identifier, *carried), shipment=shipment)


def label_sheet_pdf(labels: list[Label]) -> bytes:
    """One label per page, 100 mm × 100 mm."""
    return render_pdf("identity/labels_pdf.html", {
        "labels": [(label, [(symbol, symbol.svg()) for symbol in label.symbols]) for label in labels],
    })
