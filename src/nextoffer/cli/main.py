"""The ``nextoffer`` command.

Each command lives in its own module and is imported only when it runs (click's lazily
loaded subcommands), so that ``nextoffer mine`` does not pay for the web framework and the
database layer it does not use.
"""

from __future__ import annotations

import gc
import importlib
import os
import sys
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from ..core.errors import NextofferError

# name: (module, attribute) — a typer app (a group of commands) or a command function
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("nextoffer.cli.demo", "demo"),
    "decide": ("nextoffer.cli.decide", "decide"),
    "mine": ("nextoffer.cli.mine", "mine"),
    "export-baskets": ("nextoffer.cli.mine", "export_baskets"),
    "attach-rates": ("nextoffer.cli.attach", "attach_rates"),
    "uplift": ("nextoffer.cli.uplift", "uplift_app"),
    "experiments": ("nextoffer.cli.experiments", "experiments_app"),
    "evaluate": ("nextoffer.cli.evaluate", "evaluate"),
    "rules": ("nextoffer.cli.governance", "rules_app"),  # adds governance to `rules`
    "journeys": ("nextoffer.cli.journeys", "journeys_app"),
    "ledger": ("nextoffer.cli.ledger", "ledger_app"),
    "campaign": ("nextoffer.cli.campaigns", "campaign_app"),
    "serve": ("nextoffer.cli.service", "serve"),
    "migrate": ("nextoffer.cli.service", "migrate"),
    "erase": ("nextoffer.cli.service", "erase"),
    "keys": ("nextoffer.cli.service", "keys_app"),
    "db": ("nextoffer.cli.db", "db_app"),
}
# Batch commands whose numpy work does no linear algebra. Their numpy loads OpenBLAS with
# one thread (with one per core it takes twice as long to load, and the threads spin on the
# other cores for a while), and the modules they import are frozen (gc.freeze): those live
# until exit, so no garbage collection, during the run or at exit, walks them again.
BATCH = frozenset({"mine"})


class _LazyGroup(TyperGroup):
    def list_commands(self, ctx: Any) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        if cmd_name not in COMMANDS:
            return None
        batch = cmd_name in BATCH
        if batch:  # before the command's module imports numpy
            os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
        module, attribute = COMMANDS[cmd_name]
        target = getattr(importlib.import_module(module), attribute)
        if batch:
            gc.freeze()
        if isinstance(target, typer.Typer):
            command: Any = typer.main.get_group(target)
        else:
            single = typer.Typer()
            single.command(cmd_name)(target)
            command = typer.main.get_command(single)
        command.name = cmd_name
        return command


class _Nextoffer(typer.Typer):
    """The command group; input the core refuses (``NextofferError``, when a command does not
    map it with more context) and a database that cannot serve now end a command with a
    message and exit 1, never a traceback: SQLite's write lock held past its busy timeout by another
    process (a long ``uplift train``, a second command), or a PostgreSQL server that is
    down, starting up or out of connection slots. The command's transaction was rolled
    back, so nothing was written; running it again later is safe."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().__call__(*args, **kwargs)
        except NextofferError as exc:  # input the core refused, not mapped by the command
            from .output import err

            err.print("[bold red]error:[/] ", markup=True, end="")
            err.print(str(exc), markup=False, highlight=False)
            sys.exit(1)
        except Exception as exc:
            message = _unavailable_message(exc)
            if message is None:
                raise
            from .output import err

            err.print(f"[bold red]error:[/] {message}", markup=True)
            sys.exit(1)


def _unavailable_message(exc: BaseException) -> str | None:
    if "sqlalchemy" not in sys.modules:  # a command without a database (mine, rules eval)
        return None
    import sqlalchemy as sa

    from ..service.db import unavailable

    if not isinstance(exc, sa.exc.DBAPIError) or not unavailable(exc):
        return None
    if exc.orig is not None and "locked" in str(exc.orig):
        return (
            "the database is locked: another process (the server, or a command such as"
            " `uplift train`) has held its write lock for more than 10 s. Nothing was"
            " written; run the command again when it is done"
        )
    return (
        "the database is unavailable for a moment (it may be restarting, or out of"
        f" connections: {str(exc.orig).strip()}). Nothing was written; run the command again"
    )


app = _Nextoffer(
    name="nextoffer",
    help="nextoffer: a self-hosted next-best-offer engine for cross-sell and upsell.",
    cls=_LazyGroup,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _print_version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        typer.echo(f"nextoffer {version('nextoffer')}")
        raise typer.Exit()


@app.callback()
def _main(
    _version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_print_version,
            is_eager=True,
            help="Print the version and exit.",
        ),
    ] = False,
) -> None:
    """nextoffer: a self-hosted next-best-offer engine for cross-sell and upsell."""
