"""A genealogy trace drawn as a layered graph, as SVG text to embed in a page or a PDF.

Drawn by the platform's one chart renderer, matplotlib, through a `Figure` of its own (no
pyplot, no display, no global backend switch: safe in a web server's threads). A pure function
of the Trace: no database.

Layout: one column per link from the start (Trace.depth_of(), shortest path), the start node
on the left; arrows always point from parent to child (to the right in a forward trace, to the
left in a backward one). Nodes are coloured by record type with a legend. Up to 300 nodes are
all drawn (at most 100 to a column); a larger trace shows at most 40 per column and counts the
rest in a "+N more" box that also takes their links. Within a column, nodes are ordered by the
mean position of their neighbours in the column before (fewer crossings).
"""

from collections import defaultdict

from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch, Patch

from opencdmo.core import charts, registry

from .selectors import Trace

ALL_NODES_UP_TO = 300
COLUMN_CAP = 100  # nodes drawn per column when the whole trace fits
WIDE_COLUMN_CAP = 40  # nodes drawn per column of a larger trace
LABEL_CHARS = 24

COLUMN_STEP = 1.0  # data units between columns; rows are 1.0 apart
BOX_W, BOX_H = 0.74, 0.62
INCH_PER_COLUMN, INCH_PER_ROW = 1.9, 0.3

# Light fills, readable with black text, distinguishable with colour-blindness (Okabe–Ito hues).
KNOWN_COLOURS = {
    "materials.lot": "#a6d3f0",
    "batches.batch": "#f5c98a",
    "identity.patient": "#9fdcc4",
    "qc.sample": "#f2b8d7",
}
MORE_COLOURS = ["#f0e68c", "#c7b9e8", "#d9d9d9", "#f4a99b", "#b9e0a5", "#e6c9a8"]
EDGE_COLOUR, MORE_EDGE_COLOUR = "#4d4d4d", "#a0a0a0"


def trace_svg(trace: Trace) -> str:
    """The trace as an <svg> element (text, no XML prolog), sized to its content."""
    labels = {trace.start: trace.start}
    for e in trace.edges:
        labels[e.parent], labels[e.child] = e.parent_label or e.parent, e.child_label or e.child
    depth = trace.depth_of()
    columns: dict[int, list[str]] = defaultdict(list)
    for node, d in depth.items():
        columns[d].append(node)
    cap = COLUMN_CAP if len(depth) <= ALL_NODES_UP_TO else WIDE_COLUMN_CAP
    neighbours = defaultdict(set)
    for e in trace.edges:
        neighbours[e.parent].add(e.child)
        neighbours[e.child].add(e.parent)

    # Place columns left to right; a node's row is its rank by the mean row of its neighbours
    # already placed. Hidden nodes sit at their column's "+N more" box.
    row: dict[str, float] = {}
    where: dict[str, tuple[int, int]] = {}  # node -> (column, row) of what stands for it
    shown: dict[int, list[str]] = {}
    hidden: dict[int, int] = {}
    for d in sorted(columns):
        def rank(node):
            placed = [row[n] for n in neighbours[node] if n in row]
            return (sum(placed) / len(placed) if placed else float("inf"), labels[node], node)

        ordered = sorted(columns[d], key=rank)
        shown[d], rest = ordered[:cap], ordered[cap:]
        hidden[d] = len(rest)
        for r, node in enumerate(shown[d]):
            row[node], where[node] = r, (d, r)
        for node in rest:
            row[node], where[node] = cap, (d, cap)

    n_columns = max(columns) + 1
    n_rows = max(len(shown[d]) + (1 if hidden[d] else 0) for d in shown)
    types = sorted({_type_of(n) for n in depth}, key=lambda t: (t not in KNOWN_COLOURS, t))
    colour = _colours(types)

    with charts.style("genealogy"):
        width, height = max(5.0, 0.8 + INCH_PER_COLUMN * n_columns), 1.3 + INCH_PER_ROW * n_rows
        fig = Figure(figsize=(width, height))
        ax = fig.add_axes((0.01, 0.01, 0.98, 1 - 1.0 / height))
        ax.set_xlim(-0.55, (n_columns - 1) * COLUMN_STEP + 0.55)
        ax.set_ylim(-(n_rows - 0.4), 0.9)
        ax.set_axis_off()

        for d in shown:
            heading = "start" if d == 0 else f"{d} link{'s' if d > 1 else ''} {'on' if trace.direction == 'forward' else 'back'}"
            ax.text(d * COLUMN_STEP, 0.75, heading, ha="center", va="center", color="#555555", parse_math=False)

        # Links, once per pair of drawn positions; links to or from hidden nodes go to the box
        # that counts them, in grey.
        drawn = set()
        for e in trace.edges:
            a, b = where.get(e.parent), where.get(e.child)
            if a is None or b is None or a == b or (a, b) in drawn:
                continue
            drawn.add((a, b))
            faint = a[1] == cap and hidden[a[0]] or b[1] == cap and hidden[b[0]]
            ax.add_patch(_arrow(a, b, MORE_EDGE_COLOUR if faint else EDGE_COLOUR))

        for d, nodes in shown.items():
            for r, node in enumerate(nodes):
                start = node == trace.start
                _box(ax, d, r, _short(labels[node]), colour[_type_of(node)],
                     edge="#000000" if start else "#333333", width=2.0 if start else 0.6, bold=start)
            if hidden[d]:
                _box(ax, d, len(nodes), f"+{hidden[d]:,} more", "#f7f7f7", edge="#888888", width=0.8,
                     style="--")

        legend = [Patch(facecolor=colour[t], edgecolor="#333333", label=_type_label(t)) for t in types]
        what = "where it went" if trace.direction == "forward" else "what it was made from"
        fig.text(0.01, 1 - 0.1 / height, f"{labels[trace.start]}: {what} — {len(depth) - 1:,} records, "
                                         f"{len(trace.edges):,} links", ha="left", va="top", fontsize=9,
                 fontweight="bold", parse_math=False)
        fig.legend(handles=legend, loc="upper left", ncols=min(len(legend), 6), frameon=False,
                   bbox_to_anchor=(0.0, 1 - 0.3 / height), handlelength=1.2, fontsize=8)
        return charts.svg_text(fig)


