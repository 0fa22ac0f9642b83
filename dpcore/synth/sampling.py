"""Vectorised forward sampling of rows from calibrated junction-tree beliefs.

The root clique's cells are drawn from its belief; every other clique's new columns are drawn
from their conditional given the separator already sampled, all rows at once (see
:func:`stratified_picks`; independent draws search the cumulated conditional table in one
``searchsorted``).

By default the uniforms are *stratified* (systematic sampling): the rows sharing a separator
value are put in random order and the ``j``-th of ``m`` gets ``(u + j) / m`` for one uniform
``u`` per group. Each row is still distributed exactly as the model's conditional, but the
counts within every group are the model's expected counts rounded up or down, so the sample's
marginals carry far less multinomial noise than independent draws.

Large tables are sampled in chunks (:func:`sample_chunks`) so memory stays bounded: the row
count is split into near-equal chunks and each chunk is sampled, stratified within itself,
with its own generator spawned from one seed. Trade-off: a cell's count now deviates from its
expected count by less than the number of chunks ``K`` (one rounding per chunk, independent
across chunks, so typically ~sqrt(K)/2) instead of less than 1; at ``K = N / 10**6`` that is
at most one row in a million, far below the multinomial noise the stratification removes.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Protocol

import numpy as np
import numpy.typing as npt

from dpcore.synth.inference import FloatArray
from dpcore.synth.junction_tree import JunctionTree


def _draw_rows(
    cdf: FloatArray, condition: npt.NDArray[np.int64], u: FloatArray
) -> npt.NDArray[np.int64]:
    """Index ``j`` per row with ``cdf[condition, j-1] <= u < cdf[condition, j]``."""
    groups, width = cdf.shape
    flat = (cdf + np.arange(groups, dtype=np.float64)[:, None]).ravel()
    picks = np.searchsorted(flat, condition.astype(np.float64) + u, side="right")
    return np.clip(picks - condition * width, 0, width - 1).astype(np.int64)


def _conditional_cdf(table: FloatArray) -> FloatArray:
    """Row-wise cumulative distribution of a (groups, width) table; empty rows are uniform."""
    totals = table.sum(axis=1, keepdims=True)
    width = table.shape[1]
    safe = np.where(totals > 0, table / np.where(totals > 0, totals, 1.0), 1.0 / width)
    cdf = np.cumsum(safe, axis=1)
    cdf /= cdf[:, -1:]
    cdf[:, -1] = 1.0
    return cdf


def stratified_picks(
    cdf: FloatArray, condition: npt.NDArray[np.int64], rng: np.random.Generator
) -> npt.NDArray[np.int64]:
    """Systematic sampling of one code per row from its group's conditional ``cdf``.

    Rows sharing a ``condition`` value form a group of ``m`` rows, put in random order; the
    ``k``-th gets the uniform ``(u + k) / m`` for one uniform ``u`` per group, and the code
    ``j`` with ``cdf[g, j-1] <= (u + k) / m < cdf[g, j]``. Those uniforms increase with ``k``,
    so code ``j`` goes to exactly ``ceil(m cdf[g, j] - u) - ceil(m cdf[g, j-1] - u)`` rows of
    the group: the codes are laid out by these counts (no per-row search) and handed to the
    rows in their random order. Each row is still distributed exactly as its conditional.
    """
    groups, width = cdf.shape
    rows = condition.size
    shuffled = rng.permutation(rows)
    key = condition[shuffled]
    if groups <= np.iinfo(np.uint16).max + 1:
        key = key.astype(np.uint16)  # numpy's stable sort is a linear radix sort on 16 bits
    grouped = shuffled[np.argsort(key, kind="stable")]
    members = np.bincount(condition, minlength=groups)
    sizes = members.astype(np.float64)[:, None]
    offsets = rng.random((groups, 1))
    below = np.clip(np.ceil(sizes * cdf - offsets), 0.0, sizes).astype(np.int64)
    below[:, -1] = members  # cdf[:, -1] is 1: every row of the group gets a code
    counts = np.diff(below, axis=1, prepend=0)
    codes = np.repeat(np.tile(np.arange(width, dtype=np.int64), groups), counts.ravel())
    picks = np.empty(rows, dtype=np.int64)
    picks[grouped] = codes
    return picks


def forward_sample(
    tree: JunctionTree,
    beliefs: Sequence[FloatArray],
    rows: int,
    rng: np.random.Generator,
    *,
    stratified: bool = True,
) -> npt.NDArray[np.int64]:
    """``(rows, len(domain))`` integer codes drawn from the model of calibrated ``beliefs``."""
    domain = tree.domain
    # Column-major: each column is written and read whole, so keep it contiguous.
    out = np.zeros((rows, len(domain)), dtype=np.int64, order="F")
    if rows == 0:
        return out
    for i in tree.order:
        clique = tree.cliques[i]
        sep = tree.separator[i] if tree.parent[i] >= 0 else ()
        rest = tuple(n for n in clique if n not in sep)
        if not rest:
            continue
        axes = [clique.index(n) for n in sep] + [clique.index(n) for n in rest]
        table = np.transpose(beliefs[i], axes).reshape(domain.cells(sep), domain.cells(rest))
        if sep:
            cols = tuple(out[:, domain.index(n)] for n in sep)
            condition = np.ravel_multi_index(cols, domain.shape(sep)).astype(np.int64)
        else:
            condition = np.zeros(rows, dtype=np.int64)
        cdf = _conditional_cdf(table)
        if stratified:
            picks = stratified_picks(cdf, condition, rng)
        else:
            picks = _draw_rows(cdf, condition, rng.random(rows))
        decoded = np.unravel_index(picks, domain.shape(rest))
        for name, values in zip(rest, decoded, strict=True):
            out[:, domain.index(name)] = values
    return out


DEFAULT_CHUNK_ROWS = 1_000_000


class Sampler(Protocol):
    """Anything that draws ``(rows, columns)`` integer codes with an explicit generator."""

    def sample(self, rows: int, rng: np.random.Generator) -> npt.NDArray[np.int64]:
        """``(rows, columns)`` integer codes."""
        ...


def chunk_sizes(rows: int, chunk_rows: int = DEFAULT_CHUNK_ROWS) -> list[int]:
    """``rows`` split into ``ceil(rows / chunk_rows)`` near-equal chunks (one empty if 0)."""
    if rows < 0 or chunk_rows < 1:
        raise ValueError(f"need rows >= 0 and chunk_rows >= 1, got {rows} and {chunk_rows}")
    count = max(1, -(-rows // chunk_rows))
    base, extra = divmod(rows, count)
    return [base + 1 if i < extra else base for i in range(count)]


def chunk_generator(seed: int, index: int) -> np.random.Generator:
    """The generator of chunk ``index``: an independent stream spawned from ``seed``."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(index,)))


def sample_chunks(
    model: Sampler, rows: int, seed: int, chunk_rows: int = DEFAULT_CHUNK_ROWS
) -> Iterator[tuple[npt.NDArray[np.int64], np.random.Generator]]:
    """``rows`` codes from ``model`` as chunks, each with the generator that drew it.

    Chunk ``i`` is drawn with :func:`chunk_generator` ``(seed, i)``, so the same arguments
    give the same chunks, in any process and any number of times; the caller may keep using a
    chunk's generator for post-processing of that chunk (e.g. decoding), which stays
    reproducible too. See the module docstring for the stratification trade-off.
    """
    for index, size in enumerate(chunk_sizes(rows, chunk_rows)):
        rng = chunk_generator(seed, index)
        yield model.sample(size, rng), rng
