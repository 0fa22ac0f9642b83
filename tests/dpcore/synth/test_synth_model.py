"""The junction-tree estimator: exact fits, totals, inconsistent noise, any-clique marginals."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from dpcore.domain import Domain
from dpcore.marginals import ArrayOracle, Measurement, estimate_total
from dpcore.synth.inference import clique_marginal
from dpcore.synth.model import fit_model, merge_measurements


def _data(rows: int = 4000, seed: int = 0) -> tuple[Domain, np.ndarray]:
    """Correlated codes with every cell of the measured pairs populated."""
    rng = np.random.default_rng(seed)
    domain = Domain(("a", "b", "c", "d", "e"), (3, 4, 2, 5, 3))
    a = rng.integers(0, 3, rows)
    b = np.where(rng.random(rows) < 0.6, a, rng.integers(0, 4, rows))
    c = np.where(rng.random(rows) < 0.7, (b > 1).astype(int), rng.integers(0, 2, rows))
    d = np.where(rng.random(rows) < 0.5, 2 * a, rng.integers(0, 5, rows)) % 5
    e = np.where(rng.random(rows) < 0.5, c, rng.integers(0, 3, rows))
    return domain, np.stack([a, b, c, d, e], axis=1).astype(np.int64)


def _tvd(p: np.ndarray, q: np.ndarray) -> float:
    return 0.5 * float(np.abs(p - q).sum())


def test_exact_tree_marginals_are_reproduced() -> None:
    domain, codes = _data()
    oracle = ArrayOracle(domain, codes)
    tree = [("a", "b"), ("b", "c"), ("a", "d"), ("c", "e")]
    counts = oracle.counts(tree)
    assert all(int(c.min()) > 0 for c in counts)
    measurements = [Measurement(c, v, 1e-3) for c, v in zip(tree, counts, strict=True)]
    model, report = fit_model(domain, measurements, iterations=3000)
    n = codes.shape[0]
    assert model.total == pytest.approx(n)
    for clique, exact in zip(tree, counts, strict=True):
        assert _tvd(model.marginal(clique), exact / n) < 1e-6, (clique, report)
    assert model.marginal(("e",)).sum() == pytest.approx(1.0)


def test_marginal_of_any_clique_matches_brute_force() -> None:
    domain, codes = _data(rows=600, seed=1)
    oracle = ArrayOracle(domain, codes)
    cliques = [("a", "b"), ("b", "c"), ("c", "d"), ("d", "e"), ("a", "c")]
    measurements = [
        Measurement(c, v, 5.0) for c, v in zip(cliques, oracle.counts(cliques), strict=True)
    ]
    model, _ = fit_model(domain, measurements, iterations=50)
    # Brute force: the full joint from the tree clique beliefs via marginal of all columns.
    joint = model.marginal(domain.names).reshape(domain.sizes)
    assert joint.sum() == pytest.approx(1.0)
    for k in (1, 2, 3):
        for clique in itertools.combinations(domain.names, k):
            axes = tuple(i for i, n in enumerate(domain.names) if n not in clique)
            expected = joint.sum(axis=axes).reshape(-1)
            assert np.allclose(model.marginal(clique), expected, atol=1e-9), clique


def test_non_canonical_measurement_order() -> None:
    domain, codes = _data(rows=2000, seed=2)
    oracle = ArrayOracle(domain, codes)
    reversed_clique = ("b", "a")
    counts = oracle.counts([reversed_clique])[0]
    model, _ = fit_model(domain, [Measurement(reversed_clique, counts, 1e-3)], iterations=2000)
    assert _tvd(model.marginal(reversed_clique), counts / codes.shape[0]) < 1e-6
    forward = oracle.counts([("a", "b")])[0]
    assert _tvd(model.marginal(("a", "b")), forward / codes.shape[0]) < 1e-6


def test_negative_and_inconsistent_counts_give_a_distribution() -> None:
    domain = Domain(("a", "b"), (3, 3))
    measurements = [
        Measurement(("a",), np.array([50, -7, 10]), 4.0),
        Measurement(("b",), np.array([-3, 20, 70]), 4.0),
        Measurement(("a", "b"), np.array([30, -2, 1, 0, -5, 3, 2, 9, -1]), 4.0),
    ]
    model, _ = fit_model(domain, measurements, iterations=300)
    for clique in [("a",), ("b",), ("a", "b")]:
        table = model.marginal(clique)
        assert np.all(table > 0)  # full support: no code becomes impossible
        assert table.sum() == pytest.approx(1.0)
    rows = model.sample(500, np.random.default_rng(0))
    assert rows.shape == (500, 2)
    assert rows.min() >= 0 and rows[:, 0].max() < 3 and rows[:, 1].max() < 3


def test_estimate_total_is_inverse_variance_weighted() -> None:
    m1 = Measurement(("a",), np.array([60, 40]), 1.0)  # total 100, variance 2
    m2 = Measurement(("b",), np.array([30, 30, 30, 30]), 2.0)  # total 120, variance 16
    expected = (100 / 2 + 120 / 16) / (1 / 2 + 1 / 16)
    assert estimate_total([m1, m2]) == pytest.approx(expected)
    assert estimate_total([Measurement(("a",), np.array([-5, -5]), 1.0)]) == 1.0


def test_repeated_measurements_merge_by_precision() -> None:
    domain = Domain(("a",), (2,))
    merged = merge_measurements(
        domain,
        [Measurement(("a",), np.array([10, 20]), 1.0), Measurement(("a",), np.array([40, 0]), 2.0)],
    )
    assert len(merged) == 1
    assert merged[0].variance == pytest.approx(1 / (1 + 1 / 4))
    assert merged[0].counts == pytest.approx(np.array([10 + 40 / 4, 20]) / (1 + 1 / 4))


def _noisy_pairs(seed: int = 3) -> tuple[Domain, list[Measurement]]:
    """Noisy (sigma 5) 1-way and 2-way tables of ``_data``: a fit that has a noise floor."""
    domain, codes = _data(rows=4000, seed=seed)
    oracle = ArrayOracle(domain, codes)
    cliques = [(n,) for n in domain.names] + [("a", "b"), ("b", "c"), ("a", "d"), ("c", "e")]
    rng = np.random.default_rng(seed)
    return domain, [
        Measurement(c, v + rng.normal(0.0, 5.0, v.size), 5.0)
        for c, v in zip(cliques, oracle.counts(cliques), strict=True)
    ]


def test_stall_rule_stops_a_converged_warm_start_early() -> None:
    # Deterministic (fixed seeds): no false failures. A warm start from 100 calibrations is
    # within 0.05 of the optimum's loss (29 here): the relative tolerance alone still runs
    # on for over 100 calibrations, the rule stops within two windows.
    domain, measurements = _noisy_pairs()
    cells = sum(m.values.size for m in measurements)
    _, long = fit_model(domain, measurements, iterations=3000)
    start, report = fit_model(domain, measurements, iterations=100)
    warm = {"warm_start": start.potentials, "step": report.step, "iterations": 300}
    _, plain = fit_model(domain, measurements, **warm)
    _, stalled = fit_model(domain, measurements, stall=0.01, **warm)
    assert plain.iterations > 100
    assert stalled.iterations <= 20
    assert stalled.loss <= report.loss
    assert stalled.loss - long.loss <= 0.01 * cells / 2


def test_stall_rule_ends_within_a_fraction_of_the_noise_scale_of_a_long_fit() -> None:
    # Deterministic (fixed seeds). The loss's natural scale is cells / 2 (its mean at the
    # truth); a cold fit stopped by the rule is within 2% of that of the 3000-calibration loss.
    domain, measurements = _noisy_pairs()
    cells = sum(m.values.size for m in measurements)
    _, long = fit_model(domain, measurements, iterations=3000)
    _, stalled = fit_model(domain, measurements, iterations=3000, stall=0.002)
    assert stalled.iterations < long.iterations
    assert stalled.loss - long.loss <= 0.02 * cells / 2


def test_stacked_loss_and_gradients_match_a_loop_over_observations() -> None:
    """The loss and gradients from all observations stacked in one vector equal the plain
    per-observation sums (grouped measurements and repeated cliques included)."""
    from dpcore.synth.coarse import CoarseMeasurement, coarsen
    from dpcore.synth.junction_tree import build_junction_tree
    from dpcore.synth.model import _Problem

    domain, _ = _data(rows=10)
    rng = np.random.default_rng(2)
    measurements = [
        Measurement(c, rng.random(domain.cells(c)) * 100, float(rng.uniform(1, 3)))
        for c in [("a",), ("b",), ("c",), ("d",), ("e",), ("a", "b"), ("b", "c"), ("d", "e")]
    ]
    groups = ((), (0, 0, 1, 1, 2))
    measurements.append(CoarseMeasurement(("c", "d"), rng.random(6) * 100, 2.0, False, groups))
    measurements.append(Measurement(("d", "c"), rng.random(10) * 100, 1.5))
    observations = merge_measurements(domain, measurements)
    tree = build_junction_tree(domain, [o.clique for o in observations])
    problem = _Problem(domain, observations, 400.0, tree)
    theta = [rng.normal(size=domain.shape(c)) for c in problem.cliques]
    loss, grads, margs, _ = problem.evaluate(theta)
    expected_loss = 0.0
    expected = [np.zeros(domain.shape(c)) for c in problem.cliques]
    for o, slot, mu in zip(problem.obs, problem.slot, margs, strict=True):
        seen = mu.reshape(-1) if o.index is None else coarsen(mu, o.index, o.counts.size)
        diff = 400.0 * seen - o.counts
        expected_loss += float(diff @ diff) / (2.0 * o.variance)
        grad = diff * (400.0 / o.variance)
        expected[slot] += (grad if o.index is None else grad[o.index]).reshape(mu.shape)
    assert loss == pytest.approx(expected_loss, rel=1e-12)
    for got, want in zip(grads, expected, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-9)


def test_shared_conditionals_give_the_same_marginals() -> None:
    domain, rows = _data()
    oracle = ArrayOracle(domain, rows)
    cliques = [("a", "b"), ("b", "c"), ("c", "d"), ("d", "e")]
    measurements = [
        Measurement(c, v.astype(float), 1.0)
        for c, v in zip(cliques, oracle.counts(cliques), strict=True)
    ]
    model, _ = fit_model(domain, measurements, iterations=50)
    for pair in itertools.combinations(domain.names, 2):
        fresh = clique_marginal(model.tree, model.beliefs, pair)
        np.testing.assert_allclose(model.marginal(pair), fresh.reshape(-1), rtol=1e-12)
    assert model._conditionals  # some pairs joined several tree cliques


def _precise_pairs() -> tuple[Domain, list[Measurement]]:
    """Exact 1-way and 2-way counts of 40 million rows (the sample scaled up) at sigma 1:
    noise negligible against the counts, where the cold step ``1 / sum(N^2 / sigma^2)`` is
    far below the step the fit settles at."""
    domain, codes = _data()
    oracle = ArrayOracle(domain, codes)
    cliques = [(n,) for n in domain.names] + [("a", "b"), ("b", "c"), ("a", "d"), ("c", "e")]
    return domain, [
        Measurement(c, v * 10_000, 1.0)
        for c, v in zip(cliques, oracle.counts(cliques), strict=True)
    ]


def test_ramp_reaches_a_lower_loss_in_the_same_calibrations() -> None:
    # Deterministic (exact counts, no noise draws): no false failures. Doubling the step
    # until the first backtrack finds the working step in a few calibrations; growing it by
    # 10% per step spends many of them getting there (losses here at 20 / 100 / 200
    # calibrations: 0.04 / 0.43 / 0.15 of the plain fit's).
    domain, measurements = _precise_pairs()
    _, plain = fit_model(domain, measurements, iterations=200)
    _, ramped = fit_model(domain, measurements, iterations=200, ramp=True)
    assert abs(ramped.iterations - plain.iterations) <= 1
    assert ramped.loss < 0.5 * plain.loss


def test_ramp_is_off_by_default() -> None:
    domain, measurements = _precise_pairs()
    default, _ = fit_model(domain, measurements, iterations=30)
    off, _ = fit_model(domain, measurements, iterations=30, ramp=False)
    for a, b in zip(default.beliefs, off.beliefs, strict=True):
        np.testing.assert_array_equal(a, b)
