"""Argument checks shared by the samplers, with messages that say what to pass instead."""

from __future__ import annotations

import math
from typing import Final

import numpy as np

#: Largest supported noise scale. Above it the integer intermediates of the large-scale
#: Gaussian path (``y**2`` with ``y`` up to about ``11 * sigma``) could leave int64.
MAX_SCALE: Final = float(2**26)


def check_scale(name: str, value: float) -> float:
    """Return ``value`` as a float if it is a finite real in ``(0, MAX_SCALE]``."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise ValueError(f"{name} must be a real number, got {type(value).__name__}")
    scale = float(value)
    if not math.isfinite(scale) or scale <= 0.0:
        raise ValueError(f"{name} must be finite and > 0, got {value!r}")
    if scale > MAX_SCALE:
        raise ValueError(f"{name} must be at most {MAX_SCALE:.0f}, got {value!r}")
    return scale


def check_size(size: int) -> int:
    """Return ``size`` as an int if it is a non-negative integer."""
    if isinstance(size, bool) or not isinstance(size, int | np.integer) or size < 0:
        raise ValueError(f"size must be a non-negative integer, got {size!r}")
    return int(size)
