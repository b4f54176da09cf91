"""Association-rule mining: frequent itemsets and rules with a single-item consequent.

The convention of arules, pyfim and Spark: the support of a rule ``A → c`` is the share of
baskets holding every item of ``A ∪ {c}``; the confidence is ``count(A ∪ {c}) ÷ count(A)``.

Both thresholds are applied exactly. The support threshold is a count, ``⌈min_support ×
N⌉``, and the confidence test ``count(A ∪ {c}) ÷ count(A) ≥ min_confidence`` is done in
integers with the threshold read as the decimal it was written as (0.8 is 4/5, not the
double closest to it), so no rule is won or lost to floating-point rounding at the edge.

The search is Eclat over bit sets, one itemset size at a time and vectorised across the
whole size, so that the interpreter runs a few dozen numpy calls per size rather than a
few per itemset. Pairs are counted from the upper triangles of the baskets' items
(baskets of one length at a time; the longest baskets by AND and population count).
Every larger itemset extends a pair ``(a, b)`` whose first item ``a`` is the rarer, so
only baskets holding ``a`` can hold it: the bit sets of the pairs, and of everything
grown from them, keep one bit per basket of ``a`` rather than one per basket (about 30
times fewer words on Online Retail). Sibling itemsets (the same items but the last) are
joined by one AND and population count over all candidates of a size at once.

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
from itertools import chain, count

import numpy as np
import numpy.typing as npt

from ..errors import NextofferError
from .baskets import CodedBaskets

__all__ = [
    "STATISTICS",
    "Bitsets",
    "MinedRule",
    "MiningError",
    "MiningResult",
    "exact",
    "min_count",
    "mine",
    "thresholds",
]

Progress = Callable[[int, int], None]
_Bits = npt.NDArray[np.uint64]


class MiningError(NextofferError):
    """A threshold or the input is unusable; raised by ``mine`` before it counts anything,
    ``field`` names the culprit."""


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
        conviction = self.conviction
        return {  # spelled out rather than getattr by name: a CLI writes thousands of these
            "support": self.count / self.n,
            "confidence": self.count / self.antecedent_count,
            "lift": self.lift,
            "count": self.count,
            "leverage": self.leverage,
            "conviction": None if finite and math.isinf(conviction) else conviction,
            "antecedent_count": self.antecedent_count,
            "consequent_count": self.consequent_count,
        }


STATISTICS = ("support", "confidence", "lift", "count", "leverage", "conviction",
              "antecedent_count", "consequent_count")  # fmt: skip


@dataclass(frozen=True, slots=True)
class MiningResult:
    n: int  # baskets
    min_count: int  # ⌈min_support × n⌉
    min_confidence: Fraction
    itemsets: dict[tuple[str, ...], int]  # every frequent itemset (items sorted) → count
    rules: tuple[MinedRule, ...]  # by lift, then confidence, then count (highest first)
    bits: Bitsets | None  # None: the baskets stayed where they were counted (on Spark)

    def baskets_with(self, items: Iterable[str], limit: int) -> list[int]:
        """The positions of the first ``limit`` baskets holding every one of ``items``."""
        if self.bits is None:
            raise MiningError("baskets", "this result was mined where its baskets are (Spark)")
        return self.bits.baskets_with(items, limit)


class Bitsets:
    """One bit per basket for each item: which baskets hold it."""

    def __init__(self, names: Sequence[str], bits: _Bits) -> None:
        self.index = {name: i for i, name in enumerate(names)}
        self.bits = bits

    @classmethod
    def of(cls, baskets: Sequence[Collection[str]], items: Iterable[str]) -> Bitsets:
        """The bit sets of ``items`` (those that occur) over ``baskets``."""
        known, rows, codes = _incidence(baskets)  # repeats are harmless: bits are ORed
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


def thresholds(
    n: int,
    min_support: float | str | Fraction,
    min_confidence: float | str | Fraction,
    max_len: int | None,
) -> tuple[int, Fraction]:
    """The thresholds of a mining run over ``n`` baskets, checked in one order with one set
    of messages for every miner (local or on Spark): the support as a count of baskets
    (``min_count``) and the confidence as an exact fraction."""
    support = exact(min_support, "min_support")
    confidence = exact(min_confidence, "min_confidence")
    if support == 0:
        raise MiningError("min_support", "must be above 0")
    if max_len is not None and max_len < 2:
        raise MiningError("max_len", f"a rule has at least 2 items, got {max_len}")
    if n == 0:
        raise MiningError("transactions", "there are no baskets")
    return min_count(support, n), confidence


def mine(
    baskets: Iterable[Collection[str]],
    *,
    min_support: float | str | Fraction,
    min_confidence: float | str | Fraction,
    max_len: int | None = None,
    progress: Progress | None = None,
) -> MiningResult:
    """Frequent itemsets and the rules ``A → c`` (``A`` not empty) that meet both thresholds.

    ``baskets`` are collections of item names, or ``CodedBaskets`` (taken as coded).
    ``max_len`` bounds the items of a rule (antecedent and consequent together), and with it
    the itemsets. ``progress(done, total)`` is called as each itemset size is finished:
    ``done`` items per itemset, of at most ``total`` (a bound that tightens as sizes finish).
    """
    listed = baskets if isinstance(baskets, list | tuple | CodedBaskets) else list(baskets)
    n = len(listed)
    minc, confidence = thresholds(n, min_support, min_confidence, max_len)
    limit = max_len if max_len is not None else 1 << 30

    frequent = _frequent_items(listed, minc)
    names, k = frequent.names, len(frequent.names)
    levels = [_Level(np.arange(k, dtype=np.int64)[:, None], frequent.counts)]
    if limit >= 2 and k > 1:
        levels += _larger(frequent, n, minc, limit, progress)
    elif progress is not None:
        progress(1, 1)

    # each itemset's items in name order, so that dropping one leaves its antecedent's key
    by_name = np.empty(k, dtype=np.int64)
    by_name[sorted(range(k), key=names.__getitem__)] = np.arange(k)
    labels = np.array(names, dtype=object)
    itemsets: dict[tuple[str, ...], int] = {}
    named: list[npt.NDArray[np.object_]] = []
    for level in levels:
        ids = np.take_along_axis(level.sets, np.argsort(by_name[level.sets], axis=1), axis=1)
        named.append(labels[ids])
        itemsets.update(zip(map(tuple, named[-1].tolist()), level.counts.tolist(), strict=True))
    rules = _rules(named[1:], levels[1:], itemsets, n, confidence)
    return MiningResult(n, minc, confidence, itemsets, rules, Bitsets(names, frequent.bits))


def _incidence(
    baskets: Sequence[Collection[str]],
) -> tuple[list[str], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Every item (in order of first appearance) and one (basket, item code) pair per item
    listed, basket by basket; an item that a basket lists twice is there twice.

    Coded baskets are that already. Otherwise one pass in C over the items:
    ``index.setdefault`` gives each the position where it was first listed, and a
    cumulative sum renumbers those positions 0, 1, 2, …
    """
    if isinstance(baskets, CodedBaskets):
        rows = np.repeat(np.arange(len(baskets), dtype=np.int64), baskets.lengths)
        return list(baskets.items), rows, baskets.codes
    lengths = np.fromiter(map(len, baskets), dtype=np.int64, count=len(baskets))
    listed = int(lengths.sum())
    index: dict[str, int] = {}
    first = np.fromiter(
        map(index.setdefault, chain.from_iterable(baskets), count()), dtype=np.int64, count=listed
    )
    codes = (np.cumsum(first == np.arange(listed)) - 1)[first]
    rows = np.repeat(np.arange(len(baskets), dtype=np.int64), lengths)
    return list(index), rows, codes


