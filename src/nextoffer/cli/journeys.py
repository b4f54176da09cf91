"""``nextoffer journeys list | show | report | simulate | propose | publish | reject |
restore``: journey definitions under four eyes, their reports and simulations, on the
configured database.

The same service code as the API (``/v1/journeys``). Who acts is the holder of ``--key``
(or the ``NEXTOFFER_API_KEY`` environment variable), as for rules: an author proposes, an
approver publishes, rejects or restores, and nobody publishes what they proposed (four
eyes) unless an admin allowed self-approval for the install.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from ..service.errors import InvalidInput, validated
from ..service.journeys import service
from ..service.journeys.schemas import SimulateIn
from ..service.keys.service import labels
from . import journey_views as views
from .governance import JsonOption, KeyOption, acting
from .output import charts_dir, check_table_file, err, fail, out, read_document, write_table
from .views import View, print_json

journeys_app = typer.Typer(
    help="Journeys: multi-step sequences of offers, waits and branches.", no_args_is_help=True
)

Reason = Annotated[str, typer.Option("--reason", help="Why (kept in the audit log).")]


def _print(data: Any, view: View, as_json: bool) -> None:
    if as_json:
        print_json(data)
    else:
        view(data)


def _plain(value: Any) -> Any:
    """A document as JSON holds it: the times and dates YAML reads, as ISO text."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    return value


def _refused(exc: InvalidInput, what: str) -> None:
    """Every field the service refused, one per line, then exit 1."""
    for e in exc.errors:
        err.print("[bold red]error:[/] ", markup=True, end="")
        err.print(f"{e['field']}: {e['message']}", markup=False, highlight=False)
    err.print(f"{len(exc.errors)} problem(s); {what}", markup=False, highlight=False)
    raise typer.Exit(1)


def _labelled(session: Any, rows: list[dict[str, Any]], *fields: str) -> list[dict[str, Any]]:
    """``rows`` with ``<field>_label`` for each of ``fields`` (``approved_by``: the one in a
    version's ``source``): who each key id is, as people read it."""

    def ids(r: dict[str, Any]) -> dict[str, str]:
        found = {f: r.get(f) or (r.get("source") or {}).get(f) or "" for f in fields}
        return {f: str(v) for f, v in found.items() if v}

    names = labels(session, [i for r in rows for i in ids(r).values()])
    return [{**r, **{f"{f}_label": names[i] for f, i in ids(r).items()}} for r in rows]


def _proposal_id(session: Any, ref: str) -> str:
    """A proposal by its id (or the start of it), or the single open proposal of the
    journey ``ref``."""
    every = _labelled(session, [dict(p) for p in service.list_proposals(session, None)], "author")
    if any(p["id"] == ref for p in every):
        return str(ref)
    of_journey = [p for p in every if p["journey_id"] == ref]
    if of_journey:
        waiting = [p for p in of_journey if p["status"] == "open"]
        if len(waiting) == 1:
            return str(waiting[0]["id"])
        if not waiting:
            fail(f"journey {escape(repr(ref))} has no open proposal")
        err.print(f"[bold red]error:[/] journey {escape(repr(ref))} has {len(waiting)} open proposals;"
                  " name the one to act on:", markup=True)  # fmt: skip
        for p in waiting:
            err.print(f"  {p['id']}  by {views.who(p, 'author')}, {views.when(p['created_at'])}"
                      + (f": {p['reason']}" if p["reason"] else ""), markup=False)  # fmt: skip
        raise typer.Exit(1)
    starting = [p["id"] for p in every if p["id"].startswith(ref)]
    if len(starting) == 1:
        return str(starting[0])
    if starting:
        fail(f"more than one proposal starts with {escape(repr(ref))}: {', '.join(starting)}")
    fail(f"no journey proposal {escape(repr(ref))}, and no journey of that id with proposals")


