"""Environmental monitoring charts, drawn by the platform's one chart renderer (core.charts): a
room's trend of one sample type against its limits, and a location's individuals control chart.
Points are coloured by the level that judged them; Nelson signals carry their rule number."""

from matplotlib.figure import Figure

from opencdmo.core import charts

from .domain import programme

# Okabe–Ito colours, readable for colour-blind readers; the level is also in the marker shape.
LEVEL_STYLE = {programme.WITHIN: ("#009e73", "o"), programme.ALERT: ("#e69f00", "s"),
               programme.ACTION: ("#d55e00", "^")}
ALERT_LINE, ACTION_LINE, ANNEX1_LINE, SIGMA_LINE = "#e69f00", "#d55e00", "#000000", "#56b4e9"
SIZE = (8, 3.6)  # inches: a tablet's width at 96 dpi


def _level_points(ax, times, values, levels):
    for level, (colour, marker) in LEVEL_STYLE.items():
        chosen = [(t, v) for t, v, lvl in zip(times, values, levels, strict=True) if (lvl or programme.WITHIN) == level]
        if chosen:
            ax.scatter([t for t, _ in chosen], [v for _, v in chosen], color=colour, marker=marker, s=22, zorder=3,
                       label=programme.LEVELS[level])


def _number(value: float) -> str:
    """3,520,000 for a particle limit, 6.191 for a mean: never 3.52e+06."""
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.4g}"


def _line(ax, value, label: str, colour: str, style: str = "--"):
    """A horizontal line labelled at its right end (the label is the legend)."""
    ax.axhline(value, color=colour, linestyle=style, linewidth=1)
    ax.annotate(f"{label} {_number(value)}", xy=(1, value), xycoords=("axes fraction", "data"), xytext=(3, 0),
                textcoords="offset points", va="center", fontsize=7, color=colour)


def _signal_marks(ax, points, signals):
    for signal in signals:
        point = points[signal.index]
        ax.annotate(str(signal.rule), xy=(point.at, float(point.value)), xytext=(0, 8), textcoords="offset points",
                    ha="center", fontsize=7, fontweight="bold", color="#cc79a7")


def _finish(fig, ax, title: str, unit: str, has_signals: bool) -> str:
    ax.set_title(title)
    ax.set_ylabel(unit)
    ax.set_ylim(bottom=0)
    ax.spines[["top", "right"]].set_visible(False)
    handles, labels = ax.get_legend_handles_labels()
    if has_signals:
        handles.append(ax.scatter([], [], marker="$n$", color="#cc79a7"))
        labels.append("Nelson rule n broken")
    ax.legend(handles, labels, loc="upper left", bbox_to_anchor=(1.16, 1), fontsize=7, frameon=False)
    ax.tick_params(axis="x", labelrotation=30)
    # Fixed margins rather than tight_layout, which draws the figure twice (bench/envmon.py).
    fig.subplots_adjust(left=0.08, right=0.70, bottom=0.2, top=0.9)
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
        _level_points(ax, [p.at for p in points], [float(p.value) for p in points], [p.level for p in points])
        for series in trend.series:
            _signal_marks(ax, series.points, series.signals)
        if limits.alert is not None:
            _line(ax, float(limits.alert), "Alert", ALERT_LINE)
        if limits.action is not None:
            _line(ax, float(limits.action), "Action", ACTION_LINE)
        annex1 = limits.annex1
        if annex1.value is not None and not annex1.no_growth and annex1.value != limits.action:
            _line(ax, float(annex1.value), "Annex 1", ANNEX1_LINE, ":")
        title = f"{trend.room.code} {trend.label}, {programme.STATES[trend.state].lower()}"
        return _finish(fig, ax, title, trend.unit, bool(trend.signals))


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
        _line(ax, chart.mean, "Mean", "#000000", "-")
        for k in (1, 2, 3):
            if chart.sigma > 0:
                _line(ax, chart.mean + k * chart.sigma, f"+{k}σ", SIGMA_LINE, (0, (k, 2)))
                if chart.mean - k * chart.sigma > 0:
                    _line(ax, chart.mean - k * chart.sigma, f"−{k}σ", SIGMA_LINE, (0, (k, 2)))
        return _finish(fig, ax, f"{chart.location.code} {chart.label}", chart.unit, bool(chart.signals))
