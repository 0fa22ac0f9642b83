"""Exact integer noise for differential privacy: discrete Gaussian and discrete Laplace.

Public API::

    secure_source() -> RandomSource          # OS CSPRNG, private=True
    seeded_source(seed) -> RandomSource      # reproducible PCG64DXSM, private=False (tests)
    discrete_gaussian(sigma, size, source)   # N_Z(0, sigma^2), int64
    discrete_laplace(scale, size, source)    # P(x) ~ exp(-|x|/scale), int64

Method
------
Every sampler draws table indices with Walker alias tables whose probabilities are integers
over ``2**128`` (:mod:`dpcore.noise.alias`), plus Bernoulli trials against 128-bit
thresholds (:mod:`dpcore.noise.bits`); all comparisons are exact integer comparisons of
uniform words from ``source.words`` (a low word is consumed only where the high words tie,
from a fixed spare batch drawn up front: see Timing).
Table weights are computed once per scale with 256-bit fixed-point integers seeded by
correctly rounded :mod:`decimal` exponentials (:mod:`dpcore.noise.fixed_point`) and cached.
No float arithmetic touches a sampled value.

Bound (total variation distance per sample, output law versus the exact law)
------------------------------------------------------------------------------
Let ``P`` be the exact law, ``P_K`` it conditioned on the tables' range, ``W`` the law the
fixed-point weights describe and ``M`` the realized law. Randomness words are assumed ideal.

1. Truncation: ``TV(P, P_K) = P(outside) <= tau = 2**-80`` (:mod:`dpcore.noise.tails`).
2. Fixed point: weight ``k`` is within ``6 (k + 1)**2`` units of ``2**-256`` of its exact
   value and the normalizer is ``>= 1`` (the weight of zero), so with fewer than ``2**24``
   entries ``TV(P_K, W) <= 2**-170``.
3. Rounding to masses over ``2**128``: ``TV(W, M) <= len(table) * 2**-128 <= 2**-100``.
   Bernoulli thresholds are within ``2**-126`` of their fixed-point values, so a product of
   at most four trials is within ``2**-124`` of the intended acceptance probability.
4. Rejection (Gaussian blocks, zero-sign rule of the split Laplace) divides any error in the
   joint proposal-acceptance law by the acceptance probability, which is at least ``1/8``
   (each block acceptance is ``>= exp(-1.4)`` with ``m <= sigma / 8`` and ``|x| <= 11
   sigma``; the sign rule accepts ``>= 1/2``): ``TV <= 8 * (2**-100 + 2**-124)``, and the
   truncated tail is at most doubled.

Hence, per sample, ``TV(output, P) <= 2 tau + 2**-96 < 2**-78`` for both samplers, and
``n`` independent samples are within ``n * 2**-78`` of exact. An (epsilon, delta) guarantee
of the exact law therefore holds for the released values with ``delta`` increased by at most
``(1 + e**epsilon) n 2**-78``. :func:`secure_source` reads the OS CSPRNG (``getrandom``);
:func:`seeded_source` is a PCG64DXSM stream, statistically good but predictable, hence
``private = False``.

Timing
------
Noise is drawn independently of the data, so run time can only reveal the noise, never the
data directly; the samplers also avoid value-dependent work. Alias draws do the same work
for every value: the low words that resolve 128-bit ties are drawn up front
(:data:`dpcore.noise.bits.SPARE_WORDS` per batch) and the tie fix-up always runs, so work
differs only if a batch has more than that many ties (probability below ``2**-140`` per
batch of at most ``2**20`` draws).
Rejection loops (Gaussian blocks, split Laplace) take a random number of rounds, but in
rejection sampling the number of rounds is independent of the values finally accepted.
Table construction time depends only on the scale, which is public. Python and numpy are
not constant-time at the instruction level; the guarantee is about work, not cycles.

Cost
----
Tables are built once per scale and cached (16 per sampler): a few milliseconds for scales
up to 100, at most about 0.25 s for the largest direct tables (2**17 entries: Gaussian
sigma near 12 000, Laplace scale near 2 300); the Gaussian block method and the split
Laplace build in tens of milliseconds at any scale. Sampling runs at 7-24 million samples
per second from the OS CSPRNG on two cores (``bench/noise.py``, the figure the README and the
changelog quote), about half of it spent reading randomness.
"""

from dpcore.noise.gaussian import discrete_gaussian
from dpcore.noise.laplace import discrete_laplace
from dpcore.noise.source import RandomSource, secure_source, seeded_source

__all__ = [
    "RandomSource",
    "discrete_gaussian",
    "discrete_laplace",
    "secure_source",
    "seeded_source",
]
