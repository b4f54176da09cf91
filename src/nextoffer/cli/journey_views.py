"""What a person reads of journeys: the list, a journey with its steps and versions, a
proposal, a publish, the report and a simulation, as text and tables.

Each view takes the plain data the service returns (the same as the API's JSON).
"""

from __future__ import annotations

from typing import Any

from rich.table import Table

from .output import out
from .views import generic

__all__ = [
    "journey",
    "journeys",
    "proposal",
    "published",
    "report",
    "simulated",
    "step_line",
    "when",
    "who",
]


def when(value: Any) -> str:
    """An ISO time as ``2026-03-02 09:00 UTC`` (given in UTC by the service)."""
    text = "" if value is None else str(value)
    return text[:16].replace("T", " ") + " UTC" if len(text) >= 16 else text


def who(data: dict[str, Any], field: str) -> str:
    """A person as the rules' views name them: their key's label, the key's id beside it."""
    key_id = str(data.get(field) or "")
    label = data.get(f"{field}_label")
    return f"{label} ({key_id})" if label and key_id and label != key_id else key_id


def _line(text: str) -> None:
    out.print(text, markup=False)


def _table(title: str, *columns: str, right: tuple[str, ...] = ()) -> Table:
    table = Table(title=title, title_justify="left")
    for column in columns:
        table.add_column(column, overflow="fold", justify="right" if column in right else "left")
    return table


def _condition(condition: Any) -> str:
    """A condition as its text (a condition written as JSON: in canonical text)."""
    if isinstance(condition, str):
        return " ".join(condition.split())
    from ..core.rules import condition_adapter, to_text

    try:
        return to_text(condition_adapter.validate_python(condition))
    except ValueError:
        return str(condition)


def step_line(step: dict[str, Any]) -> tuple[str, str]:
    """(what the step does, where it goes) in a few words."""
    kind = step.get("type")
    if kind == "offer":
        where = step.get("channel", "")
        if step.get("placements"):
            where += f" ({', '.join(step['placements'])})"
        what = f"{step.get('mode', 'outbound')} on {where}: {', '.join(step.get('offers', ()))}"
        if step.get("expires_after"):
            what += f"; expires after {step['expires_after']}"
        blocked = step.get("on_blocked") or {}
        if blocked:
            retry = (f" after {blocked.get('retry_after')} (at most {blocked.get('max_retries', 1)})"
                     if blocked.get("action") == "retry" else "")  # fmt: skip
            what += f"; if blocked: {blocked.get('action', 'exit')}{retry}"
        goes = step.get("next", "")
        if step.get("on_expired"):
            goes += f"; expired → {step['on_expired']}"
        return what, goes
    if kind == "wait":
        until = step.get("until")
        if until:
            what = (f"until {' or '.join(until.get('events', ()))} on {until.get('step')}, "
                    f"at most {until.get('timeout')}")  # fmt: skip
            goes = step.get("next", "")
            if step.get("on_timeout"):
                goes += f"; timeout → {step['on_timeout']}"
            return what, goes
        return f"{step.get('duration')}", step.get("next", "")
    if kind == "branch":
        ways = [f"{_condition(b.get('condition'))} → {b.get('next')}"
                for b in step.get("branches", ())]  # fmt: skip
        return "; ".join(ways), f"otherwise → {step.get('otherwise', '')}"
    if kind == "exit":
        return f"leave: {step.get('reason', '')}", ""
    return "", ""


def journeys(data: dict[str, Any]) -> None:
    """Every journey, then the proposals waiting for an approver."""
    table = _table("journeys", "journey", "name", "live", "versions", "in it now",
                   "open proposals", right=("versions", "in it now", "open proposals"))  # fmt: skip
    for j in data.get("journeys", ()):
        live = j.get("live_version")
        table.add_row(j["id"], j.get("name", ""), f"v{live}" if live else "none",
                      str(j.get("versions", 0)), f"{j.get('active', 0):,}",
                      str(j.get("open_proposals", 0)))  # fmt: skip
    out.print(table)
    _proposals("open proposals", data.get("proposals", ()))


def _proposals(title: str, proposals: Any) -> None:
    table = _table(title, "proposal", "journey", "status", "author", "reason", "created")
    for p in proposals:
        table.add_row(p["id"], p.get("journey_id", ""), p.get("status", ""),
                      who(p, "author"), p.get("reason", ""), when(p.get("created_at")))  # fmt: skip
    out.print(table)


