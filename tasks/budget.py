"""Tasks: plan a release (reads no rows) and charge its cost to the ledger."""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.states import State

from tasks.context import warehouse_paths
from tasks.plan import (
    DomainTooLargeError,
    ReleasePlan,
    plan_release_fn,
    require_affordable,
    resolve_cost,
    resolve_dataset,
)
from tasks.request import ReleaseRequest
from tasks.retry import retry_unless_permanent
from warehouse.faults import crash_point
from warehouse.ledger import Charge, charge
from warehouse.runs import set_status
from warehouse.vocabulary import RunStatus

__all__ = [
    "DomainTooLargeError",
    "ReleasePlan",
    "charge_budget",
    "charge_budget_fn",
    "plan_release",
    "plan_release_fn",
    "require_affordable",
    "resolve_cost",
    "resolve_dataset",
]


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
        unit=request.unit.label,
    )
    crash_point("after-charge")
    set_status(paths.warehouse, run_id, RunStatus.CHARGED)
    return receipt


plan_release = task(name="plan release", cache_policy=NO_CACHE)(plan_release_fn)


def retry_unless_refused(task: object, task_run: object, state: State[object]) -> bool:
    """Retry a failed charge only if it may pass on its own (see ``tasks.retry``): never a
    refusal such as an exhausted budget, nor a full disk or a refused permission."""
    return retry_unless_permanent(task, task_run, state)


charge_budget = task(
    name="charge budget",
    cache_policy=NO_CACHE,
    retries=2,
    retry_delay_seconds=1,
    retry_condition_fn=retry_unless_refused,
)(charge_budget_fn)
