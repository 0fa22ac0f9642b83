"""From noisy counts to probability distributions, and the distance between two of them.

Noisy counts can be negative and need not sum to the true total, so every consumer turns them
into a distribution first. Two post-processing rules exist, for two purposes, and each is
written once here:

* :func:`clipped_distribution`: negatives clipped to 0, then normalised. What the report
  plots and the utility gate compares against: the measured shape, no smoothing.
* :func:`project_to_simplex` / :func:`counts_to_distribution`: the Euclidean (L2-closest)
  projection onto the probability simplex (Duchi et al. 2008), which keeps large cells and
  zeroes cells drowned in noise. What the models start from or consist of.

:func:`total_variation` and :func:`half_abs_diff` measure how far two distributions of the
same shape are apart (half the L1 distance, 0 identical, 1 disjoint).
Pure numpy post-processing: nothing here touches the privacy budget.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]


def clipped_distribution(counts: npt.ArrayLike) -> FloatArray:
    """Counts as a distribution of the same shape: negatives clipped to 0, then normalised.

    If nothing positive is left the noisy counts say nothing, and the uniform distribution is
    returned.
    """
    clipped = np.clip(np.asarray(counts, dtype=np.float64), 0.0, None)
    total = float(clipped.sum())
    if total <= 0.0:
        return np.full(clipped.shape, 1.0 / max(1, clipped.size))
    return np.asarray(clipped / total, dtype=np.float64)


def project_to_simplex(values: npt.ArrayLike) -> FloatArray:
    """The Euclidean projection of ``values`` onto the probability simplex, same shape.

    The sort-based algorithm of Duchi et al. (2008): the result is ``max(values - shift, 0)``
    for the one ``shift`` that makes it sum to 1.
    """
    x = np.asarray(values, dtype=np.float64)
    ordered = np.sort(x.ravel())[::-1]
    cumulative = np.cumsum(ordered) - 1.0
    index = np.arange(1, ordered.size + 1)
    count = int(index[ordered - cumulative / index > 0][-1])
    shift = cumulative[count - 1] / count
    return np.asarray(np.maximum(x - shift, 0.0), dtype=np.float64)


def counts_to_distribution(counts: npt.ArrayLike) -> FloatArray:
    """Noisy counts as the distribution L2-closest to ``counts`` rescaled by their positive
    mass (flattened); uniform when no count is positive.

    Rescaling by the positive mass rather than by an estimated total keeps the result
    independent of how much noise the negative cells carry.
    """
    x = np.asarray(counts, dtype=np.float64).reshape(-1)
    scale = float(np.clip(x, 0.0, None).sum())
    if scale <= 0.0:
        return np.full(x.size, 1.0 / x.size)
    p = project_to_simplex(x / scale)
    return np.asarray(p / p.sum(), dtype=np.float64)


def half_abs_diff(p: npt.ArrayLike, q: npt.ArrayLike) -> FloatArray:
    """Per-cell ``|p - q| / 2``; its sum is the total variation distance."""
    return 0.5 * np.abs(np.asarray(p, dtype=np.float64) - np.asarray(q, dtype=np.float64))


def total_variation(p: npt.ArrayLike, q: npt.ArrayLike) -> float:
    """Total variation distance between two distributions of the same shape."""
    return float(half_abs_diff(p, q).sum())
