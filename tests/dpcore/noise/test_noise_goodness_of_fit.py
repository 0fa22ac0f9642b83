"""Chi-square goodness of fit of both samplers against their exact laws, with power checks.

Each test draws 10**6 samples from a seeded source, groups the integers into about 200 bins
of roughly equal exact probability (tails pooled so every expected count is >= 5) and rejects
when Pearson's statistic exceeds the chi-square quantile at 1 - 1e-6. So a correct sampler
fails a given test with probability at most about 1e-6 (the chi-square approximation is
excellent with expected counts in the thousands). The same test, run on a mutant whose scale
is off by 5%, must reject: that shows the test has power against small scale errors.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt
import pytest
from scipy import stats  # type: ignore[import-untyped]

from dpcore.noise import discrete_gaussian, discrete_laplace, seeded_source
from dpcore.noise.gaussian import sample_gaussian

DRAWS = 1_000_000
FALSE_FAILURE = 1e-6
TARGET_BINS = 200

Draw = Callable[[float, int], npt.NDArray[np.int64]]


def gaussian_cdf(sigma: float) -> Callable[[npt.NDArray[np.int64]], npt.NDArray[np.float64]]:
    """``k -> P(X <= k)`` for N_Z(0, sigma**2).

    Exact (float64 sums of the pmf over +-14 sigma) when sigma <= 10**4. Above that, the
    midpoint rule ``Phi((k + 1/2) / sigma)``: its error per bin is O(1 / sigma**2) relative,
    invisible with 10**6 draws.
    """
    if sigma > 1e4:
        return lambda k: np.asarray(stats.norm.cdf((k + 0.5) / sigma), dtype=np.float64)
    half = int(np.ceil(14 * sigma)) + 2
    support = np.arange(-half, half + 1)
    pmf = np.exp(-(support.astype(np.float64) ** 2) / (2 * sigma**2))
    cdf = np.cumsum(pmf / pmf.sum())

    def at(k: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
        idx = np.clip(k + half, -1, 2 * half)
        return np.where(idx < 0, 0.0, cdf[np.maximum(idx, 0)])

    return at


def laplace_cdf(scale: float) -> Callable[[npt.NDArray[np.int64]], npt.NDArray[np.float64]]:
    """``k -> P(X <= k)`` in closed form: ``q**(-k) / (1 + q)`` for k < 0, else
    ``1 - q**(k + 1) / (1 + q)``, with ``q = exp(-1 / scale)``."""
    q = np.exp(-1.0 / scale)

    def at(k: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
        kf = k.astype(np.float64)
        negative = q ** np.maximum(-kf, 0.0) / (1 + q)
        positive = 1 - q ** np.maximum(kf + 1, 0.0) / (1 + q)
        return np.asarray(np.where(kf < 0, negative, positive), dtype=np.float64)

    return at


def make_bins(
    cdf: Callable[[npt.NDArray[np.int64]], npt.NDArray[np.float64]], spread: float
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """Upper bin edges (bin i is ``(edge[i-1], edge[i]]``) and exact bin probabilities.

    Edges are integers near equal-probability quantiles; the two tail bins are open. Bins
    whose expected count is below 5 are merged into a neighbour.
    """
    reach = int(40 * spread) + 2
    grid = np.unique(np.linspace(-reach, reach, min(2 * reach + 1, 400_001)).round()).astype(
        np.int64
    )
    values = cdf(grid)
    wanted = np.linspace(0, 1, TARGET_BINS + 1)[1:-1]
    edges = np.unique(grid[np.clip(np.searchsorted(values, wanted), 0, grid.size - 1)])
    probs = np.diff(np.concatenate([[0.0], cdf(edges), [1.0]]))
    edges = np.append(edges, np.iinfo(np.int64).max)
    while probs.size > 1 and probs.min() * DRAWS < 5:
        i = int(np.argmin(probs))
        j = i - 1 if i == probs.size - 1 or (i > 0 and probs[i - 1] < probs[i + 1]) else i + 1
        lo, hi = min(i, j), max(i, j)
        probs[lo] += probs[hi]
        probs = np.delete(probs, hi)
        edges = np.delete(edges, lo)
    return edges, probs


def chi_square_rejects(
    draws: npt.NDArray[np.int64],
    cdf: Callable[[npt.NDArray[np.int64]], npt.NDArray[np.float64]],
    spread: float,
) -> tuple[bool, float, float]:
    """Pearson's test of ``draws`` against ``cdf``: (rejected, statistic, critical value)."""
    edges, probs = make_bins(cdf, spread)
    observed = np.bincount(np.searchsorted(edges, draws, side="left"), minlength=probs.size)
    expected = probs * draws.size
    statistic = float(((observed - expected) ** 2 / expected).sum())
    critical = float(stats.chi2.isf(FALSE_FAILURE, probs.size - 1))
    return statistic > critical, statistic, critical


def check_fit_and_power(draw: Draw, cdf_for: Callable[[float], object], scale: float) -> None:
    """The sampler passes at ``scale``; the same sampler at ``1.05 * scale`` is rejected."""
    cdf = cdf_for(scale)
    spread = max(scale, 1.0)
    rejected, statistic, critical = chi_square_rejects(draw(scale, DRAWS), cdf, spread)  # type: ignore[arg-type]
    assert not rejected, f"correct sampler rejected: {statistic:.1f} > {critical:.1f}"
    mutant, statistic, critical = chi_square_rejects(draw(1.05 * scale, DRAWS), cdf, spread)  # type: ignore[arg-type]
    assert mutant, f"5% scale mutant accepted: {statistic:.1f} <= {critical:.1f}"


@pytest.mark.parametrize("sigma", [0.5, 3.0, 40.0, 1000.0, 10_000.0])
def test_discrete_gaussian_fits(sigma: float) -> None:
    """Default method (direct table for these sigmas); false-failure rate <= 1e-6."""
    source = seeded_source(101)
    check_fit_and_power(lambda s, n: discrete_gaussian(s, n, source), gaussian_cdf, sigma)


@pytest.mark.parametrize("sigma", [0.5, 3.0, 40.0, 1000.0, 1e6])
def test_discrete_gaussian_block_method_fits(sigma: float) -> None:
    """Block rejection method, forced even at small sigma; false-failure rate <= 1e-6."""
    source = seeded_source(202)
    check_fit_and_power(
        lambda s, n: sample_gaussian(s, n, source, method="blocks"), gaussian_cdf, sigma
    )


@pytest.mark.parametrize("scale", [0.5, 3.0, 40.0, 1000.0, 3000.0, 1e6])
def test_discrete_laplace_fits(scale: float) -> None:
    """Single-table (small scales) and split-geometric (large) paths; false failure <= 1e-6."""
    source = seeded_source(303)
    check_fit_and_power(lambda s, n: discrete_laplace(s, n, source), laplace_cdf, scale)