def _select(
    rows: npt.NDArray[np.int64], codes: npt.NDArray[np.int64], chosen: Sequence[int], m: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """The pairs of the ``chosen`` codes (of ``m``), renumbered by their place in
    ``chosen``, in the order they came."""
    rank = np.full(m, -1, dtype=np.int64)
    rank[list(chosen)] = np.arange(len(chosen))
    cols = rank[codes]
    kept = cols >= 0
    return rows[kept], cols[kept]


@dataclass(frozen=True, slots=True)
class _Frequent:
    """The frequent items, rarest first (ties by name), and where they occur."""

    names: list[str]
    counts: npt.NDArray[np.int64]
    bits: _Bits  # one bit set per item
    rows: npt.NDArray[np.int64]  # (basket, item) pairs, each once, basket by basket
    cols: npt.NDArray[np.int64]


def _frequent_items(baskets: Sequence[Collection[str]], minc: int) -> _Frequent:
    """The items in at least ``minc`` baskets. Baskets seldom list an item twice, so the
    pairs are counted as listed, and deduplicated (a sort) only when the bit sets, where a
    repeat sets no new bit, hold fewer bits than there were pairs."""
    items, rows, codes = _incidence(baskets)
    while True:
        counts = np.bincount(codes, minlength=len(items))
        by_count = counts.tolist()
        order = sorted(
            np.flatnonzero(counts >= minc).tolist(), key=lambda i: (by_count[i], items[i])
        )
        kept_rows, cols = _select(rows, codes, order, len(items))
        bits = _pack(kept_rows, cols, len(order), len(baskets))
        if int(np.bitwise_count(bits).sum()) == len(cols):
            break
        # a basket lists an item twice: drop the repeats and count again
        keys = np.unique(rows * len(items) + codes)
        rows, codes = keys // len(items), keys % len(items)
    names = [items[i] for i in order]
    return _Frequent(names, counts[order].astype(np.int64), bits, kept_rows, cols)


_Pairs = tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]]
_BATCH = 1 << 18  # pair codes counted at once (2 MB)
_WORDS = 1 << 20  # words of bit sets ANDed at once (8 MB)