def _type_of(node: str) -> str:
    return node.rpartition(":")[0] or node


def _type_label(record_type: str) -> str:
    kind = registry.kind(record_type)
    if kind is not None:
        return kind.label
    return record_type.rpartition(".")[2].replace("_", " ").capitalize() or record_type


def _colours(types: list[str]) -> dict[str, str]:
    spare = iter(MORE_COLOURS * (1 + len(types) // len(MORE_COLOURS)))
    return {t: KNOWN_COLOURS.get(t) or next(spare) for t in types}


def _short(label: str) -> str:
    return label if len(label) <= LABEL_CHARS else label[:LABEL_CHARS - 1] + "…"


def _box(ax, column: int, row: int, text: str, fill: str, *, edge: str, width: float, bold: bool = False,
         style: str = "-") -> None:
    x, y = column * COLUMN_STEP, -row
    ax.add_patch(FancyBboxPatch((x - BOX_W / 2, y - BOX_H / 2), BOX_W, BOX_H, boxstyle="round,pad=0,rounding_size=0.12",
                                facecolor=fill, edgecolor=edge, linewidth=width, linestyle=style))
    ax.text(x, y, text, ha="center", va="center", fontweight="bold" if bold else "normal", parse_math=False,
            clip_on=True)


def _arrow(a: tuple[int, int], b: tuple[int, int], colour: str) -> FancyArrowPatch:
    """Parent → child from box side to box side; within a column, a bracket on its right."""
    (ca, ra), (cb, rb) = a, b
    xa, xb = ca * COLUMN_STEP, cb * COLUMN_STEP
    if ca == cb:
        start, end, bend = (xa + BOX_W / 2, -ra), (xb + BOX_W / 2, -rb), "arc,angleA=0,angleB=0,armA=9,armB=9,rad=3"
    elif ca < cb:
        start, end, bend = (xa + BOX_W / 2, -ra), (xb - BOX_W / 2, -rb), "arc3,rad=0"
    else:
        start, end, bend = (xa - BOX_W / 2, -ra), (xb + BOX_W / 2, -rb), "arc3,rad=0"
    return FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=7, color=colour, linewidth=0.6,
                           connectionstyle=bend, shrinkA=0, shrinkB=1)
