"""Vectorised forward sampling of rows from calibrated junction-tree beliefs.

The root clique's cells are drawn from its belief; every other clique's new columns are drawn
from their conditional given the separator already sampled, all rows at once.

Four schemes (``forward_sample(scheme=...)``). The first three give every row exactly the
model's conditional distribution (each row's uniform is exactly U[0, 1)); they differ only
in how the rows' draws depend on one another:

- ``"iid"``: independent uniforms, one ``searchsorted`` in the cumulated conditional table.
- ``"systematic"`` (:func:`stratified_picks`): the rows sharing a separator value are put in
  random order and the ``j``-th of ``m`` gets ``(u + j) / m`` for one uniform ``u`` per
  group, so the counts within every group are the model's expected counts rounded up or down
  and pairs inside one clique carry almost no sampling noise. Pairs across cliques still do:
  the new codes are paired with the rows' earlier columns at random.
- ``"balanced"`` (:func:`balanced_picks`): the same per-group grid of uniforms, but
  handed out along the rows sorted by the earlier columns (largest domain first, random
  tie-break) in golden-ratio order, so every run of rows sharing the leading earlier columns
  gets close to its proportional share of each new code as well. On Adult at epsilon 1 this
  cuts the sample-vs-model 2-way TVD by about a sixth (``bench/sampling_error.py``); the
  rest is rounding of pairs of large domains across many small separator groups, which one
  sort order cannot balance. Cost: one sort of an int64 key per clique, about 1.7x the
  systematic scheme's sampling time (``bench/sampling_speed.py``).
- ``"repaired"`` (default, :func:`repair_picks`): the balanced codes, then swapped between
  rows of one separator group so that each (earlier column value, new code) count comes
  close to its expectation given the earlier columns, ``sum_s count(value, s) p(code | s)``
  (the balanced scheme rounds within each group alone, so those errors add up across
  groups). What it keeps: every group's multiset of new codes (the clique's counts, rounded
  as above) and all earlier columns; so over the rows of a group the codes still follow the
  conditional exactly as the balanced scheme's do, but one row's code is no longer an exact
  draw given its own earlier columns: the swaps pair codes with earlier values so that the
  sample's pairs sit at the model's conditional independence given the separator instead
  of at a random deviation from it. Samples above :data:`REPAIR_MAX_ROWS` rows (hence every
  default chunk of a large release) skip the repair: each of its up to ``REPAIR_ROUNDS``
  rounds per clique reads the over rows of one column (about a third of the rows; 10^6 rows
  cost ~3.5 s of repair against ~1.3 s of balanced draw, ``bench/repair_speed.py``), while
  the rounding it removes shrinks as rows outnumber cells.

Privacy: all four are post-processing of the fitted model (its beliefs and public domain)
and of the synthetic rows already drawn; no scheme reads the private rows, and every draw
takes the explicit generator ``rng``.

Large tables are sampled in chunks (:func:`sample_chunks`) so memory stays bounded: the row
count is split into near-equal chunks and each chunk is sampled, stratified within itself,
with its own generator spawned from one seed. Trade-off: a cell's count now deviates from its
expected count by less than the number of chunks ``K`` (one rounding per chunk, independent
across chunks, so typically ~sqrt(K)/2) instead of less than 1; at ``K = N / 10**6`` that is
at most one row in a million, far below the multinomial noise the stratification removes.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from functools import lru_cache
from typing import Literal, Protocol

import numpy as np
import numpy.typing as npt

from dpcore.domain import Domain
from dpcore.synth.inference import FloatArray
from dpcore.synth.junction_tree import JunctionTree

Scheme = Literal["repaired", "balanced", "systematic", "iid"]


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


def _systematic_codes(
    cdf: FloatArray, members: npt.NDArray[np.int64], rng: np.random.Generator
) -> npt.NDArray[np.int64]:
    """Each group's codes in the order of its systematic uniforms ``(u + j) / m``, groups one
    after another: code ``j`` fills ``ceil(m cdf[g, j] - u) - ceil(m cdf[g, j-1] - u)``
    places of group ``g`` (one uniform ``u`` per group; no per-row search)."""
    groups, width = cdf.shape
    sizes = members.astype(np.float64)[:, None]
    offsets = rng.random((groups, 1))
    below = np.clip(np.ceil(sizes * cdf - offsets), 0.0, sizes).astype(np.int64)
    below[:, -1] = members  # cdf[:, -1] is 1: every row of the group gets a code
    counts = np.diff(below, axis=1, prepend=0)
    return np.repeat(np.tile(np.arange(width, dtype=np.int64), groups), counts.ravel())


def _grouped_order(
    condition: npt.NDArray[np.int64], groups: int, rng: np.random.Generator
) -> npt.NDArray[np.int64]:
    """Row indices group by group (``condition`` below ``groups``), in random order within
    each group."""
    shuffled = rng.permutation(condition.size)
    key = condition[shuffled]
    if groups <= np.iinfo(np.uint16).max + 1:
        key = key.astype(np.uint16)  # numpy's stable sort is a linear radix sort on 16 bits
    return shuffled[np.argsort(key, kind="stable")]


def stratified_picks(
    cdf: FloatArray, condition: npt.NDArray[np.int64], rng: np.random.Generator
) -> npt.NDArray[np.int64]:
    """Systematic sampling of one code per row from its group's conditional ``cdf``.

    Rows sharing a ``condition`` value form a group of ``m`` rows, put in random order; the
    ``k``-th gets the uniform ``(u + k) / m`` for one uniform ``u`` per group, and the code
    ``j`` with ``cdf[g, j-1] <= (u + k) / m < cdf[g, j]``. Those uniforms increase with ``k``,
    so the codes are laid out by their counts (:func:`_systematic_codes`) and handed to the
    rows in their random order. Each row is still distributed exactly as its conditional.
    """
    groups = cdf.shape[0]
    grouped = _grouped_order(condition, groups, rng)
    codes = _systematic_codes(cdf, np.bincount(condition, minlength=groups), rng)
    picks = np.empty(condition.size, dtype=np.int64)
    picks[grouped] = codes
    return picks


GOLDEN = (np.sqrt(5.0) - 1.0) / 2.0  # k * GOLDEN mod 1: the most evenly spread sequence
KEY_BITS = 40  # prior columns fill at most this many bits of the sort key; the rest are random


def balance_key(
    condition: npt.NDArray[np.int64],
    groups: int,
    prior: Sequence[tuple[npt.NDArray[np.int64], int]],
    rng: np.random.Generator,
) -> npt.NDArray[np.int64]:
    """One int64 sort key per row: ``condition``, then the ``prior`` columns (codes, size),
    most significant first, as long as they fit in :data:`KEY_BITS` bits, then random bits
    (ties among rows with equal prior values are broken at random)."""
    key = condition.copy()
    span = max(groups, 1)
    for codes, size in prior:
        if span * size > 1 << KEY_BITS:
            break
        key *= size
        key += codes
        span *= size
    spare = max(0, 62 - span.bit_length())
    key <<= spare
    key += rng.integers(0, 1 << spare, size=key.size, dtype=np.int64)
    return key


def _golden_order(limit: int) -> npt.NDArray[np.int64]:
    """``k = 0..limit-1`` sorted by ``k * GOLDEN mod 1``."""
    return np.argsort(np.mod(np.arange(limit) * GOLDEN, 1.0)).astype(np.int64)


@lru_cache(maxsize=21)
def _remembered_golden_order(limit: int) -> npt.NDArray[np.int64]:
    """:func:`_golden_order` remembered per power of two ``limit`` up to 2**20 (16 MB in all)."""
    order = _golden_order(limit)
    order.flags.writeable = False
    return order


def _golden_permutation(size: int) -> npt.NDArray[np.int64]:
    """The rank of ``k * GOLDEN mod 1`` among those of ``k = 0..size-1``: a permutation of
    ``0..size-1`` whose every run of consecutive entries is spread evenly over the range.

    Read off the remembered order of the next power of two (dropping ``k >= size`` keeps the
    order of the rest), so a large group costs a filter, not a sort."""
    limit = 1 << max(size - 1, 1).bit_length()
    order = _remembered_golden_order(limit) if limit <= 1 << 20 else _golden_order(limit)
    ranks = np.empty(size, dtype=np.int64)
    ranks[order[order < size]] = np.arange(size)
    return ranks


@lru_cache(maxsize=2048)
def _small_golden_permutation(size: int) -> npt.NDArray[np.int64]:
    """:func:`_golden_permutation` remembered for the sizes that recur (at most 2048 rows:
    the cache stays under 32 MB)."""
    ranks = _golden_permutation(size)
    ranks.flags.writeable = False
    return ranks


def _golden_places(sizes: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """For rows listed group by group (``sizes`` rows each), the row's entry in
    :func:`_golden_permutation` of its group's size, at its index in the group."""
    filled = sizes[sizes > 0]
    if filled.size <= 4096:  # few groups: one permutation each, small ones remembered
        return np.concatenate(
            [
                _small_golden_permutation(int(m)) if m <= 2048 else _golden_permutation(int(m))
                for m in filled
            ]
        )
    group = np.repeat(np.arange(sizes.size), sizes)
    starts = np.concatenate(([0], np.cumsum(sizes)[:-1]))
    index = np.arange(group.size, dtype=np.int64) - starts[group]
    spread = np.floor(np.mod(index * GOLDEN, 1.0) * float(1 << 32)).astype(np.int64)
    by_value = np.argsort((group << 32) + spread)
    places = np.empty(group.size, dtype=np.int64)
    places[by_value] = np.arange(group.size, dtype=np.int64)
    return places - starts[group]


