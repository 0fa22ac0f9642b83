"""Noisy marginals: discrete Gaussian noise (zCDP) or discrete Laplace noise (pure DP).

Adding N_Z(0, sigma^2) noise to a query of L2 sensitivity D is (D^2 / (2 sigma^2))-zCDP
(Canonne, Kamath, Steinke 2020); adding discrete Laplace noise of scale t to a query of L1
sensitivity D is (D / t)-DP. Under add/remove-one-row neighbours a histogram has L1 and L2
sensitivity 1 (:mod:`dpcore.calculus` prices both).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from dpcore.calculus import ZCDP, Calculus
from dpcore.domain import Clique
from dpcore.errors import BudgetError
from dpcore.marginals import CountOracle, Measurement
from dpcore.noise import RandomSource


def gaussian_sigma(rho: float, sensitivity: float = 1.0) -> float:
    """Noise scale that makes one query of L2 ``sensitivity`` cost exactly ``rho``."""
    if not math.isfinite(rho) or rho <= 0:
        raise BudgetError(f"rho must be a finite number > 0, got {rho!r}")
    return float(sensitivity) / math.sqrt(2.0 * rho)


def gaussian_rho(sigma: float, sensitivity: float = 1.0) -> float:
    """zCDP cost of one discrete Gaussian measurement with scale ``sigma``."""
    return float(sensitivity) ** 2 / (2.0 * float(sigma) ** 2)


def measure_marginals(
    oracle: CountOracle,
    cliques: Sequence[Clique],
    sigmas: Sequence[float],
    source: RandomSource,
    calculus: Calculus = ZCDP,
) -> list[Measurement]:
    """Noisy counts of each clique's marginal, one draw of ``calculus``'s noise per cell.

    Each measurement costs ``calculus.measurement_cost(sigma)``; the caller accounts for the
    sum.
    """
    if len(cliques) != len(sigmas):
        raise ValueError("measure_marginals needs one sigma per clique")
    exact = oracle.counts(cliques)
    result = []
    for clique, sigma, counts in zip(cliques, sigmas, exact, strict=True):
        noise = calculus.draw(float(sigma), counts.size, source)
        result.append(
            Measurement(clique, counts + noise, float(sigma), source.private, noise=calculus.noise)
        )
    return result
