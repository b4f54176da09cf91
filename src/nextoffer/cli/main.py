"""The ``nextoffer`` command."""

from __future__ import annotations

import typer

from . import governance  # noqa: F401  (adds the governance commands to `nextoffer rules`)
from .decide import decide
from .demo import demo
from .rules import rules_app
from .service import erase, keys_app, migrate, serve

app = typer.Typer(
    name="nextoffer",
    help="nextoffer: a self-hosted next-best-offer engine for cross-sell and upsell.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(rules_app, name="rules")
app.command("demo")(demo)
app.command("decide")(decide)
app.command("serve")(serve)
app.command("migrate")(migrate)
app.command("erase")(erase)
app.add_typer(keys_app, name="keys")
