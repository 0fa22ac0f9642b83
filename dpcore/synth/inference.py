"""Exact inference on a junction tree: calibrated clique beliefs and marginals of any clique.

Potentials are log-tables over the tree's cliques (axes in the domain's column order).
Calibration is one upward and one downward sum-product pass in log space; the downward
message reuses the calibrated parent belief (``parent marginal / upward message``), so each
clique table is exponentiated twice per pass.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import numpy as np
import numpy.typing as npt

from dpcore.domain import Clique, Domain
from dpcore.synth.junction_tree import JunctionTree

FloatArray = npt.NDArray[np.float64]
_TINY = 1e-300


@lru_cache(maxsize=65536)
def broadcast_shape(domain: Domain, sub: Clique, clique: Clique) -> tuple[int, ...]:
    """Shape that lays a table over ``sub`` (canonical) along ``clique``'s axes."""
    inside = set(sub)
    return tuple(domain.size(n) if n in inside else 1 for n in clique)


@lru_cache(maxsize=65536)
def _sum_layout(
    domain: Domain, clique: Clique, sub: Clique
) -> tuple[tuple[int, ...], tuple[int, ...]]:
    inside = set(sub)
    axes = tuple(i for i, n in enumerate(clique) if n not in inside)
    return axes, domain.shape(sub)


def sum_to(domain: Domain, table: FloatArray, clique: Clique, sub: Clique) -> FloatArray:
    """Sum a table over ``clique`` down to canonical ``sub`` (shape ``domain.shape(sub)``)."""
    axes, shape = _sum_layout(domain, clique, sub)
    out = table.sum(axis=axes) if axes else table
    return np.asarray(out, dtype=np.float64).reshape(shape)


def _log_sum_to(domain: Domain, table: FloatArray, clique: Clique, sub: Clique) -> FloatArray:
    top = float(table.max())
    summed = sum_to(domain, np.exp(table - top), clique, sub)
    return np.log(np.maximum(summed, _TINY)) + top


def calibrate(
    tree: JunctionTree, potentials: Sequence[FloatArray]
) -> tuple[list[FloatArray], float]:
    """Normalised beliefs (probability tables) of every tree clique and the log partition."""
    domain = tree.domain
    kids = _children(tree)
    full = [np.array(p, dtype=np.float64, copy=True) for p in potentials]
    up: list[FloatArray | None] = [None] * len(full)
    for i in reversed(tree.order):
        clique = tree.cliques[i]
        for child in kids[i]:
            message = up[child]
            assert message is not None
            full[i] += message.reshape(broadcast_shape(domain, tree.separator[child], clique))
        if tree.parent[i] >= 0:
            up[i] = _log_sum_to(domain, full[i], clique, tree.separator[i])
    root = tree.order[0]
    top = float(full[root].max())
    log_z = float(np.log(np.exp(full[root] - top).sum())) + top
    beliefs: list[FloatArray] = [np.empty(0)] * len(full)
    beliefs[root] = np.exp(full[root] - log_z)
    for i in tree.order[1:]:
        parent, sep, clique = tree.parent[i], tree.separator[i], tree.cliques[i]
        marg = sum_to(domain, beliefs[parent], tree.cliques[parent], sep)
        message = up[i]
        assert message is not None
        down = np.log(np.maximum(marg, _TINY)) + log_z - message
        full[i] += down.reshape(broadcast_shape(domain, sep, clique))
        belief = np.exp(full[i] - log_z)
        total = float(belief.sum())
        beliefs[i] = belief / total if total > 0 else np.full_like(belief, 1.0 / belief.size)
    return beliefs, log_z


@lru_cache(maxsize=256)
def _children(tree: JunctionTree) -> tuple[tuple[int, ...], ...]:
    return tree.children()


def _path_to_root(tree: JunctionTree, i: int) -> list[int]:
    path = [i]
    while tree.parent[path[-1]] >= 0:
        path.append(tree.parent[path[-1]])
    return path


def steiner_subtree(tree: JunctionTree, nodes: Sequence[int]) -> list[int]:
    """Smallest connected set of tree cliques containing ``nodes``, its top node first."""
    paths = [_path_to_root(tree, n) for n in nodes]
    common = set(paths[0])
    for p in paths[1:]:
        common &= set(p)
    # The lowest common ancestor is the first node of any path that all paths share.
    lca = next(n for n in paths[0] if n in common)
    chosen: list[int] = [lca]
    for p in paths:
        for n in p:
            if n == lca:
                break
            if n not in chosen:
                chosen.append(n)
    depth = {n: len(_path_to_root(tree, n)) for n in chosen}
    return sorted(chosen, key=lambda n: (depth[n], n))


def clique_marginal(
    tree: JunctionTree, beliefs: Sequence[FloatArray], clique: Clique
) -> FloatArray:
    """Probability table over canonical ``clique`` (shape ``domain.shape(clique)``)."""
    domain = tree.domain
    clique = domain.canonical(clique)
    if not clique:
        return np.ones((), dtype=np.float64)
    home = tree.home(clique)
    if home >= 0:
        return sum_to(domain, beliefs[home], tree.cliques[home], clique)
    # Pick, for each column, the smallest tree clique holding it, then join them.
    holders = []
    for name in clique:
        options = [i for i, c in enumerate(tree.cliques) if name in c]
        holders.append(min(options, key=lambda i: (domain.cells(tree.cliques[i]), i)))
    nodes = steiner_subtree(tree, holders)
    columns = sorted({n for i in nodes for n in tree.cliques[i]}, key=domain.index)
    label = {n: k for k, n in enumerate(columns)}
    operands: list[Any] = []
    for i in nodes:
        table = beliefs[i]
        if i != nodes[0]:
            sep = tree.separator[i]
            marg = sum_to(domain, table, tree.cliques[i], sep)
            shape = broadcast_shape(domain, sep, tree.cliques[i])
            denominator = marg.reshape(shape)
            table = np.divide(table, denominator, out=np.zeros_like(table), where=denominator > 0)
        operands.extend([table, [label[n] for n in tree.cliques[i]]])
    operands.append([label[n] for n in clique])
    einsum: Any = np.einsum
    out = einsum(*operands, optimize="greedy")
    result = np.asarray(out, dtype=np.float64)
    total = float(result.sum())
    if total > 0 and math.isfinite(total):
        result = result / total
    return result
