"""Charts (matplotlib, no display needed): one drawing for the CLI's files and the dashboard.

Each ``*_figure`` function draws a chart into a new ``Figure`` (the object API, not pyplot,
so API workers can draw in several threads at once); ``save`` writes it to a file whose
suffix picks the format (.png, .svg, .pdf) and ``svg_data_uri`` turns it into an inline
image for a page (SVG with real text, so it stays small and sharp).
"""

from __future__ import annotations

import base64
import datetime as dt
import io
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from .core.learning.segments import SEGMENTS

__all__ = [
    "CHART_SUFFIXES",
    "MATURITY_COLOURS",
    "arms_figure",
    "attach_figure",
    "bars_figure",
    "estimates_figure",
    "funnel_figure",
    "lift_figure",
    "qini_figure",
    "save",
    "segment_figure",
    "series_figure",
    "strategy_arms_figure",
    "svg_data_uri",
]

CHART_SUFFIXES = (".png", ".svg", ".pdf")
_SEGMENT_COLOURS = {"persuadable": "#2a9d8f", "sure_thing": "#8ab17d", "lost_cause": "#b0b0b0",
                    "sleeping_dog": "#e76f51", "uncertain": "#e9c46a"}  # fmt: skip
MATURITY_COLOURS = {"cold start": "#b0b0b0", "immature": "#e9c46a", "maturing": "#8ab17d",
                    "mature": "#2a9d8f"}  # fmt: skip
_LINE_COLOURS = ("#264653", "#2a9d8f", "#e76f51", "#e9c46a", "#8ab17d", "#6d597a")


def _figure(width: float, height: float) -> tuple[Figure, Any]:
    fig = Figure(figsize=(width, height))
    return fig, fig.add_subplot()


def save(fig: Figure, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    return path


def svg_data_uri(fig: Figure) -> str:
    """The chart as an SVG ``data:`` URI for an ``<img>`` (each image its own document)."""
    import matplotlib

    buffer = io.BytesIO()
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "nextoffer"}):
        fig.tight_layout()
        fig.savefig(buffer, format="svg")
    return "data:image/svg+xml;base64," + base64.b64encode(buffer.getvalue()).decode()


def qini_figure(points: list[dict[str, float]], title: str) -> Figure:
    """The Qini curve (incremental conversions by share targeted) against random."""
    fig, ax = _figure(6, 4)
    x = [p["targeted"] * 100 for p in points]
    ax.plot(x, [p["qini"] for p in points], label="model", color="#264653", linewidth=2)
    ax.plot(x, [p["random"] for p in points], label="random", color="#999999", linestyle="--")
    ax.set_xlabel("customers targeted, highest τ first (%)")
    ax.set_ylabel("incremental outcomes (Qini)")
    ax.set_title(title)
    ax.legend()
    ax.grid(alpha=0.3)
    return fig


def lift_figure(rows: list[tuple[str, dict[str, Any]]], title: str) -> Figure:
    """Absolute lift in conversion (treatment − control) with its 95% interval, per row."""
    fig, ax = _figure(7, 0.6 * len(rows) + 1.5)
    labels = [label for label, _ in rows]
    lifts = [c["absolute_lift"] * 100 for _, c in rows]
    lows = [(c["absolute_lift"] - c["lift_interval"][0]) * 100 for _, c in rows]
    highs = [(c["lift_interval"][1] - c["absolute_lift"]) * 100 for _, c in rows]
    colours = ["#999999" if c["insufficient_data"] else
               ("#2a9d8f" if c["lift_interval"][0] > 0 else
                "#e76f51" if c["lift_interval"][1] < 0 else "#e9c46a") for _, c in rows]  # fmt: skip
    y = list(range(len(rows)))[::-1]
    ax.errorbar(lifts, y, xerr=[lows, highs], fmt="none", ecolor="#555555", capsize=4)
    ax.scatter(lifts, y, color=colours, zorder=3, s=50)
    ax.axvline(0, color="#333333", linewidth=1)
    ax.set_yticks(y, labels)
    ax.set_xlabel("lift in conversion, percentage points (95% interval)")
    ax.set_title(title)
    ax.grid(axis="x", alpha=0.3)
    return fig


