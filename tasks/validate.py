"""Task: check the source exists and matches the spec, then count its input problems in SQL.

Schema problems (missing table, drifted columns or types, no rows) stop the release before
any charge. Value-level problems never do: the spec's rules map them, and the report that
counts them is stored for operators only.
"""

from __future__ import annotations

import json
from dataclasses import asdict

from prefect import task
from prefect.cache_policies import NO_CACHE

from expectations import InputReport, report_from_counts
from tasks.context import private_data_boundary, warehouse_paths
from tasks.request import ReleaseRequest
from tasks.source_schema import check_columns
from warehouse.connection import connect
from warehouse.faults import crash_point
from warehouse.profile import profile_source
from warehouse.runs import set_status
from warehouse.source import check_not_empty, source_columns


def validate_source_fn(request: ReleaseRequest, run_id: str, home: str | None) -> InputReport:
    """Raise a typed error for structural problems; return the operator-only input report."""
    if request.source_engine == "dask":
        return _validate_parquet(request, run_id, home)
    paths = warehouse_paths(home)
    with private_data_boundary("reading the source for validation"):
        with connect(paths.warehouse) as con:
            columns = source_columns(con, request.source_table)
            check_columns(request, columns, home)
            check_not_empty(con, request.source_table)
            profile = profile_source(
                con, request.source_table, request.codec, columns, request.unit
            )
        report = report_from_counts(
            profile.rows, profile.columns, request.codec, profile.null_key_rows
        )
    set_status(
        paths.warehouse,
        run_id,
        "validated",
        input_report=json.dumps(asdict(report), default=str),
    )
    crash_point("after-validation")
    return report


def _validate_parquet(request: ReleaseRequest, run_id: str, home: str | None) -> InputReport:
    """The dask engine: schema from the Parquet footers, then input counts on the cluster."""
    from tasks.dask_engine import dask_client
    from warehouse.dask_source import check_parquet_schema, input_counts

    with private_data_boundary("reading the Parquet source for validation"):
        check_parquet_schema(request.source_table, request.codec, request.unit)
        with dask_client() as client:
            counts = input_counts(client, request.source_table, request.codec, request.unit)
    report = report_from_counts(counts.rows, counts.columns, request.codec, counts.null_key_rows)
    set_status(
        warehouse_paths(home).warehouse,
        run_id,
        "validated",
        input_report=json.dumps(asdict(report), default=str),
    )
    crash_point("after-validation")
    return report


validate_source = task(name="validate source", cache_policy=NO_CACHE)(validate_source_fn)
