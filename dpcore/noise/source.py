"""Where noise randomness comes from: the OS CSPRNG in production, a seeded PRNG in tests.

Every sampler in :mod:`dpcore.noise` consumes randomness only through
:meth:`RandomSource.words`, as uniform 64-bit words. The ``private`` flag travels with the
source so that output drawn from a reproducible (hence guessable) generator can be refused
downstream: only :func:`secure_source` is private.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod

import numpy as np
import numpy.typing as npt


class RandomSource(ABC):
    """A supply of independent, uniformly distributed 64-bit words.

    ``private`` is True only for the operating system's cryptographically secure generator;
    anything reproducible must say False so its output is never published.
    """

    private: bool

    @abstractmethod
    def words(self, n: int) -> npt.NDArray[np.uint64]:
        """Return ``n`` independent uniform 64-bit words as a new array (possibly read-only)."""


class SystemRandomSource(RandomSource):
    """The OS CSPRNG (``getrandom``/``/dev/urandom`` via :func:`os.urandom`), read in bulk."""

    private = True

    def words(self, n: int) -> npt.NDArray[np.uint64]:
        """``n`` words of OS randomness, wrapping the bytes without a copy (read-only)."""
        count = _check_count(n)
        return np.frombuffer(os.urandom(8 * count), dtype=np.uint64)

    def __repr__(self) -> str:
        return "SystemRandomSource()"


class SeededRandomSource(RandomSource):
    """A reproducible PCG64DXSM stream for tests and benchmarks; never private."""

    private = False

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self._bits = np.random.PCG64DXSM(np.random.SeedSequence(seed))

    def words(self, n: int) -> npt.NDArray[np.uint64]:
        """The next ``n`` raw 64-bit outputs of the seeded generator."""
        count = _check_count(n)
        raw = self._bits.random_raw(count)
        return np.asarray(raw, dtype=np.uint64).reshape(count)

    def __repr__(self) -> str:
        return f"SeededRandomSource(seed={self.seed})"


def secure_source() -> RandomSource:
    """The production randomness source: the OS CSPRNG, ``private = True``."""
    return SystemRandomSource()


def seeded_source(seed: int) -> RandomSource:
    """A reproducible source for tests (``private = False``); ``seed`` is a non-negative int."""
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    return SeededRandomSource(int(seed))


def _check_count(n: int) -> int:
    """``n`` as a plain int, rejecting negatives and non-integers with a clear message."""
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 0:
        raise ValueError(f"number of words must be a non-negative integer, got {n!r}")
    return int(n)
