"""MST: a maximum-spanning-tree of 2-way marginals (McKenna, Miklau, Sheldon 2021).

Accounting (zCDP, add/remove-one-row neighbours, histograms of L2 sensitivity 1), with
``d`` columns and ``rho`` split in three equal parts:

* ``rho / 3`` measures all ``d`` 1-way marginals, each with ``sigma = sqrt(3 d / (2 rho))``;
* ``rho / 3`` selects ``d - 1`` tree edges, one exact exponential-mechanism step each with
  ``eps = sqrt(8 (rho / 3) / (d - 1))`` (cost ``eps^2 / 8`` per step). The score of pair
  ``(a, b)`` is ``||M_ab(D) - N p_a p_b||_1`` for the independent model ``p`` fitted on the
  noisy 1-way marginals (public after their release); it has sensitivity 1;
* ``rho / 3`` measures the ``d - 1`` chosen pairs, each with
  ``sigma = sqrt(3 (d - 1) / (2 rho))``.

Under pure DP (``calculus=PURE``, budget epsilon, Laplace noise) the same thirds apply in
epsilon: 1-way scale ``3 d / epsilon``, selection ``epsilon / (3 (d - 1))`` per step, pair
scale ``3 (d - 1) / epsilon`` (:mod:`dpcore.calculus`).

With one column the whole budget measures its 1-way marginal. Edges are chosen Kruskal-style:
each step picks among the pairs joining two different components of the tree so far.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from dpcore.calculus import ZCDP, Calculus
from dpcore.domain import Clique, Domain
from dpcore.marginals import CountOracle, Measurement
from dpcore.mechanisms import measure_marginals
from dpcore.noise import RandomSource
from dpcore.synth.base import PlannedMeasurement
from dpcore.synth.model import GraphicalModel, fit_model
from dpcore.synth.selection import exponential_mechanism
from dpcore.workload import make_workload


@dataclass(frozen=True)
class MSTSynthesizer:
    """MST with the junction-tree estimator; see the module docstring for the accounting.

    ``workload`` (cliques of column names) restricts candidate edges to pairs it covers;
    ``max_model_cells`` skips candidate pairs whose table alone exceeds it.
    """

    workload: Sequence[Sequence[str]] | None = None
    max_model_cells: int = 1_000_000
    time_budget_s: float | None = None
    fit_iterations: int = 1500
    calculus: Calculus = ZCDP
    name: str = field(default="mst", init=False)

    def _scales(self, domain: Domain, rho: float) -> tuple[float, float, float]:
        d = len(domain)
        price = self.calculus
        if d == 1:
            return price.scale_for(rho), 0.0, math.inf
        sigma1 = price.scale_for(rho / 3.0 / d)
        epsilon = price.selection_epsilon(rho / 3.0 / (d - 1))
        sigma2 = price.scale_for(rho / 3.0 / (d - 1))
        return sigma1, epsilon, sigma2

    def plan(self, domain: Domain, rho: float) -> list[PlannedMeasurement]:
        """The 1-way measurements; ``d - 1`` pairs chosen privately follow."""
        sigma1, _, sigma2 = self._scales(domain, rho)
        planned = [PlannedMeasurement((n,), sigma1, "1-way") for n in domain.names]
        planned += [
            PlannedMeasurement((), sigma2, "one selected pair")
            for _ in range(max(len(domain) - 1, 0))
        ]
        return planned

    def measure(
        self, domain: Domain, rho: float, oracle: CountOracle, source: RandomSource
    ) -> list[Measurement]:
        """1-way marginals, a private spanning tree of pairs, then the pairs; spends ``rho``."""
        if not (math.isfinite(rho) and rho > 0):
            raise ValueError(f"rho must be finite and > 0, got {rho!r}")
        sigma1, epsilon, sigma2 = self._scales(domain, rho)
        oneway: list[Clique] = [(n,) for n in domain.names]
        measurements = measure_marginals(
            oracle, oneway, [sigma1] * len(oneway), source, self.calculus
        )
        if len(domain) == 1:
            return measurements
        pairs = self._candidates(domain)
        independent, _ = fit_model(domain, measurements, iterations=0)
        exact = dict(zip(pairs, oracle.counts(pairs), strict=True))
        scores = {}
        for pair in pairs:
            estimate = independent.marginal(pair) * independent.total
            scores[pair] = float(np.abs(exact[pair] - estimate).sum())
        chosen = _spanning_tree(domain, pairs, scores, epsilon, source)
        measured = measure_marginals(oracle, chosen, [sigma2] * len(chosen), source, self.calculus)
        measurements += [replace(m, selection_epsilon=epsilon) for m in measured]
        return measurements

    def candidates(self, domain: Domain) -> list[Clique]:
        """The 1-way marginals and the candidate pairs of the spanning tree."""
        return [(n,) for n in domain.names] + self._candidates(domain)

    def _candidates(self, domain: Domain) -> list[Clique]:
        workload = make_workload(domain, self.workload)
        pairs: list[Clique] = [c for c in workload.closure() if len(c) == 2]
        if not pairs:
            pairs = [(a, b) for i, a in enumerate(domain.names) for b in domain.names[i + 1 :]]
        return [p for p in pairs if domain.cells(p) <= self.max_model_cells] or pairs

    def fit(self, domain: Domain, measurements: Sequence[Measurement]) -> GraphicalModel:
        """Estimate the tree-structured model from the stored measurements."""
        model, _ = fit_model(
            domain, measurements, iterations=self.fit_iterations, time_limit_s=self.time_budget_s
        )
        return model


def _spanning_tree(
    domain: Domain,
    pairs: Sequence[Clique],
    scores: dict[Clique, float],
    epsilon: float,
    source: RandomSource,
) -> list[Clique]:
    """``d - 1`` exponential-mechanism steps, each joining two components (Kruskal order).

    If the candidate pairs cannot connect every column, the remaining steps are still run
    (over all candidates) so the selection budget is spent as accounted.
    """
    component = {n: n for n in domain.names}

    def find(n: str) -> str:
        while component[n] != n:
            component[n] = component[component[n]]
            n = component[n]
        return n

    chosen: list[Clique] = []
    for _ in range(len(domain) - 1):
        options = (
            [p for p in pairs if find(p[0]) != find(p[1])]
            or [p for p in pairs if p not in chosen]
            or list(pairs)
        )
        pick = options[exponential_mechanism([scores[p] for p in options], epsilon, 1.0, source)]
        chosen.append(pick)
        component[find(pick[0])] = find(pick[1])
    return chosen
