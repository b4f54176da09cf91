"""Charts as image files (matplotlib, no display needed): Qini curves, lift with its
interval, the uplift segment mix. The format follows the file's suffix (.png, .svg, .pdf).
The dashboard draws the same data, which the API serves."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..core.learning.segments import SEGMENTS

__all__ = ["CHART_SUFFIXES", "lift_chart", "qini_chart", "segment_chart"]

CHART_SUFFIXES = (".png", ".svg", ".pdf")
_SEGMENT_COLOURS = {"persuadable": "#2a9d8f", "sure_thing": "#8ab17d", "lost_cause": "#b0b0b0",
                    "sleeping_dog": "#e76f51", "uncertain": "#e9c46a"}  # fmt: skip


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    _pyplot().close(fig)
    return path


def qini_chart(points: list[dict[str, float]], path: Path, title: str) -> Path:
    """The Qini curve (incremental conversions by share targeted) against random."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    x = [p["targeted"] * 100 for p in points]
    ax.plot(x, [p["qini"] for p in points], label="model", color="#264653", linewidth=2)
    ax.plot(x, [p["random"] for p in points], label="random", color="#999999", linestyle="--")
    ax.set_xlabel("customers targeted, highest τ first (%)")
    ax.set_ylabel("incremental outcomes (Qini)")
    ax.set_title(title)
    ax.legend()
    ax.grid(alpha=0.3)
    return _save(fig, path)


def lift_chart(rows: list[tuple[str, dict[str, Any]]], path: Path, title: str) -> Path:
    """Absolute lift in conversion (treatment − control) with its 95% interval, per row."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 0.6 * len(rows) + 1.5))
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
    return _save(fig, path)


def segment_chart(mix: dict[str, dict[str, int]], path: Path, title: str) -> Path:
    """Each offer's scored customers by uplift segment, as shares of a bar."""
    plt = _pyplot()
    offers = sorted(mix)
    fig, ax = plt.subplots(figsize=(7, 0.6 * len(offers) + 1.5))
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
    return _save(fig, path)
