"""The rule language's front door: load (text or JSON) → check → compile → evaluate.

    >>> env = Environment(CustomerSchema(attributes={"tier": "string", "hasCreditCard": "bool"}))
    >>> cond = env.compile('customer.tier in ["premium", "gold"] and not customer.hasCreditCard')
    >>> cond.text
    'customer.tier in ["premium", "gold"] and not customer.hasCreditCard'
    >>> cond({"customer.tier": "gold", "customer.hasCreditCard": False})
    True
    >>> cond({"customer.tier": "gold"})   # hasCreditCard is missing: unknown, so no match
    False

Each phase can be called on its own: ``parse_text`` / ``load`` give the AST with its source
spans, ``check`` the type of every node, ``compile_ast`` the evaluator, ``interpret`` the
reference meaning.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from pydantic import ValidationError

from .checker import TypeInfo, check
from .compiler import Evaluator, compile_ast
from .cost import check_cost
from .errors import Diagnostic, RuleLimitError, RuleSyntaxError, RuleTypeError
from .limits import DEFAULT_LIMITS, Limits
from .nodes import KINDS, Condition, condition_adapter
from .parser import LoadedCondition, parse_text
from .printer import to_text
from .types import CustomerSchema, OfferSchema, Scope, Type

__all__ = ["CompiledCondition", "Environment", "LoadedCondition", "json_path"]


def json_path(loc: tuple[int | str, ...]) -> str:
    """A JSON path (``$.operands[1].left``) from a Pydantic error location."""
    out = "$"
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part not in KINDS:  # discriminated-union tags are not part of the path
            out += f".{part}"
    return out


@dataclass(frozen=True)
class CompiledCondition:
    """A checked, compiled condition. Calling it on a context says whether it matches."""

    ast: Condition
    evaluator: Evaluator = field(repr=False, compare=False)
    types: TypeInfo = field(repr=False, compare=False)

    @cached_property
    def text(self) -> str:
        """The canonical text form."""
        return to_text(self.ast)

    def __call__(self, ctx: dict[str, Any]) -> bool:
        """True only when the condition is true; unknown (missing values) does not match.

        A context belongs to one thread at a time: quantifiers bind their variable in it
        while they run (and remove it before returning).
        """
        return self.evaluator(ctx) is True

    def to_json(self) -> dict[str, Any]:
        dumped: dict[str, Any] = condition_adapter.dump_python(self.ast, mode="json")
        return dumped


def _check_json_limits(obj: Any, limits: Limits) -> None:
    """Reject JSON that is too deep, too large or too long before Pydantic walks it.

    Paths are kept as (parent, key) links and spelled out only for an error.
    """
    Link = tuple[Any, str | int] | None

    def fail(message: str, link: Link) -> RuleLimitError:
        keys: list[str | int] = []
        while link is not None:
            link, key = link
            keys.append(key)
        return RuleLimitError([Diagnostic(message, json_path(tuple(reversed(keys))))])

    stack: list[tuple[Any, int, Link]] = [(obj, 1, None)]
    nodes = 0
    max_depth, max_nodes = limits.max_depth, limits.max_nodes
    max_list, max_text = limits.max_list_length, limits.max_text_length
    while stack:
        value, depth, link = stack.pop()
        if type(value) is dict:
            nodes += 1
            if depth > max_depth:
                raise fail(f"condition is nested deeper than {max_depth} levels", link)
            if nodes > max_nodes:
                raise fail(f"condition has more than {max_nodes} nodes", link)
            for key, child in value.items():
                if type(child) is not str or len(child) > max_text:
                    stack.append((child, depth + 1, (link, key)))
        elif type(value) is list:
            if len(value) > max_list:
                raise fail(f"list has more than {max_list} items", link)
            for i, child in enumerate(value):
                stack.append((child, depth, (link, i)))
        elif isinstance(value, dict | list):  # subclasses: walk them like the plain types
            stack.append((dict(value) if isinstance(value, dict) else list(value), depth, link))
        elif isinstance(value, str) and len(value) > max_text:
            raise fail(f"text is longer than {max_text} characters", link)


def _syntax_errors(exc: ValidationError) -> RuleSyntaxError:
    diagnostics = []
    for err in exc.errors(include_url=False):
        message = err["msg"]
        if err["type"] == "union_tag_invalid":
            message = f"unknown kind; expected one of {', '.join(sorted(KINDS))}"
        elif err["type"] == "union_tag_not_found":
            message = "missing 'kind'"
        diagnostics.append(Diagnostic(message, json_path(tuple(err["loc"]))))
    # An error on a list whose items already failed only repeats them: keep the deeper ones.
    paths = [d.path for d in diagnostics]
    kept = [
        d
        for d in diagnostics
        if not any(
            p != d.path and (p.startswith(d.path + "[") or p.startswith(d.path + "."))
            for p in paths
        )
    ]
    return RuleSyntaxError(kept)


@dataclass(frozen=True)
class Environment:
    """The names and limits conditions are checked against.

    ``offer_names=False`` is for rule triggers, which are evaluated before any offer is
    chosen; offer conditions (eligibility, fit, match) may read ``offer.*``. ``extra_names``
    adds names with their types for the conditions of one kind of caller (a journey's
    ``journey.*``; see ``Scope.extra``).
    """

    customer: CustomerSchema = field(default_factory=CustomerSchema)
    offer: OfferSchema = field(default_factory=OfferSchema)
    offer_names: bool = True
    limits: Limits = DEFAULT_LIMITS
    extra_names: Mapping[str, Type] = field(default_factory=dict)
    scope: Scope = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "scope", Scope(self.customer, self.offer, self.offer_names, self.extra_names)
        )

    def parse(self, text: str) -> LoadedCondition:
        """Parse the text form."""
        return parse_text(text, self.limits)

    def load(self, condition: str | Mapping[str, Any] | Condition) -> LoadedCondition:
        """A condition from text, from its JSON form (a dict), or an AST already built."""
        if isinstance(condition, str):
            return self.parse(condition)
        if isinstance(condition, Mapping):
            _check_json_limits(condition, self.limits)
            try:
                ast = condition_adapter.validate_python(condition)
            except ValidationError as exc:
                raise _syntax_errors(exc) from None
            return LoadedCondition(ast)
        return LoadedCondition(condition)

    def check(self, loaded: LoadedCondition) -> TypeInfo:
        """The type of every node; or ``RuleTypeError`` listing every problem, or
        ``RuleLimitError`` when the types are right but the work it may do is too much
        (quantifiers nested too deep, a worst-case cost over the limit; see ``cost.py``)."""
        costly = check_cost(loaded.ast, self.limits, source=loaded.source, span_of=loaded.span_of)
        try:
            types = check(loaded.ast, self.scope, source=loaded.source, span_of=loaded.span_of)
        except RuleTypeError as exc:
            if costly:
                raise RuleTypeError(exc.diagnostics + costly) from None
            raise
        if costly:
            raise RuleLimitError(costly)
        return types

    def compile(self, condition: str | Mapping[str, Any] | Condition) -> CompiledCondition:
        """Load, check and compile a condition."""
        loaded = self.load(condition)
        types = self.check(loaded)
        return CompiledCondition(loaded.ast, compile_ast(loaded.ast), types)