def journey(j: dict[str, Any]) -> None:
    """A journey: its live definition (entry, steps, exits), every version, its proposals."""
    live = j.get("live_version")
    versions = j.get("versions", [])
    state = f"version {live} is live" if live else "no version is published"
    _line(f"journey {j.get('id')}: {state} ({len(versions)} version(s))")
    definition = j.get("definition")
    if definition is None and j.get("proposals"):
        definition = j["proposals"][-1].get("definition")
        _line("the newest proposal's definition:")
    if definition:
        _definition(definition)
    table = _table("versions", "version", "live", "author", "reason", "source", "created")
    for v in versions:
        source = v.get("source") or {}
        if "restored_from" in source:
            origin = f"restored from v{source['restored_from']}"
        else:
            approver = {**source, "approved_by_label": v.get("approved_by_label")}
            proposal_id = str(source.get("proposal", ""))[:8]  # in full with --json
            origin = f"proposal {proposal_id}, approved by {who(approver, 'approved_by')}"
        table.add_row(str(v["version"]), "live" if v["version"] == live else "",
                      who(v, "author"), v.get("reason", ""), origin,
                      when(v.get("created_at")))  # fmt: skip
    out.print(table)
    _proposals("proposals", j.get("proposals", ()))


def _definition(d: dict[str, Any]) -> None:
    if d.get("name"):
        _line(f"  name:          {d['name']}")
    entry = d.get("entry") or {}
    _line(f"  entry:         {_condition(entry.get('condition'))}")
    arrivals = [*(f"event {e}" for e in entry.get("events", ())),
                *(f"request on {c}" for c in entry.get("channels", ()))]  # fmt: skip
    if arrivals:
        _line(f"  checked on:    {', '.join(arrivals)}")
    if entry.get("segment") is not None:
        _line(f"  segment:       {_condition(entry['segment'])}")
    _line(f"  max duration:  {d.get('max_duration', '')}")
    _line(f"  holdout:       {100 * float(d.get('holdout_share', 0)):g}%")
    if d.get("goal"):
        _line(f"  goal:          conversions on {', '.join(d['goal'])}")
    reentry = d.get("reentry") or {}
    if reentry:
        _line(f"  re-entry:      {_pairs(reentry)}")
    caps = d.get("caps") or {}
    if caps:
        _line(f"  caps:          {_pairs(caps)}")
    steps = _table(f"steps (from {d.get('start', '')})", "step", "type", "does", "then")
    for s in d.get("steps", ()):
        what, goes = step_line(s)
        steps.add_row(s.get("id", ""), s.get("type", ""), what, goes)
    out.print(steps)
    exits = d.get("exit_conditions") or ()
    if exits:
        table = _table("exit conditions (at once, at any step)", "when", "reason")
        for e in exits:
            table.add_row(_condition(e.get("condition")), e.get("reason", ""))
        out.print(table)


def _pairs(values: dict[str, Any]) -> str:
    return ", ".join(f"{k} {v}" for k, v in values.items() if v is not None)


def proposal(p: dict[str, Any]) -> None:
    """A proposal: its journey, status, author and reason."""
    if "id" not in p:
        generic(p)
        return
    _line(f"proposal {p['id']} ({p.get('status', '')}) for journey {p.get('journey_id', '')}")
    _line(f"  author:  {who(p, 'author')}, {when(p.get('created_at'))}")
    if p.get("reason"):
        _line(f"  reason:  {p['reason']}")
    if p.get("reviewer"):
        _line(
            f"  {p.get('status', 'reviewed')} by {who(p, 'reviewer')}: {p.get('review_reason') or ''}"
        )
    steps = (p.get("definition") or {}).get("steps", ())
    _line(f"  steps:   {', '.join(s.get('id', '') for s in steps)}")


def published(r: dict[str, Any]) -> None:
    """What a publish or a restore did."""
    origin = (f" (a copy of version {r['restored_from']})" if r.get("restored_from")
              else f" (proposal {r['proposal']})" if r.get("proposal") else "")  # fmt: skip
    state = "is live for new entries" if r.get("live") else "is stored, not live"
    _line(f"journey {r.get('journey_id')}: version {r.get('version')}{origin} {state}; "
          "customers already in it stay on their version")  # fmt: skip