@journeys_app.command("list")
def list_(key: KeyOption = None, as_json: JsonOption = False) -> None:
    """Every journey (its live version, versions, customers in it) and the open proposals."""
    with acting(key, "author", "approver", read_only=True) as (session, _, _db):
        data = {"journeys": service.list_journeys(session),
                "proposals": _labelled(session, [dict(p) for p in service.list_proposals(session)],
                                       "author")}  # fmt: skip
        _print(data, views.journeys, as_json)


@journeys_app.command("show")
def show(
    journey: Annotated[str, typer.Argument(help="The journey's id.")],
    key: KeyOption = None,
    as_json: JsonOption = False,
) -> None:
    """A journey: its live definition (entry, steps, exits), every version, its proposals."""
    with acting(key, "author", "approver", read_only=True) as (session, _, _db):
        data: dict[str, Any] = dict(service.get_journey(session, journey))
        data["versions"] = _labelled(
            session, [dict(v) for v in data["versions"]], "author", "approved_by"
        )
        data["proposals"] = _labelled(
            session, [dict(p) for p in data["proposals"]], "author", "reviewer"
        )
        _print(data, views.journey, as_json)


@journeys_app.command("report")
def report(
    journey: Annotated[str, typer.Argument(help="The journey's id.")],
    out_file: Annotated[
        Path | None, typer.Option("--out", help="Also write it here: CSV (per step), or JSON.")
    ] = None,
    charts: Annotated[
        Path | None,
        typer.Option(
            "--charts",
            help="Write the charts (PNG) into this folder: the funnel, and the "
            "conversion against the holdout.",
        ),
    ] = None,
    key: KeyOption = None,
    as_json: JsonOption = False,
) -> None:
    """Per step: entered, waiting, advanced, exited by reason, median hours in the step; and
    the journey's entrants against its holdout."""
    check_table_file(out_file)
    with acting(key, "author", "approver", read_only=True) as (session, _, _db):
        result: dict[str, Any] = dict(service.report(session, journey))
    _print(result, views.report, as_json)
    if out_file is not None:
        rows = [{"step": s["step"], "type": s["type"], "entered": s["entered"],
                 "waiting": s["waiting"], "advanced": s["advanced"],
                 "exited": sum(s["exited"].values()),
                 "exited_by_reason": ";".join(f"{k}={v}" for k, v in sorted(s["exited"].items())),
                 "median_hours": s["median_hours"]} for s in result["steps"]]  # fmt: skip
        write_table(out_file, rows, list(rows[0]) if rows else ["step"], result)
        _note(f"wrote the report to {out_file}", as_json)
    if charts is not None:
        _charts(charts, result, as_json)


def _note(text: str, as_json: bool) -> None:
    """A line about a file written: on stderr under ``--json``, which keeps stdout JSON."""
    (err if as_json else out).print(text, markup=False)


def _charts(folder: Path, result: dict[str, Any], as_json: bool) -> None:
    """The dashboard's drawings as files: the funnel, and (once both have customers) the
    conversion of the entrants against the holdout."""
    charts_dir(folder)
    from ..charts import arms_figure, funnel_figure, save

    name = result["journey_id"]
    written = [save(funnel_figure(result["steps"], f"{name}: customers through each step"),
                    folder / f"funnel-{name}.png")]  # fmt: skip
    c = result["comparison"]
    if c["treatment"]["customers"] and c["control"]["customers"]:
        written.append(save(arms_figure(c, f"{name}: conversion, entrants against the holdout"),
                            folder / f"holdout-{name}.png"))  # fmt: skip
    else:
        _note("no holdout chart: the entrants or the holdout have no customers yet", as_json)
    for path in written:
        _note(f"wrote {path}", as_json)


