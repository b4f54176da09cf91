"""A journey's graph of steps as its page lays it out: a box per step, an arrow per way out,
nothing on top of anything else and everything on the picture, for the bank's mortgage
journey and for random step graphs of every shape."""

from __future__ import annotations

import random
from itertools import pairwise
from typing import Any

import pytest

from nextoffer.scenarios import mortgage_journey
from nextoffer.service.dashboard import graph
from nextoffer.service.dashboard.graph import Edge, Graph, layout


def _ways(step: dict[str, Any]) -> set[str | None]:
    """Where a step's ways out lead, as the definition writes them (None: out)."""
    kind = step["type"]
    if kind == "offer":
        on = step.get("on_blocked", {}).get("action", "exit")
        blocked = {"skip": step["next"], "retry": step["id"], "exit": None}[on]
        out = {step["next"], blocked}
        if step.get("mode") == "inbound":  # an expired offer
            out.add(step.get("on_expired") or step["next"])
        return out
    if kind == "wait":
        return {step["next"], step.get("on_timeout") or step["next"]}
    if kind == "branch":
        return {b["next"] for b in step["branches"]} | {step["otherwise"]}
    return set()


def _random_journey(rng: random.Random) -> dict[str, Any]:
    n = rng.randint(1, 14)
    ids = [f"s{i}" for i in range(n)]
    steps: list[dict[str, Any]] = []
    for sid in ids:
        kind = rng.choice(["offer", "wait", "branch", "exit"])
        if kind == "offer":
            step = {"id": sid, "type": "offer", "channel": "email", "offers": ["o"],
                    "next": rng.choice(ids), "on_blocked": rng.choice([
                        {"action": "exit"}, {"action": "skip"},
                        {"action": "retry", "retry_after": "1d", "max_retries": 2}])}  # fmt: skip
            if rng.random() < 0.5:
                step |= {"mode": "inbound", "expires_after": "3d"}
                if rng.random() < 0.5:
                    step["on_expired"] = rng.choice(ids)
        elif kind == "wait":
            step = {"id": sid, "type": "wait", "next": rng.choice(ids)}
            if rng.random() < 0.5:
                step["duration"] = "2d"
            else:
                step["until"] = {"events": ["click"], "step": rng.choice(ids), "timeout": "7d"}
                step["on_timeout"] = rng.choice(ids)
        elif kind == "branch":
            step = {"id": sid, "type": "branch", "otherwise": rng.choice(ids),
                    "branches": [{"condition": "customer.tenureMonths > 3", "next": rng.choice(ids)}
                                 for _ in range(rng.randint(1, 3))]}  # fmt: skip
        else:
            step = {"id": sid, "type": "exit", "reason": "done"}
        steps.append(step)
    return {"id": "random", "start": rng.choice(ids), "steps": steps}


def _along(edge: Edge, n: int = 40) -> list[tuple[float, float]]:
    """Points along an arrow, from its start to its end."""
    if edge.curved:  # a cubic Bézier curve
        (x0, y0), (x1, y1), (x2, y2), (x3, y3) = edge.route
        weights = [((1 - t) ** 3, 3 * (1 - t) ** 2 * t, 3 * (1 - t) * t**2, t**3)
                   for t in (i / n for i in range(n + 1))]  # fmt: skip
        return [(a * x0 + b * x1 + c * x2 + d * x3, a * y0 + b * y1 + c * y2 + d * y3)
                for a, b, c, d in weights]  # fmt: skip
    out = []
    for (ax, ay), (bx, by) in pairwise(edge.route):
        out += [(ax + (bx - ax) * i / n, ay + (by - ay) * i / n) for i in range(n)]
    return [*out, edge.route[-1]]


def _inside(drawn: Graph, area: tuple[float, float, float, float], what: object) -> None:
    """``area`` (left, top, right, bottom) is on the picture."""
    left, top, right, bottom = area
    assert left >= 0, what
    assert top >= 0, what
    assert right <= drawn.width, what
    assert bottom <= drawn.height, what


