"""Labels for patient-specific material: collection bags, intermediate containers, final product
bags and shippers. A label prints its identifiers eye-readable — the check character K boxed, in a
font that tells 0 from O and 1 from I (ISBT-4), DIN flags as ISBT-3 says — and carries ISBT 128
data structures as Code 128 and Data Matrix symbols (ISBT-8). It renders what it is given and reads
no database: the caller builds the structures from its records."""

from dataclasses import dataclass
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


def label_sheet_pdf(labels: list[Label]) -> bytes:
    """One label per page, 100 mm × 100 mm."""
    return render_pdf("identity/labels_pdf.html", {
        "labels": [(label, [(symbol, symbol.svg()) for symbol in label.symbols]) for label in labels],
    })
