"""The trigger index: find the rules a request can match without evaluating them all.

For each rule, ``requirement`` derives a set of *keys* ``(name, value)`` such that the rule
can only be true when the request has at least one of them: a sku or category in the cart
(``cart.has_sku("STEAK-01")``, ``any item in cart.items: item.category == "wine"``), or an
equality on a request name (``channel == "in_app"``, ``store.id in ["S1", "S2"]``,
``"VIP" in customer.segments``, ``not customer.hasCreditCard``), or a range on a name with
a small domain (``local_time.hour between 6 and 11`` becomes the hours 6 to 11). Of the keys an ``and``
offers, the most selective is kept (cart skus, then categories, then other names, then the
fewest values); an ``or`` needs a key from every branch. Rules without a requirement are
always checked. The index narrows; each candidate is still evaluated, so the answer is
exactly that of evaluating every rule, for a context made by ``build_context`` (whose cart
names, ``cart.items`` and the ``cart.skus`` and ``cart.categories`` drawn from them, are
present together or not at all).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Hashable, Iterable, Sequence
from typing import Any, Generic, TypeVar

from .compiler import items_by
from .interpreter import COMPARE, interpret
from .language import CompiledCondition
from .nodes import (
    Between,
    Call,
    Compare,
    Condition,
    Constant,
    Count,
    In,
    ListLiteral,
    Logic,
    Name,
    Not,
    Quantifier,
)

__all__ = ["Key", "TriggerIndex", "requirement"]

Key = tuple[str, Any]
R = TypeVar("R", bound=Hashable)

_CART_FIELDS = {"sku": "cart.skus", "category": "cart.categories"}
_CART_FUNCTIONS = {"cart.has_sku": "cart.skus", "cart.has_category": "cart.categories"}
# Names whose value the index reads from the context (scalars) or whose members it reads (lists).
_LIST_NAMES = frozenset({"cart.skus", "cart.categories", "customer.segments", "customer.holdings"})
# Names with a small known domain: a range test on them becomes a set of equality keys.
_DOMAINS: dict[str, range] = {"local_time.hour": range(24), "local_time.minute": range(60)}


def _rank(keys: frozenset[Key]) -> tuple[int, int]:
    names = {name for name, _ in keys}
    order = 0 if names == {"cart.skus"} else 1 if names <= {"cart.skus", "cart.categories"} else 2
    return order, len(keys)


def _pick(options: Iterable[frozenset[Key] | None]) -> frozenset[Key] | None:
    found = [o for o in options if o is not None]
    return min(found, key=_rank) if found else None


def _is_plain_const(node: Condition) -> bool:
    return isinstance(node, Constant) and isinstance(node.value, str | int | bool)


def requirement(node: Condition, var: str | None = None) -> frozenset[Key] | None:
    """Keys of which a request needs at least one for ``node`` to be true, or None.

    ``var`` is the item variable when ``node`` is the body of an ``any`` over cart items.
    """
    if isinstance(node, Logic):
        parts = [requirement(o, var) for o in node.operands]
        if node.kind == "and":
            return _pick(parts)
        if any(p is None for p in parts):
            return None
        return frozenset().union(*(p for p in parts if p is not None))
    if isinstance(node, Quantifier):
        if node.kind == "any" and node.collection.path == "cart.items":
            return requirement(node.condition, node.var)
        return None
    if isinstance(node, Compare) and node.op in (">=", ">") and isinstance(node.left, Count):
        # count(...) >= k with k >= 1, or count(...) > k with k >= 0: at least one item matches
        if (
            isinstance(node.left, Count)
            and node.left.collection.path == "cart.items"
            and isinstance(node.right, Constant)
            and isinstance(node.right.value, int | float)
            and not isinstance(node.right.value, bool)
            and (node.right.value >= 1 if node.op == ">=" else node.right.value >= 0)
        ):
            return requirement(node.left.condition, node.left.var)
        return None
    if (
        isinstance(node, Call)
        and node.function in _CART_FUNCTIONS
        and _is_plain_const(node.args[0])
    ):
        arg = node.args[0]
        assert isinstance(arg, Constant)
        return frozenset({(_CART_FUNCTIONS[node.function], arg.value)})
    return _name_key(node, var)


def _target(node: Condition, var: str | None) -> str | None:
    """The context name a predicate tests: an item field maps to the cart's distinct values."""
    if not isinstance(node, Name):
        return None
    head, _, rest = node.path.partition(".")
    if var is not None and head == var:
        return _CART_FIELDS.get(rest)
    return node.path


