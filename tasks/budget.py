"""Tasks: plan a release (reads no rows) and charge its cost to the ledger."""

from __future__ import annotations

from pathlib import Path

from prefect import task
from prefect.cache_policies import NO_CACHE

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
from tasks.retry import io_task, retry_unless_refused
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
    "retry_unless_refused",
]


def charge_request(
    warehouse: Path, request: ReleaseRequest, run_id: str, unit: str | None = None
) -> Charge:
    """Charge ``request``'s cost to its dataset's ledger for ``run_id`` (idempotent per run):
    the one mapping from a request to a ledger charge. ``unit`` overrides the request's
    privacy unit label (tests charging as an earlier run would have)."""
    return charge(
        warehouse,
        dataset=request.dataset,
        run_id=run_id,
        release=request.name,
        spec_hash=request.spec_hash,
        cost=request.cost,
        cap=request.cap,
        unit=request.unit.label if unit is None else unit,
    )


def charge_budget_fn(request: ReleaseRequest, run_id: str, home: str | None) -> Charge:
    """Commit the release's charge (idempotent per run) and mark the run charged."""
    paths = warehouse_paths(home)
    receipt = charge_request(paths.warehouse, request, run_id)
    crash_point("after-charge")
    set_status(paths.warehouse, run_id, RunStatus.CHARGED)
    return receipt


plan_release = task(name="plan release", cache_policy=NO_CACHE)(plan_release_fn)


charge_budget = io_task("charge budget", charge_budget_fn, retry_condition=retry_unless_refused)