def balanced_picks(
    cdf: FloatArray,
    condition: npt.NDArray[np.int64],
    key: npt.NDArray[np.int64],
    rng: np.random.Generator,
) -> npt.NDArray[np.int64]:
    """Systematic sampling as :func:`stratified_picks`, but the grid points go to the rows of
    a group sorted by ``key`` along a golden-ratio sequence instead of in random order.

    The ``p``-th row of a group (sorted by ``key``, :func:`balance_key`) gets grid index
    ``j = (place(p) + c) mod m``, ``place`` from :func:`_golden_places` and ``c`` uniform on
    ``0..m-1`` per group, hence the uniform ``(u + j) / m``: still exactly U[0, 1) for every
    row whatever its place (so each row's code follows the conditional exactly), the counts
    per group still the expected counts rounded, and in addition every run of rows with
    equal leading key columns receives close to its proportional share of each code, so the
    sample's pairs of a keyed column and a new one sit close to the model's.
    """
    groups = cdf.shape[0]
    order = np.argsort(key)  # condition leads the key: rows come group by group
    members = np.bincount(condition, minlength=groups)
    starts = np.concatenate(([0], np.cumsum(members)[:-1]))
    turn = np.floor(rng.random(groups) * members).astype(np.int64)
    size = np.repeat(members, members)  # per sorted row, its group's size (no gathers)
    grid = _golden_places(members) + np.repeat(turn, members)
    grid -= size * (grid >= size)  # (place + turn) mod m
    grid += np.repeat(starts, members)
    picks = np.empty(condition.size, dtype=np.int64)
    picks[order] = _systematic_codes(cdf, members, rng)[grid]
    return picks