def _pct(x: float) -> str:
    return f"{100 * x:.2f}%"


def report(r: dict[str, Any]) -> None:
    """The funnel per step, exits by reason, and the entrants against the holdout."""
    exits = ", ".join(f"{k} {v:,}" for k, v in sorted(r.get("exits", {}).items())) or "none"
    _line(f"journey {r.get('journey_id')}: {r.get('entered', 0):,} entered, "
          f"{r.get('holdout', 0):,} in the holdout, {r.get('active', 0):,} in it now; "
          f"exits: {exits}")  # fmt: skip
    steps = _table("steps", "step", "type", "entered", "waiting", "advanced", "exited (by reason)",
                   "median hours", right=("entered", "waiting", "advanced", "median hours"))  # fmt: skip
    for s in r.get("steps", ()):
        exited = ", ".join(f"{k} {v:,}" for k, v in sorted(s.get("exited", {}).items()))
        median = s.get("median_hours")
        steps.add_row(s["step"], s.get("type", ""), f"{s.get('entered', 0):,}",
                      f"{s.get('waiting', 0):,}", f"{s.get('advanced', 0):,}", exited,
                      "–" if median is None else f"{median:.1f}")  # fmt: skip
    out.print(steps)
    _comparison(r.get("comparison") or {})


def _comparison(c: dict[str, Any]) -> None:
    if "treatment" not in c:
        generic(c)
        return
    offers = ", ".join(c.get("offers", ())) or "none"
    table = _table(f"entrants against the holdout (conversions on {offers})", "",
                   "customers", "conversions", "rate (95%)", "revenue / customer",
                   right=("customers", "conversions", "rate (95%)", "revenue / customer"))  # fmt: skip
    for label, arm in (("in the journey", c["treatment"]), ("holdout", c["control"])):
        lo, hi = arm["interval"]
        table.add_row(label, f"{arm['customers']:,}", f"{arm['conversions']:,}",
                      f"{_pct(arm['rate'])} ({_pct(lo)}–{_pct(hi)})",
                      f"{arm['revenue_per_customer']:,.2f}")  # fmt: skip
    out.print(table)
    lo, hi = c["lift_interval"]
    wlo, whi = c["welch_interval"]
    _line(f"lift: {100 * c['absolute_lift']:+.2f} pp (95% {100 * lo:+.2f} to {100 * hi:+.2f}), "
          f"p = {c['p_value']:.4f}; revenue per customer {c['incremental_revenue_per_customer']:+,.2f}"
          f" (Welch 95% {wlo:+,.2f} to {whi:+,.2f}); incremental revenue "
          f"{c['incremental_revenue']:+,.0f}"
          + ("; insufficient data" if c.get("insufficient_data") else ""))  # fmt: skip


def simulated(s: dict[str, Any]) -> None:
    """A simulated path and the decisions it made (nothing was written)."""
    if s.get("status") == "not_entered":
        _line(f"journey {s.get('journey_id')} v{s.get('version')}: the customer does not"
              " meet the entry condition and never enters (nothing was written)")  # fmt: skip
        return
    end = s.get("status", "")
    if s.get("exit_reason"):
        end = f"exited: {s['exit_reason']}"
    holdout = " in the holdout" if s.get("holdout") else ""
    _line(f"journey {s.get('journey_id')} v{s.get('version')}{holdout}: {end} "
          "(simulated: nothing was written)")  # fmt: skip
    path = _table("path", "n", "at", "transition", "from", "to", "reason", right=("n",))
    for t in s.get("path", ()):
        path.add_row(str(t["n"]), when(t.get("at")), t.get("kind", ""), t.get("from_step") or "",
                     t.get("to_step") or "", t.get("reason") or "")  # fmt: skip
    out.print(path)
    decisions = _table("decisions", "at", "step", "channel", "offers", "control")
    for d in s.get("decisions", ()):
        decisions.add_row(when(d.get("at")), d.get("step", ""), d.get("channel", ""),
                          ", ".join(d.get("offers", ())) or "(nothing)",
                          "yes" if d.get("control") else "")  # fmt: skip
    out.print(decisions)
