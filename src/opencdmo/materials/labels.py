"""Container labels: a Code 128 barcode of the lot number (pyStrich, vector SVG) with the
eye-readable lot number, material, status and dates, rendered to PDF by the one PDF renderer."""

from pystrich.code128 import Code128Encoder


def barcode_svg(data: str) -> str:
    """Inline SVG of `data` as Code 128 with its quiet zones, bars only (the text is printed by the label)."""
    svg = Code128Encoder(data, options={"show_label": False}).get_svg(bar_width=2)
    return svg[svg.index("<svg"):]
