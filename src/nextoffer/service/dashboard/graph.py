"""A journey's graph of steps laid out for its page: one box per step, in columns by the
step's distance from ``start``, and an arrow for each way out of a step (``next``, each
branch and ``otherwise``, ``on_timeout``, ``on_expired``, ``on_blocked``), in SVG
coordinates; ``_journey_graph.html`` draws it.

Arrows to the next column curve across the gap; an arrow back (the reminder's return to
the wait) runs in straight lines below the boxes in between, and one within a column
around its right side; a retry on a blocked offer loops on its box, and an exit on a
blocked offer is a short arrow out of it. No arrow crosses a box.
Two ways out to the same step are one arrow with both labels. Each box carries its counts:
the customers at the step now and through it (entered), from the journey's report.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ...core.rules import condition_adapter, to_text

__all__ = ["CHAR", "COLUMN_GAP", "HEIGHT", "LABEL_CHAR", "PAD", "ROW_GAP", "WIDTH", "Edge", "Graph",
           "Node", "condition_text", "describe", "layout"]  # fmt: skip

WIDTH, HEIGHT = 172.0, 62.0  # a step's box
COLUMN_GAP, ROW_GAP = 84.0, 46.0
PAD = 16.0
CHAR = 5.8  # the width of a character of the box's detail line (11px), roughly
LABEL_CHAR = 5.6  # and of an arrow's label (10px)
_DASHED = frozenset({"timeout", "expired", "blocked"})


@dataclass(frozen=True, slots=True)
class Node:
    """A step's box: ``x``, ``y`` its top left corner."""

    id: str
    type: str
    detail: str  # one short line under the id
    title: str  # the whole description (the box's tooltip)
    x: float
    y: float
    waiting: int
    entered: int
    start: bool
    width: float = WIDTH
    height: float = HEIGHT


@dataclass(frozen=True, slots=True)
class Edge:
    """An arrow from step ``source`` to step ``target`` (None: out of the journey) along
    ``route``: a cubic Bézier curve's four points (``curved``), or the corners of straight
    lines, drawn with rounded corners (``path``, SVG's); its label's first line at
    (``label_x``, ``label_y``), the next ones below it."""

    source: str
    target: str | None
    kinds: tuple[str, ...]  # next, branch, otherwise, timeout, expired, blocked
    labels: tuple[str, ...]
    title: str
    route: tuple[tuple[float, float], ...]
    curved: bool
    label_x: float
    label_y: float
    anchor: str  # the label's text-anchor: start, middle, end

    @property
    def path(self) -> str:
        """The arrow as an SVG path's ``d``."""
        if self.curved:
            (x0, y0), (x1, y1), (x2, y2), (x3, y3) = self.route
            return f"M{x0:.1f},{y0:.1f} C{x1:.1f},{y1:.1f} {x2:.1f},{y2:.1f} {x3:.1f},{y3:.1f}"
        return _rounded(self.route)

    @property
    def dashed(self) -> bool:
        """Only the exceptional ways out (a timeout, an expiry, a block) are dashed."""
        return all(k in _DASHED for k in self.kinds)


@dataclass(frozen=True, slots=True)
class Graph:
    nodes: tuple[Node, ...]
    edges: tuple[Edge, ...]
    width: float
    height: float


def condition_text(condition: Any) -> str:
    """A condition as the rule language writes it (a JSON AST printed back as text)."""
    if isinstance(condition, str):
        return condition
    try:
        return to_text(condition_adapter.validate_python(condition))
    except ValueError:
        return json.dumps(condition, ensure_ascii=False)


def describe(step: Mapping[str, Any]) -> str:
    """What a step does, in one sentence of the definition's own words."""
    kind = step.get("type")
    if kind == "offer":
        where = step["channel"] + (f" ({', '.join(step['placements'])})"
                                   if step.get("placements") else "")  # fmt: skip
        text = f"offer {', '.join(step['offers'])} on {where}, {step.get('mode', 'outbound')}"
        if step.get("expires_after"):
            text += f", for {step['expires_after']}"
        return text
    if kind == "wait":
        until = step.get("until")
        if until:
            return (f"wait for {' or '.join(until['events'])} on step {until['step']}'s offers, "
                    f"at most {until['timeout']}")  # fmt: skip
        return f"wait {step.get('duration')}"
    if kind == "branch":
        ways = [f"if {condition_text(b['condition'])}: {b['next']}" for b in step["branches"]]
        return "; ".join([*ways, f"otherwise: {step['otherwise']}"])
    return f"exit with reason {step.get('reason', '')}"


