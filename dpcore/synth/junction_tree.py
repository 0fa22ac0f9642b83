"""Junction trees over a domain's columns, built from a set of cliques (public structure only).

The graph joins every pair of columns that share a clique; it is triangulated by greedy
elimination (each step removes the column whose elimination creates the smallest new clique,
counted in cells), the maximal cliques of the elimination are kept, and they are joined by a
maximum-weight spanning tree on separator sizes, which has the running-intersection property.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from dpcore.domain import Clique, Domain


@dataclass(frozen=True)
class JunctionTree:
    """Maximal cliques (canonical order) and tree edges, rooted at clique 0.

    ``order`` lists clique indices root first so that every clique's parent comes before it;
    ``parent[i]`` is ``-1`` for the root and ``separator[i]`` is the intersection with the
    parent (canonical order, empty for the root or between disconnected components).
    """

    domain: Domain
    cliques: tuple[Clique, ...]
    parent: tuple[int, ...]
    order: tuple[int, ...]
    separator: tuple[Clique, ...]

    def cells(self) -> int:
        """Total number of cells over all clique tables."""
        return sum(self.domain.cells(c) for c in self.cliques)

    def largest(self) -> int:
        """Cells of the largest clique table."""
        return max(self.domain.cells(c) for c in self.cliques)

    def children(self) -> tuple[tuple[int, ...], ...]:
        """Child clique indices of each clique."""
        kids: list[list[int]] = [[] for _ in self.cliques]
        for i in self.order:
            if self.parent[i] >= 0:
                kids[self.parent[i]].append(i)
        return tuple(tuple(k) for k in kids)

    def home(self, clique: Iterable[str]) -> int:
        """Index of the smallest tree clique containing ``clique``; -1 if none does."""
        wanted = set(clique)
        best, best_cells = -1, math.inf
        for i, c in enumerate(self.cliques):
            if wanted <= set(c):
                cells = self.domain.cells(c)
                if cells < best_cells:
                    best, best_cells = i, cells
        return best


@lru_cache(maxsize=64)
def _layout(domain: Domain) -> tuple[dict[str, int], tuple[int, ...], list[list[int]]]:
    """Each column's bit, its rank in name order (the elimination's ties), and for each
    byte of a column mask the product of its columns' sizes (a mask's cells are a product
    of a few table lookups)."""
    ranks = {n: r for r, n in enumerate(sorted(domain.names))}
    sizes = domain.sizes
    chunks = []
    for start in range(0, len(sizes), 8):
        part = sizes[start : start + 8]
        chunks.append(
            [math.prod(part[k] for k in range(len(part)) if byte >> k & 1) for byte in range(256)]
        )
    bits = {n: i for i, n in enumerate(domain.names)}
    return bits, tuple(ranks[n] for n in domain.names), chunks


def _mask_cells(chunks: list[list[int]], mask: int) -> int:
    """Cells of the columns in a bit ``mask``: one table lookup per byte (:func:`_layout`)."""
    cells = 1
    for table in chunks:
        cells *= table[mask & 255]
        mask >>= 8
    return cells


def _elimination_cliques(domain: Domain, cliques: Sequence[Clique]) -> list[frozenset[str]]:
    """Greedy min-size elimination; returns the maximal cliques it creates."""
    names = domain.names
    return [
        frozenset(names[i] for i in range(len(names)) if c >> i & 1)
        for c in _elimination_masks(domain, cliques)
    ]


def _elimination_masks(domain: Domain, cliques: Sequence[Clique]) -> list[int]:
    """:func:`_elimination_cliques` as column bit masks.

    Each step removes the column with the fewest cells in it and its neighbours (ties: the
    smaller name); only the eliminated column's neighbours change their count, so only theirs
    is recomputed. Neighbour sets are bit masks over the domain's columns and a column's
    key is ``cells * d + rank`` (this runs for every candidate of every AIM round)."""
    bit, rank, chunks = _layout(domain)
    d = len(rank)
    adjacency = [0] * d
    for clique in cliques:
        mask = 0
        for name in clique:
            if name not in bit:
                domain.index(name)  # raises the domain's error for an unknown column
            mask |= 1 << bit[name]
        for name in clique:
            adjacency[bit[name]] |= mask

    def key(v: int) -> int:
        return _mask_cells(chunks, adjacency[v] | 1 << v) * d + rank[v]

    keys = {v: key(v) for v in range(d)}
    created: list[int] = []
    while keys:
        v = min(keys, key=keys.__getitem__)
        block = adjacency[v] | 1 << v
        created.append(block)
        del keys[v]
        rest = block ^ 1 << v
        while rest:
            low = rest & -rest
            a = low.bit_length() - 1
            adjacency[a] = (adjacency[a] | block) & ~(1 << v)
            keys[a] = key(a)
            rest ^= low
    # A later block lacks the column eliminated here, so only an earlier one can hold it.
    return [c for t, c in enumerate(created) if not any(c & o == c for o in created[:t])]


def build_junction_tree(domain: Domain, cliques: Sequence[Clique]) -> JunctionTree:
    """A junction tree whose cliques cover every column and every clique in ``cliques``."""
    blocks = _elimination_cliques(domain, [domain.canonical(c) for c in cliques])
    canon = [domain.canonical(b) for b in blocks]
    # The largest table becomes the root (a deterministic, data-independent choice).
    canon.sort(key=lambda c: (-domain.cells(c), [domain.index(n) for n in c]))
    k = len(canon)
    # Prim's algorithm for a maximum spanning tree on separator size (in columns, then cells).
    parent = [-1] * k
    order = [0]
    in_tree = [False] * k
    in_tree[0] = True
    best: list[tuple[int, int]] = [(-1, -1)] * k
    best_parent = [-1] * k

    def weight(i: int, j: int) -> tuple[int, int]:
        shared = set(canon[i]) & set(canon[j])
        return (len(shared), domain.cells(shared) if shared else 0)

    for j in range(1, k):
        best[j], best_parent[j] = weight(0, j), 0
    for _ in range(1, k):
        j = max((j for j in range(k) if not in_tree[j]), key=lambda j: (best[j], -j))
        in_tree[j] = True
        order.append(j)
        parent[j] = best_parent[j] if best[j][0] > 0 else order[0]
        for m in range(k):
            if not in_tree[m]:
                w = weight(j, m)
                if w > best[m]:
                    best[m], best_parent[m] = w, j
    separator = tuple(
        domain.canonical(set(canon[i]) & set(canon[parent[i]])) if parent[i] >= 0 else ()
        for i in range(k)
    )
    return JunctionTree(domain, tuple(canon), tuple(parent), tuple(order), separator)


def junction_tree_cells(domain: Domain, cliques: Sequence[Clique]) -> int:
    """Total table cells of the junction tree for ``cliques`` (the model-size measure).

    Equal to ``build_junction_tree(domain, cliques).cells()`` without building the tree.
    """
    chunks = _layout(domain)[2]
    return sum(_mask_cells(chunks, mask) for mask in _elimination_masks(domain, cliques))
