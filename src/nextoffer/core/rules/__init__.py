"""The rule language: one AST, a text form, a type checker, a compiler and a trigger index.

Conditions are written as text (``customer.tier in ["premium", "gold"] and not
customer.hasCreditCard``) or as JSON (the same AST), checked against the declared customer
schema before anything runs, and compiled into fast evaluators over a flat request context.
"""

from .checker import TypeInfo, check
from .compiler import Evaluator, compile_ast
from .context import (
    WEEKDAYS,
    Context,
    ContextError,
    build_context,
    coerce_attribute,
    offer_context,
)
from .errors import Diagnostic, RuleError, RuleLimitError, RuleSyntaxError, RuleTypeError, Span
from .index import TriggerIndex, requirement
from .interpreter import interpret
from .language import CompiledCondition, Environment, LoadedCondition
from .limits import DEFAULT_LIMITS, Limits
from .nodes import Condition, condition_adapter, condition_json_schema
from .parser import parse_text
from .printer import to_text
from .types import CustomerSchema, OfferSchema, Scope

__all__ = [
    "DEFAULT_LIMITS",
    "WEEKDAYS",
    "CompiledCondition",
    "Condition",
    "Context",
    "ContextError",
    "CustomerSchema",
    "Diagnostic",
    "Environment",
    "Evaluator",
    "Limits",
    "LoadedCondition",
    "OfferSchema",
    "RuleError",
    "RuleLimitError",
    "RuleSyntaxError",
    "RuleTypeError",
    "Scope",
    "Span",
    "TriggerIndex",
    "TypeInfo",
    "build_context",
    "check",
    "coerce_attribute",
    "compile_ast",
    "condition_adapter",
    "condition_json_schema",
    "interpret",
    "offer_context",
    "parse_text",
    "requirement",
    "to_text",
]