def _detail(step: Mapping[str, Any]) -> str:
    kind = step.get("type")
    if kind == "offer":
        text = f"offer · {step['channel']}, {step.get('mode', 'outbound')}"
    elif kind == "wait":
        until = step.get("until")
        text = (f"wait ≤ {until['timeout']}: {', '.join(until['events'])}" if until
                else f"wait {step.get('duration')}")  # fmt: skip
    elif kind == "branch":
        text = f"branch · {len(step['branches']) + 1} ways"
    else:
        text = f"exit · {step.get('reason', '')}"
    room = int((WIDTH - 16) / CHAR)
    return text if len(text) <= room else text[: room - 1] + "…"


def _blocked(step: Mapping[str, Any]) -> tuple[str, str | None, str, str]:
    """An offer step's ``on_blocked``: (label, target, kind of target, tooltip)."""
    on = step.get("on_blocked") or {}
    action, reason = on.get("action", "exit"), on.get("reason", "blocked")
    if action == "skip":
        return "blocked: skip", step["next"], "step", "blocked: skip to the next step"
    if action == "retry":
        n = on.get("max_retries", 1)
        return (f"blocked: retry {on['retry_after']} ×{n}", step["id"], "step",
                f"blocked: retry after {on['retry_after']}, at most {n} times, then exit "
                f"({reason})")  # fmt: skip
    return "blocked: exit", None, "out", f"blocked: exit with reason {reason}"


def _ways_out(step: Mapping[str, Any]) -> list[tuple[str | None, str, str, str]]:
    """A step's ways out, in order: (target, kind, label, tooltip)."""
    kind = step.get("type")
    out: list[tuple[str | None, str, str, str]] = []
    if kind == "offer":
        out.append((step["next"], "next", "shown", "shown: next step"))
        if step.get("mode") == "inbound":
            target = step.get("on_expired") or step["next"]
            label = f"expired {step.get('expires_after', '')}".strip()
            out.append((target, "expired", label, f"not taken within {step.get('expires_after')}"))
        label, target, _, title = _blocked(step)
        out.append((target, "blocked", label, title))
    elif kind == "wait":
        until = step.get("until")
        if until:
            events = ", ".join(until["events"])
            out.append((step["next"], "next", events, f"{events} on step {until['step']}"))
            out.append((step.get("on_timeout") or step["next"], "timeout",
                        f"timeout {until['timeout']}", f"nothing within {until['timeout']}"))  # fmt: skip
        else:
            out.append((step["next"], "next", f"after {step.get('duration')}",
                        f"after {step.get('duration')}"))  # fmt: skip
    elif kind == "branch":
        for i, b in enumerate(step["branches"], 1):
            out.append((b["next"], "branch", f"if {i}", f"if {condition_text(b['condition'])}"))
        out.append((step["otherwise"], "otherwise", "otherwise", "none of the conditions hold"))
    return out


def _columns(steps: Mapping[str, Mapping[str, Any]], start: str) -> dict[str, int]:
    """Each step's column: its distance from ``start`` (steps the start cannot reach, after
    the others)."""
    column = {start: 0} if start in steps else {}
    queue = list(column)
    while queue:
        here = queue.pop(0)
        for target, *_ in _ways_out(steps[here]):
            if target is not None and target in steps and target not in column:
                column[target] = column[here] + 1
                queue.append(target)
    last = max(column.values(), default=-1) + 1
    for sid in steps:
        column.setdefault(sid, last)
    return column


class _Layout:
    def __init__(self, steps: Sequence[Mapping[str, Any]], start: str) -> None:
        self.steps = {s["id"]: s for s in steps}
        self.column = _columns(self.steps, start)
        # the arrows: ways out to the same target merged, in the order they were written
        self.arrows: dict[tuple[str, str | None], list[tuple[str, str, str]]] = {}
        for sid, step in self.steps.items():
            for target, kind, label, title in _ways_out(step):
                if target is not None and target not in self.steps:
                    continue  # a broken reference (not published): nothing to point at
                self.arrows.setdefault((sid, target), []).append((kind, label, title))
        self.order = self._order()
        tallest = max((len(c) for c in self.order), default=0)
        self.x: dict[str, float] = {}
        self.y: dict[str, float] = {}
        for i, col in enumerate(self.order):
            top = (tallest - len(col)) * (HEIGHT + ROW_GAP) / 2
            for j, sid in enumerate(col):
                self.x[sid] = i * (WIDTH + COLUMN_GAP)
                self.y[sid] = top + j * (HEIGHT + ROW_GAP)

    def _order(self) -> list[list[str]]:
        """The steps of each column, top to bottom: by the mean row of the steps in earlier
        columns that lead to them (fewer crossings), else in the order they were found."""
        discovered = {s: i for i, s in enumerate(self.column)}
        found = sorted(self.steps, key=lambda s: (self.column[s], discovered[s]))
        columns: list[list[str]] = [[] for _ in range(max(self.column.values(), default=-1) + 1)]
        for sid in found:
            columns[self.column[sid]].append(sid)
        row: dict[str, float] = {}
        for i, col in enumerate(columns):
            offset = (max(map(len, columns)) - len(col)) / 2

            def weight(sid: str, i: int = i) -> float:
                before = [row[s] for (s, t) in self.arrows
                          if t == sid and s in row and self.column[s] < i]  # fmt: skip
                return sum(before) / len(before) if before else float("inf")

            col.sort(key=lambda sid: (weight(sid), discovered[sid]))
            for j, sid in enumerate(col):
                row[sid] = offset + j
        return columns


