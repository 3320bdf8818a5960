"""Environmental monitoring charts, drawn by the platform's one chart renderer (core.charts): a
room's trend of one sample type against its limits, and a location's individuals control chart.
Points are coloured by the level that judged them; Nelson signals carry their rule number."""

import datetime as dt

from django.utils import timezone
from matplotlib import dates as mdates
from matplotlib.figure import Figure

from opencdmo.core import charts

from .domain import programme

# Okabe–Ito colours, readable for colour-blind readers; the level is also in the marker shape.
LEVEL_STYLE = {programme.WITHIN: ("#009e73", "o"), programme.ALERT: ("#e69f00", "s"),
               programme.ACTION: ("#d55e00", "^")}
ALERT_LINE, ACTION_LINE, ANNEX1_LINE, SIGMA_LINE = "#e69f00", "#d55e00", "#000000", "#56b4e9"
SIZE = (8, 3.6)  # inches: a tablet's width at 96 dpi
LABEL_GAP_POINTS = 9  # a 7-point label's height and a little: closer labels are pushed apart
EMPTY_Y_TOP = 2  # an all-zero chart (grade A, no growth) still shows a readable axis


def _level_points(ax, times, values, levels):
    for level, (colour, marker) in LEVEL_STYLE.items():
        chosen = [(t, v) for t, v, lvl in zip(times, values, levels, strict=True) if (lvl or programme.WITHIN) == level]
        if chosen:
            ax.scatter([t for t, _ in chosen], [v for _, v in chosen], color=colour, marker=marker, s=22, zorder=3,
                       label=programme.LEVELS[level])


def _number(value: float) -> str:
    """3,520,000 for a particle limit, 6.191 for a mean: never 3.52e+06."""
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.4g}"


def _line(ax, lines: list, value, label: str, colour: str, style: str = "--", *, text: str | None = None):
    """A horizontal line; its label (the legend) is drawn at its right end by _line_labels."""
    ax.axhline(value, color=colour, linestyle=style, linewidth=1)
    lines.append((value, text or f"{label} {_number(value)}", colour))


def _line_labels(fig, ax, lines: list) -> None:
    """Each line's label at its right end, pushed up from the one below when they would overlap
    (e.g. 'Action 4' and 'Annex 1 5' on a 0–40 axis)."""
    points_per_pixel = 72 / fig.dpi
    previous = None
    for value, text, colour in sorted(lines, key=lambda line: line[0]):
        y = ax.transData.transform((0, value))[1] * points_per_pixel
        shown = y if previous is None else max(y, previous + LABEL_GAP_POINTS)
        ax.annotate(text, xy=(1, value), xycoords=("axes fraction", "data"), xytext=(3, shown - y),
                    textcoords="offset points", va="center", fontsize=7, color=colour)
        previous = shown


def _signal_marks(ax, points, signals):
    for signal in signals:
        point = points[signal.index]
        ax.annotate(str(signal.rule), xy=(point.at, float(point.value)), xytext=(0, 8), textcoords="offset points",
                    ha="center", fontsize=7, fontweight="bold", color="#cc79a7")


def _scale(ax, times: list, values: list, lines: list) -> None:
    """Axes a reader can use: from 0 (up to 2 when everything is 0, e.g. grade A with no growth),
    a day either side of a single sampling time, and times in site time as on every page."""
    if max([*values, *(value for value, _, _ in lines)], default=0) <= 0:
        ax.set_ylim(0, EMPTY_Y_TOP)
    else:
        ax.set_ylim(bottom=0)
    if times and min(times) == max(times):
        ax.set_xlim(min(times) - dt.timedelta(days=1), max(times) + dt.timedelta(days=1))
    site = timezone.get_current_timezone()
    locator = mdates.AutoDateLocator(tz=site)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.AutoDateFormatter(locator, tz=site))


def _finish(fig, ax, title: str, unit: str, has_signals: bool, *, times: list, values: list, lines: list) -> str:
    ax.set_title(title)
    ax.set_ylabel(unit)
    _scale(ax, times, values, lines)
    # Fixed margins rather than tight_layout, which draws the figure twice (bench/envmon.py); set
    # before the labels, which are placed in points on the final axes.
    fig.subplots_adjust(left=0.08, right=0.70, bottom=0.2, top=0.9)
    _line_labels(fig, ax, lines)
    ax.spines[["top", "right"]].set_visible(False)
    handles, labels = ax.get_legend_handles_labels()
    if has_signals:
        handles.append(ax.scatter([], [], marker="$n$", color="#cc79a7"))
        labels.append("Nelson rule n broken")
    ax.legend(handles, labels, loc="upper left", bbox_to_anchor=(1.16, 1), fontsize=7, frameon=False)
    ax.tick_params(axis="x", labelrotation=30)
    return charts.svg_text(fig)


def trend_chart(trend) -> str:
    """A room's results of one sample type (selectors.RoomTrend): one series per location, the alert
    and action levels in force and the Annex 1 maximum where it differs from the action level."""
    limits = trend.limits
    with charts.style(f"em-trend-{trend.room.code}-{trend.sample_type}"):
        fig = Figure(figsize=SIZE)
        ax = fig.add_subplot()
        for series in trend.series:
            ax.plot([p.at for p in series.points], series.values, color="#999999", linewidth=0.6, zorder=1)
        points = [p for s in trend.series for p in s.points]
        times, values = [p.at for p in points], [float(p.value) for p in points]
        _level_points(ax, times, values, [p.level for p in points])
        for series in trend.series:
            _signal_marks(ax, series.points, series.signals)
        lines = []
        if limits.alert is not None:
            _line(ax, lines, float(limits.alert), "Alert", ALERT_LINE)
        annex1 = limits.annex1
        if limits.action is not None:
            _line(ax, lines, float(limits.action), "Action", ACTION_LINE)
        elif annex1.no_growth:
            _line(ax, lines, 0, "Action", ACTION_LINE, text="Action: no growth (0)")
        if annex1.value is not None and not annex1.no_growth and annex1.value != limits.action:
            _line(ax, lines, float(annex1.value), "Annex 1", ANNEX1_LINE, ":")
        title = f"{trend.room.code} {trend.label}, {programme.STATES[trend.state].lower()}"
        return _finish(fig, ax, title, trend.unit, bool(trend.signals), times=times, values=values, lines=lines)


def control_chart(chart) -> str:
    """A location's individuals chart of one sample type (selectors.ControlChart): the mean and
    ±1, 2, 3σ from its own history (σ = MR̄/1.128)."""
    with charts.style(f"em-control-{chart.location.code}-{chart.sample_type}"):
        fig = Figure(figsize=SIZE)
        ax = fig.add_subplot()
        times = [p.at for p in chart.points]
        values = [float(p.value) for p in chart.points]
        ax.plot(times, values, color="#999999", linewidth=0.6, zorder=1)
        _level_points(ax, times, values, [p.level for p in chart.points])
        _signal_marks(ax, chart.points, chart.signals)
        lines = []
        _line(ax, lines, chart.mean, "Mean", "#000000", "-")
        for k in (1, 2, 3):
            if chart.sigma > 0:
                _line(ax, lines, chart.mean + k * chart.sigma, f"+{k}σ", SIGMA_LINE, (0, (k, 2)))
                if chart.mean - k * chart.sigma > 0:
                    _line(ax, lines, chart.mean - k * chart.sigma, f"−{k}σ", SIGMA_LINE, (0, (k, 2)))
        return _finish(fig, ax, f"{chart.location.code} {chart.label}", chart.unit, bool(chart.signals),
                       times=times, values=values, lines=lines)
