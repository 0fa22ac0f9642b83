"""The seed method: noisy 1-way marginals, each column sampled independently.

Spends the budget equally on the d one-way histograms: in zCDP each gets rho / d (sigma =
sqrt(d / (2 rho))); under pure DP (the seed method: Laplace noise on 1-way histograms) each
gets epsilon / d (discrete Laplace scale d / epsilon). Keeps every column's distribution and
no correlation between columns; the baseline better methods beat.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from dpcore.calculus import ZCDP, Calculus
from dpcore.domain import Clique, Domain
from dpcore.errors import DomainError
from dpcore.marginals import CountOracle, Measurement
from dpcore.mechanisms import measure_marginals
from dpcore.noise import RandomSource
from dpcore.synth.base import PlannedMeasurement
from dpcore.synth.projection import project_to_simplex


@dataclass(frozen=True)
class IndependentModel:
    """A product of per-column distributions."""

    domain: Domain
    probabilities: tuple[npt.NDArray[np.float64], ...] = field(repr=False)

    def sample(self, rows: int, rng: np.random.Generator) -> npt.NDArray[np.int64]:
        """Draw each column independently by inverse CDF."""
        out = np.empty((rows, len(self.domain)), dtype=np.int64)
        for j, p in enumerate(self.probabilities):
            cdf = np.cumsum(p)
            cdf[-1] = 1.0
            out[:, j] = np.searchsorted(cdf, rng.random(rows), side="right")
        return out

    def marginal(self, clique: Clique) -> npt.NDArray[np.float64]:
        """Outer product of the clique's column distributions."""
        table = np.ones(())
        for name in clique:
            table = np.multiply.outer(table, self.probabilities[self.domain.index(name)])
        return np.asarray(table, dtype=np.float64).reshape(-1)


@dataclass(frozen=True)
class IndependentSynthesizer:
    """Noisy 1-way marginals with an equal budget split; columns sampled independently."""

    name: str = field(default="independent", init=False)
    calculus: Calculus = ZCDP

    def plan(self, domain: Domain, rho: float) -> list[PlannedMeasurement]:
        """One 1-way marginal per column, each with budget / d (``rho``: the budget in
        ``calculus``'s currency)."""
        sigma = self.calculus.scale_for(rho / len(domain))
        return [PlannedMeasurement((c,), sigma, "1-way marginal") for c in domain.names]

    def candidates(self, domain: Domain) -> list[Clique]:
        """The 1-way marginals."""
        return [(c,) for c in domain.names]

    def measure(
        self, domain: Domain, rho: float, oracle: CountOracle, source: RandomSource
    ) -> list[Measurement]:
        """Measure every 1-way marginal; total cost exactly ``rho``."""
        planned = self.plan(domain, rho)
        return measure_marginals(
            oracle,
            [p.clique for p in planned],
            [p.sigma for p in planned],
            source,
            self.calculus,
        )

    def fit(self, domain: Domain, measurements: Sequence[Measurement]) -> IndependentModel:
        """Project each noisy histogram onto the probability simplex."""
        by_column = {m.clique: m for m in measurements if len(m.clique) == 1}
        probabilities = []
        for name in domain.names:
            m = by_column.get((name,))
            if m is None:
                raise DomainError(f"no 1-way measurement of column {name!r} to fit")
            probabilities.append(project_to_simplex(m.values.astype(np.float64)))
        return IndependentModel(domain, tuple(probabilities))
