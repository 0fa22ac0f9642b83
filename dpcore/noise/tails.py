"""How far out the samplers' tables must reach so the neglected tail mass is below 2**-80.

Both bounds are evaluated in float64 against ``-TAIL_BITS * ln 2 - 1``: the extra nat of
slack absorbs the float rounding (relative error ~1e-15) in evaluating the bound itself.
"""

from __future__ import annotations

import math
from typing import Final

#: Mass left outside the tables, as a power of two: at most ``2**-TAIL_BITS``.
TAIL_BITS: Final = 80
_LOG_TARGET: Final = -TAIL_BITS * math.log(2.0) - 1.0


def gaussian_cutoff(sigma: float) -> int:
    """Smallest tried ``K`` with ``P(|X| > K) <= 2**-80`` for the discrete Gaussian.

    With ``f(x) = exp(-x**2 / (2 sigma**2))`` decreasing on ``x >= 0``,
    ``sum_{x > K} f(x) <= integral_K^inf f <= (sigma**2 / K) f(K)`` (Mills' ratio), and the
    normalizer satisfies ``Z = sum_x f(x) >= max(1, sigma * sqrt(2 pi) - 1)``. So
    ``P(|X| > K) <= 2 (sigma**2 / K) f(K) / max(1, sigma sqrt(2 pi) - 1)``.
    """
    log_z = math.log(max(1.0, sigma * math.sqrt(2.0 * math.pi) - 1.0))
    cutoff = max(1, math.ceil(sigma * math.sqrt(-2.0 * _LOG_TARGET)))
    while True:
        log_tail = math.log(2.0 * sigma * sigma / cutoff) - cutoff**2 / (2.0 * sigma**2) - log_z
        if log_tail <= _LOG_TARGET:
            return cutoff
        cutoff += max(1, cutoff // 256)


def geometric_cutoff(rate: float) -> int:
    """Smallest ``n`` with ``exp(-rate * n) <= 2**-80``: a geometric variable with ratio
    ``exp(-rate)`` exceeds ``n - 1`` with exactly that probability."""
    return max(1, math.ceil(-_LOG_TARGET / rate))
