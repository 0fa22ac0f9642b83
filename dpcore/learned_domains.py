"""Domains learned under DP: numeric bounds from a noisy histogram on a public grid, and
which category values to keep by a thresholded noisy count.

A spec's domains are public knowledge; when a codebook is silent about a column, the
steward may buy one from the rows instead, as a budgeted step charged to the dataset's
lifetime cap like any release (``dprelease init --learn``). This module is its maths: the
split of the step's charge, the noise scales, the threshold and the post-processing. The
counts come from :mod:`warehouse.domain_counts`; the charge is committed before any noise
is drawn (:mod:`flows.learn_domains`).

Mechanisms (neighbouring relation: add or remove one row; a person unit is refused)
-----------------------------------------------------------------------------------
* **Numeric column**: the rows' values are counted in the bins of a public 1-2-5
  log-scale grid over ``[-1e9, 1e9]`` (:data:`GRID` for integers, :data:`FLOAT_GRID`, down
  to steps of 0.001, for floats; values beyond it count in the end bins, NULL and
  non-numbers in none). One row is in exactly one bin, so the histogram has L2
  sensitivity 1; discrete Gaussian noise of scale ``sigma`` on every bin (the grid is
  public, empty bins included) is ``1 / (2 sigma**2)``-zCDP. Bounds and edges are read off
  the noisy histogram (:func:`numeric_domain`): post-processing.
* **Category column**: every value present in the rows gets its count plus discrete
  Gaussian noise, and is kept only if the noisy count reaches the threshold ``tau``
  (:func:`keep_values`); only the kept values are released, never a count. Take neighbours
  ``D`` and ``D' = D + r``, where ``r`` holds value ``v`` in this column. Every other value's
  count is equal in both. If ``v`` occurs in ``D``, its count moves by 1: a Gaussian
  mechanism of sensitivity 1, ``1 / (2 sigma**2)``-zCDP, the keep decision being
  post-processing. If ``v`` does not occur in ``D``, the two outputs differ only in whether
  ``v`` is kept, which under ``D'`` happens with probability ``P(1 + Z >= tau)``; the
  discrete Gaussian is ``sigma``-subgaussian (Canonne, Kamath & Steinke 2020), so
  ``P(Z >= t) <= exp(-t**2 / (2 sigma**2))`` and :func:`threshold` picks
  ``tau = 1 + ceil(sigma sqrt(2 ln(1/delta_c)))``, making it at most ``delta_c``. Outside
  that event the outputs have the same law. The column's step is therefore
  ``(delta_c, 1 / (2 sigma**2))``-approximately zCDP (Bun & Steinke 2016, Def. 8.1): this is
  the stability-based histogram (Korolova et al. 2009) with Gaussian noise.

Composition over the step's ``m`` columns adds the rho and the deltas: the step is
``(delta_T, rho_g)``-approximately zCDP.

Why the ledger's rho still certifies the cap (:func:`plan_step`)
----------------------------------------------------------------
The ledger adds rho and certifies a zCDP cap ``(eps_c, delta_c)`` while the total stays at
most ``f(delta_c)``, where ``f(d)`` is the largest rho certifying ``(eps_c, d)``. A step
charged ``C`` reserves part of it: with ``q`` = :data:`THRESHOLD_SHARE`, it spends
``delta_T = q delta_c C / f(delta_c)`` on thresholds and ``rho_g = C - s delta_T`` on
noise, with ``s`` the slope of the chord of ``f`` over ``[(1 - 2q) delta_c, (1 - q)
delta_c]``. The charges of all releases and steps sum to at most ``f(delta_c)``, so the
steps' ``delta_T`` sum to at most ``q delta_c``; ``f`` is increasing and concave in ``d``
(``tests/dpcore/test_learned_domains.py`` checks it over a range of caps), so over
``[(1 - q) delta_c, delta_c]`` its slope is at most ``s``, and
``f(delta_c) - f(delta_c - sum delta_T) <= s sum delta_T`` = the reserves. Hence the noise
of everything charged composes to at most ``f(delta_c - sum delta_T)`` rho, which gives
``(eps_c, delta_c - sum delta_T)``-DP, and with the thresholds' ``sum delta_T`` the cap's
``(eps_c, delta_c)``. A pure cap (``delta_c = 0``) cannot pay for a threshold: the step
is refused there.

The reserve uses twice the chord slope (:data:`RESERVE_SAFETY`): concavity needs once, and
the margin also covers the cumulative epsilons the catalog quotes before the cap is full
(a smaller epsilon's ``f`` has a larger relative slope: by at most
``sqrt(1 + eps_c / ln(1/delta_c))`` in Bun & Steinke's form of ``f``, 1.14 for the Adult
cap). As everywhere else, the samplers' total variation of at most ``2**-78`` per draw
(:mod:`dpcore.noise`) adds to delta.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from dpcore.calculus import ZCDP
from dpcore.errors import BudgetError
from dpcore.noise import RandomSource

GRID_TOP_EXPONENT = 9


def _grid() -> tuple[int, ...]:
    """The public grid's edges: 0, +-1, +-2, +-5, +-10, ..., +-1e9 (57 edges, 56 bins)."""
    positive = [m * 10**e for e in range(GRID_TOP_EXPONENT) for m in (1, 2, 5)]
    positive.append(10**GRID_TOP_EXPONENT)
    return (*[-x for x in reversed(positive)], 0, *positive)


