"""Noisy marginals: discrete Gaussian noise (zCDP) or discrete Laplace noise (pure DP).

Adding N_Z(0, sigma^2) noise to a query of L2 sensitivity D is (D^2 / (2 sigma^2))-zCDP
(Canonne, Kamath, Steinke 2020); adding discrete Laplace noise of scale t to a query of L1
sensitivity D is (D / t)-DP. Under add/remove-one-row neighbours a histogram has L1 and L2
sensitivity 1 (:mod:`dpcore.calculus` prices both).
"""

from __future__ import annotations

from collections.abc import Sequence

from dpcore.calculus import ZCDP, Calculus
from dpcore.domain import Clique
from dpcore.marginals import CountOracle, Measurement
from dpcore.noise import RandomSource


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
