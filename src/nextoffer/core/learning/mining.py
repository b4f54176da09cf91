"""Association-rule mining: frequent itemsets and rules with a single-item consequent.

The convention of arules, pyfim and Spark: the support of a rule ``A → c`` is the share of
baskets holding every item of ``A ∪ {c}``; the confidence is ``count(A ∪ {c}) ÷ count(A)``.

Both thresholds are applied exactly. The support threshold is a count, ``⌈min_support ×
N⌉``, and the confidence test ``count(A ∪ {c}) ÷ count(A) ≥ min_confidence`` is done in
integers with the threshold read as the decimal it was written as (0.8 is 4/5, not the
double closest to it), so no rule is won or lost to floating-point rounding at the edge.

The search is Eclat over bit sets: one bit per basket for every frequent item, pair counts
from the upper triangles of the baskets' items (baskets of one length at a time), then a
depth-first walk in which every node counts all its extensions with one vectorised AND and
population count.

>>> result = mine([["beer", "chips"], ["beer", "chips", "salsa"], ["beer"], ["salsa"]],
...               min_support=0.5, min_confidence=0.6)
>>> [(r.antecedent, r.consequent, r.count, round(r.confidence, 3)) for r in result.rules]
[(('chips',), 'beer', 2, 1.0), (('beer',), 'chips', 2, 0.667)]
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from itertools import chain

import numpy as np
import numpy.typing as npt

__all__ = [
    "STATISTICS",
    "Bitsets",
    "MinedRule",
    "MiningError",
    "MiningResult",
    "exact",
    "min_count",
    "mine",
]

Progress = Callable[[int, int], None]
_Bits = npt.NDArray[np.uint64]


class MiningError(ValueError):
    """A threshold or the input is unusable; ``field`` names the culprit."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field, self.message = field, message


@dataclass(frozen=True, slots=True)
class MinedRule:
    """``antecedent → consequent`` with its counts over ``n`` baskets.

    ``count`` holds both sides, ``antecedent_count`` the antecedent,
    ``consequent_count`` the consequent. The statistics derive from them: support
    (count ÷ n), confidence (count ÷ antecedent_count), lift (confidence ÷ the
    consequent's support), leverage (support − the product of both sides' supports) and
    conviction ((1 − the consequent's support) ÷ (1 − confidence); infinite when the
    confidence is 1).
    """

    antecedent: tuple[str, ...]
    consequent: str
    count: int
    antecedent_count: int
    consequent_count: int
    n: int

    @property
    def support(self) -> float:
        return self.count / self.n

    @property
    def confidence(self) -> float:
        return self.count / self.antecedent_count

    @property
    def lift(self) -> float:
        return self.count * self.n / (self.antecedent_count * self.consequent_count)

    @property
    def leverage(self) -> float:
        return self.count / self.n - (self.antecedent_count / self.n) * (
            self.consequent_count / self.n
        )

    @property
    def conviction(self) -> float:
        if self.count == self.antecedent_count:
            return math.inf
        return (1 - self.consequent_count / self.n) / (1 - self.confidence)

    @property
    def items(self) -> int:
        return len(self.antecedent) + 1

    def statistics(self, *, finite: bool = False) -> dict[str, float | int | None]:
        """Every statistic by name, in the order of ``STATISTICS``; ``finite``: an infinite
        conviction as None (JSON has no infinity)."""
        out: dict[str, float | int | None] = {name: getattr(self, name) for name in STATISTICS}
        if finite and math.isinf(self.conviction):
            out["conviction"] = None
        return out


STATISTICS = ("support", "confidence", "lift", "count", "leverage", "conviction",
              "antecedent_count", "consequent_count")  # fmt: skip


@dataclass(frozen=True, slots=True)
class MiningResult:
    n: int  # baskets
    min_count: int  # ⌈min_support × n⌉
    min_confidence: Fraction
    itemsets: dict[tuple[str, ...], int]  # every frequent itemset (items sorted) → count
    rules: tuple[MinedRule, ...]  # by lift, then confidence, then count (highest first)
    bits: Bitsets

    def baskets_with(self, items: Iterable[str], limit: int) -> list[int]:
        """The positions of the first ``limit`` baskets holding every one of ``items``."""
        return self.bits.baskets_with(items, limit)


