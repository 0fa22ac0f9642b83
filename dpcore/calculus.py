"""How a privacy definition prices noise and selection: zCDP (rho) or pure epsilon-DP.

A synthesizer spends a budget in one currency and never needs to know which: it asks its
:class:`Calculus` what a measurement of a given noise scale costs, which scale a cost buys,
what a selection costs, and draws the noise. Both currencies compose by addition, so a
synthesizer that splits its budget into parts and adds up what it spent is correct in both.

* **zCDP** (``ZCDP``, budget ``rho``): discrete Gaussian noise of scale ``sigma`` on counts of
  L2 sensitivity ``D`` costs ``D**2 / (2 sigma**2)`` (Canonne, Kamath & Steinke 2020); an
  exponential mechanism at ``epsilon`` with scores of sensitivity ``D`` costs ``epsilon**2 / 8``
  when calibrated to ``D`` (bounded range, Cesar & Rogers 2021).
* **Pure epsilon-DP** (``PURE``, budget ``epsilon``): discrete Laplace noise of scale ``t`` on
  counts of L1 sensitivity ``D`` costs ``D / t`` (the geometric mechanism, Ghosh, Roughgarden &
  Sundararajan 2009); an exponential mechanism at ``epsilon`` calibrated to its scores'
  sensitivity costs ``epsilon`` (McSherry & Talwar 2007).

Neighbouring relation: add or remove one row (or, with a person unit, one person's at most
``k`` rows). A histogram then changes by 1 in one cell (by at most ``k`` in L1 and L2 for a
person), so one marginal has ``D = 1`` (``D = k``) in both norms, and the person unit scales
the zCDP costs by ``k**2`` and the pure costs by ``k`` (:meth:`Calculus.unit_budget`).

"Pure" is exact up to the sampler: the discrete Laplace sampler is within total variation
``2**-78`` per draw of the exact law (:mod:`dpcore.noise`), so a release of ``n`` noisy cells
is ``(epsilon, (1 + e**epsilon) n 2**-78)``-DP: for Adult's largest AIM release (about
``10**5`` cells) at epsilon 3 that is below ``2**-56``, far below any delta a policy names.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

import numpy as np
import numpy.typing as npt

from dpcore.noise import RandomSource, discrete_gaussian, discrete_laplace


class NoiseKind(StrEnum):
    """The noise distribution a measurement was drawn with (stored with it)."""

    GAUSSIAN = "gaussian"
    LAPLACE = "laplace"


def noise_variance(kind: NoiseKind, scale: float) -> float:
    """Variance of one noisy cell: ``sigma**2`` bounds the discrete Gaussian's; the discrete
    Laplace of scale ``t`` has exactly ``2 e^(-1/t) / (1 - e^(-1/t))**2`` (below ``2 t**2``)."""
    if kind is NoiseKind.GAUSSIAN:
        return float(scale) ** 2
    q = math.exp(-1.0 / float(scale))
    return 2.0 * q / (1.0 - q) ** 2


@dataclass(frozen=True)
class Calculus:
    """The prices of one privacy definition; see the module docstring."""

    name: Literal["zcdp", "pure"]
    noise: NoiseKind

    @property
    def currency(self) -> str:
        """What budgets are counted in: ``rho`` or ``epsilon``."""
        return "rho" if self.name == "zcdp" else "epsilon"

    def measurement_cost(self, scale: float, sensitivity: float = 1.0) -> float:
        """Cost of one noisy marginal of ``sensitivity`` at noise ``scale``."""
        if self.name == "zcdp":
            return float(sensitivity) ** 2 / (2.0 * float(scale) ** 2)
        return float(sensitivity) / float(scale)

    def scale_for(self, cost: float, sensitivity: float = 1.0) -> float:
        """The noise scale at which one marginal of ``sensitivity`` costs exactly ``cost``."""
        if not (math.isfinite(cost) and cost > 0):
            raise ValueError(f"a measurement's cost must be finite and > 0, got {cost!r}")
        if self.name == "zcdp":
            return float(sensitivity) / math.sqrt(2.0 * cost)
        return float(sensitivity) / cost

    def selection_cost(self, epsilon: float) -> float:
        """Cost of one exponential-mechanism selection at ``epsilon`` (calibrated scores)."""
        return float(epsilon) ** 2 / 8.0 if self.name == "zcdp" else float(epsilon)

    def selection_epsilon(self, cost: float) -> float:
        """The exponential mechanism's epsilon whose cost is exactly ``cost``."""
        if not (math.isfinite(cost) and cost >= 0):
            raise ValueError(f"a selection's cost must be finite and >= 0, got {cost!r}")
        return math.sqrt(8.0 * cost) if self.name == "zcdp" else float(cost)

    def unit_budget(self, budget: float, sensitivity: int) -> float:
        """What a sensitivity-1 synthesizer may spend so that, with every marginal's
        sensitivity ``sensitivity`` (a person's bounded rows), the total is ``budget``."""
        return budget / sensitivity**2 if self.name == "zcdp" else budget / sensitivity

    def expected_abs(self, scale: float) -> float:
        """Mean absolute noise of one cell (``sqrt(2/pi) sigma``; at most ``t`` for Laplace)."""
        if self.name == "zcdp":
            return math.sqrt(2.0 / math.pi) * float(scale)
        return float(scale)

    def draw(self, scale: float, size: int, source: RandomSource) -> npt.NDArray[np.int64]:
        """``size`` independent noise values at ``scale`` from ``source``."""
        if self.noise is NoiseKind.GAUSSIAN:
            return discrete_gaussian(float(scale), size, source)
        return discrete_laplace(float(scale), size, source)


ZCDP = Calculus("zcdp", NoiseKind.GAUSSIAN)
PURE = Calculus("pure", NoiseKind.LAPLACE)


def calculus_for(noise: NoiseKind | str) -> Calculus:
    """The calculus whose mechanisms draw ``noise`` (what a stored measurement was priced in)."""
    return PURE if NoiseKind(noise) is NoiseKind.LAPLACE else ZCDP
