"""Noise scales a release may use, checked from the plan before any budget is charged.

The exact samplers refuse a scale above :data:`dpcore.noise.validation.MAX_SCALE`; a cost so
small that a measurement would need more is refused here, before the charge, instead of
failing after it (a run that is charged and cannot measure cannot be resumed either). The
largest scale is each synthesizer's ``max_sigma(domain, rho)`` if it has one (adaptive
methods, whose later rounds are not in the plan), else the largest planned one.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from dpcore.domain import Domain
from dpcore.errors import BudgetError
from dpcore.noise.validation import MAX_SCALE
from dpcore.synth.base import PlannedMeasurement, Synthesizer


class CostTooSmallError(BudgetError):
    """A release's cost is so small that its noise would exceed what the samplers support."""


def largest_sigma(
    synthesizer: Synthesizer, domain: Domain, rho: float, planned: Sequence[PlannedMeasurement]
) -> float:
    """The largest noise scale the synthesizer can draw at ``rho`` (sensitivity 1)."""
    scales = [p.sigma for p in planned]
    bound = getattr(synthesizer, "max_sigma", None)
    if bound is not None:
        scales.append(float(bound(domain, rho)))
    return max(scales, default=0.0)


def _too_small(epsilon: float, detail: str) -> CostTooSmallError:
    return CostTooSmallError(
        f"epsilon={epsilon:g} is too small to release anything: {detail}, above the largest "
        f"noise scale the samplers support ({MAX_SCALE:,.0f}), so every count would be noise. "
        "Nothing was charged. Raise privacy.epsilon in the spec (or the --epsilon override)."
    )


def check_measurable(epsilon: float, rho: float) -> None:
    """Refuse a cost whose rho (at sensitivity 1) is zero or not finite: nothing can be
    calibrated to it. ``epsilon`` is the declared cost, named in the message."""
    if not (math.isfinite(rho) and rho > 0):
        raise _too_small(epsilon, f"its zCDP cost rho underflows to {rho!r}")


def check_noise_scales(
    synthesizer: Synthesizer,
    domain: Domain,
    rho: float,
    planned: Sequence[PlannedMeasurement],
    epsilon: float,
) -> None:
    """Refuse a plan whose largest noise scale exceeds ``MAX_SCALE`` (see module docstring)."""
    sigma = largest_sigma(synthesizer, domain, rho, planned)
    if not sigma <= MAX_SCALE:
        raise _too_small(epsilon, f"a marginal would need noise of scale sigma={sigma:.3g}")
