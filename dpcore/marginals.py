"""Marginals as plain data: exact counts (private, never stored) and noisy measurements.

A :class:`Measurement` is the only thing about the source rows that leaves the measurement
step. Its ``values`` are the noisy counts of one marginal, flattened in C order over the
clique's code sizes, and ``sigma`` is the standard deviation scale of the noise added.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import numpy.typing as npt

from dpcore.calculus import NoiseKind, noise_variance
from dpcore.domain import Clique, Domain


@dataclass(frozen=True)
class Measurement:
    """Noisy counts of the marginal over ``clique`` with noise of scale ``sigma``: discrete
    Gaussian (zCDP) or, with ``noise=LAPLACE``, discrete Laplace of scale ``sigma`` (pure DP).

    ``private`` is False when the noise came from a seeded test generator: such a measurement
    must never be published. ``selection_epsilon`` is the exponential mechanism's epsilon
    spent choosing this marginal from data (0 when it was fixed in advance), so that what a
    run spent can be recomputed from its stored measurements alone
    (:func:`dpcore.spend.spent_rho`).
    """

    clique: Clique
    values: npt.NDArray[np.int64] = field(repr=False)
    sigma: float
    private: bool = True
    selection_epsilon: float = field(default=0.0, kw_only=True)
    noise: NoiseKind = field(default=NoiseKind.GAUSSIAN, kw_only=True)

    def __post_init__(self) -> None:
        values = np.asarray(self.values, dtype=np.int64).reshape(-1)
        values.setflags(write=False)
        object.__setattr__(self, "values", values)
        object.__setattr__(self, "clique", tuple(self.clique))
        object.__setattr__(self, "noise", NoiseKind(self.noise))

    @property
    def variance(self) -> float:
        """Variance of each noisy cell (:func:`dpcore.calculus.noise_variance`)."""
        return noise_variance(self.noise, self.sigma)

    @property
    def std_error(self) -> float:
        """Standard deviation of each noisy cell (``sigma`` itself for Gaussian noise)."""
        return float(self.sigma) if self.noise is NoiseKind.GAUSSIAN else self.variance**0.5

    def total(self) -> float:
        """The noisy total count implied by this marginal."""
        return float(self.values.sum())


class CountOracle(Protocol):
    """Exact marginal counts of the private source, answered in batch.

    Implemented by the warehouse (GROUP BY in DuckDB) and by in-memory arrays in tests and
    benchmarks. Only mechanisms in ``dpcore`` may look at its answers.
    """

    def counts(self, cliques: Sequence[Clique]) -> list[npt.NDArray[np.int64]]:
        """Exact counts of each clique's marginal, flattened in C order over its code sizes."""
        ...


@dataclass(frozen=True)
class ArrayOracle:
    """A :class:`CountOracle` over an in-memory ``(rows, columns)`` array of integer codes."""

    domain: Domain
    codes: npt.NDArray[np.int64] = field(repr=False)

    def counts(self, cliques: Sequence[Clique]) -> list[npt.NDArray[np.int64]]:
        """Counts by ``np.bincount`` of each clique's raveled codes."""
        result = []
        for clique in cliques:
            shape = self.domain.shape(clique)
            if not clique:
                result.append(np.array([self.codes.shape[0]], dtype=np.int64))
                continue
            columns = [self.codes[:, self.domain.index(c)] for c in clique]
            flat = np.ravel_multi_index(tuple(columns), shape)
            result.append(np.bincount(flat, minlength=int(np.prod(shape))).astype(np.int64))
        return result


def estimate_total(measurements: Sequence[Measurement]) -> float:
    """Inverse-variance weighted estimate of the row count from noisy marginals.

    The sum of a marginal with ``m`` cells has noise variance ``m * sigma^2``; combining all
    measurements' sums this way uses no budget beyond the measurements themselves.
    """
    if not measurements:
        raise ValueError("estimate_total needs at least one measurement")
    weights = np.array([1.0 / (m.values.size * m.variance) for m in measurements])
    totals = np.array([m.total() for m in measurements])
    return float(max(0.0, float(weights @ totals / weights.sum())))
