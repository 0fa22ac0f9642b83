"""Small exact building blocks on uniform words: fair signs and 128-bit comparisons.

A "128-bit threshold" is an integer ``t`` in ``[0, 2**128)`` stored as two uint64 arrays
(``hi = t >> 64``, ``lo = t mod 2**64``). Comparing a uniform 128-bit ``U`` with it gives
``P(U < t) = t / 2**128`` exactly; the low word of ``U`` is only needed where the high words
tie, and only those positions consume one.

Timing: every comparison batch draws :data:`SPARE_WORDS` low words up front whether or not a
tie occurs and always runs the tie fix-up, so the work done is the same unless a batch has
more than ``SPARE_WORDS`` ties (probability below ``2**-140`` per batch for the table sizes
and batch sizes used here; see :mod:`dpcore.noise`).
"""

from __future__ import annotations

from fractions import Fraction
from typing import Final

import numpy as np
import numpy.typing as npt

from dpcore.noise.fixed_point import FRAC_BITS, geometric_weights
from dpcore.noise.source import RandomSource

#: Low words drawn unconditionally per comparison batch to serve the (rare) ties.
SPARE_WORDS: Final = 4
_MASK64: Final = (1 << 64) - 1


def random_signs(n: int, source: RandomSource) -> npt.NDArray[np.bool_]:
    """``n`` fair coin flips (True means negative), 64 per word."""
    words = source.words((n + 63) // 64)
    return np.unpackbits(words.view(np.uint8), count=n).astype(np.bool_)


def split_thresholds(
    thresholds: list[int],
) -> tuple[npt.NDArray[np.uint64], npt.NDArray[np.uint64]]:
    """128-bit integers as (high words, low words)."""
    hi = np.array([t >> 64 for t in thresholds], dtype=np.uint64)
    lo = np.array([t & _MASK64 for t in thresholds], dtype=np.uint64)
    return hi, lo


def below_threshold(
    high: npt.NDArray[np.uint64],
    rows: npt.NDArray[np.intp],
    table_hi: npt.NDArray[np.uint64],
    table_lo: npt.NDArray[np.uint64],
    source: RandomSource,
) -> npt.NDArray[np.bool_]:
    """``high * 2**64 + L < table[rows]`` elementwise, with ``L`` fresh uniform low words.

    ``high`` holds the (already drawn, uniform) high parts; a low word is consumed only for
    positions whose high part equals the threshold's.
    """
    threshold_hi = table_hi[rows]
    result = high < threshold_hi
    tied = np.flatnonzero(high == threshold_hi)
    low = source.words(SPARE_WORDS)
    if tied.size > SPARE_WORDS:
        low = np.concatenate([low, source.words(tied.size - SPARE_WORDS)])
    result[tied] = low[: tied.size] < table_lo[rows[tied]]
    return result


def bernoulli_exp(
    rows: npt.NDArray[np.intp],
    table_hi: npt.NDArray[np.uint64],
    table_lo: npt.NDArray[np.uint64],
    source: RandomSource,
) -> npt.NDArray[np.bool_]:
    """One independent trial per row: True with probability exactly ``table[row] / 2**128``."""
    return below_threshold(source.words(rows.size), rows, table_hi, table_lo, source)


def exp_thresholds(
    rate: Fraction, count: int
) -> tuple[npt.NDArray[np.uint64], npt.NDArray[np.uint64]]:
    """128-bit thresholds for ``exp(-rate * v)``, ``v = 0 .. count - 1``.

    Each is the fixed-point weight (within ``3 (v + 1)`` units of ``2**-256``) truncated to
    128 bits and capped at ``2**128 - 1``: within ``2**-127`` of ``exp(-rate * v)``.
    """
    shift = FRAC_BITS - 128
    cap = (1 << 128) - 1
    return split_thresholds([min(cap, w >> shift) for w in geometric_weights(rate, count)])