def layout(
    definition: Mapping[str, Any], counts: Mapping[str, tuple[int, int]] | None = None
) -> Graph:
    """The graph of ``definition``'s steps; ``counts`` gives each step's (waiting now,
    entered) customers (none: zeros)."""
    counts = counts or {}
    start = definition.get("start", "")
    at = _Layout(definition.get("steps", ()), start)
    box = {s: (at.x[s], at.y[s]) for s in at.steps}
    forward = {(s, t) for (s, t) in at.arrows
               if t is not None and at.column[t] == at.column[s] + 1}  # fmt: skip

    def spread(sid: str, others: list[str]) -> dict[str, float]:
        """Where the arrows to (or from) ``others`` meet a side of ``sid``'s box, top to
        bottom in the order of the other ends."""
        ordered = sorted(others, key=lambda o: box[o][1])
        return {o: box[sid][1] + HEIGHT * (k + 1) / (len(ordered) + 1)
                for k, o in enumerate(ordered)}  # fmt: skip

    outs = {s: spread(s, [t for (a, t) in forward if a == s and t is not None]) for s in at.steps}
    ins = {t: spread(t, [s for (s, b) in forward if b == t]) for t in at.steps}
    curves: list[_Curve] = []
    below = 0
    beside: dict[int, int] = {}  # arrows within each column so far
    lowest = {}  # each step's column's lowest step
    for col in at.order:
        lowest.update(dict.fromkeys(col, col[-1]))
    for s, t in at.arrows:
        lines = len(at.arrows[(s, t)])
        sx, sy = box[s]
        if t is None:  # out of the journey: a short arrow down from the box
            x = sx + WIDTH - 22
            points = [(x, sy + HEIGHT), (x, sy + HEIGHT + 8), (x, sy + HEIGHT + 14),
                      (x, sy + HEIGHT + 22)]  # fmt: skip
            curves.append(_Curve(s, t, points, x - 7, sy + HEIGHT + 19, "end"))
            continue
        tx, ty = box[t]
        if t == s:  # a retry: a loop on the box's top
            cx = sx + WIDTH / 2
            points = [(cx - 14, sy), (cx - 40, sy - 38), (cx + 40, sy - 38), (cx + 14, sy)]
            curves.append(_Curve(s, t, points, cx, sy - 32 - 12 * (lines - 1), "middle"))
        elif (s, t) in forward:
            y1, y2 = outs[s][t], ins[t][s]
            x1, x2 = sx + WIDTH, tx
            mid = (x2 - x1) / 2
            points = [(x1, y1), (x1 + mid, y1), (x2 - mid, y2), (x2, y2)]
            # on the curve's first half, where the arrows out of one box are still apart
            lx, ly = _bezier(points, 0.35)
            curves.append(_Curve(s, t, points, lx, ly - 5 - 12 * (lines - 1), "middle"))
        elif at.column[t] == at.column[s]:  # within a column: around its right side
            k = beside.get(at.column[s], 0)
            beside[at.column[s]] = k + 1
            x, bend = sx + WIDTH, sx + WIDTH + COLUMN_GAP * (0.45 + 0.1 * (k % 3))
            up = ty < sy
            y1 = sy + HEIGHT * (0.25 if up else 0.75)
            y2 = ty + HEIGHT * (0.75 if up else 0.25)
            points = [(x, y1), (bend, y1), (bend, y2), (x, y2)]
            lx, ly = _bezier(points, 0.5)
            curves.append(_Curve(s, t, points, lx + 6, ly + 4 - 6 * (lines - 1), "start"))
        else:  # back to an earlier column (columns are distances from the start, so an
            # arrow forward never skips one): around the boxes in between, below them
            lo, hi = at.column[t], at.column[s]
            lane = max(box[b][1] + HEIGHT for b in at.steps if lo <= at.column[b] <= hi)
            lane += 22 + 16 * below
            shift = 6 * below
            below += 1
            # out of the box's bottom when nothing is below it in its column, else out of
            # its left side and down the gap before it; into the target the same way, by
            # its bottom or up the gap after its column to its right side
            if lowest[s] == s:
                route = [(sx + WIDTH * 0.3 - shift, sy + HEIGHT)]
            else:
                gap = sx - COLUMN_GAP * 0.3 - shift
                route = [(sx, sy + HEIGHT * 0.8), (gap, sy + HEIGHT * 0.8)]
            if lowest[t] == t:
                end = [(tx + WIDTH * 0.7 + shift, ty + HEIGHT)]
            else:
                gap = tx + WIDTH + COLUMN_GAP * 0.3 + shift
                end = [(gap, ty + HEIGHT * 0.8), (tx + WIDTH, ty + HEIGHT * 0.8)]
            route += [(route[-1][0], lane), (end[0][0], lane), *end]
            middle = (route[-len(end) - 1][0] + route[-len(end) - 2][0]) / 2
            curves.append(_Curve(s, t, route, middle, lane + 13, "middle", curved=False))
    # everything placed, then moved so that the drawing starts at (PAD, PAD)
    xs = [x for x, _ in box.values()] + [x - 14 for x, _ in box.values()]  # the start's arrow
    xs += [x + WIDTH for x, _ in box.values()]
    ys = [y for _, y in box.values()] + [y + HEIGHT for _, y in box.values()]
    for c in curves:
        xs += [p[0] for p in c.points]
        ys += [p[1] for p in c.points]
        for i, label in enumerate(at.arrows[(c.source, c.target)]):
            width = len(label[1]) * LABEL_CHAR
            left = {"start": c.x, "middle": c.x - width / 2, "end": c.x - width}[c.anchor]
            xs += [left, left + width]
            ys += [c.y + 12 * i - 10, c.y + 12 * i + 3]
    dx, dy = PAD - min(xs, default=0.0), PAD - min(ys, default=0.0)
    nodes = tuple(
        Node(id=sid, type=str(step.get("type", "")), detail=_detail(step),
             title=f"{sid}: {describe(step)}", x=box[sid][0] + dx, y=box[sid][1] + dy,
             waiting=counts.get(sid, (0, 0))[0], entered=counts.get(sid, (0, 0))[1],
             start=sid == start)
        for sid, step in at.steps.items()
    )  # fmt: skip
    edges = []
    for c in curves:
        ways = at.arrows[(c.source, c.target)]
        edges.append(
            Edge(source=c.source, target=c.target, kinds=tuple(k for k, _, _ in ways),
                 labels=tuple(label for _, label, _ in ways),
                 title="; ".join(title for _, _, title in ways),
                 route=tuple((round(x + dx, 1), round(y + dy, 1)) for x, y in c.points),
                 curved=c.curved, label_x=round(c.x + dx, 1), label_y=round(c.y + dy, 1),
                 anchor=c.anchor)
        )  # fmt: skip
    width = max(xs, default=0.0) + dx + PAD
    height = max(ys, default=0.0) + dy + PAD
    return Graph(nodes, tuple(edges), round(width), round(height))