REPAIR_ROUNDS = 30  # Adult, epsilon 1: the 2-way gain of the former 60 rounds (README)
REPAIR_MAX_ROWS = 100_000  # larger samples (chunks) skip the repair: see the module docstring

STEPS = np.array([1.0, 1.0, -1.0, -1.0])[:, None, None]  # how a swap moves its four cells


def _expectations(
    condition: npt.NDArray[np.int64],
    probabilities: FloatArray,
    prior: Sequence[tuple[npt.NDArray[np.int64], int]],
) -> list[FloatArray]:
    """Per ``prior`` column (codes, size), the flat (size x width) table of the expected count
    of (prior value, new code) given the earlier columns, ``sum_s count(value, s)
    probabilities[s, code]``."""
    groups = probabilities.shape[0]
    tables = []
    for codes, size in prior:
        joint = np.bincount(codes * groups + condition, minlength=size * groups)
        tables.append((joint.reshape(size, groups).astype(np.float64) @ probabilities).ravel())
    return tables


def conditional_residuals(
    picks: npt.NDArray[np.int64],
    condition: npt.NDArray[np.int64],
    probabilities: FloatArray,
    prior: Sequence[tuple[npt.NDArray[np.int64], int]],
) -> list[FloatArray]:
    """Per ``prior`` column (codes, size), the flat (size x width) table of the rows' counts of
    (prior value, new code) minus their expectation given the earlier columns
    (:func:`_expectations`: what rows drawn each from its group's conditional give on
    average)."""
    width = probabilities.shape[1]
    tables = _expectations(condition, probabilities, prior)
    return [
        np.bincount(codes * width + picks, minlength=size * width) - expected
        for (codes, size), expected in zip(prior, tables, strict=True)
    ]


