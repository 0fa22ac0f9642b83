"""Coarsened marginals: counts of a clique after merging each column's codes into groups.

Measuring a 2-way marginal of two 100-code columns costs one noisy cell per 10,000 codes
pairs; most of that noise buries the signal. Merging each large column's codes into a few
groups first (e.g. quantiles of its estimated 1-way distribution, contiguous in code order,
or codes ordered by their estimated conditionals of the other columns: ``similarity_groups``)
measures the same relationship with far fewer noisy cells. The grouping is chosen from
public information only (the domain and earlier noisy measurements) and travels with the
measurement. Counting the groups of a histogram is still a histogram: L2 sensitivity 1.

The model keeps the full domain; a coarse measurement constrains only group totals, and the
split inside a group comes from the other measurements.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import numpy.typing as npt

from dpcore.domain import Clique, Domain
from dpcore.marginals import Measurement

FloatVector = npt.NDArray[np.float64]
Groups = tuple[tuple[int, ...], ...]
"""Per clique column: the group of each code (``()`` keeps the column at full resolution)."""


@dataclass(frozen=True)
class CoarseMeasurement(Measurement):
    """Noisy counts of a clique's marginal after grouping codes; values are over the groups.

    ``groups[i]`` maps each code of ``clique[i]`` to its group ``0 .. k_i - 1`` (every group
    used), or is ``()`` for a column kept at full resolution.
    """

    groups: Groups = ()

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "groups", tuple(tuple(int(g) for g in m) for m in self.groups))


def group_count(groups: Sequence[int], size: int) -> int:
    """Number of groups of one column's map (``size`` for the identity map ``()``)."""
    return size if not groups else max(groups) + 1


def coarse_shape(domain: Domain, clique: Clique, groups: Groups) -> tuple[int, ...]:
    """Shape of the grouped table."""
    if not groups:
        return domain.shape(clique)
    return tuple(group_count(m, domain.size(c)) for c, m in zip(clique, groups, strict=True))


@lru_cache(maxsize=256)
def cell_index(domain: Domain, clique: Clique, groups: Groups) -> npt.NDArray[np.int64]:
    """For every cell of the full table (C order), the flat index of its grouped cell
    (read-only: remembered per grouping, as AIM offers the same groupings round after
    round)."""
    shape = domain.shape(clique)
    small = coarse_shape(domain, clique, groups)
    maps = []
    for i, (column, size) in enumerate(zip(clique, shape, strict=True)):
        m = groups[i] if groups else ()
        maps.append(np.asarray(m, dtype=np.int64) if m else np.arange(size, dtype=np.int64))
        if len(maps[-1]) != domain.size(column):
            raise ValueError(f"group map of {column!r} needs one entry per code")
    grids = np.meshgrid(*maps, indexing="ij")
    index = np.ravel_multi_index(tuple(grids), small).reshape(-1).astype(np.int64)
    index.flags.writeable = False
    return index


def coarsen(
    table: npt.NDArray[np.float64], index: npt.NDArray[np.int64], cells: int
) -> npt.NDArray[np.float64]:
    """Sum a full table (any shape, C order) into grouped cells via ``cell_index``."""
    summed = np.bincount(index, weights=np.ravel(table), minlength=cells)
    return summed.astype(np.float64, copy=False)


def quantile_groups(probabilities: npt.NDArray[np.float64], k: int) -> tuple[int, ...]:
    """At most ``k`` contiguous code groups of about equal estimated mass each.

    Codes are scanned in order; the current group is closed before a code when adding it
    would overshoot the target by more than half that code's mass, the target being the mass
    not yet grouped divided by the groups left. A heavy code therefore gets a group of its
    own and the rest of the mass is still split evenly: a column with 92% of its mass on
    code 0 (e.g. a capital gain) keeps ``k`` groups instead of collapsing into one.
    Zero-mass codes join the current group.
    """
    p = np.clip(np.asarray(probabilities, dtype=np.float64).reshape(-1), 0.0, None)
    total = float(p.sum())
    if total <= 0 or k >= p.size:
        return tuple(range(p.size))
    out: list[int] = []
    group, mass, left, slots = 0, 0.0, total, max(k, 1)
    for value in (float(v) for v in p):
        if mass > 0 and slots > 1 and mass + value / 2.0 > left / slots:
            group, left, slots, mass = group + 1, left - mass, slots - 1, 0.0
        out.append(group)
        mass += value
    return tuple(out)