def _pairs(frequent: _Frequent, n: int, minc: int) -> _Pairs:
    """Count every pair of frequent items that share a basket: baskets of the same length
    side by side, each one's pairs from the upper triangle of its (sorted) items, counted
    in the packed upper triangle of a k × k matrix. The frequent pairs ``(first, second,
    count)``, ``first < second``, ordered by first then second."""
    rows, cols, k = frequent.rows, frequent.cols, len(frequent.names)
    lengths = np.bincount(rows, minlength=n)
    starts = np.cumsum(lengths) - lengths
    a = np.arange(k, dtype=np.int64)
    offsets = a * (2 * k - a - 1) // 2  # where row a of the packed triangle starts
    shifted = offsets - a - 1  # pair (a, b), a < b, is at shifted[a] + b
    cells = k * (k - 1) // 2
    total = np.zeros(cells, dtype=np.int64)
    # Long baskets: one bit per long basket for each item, and a pair's count in them is the
    # population count of an AND, for a block of rows of the triangle at once, one word of
    # 64 baskets at a time. (A float32 matrix product of their 0/1 rows is no quicker on
    # one core, and BLAS threads stall when another process holds the other one.)
    long = np.flatnonzero(lengths > max(32, k // 10))
    if len(long):
        spans = lengths[long]
        at = np.arange(spans.sum()) + np.repeat(starts[long] - (np.cumsum(spans) - spans), spans)
        words = _pack(np.repeat(np.arange(len(long)), spans), cols[at], k, len(long)).T.copy()
        step = max(1, min(128, _WORDS // k))  # rows of the triangle at once
        for lo in range(0, k - 1, step):
            hi = min(lo + step, k - 1)
            shared = np.zeros((hi - lo, k - lo - 1), dtype=np.int64)  # [i, j]: lo + i, lo + 1 + j
            for word in words:
                shared += np.bitwise_count(word[lo:hi, None] & word[None, lo + 1 :])
            for row in range(lo, hi):
                total[offsets[row] : offsets[row] + k - row - 1] += shared[row - lo, row - lo :]
        lengths[long] = 0
    by_length = np.argsort(lengths, kind="stable")
    bounds = np.concatenate(([0], np.cumsum(np.bincount(lengths))))
    # two reused buffers: fresh arrays this size would cost a page fault every 512 codes
    pair_codes = np.empty(_BATCH, dtype=np.int64)
    seconds = np.empty(_BATCH, dtype=np.int64)
    for length in (np.flatnonzero(bounds[3:] > bounds[2:-1]) + 2).tolist():
        baskets = by_length[bounds[length] : bounds[length + 1]]
        members = cols[starts[baskets][:, None] + np.arange(length)]
        members.sort(axis=1)
        firsts = shifted[members]
        upper, lower = np.triu_indices(length, 1)
        step = max(1, _BATCH // len(upper))
        for lo in range(0, len(baskets), step):
            hi = min(lo + step, len(baskets))
            out = pair_codes[: (hi - lo) * len(upper)].reshape(hi - lo, len(upper))
            other = seconds[: out.size].reshape(out.shape)
            np.take(firsts[lo:hi], upper, axis=1, out=out)
            np.take(members[lo:hi], lower, axis=1, out=other)
            out += other
            np.add.at(total, out.ravel(), 1)
    codes = np.flatnonzero(total >= minc)
    first = np.searchsorted(offsets, codes, side="right") - 1
    return first, codes - shifted[first], total[codes]


@dataclass(frozen=True, slots=True)
class _Level:
    """The frequent itemsets of one size: item ranks (one row each, increasing along the
    row, rows in lexicographic order) and counts."""

    sets: npt.NDArray[np.int64]
    counts: npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class _Frontier:
    """Itemsets of one size that may grow, with their bit sets over the baskets of their
    first item: ``words[start[i] : start[i] + width[i]]``. Rows of one ``group`` share every
    item but the last and are contiguous."""

    sets: npt.NDArray[np.int64]
    group: npt.NDArray[np.int64]
    start: npt.NDArray[np.int64]
    width: npt.NDArray[np.int64]
    words: _Bits


def _larger(
    frequent: _Frequent, n: int, minc: int, limit: int, progress: Progress | None
) -> list[_Level]:
    """The frequent itemsets of 2, 3, … items (at most ``limit``), one size at a time.
    ``progress(size, bound)`` after each size, ``bound`` being the largest size that may
    still come."""
    first, second, pair_counts = _pairs(frequent, n, minc)
    pairs = _Level(np.stack((first, second), axis=1), pair_counts)
    levels = [pairs]
    k = len(frequent.names)
    pair_keys = first * k + second  # sorted
    size = 2
    p, q = _siblings(first, second, pair_keys, k)
    bound = min(limit, size + (int(np.bincount(first).max()) - 1 if len(first) else 0))
    if progress is not None:
        progress(size, bound if len(p) and size < limit else size)
    if size >= limit or not len(p):
        return levels
    frontier, p, q = _project(frequent, pairs, p, q)
    while len(p):
        size += 1
        frontier, level = _join(frontier, p, q, minc)
        levels.append(level)
        p, q = _siblings(frontier.group, frontier.sets[:, -1], pair_keys, k)
        if len(frontier.group):
            bound = min(bound, size + int(np.bincount(frontier.group).max()) - 1)
        if size >= limit:
            p = p[:0]
        if progress is not None:
            progress(size, bound if len(p) else size)
    return levels


def _siblings(
    group: npt.NDArray[np.int64], last: npt.NDArray[np.int64], pair_keys: npt.NDArray[np.int64],
    k: int,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:  # fmt: skip
    """The candidates of the next size: every two rows ``p < q`` of one group whose last
    items make a frequent pair (else ``p ∪ q`` cannot be frequent)."""
    n = len(group)
    if n < 2:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    ends = np.flatnonzero(np.concatenate((group[1:] != group[:-1], [True]))) + 1
    later = np.repeat(ends, np.diff(ends, prepend=0)) - np.arange(n) - 1  # rows after, same group
    p = np.repeat(np.arange(n), later)
    q = np.arange(len(p)) + np.repeat(np.arange(1, n + 1) - (np.cumsum(later) - later), later)
    keys = last[p] * k + last[q]
    at = np.minimum(np.searchsorted(pair_keys, keys), len(pair_keys) - 1)
    ok = pair_keys[at] == keys
    return p[ok], q[ok]


def _chunks(widths: npt.NDArray[np.int64], budget: int) -> list[tuple[int, int]]:
    """Consecutive ranges of rows of about ``budget`` in all (at least one row each)."""
    ends = np.cumsum(widths)
    out: list[tuple[int, int]] = []
    lo = 0
    while lo < len(widths):
        done = int(ends[lo - 1]) if lo else 0
        hi = max(lo + 1, int(np.searchsorted(ends, done + budget, side="right")))
        out.append((lo, hi))
        lo = hi
    return out


def _project(
    frequent: _Frequent, pairs: _Level, p: npt.NDArray[np.int64], q: npt.NDArray[np.int64]
) -> tuple[_Frontier, npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """The bit sets of the pairs that candidates join, each over the baskets of its first
    item ``a`` only (bit t: does the t-th basket of ``a`` hold the second item?), and the
    candidates renumbered to them."""
    used = np.zeros(len(pairs.counts), dtype=bool)
    used[p] = used[q] = True
    renumber = np.cumsum(used) - 1
    sets = pairs.sets[used]
    a, b = sets[:, 0], sets[:, 1]
    # the baskets of each item, in order: the (basket, item) pairs sorted by item
    cols = frequent.cols
    by_item = np.argsort(cols.astype(np.uint16) if len(frequent.names) <= 1 << 16 else cols,
                         kind="stable")  # fmt: skip
    baskets_of = frequent.rows[by_item]
    item_start = (np.cumsum(frequent.counts) - frequent.counts).tolist()
    held = frequent.counts[a]
    width = (held + 63) >> 6
    words = np.zeros((int(width.sum()), 8), dtype=np.uint8)  # 8 bytes to a word
    start = np.cumsum(width) - width
    class_ends = np.flatnonzero(np.concatenate((a[1:] != a[:-1], [True]))) + 1
    lo = 0
    for end in class_ends.tolist():  # one class (first item) at a time: its baskets, 2-D
        first, c, w = int(a[lo]), int(held[lo]), int(width[lo])
        baskets = baskets_of[item_start[first] : item_start[first] + c]
        mask = np.left_shift(np.uint64(1), (baskets & 63).astype(np.uint64))
        columns = baskets >> 6
        step = max(1, _WORDS // c)  # pairs at a time, so that ``hits`` stays near 8 MB
        for i in range(lo, end, step):
            j = min(i + step, end)
            hits = frequent.bits[b[i:j, None], columns] & mask  # (pairs, c): 0 or not
            packed = np.packbits(hits.astype(bool), axis=1, bitorder="little")
            block = words[start[i] : start[i] + (j - i) * w].reshape(j - i, 8 * w)
            block[:, : packed.shape[1]] = packed
        lo = end
    frontier = _Frontier(sets, a, start, width, words.view(np.uint64).ravel())
    return frontier, renumber[p], renumber[q]


def _join(
    frontier: _Frontier, p: npt.NDArray[np.int64], q: npt.NDArray[np.int64], minc: int
) -> tuple[_Frontier, _Level]:
    """Count the candidates ``p[i] ∪ q[i]`` (one AND and population count for all of them)
    and keep the frequent ones, with their bit sets."""
    width = frontier.width[p]
    counts: list[npt.NDArray[np.int64]] = []
    joined: list[_Bits] = []
    for lo, hi in _chunks(width, _WORDS):
        w = width[lo:hi]
        done = np.cumsum(w) - w
        t = np.arange(int(w.sum()))
        both = frontier.words[t + np.repeat(frontier.start[p[lo:hi]] - done, w)]
        both &= frontier.words[t + np.repeat(frontier.start[q[lo:hi]] - done, w)]
        c = np.add.reduceat(np.bitwise_count(both), done, dtype=np.int64)
        counts.append(c)
        joined.append(both[np.repeat(c >= minc, w)])
    count = np.concatenate(counts)
    keep = np.flatnonzero(count >= minc)
    sets = np.concatenate((frontier.sets[p[keep]], frontier.sets[q[keep], -1:]), axis=1)
    width = width[keep]
    grown = _Frontier(sets, p[keep], np.cumsum(width) - width, width, np.concatenate(joined))
    return grown, _Level(sets, count[keep])


def _rules(
    named: list[npt.NDArray[np.object_]],
    levels: list[_Level],
    itemsets: dict[tuple[str, ...], int],
    n: int,
    confidence: Fraction,
) -> tuple[MinedRule, ...]:
    """Every rule ``itemset − {c} → c`` that meets the confidence, tested in integers for a
    whole itemset size and consequent position at once. ``named[i]``: the itemsets of
    ``levels[i]`` as names, in name order."""
    p, q = confidence.numerator, confidence.denominator
    exact_ints = max(p, q) * n < 1 << 62  # else the products could overflow int64
    found: list[tuple[tuple[str, ...], str, int, int, int]] = []
    for names, level in zip(named, levels, strict=True):
        counts = level.counts if exact_ints else level.counts.astype(object)
        for pos in range(names.shape[1]):
            antecedents = list(map(tuple, np.delete(names, pos, axis=1).tolist()))
            a_counts = np.fromiter(map(itemsets.__getitem__, antecedents), dtype=np.int64,
                                   count=len(antecedents))  # fmt: skip
            a_side = a_counts if exact_ints else a_counts.astype(object)
            ok = np.flatnonzero(counts * q >= a_side * p)  # count / a_count ≥ p / q
            consequents = names[ok, pos].tolist()
            found += zip(
                map(antecedents.__getitem__, ok.tolist()),
                consequents,
                level.counts[ok].tolist(),
                a_counts[ok].tolist(),
                map(itemsets.__getitem__, zip(consequents, strict=True)),  # (c,): its count
                strict=True,
            )
    # by lift, then confidence, then count (highest first), as MinedRule computes them
    found.sort(key=lambda r: (-r[2] * n / (r[3] * r[4]), -r[2] / r[3], -r[2], r[0], r[1]))
    return tuple(MinedRule(a, c, both, left, right, n) for a, c, both, left, right in found)
