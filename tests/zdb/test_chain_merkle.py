"""merkle.py against Certificate Transparency's test vectors, and property tests."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zeroos.zdb.chain.merkle import (
    EMPTY_ROOT,
    MemoryTree,
    ProofError,
    leaf_hash,
    verify_consistency,
    verify_inclusion,
)

# RFC 6962 test leaves and roots from certificate-transparency's merkle tree tests
LEAVES = [
    "",
    "00",
    "10",
    "2021",
    "3031",
    "40414243",
    "5051525354555657",
    "606162636465666768696a6b6c6d6e6f",
]
ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]


@pytest.fixture
def ct_tree() -> MemoryTree:
    tree = MemoryTree()
    for leaf in LEAVES:
        tree.append(bytes.fromhex(leaf))
    return tree


def test_empty_root():
    assert MemoryTree().root() == EMPTY_ROOT
    assert EMPTY_ROOT.hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


def test_roots_match_ct_vectors(ct_tree):
    for size, root in enumerate(ROOTS, start=1):
        assert ct_tree.root(size).hex() == root


def test_inclusion_path_matches_ct_vector(ct_tree):
    assert [h.hex() for h in ct_tree.inclusion(0, 8)] == [
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ]


def test_consistency_paths_match_ct_vectors(ct_tree):
    assert [h.hex() for h in ct_tree.consistency(6, 8)] == [
        "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ]
    assert [h.hex() for h in ct_tree.consistency(2, 5)] == [
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    ]


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 300), st.data())
def test_every_inclusion_proof_verifies_and_tampering_fails(size, data):
    tree = MemoryTree([leaf_hash(b"%d" % i) for i in range(size)])
    index = data.draw(st.integers(0, size - 1))
    path = tree.inclusion(index)
    verify_inclusion(index, size, tree.hashes[index], path, tree.root())
    with pytest.raises(ProofError):
        verify_inclusion(index, size, leaf_hash(b"other"), path, tree.root())
    if path:
        bad = list(path)
        k = data.draw(st.integers(0, len(bad) - 1))
        bad[k] = bytes(32)
        with pytest.raises(ProofError):
            verify_inclusion(index, size, tree.hashes[index], bad, tree.root())
        with pytest.raises(ProofError):
            verify_inclusion(index, size, tree.hashes[index], path[:-1], tree.root())


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 300), st.data())
def test_every_consistency_proof_verifies_and_forks_fail(new, data):
    tree = MemoryTree([leaf_hash(b"%d" % i) for i in range(new)])
    old = data.draw(st.integers(0, new))
    proof = tree.consistency(old, new)
    verify_consistency(old, new, tree.root(old), tree.root(new), proof)
    if 0 < old < new:
        forked = MemoryTree([*tree.hashes[: old - 1], leaf_hash(b"forged"), *tree.hashes[old:]])
        with pytest.raises(ProofError):
            verify_consistency(old, new, tree.root(old), forked.root(new), proof)
        with pytest.raises(ProofError):
            verify_consistency(old, new, tree.root(old), tree.root(new), proof[1:] or [bytes(32)])