def _is_number(node: Condition) -> bool:
    return (
        isinstance(node, Constant)
        and isinstance(node.value, int | float)
        and not isinstance(node.value, bool)
    )


def _range_key(node: Condition, var: str | None) -> frozenset[Key] | None:
    """``local_time.hour between 6 and 11`` → the keys (local_time.hour, 6) … (…, 11)."""
    if var is not None:
        return None
    if isinstance(node, Between) and isinstance(node.value, Name):
        domain = _DOMAINS.get(node.value.path)
        if domain is not None and _is_number(node.low) and _is_number(node.high):
            lo, hi = interpret(node.low, {}), interpret(node.high, {})
            return frozenset((node.value.path, v) for v in domain if lo <= v <= hi)
    if isinstance(node, Compare) and node.op in ("<", "<=", ">", ">="):
        for name_side, value_side, op in (
            (node.left, node.right, node.op),
            (node.right, node.left, _FLIPPED[node.op]),
        ):
            if isinstance(name_side, Name) and _is_number(value_side):
                domain = _DOMAINS.get(name_side.path)
                if domain is not None:
                    k, test = interpret(value_side, {}), COMPARE[op]
                    return frozenset((name_side.path, v) for v in domain if test(v, k))
    return None


_FLIPPED = {"<": ">", "<=": ">=", ">": "<", ">=": "<="}


def _name_key(node: Condition, var: str | None) -> frozenset[Key] | None:
    ranged = _range_key(node, var)
    if ranged is not None:
        return ranged
    if isinstance(node, Compare) and node.op == "==":
        for name_side, value_side in ((node.left, node.right), (node.right, node.left)):
            target = _target(name_side, var)
            if target is not None and _is_plain_const(value_side):
                assert isinstance(value_side, Constant)
                return frozenset({(target, value_side.value)})
        return None
    if isinstance(node, In):
        target = _target(node.element, var)
        if target is not None and isinstance(node.container, ListLiteral):
            values = node.container.values
            if values and all(isinstance(v, str | int | bool) for v in values):
                return frozenset((target, v) for v in values)
        if (
            isinstance(node.container, Name)
            and node.container.path in _LIST_NAMES
            and var is None
            and _is_plain_const(node.element)
        ):
            return frozenset({(node.container.path, interpret(node.element, {}))})
        return None
    if var is None and isinstance(node, Name) and node.path not in _LIST_NAMES:
        return frozenset({(node.path, True)})  # a bool name used as a condition
    if var is None and isinstance(node, Not) and isinstance(node.operand, Name):
        return frozenset({(node.operand.path, False)})
    return None


def _conjuncts(node: Condition) -> tuple[Condition, ...]:
    return node.operands if isinstance(node, Logic) and node.kind == "and" else (node,)


def _exact_keys(node: Condition) -> frozenset[Key] | None:
    """Keys of a conjunct that is true *exactly* when the request has one of them, or None.

    These are the forms whose compiled meaning is a plain lookup: ``cart.has_sku(K)``,
    ``name == K``, ``name in [...]``, ``K in list_name`` and ranges on the hour or minute.
    (A bare bool name is left out: an odd value such as ``1`` would hit the key ``True``.)
    """
    if isinstance(node, Call) or (isinstance(node, Compare) and node.op == "=="):
        return requirement(node)
    if isinstance(node, In | Between) or (isinstance(node, Compare) and node.op in _FLIPPED):
        return _name_key(node, None)
    return None


def _threshold(node: Condition) -> tuple[str, str, Any] | None:
    """``name OP K`` for a numeric constant ``K`` and a plain request name, as (name, op, K)."""
    if not (isinstance(node, Compare) and node.op in _FLIPPED):
        return None
    for name_side, value_side, op in (
        (node.left, node.right, node.op),
        (node.right, node.left, _FLIPPED[node.op]),
    ):
        if isinstance(name_side, Name) and _is_number(value_side):
            return name_side.path, op, interpret(value_side, {})
    return None


_FIELD_OF = {name: field for field, name in _CART_FIELDS.items()}
Plan = tuple[Any, ...] | None


