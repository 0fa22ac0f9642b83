"""Noisy counts to distributions, and the total variation distance (one copy of each rule)."""

from __future__ import annotations

import numpy as np
import pytest

from dpcore.distributions import clipped_distribution, half_abs_diff, total_variation


def test_clipped_distribution_clips_negative_noise_and_handles_all_zero() -> None:
    assert clipped_distribution([-3, 1, 3]).tolist() == [0.0, 0.25, 0.75]
    assert clipped_distribution([-1, 0]).tolist() == [0.5, 0.5]
    np.testing.assert_allclose(clipped_distribution(np.array([-1.0, -2.0])), [0.5, 0.5])


def test_clipped_distribution_keeps_the_shape() -> None:
    p = clipped_distribution(np.array([[2.0, -1.0], [1.0, 1.0]]))
    assert p.shape == (2, 2)
    np.testing.assert_allclose(p, [[0.5, 0.0], [0.25, 0.25]])


def test_total_variation_is_half_the_l1_distance() -> None:
    assert half_abs_diff(np.array([1.0, 0.0]), np.array([0.0, 1.0])).sum() == pytest.approx(1.0)
    assert total_variation([0.5, 0.5], [0.5, 0.5]) == 0.0
    assert total_variation([0.7, 0.3], [0.2, 0.8]) == pytest.approx(0.5)