def segment_figure(mix: dict[str, dict[str, int]], title: str) -> Figure:
    """Each offer's scored customers by uplift segment, as shares of a bar."""
    offers = sorted(mix)
    fig, ax = _figure(7, 0.6 * len(offers) + 1.5)
    left = [0.0] * len(offers)
    for segment in SEGMENTS:
        shares = []
        for offer in offers:
            total = sum(mix[offer].values()) or 1
            shares.append(100 * mix[offer].get(segment, 0) / total)
        ax.barh(offers, shares, left=left, label=segment.replace("_", " "),
                color=_SEGMENT_COLOURS[segment])  # fmt: skip
        left = [a + b for a, b in zip(left, shares, strict=True)]
    ax.set_xlabel("customers (%)")
    ax.set_xlim(0, 100)
    ax.set_title(title)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.35), ncol=5, fontsize="small")
    return fig


def attach_figure(rows: list[dict[str, Any]], title: str) -> Figure:
    """Attach rates p with their credible intervals, coloured by maturity."""
    fig, ax = _figure(8, 0.35 * len(rows) + 1.5)
    y = list(range(len(rows)))[::-1]
    ps = [r["p"] * 100 for r in rows]
    ax.errorbar(ps, y, xerr=[[(r["p"] - r["low"]) * 100 for r in rows],
                             [(r["high"] - r["p"]) * 100 for r in rows]],
                fmt="none", ecolor="#555555", capsize=3)  # fmt: skip
    ax.scatter(ps, y, color=[MATURITY_COLOURS[r["maturity"]] for r in rows], zorder=3, s=40)
    ax.set_yticks(y, [r["label"] for r in rows])
    for maturity, colour in MATURITY_COLOURS.items():
        ax.scatter([], [], color=colour, label=maturity)
    # beside the plot, never over it: inside, wherever it went, some rates would be under it
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0,
              fontsize="small", title="maturity", title_fontsize="small")  # fmt: skip
    ax.set_xlabel("attach rate p, % (credible interval)")
    ax.set_title(title)
    ax.grid(axis="x", alpha=0.3)
    return fig


def series_figure(
    times: Sequence[dt.datetime], lines: Mapping[str, Sequence[float]], title: str, ylabel: str
) -> Figure:
    """One or more series over time (the overview's charts)."""
    fig, ax = _figure(6, 2.8)
    for i, (label, values) in enumerate(lines.items()):
        ax.plot(times, values, label=label, color=_LINE_COLOURS[i % len(_LINE_COLOURS)],
                linewidth=1.8, marker="o" if len(times) < 3 else None)  # fmt: skip
    ax.set_title(title)
    ax.set_ylabel(ylabel)
    ax.set_ylim(bottom=0)
    if len(times) > 1:
        ax.set_xlim(times[0], times[-1])
    ax.grid(alpha=0.3)
    if len(lines) > 1:
        ax.legend(fontsize="small")
    fig.autofmt_xdate()
    return fig


def bars_figure(values: dict[str, float], title: str, xlabel: str) -> Figure:
    """Horizontal bars, largest on top."""
    fig, ax = _figure(6, 0.4 * max(len(values), 1) + 1.4)
    labels = list(values)[::-1]
    ax.barh(labels, [values[k] for k in labels], color="#2a9d8f")
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.grid(axis="x", alpha=0.3)
    return fig


def funnel_figure(steps: Sequence[Mapping[str, Any]], title: str) -> Figure:
    """A journey's steps in order (a row of its report each: ``step``, ``entered``,
    ``advanced``, ``waiting``, ``exited`` by reason), each bar the customers who entered the
    step: moved on, still there, left the journey from it."""
    rows = list(steps)[::-1]  # the first step on top
    fig, ax = _figure(7, 0.42 * max(len(rows), 1) + 1.8)
    labels = [r["step"] for r in rows]
    left = [0.0] * len(rows)
    parts = (("moved on", "#2a9d8f", [r["advanced"] for r in rows]),
             ("there now", "#e9c46a", [r["waiting"] for r in rows]),
             ("left the journey", "#e76f51", [sum(r["exited"].values()) for r in rows]))  # fmt: skip
    for label, colour, values in parts:
        ax.barh(labels, values, left=left, label=label, color=colour)
        left = [a + b for a, b in zip(left, values, strict=True)]
    for i, r in enumerate(rows):
        ax.text(left[i], i, f" {r['entered']:,}", va="center", fontsize="small")
    ax.set_xlim(0, max(max(left, default=0.0), 1.0) * 1.12)
    ax.set_xlabel("customers who entered the step")
    ax.set_title(title)
    ax.grid(axis="x", alpha=0.3)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.18), ncol=3, fontsize="small")
    return fig


