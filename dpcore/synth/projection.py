"""Euclidean projection of noisy counts onto the probability simplex.

Noisy counts can be negative and need not sum to the total. The L2-closest distribution to
``counts / sum`` keeps large cells and zeroes cells drowned in noise (Duchi et al. 2008).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt


def project_to_simplex(counts: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """The distribution closest in L2 to ``counts`` rescaled by their positive mass."""
    x = np.asarray(counts, dtype=np.float64).reshape(-1)
    scale = float(np.clip(x, 0, None).sum())
    if scale <= 0:
        return np.full(x.size, 1.0 / x.size)
    v = x / scale
    u = np.sort(v)[::-1]
    css = np.cumsum(u) - 1.0
    ks = np.arange(1, v.size + 1)
    k = int(np.nonzero(u - css / ks > 0)[0][-1]) + 1
    theta = css[k - 1] / k
    p = np.clip(v - theta, 0, None)
    return np.asarray(p / p.sum(), dtype=np.float64)
