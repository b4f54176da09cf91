"""What a person reads: governance results as text and tables (``--json`` prints the data).

Each view takes the plain data the service returns (the same as the API's JSON) and reads
it with ``.get``, so that a field it does not know is shown by ``generic`` rather than lost.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from typing import Any

import typer
from rich.table import Table

from .output import out

__all__ = [
    "View",
    "backtest",
    "generic",
    "history",
    "print_json",
    "proposal",
    "review",
    "rule_change",
]

View = Callable[[Any], None]


def print_json(data: Any) -> None:
    """Valid JSON with real UTF-8 (``→``, not ``\\u2192``), for machines."""
    typer.echo(json.dumps(data, indent=2, default=str, ensure_ascii=False))


def _when(value: Any) -> str:
    if not isinstance(value, str):
        return "" if value is None else str(value)
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        return value
    if moment.tzinfo is not None:
        moment = moment.astimezone(dt.UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def _value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list | tuple):
        return ", ".join(_value(v) for v in value)
    if isinstance(value, dict):
        shown = {k: v for k, v in value.items() if v not in (None, "", [], {})}
        return ", ".join(f"{k} {_value(v)}" for k, v in shown.items())
    return "" if value is None else str(value)


def _who(data: dict[str, Any], field: str) -> str:
    """A person as the README promises: their key's label with the key's id beside it."""
    key_id = _value(data.get(field))
    label = data.get(f"{field}_label")
    return f"{label} ({key_id})" if label and key_id and label != key_id else key_id


def _line(text: str) -> None:
    out.print(text, markup=False)


def generic(data: Any, indent: str = "") -> None:
    """Any result: one ``key: value`` line per field, nested fields indented."""
    if not isinstance(data, dict):
        _line(f"{indent}{_value(data)}")
        return
    for key, value in data.items():
        if isinstance(value, dict) and value:
            _line(f"{indent}{key}:")
            generic(value, indent + "  ")
        else:
            _line(f"{indent}{key}: {_value(value)}")


def proposal(p: dict[str, Any]) -> None:
    """A proposal: its rule, trigger, offers, priority, statistics, author and status."""
    if "id" not in p:
        if p.get("updated") and p.get("status") == "live":  # re-mined: a live rule's stats
            _line(f"rule {p.get('rule_id')} is live with this trigger and these offers:"
                  " its statistics were updated")  # fmt: skip
        else:
            generic(p)
        return
    verb = "updated" if p.get("updated") else "proposal"
    _line(f"{verb} {p['id']} ({p.get('status', '')}) for rule {p.get('rule_id') or '(new)'}")
    _line(f"  trigger:   {p.get('text') or _value(p.get('trigger'))}")
    _line(f"  offers:    {_value(p.get('offers'))}")
    _line(f"  priority:  {_value(p.get('priority'))}")
    if p.get("description"):
        _line(f"  about:     {p['description']}")
    stats = p.get("stats") or {}
    if stats:
        _line(f"  stats:     {_value(stats)}")
    _line(f"  author:    {_who(p, 'author')}, {_when(p.get('created_at'))}")
    if p.get("updated_at") and p.get("updated_at") != p.get("created_at"):
        _line(f"  updated:   {_when(p['updated_at'])}")
    shown = {"id", "status", "rule_id", "text", "trigger", "offers", "priority", "description",
             "stats", "author", "author_label", "created_at", "updated_at", "updated"}  # fmt: skip
    rest = {k: v for k, v in p.items() if k not in shown}
    if rest:
        generic(rest, "  ")


def backtest(b: dict[str, Any]) -> None:
    """A backtest: how often the draft fires on recent requests and what it changes."""
    if "requests" not in b:
        generic(b)
        return
    requests, fires = b.get("requests", 0), b.get("fires", 0)
    rate = f" ({100 * b['fire_rate']:.1f}%)" if isinstance(b.get("fire_rate"), float) else ""
    _line(f"backtest of {b.get('rule_id', '')} on the last {b.get('days', '')} days:")
    _line(f"  requests replayed:  {requests:,} ({b.get('skipped', 0):,} skipped)")
    _line(f"  fires on:           {fires:,}{rate}")
    _line(f"  decisions changed:  {b.get('changed', 0):,}")
    added = b.get("added") or {}
    pushed = b.get("pushed_out") or {}
    _line(f"  offers added:       {', '.join(f'{k} ×{v}' for k, v in added.items()) or 'none'}")
    _line(f"  offers pushed out:  {', '.join(f'{k} ×{v}' for k, v in pushed.items()) or 'none'}")
    ev = b.get("ev_change_per_request")
    if isinstance(ev, dict) and "mean" in ev:
        level = f"{100 * ev.get('confidence', 0.95):.0f}%"
        _line(f"  EV change/request:  {ev['mean']:+.4g} ({level} interval {ev.get('low', 0):+.4g}"
              f" to {ev.get('high', 0):+.4g})")  # fmt: skip
    shown = {"rule_id", "days", "requests", "skipped", "fires", "fire_rate", "changed", "added",
             "pushed_out", "ev_change_per_request"}  # fmt: skip
    rest = {k: v for k, v in b.items() if k not in shown}
    if rest:
        generic(rest, "  ")


def review(data: dict[str, Any]) -> None:
    """A proposal with its backtest."""
    proposal(data.get("proposal") or {})
    _line("")
    backtest(data.get("backtest") or {})


def history(h: dict[str, Any]) -> None:
    """A rule's revisions (the live one marked) and every action on it."""
    live = h.get("live_revision")
    _line(f"rule {h.get('rule_id', '')}: " + (f"revision {live} is live" if live else "off"))
    revisions = Table(title="revisions", title_justify="left")
    for column in ("rev", "live", "trigger", "offers", "priority", "author", "reason", "created"):
        revisions.add_column(column, overflow="fold")
    for r in h.get("revisions", []):
        revisions.add_row(str(r.get("revision", "")), "live" if r.get("live") else "",
                          _value(r.get("trigger")), _value(r.get("offers")),
                          _value(r.get("priority")), _who(r, "author"),
                          _value(r.get("reason")), _when(r.get("created_at")))  # fmt: skip
    out.print(revisions)
    audit = Table(title="audit", title_justify="left")
    for column in ("when", "action", "by", "details"):
        audit.add_column(column, overflow="fold")
    for a in h.get("audit", []):
        audit.add_row(_when(a.get("occurred_at")), _value(a.get("action")),
                      _who(a, "actor"), _value(a.get("details")))  # fmt: skip
    out.print(audit)


def rule_change(r: dict[str, Any]) -> None:
    """What an approve, restore, activate, deactivate or reject did."""
    rule = r.get("rule_id")
    snapshot = f" (snapshot {r['snapshot']})" if r.get("snapshot") else ""
    if r.get("status") == "rejected":
        _line(f"rejected proposal {r.get('proposal', '')}")
    elif "restored_from" in r:
        _line(f"rule {rule}: revision {r.get('revision')} (a copy of revision"
              f" {r['restored_from']}) is live{snapshot}")  # fmt: skip
    elif "live_revision" in r:
        live = r["live_revision"]
        state = f"revision {live} is live" if live else "off (no revision is live)"
        _line(f"rule {rule}: {state}{snapshot}")
    elif rule is not None and "revision" in r:
        state = "is live" if r.get("live") else "is stored, not live"
        _line(f"rule {rule}: revision {r['revision']} {state}{snapshot}")
    else:
        generic(r)
        return
    shown = {"rule_id", "snapshot", "status", "proposal", "restored_from", "live_revision",
             "revision", "live"}  # fmt: skip
    rest = {k: v for k, v in r.items() if k not in shown}
    if rest:
        generic(rest, "  ")
