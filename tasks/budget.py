"""Tasks: plan a release (reads no rows) and charge its cost to the ledger."""

from __future__ import annotations

from dataclasses import dataclass

from prefect import task
from prefect.cache_policies import NO_CACHE

from dpcore.accounting import BudgetState, exhausted_message
from dpcore.errors import BudgetExhaustedError, DomainError
from dpcore.synth.base import PlannedMeasurement
from dpcore.synth.registry import get_synthesizer
from tasks.context import warehouse_paths
from tasks.request import ReleaseRequest
from warehouse.faults import crash_point
from warehouse.ledger import Charge, budget_state, charge
from warehouse.runs import set_status


class DomainTooLargeError(DomainError):
    """A planned marginal has more cells than the spec allows."""


@dataclass(frozen=True)
class ReleasePlan:
    """What a release will measure and what it costs, known before reading any row."""

    request: ReleaseRequest
    measurements: tuple[PlannedMeasurement, ...]
    budget: BudgetState

    @property
    def affordable(self) -> bool:
        """Whether the remaining budget covers this release."""
        return self.budget.can_charge(self.request.cost.ledger_rho)


def plan_release_fn(request: ReleaseRequest, home: str | None) -> ReleasePlan:
    """Plan the measurements, check the cell limit and the remaining budget."""
    synthesizer = get_synthesizer(request.method, **request.synthesizer_options)
    planned = tuple(synthesizer.plan(request.codec.domain, request.measure_rho))
    counted = [p.clique for p in planned] + list(synthesizer.candidates(request.codec.domain))
    for clique in counted:
        cells = request.codec.domain.cells(clique)
        if cells > request.max_marginal_cells:
            raise DomainTooLargeError(
                f"the marginal over {', '.join(clique)} has {cells:,} cells, more than the "
                f"spec's limit synthesizer.max_marginal_cells={request.max_marginal_cells:,}. "
                "Use coarser bins or fewer categories, or raise the limit."
            )
    paths = warehouse_paths(home)
    state = budget_state(paths.warehouse, request.dataset, request.cap)
    assert state is not None
    return ReleasePlan(request, planned, state)


def require_affordable(plan: ReleasePlan) -> None:
    """Refuse early (before reading rows) when the budget cannot pay for the release."""
    if not plan.affordable:
        raise BudgetExhaustedError(exhausted_message(plan.budget, plan.request.cost.ledger_rho))


def charge_budget_fn(request: ReleaseRequest, run_id: str, home: str | None) -> Charge:
    """Commit the release's charge (idempotent per run) and mark the run charged."""
    paths = warehouse_paths(home)
    receipt = charge(
        paths.warehouse,
        dataset=request.dataset,
        run_id=run_id,
        release=request.name,
        spec_hash=request.spec_hash,
        cost=request.cost,
        cap=request.cap,
    )
    crash_point("after-charge")
    set_status(paths.warehouse, run_id, "charged")
    return receipt


plan_release = task(name="plan release", cache_policy=NO_CACHE)(plan_release_fn)
charge_budget = task(name="charge budget", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=1)(
    charge_budget_fn
)
