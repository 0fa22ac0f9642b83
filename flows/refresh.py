"""Refreshes: a new version re-sampled from a release's newest stored measurements.

A refresh reads no source rows and charges nothing: it fits the model again to noisy
measurements that were already paid for and publishes a fresh synthetic sample, marked
``refresh`` in the catalog with the run it came from. It is what ``dprelease refresh NAME``
runs, and what a scheduled release with ``privacy.on_exhausted: refresh`` does once the
budget can no longer pay for a measured run.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Annotated

from prefect import flow, get_run_logger
from pydantic import Field

from dpcore.errors import DPReleaseError
from flows.finish import ReleaseOutcome, sample_check_publish
from flows.progress import step
from flows.refusal import run_refusing
from flows.run_labels import refresh_run_name
from flows.spec import load_spec, parse_spec
from tasks.refresh import RefreshSource, mark_refresh, refresh_source
from tasks.request import ReleaseRequest
from tasks.runlog import failed_unless_published, new_run_id, record_start
from tasks.utility import warm_utility_checks


class RefreshSpecError(DPReleaseError):
    """The spec that a stored measurement run was made with cannot be recovered."""


def refresh_request(source: RefreshSource, current: ReleaseRequest | None) -> ReleaseRequest:
    """The request exactly as ``source`` was measured: its stored spec, or ``current`` if the
    run predates stored specs and ``current`` has the same hash."""
    if source.spec_json is not None:
        request = parse_spec(json.loads(source.spec_json), source.spec_path).to_request(
            source.spec_path
        )
        if request.spec_hash == source.spec_hash:
            return replace(request, dataset_table=source.dataset)
    if current is not None and current.spec_hash == source.spec_hash:
        return replace(current, dataset_table=source.dataset)
    raise RefreshSpecError(
        f"run {source.run_id} was measured with a spec (hash {source.spec_hash}) that is not "
        "stored with it and differs from the one given; pass the spec it was made with "
        "(`dprelease refresh NAME --spec PATH`)."
    )


def refresh_in_run(
    name: str,
    run_id: str,
    home: str | None,
    current: ReleaseRequest | None = None,
    *,
    rows: int | None = None,
    source: RefreshSource | None = None,
) -> ReleaseOutcome:
    """Publish a refresh of ``name`` as run ``run_id`` (already recorded as started), from
    ``source`` or, if not given, the release's newest stored measurements. GX's child
    starts importing once the measurements and their spec are found, while the model fits."""
    logger = get_run_logger()
    if source is None:
        with step("finding stored measurements"):
            source = refresh_source(name, home)
    request = refresh_request(source, current)
    if rows is not None:
        request = replace(request, rows=rows)
    mark_refresh(run_id, source.run_id, home)
    logger.info(
        "refresh of %s from the measurements of run %s: no privacy cost", name, source.run_id
    )
    with warm_utility_checks():
        return sample_check_publish(
            request, run_id, source.measurements, source.receipt, home, refresh_of=source.run_id
        )


@flow(name="refresh", flow_run_name=refresh_run_name, validate_parameters=True)
def refresh(
    name: str,
    home: str | None = None,
    spec_path: str | None = None,
    rows: Annotated[int, Field(gt=0, le=100_000_000)] | None = None,
) -> ReleaseOutcome:
    """Publish a new version of release ``name`` from its newest stored measurements, free.

    ``rows`` sets the synthetic rows (default: as the spec says, usually the noisy total).
    ``spec_path`` is needed only for runs recorded before specs were stored with them.
    A refusal ends the run Failed with its message, no traceback (:mod:`flows.refusal`).
    """
    return run_refusing(home, lambda: _refresh(name, home, spec_path, rows))


def _refresh(
    name: str, home: str | None, spec_path: str | None, rows: int | None
) -> ReleaseOutcome:
    """Find the newest stored measurements, record the run, then sample and publish."""
    current = None if spec_path is None else load_spec(spec_path).to_request(spec_path)
    with step("finding stored measurements"):
        source = refresh_source(name, home)
    request = refresh_request(source, current)
    run_id = new_run_id()
    record_start(request, run_id, home, refresh_of=source.run_id)
    with failed_unless_published(run_id, home):
        return refresh_in_run(name, run_id, home, request, rows=rows, source=source)