GRID: tuple[int, ...] = _grid()
"""Edges of the public log-scale grid: bin ``i`` holds ``GRID[i] <= x < GRID[i + 1]``; values
below ``GRID[0]`` count in the first bin, values at or above ``GRID[-1]`` in the last."""

_FRACTIONS = tuple(float(f"{m}e{e}") for e in (-3, -2, -1) for m in (1, 2, 5))
FLOAT_GRID: tuple[float, ...] = tuple(
    sorted({*map(float, GRID), *_FRACTIONS, *(-f for f in _FRACTIONS)})
)
"""The float columns' grid: :data:`GRID` with the decades 0.001 to 0.5 on both sides of 0."""


def grid_for(integer: bool) -> tuple[float, ...]:
    """The public grid a numeric column is counted on."""
    return tuple(map(float, GRID)) if integer else FLOAT_GRID


NUMERIC_KEEP_SIGMAS = 4.0
"""A grid bin bounds the learned domain if its noisy count reaches this many noise standard
deviations (a bin of noise alone passes with probability about 3e-5)."""

THRESHOLD_SHARE = 0.05
"""``q``: the share of the cap's delta that thresholds may use over the dataset's life. A
small share keeps the reserve small (the slope of ``f`` is flattest near ``delta_c``) and
costs the threshold little (it grows with ``sqrt(ln(1/delta))``)."""

RESERVE_SAFETY = 2.0
"""Factor on the chord slope ``s`` (see the module docstring): concavity makes 1 enough for
the cap; the margin covers the cumulative epsilons quoted below it, and rounding."""


@dataclass(frozen=True)
class StepPlan:
    """How a domain step spends its charge: noise per column, thresholds, the reserve."""

    charge_rho: float
    """What the ledger is charged (rho)."""
    reserve_rho: float
    """The part of the charge that pays for the thresholds' delta (see module docstring)."""
    threshold_delta: float
    """``delta_T``: the probability budget of all category thresholds together."""
    numeric: int
    categories: int

    @property
    def noise_rho(self) -> float:
        """Rho spent on noise, split equally over the step's columns."""
        return self.charge_rho - self.reserve_rho

    @property
    def column_rho(self) -> float:
        """Rho of one column's noise."""
        return self.noise_rho / (self.numeric + self.categories)

    @property
    def sigma(self) -> float:
        """The discrete Gaussian's scale on every count of the step."""
        return 1.0 / math.sqrt(2.0 * self.column_rho)

    @property
    def column_delta(self) -> float:
        """One category column's threshold delta."""
        return self.threshold_delta / self.categories if self.categories else 0.0

    @property
    def tau(self) -> int:
        """A category value is kept if its noisy count reaches this (0: no category column)."""
        return threshold(self.sigma, self.column_delta) if self.categories else 0


