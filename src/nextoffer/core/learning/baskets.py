"""Baskets coded as integers, as a reader meets them: the compact input of the miner.

A reader hands each basket's item names to a ``BasketCoder``, which gives every new name
the next code and keeps the distinct codes of the basket. The result, ``CodedBaskets``,
is one array of codes for all the baskets: the miner takes it as it is, where baskets of
names would cost it a dictionary look-up per item listed, and each name is hashed once.
It is still a sequence of baskets of names (decoded when indexed) for everything else.

>>> coder = BasketCoder()
>>> coder.add(["beer", "chips", "beer"]), coder.add([]), coder.add(["salsa", "beer"])
(2, 0, 2)
>>> baskets = coder.baskets()
>>> len(baskets), baskets[1], baskets.items, baskets.codes.tolist()
(2, ('salsa', 'beer'), ('beer', 'chips', 'salsa'), [0, 1, 2, 0])
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from itertools import count
from typing import overload

import numpy as np
import numpy.typing as npt

__all__ = ["BasketCoder", "CodedBaskets"]

_Ints = npt.NDArray[np.int64]


class CodedBaskets(Sequence[tuple[str, ...]]):
    """Baskets of distinct items, as codes: basket ``i`` lists ``lengths[i]`` codes of
    ``codes``, after those of the baskets before it; code ``c`` stands for ``items[c]``.
    Indexing decodes a basket to the tuple of its items, in the order listed."""

    __slots__ = ("_starts", "codes", "items", "lengths")

    def __init__(self, items: Sequence[str], codes: _Ints, lengths: _Ints) -> None:
        self.items = tuple(items)
        self.codes = codes
        self.lengths = lengths
        self._starts = np.cumsum(lengths) - lengths

    def __len__(self) -> int:
        return len(self.lengths)

    @overload
    def __getitem__(self, index: int) -> tuple[str, ...]: ...

    @overload
    def __getitem__(self, index: slice) -> list[tuple[str, ...]]: ...

    def __getitem__(self, index: int | slice) -> tuple[str, ...] | list[tuple[str, ...]]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        start, length = int(self._starts[index]), int(self.lengths[index])
        return tuple(map(self.items.__getitem__, self.codes[start : start + length].tolist()))


class BasketCoder:
    """Collects baskets one at a time, coding item names in the order they first appear."""

    def __init__(self) -> None:
        self._code: defaultdict[str, int] = defaultdict(count().__next__)  # new name: next code
        self._coded = self._code.__getitem__
        self._codes: list[int] = []
        self._lengths: list[int] = []

    def add(self, items: Iterable[str]) -> int:
        """Add the basket of ``items`` (a repeat counts once); its number of distinct items.
        An empty basket is not added."""
        codes = dict.fromkeys(map(self._coded, items))
        if codes:
            self._codes += codes
            self._lengths.append(len(codes))
        return len(codes)

    def baskets(self) -> CodedBaskets:
        return CodedBaskets(
            tuple(self._code),
            np.array(self._codes, dtype=np.int64),
            np.array(self._lengths, dtype=np.int64),
        )