def _swap_cells(
    scaled: npt.NDArray[np.int64],
    first: npt.NDArray[np.int64],
    second: npt.NDArray[np.int64],
    picks: npt.NDArray[np.int64],
) -> npt.NDArray[np.int64]:
    """The flat residual cells (4 x columns x swaps) that swapping the codes of rows ``first``
    and ``second`` moves by :data:`STEPS`: (a1, b2), (a2, b1), (a1, b1), (a2, b2), with
    ``scaled`` (columns x rows) each row's offset of its prior value's cells per column."""
    a1, a2 = scaled[:, first], scaled[:, second]
    b1, b2 = picks[first], picks[second]
    return np.stack([a1 + b2, a2 + b1, a1 + b1, a2 + b2])


def _swap_gain(residual: FloatArray, cells: npt.NDArray[np.int64]) -> FloatArray:
    """Change of ``sum |residual|`` per column (columns x swaps) from each swap made alone; 0
    where the two rows share the prior value (their +1 and -1 cancel)."""
    value = residual[cells]
    gain = (np.abs(value + STEPS) - np.abs(value)).sum(axis=0)
    return np.where(cells[0] != cells[3], gain, 0.0)


def _within_capacity(
    cells: npt.NDArray[np.int64], residual: FloatArray, rng: np.random.Generator
) -> npt.NDArray[np.bool_]:
    """Which swaps come, in a random priority order, among the first ``max(1, round(|r|))``
    swaps to move each cell (of residual ``r``) they move: swaps judged alone must not push
    one cell past its target together."""
    count = cells.shape[1]
    moving = np.flatnonzero(cells[0] != cells[3])
    swap = np.tile(moving, 4)
    key = cells[:, moving].ravel() * count + rng.permutation(count)[swap]
    order = np.argsort(key)  # by cell, then by the swaps' random priority
    touched, swap = key[order] // count, swap[order]
    starts = np.flatnonzero(np.diff(touched, prepend=-1))
    rank = np.arange(touched.size) - np.repeat(starts, np.diff(np.append(starts, touched.size)))
    capacity = np.maximum(1.0, np.round(np.abs(residual[touched])))
    late = np.zeros(count, dtype=bool)
    late[swap[rank >= capacity]] = True
    return ~late


RELIST = 8  # rounds between two listings of the over rows when the focus stays (see _listed)
STOP_WINDOW = 5  # rounds over which the total must fall by STOP_FRACTION, else the repair stops
STOP_FRACTION = 0.005
LIST_FACTOR = 4.0  # rows listed per over cell of residual r: about LIST_FACTOR * r, at random


