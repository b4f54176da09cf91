"""RFC 6962 Merkle trees (Certificate Transparency, section 2.1), over byte strings.

- ``leaf_hash(d)`` = SHA-256(0x00 || d), ``node_hash(l, r)`` = SHA-256(0x01 || l || r);
- ``root(leaves)`` is the Merkle Tree Hash: the empty tree's is SHA-256 of nothing, one
  leaf's is its leaf hash, and n > 1 leaves split at k, the largest power of two below n;
- ``Frontier`` adds leaves one at a time keeping only the roots of its perfect subtrees
  (one per bit of the size), so a tree's root grows with the ledger, never recomputed;
- ``inclusion_path`` / ``verify_inclusion`` are the audit path of section 2.1.1 and its
  check (RFC 9162, section 2.1.3.2), ``consistency_path`` / ``verify_consistency`` the
  proof that a tree extends an earlier one (sections 2.1.2 and 2.1.4.2).

>>> root([]).hex()[:16]
'e3b0c44298fc1c14'
>>> path = inclusion_path([b"a", b"b", b"c"], 2)
>>> verify_inclusion(leaf_hash(b"c"), 2, 3, path, root([b"a", b"b", b"c"]))
True
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence

__all__ = ["Frontier", "chunk_root", "chunked_inclusion_path", "consistency_path",
           "inclusion_path", "leaf_hash", "node_hash", "root", "verify_consistency",
           "verify_inclusion"]  # fmt: skip

_sha256 = hashlib.sha256


def leaf_hash(data: bytes) -> bytes:
    return _sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return _sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two smaller than ``n`` (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


def _hashed_root(hashes: Sequence[bytes]) -> bytes:
    """The root over leaf hashes already computed."""
    if len(hashes) == 1:
        return hashes[0]
    k = _split(len(hashes))
    return node_hash(_hashed_root(hashes[:k]), _hashed_root(hashes[k:]))


def root(leaves: Sequence[bytes]) -> bytes:
    """The Merkle Tree Hash of ``leaves`` (the data, not yet hashed)."""
    if not leaves:
        return _sha256(b"").digest()
    return _hashed_root([leaf_hash(d) for d in leaves])


def inclusion_path(leaves: Sequence[bytes], index: int) -> list[bytes]:
    """The audit path of leaf ``index`` (from 0) in the tree of ``leaves``, bottom up."""
    if not 0 <= index < len(leaves):
        raise ValueError(f"leaf {index} is not in a tree of {len(leaves)}")
    return _path(index, [leaf_hash(d) for d in leaves])


def _path(m: int, hashes: Sequence[bytes]) -> list[bytes]:
    if len(hashes) == 1:
        return []
    k = _split(len(hashes))
    if m < k:
        return [*_path(m, hashes[:k]), _hashed_root(hashes[k:])]
    return [*_path(m - k, hashes[k:]), _hashed_root(hashes[:k])]


def chunk_root(leaves: Sequence[bytes]) -> bytes:
    """The root of one chunk's perfect tree (its leaves' data, a power of two of them)."""
    return _hashed_root([leaf_hash(d) for d in leaves])


def chunked_inclusion_path(
    index: int,
    size: int,
    chunk: int,
    roots: Mapping[int, bytes],
    leaves: Callable[[int], Sequence[bytes]],
) -> list[bytes]:
    """``inclusion_path`` of leaf ``index`` in a tree of ``size`` leaves, without its
    leaves: the tree's leaves fall in chunks of ``chunk`` (a power of two), chunk j the
    leaves ``[j * chunk, (j + 1) * chunk)``, a perfect subtree whose root is ``roots[j]``
    when known. ``leaves(j)`` gives chunk j's data (up to ``size``) when the path needs
    inside it: the leaf's own chunk, the last one if partial, any whose root is unknown.
    A proof then costs a chunk's leaves and about ``size / chunk`` roots, not ``size``
    leaves."""
    if not 0 <= index < size:
        raise ValueError(f"leaf {index} is not in a tree of {size}")
    read: dict[int, list[bytes]] = {}

    def leaf(i: int) -> bytes:
        j = i // chunk
        if j not in read:
            read[j] = [leaf_hash(d) for d in leaves(j)]
        return read[j][i - j * chunk]

    def subtree(a: int, b: int) -> bytes:  # the root over leaves [a, b), aligned as MTH splits
        if b - a == chunk and a % chunk == 0 and a // chunk in roots:
            return roots[a // chunk]
        if b - a == 1:
            return leaf(a)
        k = _split(b - a)
        return node_hash(subtree(a, a + k), subtree(a + k, b))

    path: list[bytes] = []
    a, b = 0, size
    while b - a > 1:  # top down; the audit path is bottom up
        k = _split(b - a)
        if index < a + k:
            path.append(subtree(a + k, b))
            b = a + k
        else:
            path.append(subtree(a, a + k))
            a = a + k
    return path[::-1]


def verify_inclusion(
    leaf: bytes, index: int, size: int, path: Sequence[bytes], expected_root: bytes
) -> bool:
    """Whether ``path`` proves that the leaf hash ``leaf`` is leaf ``index`` of the tree of
    ``size`` leaves whose root is ``expected_root`` (RFC 9162, 2.1.3.2)."""
    if not 0 <= index < size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and r == expected_root


def consistency_path(leaves: Sequence[bytes], old_size: int) -> list[bytes]:
    """The proof that the tree of the first ``old_size`` leaves is a prefix of the tree of
    ``leaves`` (RFC 6962, 2.1.2); empty when the sizes are equal."""
    if not 0 < old_size <= len(leaves):
        raise ValueError(f"no consistency proof from {old_size} to {len(leaves)} leaves")
    return _subproof(old_size, [leaf_hash(d) for d in leaves], True)


def _subproof(m: int, hashes: Sequence[bytes], whole: bool) -> list[bytes]:
    n = len(hashes)
    if m == n:
        return [] if whole else [_hashed_root(hashes)]
    k = _split(n)
    if m <= k:
        return [*_subproof(m, hashes[:k], whole), _hashed_root(hashes[k:])]
    return [*_subproof(m - k, hashes[k:], False), _hashed_root(hashes[:k])]


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, path: Sequence[bytes]
) -> bool:
    """Whether ``path`` proves that the tree (``new_size``, ``new_root``) extends the tree
    (``old_size``, ``old_root``) (RFC 9162, 2.1.4.2)."""
    if not 0 < old_size <= new_size:
        return False
    if old_size == new_size:
        return not path and old_root == new_root
    if not path:
        return False
    proof = list(path)
    if old_size & (old_size - 1) == 0:  # a power of two: the old root starts the proof
        proof.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = proof[0]
    for c in proof[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            while fn and not fn & 1:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and fr == old_root and sr == new_root


class Frontier:
    """A tree grown one leaf at a time: the roots of its perfect subtrees, largest first
    (the binary digits of ``size``). ``root()`` folds them right to left, which is the
    Merkle Tree Hash: RFC 6962's split at the largest power of two below n leaves a
    perfect left subtree and the tree of the rest."""

    def __init__(self, size: int = 0, nodes: Sequence[bytes] = ()) -> None:
        if len(nodes) != size.bit_count():
            raise ValueError(f"a tree of {size} leaves has {size.bit_count()} perfect subtrees")
        self.size = size
        self.nodes = list(nodes)

    def append(self, data: bytes) -> None:
        """Add a leaf. ``leaf_hash`` and ``node_hash`` written out: verification appends
        every row of the ledger, and the two calls cost 40% of the append."""
        h = _sha256(b"\x00" + data).digest()
        n = self.size
        nodes = self.nodes
        while n & 1:  # merge the perfect subtrees this leaf completes
            h = _sha256(b"\x01" + nodes.pop() + h).digest()
            n >>= 1
        nodes.append(h)
        self.size += 1

    def root(self) -> bytes:
        if not self.nodes:
            return _sha256(b"").digest()
        r = self.nodes[-1]
        for node in reversed(self.nodes[:-1]):
            r = node_hash(node, r)
        return r
