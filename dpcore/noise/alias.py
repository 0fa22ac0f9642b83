"""Exact Walker alias tables over integer masses, sampled with 128-bit comparisons.

A table describes a distribution over ``0 .. len(masses) - 1`` whose probabilities are
``masses[i] / 2**128`` *exactly*: the masses are integers summing to ``2**128`` and the
table is built with integer arithmetic only (no rounding at all during construction).

Sampling one value uses one 64-bit word ``w``: its top ``m`` bits pick one of ``2**m``
equally likely columns, and the remaining ``64 - m`` bits are the high part of a uniform
integer ``V`` in ``[0, 2**(128 - m))`` compared with the column's threshold. Only when the
high parts tie (probability at most ``2**-(64 - m)`` per draw) is a second word used for
the low 64 bits of ``V``, taken from spare words drawn up front
(:func:`dpcore.noise.bits.below_threshold`), so the comparison is
always the exact 128-bit one, and the drawn value's probability is exactly
``masses[i] / 2**128``.

Work per draw does not depend on the value drawn (see :mod:`dpcore.noise.bits` on ties).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from dpcore.noise.bits import below_threshold, split_thresholds
from dpcore.noise.source import RandomSource

#: Masses are expressed in units of ``2**-TOTAL_BITS``.
TOTAL_BITS: Final = 128


def masses_from_weights(weights: Sequence[int]) -> list[int]:
    """Integer masses summing to ``2**128``, proportional to ``weights`` up to rounding.

    Each mass is ``floor(w * 2**128 / W)``; the leftover (fewer units than there are
    entries) goes to the heaviest entry. So every mass is within ``len(weights)`` units of
    ``2**128 * w / W``, and the L1 distance to the normalized weights is below
    ``2 * len(weights) * 2**-128``.
    """
    total = sum(weights)
    if total <= 0 or min(weights) < 0:
        raise ValueError("weights must be non-negative with a positive sum")
    masses = [(w << TOTAL_BITS) // total for w in weights]
    heaviest = max(range(len(weights)), key=weights.__getitem__)
    masses[heaviest] += (1 << TOTAL_BITS) - sum(masses)
    return masses


@dataclass(frozen=True)
class AliasTable:
    """Column thresholds (split into 64-bit halves) and aliases for ``2**column_bits`` columns."""

    column_bits: int
    threshold_hi: npt.NDArray[np.uint64]
    threshold_lo: npt.NDArray[np.uint64]
    alias: npt.NDArray[np.int64]
    size: int

    @classmethod
    def from_masses(cls, masses: Sequence[int]) -> AliasTable:
        """Build the table by Walker's method in exact integer arithmetic.

        Column ``j`` holds capacity ``C = 2**(128 - m)``; it keeps value ``j`` when
        ``V < threshold[j]`` and gives ``alias[j]`` otherwise. Because the masses sum to
        exactly ``2**m * C``, every leftover column ends exactly full and each value's total
        over all columns equals its mass.
        """
        size = len(masses)
        if size == 0 or sum(masses) != 1 << TOTAL_BITS or min(masses) < 0:
            raise ValueError("masses must be non-negative integers summing to 2**128")
        column_bits = max(1, (size - 1).bit_length())
        columns = 1 << column_bits
        capacity = 1 << (TOTAL_BITS - column_bits)
        remaining = list(masses) + [0] * (columns - size)
        threshold = [capacity] * columns
        alias = list(range(columns))
        small = [j for j in range(columns) if remaining[j] < capacity]
        large = [j for j in range(columns) if remaining[j] >= capacity]
        while small and large:
            lo, hi = small.pop(), large.pop()
            threshold[lo] = remaining[lo]
            alias[lo] = hi
            remaining[hi] -= capacity - remaining[lo]
            (small if remaining[hi] < capacity else large).append(hi)
        if small:  # impossible with exact sums; guards against a logic error
            raise AssertionError("alias construction left an under-full column")
        threshold_hi, threshold_lo = split_thresholds(threshold)
        return cls(
            column_bits=column_bits,
            threshold_hi=threshold_hi,
            threshold_lo=threshold_lo,
            alias=np.array(alias, dtype=np.int64),
            size=size,
        )

    def sample(self, n: int, source: RandomSource) -> npt.NDArray[np.int64]:
        """``n`` independent draws (indices into the masses) using ``source`` only."""
        word = source.words(n)
        column = (word >> np.uint64(64 - self.column_bits)).astype(np.intp)
        high = word & np.uint64((1 << (64 - self.column_bits)) - 1)
        keep = below_threshold(high, column, self.threshold_hi, self.threshold_lo, source)
        return np.where(keep, column, self.alias[column])
