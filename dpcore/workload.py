"""Workloads: the marginals a release should preserve, with non-negative weights.

The default is every 2-way marginal with weight 1. A user list of cliques (column names) may
be given instead; cliques are stored in the domain's column order and duplicates merge by
adding their weights. Workloads are public: they never depend on private rows.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

from dpcore.domain import Clique, Domain
from dpcore.errors import DomainError


@dataclass(frozen=True)
class Workload:
    """Cliques (canonical order) and their positive weights."""

    cliques: tuple[Clique, ...]
    weights: tuple[float, ...]

    def __post_init__(self) -> None:
        if len(self.cliques) != len(self.weights):
            raise DomainError("a workload needs one weight per clique")
        if not self.cliques:
            raise DomainError("a workload needs at least one clique")
        for w in self.weights:
            if not (math.isfinite(w) and w > 0):
                raise DomainError(f"workload weights must be finite and > 0, got {w!r}")

    def closure(self) -> tuple[Clique, ...]:
        """Every non-empty subset of a workload clique (the candidates of adaptive methods)."""
        seen: dict[Clique, None] = {}
        for clique in self.cliques:
            for k in range(1, len(clique) + 1):
                for sub in itertools.combinations(clique, k):
                    seen.setdefault(sub, None)
        return tuple(seen)

    def coverage(self, clique: Clique) -> float:
        """``sum_s weight_s * |clique ∩ s|``: how much the workload cares about ``clique``."""
        members = set(clique)
        return float(
            sum(w * len(members & set(s)) for s, w in zip(self.cliques, self.weights, strict=True))
        )


def all_k_way(domain: Domain, k: int = 2) -> Workload:
    """Every ``k``-way marginal of the domain, weight 1 (all columns if fewer than ``k``)."""
    k = min(k, len(domain))
    cliques = tuple(itertools.combinations(domain.names, k))
    return Workload(cliques, tuple(1.0 for _ in cliques))


def make_workload(
    domain: Domain,
    cliques: Sequence[Sequence[str]] | None = None,
    weights: Sequence[float] | None = None,
) -> Workload:
    """The user's workload on ``domain`` (validated, canonical) or all 2-way marginals."""
    if cliques is None:
        return all_k_way(domain, 2)
    if weights is not None and len(weights) != len(cliques):
        raise DomainError("workload weights must match the cliques one to one")
    merged: dict[Clique, float] = {}
    for i, clique in enumerate(cliques):
        if not clique:
            raise DomainError("a workload clique needs at least one column")
        canon = domain.canonical(clique)
        merged[canon] = merged.get(canon, 0.0) + (float(weights[i]) if weights else 1.0)
    return Workload(tuple(merged), tuple(merged.values()))
