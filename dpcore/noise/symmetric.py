"""Symmetric integer laws from a table of magnitudes plus a fair sign.

If ``|X|`` has ``P(|X| = 0) = P(0)`` and ``P(|X| = k) = 2 P(k)`` for ``k > 0``, attaching an
independent fair sign gives ``P(X = +-k) = P(k)`` exactly, with zero unaffected by its sign.
One alias draw and one sign bit per sample, no rejection.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from dpcore.noise.alias import AliasTable, masses_from_weights
from dpcore.noise.bits import random_signs
from dpcore.noise.source import RandomSource


def magnitude_table(weights: Sequence[int]) -> AliasTable:
    """Alias table of ``|X|`` from the one-sided weights ``w(0), w(1), ...`` of ``X``."""
    doubled = [weights[0], *(2 * w for w in weights[1:])]
    return AliasTable.from_masses(masses_from_weights(doubled))


def sample_symmetric(table: AliasTable, n: int, source: RandomSource) -> npt.NDArray[np.int64]:
    """``n`` draws of ``X``: magnitudes from ``table`` with independent fair signs."""
    magnitude = table.sample(n, source)
    negative = random_signs(n, source)
    return np.where(negative, -magnitude, magnitude)
