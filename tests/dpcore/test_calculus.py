"""The two calculi price noise consistently, and the Laplace variance the model weighs by is
the sampler's."""

from __future__ import annotations

import math

import numpy as np
import pytest

from dpcore.calculus import PURE, ZCDP, NoiseKind, calculus_for, noise_variance
from dpcore.noise import seeded_source


@pytest.mark.parametrize("calculus", [ZCDP, PURE])
@pytest.mark.parametrize("cost", [1e-4, 0.05, 2.0])
def test_a_scale_bought_for_a_cost_costs_exactly_that(calculus, cost: float) -> None:
    for sensitivity in (1.0, 3.0):
        scale = calculus.scale_for(cost, sensitivity)
        assert calculus.measurement_cost(scale, sensitivity) == pytest.approx(cost, rel=1e-12)
    assert calculus.selection_cost(calculus.selection_epsilon(cost)) == pytest.approx(cost)


def test_pure_prices_are_linear_and_zcdp_prices_quadratic() -> None:
    assert PURE.measurement_cost(4.0) == 0.25  # Laplace scale 4 on a histogram: 1/4-DP
    assert PURE.selection_cost(0.3) == 0.3
    assert PURE.unit_budget(1.0, 4) == 0.25  # a person with 4 rows: sensitivity 4 in L1
    assert ZCDP.measurement_cost(2.0) == 0.125
    assert ZCDP.unit_budget(1.0, 4) == 1 / 16
    assert calculus_for("laplace") is PURE and calculus_for(NoiseKind.GAUSSIAN) is ZCDP


@pytest.mark.parametrize("scale", [0.7, 3.0, 40.0])
def test_the_laplace_variance_is_the_samplers(scale: float) -> None:
    """200,000 draws: the sample variance lies within 6 standard errors of the formula
    (false-failure rate below 1e-8 per case by Chebyshev on the fourth moment, in practice
    far lower)."""
    n = 200_000
    draws = PURE.draw(scale, n, seeded_source(11)).astype(np.float64)
    variance = noise_variance(NoiseKind.LAPLACE, scale)
    assert variance < 2 * scale**2
    # The discrete Laplace's fourth moment is at most 24 t^4 + O(t^2): the variance of the
    # sample variance is below 24 t^4 / n (generously bounded here by 30 t^4 / n + 1).
    stderr = math.sqrt((30 * scale**4 + 30) / n)
    assert abs(draws.var() - variance) < 6 * stderr
    assert abs(draws.mean()) < 6 * math.sqrt(variance / n)
