"""The exact exponential mechanism: its law, its cost, its input checks."""

from __future__ import annotations

import math

import numpy as np
import pytest

from dpcore.noise import seeded_source
from dpcore.synth.selection import em_epsilon, em_rho, exponential_mechanism


def test_cost_conversions() -> None:
    assert em_rho(2.0) == pytest.approx(0.5)
    assert em_epsilon(em_rho(0.7)) == pytest.approx(0.7)


def test_law_matches_softmax() -> None:
    scores = [0.0, 1.0, 3.0, 2.5]
    epsilon, sensitivity = 1.0, 1.0
    source = seeded_source(11)
    draws = 6000
    counts = np.bincount(
        [exponential_mechanism(scores, epsilon, sensitivity, source) for _ in range(draws)],
        minlength=len(scores),
    )
    weights = np.exp(epsilon * np.array(scores) / (2 * sensitivity))
    expected = draws * weights / weights.sum()
    chi2 = float(((counts - expected) ** 2 / expected).sum())
    assert chi2 < 16.3  # 99.9% quantile of chi-square with 3 degrees of freedom


def test_dominant_candidate_and_single_candidate() -> None:
    source = seeded_source(5)
    picks = {exponential_mechanism([0.0, 1e6, 5.0], 1.0, 1.0, source) for _ in range(50)}
    assert picks == {1}
    assert exponential_mechanism([42.0], 0.1, 1.0, source) == 0


def test_zero_epsilon_is_uniform() -> None:
    source = seeded_source(9)
    counts = np.bincount(
        [exponential_mechanism([0.0, 100.0, -50.0], 0.0, 1.0, source) for _ in range(3000)],
        minlength=3,
    )
    assert np.all(np.abs(counts - 1000) < 4 * math.sqrt(1000))


@pytest.mark.parametrize(
    ("scores", "epsilon", "sensitivity"),
    [([], 1.0, 1.0), ([1.0], -1.0, 1.0), ([1.0], 1.0, 0.0), ([math.nan], 1.0, 1.0)],
)
def test_rejects_bad_input(scores: list[float], epsilon: float, sensitivity: float) -> None:
    with pytest.raises(ValueError):
        exponential_mechanism(scores, epsilon, sensitivity, seeded_source(0))
