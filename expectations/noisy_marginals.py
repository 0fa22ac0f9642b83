"""One-way distributions from noisy measurements, and how far a sample may honestly stray.

Pure numpy, no GX: the utility suite uses these to turn measurements into per-column
reference distributions and thresholds. Everything here is computed from noisy measurements
(and, for the sampling term, the public synthetic row count), never from source rows.

For a column ``c`` every measurement whose clique contains ``c`` yields an estimate of the
1-way counts by summing out the other columns; a cell of that estimate sums ``m`` noisy cells,
so its noise variance is ``m * sigma^2``. Estimates are combined by inverse-variance weighting,
the least-variance unbiased combination of independent estimates.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from dpcore.encoding import TableCodec
from dpcore.marginals import Measurement
from expectations.errors import SchemaMismatchError

_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_MIN_VARIANCE = 1e-12


@dataclass(frozen=True)
class OneWayEstimate:
    """Noisy 1-way counts of one column and the noise scale of each of its cells."""

    column: str
    counts: npt.NDArray[np.float64] = field(repr=False)
    cell_sigma: float
    sources: int


def one_way_estimates(
    codec: TableCodec, measurements: Sequence[Measurement]
) -> dict[str, OneWayEstimate]:
    """Combined noisy 1-way counts for every column that some measurement covers.

    Raises :class:`SchemaMismatchError` when a measurement names a column the codec lacks
    or its number of values does not match the clique's code sizes.
    """
    sums: dict[str, npt.NDArray[np.float64]] = {}
    precision: dict[str, float] = {}
    sources: dict[str, int] = {}
    for m in measurements:
        if not m.clique:
            continue
        groups = _groups(m)
        shape = _clique_shape(codec, m, groups)
        table = np.asarray(m.values, dtype=np.float64).reshape(shape)
        cells = math.prod(shape)
        for axis, name in enumerate(m.clique):
            if groups[axis]:
                continue  # measured with merged codes: no 1-way counts for this column
            others = tuple(i for i in range(len(shape)) if i != axis)
            counts = table.sum(axis=others) if others else table
            variance = max((cells // shape[axis]) * m.variance, _MIN_VARIANCE)
            sums[name] = sums.get(name, np.zeros(shape[axis])) + counts / variance
            precision[name] = precision.get(name, 0.0) + 1.0 / variance
            sources[name] = sources.get(name, 0) + 1
    return {
        c.name: OneWayEstimate(
            column=c.name,
            counts=sums[c.name] / precision[c.name],
            cell_sigma=math.sqrt(1.0 / precision[c.name]),
            sources=sources[c.name],
        )
        for c in codec.columns
        if c.name in sums
    }


def _groups(m: Measurement) -> tuple[tuple[int, ...], ...]:
    """Per clique column, its code-to-group map if the measurement merged codes, else ()."""
    groups = tuple(getattr(m, "groups", ()) or ())
    return groups if groups else tuple(() for _ in m.clique)


def _clique_shape(
    codec: TableCodec, m: Measurement, groups: tuple[tuple[int, ...], ...]
) -> tuple[int, ...]:
    names = {c.name for c in codec.columns}
    unknown = [c for c in m.clique if c not in names]
    if unknown:
        raise SchemaMismatchError(
            f"measurement over {m.clique} names column(s) {unknown} that the codec lacks; "
            "pass the codec the measurements were taken with."
        )
    shape = tuple(
        max(g) + 1 if g else codec.column(c).size for c, g in zip(m.clique, groups, strict=True)
    )
    if m.values.size != math.prod(shape):
        raise SchemaMismatchError(
            f"measurement over {m.clique} has {m.values.size} values but the codec's code "
            f"sizes {shape} give {math.prod(shape)} cells; pass the codec the measurements "
            "were taken with."
        )
    return shape


def empirical(codes: npt.NDArray[np.int64], size: int) -> npt.NDArray[np.float64]:
    """Share of each code ``0 .. size-1`` among ``codes`` (codes outside the range ignored)."""
    codes = np.asarray(codes, dtype=np.int64)
    inside = codes[(codes >= 0) & (codes < size)]
    counts = np.bincount(inside, minlength=size).astype(np.float64)
    return counts / max(float(counts.sum()), 1.0)


def noise_allowance(estimate: OneWayEstimate, noisy_total: float) -> float:
    """Expected TVD between the noisy reference distribution and the true one.

    Each cell's noise is about N(0, cell_sigma²), so E|noise| = cell_sigma·sqrt(2/π); summed
    over k cells, halved, and divided by the total: ``k·cell_sigma·sqrt(2/π) / (2·total)``.
    A synthesizer that fits all measurements jointly lands nearer the truth than one noisy
    marginal does, so its distance to that marginal can legitimately reach this much.
    """
    k = estimate.counts.size
    return k * estimate.cell_sigma * _SQRT_2_OVER_PI / (2.0 * max(float(noisy_total), 1.0))


def sampling_allowance(q: npt.NDArray[np.float64], rows: int) -> float:
    """Expected TVD between ``rows`` draws from ``q`` and ``q`` itself.

    Normal approximation per cell: E|p̂ᵢ - qᵢ| ≈ sqrt(2/π)·sqrt(qᵢ(1-qᵢ)/n); halved and summed.
    """
    if rows <= 0:
        return 1.0
    q = np.asarray(q, dtype=np.float64)
    return 0.5 * _SQRT_2_OVER_PI * float(np.sqrt(q * (1.0 - q) / rows).sum())


def share_allowance(estimate: OneWayEstimate, noisy_total: float, share: float, rows: int) -> float:
    """About four standard deviations of a synthetic share of one cell around the noisy one.

    The noisy share of the cell carries the cell's noise, about ``cell_sigma / total``; ``rows``
    draws at that share add sampling error ``sqrt(share·(1 - share) / rows)``. Four standard
    deviations of both together leave a false alarm about once in 15,000 checks.
    """
    noise = estimate.cell_sigma / max(float(noisy_total), 1.0)
    sampling = math.sqrt(max(share * (1.0 - share), 0.0) / rows) if rows > 0 else 1.0
    return 4.0 * math.sqrt(noise**2 + sampling**2)
