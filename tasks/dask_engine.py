"""The dask source engine's side of the tasks: its cluster and count oracle.

The cluster is opened through Prefect's Dask integration (``prefect_dask.DaskTaskRunner``):
it connects to ``$DPRELEASE_DASK_ADDRESS`` when set, else starts a local cluster for the
run. Imported only by runs whose spec says ``source.engine: dask`` (the ``dask`` extra).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

from prefect_dask import DaskTaskRunner

from dpcore.marginals import CountOracle
from tasks.request import ReleaseRequest
from warehouse.dask_source import DaskClient, DaskOracle

ADDRESS_ENV = "DPRELEASE_DASK_ADDRESS"


def cluster_runner() -> DaskTaskRunner:
    """A Dask task runner on the configured cluster, or on a local one started for the run."""
    address = os.environ.get(ADDRESS_ENV, "").strip()
    if address:
        return DaskTaskRunner(address=address)
    return DaskTaskRunner(
        cluster_kwargs={
            "n_workers": max(1, min(4, os.cpu_count() or 1)),
            "threads_per_worker": 1,
            "processes": False,
            "dashboard_address": None,
            # Dask logs a failed task's error and arguments, which may quote source values.
            "silence_logs": logging.CRITICAL,
        }
    )


@contextmanager
def dask_client() -> Iterator[DaskClient]:
    """A client on the run's cluster, closed (and a local cluster stopped) on exit.

    While it is open, Dask's own loggers in this process are silenced below CRITICAL: their
    reports of failed tasks quote errors and arguments, which may hold source values (a
    remote cluster's workers log on their own hosts: keep those logs as private as the data).
    """
    dask_logger = logging.getLogger("distributed")
    level = dask_logger.level
    dask_logger.setLevel(logging.CRITICAL)
    try:
        with cluster_runner() as runner:
            yield runner.client
    finally:
        dask_logger.setLevel(level)


def dask_oracle(request: ReleaseRequest, stack: ExitStack) -> Callable[[Any], CountOracle]:
    """An oracle factory for ``measure_once``: connects to the cluster when first called (not
    when stored measurements are reused), and stays connected until ``stack`` closes."""
    clients: list[DaskClient] = []

    def make(_con: Any) -> CountOracle:
        if not clients:
            clients.append(stack.enter_context(dask_client()))
        return DaskOracle(clients[0], request.source_table, request.codec, request.unit)

    return make
