"""The discrete Gaussian N_Z(0, sigma**2): P(x) proportional to exp(-x**2 / (2 sigma**2)).

With sensitivity 1 it satisfies rho = 1 / (2 sigma**2) zero-concentrated DP (Canonne, Kamath
and Steinke, 2020). Two exact-table methods, chosen by size:

* **Direct table** (``sigma`` up to about 12 000): ``|X|`` is drawn from an alias table over
  ``0 .. K`` with weights ``p(0)`` and ``2 p(k)``, then a fair sign is applied. One word per
  sample (plus ``1/64`` word for the sign).
* **Blocks with exact rejection** (larger ``sigma``): ``|X| = b m + r`` with block ``b`` drawn
  from an alias table of weights ``p(b m)`` and ``r`` uniform on ``[0, m)`` (``m`` a power of
  two near ``sigma / 8``); the proposal is accepted with probability
  ``p(b m + r) / p(b m) = exp(-N / (2 sigma**2))``, ``N = r (r + 2 b m)``. Writing ``N`` in
  base ``2**s`` as digits ``N_i``, that probability is the product of
  ``exp(-N_i 2**(s i) / (2 sigma**2))``, each read from a 128-bit table, so acceptance is a
  conjunction of independent 128-bit Bernoulli trials. A fair sign is applied and
  ``(0, negative)`` is rejected, which halves the weight of zero as required. About 1.05
  proposals per sample; the accepted values are independent of how many rounds it took.

See :mod:`dpcore.noise` for the statistical-distance bound of both methods.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from typing import Final, Literal

import numpy as np
import numpy.typing as npt

from dpcore.noise.alias import AliasTable, masses_from_weights
from dpcore.noise.bits import bernoulli_exp, exp_thresholds, random_signs
from dpcore.noise.fixed_point import exp_neg, gaussian_weights
from dpcore.noise.source import RandomSource
from dpcore.noise.symmetric import magnitude_table, sample_symmetric
from dpcore.noise.tails import gaussian_cutoff
from dpcore.noise.validation import check_scale, check_size

#: Largest direct table (entries for ``|X|``); beyond it the block method is used.
DIRECT_TABLE_MAX: Final = 1 << 17
#: Samples produced per vectorized batch, bounding temporary memory to tens of MB.
BATCH: Final = 1 << 20
_MAX_DIGIT_BITS: Final = 16

Method = Literal["auto", "table", "blocks"]


def discrete_gaussian(sigma: float, size: int, source: RandomSource) -> npt.NDArray[np.int64]:
    """``size`` independent draws of N_Z(0, sigma**2) as int64, randomness from ``source``.

    Exact up to a total variation distance below ``2**-78`` per sample (see the package
    docstring). ``sigma`` must be finite, positive and at most ``2**26``.
    """
    return sample_gaussian(sigma, size, source, method="auto")


def sample_gaussian(
    sigma: float, size: int, source: RandomSource, method: Method = "auto"
) -> npt.NDArray[np.int64]:
    """:func:`discrete_gaussian` with the method selectable (tests exercise both)."""
    sigma = check_scale("sigma", sigma)
    size = check_size(size)
    cutoff = gaussian_cutoff(sigma)
    if method == "auto":
        method = "table" if cutoff < DIRECT_TABLE_MAX else "blocks"
    out = np.empty(size, dtype=np.int64)
    for start in range(0, size, BATCH):
        stop = min(size, start + BATCH)
        if method == "table":
            out[start:stop] = sample_symmetric(_direct_table(sigma), stop - start, source)
        elif method == "blocks":
            out[start:stop] = _sample_blocks(_block_plan(sigma), stop - start, source)
        else:
            raise ValueError(f"unknown method {method!r}; use 'auto', 'table' or 'blocks'")
    return out


def _inv_two_var(sigma: float) -> Fraction:
    """``1 / (2 sigma**2)`` exactly (a float is a dyadic rational)."""
    return 1 / (2 * Fraction(sigma) ** 2)


@lru_cache(maxsize=16)
def _direct_table(sigma: float) -> AliasTable:
    """Alias table of ``|X|`` over ``0 .. K``: weights ``p(0), 2 p(1), ..., 2 p(K)``."""
    return magnitude_table(gaussian_weights(_inv_two_var(sigma), gaussian_cutoff(sigma) + 1))


@dataclass(frozen=True)
class _BlockPlan:
    """Tables for the block method at one ``sigma``."""

    block_bits: int
    blocks: AliasTable
    digit_bits: int
    accept_hi: tuple[npt.NDArray[np.uint64], ...]
    accept_lo: tuple[npt.NDArray[np.uint64], ...]


@lru_cache(maxsize=16)
def _block_plan(sigma: float) -> _BlockPlan:
    """Block alias table plus one 128-bit ``exp`` table per base-``2**s`` digit of ``N``."""
    inv_two_var = _inv_two_var(sigma)
    block_bits = max(0, math.floor(math.log2(sigma / 8.0)))  # m <= sigma / 8
    width = 1 << block_bits
    count = (gaussian_cutoff(sigma) + width) // width  # blocks cover 0 .. K at least
    block_weights = [exp_neg(inv_two_var * (b * width) ** 2) for b in range(count)]
    largest = (width - 1) * (width - 1 + 2 * (count - 1) * width)
    digits = max(1, math.ceil(largest.bit_length() / _MAX_DIGIT_BITS))
    digit_bits = max(1, math.ceil(largest.bit_length() / digits))
    tables = [
        exp_thresholds(inv_two_var * (1 << (digit_bits * i)), 1 << digit_bits)
        for i in range(digits)
    ]
    return _BlockPlan(
        block_bits=block_bits,
        blocks=AliasTable.from_masses(masses_from_weights(block_weights)),
        digit_bits=digit_bits,
        accept_hi=tuple(hi for hi, _ in tables),
        accept_lo=tuple(lo for _, lo in tables),
    )


def _sample_blocks(plan: _BlockPlan, n: int, source: RandomSource) -> npt.NDArray[np.int64]:
    """Rejection rounds until every position holds an accepted signed value."""
    out = np.empty(n, dtype=np.int64)
    pending = np.arange(n)
    digit_mask = np.int64((1 << plan.digit_bits) - 1)
    while pending.size:
        k = pending.size
        block = plan.blocks.sample(k, source) << plan.block_bits
        if plan.block_bits:
            offset = (source.words(k) >> np.uint64(64 - plan.block_bits)).astype(np.int64)
        else:
            offset = np.zeros(k, dtype=np.int64)
        magnitude = block + offset
        excess = offset * (offset + 2 * block)  # x**2 - (b m)**2, below 2**54
        alive = np.arange(k)
        for i, (hi, lo) in enumerate(zip(plan.accept_hi, plan.accept_lo, strict=True)):
            digit = (excess[alive] >> np.int64(plan.digit_bits * i)) & digit_mask
            alive = alive[bernoulli_exp(digit.astype(np.intp), hi, lo, source)]
        negative = random_signs(alive.size, source)
        keep = ~(negative & (magnitude[alive] == 0))
        chosen = alive[keep]
        signed = magnitude[chosen]
        out[pending[chosen]] = np.where(negative[keep], -signed, signed)
        done = np.zeros(k, dtype=np.bool_)
        done[chosen] = True
        pending = pending[~done]
    return out
