"""SURE smoothing of large 1-way tables: the smoother, the choice of width, and that it only
touches what the estimator is fitted to (the measurements AIM returns stay raw)."""

from __future__ import annotations

import numpy as np
import pytest

from dpcore.domain import Domain
from dpcore.marginals import ArrayOracle, Measurement
from dpcore.noise import seeded_source
from dpcore.synth.aim import AIMSynthesizer
from dpcore.synth.smoothing import smooth, smoothed_oneways, sure_smooth


def _matrix(size: int, width: float) -> np.ndarray:
    offsets = np.arange(size)[:, None] - np.arange(size)[None, :]
    radius = int(np.ceil(4.0 * width))
    kernel = np.where(np.abs(offsets) <= radius, np.exp(-0.5 * (offsets / width) ** 2), 0.0)
    return kernel / kernel.sum(axis=1, keepdims=True)


@pytest.mark.parametrize("width", [0.5, 1.0, 3.0])
def test_smooth_matches_the_renormalised_kernel_matrix(width: float) -> None:
    values = np.random.default_rng(0).normal(100.0, 30.0, 40)
    fitted, trace = smooth(values, width)
    matrix = _matrix(40, width)
    assert np.allclose(fitted, matrix @ values)
    assert trace == pytest.approx(np.trace(matrix))
    constant, _ = smooth(np.full(40, 7.0), width)
    assert np.allclose(constant, 7.0)  # renormalised at the ends: no loss of mass there


def test_sure_leaves_heaped_counts_alone() -> None:
    # Hours-like: a heap every fifth code; smoothing would move thousands of rows.
    counts = np.full(60, 50.0)
    counts[::5] = 3000.0
    noisy = counts + np.random.default_rng(1).normal(0.0, 30.0, 60)
    fitted, width = sure_smooth(noisy, 30.0**2)
    assert width == 0.0
    assert np.array_equal(fitted, noisy)


def test_sure_smoothing_lowers_the_error_of_a_smooth_table() -> None:
    # Deterministic (seeded draws): an age-like curve of 85 codes at the noise Adult's age
    # column gets at epsilon 1; smoothing must cut the mean L1 error by at least 10%.
    codes = np.arange(85)
    counts = 39_000 * np.exp(-0.5 * ((codes - 20) / 14.0) ** 2)
    counts /= counts.sum() / 39_000
    rng = np.random.default_rng(2)
    raw, smoothed = [], []
    for _ in range(50):
        noisy = counts + rng.normal(0.0, 36.0, codes.size)
        fitted, _ = sure_smooth(noisy, 36.0**2)
        raw.append(np.abs(noisy - counts).sum())
        smoothed.append(np.abs(fitted - counts).sum())
    assert np.mean(smoothed) < 0.9 * np.mean(raw)


def test_smoothed_oneways_touches_only_large_full_resolution_oneways() -> None:
    rng = np.random.default_rng(3)
    smooth_curve = 500.0 + 200.0 * np.sin(np.arange(40) / 6.0)
    large = Measurement(("a",), np.rint(smooth_curve + rng.normal(0, 40, 40)), 40.0, False)
    small = Measurement(("b",), np.array([10, 20, 30]), 40.0, False)
    pair = Measurement(("a", "b"), np.rint(rng.normal(50, 40, 120)), 40.0, False)
    out = smoothed_oneways([large, small, pair])
    assert out[1] is small and out[2] is pair
    assert out[0].sigma == large.sigma and out[0].clique == ("a",)
    assert not np.array_equal(out[0].values, large.values)
    assert large.values.sum() == pytest.approx(out[0].values.sum(), abs=40)


def test_aim_returns_raw_measurements_whether_or_not_it_smooths() -> None:
    """Privacy audit: smoothing is post-processing of the estimate only. With the same seeded
    noise the 1-way measurements (drawn before any fit) are identical with and without it,
    and the smoothing run still spends exactly rho."""
    rng = np.random.default_rng(4)
    domain = Domain(("age", "k", "s"), (60, 4, 2))
    age = np.clip(rng.normal(30, 10, 8000).round(), 0, 59).astype(np.int64)
    rows = np.stack([age, age // 15, rng.integers(0, 2, 8000)], axis=1)
    rho = 0.05
    runs = [
        AIMSynthesizer(smooth_oneway=flag).measure(
            domain, rho, ArrayOracle(domain, rows), seeded_source(9)
        )
        for flag in (True, False)
    ]
    for a, b in zip(runs[0][:3], runs[1][:3], strict=True):
        assert a.clique == b.clique and a.sigma == b.sigma
        assert np.array_equal(a.values, b.values)
    spent = sum(1 / (2 * m.sigma**2) + m.selection_epsilon**2 / 8 for m in runs[0])
    assert spent == pytest.approx(rho)
    fitted = smoothed_oneways(runs[0])
    assert not np.array_equal(fitted[0].values, runs[0][0].values)  # it did smooth age