def _check(drawn: Graph, definition: dict[str, Any]) -> None:
    """A box per step and an arrow per way out; no two boxes overlap; everything (boxes,
    arrows, labels as wide as their text) is inside the picture."""
    steps = {s["id"]: s for s in definition["steps"]}
    assert [n.id for n in drawn.nodes] == list(steps)
    arrows = {(e.source, e.target) for e in drawn.edges}
    assert len(arrows) == len(drawn.edges)  # two ways to one step are one arrow
    assert arrows == {(sid, t) for sid, step in steps.items() for t in _ways(step)}
    boxes = [(n.x, n.y, n.x + n.width, n.y + n.height) for n in drawn.nodes]
    for i, a in enumerate(boxes):
        _inside(drawn, a, a)
        for b in boxes[i + 1 :]:
            assert a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1], (a, b)
    for e in drawn.edges:
        along = _along(e)
        for x, y in along:
            _inside(drawn, (x, y, x, y), e)
        # no arrow crosses a box: only its own ends touch one, on its sides
        for x, y in along[1:-1]:
            for box in boxes:
                assert not (box[0] < x < box[2] and box[1] < y < box[3]), (e, x, y, box)
        for i, label in enumerate(e.labels):
            width = len(label) * graph.LABEL_CHAR
            left = {"start": 0, "middle": width / 2, "end": width}[e.anchor]
            x, y = e.label_x - left, e.label_y + 12 * i  # the line's left end, on its baseline
            _inside(drawn, (x, y - 10, x + width, y + 3), (e, label))


def test_the_mortgage_journey_reads_left_to_right_with_its_counts() -> None:
    definition = mortgage_journey()
    drawn = layout(definition, {"lead": (71, 644), "wait_lead": (214, 787)})
    _check(drawn, definition)
    x = {n.id: n.x for n in drawn.nodes}
    # columns by distance from the start: the lead, the wait, the branch, its three ways
    assert x["lead"] < x["wait_lead"] < x["responded"] < x["appointment"]
    assert x["appointment"] == x["reminder"] == x["no_response"]
    nodes = {n.id: n for n in drawn.nodes}
    assert (nodes["lead"].waiting, nodes["lead"].entered) == (71, 644)
    assert (nodes["offered"].waiting, nodes["offered"].entered) == (0, 0)
    assert [n.id for n in drawn.nodes if n.start] == ["lead"]
    edges = {(e.source, e.target): e for e in drawn.edges}
    wait = edges[("wait_lead", "responded")]
    assert (wait.kinds, wait.labels) == (("next", "timeout"), ("click, accept", "timeout 7d"))
    assert not wait.dashed  # a response is the way it is meant to go
    assert edges[("appointment", "appointment_app")].dashed  # an expiry
    assert edges[("lead", "lead")].labels == ("blocked: retry 2d ×3",)
    assert edges[("reminder", None)].title == "blocked: exit with reason blocked"
    # the reminder's arrow back to the wait runs below the boxes it passes
    back = edges[("reminder", "wait_lead")]
    lowest = max(n.y + n.height for n in drawn.nodes)
    assert back.label_y > lowest


def test_a_skip_on_a_blocked_offer_shares_the_arrow_to_the_next_step() -> None:
    definition = {"id": "j", "start": "a", "steps": [
        {"id": "a", "type": "offer", "channel": "email", "offers": ["o"], "next": "b",
         "on_blocked": {"action": "skip"}},
        {"id": "b", "type": "exit", "reason": "done"}]}  # fmt: skip
    drawn = layout(definition)
    [edge] = drawn.edges
    assert (edge.source, edge.target, edge.kinds) == ("a", "b", ("next", "blocked"))
    assert edge.labels == ("shown", "blocked: skip")
    _check(drawn, definition)


def test_a_branch_condition_written_as_json_reads_as_text() -> None:
    condition = {"kind": "in", "element": {"kind": "name", "path": "customer.tier"},
                 "container": {"kind": "list", "values": ["premium", "gold"]}}  # fmt: skip
    assert graph.condition_text(condition) == 'customer.tier in ["premium", "gold"]'
    assert graph.condition_text({"kind": "nonsense"}) == '{"kind": "nonsense"}'
    step = {"id": "b", "type": "branch", "otherwise": "c",
            "branches": [{"condition": condition, "next": "d"}]}  # fmt: skip
    assert graph.describe(step) == 'if customer.tier in ["premium", "gold"]: d; otherwise: c'


@pytest.mark.parametrize("seed", range(60))
def test_any_step_graph_is_drawn_with_nothing_on_top_of_anything(seed: int) -> None:
    definition = _random_journey(random.Random(seed))
    drawn = layout(definition)
    _check(drawn, definition)
    assert layout(definition) == drawn  # the same definition, the same picture
