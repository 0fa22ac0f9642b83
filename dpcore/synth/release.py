"""From stored measurements to synthetic codes: fit, choose the row count, sample.

Post-processing only: nothing here sees a source row. The row count is the requested one or
the noisy total estimated from the measurements, never an exact count.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from dpcore.domain import Domain
from dpcore.marginals import Measurement, estimate_total
from dpcore.synth.base import Model, Synthesizer


@dataclass(frozen=True)
class SyntheticCodes:
    """Sampled rows as integer codes, with the noisy total they were sized from.

    ``private`` is False if any measurement used a seeded test generator.
    """

    domain: Domain
    codes: npt.NDArray[np.int64] = field(repr=False)
    noisy_total: float
    private: bool
    model: Model = field(repr=False)


def synthesize(
    synthesizer: Synthesizer,
    domain: Domain,
    measurements: Sequence[Measurement],
    rows: int | None,
    rng: np.random.Generator,
) -> SyntheticCodes:
    """Fit the synthesizer's model to ``measurements`` and sample ``rows`` (or noisy total)."""
    model = synthesizer.fit(domain, measurements)
    total = estimate_total(measurements)
    n = int(rows) if rows is not None else max(1, round(total))
    codes = model.sample(n, rng)
    private = all(m.private for m in measurements)
    return SyntheticCodes(domain, codes, total, private, model)
