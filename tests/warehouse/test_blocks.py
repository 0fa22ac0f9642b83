"""Block plans cover every clique within the cell limit, and marginals derived from a block's
joint table equal direct counts."""

from __future__ import annotations

import itertools

import numpy as np

from dpcore.domain import Domain
from dpcore.marginals import ArrayOracle
from warehouse.blocks import marginal, plan_blocks

DOMAIN = Domain(("a", "b", "c", "d", "e", "f"), (3, 7, 2, 11, 5, 40))
PAIRS = [(x, y) for x, y in itertools.combinations(DOMAIN.names, 2)]
CLIQUES = [(), *[(n,) for n in DOMAIN.names], *PAIRS, ("f", "a"), ("e", "d", "b")]


def test_plan_covers_every_clique_within_the_limit() -> None:
    blocks = plan_blocks(DOMAIN, CLIQUES, limit=2000)
    assert all(any(b.covers(c) for b in blocks) for c in CLIQUES)
    assert all(b.cells <= 2000 for b in blocks)
    assert len(blocks) < len(PAIRS)  # fewer tables than marginals
    assert all(b.columns == DOMAIN.canonical(b.columns) for b in blocks)


def test_a_clique_larger_than_the_limit_gets_its_own_block() -> None:
    (block,) = plan_blocks(DOMAIN, [("f", "d")], limit=100)
    assert block.columns == ("d", "f") and block.cells == 440


def test_marginals_from_blocks_equal_direct_counts() -> None:
    rng = np.random.default_rng(3)
    codes = np.stack([rng.integers(0, s, 5000) for s in DOMAIN.sizes], axis=1)
    reference = ArrayOracle(DOMAIN, codes)
    for block in plan_blocks(DOMAIN, CLIQUES, limit=3000):
        columns = [codes[:, DOMAIN.index(c)] for c in block.columns]
        index = np.ravel_multi_index(tuple(columns), block.shape) if columns else np.zeros(5000)
        table = np.bincount(index.astype(np.int64), minlength=block.cells).astype(np.int64)
        for clique in [c for c in CLIQUES if block.covers(c)]:
            (want,) = reference.counts([clique])
            np.testing.assert_array_equal(marginal(block, table, clique), want, str(clique))