def arms_figure(comparison: Mapping[str, Any], title: str) -> Figure:
    """Conversion of the treated and the control arm of a comparison (``core.stats``'s, as
    a mapping), each with its 95% interval."""
    fig, ax = _figure(6, 2.2)
    arms = [("control", comparison["control"]), ("treated", comparison["treatment"])]
    rates = [a["rate"] * 100 for _, a in arms]
    lows = [(a["rate"] - a["interval"][0]) * 100 for _, a in arms]
    highs = [(a["interval"][1] - a["rate"]) * 100 for _, a in arms]
    ax.errorbar(rates, [0, 1], xerr=[lows, highs], fmt="none", ecolor="#555555", capsize=4)
    ax.scatter(rates, [0, 1], color=["#999999", "#2a9d8f"], zorder=3, s=50)
    ax.set_yticks([0, 1], [f"{name} ({a['conversions']:,}/{a['customers']:,})" for name, a in arms])
    ax.set_ylim(-0.6, 1.6)
    ax.set_xlim(left=0)
    ax.set_xlabel("conversion, % (95% interval)")
    ax.set_title(title)
    ax.grid(axis="x", alpha=0.3)
    return fig


def estimates_figure(
    estimates: Sequence[Mapping[str, Any]], observed: float | None, title: str, xlabel: str
) -> Figure:
    """Off-policy estimates side by side, each with its interval (``value``, ``low``,
    ``high`` by ``estimator``), and the logging strategy's observed value as a reference
    line."""
    fig, ax = _figure(7, 0.5 * len(estimates) + 2.2)
    labels = [str(e["estimator"]) for e in estimates]
    values = [float(e["value"]) for e in estimates]
    lows = [float(e["value"]) - float(e["low"]) for e in estimates]
    highs = [float(e["high"]) - float(e["value"]) for e in estimates]
    y = list(range(len(estimates)))[::-1]
    ax.errorbar(values, y, xerr=[lows, highs], fmt="none", ecolor="#555555", capsize=4)
    ax.scatter(values, y, color="#2a9d8f", zorder=3, s=50, label="target (95% interval)")
    if observed is not None:
        ax.axvline(observed, color="#e76f51", linestyle="--", linewidth=1.5,
                   label=f"live strategy, observed ({observed:.4g})")  # fmt: skip
    ax.set_yticks(y, labels)
    ax.set_xlabel(xlabel)
    ax.set_title(title)
    ax.grid(axis="x", alpha=0.3)
    # below the plot: inside, it could cover an estimate or its interval
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.22), ncol=2, fontsize="small",
              frameon=False)  # fmt: skip
    return fig


def strategy_arms_figure(
    rows: Sequence[Mapping[str, Any]], title: str, metric: str = "conversion"
) -> Figure:
    """A strategy experiment's arms (and the control group), each its ``metric``
    (``conversion`` or ``acceptance``, a row of the report each) with its 95% interval."""
    fig, ax = _figure(6, 0.6 + 0.45 * max(len(rows), 2))
    ys = list(range(len(rows)))
    rates = [r[metric] * 100 for r in rows]
    lows = [(r[metric] - r[f"{metric}_interval"][0]) * 100 for r in rows]
    highs = [(r[f"{metric}_interval"][1] - r[metric]) * 100 for r in rows]
    colours = ["#999999" if r["kind"] == "control" else "#264653" if r["kind"] == "champion"
               else "#2a9d8f" for r in rows]  # fmt: skip
    ax.errorbar(rates, ys, xerr=[lows, highs], fmt="none", ecolor="#555555", capsize=4)
    ax.scatter(rates, ys, color=colours, zorder=3, s=50)
    count = "converted" if metric == "conversion" else "accepted"
    ax.set_yticks(ys, [f"{r['arm']} ({r[count]:,}/{r['customers']:,})" for r in rows])
    ax.set_ylim(-0.6, len(rows) - 0.4)
    ax.invert_yaxis()
    ax.set_xlim(left=0)
    ax.set_xlabel(f"{metric} per customer, % (95% interval)")
    ax.set_title(title)
    ax.grid(axis="x", alpha=0.3)
    return fig
