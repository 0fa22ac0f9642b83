"""Pre-flight: everything that can refuse a release without reading a source row.

The spec (parsed and validated), the run's overrides (an epsilon above the spec's), a
resume's run (known, charged, same spec), the budget (can the ledger pay?) and the source's
schema from the warehouse catalog (missing table or column, drifted type). The CLI calls
:func:`preflight` before it starts any flow or Prefect server, so such a refusal answers in
about a second; the ``release`` flow runs the same checks again (a scheduled run has no
CLI), through the same functions. :func:`refresh_preflight` does the same for a refresh
(its spec, and whether the release has stored measurements at all). Imports no Prefect.
"""

from __future__ import annotations

from dataclasses import replace

from dpcore.accounting import PrivacyCost
from dpcore.errors import BudgetExhaustedError, DPReleaseError
from flows.overrides import ReleaseOverrides, apply_overrides
from flows.spec import load_spec
from tasks.context import warehouse_paths
from tasks.plan import ReleasePlan, plan_release_fn, resolve_dataset
from tasks.request import ReleaseRequest
from tasks.source_schema import check_source_schema
from tasks.stored import newest_stored_run
from warehouse.ledger import charge_for_run
from warehouse.runs import get_run


class ResumeError(DPReleaseError):
    """A run cannot be resumed (unknown, never charged, or for another release)."""


def resumable(request: ReleaseRequest, run_id: str, home: str | None) -> ReleaseRequest:
    """The request as the run was charged for it; refuses unknown, unpaid or changed runs.

    A resume spends nothing new, so it must measure (if it still has to) at exactly the cost
    the ledger recorded for the run, with the spec the run started with.
    """
    warehouse = warehouse_paths(home).warehouse
    record = get_run(warehouse, run_id)
    if record is None or record.release != request.name:
        raise ResumeError(
            f"there is no run {run_id} of release {request.name} to resume; "
            "`dprelease runs` lists them."
        )
    if record.spec_hash != request.spec_hash:
        raise ResumeError(
            f"run {run_id} was made with a different version of the spec (hash "
            f"{record.spec_hash}, now {request.spec_hash}); a resume must use the spec it was "
            "charged for. Restore that spec, or start a new run."
        )
    receipt = charge_for_run(warehouse, run_id)
    if receipt is None:
        raise ResumeError(
            f"run {run_id} stopped before its charge, so it has no measurements to reuse; "
            "start a new run instead (it will be charged)."
        )
    charged = replace(request, cost=PrivacyCost(receipt.epsilon, receipt.delta))
    if charged.cost.charge_for(request.cap) != receipt.rho:
        raise ResumeError(f"run {run_id}'s charge does not match its recorded cost")
    return charged


def release_request(
    spec_path: str,
    home: str | None,
    overrides: ReleaseOverrides | None = None,
    resume_run_id: str | None = None,
) -> ReleaseRequest:
    """The spec's request with the run's overrides and its ledger dataset resolved (a view's
    base table; a missing source is refused here); for a resume, at the run's charged cost."""
    resuming = resume_run_id is not None
    request = apply_overrides(
        load_spec(spec_path).to_request(spec_path), overrides, resuming=resuming
    )
    request = resolve_dataset(request, home, require_source=True)  # a view charges its table
    if resume_run_id is not None:
        request = resumable(request, resume_run_id, home)
    return request


def refuses(plan: ReleasePlan) -> bool:
    """Whether an unaffordable plan fails the run (``on_exhausted: fail``) rather than
    publishing a free refresh instead (``on_exhausted: refresh``)."""
    return not plan.affordable and plan.request.on_exhausted != "refresh"


def preflight(
    spec_path: str,
    home: str | None,
    overrides: ReleaseOverrides | None = None,
    resume_run_id: str | None = None,
) -> ReleaseRequest:
    """Raise the typed error a run of this spec would stop with before reading any row.

    Returns the checked request. A resume re-enters after its charge (nothing to afford; its
    source may be unneeded), so only its run is checked; an unaffordable run that will
    publish a refresh instead reads no source, so its schema is not checked.
    """
    request = release_request(spec_path, home, overrides, resume_run_id)
    if resume_run_id is not None:
        return request
    plan = plan_release_fn(request, home)
    if refuses(plan):
        raise BudgetExhaustedError(plan.refusal())
    if plan.affordable:
        check_source_schema(plan.request, home)
    return plan.request


def refresh_preflight(name: str, home: str | None, spec_path: str | None = None) -> None:
    """Raise what a refresh of ``name`` would stop with before sampling: a bad ``spec_path``,
    or no stored measurements to re-sample ("nothing to refresh")."""
    if spec_path is not None:
        load_spec(spec_path)
    newest_stored_run(name, home)