def _item_ladder(node: Condition) -> tuple[frozenset[Key], Plan] | None:
    """``any item in cart.items: item.F == K [and item.G OP N]`` (F is sku or category).

    True exactly when the cart has K among its F values (and one of those items has
    ``G OP N``): the key (cart.Fs, K), then an item ladder on G.
    """
    if not (
        isinstance(node, Quantifier) and node.kind == "any" and node.collection.path == "cart.items"
    ):
        return None
    parts = _conjuncts(node.condition)
    if len(parts) > 2:
        return None
    found: tuple[frozenset[Key], Plan] | None = None
    for i, part in enumerate(parts):
        if not (isinstance(part, Compare) and part.op == "=="):
            continue
        keys = requirement(part, node.var)
        if keys is None or len(keys) != 1 or next(iter(keys))[0] not in _FIELD_OF:
            continue  # not a test of the item's sku or category
        if len(parts) == 1:
            return keys, None
        other = parts[1 - i]
        test = _threshold(other)
        head, _, item_field = test[0].partition(".") if test is not None else ("", "", "")
        if test is not None and head == node.var and item_field in ("quantity", "price"):
            found = keys, ("items", item_field, test[1], test[2])
    return found


def _plan(node: Condition) -> tuple[frozenset[Key] | None, Plan]:
    """Where a rule goes in the index: its keys, and how a hit is decided.

    ``None``: the key decides; ``("gate", name, values)`` or ``("ladder", name, op, K)``: the
    key and one more lookup or threshold decide; ``("items", field, op, K)``: an item
    ladder; ``("check",)``: evaluate the rule. No keys: evaluate it for every request.
    """
    parts = _conjuncts(node)
    options = [_exact_keys(p) for p in parts]
    items = [_item_ladder(p) for p in parts]
    lookups = [o for o in options if o is not None]
    if len(parts) == 1 and items[0] is not None:
        return items[0]
    if lookups:
        keys = min(lookups, key=_rank)
        rest = [i for i, o in enumerate(options) if o != keys]
        if len(rest) == len(parts) - 1:
            if not rest:
                return keys, None
            if len(rest) == 1:
                last, last_keys = parts[rest[0]], options[rest[0]]
                threshold = _threshold(last)
                if threshold is not None:
                    return keys, ("ladder", *threshold)
                names = {name for name, _ in last_keys or ()}
                if last_keys is not None and len(names) == 1:
                    return keys, ("gate", names.pop(), [v for _, v in last_keys])
        return keys, ("check",)
    return requirement(node), ("check",)


class _Ladder:
    """Rules whose last test is ``name OP K``, sorted by ``K``: one bisect finds the true ones.

    With ``group`` = (field, value), ``name`` is an item field and the test is ``any item
    whose field equals value has name OP K``: each such item's value cuts the ladder and the
    widest cut wins.
    """

    __slots__ = ("bounds", "group", "name", "op", "rules")

    def __init__(
        self,
        name: str,
        op: str,
        entries: list[tuple[Any, int]],
        group: tuple[str, Any] | None = None,
    ) -> None:
        entries.sort()
        self.name, self.op, self.group = name, op, group
        self.bounds = [k for k, _ in entries]
        self.rules = [i for _, i in entries]

    def passing(self, ctx: dict[str, Any]) -> list[int]:
        if self.group is None:
            v = ctx.get(self.name)
            values = [] if v is None else [v]
        else:
            field_name, key = self.group
            groups = items_by(ctx, field_name) or {}
            values = [x for item in groups.get(key, ()) if (x := item.get(self.name)) is not None]
        if not values:
            return []
        bounds = self.bounds
        if self.op == ">":  # K < v
            return self.rules[: max(bisect_left(bounds, v) for v in values)]
        if self.op == ">=":  # K <= v
            return self.rules[: max(bisect_right(bounds, v) for v in values)]
        if self.op == "<":  # K > v
            return self.rules[min(bisect_right(bounds, v) for v in values) :]
        return self.rules[min(bisect_left(bounds, v) for v in values) :]  # "<=": K >= v


class _Gate:
    """Rules whose last test is a lookup on ``name``: the value (or members) pick the true ones."""

    __slots__ = ("by_value", "name")

    def __init__(self, name: str, entries: list[tuple[Any, int]]) -> None:
        self.name = name
        self.by_value: dict[Any, list[int]] = {}
        for value, order in entries:
            self.by_value.setdefault(value, []).append(order)

    def passing(self, ctx: dict[str, Any]) -> list[int]:
        v = ctx.get(self.name)
        if v is None:
            return []
        if isinstance(v, frozenset):
            return [i for value, ids in self.by_value.items() if value in v for i in ids]
        return self.by_value.get(v, [])


