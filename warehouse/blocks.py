"""Counting many marginals in one scan: cover the cliques with a few small joint tables.

Every clique a release may count (its synthesizer's candidates) is placed inside a *block*:
a set of columns whose joint table has at most ``limit`` cells. One scan of the source
yields each row's cell index in every block (mixed-radix, C order); ``np.bincount`` of
those indices gives the blocks' joint counts, and each clique's marginal is a block table
summed over the other columns. Fifteen columns' 120 one- and two-way marginals fit in about
a dozen blocks of 2**18 cells, so the source is read once instead of 120 times.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from dpcore.domain import Clique, Domain

BLOCK_CELLS = 1 << 18
"""Default cell limit of a block: 2 MB of counts, small enough for fast ``np.bincount``."""


@dataclass(frozen=True)
class Block:
    """Columns (in domain order) counted jointly, and their mixed-radix strides."""

    columns: Clique
    shape: tuple[int, ...]

    @property
    def cells(self) -> int:
        """Number of cells of the joint table."""
        return math.prod(self.shape)

    @property
    def strides(self) -> tuple[int, ...]:
        """Multiplier of each column's code in the cell index (C order)."""
        return tuple(math.prod(self.shape[i + 1 :]) for i in range(len(self.shape)))

    def covers(self, clique: Iterable[str]) -> bool:
        """True when every column of ``clique`` is in the block."""
        return set(clique) <= set(self.columns)


def plan_blocks(domain: Domain, cliques: Sequence[Clique], limit: int = BLOCK_CELLS) -> list[Block]:
    """Blocks covering every clique, each of at most ``limit`` cells (or one clique if larger).

    Greedy: cliques by decreasing size join the block they grow least (in columns) while it
    stays within ``limit``; a clique that fits nowhere opens a new block. Public: depends on
    the domain and the cliques only.
    """
    blocks: list[Clique] = []
    for clique in sorted({domain.canonical(c) for c in cliques}, key=domain.cells, reverse=True):
        if any(set(clique) <= set(b) for b in blocks):
            continue
        best: tuple[int, int, Clique] | None = None
        for i, block in enumerate(blocks):
            union = domain.canonical((*block, *clique))
            if domain.cells(union) <= limit and (best is None or len(union) < best[0]):
                best = (len(union), i, union)
        if best is None:
            blocks.append(clique)
        else:
            blocks[best[1]] = best[2]
    return [Block(b, domain.shape(b)) for b in blocks]


def marginal(block: Block, table: npt.NDArray[np.int64], clique: Clique) -> npt.NDArray[np.int64]:
    """The counts over ``clique`` (flattened in the clique's own column order) from a block's
    joint ``table``."""
    joint = table.reshape(block.shape) if block.shape else table.reshape(())
    drop = tuple(i for i, c in enumerate(block.columns) if c not in clique)
    summed = joint.sum(axis=drop, dtype=np.int64) if drop else joint
    kept = [c for c in block.columns if c in clique]
    order = [kept.index(c) for c in clique]
    return np.ascontiguousarray(np.transpose(summed, order)).reshape(-1).astype(np.int64)
