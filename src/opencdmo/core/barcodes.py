"""The one barcode renderer: Code 128 and Data Matrix (ECC 200) as inline vector SVG, bars or
modules only (the label prints the eye-readable text). pyStrich encodes; the SVG is sized in
millimetres from its module count, so a label prints at the X dimension it asks for, and draws the
dark marks as one path, which keeps a sheet of many symbols quick to render."""

import math

from pystrich.code128 import Code128Encoder
from pystrich.datamatrix import DataMatrixData, DataMatrixEncoder
from pystrich.marks import SymbolMarks

# ISBT-8: target X dimension 0.25 mm for Code 128; Data Matrix X 0.25–1 mm with a quiet zone of 2X–4X.
CODE128_MODULE_MM = 0.25
CODE128_QUIET_ZONE = 10
DATAMATRIX_MODULE_MM = 0.5
DATAMATRIX_QUIET_ZONE = 2


def code128_svg(data: str, *, module_mm: float = CODE128_MODULE_MM, height_ratio: float = 1 / 3,
                min_height_mm: float = 0.0) -> str:
    """`data` (ASCII) as Code 128 with its 10X quiet zones, as high as `height_ratio` of its length
    but at least `min_height_mm` (ISBT-8 asks 15 % and 5 mm for labels leaving the facility)."""
    encoder = Code128Encoder(data, options={"show_label": False, "quiet_width_multiplier": CODE128_QUIET_ZONE})
    modules = len(encoder.bars) + 2 * CODE128_QUIET_ZONE
    encoder.options["height"] = max(round(modules * height_ratio), math.ceil(min_height_mm / module_mm))
    return _svg(encoder.get_rect_marks(), module_mm)


def datamatrix_svg(data: str, *, module_mm: float = DATAMATRIX_MODULE_MM) -> str:
    """`data` (ASCII) as a square Data Matrix ECC 200 symbol with a quiet zone of 2X."""
    encoder = DataMatrixEncoder(DataMatrixData(data, encoding="ascii"), quiet_zone=DATAMATRIX_QUIET_ZONE)
    return _svg(encoder.get_rect_marks(), module_mm)


def _svg(symbol: SymbolMarks, module_mm: float) -> str:
    """One viewBox unit per module (the bar height of a Code 128 is counted in modules too)."""
    path = "".join(f"M{x} {y}h{w}v{h}h-{w}z" for x, y, w, h in symbol.marks)
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {symbol.width} {symbol.height}" '
            f'width="{symbol.width * module_mm:g}mm" height="{symbol.height * module_mm:g}mm" '
            f'shape-rendering="crispEdges"><rect width="{symbol.width}" height="{symbol.height}" fill="#fff"/>'
            f'<path d="{path}" fill="#000"/></svg>')
