"""Planning a release: its cost, its measurements and whether the budget pays for it.

Reads no source rows and imports no Prefect, so the CLI can plan and refuse a release
(``dprelease plan``, the pre-flight of ``run``) in about a second; :mod:`tasks.budget`
wraps :func:`plan_release_fn` as the flow's task.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from dpcore.accounting import BudgetState, exhausted_message, split_cost
from dpcore.errors import BudgetExhaustedError, DomainError
from dpcore.synth.base import PlannedMeasurement
from dpcore.synth.limits import check_measurable, check_noise_scales
from tasks.context import warehouse_paths
from tasks.request import ReleaseRequest
from warehouse.connection import connect
from warehouse.ledger import budget_state, release_charge_count
from warehouse.publish import check_release_name
from warehouse.source import source_columns
from warehouse.views import base_table


class DomainTooLargeError(DomainError):
    """A planned marginal has more cells than the spec allows."""


@dataclass(frozen=True)
class ReleasePlan:
    """What a release will measure and what it costs, known before reading any row.

    ``request`` carries the resolved cost (with a horizon, this run's share of what remains);
    ``horizon_left`` counts the horizon's runs still to come, this one included.
    """

    request: ReleaseRequest
    measurements: tuple[PlannedMeasurement, ...]
    budget: BudgetState
    horizon_left: int | None = None

    @property
    def affordable(self) -> bool:
        """Whether the remaining budget (and the horizon, if any) covers this release."""
        if self.horizon_left is not None and self.horizon_left < 1:
            return False
        return self.budget.can_charge(self.request.cost.charge_for(self.budget.cap))

    def refusal(self) -> str:
        """Why the release cannot be charged, and what to do (only if not affordable)."""
        if self.horizon_left is not None and self.horizon_left < 1:
            return (
                f"the horizon of {self.request.horizon_runs} run(s) for release "
                f"{self.request.name} is complete: its budget share is spent. Extend "
                "privacy.horizon.runs (it splits only what remains), or publish a refresh "
                "from stored measurements, which costs nothing."
            )
        return exhausted_message(
            self.budget, self.request.cost.charge_for(self.budget.cap), self.request.cost.delta
        )


def resolve_cost(
    request: ReleaseRequest, state: BudgetState, runs_done: int
) -> tuple[ReleaseRequest, int | None]:
    """The request at this run's cost: fixed, or a horizon's share of the remaining budget.

    Returns the request and the horizon's runs still to come (None without a horizon).
    """
    if request.horizon_runs is None:
        return request, None
    left = request.horizon_runs - runs_done
    if left < 1 or state.remaining <= 0:
        return request, min(left, 0)
    try:
        cost = split_cost(state.remaining, left, request.cost.delta, state.cap)
    except BudgetExhaustedError:
        return request, 0
    return replace(request, cost=cost), left


def resolve_dataset(
    request: ReleaseRequest, home: str | None, *, require_source: bool = False
) -> ReleaseRequest:
    """The request with its ledger dataset resolved: a view source charges the cap of the
    base table it reads (:mod:`warehouse.views`; views that could repeat a person's rows
    are refused here, before anything is charged). Parquet sources are their own dataset.

    ``require_source`` (a run, not a plan) also refuses a missing source table first, so its
    error names the table rather than its missing cap. Idempotent.
    """
    if request.dataset_table is not None or request.source_engine != "duckdb":
        return request
    paths = warehouse_paths(home)
    if not paths.warehouse.exists() and not require_source:
        return request
    with connect(paths.warehouse) as con:
        if require_source:
            source_columns(con, request.source_table)  # SourceNotFoundError if absent
        base = base_table(con, request.source_table)
    return replace(request, dataset_table=base)


def plan_release_fn(request: ReleaseRequest, home: str | None) -> ReleasePlan:
    """Resolve the cost, plan the measurements, check the name against the release file, the
    noise scales, the cell limit and the remaining budget (all before any charge)."""
    paths = warehouse_paths(home)
    request = resolve_dataset(request, home)
    check_release_name(paths, request.name)
    state = budget_state(paths.warehouse, request.dataset, request.cap, request.unit.label)
    assert state is not None
    done = (
        0
        if request.horizon_runs is None
        else release_charge_count(paths.warehouse, request.dataset, request.name)
    )
    request, horizon_left = resolve_cost(request, state, done)
    synthesizer = request.synthesizer()
    check_measurable(request.cost.epsilon, request.measure_rho)
    planned = tuple(synthesizer.plan(request.codec.domain, request.measure_rho))
    check_noise_scales(
        synthesizer, request.codec.domain, request.measure_rho, planned, request.cost.epsilon
    )
    counted = [p.clique for p in planned] + list(synthesizer.candidates(request.codec.domain))
    for clique in counted:
        cells = request.codec.domain.cells(clique)
        if cells > request.max_marginal_cells:
            raise DomainTooLargeError(
                f"the marginal over {', '.join(clique)} has {cells:,} cells, more than the "
                f"spec's limit synthesizer.max_marginal_cells={request.max_marginal_cells:,}. "
                "Use coarser bins or fewer categories, or raise the limit."
            )
    return ReleasePlan(request, planned, state, horizon_left)


def require_affordable(plan: ReleasePlan) -> None:
    """Refuse early (before reading rows) when the budget cannot pay for the release."""
    if not plan.affordable:
        raise BudgetExhaustedError(plan.refusal())
