"""The dashboard's charts, drawn as the pages draw them (laid out by ``svg_data_uri``)."""

from __future__ import annotations

import math
from typing import Any

import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.transforms import Bbox

from nextoffer import charts


def rate(label: str, p: float, maturity: str) -> dict[str, Any]:
    return {"label": label, "p": p, "low": max(p - 0.05, 0.0), "high": min(p + 0.05, 1.0),
            "maturity": maturity}  # fmt: skip


# points in every corner and along every edge of the plot, where a legend inside would go
LAYOUTS = {
    "high at the bottom": [rate(f"offer: o{i}", 0.02 + 0.96 * i / 7, "mature") for i in range(8)],
    "high at the top": [rate(f"offer: o{i}", 0.98 - 0.96 * i / 7, "maturing") for i in range(8)],
    "all high": [rate(f"offer: o{i}", 0.97, "immature") for i in range(5)],
    "all low": [rate(f"offer: o{i}", 0.01, "cold start") for i in range(5)],
    "two rows": [rate("global: all offers", 0.9, "mature"), rate("offer: x", 0.05, "immature")],
    "the demo's": [rate("global: all offers", 0.21, "mature"),
                   rate("category: dessert", 0.18, "maturing"),
                   rate("offer: COFFEE-01", 0.31, "mature"),
                   rate("offer: mortgage", 0.008, "cold start"),
                   rate("offer: PREMIUM-WINE-01", 0.62, "immature")],
}  # fmt: skip


def drawn(fig: Figure) -> Any:
    charts.svg_data_uri(fig)  # laid out as the dashboard lays it out
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return canvas.get_renderer()


@pytest.mark.parametrize("rows", list(LAYOUTS.values()), ids=list(LAYOUTS))
def test_the_attach_rate_legend_covers_no_data_point(rows: list[dict[str, Any]]) -> None:
    fig = charts.attach_figure(rows, "Attach rates")
    renderer = drawn(fig)
    ax = fig.axes[0]
    legend = ax.get_legend()
    assert legend is not None
    box = legend.get_window_extent(renderer)
    points = ax.collections[-len(charts.MATURITY_COLOURS) - 1]  # the data's scatter
    centres = ax.transData.transform(points.get_offsets())
    assert len(centres) == len(rows)
    for (x, y), size in zip(centres, list(points.get_sizes()) * len(rows), strict=False):
        r = math.sqrt(size) / 2 * fig.dpi / 72  # the marker's radius, in pixels
        marker = Bbox.from_extents(x - r, y - r, x + r, y + r)
        assert not box.overlaps(marker), (x, y, box)
    # and the legend is on the picture, not cut off at its edge
    assert fig.bbox.contains(box.x0, box.y0)
    assert fig.bbox.contains(box.x1, box.y1)


def test_the_estimates_legend_covers_no_estimate_and_stays_on_the_picture() -> None:
    estimates = [{"estimator": name, "value": v, "low": v - 0.05, "high": v + 0.05}
                 for name, v in (("ips", 0.12), ("snips", 0.17), ("dm", 0.24), ("dr", 0.19),
                                 ("switch_dr", 0.19), ("dros", 0.02))]  # fmt: skip
    fig = charts.estimates_figure(estimates, 0.18, "Acceptance rate", "accepted per offer shown")
    renderer = drawn(fig)
    ax = fig.axes[0]
    legend = ax.get_legend()
    assert legend is not None
    texts = [t.get_text() for t in legend.get_texts()]
    assert texts == ["target (95% interval)", "live strategy, observed (0.18)"]
    box = legend.get_window_extent(renderer)
    assert not box.overlaps(ax.get_window_extent(renderer))
    assert fig.bbox.contains(box.x0, box.y0)
    assert fig.bbox.contains(box.x1, box.y1)
    # the estimators read top to bottom in the order given
    at = {t.get_text(): y for t, y in zip(ax.get_yticklabels(), ax.get_yticks(), strict=True)}
    assert sorted(at, key=lambda name: -at[name]) == [e["estimator"] for e in estimates]
