"""Printing for the command line: results to stdout, problems to stderr, never a traceback."""

from __future__ import annotations

import csv
import json
import os
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

if TYPE_CHECKING:
    from ..core.rules import Diagnostic

# Piped output gets 120 columns (rich would assume 80), so tables keep whole ids.
_WIDTH = None if sys.stdout.isatty() or "COLUMNS" in os.environ else 120
out = Console(highlight=False, soft_wrap=True, width=_WIDTH)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def progress(console: Console = out, *, transient: bool = True) -> Progress:
    """The commands' progress bar: what is being done, a bar, n of N and the time taken."""
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), console=console, transient=transient)  # fmt: skip


def fail(message: str, code: int = 1) -> NoReturn:
    err.print("[bold red]error:[/] ", markup=True, end="")
    err.print(message, markup=False)  # as written: a master's local[2] is no markup tag
    raise typer.Exit(code)


def option_message(exc: Any) -> str:
    """A service error as the command line names it: each field as its option (``--name``)."""
    errors = getattr(exc, "errors", None)
    if errors:
        return "; ".join(f"--{e['field'].replace('_', '-')}: {e['message']}" for e in errors)
    return str(exc.message)


def charts_dir(path: Path | None) -> Path | None:
    """The folder ``--charts`` names, made if it is missing (None without the option); a
    folder that cannot be made is a clear error and exit status 1."""
    if path is None:
        return None
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        fail(f"--charts: cannot create {str(path)!r}: {exc}")
    return path


def fail_validation(what: str, exc: ValidationError) -> NoReturn:
    """Every field Pydantic rejected, by name, then exit 1."""
    for e in exc.errors(include_url=False):
        loc = ".".join(str(p) for p in e["loc"]) or "(top)"
        err.print(f"[bold red]error:[/] {what}: {loc}: ", markup=True, end="")
        err.print(e["msg"], markup=False)
    raise typer.Exit(1)


def print_diagnostics(diagnostics: list[Diagnostic], prefix: str = "") -> None:
    for d in diagnostics:
        where = f"{prefix}{d.path}"
        if d.line is not None:
            err.print(f"[bold red]error:[/] {where}: ", markup=True, end="")
            err.print(d.render(), markup=False)
        else:
            err.print("[bold red]error:[/] ", markup=True, end="")
            err.print(f"{where}: {d.message}", markup=False)


def read_document(path: Path, what: str) -> Any:
    """A JSON or YAML file (by extension; YAML also reads JSON), or a clear error."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        fail(f"{what}: no such file {str(path)!r}")
    except (OSError, UnicodeDecodeError) as exc:
        fail(f"{what}: cannot read {str(path)!r}: {exc}")
    if path.suffix.lower() == ".json":
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            fail(
                f"{what}: {path}: invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
            )
    import yaml  # here, not at the top: most commands never read YAML

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        fail(f"{what}: {path}: invalid YAML: {exc}")


TABLE_SUFFIXES = (".csv", ".json")


def check_table_file(path: Path | None, option: str = "--out") -> None:
    """A results file must end in .csv or .json (checked before any work is done)."""
    if path is not None and path.suffix.lower() not in TABLE_SUFFIXES:
        fail(f"{option}: expected a .csv or .json file, got {str(path)!r}")


def write_table(
    path: Path,
    rows: list[dict[str, Any]],
    columns: list[str],
    document: dict[str, Any],
    option: str = "--out",
) -> None:
    """``rows`` as CSV (``columns``), or, for a .json file, ``document`` as JSON."""
    try:
        if path.suffix.lower() == ".json":
            path.write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")
            return
        with path.open("w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, columns, lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)
    except OSError as exc:
        fail(f"{option}: cannot write {str(path)!r}: {exc}")


def write_csv(
    path: Path, columns: list[str], rows: Iterable[Iterable[Any]], option: str = "--out"
) -> None:
    """A header of ``columns``, then ``rows``, each one's values in the order of ``columns``
    (cheaper than ``write_table``'s rows by name, for files of many rows)."""
    try:
        with path.open("w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f, lineterminator="\n")
            writer.writerow(columns)
            writer.writerows(rows)
    except OSError as exc:
        fail(f"{option}: cannot write {str(path)!r}: {exc}")