class Bitsets:
    """One bit per basket for each item: which baskets hold it."""

    def __init__(self, names: Sequence[str], bits: _Bits) -> None:
        self.index = {name: i for i, name in enumerate(names)}
        self.bits = bits

    @classmethod
    def of(cls, baskets: Sequence[Collection[str]], items: Iterable[str]) -> Bitsets:
        """The bit sets of ``items`` (those that occur) over ``baskets``."""
        known, rows, codes = _incidence(baskets)
        position = {item: i for i, item in enumerate(known)}
        chosen = sorted(position[item] for item in set(items) if item in position)
        rows, cols = _select(rows, codes, chosen, len(known))
        return cls([known[i] for i in chosen], _pack(rows, cols, len(chosen), len(baskets)))

    def _joint(self, items: Iterable[str]) -> _Bits | None:
        ids = []
        for item in items:
            if item not in self.index:
                return None
            ids.append(self.index[item])
        joined: _Bits = np.bitwise_and.reduce(self.bits[ids], axis=0)
        return joined

    def count(self, items: Iterable[str]) -> int:
        """How many baskets hold every one of ``items``."""
        joined = self._joint(items)
        return 0 if joined is None else int(np.bitwise_count(joined).sum())

    def baskets_with(self, items: Iterable[str], limit: int) -> list[int]:
        joined = self._joint(items)
        if joined is None:
            return []
        found: list[int] = []
        for word in np.flatnonzero(joined).tolist():
            value = int(joined[word])
            while value and len(found) < limit:
                low = value & -value
                found.append(word * 64 + low.bit_length() - 1)
                value ^= low
            if len(found) >= limit:
                break
        return found


