"""Private selection: an exact exponential mechanism driven by a :class:`RandomSource`.

Mechanism. Given candidate scores ``q_i`` of sensitivity ``D`` (under add/remove-one-row
neighbours), the exponential mechanism outputs ``i`` with probability proportional to
``exp(eps * q_i / (2 D))``. It is eps-DP and eps-bounded-range, hence ``eps^2 / 8``-zCDP
(Cesar & Rogers 2021, "Bounding, concentrating, and truncating: unifying privacy loss
composition for data analytics"); :func:`em_rho` and :func:`em_epsilon` convert.

Exactness. Scores are floats, so they are first quantised to integers ``m_i = floor(q_i / g)``
on the fixed grid ``g = D * 2**-20``; quantisation can move a difference by at most one
grid step, so the quantised score ``m_i * g`` has sensitivity ``D' = D + g`` and the mechanism
is run with ``D'`` (a relative cost of 1e-6 in epsilon, which only helps privacy). The
target distribution ``P(i) ∝ exp(-gamma_i)`` with rational
``gamma_i = eps * g * (max_j m_j - m_i) / (2 D')`` (``eps`` is a float, hence an exact
dyadic rational) is then sampled exactly by rejection: draw ``i`` uniformly, accept with
probability ``exp(-gamma_i)`` using the exact Bernoulli(exp(-gamma)) sampler of Canonne,
Kamath & Steinke (2020), which needs only exact Bernoulli(rational) draws, themselves built
from uniform 64-bit words of the source by rejection. No floating-point probability is ever
formed, so the output distribution is exactly the exponential mechanism's. The expected
number of proposals is at most the number of candidates.

Timing (a known side channel, not closed). The number of proposals is geometric with success
probability ``mean_i exp(-gamma_i)``, and each Bernoulli(exp(-gamma)) trial loops about
``gamma`` times, so the sampler's running time depends on the scores, which depend on the
data. Threat model: only someone who can time the measure step itself learns from it, i.e.
who sees the run's task durations (the Prefect UI, the run log, the progress lines) or
precise wall-clock times around it; those are operators and stewards, who are trusted with
the warehouse anyway. Analysts get the release file, whose only clock is each version's
``created_at``: it follows the whole run, where scanning the source, fitting models and
Prefect's own start-up vary by seconds, against at most ``k`` expected proposals of a few
microseconds each per selection here. We do not claim the run is constant-time; a
deployment that must hide timing from release readers should publish at fixed times (or
round ``created_at``) rather than as soon as a run ends.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from fractions import Fraction

from dpcore.noise import RandomSource

QUANTUM_BITS = 20


def em_rho(epsilon: float) -> float:
    """zCDP cost of one exponential-mechanism selection with parameter ``epsilon``."""
    return float(epsilon) ** 2 / 8.0


def em_epsilon(rho: float) -> float:
    """The exponential-mechanism epsilon whose zCDP cost is exactly ``rho``."""
    if not math.isfinite(rho) or rho < 0:
        raise ValueError(f"rho must be a finite number >= 0, got {rho!r}")
    return math.sqrt(8.0 * rho)


class _Bits:
    """Exact uniform integers from a source's 64-bit words, fetched in blocks."""

    def __init__(self, source: RandomSource, block: int = 256) -> None:
        self._source = source
        self._block = block
        self._words: list[int] = []

    def word(self) -> int:
        if not self._words:
            self._words = [int(w) for w in self._source.words(self._block)]
        return self._words.pop()

    def below(self, bound: int) -> int:
        """Uniform integer in ``[0, bound)`` (rejection on the smallest power of two)."""
        if bound <= 0:
            raise ValueError("bound must be positive")
        if bound == 1:
            return 0
        bits = (bound - 1).bit_length()
        while True:
            value = 0
            have = 0
            while have < bits:
                value = (value << 64) | self.word()
                have += 64
            value >>= have - bits
            if value < bound:
                return value

    def bernoulli(self, p: Fraction) -> bool:
        """Exact Bernoulli(p) for rational ``0 <= p <= 1``."""
        if p <= 0:
            return False
        if p >= 1:
            return True
        return self.below(p.denominator) < p.numerator

    def bernoulli_exp(self, gamma: Fraction) -> bool:
        """Exact Bernoulli(exp(-gamma)) for rational ``gamma >= 0`` (Canonne et al. 2020)."""
        while gamma > 1:
            if not self.bernoulli_exp(Fraction(1)):
                return False
            gamma -= 1
        k = 1
        while self.bernoulli(gamma / k):
            k += 1
        return k % 2 == 1


def exponential_mechanism(
    scores: Sequence[float], epsilon: float, sensitivity: float, source: RandomSource
) -> int:
    """Index chosen with probability ∝ ``exp(epsilon * score / (2 sensitivity))``, exactly.

    Costs ``em_rho(epsilon)`` zCDP. Scores must be finite; higher is better.
    """
    if not scores:
        raise ValueError("the exponential mechanism needs at least one candidate")
    if not (math.isfinite(epsilon) and epsilon >= 0):
        raise ValueError(f"epsilon must be finite and >= 0, got {epsilon!r}")
    if not (math.isfinite(sensitivity) and sensitivity > 0):
        raise ValueError(f"sensitivity must be finite and > 0, got {sensitivity!r}")
    if not all(math.isfinite(s) for s in scores):
        raise ValueError("scores must be finite")
    grid = Fraction(sensitivity) / (1 << QUANTUM_BITS)
    levels = [math.floor(Fraction(s) / grid) for s in scores]
    top = max(levels)
    scale = Fraction(epsilon) * grid / (2 * (Fraction(sensitivity) + grid))
    bits = _Bits(source)
    k = len(levels)
    while True:
        i = bits.below(k)
        if bits.bernoulli_exp(scale * (top - levels[i])):
            return i
