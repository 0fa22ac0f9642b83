"""The plain values a release needs, resolved from a spec before any task runs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from dpcore.accounting import PrivacyCap, PrivacyCost
from dpcore.encoding import TableCodec
from dpcore.synth.base import Synthesizer
from dpcore.synth.registry import get_synthesizer
from dpcore.units import PrivacyUnit


@dataclass(frozen=True)
class UtilitySettings:
    """Utility thresholds the synthetic table must meet before it is published."""

    max_tvd: float = 0.05
    row_tolerance: float = 0.05


@dataclass(frozen=True)
class ReleaseRequest:
    """Everything the tasks need to run one release, with no YAML or pydantic left in it."""

    name: str
    description: str
    source_table: str  # a warehouse table, or with source_engine dask a Parquet path
    codec: TableCodec
    cost: PrivacyCost
    cap: PrivacyCap
    method: str
    spec_hash: str
    spec_path: str
    rows: int | None = None
    max_marginal_cells: int = 1_000_000
    synthesizer_options: dict[str, object] = field(default_factory=dict)
    utility: UtilitySettings = field(default_factory=UtilitySettings)
    unit: PrivacyUnit = field(default_factory=PrivacyUnit)
    on_exhausted: str = "fail"
    horizon_runs: int | None = None
    spec_json: str | None = field(default=None, repr=False)
    source_engine: Literal["duckdb", "dask"] = "duckdb"
    dataset_table: str | None = None
    """The base table a view source reads (:func:`tasks.budget.resolve_dataset`), whose cap
    the release charges; None until resolved, or for a table."""

    @property
    def measure_rho(self) -> float:
        """What the synthesizer may spend at sensitivity 1 so the release costs ``cost``, in
        its calculus's currency (rho in zCDP; epsilon for a pure release, whose person unit
        divides by k rather than k**2)."""
        return self.cost.calculus.unit_budget(self.cost.budget, self.unit.sensitivity)

    def synthesizer(self) -> Synthesizer:
        """The spec's synthesizer, pricing noise as the release's kind asks (Laplace and
        epsilon for a pure release, Gaussian and rho otherwise)."""
        return get_synthesizer(self.method, calculus=self.cost.calculus, **self.synthesizer_options)

    @property
    def dataset(self) -> str:
        """The ledger's key for the lifetime budget: the source table, or for a view the base
        table it reads (once resolved)."""
        return (self.dataset_table or self.source_table).lower()
