"""What a run spent, recomputed from its stored measurements' mechanism parameters alone.

Every noisy marginal was drawn with discrete Gaussian noise of scale ``sigma`` on counts of
sensitivity ``D``, which costs ``D**2 / (2 sigma**2)`` zCDP (Canonne, Kamath & Steinke
2020); a marginal chosen from data was chosen by one exponential mechanism with parameter
``epsilon``, calibrated to its scores' sensitivity, which costs ``epsilon**2 / 8`` at
sensitivity 1 and ``D**2`` times that for a person bounded to ``D`` rows
(:mod:`dpcore.units`). Composition adds the costs. A privacy officer can thus check each
charge against what was actually drawn, from the warehouse alone.
"""

from __future__ import annotations

from collections.abc import Iterable

from dpcore.synth.selection import em_rho


def measurement_rho(sigma: float, selection_epsilon: float, sensitivity: int = 1) -> float:
    """zCDP cost of one stored measurement: its noise plus the selection that chose it."""
    return sensitivity**2 * (1.0 / (2.0 * float(sigma) ** 2) + em_rho(selection_epsilon))


def spent_rho(parameters: Iterable[tuple[float, float, int]]) -> float:
    """Total zCDP cost of measurements given as ``(sigma, selection_epsilon, sensitivity)``."""
    return sum(measurement_rho(s, e, d) for s, e, d in parameters)