def similarity_groups(
    table: npt.NDArray[np.float64],
    axis: int,
    k: int,
    min_spread: float = 0.02,
    iterations: int = 3,
) -> tuple[int, ...]:
    """At most ``k`` groups of the codes of ``axis`` of a clique's estimated table, each
    gathering codes whose conditional distributions over the clique's other columns are
    alike (heavy codes alone, as in :func:`quantile_groups`).

    Codes are ordered by their score on the first principal component of their
    mass-weighted conditional profiles (a code's conditional minus the mean, weighted by
    ``sqrt`` of its mass), that order is cut into groups of about equal mass by
    :func:`quantile_groups`, and ``iterations`` steps of mass-weighted k-means on the
    profiles refine the cut (a code alone in its group stays alone): the groups need not be
    contiguous in code order nor of equal mass. Noise-free, on GSS's exact conditionals
    (``bench/pair_floor.py``'s floors at 12 groups), the order alone reached prestige x
    gender 0.014 (contiguous 0.095) but occupation x prestige only 0.291 (0.328) and age x
    income 0.092 (0.058); three k-means steps give 0.010, 0.203, 0.052, as good as the
    k-means oracle's 0.014, 0.200, 0.052. When the estimated conditionals barely differ
    (their mass-weighted mean total variation from the mean below ``min_spread``: the
    estimate knows nothing that would order them), the groups are exactly
    :func:`quantile_groups`'s. Deterministic in ``table`` (the component's sign is fixed,
    ties keep code order). ``table`` is public (the model's estimate: post-processing of
    noisy measurements), so the grouping is too.
    """
    counts = np.moveaxis(np.clip(np.asarray(table, dtype=np.float64), 0.0, None), axis, 0)
    rows = counts.reshape(counts.shape[0], -1)
    mass = rows.sum(axis=1)
    total = float(mass.sum())
    if total <= 0 or k >= mass.size or rows.shape[1] < 2:
        return quantile_groups(mass, k)
    mean = rows.sum(axis=0) / total
    profiles = np.where(mass[:, None] > 0, rows / np.maximum(mass, 1e-300)[:, None], mean)
    centred = profiles - mean
    weights = mass / total
    spread = float(weights @ (0.5 * np.abs(centred).sum(axis=1)))
    if spread < min_spread:
        return quantile_groups(mass, k)
    score = centred @ _leading_direction(np.sqrt(weights)[:, None] * centred)
    codes = np.arange(mass.size, dtype=np.float64)
    if float(weights @ (score * (codes - weights @ codes))) < 0:
        score = -score
    order = np.lexsort((codes, np.round(score, 9)))
    start = np.empty(mass.size, dtype=np.int64)
    start[order] = quantile_groups(mass[order], k)
    labels = _kmeans(profiles, mass, start, iterations)
    _, first = np.unique(labels, return_index=True)
    renumber = np.empty(int(labels.max()) + 1, dtype=np.int64)
    renumber[labels[np.sort(first)]] = np.arange(first.size)
    return tuple(int(g) for g in renumber[labels])


def _kmeans(
    profiles: npt.NDArray[np.float64],
    mass: FloatVector,
    labels: npt.NDArray[np.int64],
    iterations: int,
) -> npt.NDArray[np.int64]:
    """Mass-weighted k-means of the codes' ``profiles`` from ``labels``: each code moves to
    the group whose mass-weighted mean profile is nearest (ties: the lowest group). Codes
    alone in their starting group (heavy codes) keep it and no code joins them; codes
    without mass stay put."""
    k = int(labels.max()) + 1
    alone = np.bincount(labels, minlength=k) == 1
    fixed = alone[labels] | (mass <= 0)
    for _ in range(iterations):
        weight = np.bincount(labels, weights=mass, minlength=k)
        sums = np.zeros((k, profiles.shape[1]))
        np.add.at(sums, labels, profiles * mass[:, None])
        centres = sums / np.maximum(weight, 1e-300)[:, None]
        distance = (centres * centres).sum(axis=1)[None, :] - 2.0 * profiles @ centres.T
        distance[:, alone | (weight <= 0)] = np.inf
        moved = np.where(fixed, labels, np.argmin(distance, axis=1))
        if np.array_equal(moved, labels):
            break
        labels = moved
    return labels


def _leading_direction(matrix: npt.NDArray[np.float64], steps: int = 25) -> FloatVector:
    """Approximate first right singular vector of ``matrix`` by power iteration on its Gram
    matrix, started from its largest row (deterministic; LAPACK's SVD costs far more here,
    and AIM asks for this for every grouped candidate of every round)."""
    gram = matrix.T @ matrix
    vector = matrix[int(np.argmax(np.einsum("ij,ij->i", matrix, matrix)))].copy()
    for _ in range(steps):
        norm = math.sqrt(float(vector @ vector))
        if norm <= 0:
            return vector
        vector = gram @ (vector / norm)
    norm = math.sqrt(float(vector @ vector))
    return vector / norm if norm > 0 else vector


def coarse_cells(domain: Domain, clique: Clique, groups: Groups) -> int:
    """Number of grouped cells."""
    return math.prod(coarse_shape(domain, clique, groups))
