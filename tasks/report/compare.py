"""Noisy versus synthetic distributions of one marginal, on the public code domain.

A noisy marginal is post-processed into a distribution by clipping negative counts to zero
and normalising; a lower-order marginal is the sum of a measured higher-order one over the
other columns. The synthetic distribution is the normalised count of the synthetic codes
(tallied chunk by chunk as the table is streamed; :func:`synthetic_marginal` counts an array).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from dpcore.domain import Clique, Domain
from dpcore.marginals import Measurement

FloatArray = npt.NDArray[np.float64]


def normalise(counts: npt.ArrayLike) -> FloatArray:
    """Counts as a distribution: negatives clipped to 0; all-zero becomes uniform."""
    clipped = np.clip(np.asarray(counts, dtype=np.float64), 0.0, None)
    total = clipped.sum()
    if total <= 0:
        return np.full(clipped.shape, 1.0 / max(1, clipped.size))
    return clipped / total


def fits_domain(measurement: Measurement, domain: Domain) -> bool:
    """Whether a measurement covers its clique's full code grid (not a coarsened one)."""
    return all(c in domain for c in measurement.clique) and (
        measurement.values.size == domain.cells(measurement.clique)
    )


def noisy_marginal(measurement: Measurement, domain: Domain, clique: Clique) -> FloatArray:
    """Noisy counts of ``clique`` (a subset of the measured one), shaped like ``clique``."""
    full = measurement.values.astype(np.float64).reshape(domain.shape(measurement.clique))
    drop = tuple(i for i, c in enumerate(measurement.clique) if c not in clique)
    summed = full.sum(axis=drop) if drop else full
    kept = [c for c in measurement.clique if c in clique]
    order = [kept.index(c) for c in clique]
    return np.asarray(np.transpose(summed, order), dtype=np.float64)


def best_covering(
    measurements: Sequence[Measurement], domain: Domain, clique: Clique
) -> Measurement | None:
    """The least noisy full-resolution measurement covering ``clique``, if any.

    The noise variance of a projected cell is the measurement's cell variance times the
    number of summed cells, so the covering measurement with the smallest such variance is
    used.
    """
    covering = [m for m in measurements if fits_domain(m, domain) and set(clique) <= set(m.clique)]
    if not covering:
        return None
    return min(covering, key=lambda m: m.variance * m.values.size / domain.cells(clique))


def best_noisy_marginal(
    measurements: Sequence[Measurement], domain: Domain, clique: Clique
) -> FloatArray | None:
    """Noisy counts of ``clique`` from the least noisy measurement covering it, if any."""
    best = best_covering(measurements, domain, clique)
    return None if best is None else noisy_marginal(best, domain, clique)


def noise_floor(
    measurements: Sequence[Measurement], domain: Domain, clique: Clique, total: float
) -> float:
    """About the TVD a perfect model would score against the noisy ``clique`` marginal: the
    noise alone moves each of its cells by ``E|N(0, v)| = sqrt(2 v / pi)`` counts."""
    best = best_covering(measurements, domain, clique)
    if best is None or total <= 0:
        return 0.0
    cells = domain.cells(clique)
    variance = best.variance * best.values.size / cells
    return float(min(1.0, 0.5 * cells * np.sqrt(2.0 * variance / np.pi) / total))


def synthetic_marginal(codes: npt.NDArray[np.int64], domain: Domain, clique: Clique) -> FloatArray:
    """Counts of ``clique`` in the synthetic codes, as a ``clique``-shaped array."""
    shape = domain.shape(clique)
    columns = tuple(codes[:, domain.index(c)] for c in clique)
    flat = np.ravel_multi_index(columns, shape) if len(codes) else np.zeros(0, dtype=np.int64)
    counts = np.bincount(flat, minlength=int(np.prod(shape)))
    return counts.astype(np.float64).reshape(shape)


def total_variation(p: FloatArray, q: FloatArray) -> float:
    """Total variation distance between two distributions of the same shape."""
    return float(0.5 * np.abs(p - q).sum())