class _Posting:
    """The rules posted under one key: decided by the key alone (``exact``), by the key and one
    more lookup or numeric test (``tests``), or to be evaluated (``check``)."""

    __slots__ = ("all", "check", "exact", "tests")

    def __init__(self) -> None:
        self.exact: list[int] = []
        self.tests: list[_Ladder | _Gate] = []
        self.check: list[int] = []
        self.all: list[int] = []


class TriggerIndex(Generic[R]):
    """Rules by the keys they require; ``match(ctx)`` evaluates only the candidates.

    A rule that is a lookup (``cart.has_sku``, ``==``, ``in``, hour ranges), or a lookup ``and``
    one more lookup or numeric threshold (``cart.total > 40``), is decided by the index alone:
    it is posted under the keys of its most selective lookup, and the second test is one dict
    lookup or one bisect over the rules that share that key. Every other rule is posted under its requirement and
    evaluated when a key hits, and rules with no requirement are evaluated for every request.
    """

    def __init__(self, rules: Sequence[tuple[R, CompiledCondition]]) -> None:
        self._rules: list[R] = [rule for rule, _ in rules]
        self._evaluators = [condition.evaluator for _, condition in rules]
        postings: dict[str, dict[Any, _Posting]] = {}
        tests: dict[tuple[str, Any, tuple[Any, ...]], list[tuple[Any, int]]] = {}
        self._always: list[int] = []
        for order, (_, condition) in enumerate(rules):
            keys, plan = _plan(condition.ast)
            if keys is None:
                self._always.append(order)
                continue
            for name, value in keys:
                posting = postings.setdefault(name, {}).setdefault(value, _Posting())
                posting.all.append(order)
                if plan is None:
                    posting.exact.append(order)
                elif plan[0] == "check":
                    posting.check.append(order)
                elif plan[0] == "gate":
                    entries = [(v, order) for v in plan[2]]
                    tests.setdefault((name, value, plan[:2]), []).extend(entries)
                else:
                    tests.setdefault((name, value, plan[:3]), []).append((plan[3], order))
        for (name, value, test), entries in tests.items():
            posting = postings[name][value]
            if test[0] == "gate":
                posting.tests.append(_Gate(test[1], entries))
            elif test[0] == "ladder":
                posting.tests.append(_Ladder(test[1], test[2], entries))
            else:  # an item ladder: the posting's key names the group of items
                group = (_FIELD_OF[name], value)
                posting.tests.append(_Ladder(test[1], test[2], entries, group))
        self._names = tuple(postings.items())

    def __len__(self) -> int:
        return len(self._rules)

    @property
    def always_checked(self) -> int:
        """How many rules have no requirement and are evaluated for every request."""
        return len(self._always)

    def _hits(self, ctx: dict[str, Any]) -> list[_Posting]:
        hits: list[_Posting] = []
        for name, by_value in self._names:
            value = ctx.get(name)
            if value is None:
                continue
            if isinstance(value, frozenset):
                for member in value:
                    posting = by_value.get(member)
                    if posting is not None:
                        hits.append(posting)
            else:
                posting = by_value.get(value)
                if posting is not None:
                    hits.append(posting)
        return hits

    def candidates(self, ctx: dict[str, Any]) -> list[int]:
        """Positions of the rules a key of ``ctx`` nominates (and those always checked)."""
        found: set[int] = set(self._always)
        for posting in self._hits(ctx):
            found.update(posting.all)
        return sorted(found)

    def match(self, ctx: dict[str, Any]) -> list[R]:
        """The rules whose trigger is true for ``ctx``, in the order they were given."""
        # A rule decided by the index is posted under the keys of one lookup, on a name that
        # has one value per request or with a single key, so it is found at most once.
        found: list[int] = []
        check: set[int] = set(self._always)
        for posting in self._hits(ctx):
            found += posting.exact
            for test in posting.tests:
                found += test.passing(ctx)
            check.update(posting.check)
        evaluators = self._evaluators
        found += [i for i in check if evaluators[i](ctx) is True]
        found.sort()
        rules = self._rules
        return [rules[i] for i in found]
