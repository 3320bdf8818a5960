"""The platform's one chart renderer: matplotlib figures, as SVG text to embed in a page or PDF.

Each chart builds a `Figure` of its own (no pyplot, no display, no global backend switch:
safe in a web server's threads). Text stays text in the SVG, and the output carries no date
and a fixed id salt, so the same data always draws the same bytes.
"""

import io
from contextlib import contextmanager

from matplotlib import rc_context


@contextmanager
def style(name: str, font_size: float = 8):
    """Draw inside this: stable SVG ids for the chart called `name`, text kept as text."""
    with rc_context({"svg.fonttype": "none", "svg.hashsalt": f"opencdmo-{name}", "font.size": font_size}):
        yield


def svg_text(fig) -> str:
    """The figure as an <svg> element (no XML prolog), ready to embed in HTML."""
    out = io.StringIO()
    fig.savefig(out, format="svg", metadata={"Date": None})
    svg = out.getvalue()
    return svg[svg.index("<svg"):]
