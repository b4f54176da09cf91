"""RFC 6962 Merkle trees against the Certificate Transparency reference vectors.

Source of the vectors: the CT reference implementation's tree tests (certificate-transparency
``merkle_tree_test.cc``), as republished in transparency-dev/merkle ``testonly/constants.go``:
the eight leaves below, the root of each prefix of them, the audit paths of leaves 0 and 5 in
the 8-leaf tree, and the consistency proofs 6 -> 8 and 2 -> 5.
"""

from __future__ import annotations

import hashlib
import random

import pytest

from nextoffer.core.merkle import (
    Frontier,
    chunk_root,
    chunked_inclusion_path,
    consistency_path,
    inclusion_path,
    leaf_hash,
    root,
    verify_consistency,
    verify_inclusion,
)

LEAVES = [bytes.fromhex(h) for h in (
    "", "00", "10", "2021", "3031", "40414243", "5051525354555657",
    "606162636465666768696a6b6c6d6e6f",
)]  # fmt: skip
ROOTS = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",  # the empty tree
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
INCLUSION = {
    (0, 8): ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
             "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
             "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"],
    (5, 8): ["bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
             "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
             "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"],
    (0, 1): [],
}  # fmt: skip
CONSISTENCY = {
    (6, 8): ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
             "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
             "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"],
    (2, 5): ["5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
             "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"],
    (1, 1): [],
}  # fmt: skip


@pytest.mark.parametrize("size", range(9))
def test_the_root_of_each_prefix_is_the_reference_root(size: int) -> None:
    assert root(LEAVES[:size]).hex() == ROOTS[size]


@pytest.mark.parametrize("size", range(9))
def test_a_frontier_grown_leaf_by_leaf_has_the_reference_root(size: int) -> None:
    tree = Frontier()
    for leaf in LEAVES[:size]:
        tree.append(leaf)
    assert tree.root().hex() == ROOTS[size]
    assert len(tree.nodes) == size.bit_count()
    resumed = Frontier(tree.size, tree.nodes)  # as a checkpoint stores it, then grown again
    for leaf in LEAVES[size:]:
        resumed.append(leaf)
    assert resumed.root().hex() == ROOTS[8]


@pytest.mark.parametrize(("index", "size"), list(INCLUSION))
def test_audit_paths_are_the_reference_paths_and_verify(index: int, size: int) -> None:
    path = inclusion_path(LEAVES[:size], index)
    assert [p.hex() for p in path] == INCLUSION[index, size]
    assert verify_inclusion(leaf_hash(LEAVES[index]), index, size, path, bytes.fromhex(ROOTS[size]))


@pytest.mark.parametrize(("old", "new"), list(CONSISTENCY))
def test_consistency_proofs_are_the_reference_proofs_and_verify(old: int, new: int) -> None:
    path = consistency_path(LEAVES[:new], old)
    assert [p.hex() for p in path] == CONSISTENCY[old, new]
    old_root, new_root = bytes.fromhex(ROOTS[old]), bytes.fromhex(ROOTS[new])
    assert verify_consistency(old, new, old_root, new_root, path)
    assert not verify_consistency(old, new, new_root if old != new else b"x", new_root, path)


def test_every_proof_in_trees_up_to_40_verifies_and_a_wrong_one_does_not() -> None:
    rng = random.Random(6962)
    leaves = [rng.randbytes(rng.randrange(0, 40)) for _ in range(40)]
    for n in range(1, len(leaves) + 1):
        tree, top = leaves[:n], root(leaves[:n])
        for i in range(n):
            path = inclusion_path(tree, i)
            assert verify_inclusion(leaf_hash(tree[i]), i, n, path, top)
            assert not verify_inclusion(leaf_hash(tree[i] + b"!"), i, n, path, top)
            if n > 1:
                assert not verify_inclusion(leaf_hash(tree[i]), (i + 1) % n, n, path, top)
        for m in range(1, n + 1):
            proof = consistency_path(tree, m)
            assert verify_consistency(m, n, root(leaves[:m]), top, proof)
            if m < n:
                assert not verify_consistency(m, n, root([*leaves[: m - 1], b"?"]), top, proof)


def test_leaves_and_nodes_are_domain_separated() -> None:
    """A leaf's hash is never a node's: a two-leaf root cannot pass as one leaf."""
    a, b = leaf_hash(b"a"), leaf_hash(b"b")
    assert root([b"a", b"b"]) == hashlib.sha256(b"\x01" + a + b).digest()
    assert root([a + b]) != root([b"a", b"b"])


@pytest.mark.parametrize("chunk", [1, 2, 4, 8])
def test_a_path_from_chunk_roots_is_the_path_from_every_leaf(chunk: int) -> None:
    """``chunked_inclusion_path`` gives ``inclusion_path``'s path for every leaf of trees
    up to 70 leaves, with every chunk's root known, none known, or some, and reads only
    the chunks it must (the leaf's own, the partial last one, those without a root)."""
    rng = random.Random(chunk)
    data = [bytes([i % 256, i // 256]) for i in range(70)]
    for size in range(1, 71):
        full = size // chunk  # the chunks complete in this tree
        every = {j: chunk_root(data[j * chunk : (j + 1) * chunk]) for j in range(full)}
        for roots in (every, {}, {j: r for j, r in every.items() if rng.random() < 0.5}):
            for index in range(size):
                opened: list[int] = []

                def leaves(j: int, size: int = size, opened: list[int] = opened) -> list[bytes]:
                    opened.append(j)
                    return data[j * chunk : min((j + 1) * chunk, size)]

                path = chunked_inclusion_path(index, size, chunk, roots, leaves)
                assert path == inclusion_path(data[:size], index), (size, index)
                own, last = index // chunk, (size - 1) // chunk
                assert set(opened) <= {own, last} | (set(range(full)) - roots.keys())
                assert len(opened) == len(set(opened))  # each chunk read once
    with pytest.raises(ValueError, match="leaf 3 is not in a tree of 3"):
        chunked_inclusion_path(3, 3, 2, {}, lambda j: data)
