"""Task: measure noisy marginals once per run, after its charge, and store them."""

from __future__ import annotations

from contextlib import ExitStack

from prefect import task
from prefect.cache_policies import NO_CACHE

from dpcore.marginals import CountOracle, Measurement
from dpcore.noise import secure_source
from tasks.context import private_data_boundary, warehouse_paths
from tasks.request import ReleaseRequest
from tasks.retry import retry_unless_permanent
from warehouse.faults import crash_point
from warehouse.measurements import measure_once
from warehouse.runs import set_status
from warehouse.vocabulary import RunStatus


def measure_fn(request: ReleaseRequest, run_id: str, home: str | None) -> list[Measurement]:
    """Stored measurements of the run, drawn now (secure noise) only if none are stored."""
    paths = warehouse_paths(home)
    synthesizer = request.synthesizer()
    domain = request.codec.domain

    def draw(oracle: CountOracle) -> list[Measurement]:
        return synthesizer.measure(domain, request.measure_rho, oracle, secure_source())

    with private_data_boundary("measuring marginals"), ExitStack() as stack:
        oracle = None
        if request.source_engine == "dask":  # counted on a Dask cluster (the `dask` extra)
            from tasks.dask_engine import dask_oracle

            oracle = dask_oracle(request, stack)
        measurements, _reused = measure_once(
            paths.warehouse,
            run_id,
            request.source_table,
            request.codec,
            draw,
            request.unit,
            oracle=oracle,
            candidates=synthesizer.candidates(domain),
        )
    crash_point("after-measurements")
    set_status(paths.warehouse, run_id, RunStatus.MEASURED)
    return measurements


measure = task(
    name="measure marginals",
    cache_policy=NO_CACHE,
    retries=2,
    retry_delay_seconds=1,
    retry_condition_fn=retry_unless_permanent,  # a refusal (e.g. a drifted source) is final
)(measure_fn)
