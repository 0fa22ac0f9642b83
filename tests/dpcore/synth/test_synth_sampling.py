"""Forward sampling draws rows whose marginals match the model's."""

from __future__ import annotations

import numpy as np

from dpcore.domain import Domain
from dpcore.marginals import ArrayOracle, Measurement
from dpcore.synth.model import fit_model


def test_sample_marginals_match_model() -> None:
    rng = np.random.default_rng(3)
    domain = Domain(("a", "b", "c", "d"), (3, 4, 2, 6))
    rows = 3000
    a = rng.integers(0, 3, rows)
    b = (a + rng.integers(0, 2, rows)) % 4
    c = (b > 1).astype(np.int64)
    d = rng.integers(0, 6, rows)
    codes = np.stack([a, b, c, d], axis=1)
    oracle = ArrayOracle(domain, codes)
    cliques = [("a", "b"), ("b", "c"), ("c", "d")]
    measurements = [
        Measurement(q, v, 2.0) for q, v in zip(cliques, oracle.counts(cliques), strict=True)
    ]
    model, _ = fit_model(domain, measurements, iterations=200)
    draws = 200_000
    sample = model.sample(draws, np.random.default_rng(0))
    assert sample.shape == (draws, 4) and sample.dtype == np.int64
    drawn = ArrayOracle(domain, sample)
    for clique in [*cliques, ("a", "c"), ("a", "d"), ("a", "b", "c")]:
        empirical = drawn.counts([clique])[0] / draws
        assert 0.5 * np.abs(empirical - model.marginal(clique)).sum() < 0.01, clique


def test_sample_is_reproducible_and_zero_rows() -> None:
    domain = Domain(("a", "b"), (2, 3))
    measurements = [Measurement(("a", "b"), np.array([5, 1, 0, 2, 7, 3]), 1.0)]
    model, _ = fit_model(domain, measurements, iterations=20)
    first = model.sample(50, np.random.default_rng(7))
    again = model.sample(50, np.random.default_rng(7))
    assert np.array_equal(first, again)
    assert model.sample(0, np.random.default_rng(0)).shape == (0, 2)


def test_stratified_sampling_rounds_expected_counts() -> None:
    domain = Domain(("a", "b"), (4, 5))
    rng = np.random.default_rng(5)
    counts = rng.integers(1, 50, 20)
    model, _ = fit_model(domain, [Measurement(("a", "b"), counts, 1e-3)], iterations=2000)
    rows = 1000
    sample = model.sample(rows, np.random.default_rng(1))
    drawn = ArrayOracle(domain, sample).counts([("a", "b")])[0]
    expected = model.marginal(("a", "b")) * rows
    assert np.all(np.abs(drawn - expected) < 1.0 + 1e-9)
    # Independent draws are available and noisier.
    from dpcore.synth.sampling import forward_sample

    iid = forward_sample(
        model.tree, model.beliefs, rows, np.random.default_rng(1), stratified=False
    )
    iid_counts = ArrayOracle(domain, iid).counts([("a", "b")])[0]
    assert np.abs(iid_counts - expected).max() > 1.0