@journeys_app.command("simulate")
def simulate(
    journey: Annotated[str, typer.Argument(help="The journey's id.")],
    events: Annotated[
        Path,
        typer.Option(
            "--events",
            help="JSON or YAML: {customer: {id, attributes, holdings, segments}, at, "
            "events: [{type, at, offer?, value?, channel?}], until?}.",
        ),
    ],
    version: Annotated[
        int | None, typer.Option(min=1, help="Simulate this version (default: the live one).")
    ] = None,
    key: KeyOption = None,
    as_json: JsonOption = False,
) -> None:
    """One customer through the journey: they enter at the file's 'at' if they qualify, then
    each event happens at its time (type 'request' with a 'channel': they ask there), the
    clock running until 'until' (default: the journey's maximum duration). Prints the path
    and the decisions; nothing is written."""
    document = _plain(read_document(events, "--events"))
    if not isinstance(document, dict):
        fail("--events: expected a mapping {customer, at, events, until?}")
    if version is not None:
        document["version"] = version
    from ..service.snapshots.cache import SnapshotCache

    with acting(key, "author", "approver", read_only=True) as (session, _, db):
        try:
            body = validated(SimulateIn, document)
            result = service.simulate(session, SnapshotCache(db).get(), journey, body)
        except InvalidInput as exc:
            _refused(exc, f"nothing was simulated ({events})")
    _print(result, views.simulated, as_json)


@journeys_app.command("propose")
def propose(
    file: Annotated[Path, typer.Argument(help="The journey definition (JSON or YAML).")],
    reason: Reason = "",
    key: KeyOption = None,
    as_json: JsonOption = False,
) -> None:
    """Propose a journey definition (a new journey, or a new version of one), checked against
    the live catalog; an approver (someone else) publishes it."""
    definition = _plain(read_document(file, "FILE"))
    with acting(key, "author") as (session, who, _db):
        try:
            made = dict(service.propose(session, who.id, definition, reason))
        except InvalidInput as exc:
            _refused(exc, f"nothing was proposed ({file})")
        made["author_label"] = who.label
    _print(made, views.proposal, as_json)
    if not as_json:
        out.print(f"an approver publishes it: nextoffer journeys publish {made['id']}",
                  markup=False)  # fmt: skip


@journeys_app.command("publish")
def publish(
    proposal: Annotated[
        str,
        typer.Argument(
            help="A proposal's id (or the start of it), or a journey's id: its "
            "single open proposal."
        ),
    ],
    reason: Reason = "",
    key: KeyOption = None,
    as_json: JsonOption = False,
) -> None:
    """Publish a proposal: it becomes the journey's next version, live for new entries
    (customers in the journey stay on theirs). Not by its author (four eyes)."""
    with acting(key, "approver") as (session, who, _db):
        done = service.approve(session, who.id, _proposal_id(session, proposal), reason)
    _print(dict(done), views.published, as_json)


@journeys_app.command("reject")
def reject(
    proposal: Annotated[
        str, typer.Argument(help="A proposal's id (or the start of it), or a journey's id.")
    ],
    reason: Annotated[str, typer.Option("--reason", help="Why (required).")] = "",
    key: KeyOption = None,
    as_json: JsonOption = False,
) -> None:
    """Reject a proposal, with a reason."""
    with acting(key, "approver") as (session, who, _db):
        done = service.reject(session, who.id, _proposal_id(session, proposal), reason)
        [labelled] = _labelled(session, [dict(done)], "author", "reviewer")
    _print(labelled, views.proposal, as_json)


@journeys_app.command("restore")
def restore(
    journey: Annotated[str, typer.Argument(help="The journey's id.")],
    version: Annotated[int, typer.Argument(help="The version to restore.")],
    reason: Reason = "",
    key: KeyOption = None,
    as_json: JsonOption = False,
) -> None:
    """Publish a new version equal to an earlier one (it must still fit the live catalog)."""
    with acting(key, "approver") as (session, who, _db):
        try:
            done = service.restore(session, who.id, journey, version, reason)
        except InvalidInput as exc:
            _refused(exc, f"version {version} was not restored")
    _print(dict(done), views.published, as_json)
