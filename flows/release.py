"""The ``release`` flow: spec → validate → charge → measure → synthesize → check → publish.

The charge is committed before any noise is drawn; measurements are stored under the run id,
so a retry or ``resume_run_id`` re-enters after the charge and never pays or draws twice.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from pathlib import Path

from prefect import flow, get_run_logger
from prefect.runtime import flow_run

from dpcore.accounting import PrivacyCost
from dpcore.errors import DPReleaseError
from flows.overrides import ReleaseOverrides, apply_overrides
from flows.progress import step
from flows.spec import load_spec
from tasks.artifacts import publish_artifacts
from tasks.budget import charge_budget, plan_release, require_affordable
from tasks.measure import measure
from tasks.publish import publish_release
from tasks.report import write_release_report
from tasks.request import ReleaseRequest
from tasks.runlog import find_run, mark_failed, record_start, safe_error_text
from tasks.synthesize import synthesize_table
from tasks.utility import check_utility_task, require_utility
from tasks.validate import validate_source
from warehouse.ledger import charge_for_run
from warehouse.paths import WarehousePaths
from warehouse.publish import published_for_run


class ResumeError(DPReleaseError):
    """A run cannot be resumed (unknown, never charged, or for another release)."""


@dataclass(frozen=True)
class ReleaseOutcome:
    """What a release run did, for the CLI and callers."""

    run_id: str
    name: str
    version: int
    table_name: str
    rows: int
    epsilon: float
    delta: float
    resumed: bool
    utility_passed: bool
    report: str | None


def _new_run_id() -> str:
    current = flow_run.get_id()
    return str(current) if current else str(uuid.uuid4())


def _resumable(request: ReleaseRequest, run_id: str, home: str | None) -> ReleaseRequest:
    """The request as the run was charged for it; refuses unknown, unpaid or changed runs.

    A resume spends nothing new, so it must measure (if it still has to) at exactly the cost
    the ledger recorded for the run, with the spec the run started with.
    """
    record = find_run(run_id, home)
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
    receipt = charge_for_run(WarehousePaths.from_env(home).warehouse, run_id)
    if receipt is None:
        raise ResumeError(
            f"run {run_id} stopped before its charge, so it has no measurements to reuse; "
            "start a new run instead (it will be charged)."
        )
    charged = replace(request, cost=PrivacyCost(receipt.epsilon, receipt.delta))
    if charged.cost.ledger_rho != receipt.rho:
        raise ResumeError(f"run {run_id}'s charge does not match its recorded cost")
    return charged


@flow(name="release", flow_run_name="release {spec_path}", validate_parameters=True)
def release(
    spec_path: str,
    resume_run_id: str | None = None,
    home: str | None = None,
    overrides: ReleaseOverrides | None = None,
) -> ReleaseOutcome:
    """Run one release from its spec file; with ``resume_run_id``, reuse that run's charge.

    ``overrides`` may lower the spec's epsilon or set the rows to generate for this run only
    (a higher epsilon is refused: see :mod:`flows.overrides`).
    """
    logger = get_run_logger()
    resumed = resume_run_id is not None
    request = apply_overrides(
        load_spec(spec_path).to_request(spec_path), overrides, resuming=resumed
    )
    run_id = resume_run_id or _new_run_id()
    if resumed:
        request = _resumable(request, run_id, home)
    record_start(request, run_id, home)
    logger.info("release %s, run %s%s", request.name, run_id, " (resume)" if resumed else "")
    try:
        if resumed:
            receipt = charge_for_run(WarehousePaths.from_env(home).warehouse, run_id)
            assert receipt is not None
        else:
            with step("planning"):
                plan = plan_release(request, home)
                require_affordable(plan)
            with step("loading and validating source"):
                validate_source(request, run_id, home)
            logger.info("source validated; the input report is stored for operators only")
            with step("charging budget"):
                receipt = charge_budget(request, run_id, home)
            logger.info(
                "charged epsilon=%g delta=%g to %s",
                receipt.epsilon,
                receipt.delta,
                request.dataset,
            )
        with step("measuring marginals"):
            measurements = measure(request, run_id, home)
        logger.info("%d noisy marginals ready", len(measurements))
        with step("fitting and sampling"):
            table = synthesize_table(request, measurements)
        with step("checking utility"):
            utility = check_utility_task(request, table, measurements)
        require_utility(utility, run_id)
        with step("publishing"):
            published = publish_release(request, run_id, table, utility, receipt, home)
        logger.info("published release.%s (%d rows)", published.table_name, published.rows)
        report: Path | None = None
        with step("writing report and artifacts"):
            try:
                report = write_release_report(
                    request, published, receipt, measurements, table, utility.success, home
                )
                logger.info("release report written to %s", report)
                publish_artifacts(request, published, utility, run_id, home, report, measurements)
            except Exception as error:  # the release stands: a missing report must not fail it
                logger.warning(
                    "release.%s is published and complete, but its report or artifacts were "
                    "not written (%s)",
                    published.table_name,
                    safe_error_text(error),
                )
    except BaseException as error:
        if published_for_run(WarehousePaths.from_env(home), run_id) is None:
            mark_failed(run_id, error, home)
        raise
    return ReleaseOutcome(
        run_id=run_id,
        name=request.name,
        version=published.version,
        table_name=published.table_name,
        rows=published.rows,
        epsilon=receipt.epsilon,
        delta=receipt.delta,
        resumed=resumed,
        utility_passed=utility.success,
        report=None if report is None else str(report),
    )