@dataclass(frozen=True, slots=True)
class _Curve:
    """An arrow being placed: its route (as ``Edge``'s), and its label's first line."""

    source: str
    target: str | None
    points: list[tuple[float, float]]
    x: float
    y: float
    anchor: str
    curved: bool = True


def _rounded(corners: Sequence[tuple[float, float]], radius: float = 10.0) -> str:
    """Straight lines through ``corners``, each corner rounded (an SVG path's ``d``)."""
    (x0, y0), *rest = corners
    d = [f"M{x0:.1f},{y0:.1f}"]
    for (ax, ay), (bx, by), (cx, cy) in zip(corners, rest, rest[1:], strict=False):
        before = max(abs(bx - ax), abs(by - ay))
        after = max(abs(cx - bx), abs(cy - by))
        r = min(radius, before / 2, after / 2)
        if r <= 0:  # a corner on a line of no length: a plain corner
            d.append(f"L{bx:.1f},{by:.1f}")
            continue
        ix = bx - r * ((bx > ax) - (bx < ax))
        iy = by - r * ((by > ay) - (by < ay))
        ox = bx + r * ((cx > bx) - (cx < bx))
        oy = by + r * ((cy > by) - (cy < by))
        d.append(f"L{ix:.1f},{iy:.1f} Q{bx:.1f},{by:.1f} {ox:.1f},{oy:.1f}")
    xn, yn = corners[-1]
    d.append(f"L{xn:.1f},{yn:.1f}")
    return " ".join(d)


def _bezier(points: Sequence[tuple[float, float]], t: float) -> tuple[float, float]:
    """The point at ``t`` (0 to 1) along a cubic Bézier curve."""
    (x0, y0), (x1, y1), (x2, y2), (x3, y3) = points
    u = 1 - t
    a, b, c, d = u**3, 3 * u * u * t, 3 * u * t * t, t**3
    return a * x0 + b * x1 + c * x2 + d * x3, a * y0 + b * y1 + c * y2 + d * y3
