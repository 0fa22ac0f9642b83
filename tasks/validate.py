"""Task: check the source exists and matches the spec, then run the GX input suite.

Schema problems (missing table, drifted columns or types, no rows) stop the release before
any charge. Value-level problems never do: the spec's rules map them, and the report that
counts them is stored for operators only.
"""

from __future__ import annotations

import json
from dataclasses import asdict

from prefect import task
from prefect.cache_policies import NO_CACHE

from expectations import InputReport, validate_input
from tasks.context import private_data_boundary, warehouse_paths
from tasks.request import ReleaseRequest
from warehouse.connection import connect
from warehouse.faults import crash_point
from warehouse.runs import set_status
from warehouse.source import check_not_empty, check_schema, read_columns, source_columns


def validate_source_fn(request: ReleaseRequest, run_id: str, home: str | None) -> InputReport:
    """Raise a typed error for structural problems; return the operator-only input report."""
    paths = warehouse_paths(home)
    with private_data_boundary("reading the source for validation"):
        with connect(paths.warehouse) as con:
            columns = source_columns(con, request.source_table)
            check_schema(columns, request.codec, request.source_table, request.unit)
            check_not_empty(con, request.source_table)
            frame = read_columns(con, request.source_table, request.codec)
        report = validate_input(frame, request.codec)
        del frame
    set_status(
        paths.warehouse,
        run_id,
        "validated",
        input_report=json.dumps(asdict(report), default=str),
    )
    crash_point("after-validation")
    return report


validate_source = task(name="validate source", cache_policy=NO_CACHE)(validate_source_fn)
