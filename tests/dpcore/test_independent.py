"""The independent (seed) synthesizer: budget split, noise, fit and sampling."""

from __future__ import annotations

import math

import numpy as np
import pytest

from dpcore.accounting import rho_from_eps_delta
from dpcore.calculus import ZCDP
from dpcore.distributions import counts_to_distribution, project_to_simplex
from dpcore.domain import Domain
from dpcore.marginals import ArrayOracle, Measurement, estimate_total
from dpcore.noise import seeded_source
from dpcore.synth.independent import IndependentSynthesizer


def make_data(rows: int = 20_000) -> tuple[Domain, np.ndarray]:
    rng = np.random.default_rng(7)
    domain = Domain.from_dict({"a": 3, "b": 5})
    a = rng.choice(3, size=rows, p=[0.6, 0.3, 0.1])
    b = rng.choice(5, size=rows, p=[0.1, 0.2, 0.3, 0.2, 0.2])
    return domain, np.stack([a, b], axis=1)


def test_plan_spends_exactly_rho() -> None:
    domain, _ = make_data(10)
    rho = rho_from_eps_delta(1.0, 1e-9)
    plan = IndependentSynthesizer().plan(domain, rho)
    assert [p.clique for p in plan] == [("a",), ("b",)]
    assert math.isclose(sum(ZCDP.measurement_cost(p.sigma) for p in plan), rho, rel_tol=1e-12)


def test_measure_fit_sample_recovers_marginals() -> None:
    """With rho = 1 the noise sigma is 1 on 20,000 rows: each recovered 1-way marginal is
    within 0.03 TVD of the truth except with probability far below 1e-9 (seeded anyway)."""
    domain, codes = make_data()
    synth = IndependentSynthesizer()
    oracle = ArrayOracle(domain, codes)
    ms = synth.measure(domain, 1.0, oracle, seeded_source(3))
    assert all(not m.private for m in ms)  # seeded noise is marked not private
    model = synth.fit(domain, ms)
    rows = model.sample(20_000, np.random.default_rng(0))
    assert rows.shape == (20_000, 2) and rows.dtype == np.int64
    for j, name in enumerate(domain.names):
        truth = np.bincount(codes[:, j], minlength=domain.size(name)) / len(codes)
        synth_p = np.bincount(rows[:, j], minlength=domain.size(name)) / len(rows)
        assert 0.5 * np.abs(truth - synth_p).sum() < 0.03
        assert 0.5 * np.abs(truth - model.marginal((name,))).sum() < 0.01
    assert abs(estimate_total(ms) - len(codes)) < 50


def test_estimate_total_weights_by_inverse_variance() -> None:
    precise = Measurement(("a",), np.array([100, 0]), sigma=0.1)
    noisy = Measurement(("b",), np.array([400, 0]), sigma=100.0)
    assert abs(estimate_total([precise, noisy]) - 100) < 0.01


def test_simplex_projection() -> None:
    p = counts_to_distribution(np.array([50.0, -10.0, 30.0, 2.0]))
    assert abs(p.sum() - 1) < 1e-12 and (p >= 0).all()
    assert p[1] == 0
    assert np.allclose(counts_to_distribution(np.array([-1.0, -2.0])), [0.5, 0.5])


def test_projection_is_euclidean_and_keeps_shape() -> None:
    """The one projection both models use: L2-closest point of the simplex, same shape."""
    v = np.array([[0.6, 0.5], [-0.2, 0.0]])
    p = project_to_simplex(v)
    assert p.shape == v.shape and p.sum() == pytest.approx(1.0) and (p >= 0).all()
    assert np.allclose(p, [[0.55, 0.45], [0.0, 0.0]])
    assert np.allclose(project_to_simplex(np.array([0.2, 0.3, 0.5])), [0.2, 0.3, 0.5])
    assert np.allclose(project_to_simplex(np.array([-1.0, -2.0])), [1.0, 0.0])
