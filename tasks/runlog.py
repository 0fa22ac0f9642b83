"""Tasks: a run's id, its start, and its failure with a message that holds no source values."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.runtime import flow_run

from dpcore.errors import DPReleaseError
from tasks.context import warehouse_paths
from tasks.request import ReleaseRequest
from warehouse.publish import published_for_run
from warehouse.runs import RunRecord, get_run, set_status, start_run
from warehouse.vocabulary import ReleaseKind, RunStatus


def new_run_id() -> str:
    """The id of the Prefect flow run this is called in (so the run log, the ledger and the
    Prefect UI name a run alike), or a fresh UUID outside a flow run."""
    current = flow_run.get_id()
    return str(current) if current else str(uuid.uuid4())


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


def is_published(run_id: str, home: str | None) -> bool:
    """Whether the run's version is in the catalog; False if the release file cannot be read
    (e.g. a foreign session holds it): the run must then still be recorded as failed, with
    its error, rather than later taken for a killed one."""
    try:
        return published_for_run(warehouse_paths(home), run_id) is not None
    except DPReleaseError:
        return False


@contextmanager
def failed_unless_published(run_id: str, home: str | None) -> Iterator[None]:
    """Record the run as failed if the block raises before its version went live."""
    try:
        yield
    except BaseException as error:
        if not is_published(run_id, home):
            mark_failed(run_id, error, home)
        raise


record_start = task(name="record run", cache_policy=NO_CACHE)(start_run_fn)
