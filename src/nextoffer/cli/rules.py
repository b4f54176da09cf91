"""``nextoffer rules``: evaluate, check, parse and format conditions."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError

from ..core.request import Request
from ..core.rules import (
    CompiledCondition,
    ContextError,
    CustomerSchema,
    Environment,
    LoadedCondition,
    RuleError,
    build_context,
    condition_adapter,
    condition_json_schema,
    to_text,
)
from ..core.rules.ruleset import check_rules
from .output import err, fail, fail_validation, out, print_diagnostics, read_document

rules_app = typer.Typer(help="Work with rule-language conditions.", no_args_is_help=True)

SchemaOption = Annotated[
    Path | None,
    typer.Option("--schema", help="Customer schema (JSON or YAML): {attributes: {name: type}}."),
]


def _load_schema(path: Path | None) -> CustomerSchema | None:
    if path is None:
        return None
    raw = read_document(path, "--schema")
    try:
        return CustomerSchema.model_validate(raw)
    except ValidationError as exc:
        fail_validation(f"--schema {path}", exc)


def _load_condition(condition: str) -> str | dict[str, Any]:
    """Text, or the JSON form when the argument is a JSON object."""
    stripped = condition.strip()
    if stripped.startswith("{"):
        try:
            loaded = json.loads(stripped)
        except json.JSONDecodeError as exc:
            fail(f"CONDITION: invalid JSON at column {exc.colno}: {exc.msg}")
        if isinstance(loaded, dict):
            return loaded
    return condition


@contextmanager
def _reported() -> Iterator[None]:
    """Print a rule error's diagnostics (with carets) and exit 1, instead of a traceback."""
    try:
        yield
    except RuleError as exc:
        print_diagnostics(exc.diagnostics, prefix="CONDITION ")
        raise typer.Exit(1) from None


def _load(env: Environment, condition: str) -> LoadedCondition:
    with _reported():
        return env.load(_load_condition(condition))


def _compile(env: Environment, condition: str) -> CompiledCondition:
    with _reported():
        return env.compile(_load_condition(condition))


@rules_app.command("eval")
def eval_(
    condition: Annotated[str, typer.Argument(help="The condition, as text or JSON.")],
    context: Annotated[
        Path, typer.Option("--context", help="A request in JSON (the decision API's shape).")
    ],
    schema: SchemaOption = None,
) -> None:
    """Evaluate CONDITION against a request and print true or false."""
    raw = read_document(context, "--context")
    try:
        request = Request.model_validate(raw)
    except ValidationError as exc:
        fail_validation("--context", exc)
    customer_schema = _load_schema(schema)
    if customer_schema is None and request.customer is not None:
        customer_schema = CustomerSchema.infer(request.customer.attributes)
    env = Environment(customer=customer_schema or CustomerSchema())
    compiled = _compile(env, condition)
    try:
        ctx = build_context(request, customer_schema, now=dt.datetime.now(dt.UTC))
    except ContextError as exc:
        fail(f"--context {exc}")
    out.print("true" if compiled(ctx) else "false")


@rules_app.command("check")
def check_(
    file: Annotated[Path, typer.Argument(help="Rules file (JSON or YAML).")],
    schema: SchemaOption = None,
) -> None:
    """Check every rule's trigger in FILE; list every problem with its place."""
    document = read_document(file, "FILE")
    env = Environment(customer=_load_schema(schema) or CustomerSchema(), offer_names=False)
    count, problems = check_rules(document, env)
    if problems:
        print_diagnostics(problems, prefix=f"{file}: ")
        err.print(f"{len(problems)} problem(s) in {count} rule(s)")
        raise typer.Exit(1)
    out.print(f"{count} rule(s) OK")


@rules_app.command("parse")
def parse_(
    condition: Annotated[str, typer.Argument(help="The condition, as text.")],
    schema: SchemaOption = None,
) -> None:
    """Print the JSON form (AST) of a condition, after type-checking it against the customer
    schema (--schema; without one, no customer attribute is declared). A condition that does
    not parse or check exits 1 with every problem."""
    env = Environment(customer=_load_schema(schema) or CustomerSchema())
    loaded = _load(env, condition)
    with _reported():
        env.check(loaded)
    out.print_json(data=condition_adapter.dump_python(loaded.ast, mode="json"))


@rules_app.command("format")
def format_(
    condition: Annotated[str, typer.Argument(help="The condition, as text or JSON.")],
) -> None:
    """Print the canonical text form of a condition (text or JSON in)."""
    out.print(to_text(_load(Environment(), condition).ast), markup=False)


@rules_app.command("schema")
def schema_(
    output: Annotated[
        Path | None, typer.Option("--out", help="Write to this file instead of stdout.")
    ] = None,
) -> None:
    """Print the JSON Schema of the condition AST."""
    text = json.dumps(condition_json_schema(), indent=2)
    if output is None:
        out.print(text, markup=False)
    else:
        output.write_text(text + "\n", encoding="utf-8")
        out.print(f"wrote {output}")
