"""The probability-space calibration and the shared marginal plan give the log-space answers."""

from __future__ import annotations

import numpy as np
import pytest

from dpcore.domain import Domain
from dpcore.marginals import Measurement
from dpcore.synth.inference import (
    _iteration_order,
    _multiply,
    _product,
    _reduction,
    broadcast_shape,
    calibrate,
    calibrate_factors,
    calibrate_planned,
    calibration_plan,
    clique_marginal,
    sum_by,
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


def test_planned_calibration_matches_log_space_on_random_trees() -> None:
    """The per-tree plan (cached reductions, separator-ratio normalisation, smallest-first
    products, separator marginals shared or summed from larger ones) gives the log-space
    beliefs on random cliques (disconnected columns and a one-code column included), with
    large tables too."""
    rng = np.random.default_rng(11)
    domain = Domain(tuple("abcdefgh"), (7, 2, 19, 3, 2, 11, 4, 1))  # h: a single code
    nested = shared = 0
    for _ in range(6):
        cliques = [
            tuple(rng.choice(domain.names, size=int(rng.integers(1, 4)), replace=False))
            for _ in range(6)
        ]
        tree = build_junction_tree(domain, cliques)
        factors: list[list[np.ndarray]] = [[] for _ in tree.cliques]
        sums = [np.zeros(domain.shape(c)) for c in tree.cliques]
        for clique in [domain.canonical(c) for c in cliques]:
            home = tree.home(clique)
            table = rng.normal(scale=2.0, size=domain.shape(clique))
            shaped = table.reshape(broadcast_shape(domain, clique, tree.cliques[home]))
            factors[home].append(shaped)
            sums[home] = sums[home] + shaped
        plan = calibration_plan(tree)
        nested += sum(1 for p in plan.passes for _, source, _ in p.outgoing if source >= 0)
        shared += sum(1 for p in plan.passes if p.shared not in (-1, p.node))
        planned = calibrate_planned(plan, factors)
        exact, _ = calibrate(tree, sums)
        assert planned is not None
        for a, b in zip(planned, exact, strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-300)
    assert nested > 0 and shared > 0  # both shortcuts were exercised


@pytest.mark.parametrize(
    ("shape", "kept"),
    [
        ((3, 4, 2, 5), (True, False, True, False)),
        ((85, 15, 6, 2, 2), (True, True, False, True, False)),
        ((15, 6, 2, 99, 2), (True, False, False, True, False)),
        ((15, 6, 2, 99, 2), (False, False, False, False, True)),
        ((4, 1, 3, 1), (False, True, True, False)),
        ((6, 20), (True, False)),
        ((3000, 5), (True, False)),
        ((2000, 3, 3), (False, True, True)),
        ((900, 3, 4, 3), (True, False, True, True)),
        ((6, 20), (False, False)),
        ((5,), (False,)),
        ((2, 3), (True, True)),
    ],
)
def test_reductions_match_plain_sums(shape: tuple[int, ...], kept: tuple[bool, ...]) -> None:
    """Merged axes, a short trailing kept run by slices, a trailing summed run by slices, then
    ``einsum``: the same sums as ``ndarray.sum`` over the dropped axes."""
    table = np.random.default_rng(len(shape)).random(shape)
    dropped = tuple(i for i, k in enumerate(kept) if not k)
    expected = table.sum(axis=dropped) if dropped else table
    got = sum_by(table, _reduction(shape, kept))
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=1e-12)


def test_products_in_any_order_and_iteration_are_the_plain_product() -> None:
    """Smallest-first multiplication and rotated iteration change no product (the rotated
    loop gives bit-identical cells)."""
    rng = np.random.default_rng(3)
    shape = (85, 15, 6, 2, 2)
    operands = [
        np.exp(rng.normal(size=s))
        for s in [(85, 1, 6, 2, 2), (85, 15, 1, 2, 1), (1, 1, 6, 1, 2), (1, 15, 1, 1, 1)]
    ]
    factors = [np.log(o) for o in operands[:2]]
    plain = np.ones(shape)
    for f in factors:
        plain = plain * np.exp(f - f.max())
    for t in operands[2:]:
        plain = plain * t
    np.testing.assert_allclose(_product(factors, shape, operands[2:]), plain, rtol=1e-13)
    x, y = operands[0], operands[1]
    assert _iteration_order(x.shape, y.shape, shape) is not None
    assert np.array_equal(_multiply(x, y, np.empty(shape)), x * y)