def _pack(rows: npt.NDArray[np.int64], cols: npt.NDArray[np.int64], k: int, n: int) -> _Bits:
    bits: _Bits = np.zeros((k, (n + 63) // 64), dtype=np.uint64)
    np.bitwise_or.at(
        bits, (cols, rows >> 6), np.left_shift(np.uint64(1), (rows & 63).astype(np.uint64))
    )
    return bits


def exact(value: float | str | Fraction, field: str) -> Fraction:
    """A threshold as the exact decimal it was written as (0.1 is 1/10), within [0, 1]."""
    try:
        frac = value if isinstance(value, Fraction) else Fraction(str(value))
    except (ValueError, ZeroDivisionError):
        raise MiningError(field, f"{value!r} is not a number") from None
    if not 0 <= frac <= 1:
        raise MiningError(field, f"must be between 0 and 1, got {value}")
    return frac


def min_count(min_support: float | str | Fraction, n: int) -> int:
    """The support threshold as a count: ⌈min_support × n⌉, at least 1."""
    return max(1, math.ceil(exact(min_support, "min_support") * n))


def mine(
    baskets: Iterable[Collection[str]],
    *,
    min_support: float | str | Fraction,
    min_confidence: float | str | Fraction,
    max_len: int | None = None,
    progress: Progress | None = None,
) -> MiningResult:
    """Frequent itemsets and the rules ``A → c`` (``A`` not empty) that meet both thresholds.

    ``max_len`` bounds the items of a rule (antecedent and consequent together), and with it
    the itemsets. ``progress(done, total)`` is called as the first items' subtrees finish.
    """
    support = exact(min_support, "min_support")
    confidence = exact(min_confidence, "min_confidence")
    if support == 0:
        raise MiningError("min_support", "must be above 0")
    if max_len is not None and max_len < 2:
        raise MiningError("max_len", f"a rule has at least 2 items, got {max_len}")
    listed = baskets if isinstance(baskets, list | tuple) else list(baskets)
    n = len(listed)
    if n == 0:
        raise MiningError("transactions", "there are no baskets")
    minc = min_count(support, n)
    limit = max_len if max_len is not None else 1 << 30

    names, counts, bits, pairs = _frequent_items(listed, minc)
    k = len(names)
    found: dict[tuple[int, ...], int] = {(i,): int(counts[i]) for i in range(k)}
    if limit >= 2 and k > 1:
        _walk(k, bits, pairs, minc, limit, found, progress)
    elif progress is not None:
        progress(k, k)

    rules = _rules(found, names, n, confidence)
    itemsets = {tuple(sorted(names[i] for i in key)): c for key, c in found.items()}
    return MiningResult(n, minc, confidence, itemsets, rules, Bitsets(names, bits))


def _incidence(
    baskets: Sequence[Collection[str]],
) -> tuple[list[str], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Every item (in order of first appearance) and the (basket, item code) pairs, each
    once however often a basket lists the item, sorted by basket then code."""
    lengths = np.fromiter(map(len, baskets), dtype=np.int64, count=len(baskets))
    flat = list(chain.from_iterable(baskets))
    index = {item: i for i, item in enumerate(dict.fromkeys(flat))}
    m = len(index)
    codes = np.fromiter(map(index.__getitem__, flat), dtype=np.int64, count=len(flat))
    del flat
    keys = np.sort(np.repeat(np.arange(len(baskets), dtype=np.int64), lengths) * m + codes)
    if len(keys):
        keys = keys[np.concatenate(([True], keys[1:] != keys[:-1]))]
    rows, codes = np.divmod(keys, m)
    return list(index), rows, codes


def _select(
    rows: npt.NDArray[np.int64], codes: npt.NDArray[np.int64], chosen: Sequence[int], m: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """The pairs of the ``chosen`` codes (of ``m``), renumbered by their place in ``chosen``
    and sorted by basket then new number."""
    k = len(chosen)
    rank = np.full(m, -1, dtype=np.int64)
    rank[list(chosen)] = np.arange(k)
    cols = rank[codes]
    kept = cols >= 0
    rows, cols = rows[kept], cols[kept]
    ordered = np.argsort(rows * k + cols, kind="stable")
    return rows[ordered], cols[ordered]


def _frequent_items(
    baskets: Sequence[Collection[str]], minc: int
) -> tuple[list[str], npt.NDArray[np.int64], _Bits, _Pairs]:
    """The frequent items (rarest first), their counts, one bit set per item, and the
    frequent pairs ``(first, second, count)`` with ``first < second``."""
    items, rows, codes = _incidence(baskets)
    counts = np.bincount(codes, minlength=len(items))
    frequent = np.flatnonzero(counts >= minc)
    order = sorted(frequent.tolist(), key=lambda i: (counts[i], items[i]))
    names = [items[i] for i in order]
    k, n = len(names), len(baskets)
    rows, cols = _select(rows, codes, order, len(items))
    del codes
    bits = _pack(rows, cols, k, n)
    return names, counts[order].astype(np.int64), bits, _pairs(rows, cols, k, n, minc)


_Pairs = tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]]
_BATCH = 1 << 19  # pair codes counted at once


def _pairs(
    rows: npt.NDArray[np.int64], cols: npt.NDArray[np.int64], k: int, n: int, minc: int
) -> _Pairs:
    """Count every pair of frequent items that share a basket: baskets of the same length
    side by side, each one's pairs from the upper triangle of its items, counted in the
    packed upper triangle of a k × k matrix."""
    lengths = np.bincount(rows, minlength=n)
    starts = np.concatenate(([0], np.cumsum(lengths)[:-1]))
    a = np.arange(k, dtype=np.int64)
    offsets = a * (2 * k - a - 1) // 2  # where row a of the packed triangle starts
    shifted = offsets - a - 1  # pair (a, b), a < b, is at shifted[a] + b
    cells = k * (k - 1) // 2
    small = np.int32 if cells < 2**31 else np.int64  # halves the memory the pairs pass through
    cols32, shifted32 = cols.astype(small), shifted.astype(small)
    total = np.zeros(cells, dtype=np.int64)
    pending: list[npt.NDArray[np.int64]] = []
    size = 0
    # long baskets: one dense product of their 0/1 rows (BLAS; exact in float32 below 2**24)
    dense = max(32, k // 10)
    long = np.flatnonzero(lengths > dense)
    if len(long) and len(long) < 1 << 24:
        matrix = np.zeros((len(long), k), dtype=np.float32)
        which = np.repeat(np.arange(len(long)), lengths[long])
        spans = np.concatenate(
            [np.arange(starts[b], starts[b] + lengths[b]) for b in long.tolist()]
        )
        matrix[which, cols[spans]] = 1.0
        product = matrix.T @ matrix
        upper_a, upper_b = np.triu_indices(k, 1)
        total += product[upper_a, upper_b].astype(np.int64)
        del matrix, product, upper_a, upper_b
        lengths = lengths.copy()
        lengths[long] = 0
    for length in np.unique(lengths[lengths >= 2]).tolist():
        members = cols32[starts[lengths == length][:, None] + np.arange(length)]
        upper, lower = np.triu_indices(length, 1)
        pending.append((shifted32[members][:, upper] + members[:, lower]).ravel())
        size += pending[-1].size
        if size >= _BATCH:
            total += np.bincount(np.concatenate(pending), minlength=cells)
            pending, size = [], 0
    if pending:
        total += np.bincount(np.concatenate(pending), minlength=cells)
    codes = np.flatnonzero(total >= minc)
    first = np.searchsorted(offsets, codes, side="right") - 1
    return first, codes - shifted[first], total[codes]


def _walk(
    k: int,
    bits: _Bits,
    pairs: _Pairs,
    minc: int,
    limit: int,
    found: dict[tuple[int, ...], int],
    progress: Progress | None,
) -> None:
    """Depth-first Eclat from the frequent pairs; fills ``found`` with every itemset."""
    first, second, pair_counts = pairs  # frequent, ordered by (first, second)
    starts = np.searchsorted(first, np.arange(k + 1))
    frequent_pair = set(zip(first.tolist(), second.tolist(), strict=True))

    for a in range(k):
        lo, hi = starts[a], starts[a + 1]
        if lo < hi:
            ext = second[lo:hi]
            ext_counts = pair_counts[lo:hi].tolist()
            ext_ids = ext.tolist()
            for j, c in zip(ext_ids, ext_counts, strict=True):
                found[(a, j)] = int(c)
            if limit > 2 and len(ext_ids) > 1:
                _extend((a,), bits[a] & bits[ext], ext_ids, minc, limit, found, frequent_pair)
        if progress is not None:
            progress(a + 1, k)


def _extend(
    prefix: tuple[int, ...],
    tidsets: _Bits,
    items: list[int],
    minc: int,
    limit: int,
    found: dict[tuple[int, ...], int],
    frequent_pair: set[tuple[int, int]],
) -> None:
    """``tidsets[i]`` holds the baskets of ``prefix + (items[i],)``, every one frequent."""
    depth = len(prefix) + 2
    for i in range(len(items) - 1):
        head = items[i]
        tail = [j for j in range(i + 1, len(items)) if (head, items[j]) in frequent_pair]
        if not tail:
            continue
        joined = tidsets[tail] & tidsets[i]
        counts = np.bitwise_count(joined).sum(axis=1, dtype=np.int64)
        ok = np.flatnonzero(counts >= minc)
        if len(ok) == 0:
            continue
        node = (*prefix, head)
        next_items = [items[tail[j]] for j in ok.tolist()]
        for item, c in zip(next_items, counts[ok].tolist(), strict=True):
            found[(*node, item)] = int(c)
        if depth < limit and len(next_items) > 1:
            _extend(node, joined[ok], next_items, minc, limit, found, frequent_pair)


def _rules(
    found: dict[tuple[int, ...], int], names: list[str], n: int, confidence: Fraction
) -> tuple[MinedRule, ...]:
    p, q = confidence.numerator, confidence.denominator
    out: list[MinedRule] = []
    for itemset, count in found.items():
        size = len(itemset)
        if size < 2:
            continue
        for pos in range(size):
            antecedent = itemset[:pos] + itemset[pos + 1 :]
            a_count = found[antecedent]
            if count * q >= p * a_count:  # count / a_count ≥ p / q, in integers
                c = itemset[pos]
                out.append(
                    MinedRule(
                        tuple(sorted(names[i] for i in antecedent)),
                        names[c],
                        count,
                        a_count,
                        found[(c,)],
                        n,
                    )
                )
    out.sort(key=lambda r: (-r.lift, -r.confidence, -r.count, r.antecedent, r.consequent))
    return tuple(out)
