"""The source's schema against the spec, read from the catalog: no source row is read.

The same check ``validate_source`` starts with, callable on its own (and without Prefect)
so the CLI's pre-flight can refuse a missing table or column, or a drifted type, before
any flow or server starts.
"""

from __future__ import annotations

from tasks.context import private_data_boundary, warehouse_paths
from tasks.request import ReleaseRequest
from warehouse.connection import connect
from warehouse.ledger import release_charge_count
from warehouse.source import check_schema, source_columns


def has_released(request: ReleaseRequest, home: str | None) -> bool:
    """Whether this release was charged to its dataset before: a schema mismatch is then
    the table drifting under a working spec, otherwise a new spec not yet fitted to it."""
    return release_charge_count(warehouse_paths(home).warehouse, request.dataset, request.name) > 0


def check_columns(request: ReleaseRequest, columns: dict[str, str], home: str | None) -> None:
    """:func:`check_schema` of the source's ``columns``, worded for a new or a released spec."""
    check_schema(
        columns,
        request.codec,
        request.source_table,
        request.unit,
        released=has_released(request, home),
    )


def check_source_schema(request: ReleaseRequest, home: str | None) -> None:
    """Raise ``SourceNotFoundError`` or ``SchemaDriftError`` if the source does not match.

    DuckDB sources are checked from ``information_schema``; Parquet (``source.engine:
    dask``) from the files' footers.
    """
    with private_data_boundary("reading the source's schema"):
        if request.source_engine == "dask":
            from warehouse.dask_source import check_parquet_schema  # imports Dask: only here

            check_parquet_schema(
                request.source_table,
                request.codec,
                request.unit,
                released=has_released(request, home),
            )
            return
        with connect(warehouse_paths(home).warehouse) as con:
            columns = source_columns(con, request.source_table)
        check_columns(request, columns, home)