def plan_step(
    charge_rho: float,
    cap_rho: float,
    cap_delta: float,
    rho_at: Callable[[float], float],
    *,
    numeric: int,
    categories: int,
) -> StepPlan:
    """Split a step's ``charge_rho`` between noise and the thresholds' delta.

    ``rho_at(d)`` is the largest rho certifying the cap's epsilon at delta ``d`` (``f`` in
    the module docstring), ``cap_rho = rho_at(cap_delta)`` as the ledger holds it.
    """
    if numeric < 0 or categories < 0 or numeric + categories == 0:
        raise ValueError("a domain step learns at least one column")
    if not (math.isfinite(charge_rho) and 0 < charge_rho <= cap_rho):
        raise BudgetError(
            f"a domain step's charge must be > 0 and within the cap (rho={cap_rho:g}), "
            f"got rho={charge_rho!r}"
        )
    if categories == 0:
        return StepPlan(charge_rho, 0.0, 0.0, numeric, 0)
    if cap_delta <= 0:
        raise BudgetError(
            "learning category values needs a delta: a value is released only if its noisy "
            "count passes a threshold, which no pure epsilon-DP cap can pay for. List the "
            "column's values in the codebook instead"
        )
    q = THRESHOLD_SHARE
    low, high = (1 - 2 * q) * cap_delta, (1 - q) * cap_delta
    slope = RESERVE_SAFETY * (rho_at(high) - rho_at(low)) / (high - low)
    delta_t = q * cap_delta * charge_rho / cap_rho
    reserve = slope * delta_t
    if reserve >= charge_rho / 2:
        raise BudgetError(
            f"this cap's delta ({cap_delta:g}) is too small to pay for thresholds at this "
            "charge; list the column's values in the codebook instead"
        )
    return StepPlan(charge_rho, reserve, delta_t, numeric, categories)


def threshold(sigma: float, delta: float) -> int:
    """The smallest integer ``tau`` with ``P(1 + Z >= tau) <= delta`` by the subgaussian
    tail bound of the discrete Gaussian ``Z`` of scale ``sigma``."""
    if not (0 < delta < 1) or not (math.isfinite(sigma) and sigma > 0):
        raise ValueError(f"need sigma > 0 and 0 < delta < 1, got {sigma!r}, {delta!r}")
    return 1 + math.ceil(sigma * math.sqrt(2.0 * math.log(1.0 / delta)))


def keep_values(
    values: Sequence[str], noisy_counts: npt.NDArray[np.int64], tau: int
) -> tuple[str, ...]:
    """The values whose noisy count reaches ``tau``, most frequent (by noisy count) first."""
    kept = [(int(c), v) for v, c in zip(values, noisy_counts, strict=True) if c >= tau]
    return tuple(v for _, v in sorted(kept, key=lambda cv: (-cv[0], cv[1])))


@dataclass(frozen=True)
class NumericDomain:
    """Bounds and bin edges read off a noisy grid histogram (spec form: integer bounds are
    inclusive, so the last edge is the upper bound)."""

    bounds: tuple[float, float]
    edges: tuple[float, ...]


def numeric_domain(
    noisy_counts: npt.NDArray[np.int64], sigma: float, *, integer: bool
) -> NumericDomain:
    """The span of grid bins whose noisy count reaches :data:`NUMERIC_KEEP_SIGMAS` sigma
    (the largest bin if none does), with the grid's edges inside it."""
    grid = grid_for(integer)
    if len(noisy_counts) != len(grid) - 1:
        raise ValueError(f"expected {len(grid) - 1} grid counts, got {len(noisy_counts)}")
    passing = np.flatnonzero(noisy_counts >= NUMERIC_KEEP_SIGMAS * sigma)
    if passing.size == 0:
        passing = np.array([int(np.argmax(noisy_counts))])
    first, last = int(passing[0]), int(passing[-1])
    low = grid[first]
    if not integer:
        return NumericDomain((low, grid[last + 1]), grid[first : last + 2])
    high = grid[last + 1] - 1  # integer bins hold grid[i] .. grid[i + 1] - 1
    inner = [x for x in grid[first : last + 1] if x < high]
    if high <= low:  # one value: the spec needs low < high
        high = low + 1
        inner = [low]
    return NumericDomain((low, high), (*inner, high))


def learn_values(
    values: Sequence[str], counts: npt.NDArray[np.int64], plan: StepPlan, source: RandomSource
) -> tuple[str, ...]:
    """A category column's kept values: each present value's count plus discrete Gaussian
    noise of the plan's scale, kept if it reaches the plan's threshold (module docstring)."""
    noisy = np.asarray(counts, dtype=np.int64) + ZCDP.draw(plan.sigma, len(values), source)
    return keep_values(values, noisy, plan.tau)


def learn_numeric(
    counts: npt.NDArray[np.int64], plan: StepPlan, source: RandomSource, *, integer: bool
) -> NumericDomain:
    """A numeric column's domain from its grid counts plus discrete Gaussian noise."""
    noisy = np.asarray(counts, dtype=np.int64) + ZCDP.draw(plan.sigma, len(counts), source)
    return numeric_domain(noisy, plan.sigma, integer=integer)
