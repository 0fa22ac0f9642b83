"""Task: find what a refresh re-samples: the newest stored measurements of a release.

A refresh publishes a new version from measurements that were already paid for, so it
reads no source rows and charges nothing. It needs the run's measurements, the charge that
paid for them (for the catalog's provenance) and the spec they were measured with (for the
public domain), all of which the warehouse keeps per run.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from prefect import task
from prefect.cache_policies import NO_CACHE

from dpcore.marginals import Measurement
from tasks.context import warehouse_paths
from tasks.stored import NothingToRefreshError, nothing_to_refresh
from warehouse.ledger import Charge, charge_for_run
from warehouse.measurements import load_measurements, newest_measured_run
from warehouse.runs import get_run, set_kind
from warehouse.vocabulary import ReleaseKind

__all__ = ["NothingToRefreshError", "RefreshSource", "mark_refresh", "refresh_source"]


@dataclass(frozen=True)
class RefreshSource:
    """A measured run to re-sample: its measurements, their charge and its stored spec."""

    run_id: str
    spec_hash: str
    spec_path: str
    spec_json: str | None
    receipt: Charge
    dataset: str
    measurements: list[Measurement] = field(repr=False)


def refresh_source_fn(release: str, home: str | None) -> RefreshSource:
    """The newest run of ``release`` with stored measurements; raises if there is none."""
    path = warehouse_paths(home).warehouse
    run_id = newest_measured_run(path, release)
    record = None if run_id is None else get_run(path, run_id)
    receipt = None if run_id is None else charge_for_run(path, run_id)
    measurements = None if run_id is None else load_measurements(path, run_id)
    if run_id is None or record is None or receipt is None or measurements is None:
        raise nothing_to_refresh(release)
    return RefreshSource(
        run_id,
        record.spec_hash,
        record.spec_path,
        record.spec_json,
        receipt,
        record.dataset,
        measurements,
    )


def mark_refresh_fn(run_id: str, source_run: str, home: str | None) -> None:
    """Record that the run is a refresh of ``source_run``'s measurements (no charge)."""
    set_kind(warehouse_paths(home).warehouse, run_id, ReleaseKind.REFRESH, source_run)


refresh_source = task(name="find stored measurements", cache_policy=NO_CACHE)(refresh_source_fn)
mark_refresh = task(name="mark run as refresh", cache_policy=NO_CACHE)(mark_refresh_fn)
