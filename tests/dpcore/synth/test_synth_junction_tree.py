"""Junction trees cover every clique and have the running-intersection property."""

from __future__ import annotations

import itertools

import numpy as np

from dpcore.domain import Domain
from dpcore.synth.junction_tree import (
    _elimination_cliques,
    build_junction_tree,
    junction_tree_cells,
)


def _domain() -> Domain:
    return Domain(tuple("abcdef"), (2, 3, 4, 2, 5, 3))


def test_tree_covers_cliques_and_columns() -> None:
    domain = _domain()
    cliques = [("a", "b"), ("b", "c"), ("c", "a"), ("d", "e"), ("e", "f"), ("f", "d")]
    tree = build_junction_tree(domain, cliques)
    assert junction_tree_cells(domain, cliques) == tree.cells()
    for clique in cliques:
        assert tree.home(clique) >= 0
    assert {n for c in tree.cliques for n in c} == set(domain.names)
    assert tree.parent[tree.order[0]] == -1
    assert sorted(tree.order) == list(range(len(tree.cliques)))


def test_running_intersection() -> None:
    domain = _domain()
    cliques = [("a", "b"), ("b", "c"), ("c", "d"), ("d", "a"), ("a", "e"), ("e", "f")]
    tree = build_junction_tree(domain, cliques)
    # Every column's holders form a connected subtree: exactly one holder has its parent
    # outside the holder set.
    for name in domain.names:
        holders = [i for i, c in enumerate(tree.cliques) if name in c]
        tops = [
            i for i in holders if tree.parent[i] < 0 or name not in tree.cliques[tree.parent[i]]
        ]
        assert len(tops) == 1, name
    for i, sep in enumerate(tree.separator):
        if tree.parent[i] >= 0:
            assert set(sep) == set(tree.cliques[i]) & set(tree.cliques[tree.parent[i]])


def test_empty_structure_gives_singletons() -> None:
    domain = _domain()
    tree = build_junction_tree(domain, [])
    assert sorted(tree.cliques) == sorted((n,) for n in domain.names)
    assert tree.cells() == sum(domain.sizes)
    assert all(len(s) == 0 for s in tree.separator)


def test_all_pairs_gives_one_clique() -> None:
    domain = Domain(tuple("abc"), (2, 2, 2))
    tree = build_junction_tree(domain, list(itertools.combinations(domain.names, 2)))
    assert tree.cliques == (("a", "b", "c"),)


def _reference_elimination(domain: Domain, cliques: list[tuple[str, ...]]) -> list[frozenset[str]]:
    """The greedy min-cells elimination written with sets (ties: the smaller name)."""
    adjacency: dict[str, set[str]] = {n: set() for n in domain.names}
    for clique in cliques:
        for a in clique:
            adjacency[a].update(b for b in clique if b != a)
    created: list[frozenset[str]] = []
    while adjacency:
        costs = {v: domain.cells([v, *adjacency[v]]) for v in adjacency}
        v = min(costs, key=lambda u: (costs[u], u))
        created.append(frozenset({v, *adjacency[v]}))
        for a in adjacency[v]:
            adjacency[a] |= adjacency[v] - {a}
            adjacency[a].discard(v)
        del adjacency[v]
    maximal = [c for c in created if not any(c < o for o in created)]
    return list(dict.fromkeys(maximal))


def test_bitmask_elimination_matches_the_set_version() -> None:
    """Random graphs on a domain whose name order differs from its column order (ties), and
    more than 8 columns (cell counts span two bytes of the mask)."""
    domain = Domain(tuple("qbzamcxdkp"), (3, 2, 3, 4, 2, 6, 2, 3, 5, 2))
    rng = np.random.default_rng(4)
    for _ in range(40):
        cliques = [
            tuple(
                str(n)
                for n in rng.choice(domain.names, size=int(rng.integers(1, 4)), replace=False)
            )
            for _ in range(int(rng.integers(1, 9)))
        ]
        reference = _reference_elimination(domain, cliques)
        assert _elimination_cliques(domain, cliques) == reference
        assert junction_tree_cells(domain, cliques) == sum(domain.cells(b) for b in reference)
