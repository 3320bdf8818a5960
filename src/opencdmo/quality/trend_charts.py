"""The deviation trend report's charts, drawn by the platform's one chart renderer (matplotlib
through a Figure of its own, as SVG text for the page). Pure functions of the counts."""

from matplotlib.figure import Figure

from opencdmo.core import charts

BAR_COLOUR = "#0072b2"  # Okabe–Ito blue: readable for colour-blind readers
LABEL_CHARS = 28


def bar_chart(title: str, rows: list[tuple[str, int]], *, by_time: bool = False) -> str:
    """Counts as bars: vertical in time order for months, horizontal largest-first otherwise."""
    if not rows:
        return ""
    labels = [str(label)[:LABEL_CHARS] for label, _ in rows]
    counts = [n for _, n in rows]
    with charts.style(f"deviation-trend-{title}"):
        if by_time:
            fig = Figure(figsize=(7.5, 2.6))
            ax = fig.add_subplot()
            ax.bar(range(len(rows)), counts, color=BAR_COLOUR)
            ax.set_xticks(range(len(rows)), labels, rotation=45, ha="right")
        else:
            fig = Figure(figsize=(7.5, 0.35 * len(rows) + 0.8))
            ax = fig.add_subplot()
            ax.barh(range(len(rows)), counts, color=BAR_COLOUR)
            ax.set_yticks(range(len(rows)), labels)
            ax.invert_yaxis()
        ax.set_title(title)
        ax.spines[["top", "right"]].set_visible(False)
        (ax.yaxis if by_time else ax.xaxis).get_major_locator().set_params(integer=True)
        fig.tight_layout()
        return charts.svg_text(fig)
