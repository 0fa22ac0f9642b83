"""Public sampler API: validation, dtype, determinism, centring, batch boundaries."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt
import pytest

from dpcore.noise import (
    RandomSource,
    discrete_gaussian,
    discrete_laplace,
    secure_source,
    seeded_source,
)
from dpcore.noise import gaussian as gaussian_module
from dpcore.noise.gaussian import sample_gaussian

Sampler = Callable[[float, int, RandomSource], npt.NDArray[np.int64]]
SAMPLERS: list[Sampler] = [discrete_gaussian, discrete_laplace]


@pytest.mark.parametrize("sampler", SAMPLERS)
@pytest.mark.parametrize("scale", [0.0, -1.0, float("nan"), float("inf"), 2.0**27, "1", None, True])
def test_bad_scale_is_rejected(sampler: Sampler, scale: object) -> None:
    with pytest.raises(ValueError, match=r"sigma|scale"):
        sampler(scale, 10, seeded_source(0))  # type: ignore[arg-type]


@pytest.mark.parametrize("sampler", SAMPLERS)
@pytest.mark.parametrize("size", [-1, 2.5, "3", True])
def test_bad_size_is_rejected(sampler: Sampler, size: object) -> None:
    with pytest.raises(ValueError, match="size"):
        sampler(1.0, size, seeded_source(0))  # type: ignore[arg-type]


@pytest.mark.parametrize("sampler", SAMPLERS)
@pytest.mark.parametrize("scale", [0.01, 0.5, 1, 7.3, 2500.0, 20_000.0, 1e6, 2.0**26])
def test_output_is_int64_of_requested_size(sampler: Sampler, scale: float) -> None:
    for size in (0, 1, 1000):
        out = sampler(scale, size, seeded_source(1))
        assert out.dtype == np.int64
        assert out.shape == (size,)


@pytest.mark.parametrize("sampler", SAMPLERS)
@pytest.mark.parametrize("scale", [0.5, 3.0, 1e6])
def test_seeded_draws_are_reproducible(sampler: Sampler, scale: float) -> None:
    a = sampler(scale, 5000, seeded_source(9))
    b = sampler(scale, 5000, seeded_source(9))
    c = sampler(scale, 5000, seeded_source(10))
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


@pytest.mark.parametrize("sampler", SAMPLERS)
def test_secure_source_works(sampler: Sampler) -> None:
    out = sampler(3.0, 10_000, secure_source())
    assert out.dtype == np.int64
    assert abs(out.mean()) < 6 * 3 * 1.5 / 100  # 6 standard errors


@pytest.mark.parametrize("sampler", SAMPLERS)
@pytest.mark.parametrize("scale", [0.5, 40.0, 1000.0, 1e6])
def test_mean_is_zero_and_spread_matches(sampler: Sampler, scale: float) -> None:
    """Mean within 6 standard errors of 0 (false-failure rate ~2e-9 per case)."""
    n = 200_000
    out = sampler(scale, n, seeded_source(3)).astype(np.float64)
    std = out.std()
    assert abs(out.mean()) < 6 * std / np.sqrt(n)
    # both laws have standard deviation within 20% of a simple function of the scale
    expected = scale if sampler is discrete_gaussian else scale * np.sqrt(2.0)
    if scale >= 3:
        assert abs(std / expected - 1) < 0.02


def test_small_sigma_is_mostly_zero() -> None:
    out = discrete_gaussian(0.01, 1000, seeded_source(0))
    assert not out.any()


def test_batches_are_stitched_in_order(monkeypatch: pytest.MonkeyPatch) -> None:
    """Batches of any size fill the output completely, in order, with valid draws."""
    whole = sample_gaussian(5.0, 1000, seeded_source(4), method="table")
    monkeypatch.setattr(gaussian_module, "BATCH", 1000)
    again = sample_gaussian(5.0, 1000, seeded_source(4), method="table")
    assert np.array_equal(whole, again)
    monkeypatch.setattr(gaussian_module, "BATCH", 7)
    split = sample_gaussian(5.0, 1000, seeded_source(4), method="table")
    assert split.shape == (1000,)
    assert abs(split.mean()) < 1.0


def test_unknown_method_is_rejected() -> None:
    with pytest.raises(ValueError, match="method"):
        sample_gaussian(1.0, 3, seeded_source(0), method="bogus")  # type: ignore[arg-type]


def test_large_sigma_uses_blocks_and_small_uses_table() -> None:
    a = discrete_gaussian(50_000.0, 10, seeded_source(5))
    b = sample_gaussian(50_000.0, 10, seeded_source(5), method="blocks")
    assert np.array_equal(a, b)
    c = discrete_gaussian(50.0, 10, seeded_source(5))
    d = sample_gaussian(50.0, 10, seeded_source(5), method="table")
    assert np.array_equal(c, d)
