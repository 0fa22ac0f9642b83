"""What a run spent, recomputed from its stored measurements' mechanism parameters alone.

Every noisy marginal was drawn with discrete Gaussian noise of scale ``sigma`` on counts of
sensitivity ``D``, which costs ``D**2 / (2 sigma**2)`` zCDP (Canonne, Kamath & Steinke
2020), or with discrete Laplace noise of scale ``t``, which costs ``D / t`` in pure epsilon;
a marginal chosen from data was chosen by one exponential mechanism with parameter
``epsilon``, calibrated to its scores' sensitivity, which costs ``epsilon**2 / 8`` zCDP (pure:
``epsilon``) at sensitivity 1, and ``D**2`` (pure: ``D``) times that for a person bounded to
``D`` rows (:mod:`dpcore.units`). Composition adds the costs. A privacy officer can thus
check each charge against what was actually drawn, from the warehouse alone.
"""

from __future__ import annotations

from collections.abc import Iterable

from dpcore.calculus import ZCDP, Calculus


def measurement_cost(
    sigma: float, selection_epsilon: float, sensitivity: int = 1, calculus: Calculus = ZCDP
) -> float:
    """Cost of one stored measurement in ``calculus``'s currency: its noise plus the
    selection that chose it."""
    unit = calculus.measurement_cost(sigma) + calculus.selection_cost(selection_epsilon)
    return unit / calculus.unit_budget(1.0, sensitivity)


def spent(parameters: Iterable[tuple[float, float, int]], calculus: Calculus = ZCDP) -> float:
    """Total cost of measurements given as ``(sigma, selection_epsilon, sensitivity)``, all
    drawn under ``calculus`` (rho for zCDP, epsilon for pure DP)."""
    return sum(measurement_cost(s, e, d, calculus) for s, e, d in parameters)
