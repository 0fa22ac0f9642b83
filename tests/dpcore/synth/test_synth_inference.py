"""The probability-space calibration and the shared marginal plan give the log-space answers."""

from __future__ import annotations

import numpy as np
import pytest

from dpcore.domain import Domain
from dpcore.marginals import Measurement
from dpcore.synth.inference import (
    broadcast_shape,
    calibrate,
    calibrate_factors,
    clique_marginal,
    sum_to,
)
from dpcore.synth.junction_tree import build_junction_tree
from dpcore.synth.model import _Problem, merge_measurements

DOMAIN = Domain(tuple("abcdef"), (3, 4, 2, 5, 3, 2))
CLIQUES = [("a", "b"), ("b", "c"), ("a", "c"), ("c", "d"), ("d", "e"), ("f",), ("b",)]


def _factors(
    rng: np.random.Generator, scale: float
) -> tuple[list[list[np.ndarray]], list[np.ndarray]]:
    """Random log-tables per clique, homed in the tree; and their sums per tree clique."""
    tree = build_junction_tree(DOMAIN, CLIQUES)
    factors: list[list[np.ndarray]] = [[] for _ in tree.cliques]
    for clique in CLIQUES:
        home = tree.home(clique)
        table = rng.normal(scale=scale, size=DOMAIN.shape(clique))
        factors[home].append(table.reshape(broadcast_shape(DOMAIN, clique, tree.cliques[home])))
    sums = [
        sum((np.broadcast_to(f, DOMAIN.shape(c)) for f in fs), np.zeros(DOMAIN.shape(c)))
        for c, fs in zip(tree.cliques, factors, strict=True)
    ]
    return factors, sums


@pytest.mark.parametrize("scale", [0.1, 3.0, 30.0])
def test_probability_space_matches_log_space(scale: float) -> None:
    rng = np.random.default_rng(int(scale * 10))
    tree = build_junction_tree(DOMAIN, CLIQUES)
    factors, sums = _factors(rng, scale)
    fast = calibrate_factors(tree, factors)
    exact, _ = calibrate(tree, sums)
    assert fast is not None
    for a, b in zip(fast, exact, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-300)


def test_forbidden_cells_stay_exactly_zero() -> None:
    tree = build_junction_tree(DOMAIN, CLIQUES)
    factors, _ = _factors(np.random.default_rng(5), 1.0)
    home = tree.home(("a", "b"))
    mask = np.zeros(DOMAIN.shape(("a", "b")))
    mask[0, 1] = -1e6
    factors[home].append(mask.reshape(broadcast_shape(DOMAIN, ("a", "b"), tree.cliques[home])))
    beliefs = calibrate_factors(tree, factors)
    assert beliefs is not None
    table = clique_marginal(tree, beliefs, ("a", "b"))
    assert table[0, 1] == 0.0
    assert table.sum() == pytest.approx(1.0)


def test_underflowing_products_are_left_to_log_space() -> None:
    """Potentials whose maxima sit on incompatible cells: the product underflows to 0
    everywhere, so the fast path declines and the caller uses the log-space calibration."""
    domain = Domain(("a",), (2,))
    tree = build_junction_tree(domain, [("a",)])
    factors = [[np.array([0.0, -800.0]), np.array([-800.0, 0.0])]]
    assert calibrate_factors(tree, factors) is None
    beliefs, _ = calibrate(tree, [np.array([-800.0, -800.0])])
    np.testing.assert_allclose(beliefs[0], [0.5, 0.5])


def test_marginal_plan_matches_direct_sums() -> None:
    rng = np.random.default_rng(7)
    cliques = [*CLIQUES, ("a", "b", "c"), ("b",), ("c",)]
    measurements = [Measurement(c, rng.random(DOMAIN.cells(c)) * 50, 2.0) for c in cliques]
    observations = merge_measurements(DOMAIN, measurements)
    tree = build_junction_tree(DOMAIN, [o.clique for o in observations])
    problem = _Problem(DOMAIN, observations, 50.0, tree)
    theta = [rng.normal(size=DOMAIN.shape(c)) for c in problem.cliques]
    beliefs = problem.beliefs(theta)
    for o, mu in zip(observations, problem.marginals(beliefs), strict=True):
        home = tree.home(o.clique)
        direct = sum_to(DOMAIN, beliefs[home], tree.cliques[home], o.clique)
        np.testing.assert_allclose(mu, direct, rtol=1e-12)
