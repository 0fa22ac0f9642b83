"""The discrete Laplace distribution: P(x) proportional to exp(-|x| / t) on the integers.

With sensitivity 1 it gives pure epsilon-DP with epsilon = 1 / t. Two exact-table methods:

* **Single table** (table span below ``2**17``, i.e. ``t`` up to about 2 300): ``|X|`` from one
  alias table with weights ``1, 2q, 2q**2, ...`` (``q = exp(-1/t)``) and a fair sign
  (:mod:`dpcore.noise.symmetric`). One word per sample, no rejection.
* **Split geometric** (larger ``t``): ``X = +-G`` with ``G`` geometric
  (``P(G = g) = (1 - q) q**g``), a fair sign, and the pair ``(G = 0, negative)`` rejected so
  zero is not counted twice. ``G`` is split exactly as ``G = m A + B`` with ``m`` a power of
  two: by memorylessness ``A = G div m`` (geometric with ratio ``q**m``) and
  ``B = G mod m`` (``P(B = b)`` proportional to ``q**b`` on ``[0, m)``) are *independent*, so
  each comes from its own alias table of about ``sqrt(56 t)`` entries. Rejection rounds
  (probability ``(1 - q) / 2`` each, tiny here) leave accepted values independent of the
  number of rounds.

Only the tables' far tails are cut (mass ``<= 2**-80``); see :mod:`dpcore.noise` for the
distance bound.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from typing import Final

import numpy as np
import numpy.typing as npt

from dpcore.noise.alias import AliasTable, masses_from_weights
from dpcore.noise.bits import random_signs
from dpcore.noise.fixed_point import geometric_weights
from dpcore.noise.source import RandomSource
from dpcore.noise.symmetric import magnitude_table, sample_symmetric
from dpcore.noise.tails import geometric_cutoff
from dpcore.noise.validation import check_scale, check_size

#: Largest single table (entries for ``|X|``); beyond it the split method is used.
SINGLE_TABLE_MAX: Final = 1 << 17
#: Samples produced per vectorized batch, bounding temporary memory to tens of MB.
BATCH: Final = 1 << 20


def discrete_laplace(scale: float, size: int, source: RandomSource) -> npt.NDArray[np.int64]:
    """``size`` independent discrete Laplace draws with scale ``t = scale`` as int64.

    Exact up to a total variation distance below ``2**-78`` per sample (see the package
    docstring). ``scale`` must be finite, positive and at most ``2**26``.
    """
    scale = check_scale("scale", scale)
    size = check_size(size)
    plan = _plan(scale)
    out = np.empty(size, dtype=np.int64)
    for start in range(0, size, BATCH):
        stop = min(size, start + BATCH)
        if isinstance(plan, AliasTable):
            out[start:stop] = sample_symmetric(plan, stop - start, source)
        else:
            out[start:stop] = _sample_split(plan, stop - start, source)
    return out


@dataclass(frozen=True)
class _SplitPlan:
    """Alias tables for the quotient ``A`` and remainder ``B`` of ``G = m A + B``."""

    block_bits: int
    quotient: AliasTable
    remainder: AliasTable


@lru_cache(maxsize=16)
def _plan(scale: float) -> AliasTable | _SplitPlan:
    """A single magnitude table if small enough, else the two split-geometric tables."""
    rate = 1 / Fraction(scale)
    span = geometric_cutoff(1.0 / scale)
    if span < SINGLE_TABLE_MAX:
        return magnitude_table(geometric_weights(rate, span))
    block_bits = math.ceil(math.log2(span) / 2)
    width = 1 << block_bits
    quotient = geometric_weights(rate * width, geometric_cutoff(width / scale))
    return _SplitPlan(
        block_bits=block_bits,
        quotient=AliasTable.from_masses(masses_from_weights(quotient)),
        remainder=AliasTable.from_masses(masses_from_weights(geometric_weights(rate, width))),
    )


def _sample_split(plan: _SplitPlan, n: int, source: RandomSource) -> npt.NDArray[np.int64]:
    """Signed geometric draws, redrawing positions that came out as ``(0, negative)``."""
    out = np.empty(n, dtype=np.int64)
    pending = np.arange(n)
    while pending.size:
        k = pending.size
        magnitude = plan.quotient.sample(k, source) << plan.block_bits
        magnitude += plan.remainder.sample(k, source)
        negative = random_signs(k, source)
        out[pending] = np.where(negative, -magnitude, magnitude)
        pending = pending[negative & (magnitude == 0)]
    return out