def _listed(
    residual: FloatArray,
    expected: FloatArray,
    cells: npt.NDArray[np.int64],
    pool: npt.NDArray[np.int64],
    rng: np.random.Generator,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """The rows of ``pool`` whose cell (``cells``, in ``residual``) is still over its
    expectation by more than a half, and a random share of them to pair this round: each kept
    with probability ``LIST_FACTOR * r / n`` for a cell of residual ``r`` and ``n = r +
    expected`` rows, since a round can move at most about ``r`` of them
    (:func:`_within_capacity`) and listing them all would only pair more swaps to reject."""
    value = residual[cells[pool]]
    over = value > 0.5
    pool, value = pool[over], value[over]
    share = LIST_FACTOR * value / (value + expected[cells[pool]])
    return pool[rng.random(pool.size, dtype=np.float32) < share], pool


def _pairs(
    listed: npt.NDArray[np.int64],
    condition: npt.NDArray[np.int64],
    groups: int,
    picks: npt.NDArray[np.int64],
    rng: np.random.Generator,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """``listed`` rows put in random order group by group (``condition`` below ``groups``) and
    paired neighbour by neighbour: the (first, second) rows of each pair that shares a group
    but not a code."""
    ordered = listed[_grouped_order(condition[listed], groups, rng)]
    half = ordered.size // 2
    first, second = ordered[0 : 2 * half : 2], ordered[1 : 2 * half : 2]
    keep = (condition[first] == condition[second]) & (picks[first] != picks[second])
    return first[keep], second[keep]


def _improving_swaps(
    residual: FloatArray,
    scaled: npt.NDArray[np.int64],
    focus: int,
    first: npt.NDArray[np.int64],
    second: npt.NDArray[np.int64],
    picks: npt.NDArray[np.int64],
    rng: np.random.Generator,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Of the candidate swaps (``first``, ``second``), those made this round: they lower the
    focus column's residuals and the total, within each focus cell's capacity. ``residual``
    holds all columns' tables end to end, ``scaled`` (columns x rows) each row's offset in it
    per column. Applies the swaps to ``residual`` and returns them."""
    own = _swap_gain(residual, _swap_cells(scaled[focus : focus + 1], first, second, picks))
    helps = own[0] < 0
    first, second = first[helps], second[helps]  # the others' gains only where it helps
    cells = _swap_cells(scaled, first, second, picks)
    gains = _swap_gain(residual, cells)
    better = np.flatnonzero((gains[focus] < 0) & (gains.sum(axis=0) < -1e-9))
    focal = cells[:, focus, better]
    made = better[_within_capacity(focal, residual, rng)]
    moved = cells[:, :, made]
    np.add.at(residual, moved.ravel(), np.repeat(STEPS.ravel(), moved[0].size))
    return first[made], second[made]


def repair_picks(
    picks: npt.NDArray[np.int64],
    condition: npt.NDArray[np.int64],
    probabilities: FloatArray,
    prior: Sequence[tuple[npt.NDArray[np.int64], int]],
    rng: np.random.Generator,
    rounds: int = REPAIR_ROUNDS,
) -> npt.NDArray[np.int64]:
    """``picks`` with codes swapped between rows of one group, each swap lowering the summed
    ``|count - expectation|`` of (prior column value, new code) over all ``prior`` columns
    (:func:`conditional_residuals`).

    Each round takes the prior column whose residuals sum largest (the focus), pairs within
    groups (in random order) a random share of the rows whose focus cell is over its
    expectation by more than a half (about ``LIST_FACTOR * r`` of a cell's rows, :func:`_listed`;
    the over rows are listed afresh when the focus changes or every :data:`RELIST` rounds),
    and makes the pairs' swaps that lower the total, at most ``max(1, round(|r|))`` per
    focus cell of residual ``r`` (:func:`_within_capacity`). It stops after ``rounds``
    rounds, or earlier once :data:`STOP_WINDOW` rounds lowered the summed ``|residual|`` by
    less than :data:`STOP_FRACTION`. Swaps within a group keep every group's multiset of
    codes (the clique's counts) and all earlier columns as they are. All columns' tables are
    kept end to end in one array, so a round costs a fixed number of array operations
    whatever the number of columns. Post-processing: only the synthetic rows and the model's
    conditionals are read."""
    picks = picks.copy()
    if not prior:  # no earlier column outside the separator: nothing to pair the codes with
        return picks
    groups, width = probabilities.shape
    tables = _expectations(condition, probabilities, prior)
    starts = np.cumsum([0] + [table.size for table in tables[:-1]])
    expected = np.concatenate(tables)
    scaled = np.empty((len(prior), picks.size), dtype=np.int64)  # columns x rows
    residual = -expected
    for row, (values, _), start in zip(scaled, prior, starts, strict=True):
        np.multiply(values, width, out=row)
        row += start
        residual += np.bincount(row + picks, minlength=expected.size)
    totals: list[float] = []
    focus, pool, own = -1, np.arange(0), np.arange(0)
    for step in range(rounds):
        mass = np.add.reduceat(np.abs(residual), starts)
        totals.append(float(mass.sum()))
        if step >= STOP_WINDOW and totals[-1] >= (1.0 - STOP_FRACTION) * totals[-1 - STOP_WINDOW]:
            break  # the last rounds hardly lowered the total: the rest would not either
        if int(np.argmax(mass)) != focus or step % RELIST == 0:
            focus = int(np.argmax(mass))
            own = scaled[focus] + picks  # each row's focus cell, kept up to date below
            pool = np.flatnonzero(residual[own] > 0.5)
        listed, pool = _listed(residual, expected, own, pool, rng)
        first, second = _pairs(listed, condition, groups, picks, rng)
        first, second = _improving_swaps(residual, scaled, focus, first, second, picks, rng)
        moved = picks[second] - picks[first]
        own[first] += moved
        own[second] -= moved
        picks[first], picks[second] = picks[second], picks[first]
    return picks


def _prior_columns(
    out: npt.NDArray[np.int64], domain: Domain, sampled: Sequence[str], sep: Sequence[str]
) -> list[tuple[npt.NDArray[np.int64], int]]:
    """The columns sampled so far outside ``sep`` as (codes, size), largest domain first (a
    column of more values has more cells to pair at random), the latest first among equals."""
    names = sorted(reversed([n for n in sampled if n not in sep]), key=lambda n: -domain.size(n))
    return [(out[:, domain.index(n)], domain.size(n)) for n in names]


def forward_sample(
    tree: JunctionTree,
    beliefs: Sequence[FloatArray],
    rows: int,
    rng: np.random.Generator,
    *,
    scheme: Scheme = "repaired",
) -> npt.NDArray[np.int64]:
    """``(rows, len(domain))`` integer codes drawn from the model of calibrated ``beliefs``
    (``scheme``: see the module docstring)."""
    domain = tree.domain
    # Column-major: each column is written and read whole, so keep it contiguous.
    out = np.zeros((rows, len(domain)), dtype=np.int64, order="F")
    if rows == 0:
        return out
    sampled: list[str] = []
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
        if scheme == "iid":
            picks = _draw_rows(cdf, condition, rng.random(rows))
        elif scheme == "systematic" or not sampled:
            picks = stratified_picks(cdf, condition, rng)
        else:
            prior = _prior_columns(out, domain, sampled, sep)
            key = balance_key(condition, cdf.shape[0], prior, rng)
            picks = balanced_picks(cdf, condition, key, rng)
            if scheme == "repaired" and rows <= REPAIR_MAX_ROWS:
                probabilities = np.diff(cdf, axis=1, prepend=0.0)
                picks = repair_picks(picks, condition, probabilities, prior, rng)
        decoded = np.unravel_index(picks, domain.shape(rest))
        for name, values in zip(rest, decoded, strict=True):
            out[:, domain.index(name)] = values
        sampled.extend(rest)
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
