"""Tasks: record a run's start, and its failure with a message that holds no source values."""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE

from dpcore.errors import DPReleaseError
from tasks.context import warehouse_paths
from tasks.request import ReleaseRequest
from warehouse.runs import RunRecord, get_run, set_status, start_run
from warehouse.vocabulary import ReleaseKind, RunStatus


def start_run_fn(
    request: ReleaseRequest, run_id: str, home: str | None, refresh_of: str | None = None
) -> RunRecord:
    """Create the run's record (or return it for a resume or retry); ``refresh_of`` marks a
    refresh of that run's stored measurements."""
    paths = warehouse_paths(home)
    return start_run(
        paths.warehouse,
        run_id=run_id,
        release=request.name,
        dataset=request.dataset,
        spec_hash=request.spec_hash,
        spec_path=request.spec_path,
        spec_json=request.spec_json,
        kind=ReleaseKind.MEASURED if refresh_of is None else ReleaseKind.REFRESH,
        measurement_run=refresh_of,
    )


def find_run(run_id: str, home: str | None) -> RunRecord | None:
    """A run's record, if it exists."""
    return get_run(warehouse_paths(home).warehouse, run_id)


def safe_error_text(error: BaseException) -> str:
    """Our typed errors' own words; for anything else only its type (text may hold values)."""
    if isinstance(error, DPReleaseError):
        return f"{type(error).__name__}: {error}"
    return f"{type(error).__name__} (details withheld: they may quote source values)"


def mark_failed(run_id: str, error: BaseException, home: str | None) -> None:
    """Record the run as failed with a safe message."""
    set_status(
        warehouse_paths(home).warehouse, run_id, RunStatus.FAILED, error=safe_error_text(error)
    )


record_start = task(name="record run", cache_policy=NO_CACHE)(start_run_fn)
