"""A file of rules (JSON or YAML) and checking every trigger in it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .errors import Diagnostic, RuleError
from .language import Environment, json_path

__all__ = ["RuleSpec", "check_rules"]


class RuleSpec(BaseModel):
    """A rule as written in a file: a trigger condition that nominates offers, with a priority."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: Annotated[str, Field(min_length=1, max_length=200)]
    trigger: str | dict[str, Any]
    offers: Annotated[list[str], Field(min_length=1)]
    priority: Annotated[int, Field(ge=0, le=100)] = 50
    description: str = ""


def check_rules(document: Any, env: Environment) -> tuple[int, list[Diagnostic]]:
    """Check a rules document (a list of rules, or ``{"rules": [...]}``).

    Returns how many rules it holds and every problem found, each with its place:
    ``rules[2].trigger`` plus the line and column (text) or JSON path (JSON) inside it. A
    rule's trigger is checked even when its other fields are wrong, so that one run lists
    every problem.
    """
    if isinstance(document, Mapping) and set(document) == {"rules"}:
        document = document["rules"]
    if not isinstance(document, list):
        return 0, [Diagnostic("expected a list of rules, or an object with a 'rules' list")]
    problems: list[Diagnostic] = []
    seen: dict[str, int] = {}
    for i, raw in enumerate(document):
        where = f"rules[{i}]"
        try:
            rule = RuleSpec.model_validate(raw)
        except ValidationError as exc:
            for err in exc.errors(include_url=False):
                path = json_path(tuple(err["loc"])).replace("$", where, 1)
                problems.append(Diagnostic(err["msg"], path))
            trigger = raw.get("trigger") if isinstance(raw, Mapping) else None
            if isinstance(trigger, str | Mapping):
                problems += _trigger_problems(env, trigger, where)
            continue
        if rule.id in seen:
            problems.append(
                Diagnostic(
                    f"duplicate rule id {rule.id!r} (first at rules[{seen[rule.id]}])",
                    f"{where}.id",
                )
            )
        seen.setdefault(rule.id, i)
        problems += _trigger_problems(env, rule.trigger, where)
    return len(document), problems


def _trigger_problems(
    env: Environment, trigger: str | Mapping[str, Any], where: str
) -> list[Diagnostic]:
    try:
        env.check(env.load(trigger))
    except RuleError as exc:
        return [
            Diagnostic(d.message, d.path.replace("$", f"{where}.trigger", 1), d.span, d.source)
            for d in exc.diagnostics
        ]
    return []
