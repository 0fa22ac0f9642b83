"""The contract every synthesizer meets, so flows can swap methods by name.

A synthesizer works in two phases with a durable boundary between them:

1. ``measure``: the only phase that touches private data (through a :class:`CountOracle`).
   It spends exactly ``rho`` (zCDP) in total and returns noisy :class:`Measurement` values,
   which the flow stores before anything else happens.
2. ``fit``: post-processing of the stored measurements only, giving a :class:`Model` that
   samples any number of synthetic rows as integer codes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

from dpcore.domain import Clique, Domain
from dpcore.marginals import CountOracle, Measurement
from dpcore.noise import RandomSource


@dataclass(frozen=True)
class PlannedMeasurement:
    """A marginal the synthesizer will (or may) measure, with its noise scale; reads no rows."""

    clique: Clique
    sigma: float
    note: str = ""


class Model(Protocol):
    """A fitted distribution over the domain's codes."""

    @property
    def domain(self) -> Domain:
        """The domain the model is defined over."""
        ...

    def sample(self, rows: int, rng: np.random.Generator) -> npt.NDArray[np.int64]:
        """``(rows, len(domain))`` integer codes drawn from the model."""
        ...

    def marginal(self, clique: Clique) -> npt.NDArray[np.float64]:
        """The model's probability table over ``clique`` (flattened, C order, sums to 1)."""
        ...


class Synthesizer(Protocol):
    """A named marginal-based synthesis method."""

    @property
    def name(self) -> str:
        """The method's name as the spec writes it."""
        ...

    def plan(self, domain: Domain, rho: float) -> Sequence[PlannedMeasurement]:
        """What would be measured and with which noise, without reading any rows."""
        ...

    def candidates(self, domain: Domain) -> Sequence[Clique]:
        """Every marginal whose exact counts ``measure`` may compute (bounds its memory)."""
        ...

    def measure(
        self, domain: Domain, rho: float, oracle: CountOracle, source: RandomSource
    ) -> list[Measurement]:
        """Spend exactly ``rho`` on noisy measurements (selection included)."""
        ...

    def fit(self, domain: Domain, measurements: Sequence[Measurement]) -> Model:
        """Estimate a model from noisy measurements only."""
        ...
