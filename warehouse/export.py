"""Exporting a published release version to Parquet or CSV, for consumers without DuckDB.

Reads only the release file (synthetic tables and the catalog), read-only, so an export
never blocks a publish. The file is written beside its destination and renamed into place,
so a reader never sees half an export.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from dpcore.errors import DPReleaseError
from warehouse.connection import literal, quote
from warehouse.paths import WarehousePaths
from warehouse.publish import fresh_reader

ExportFormat = Literal["parquet", "csv"]
FORMATS: tuple[ExportFormat, ...] = ("parquet", "csv")


class ReleaseNotFoundError(DPReleaseError):
    """The requested release name or version is not in the catalog."""


@dataclass(frozen=True)
class ExportResult:
    """What was exported where."""

    table_name: str
    version: int
    rows: int
    path: Path
    format: ExportFormat


def resolve_version(paths: WarehousePaths, name: str, version: int | None) -> tuple[str, int]:
    """The table name and version of ``name`` (its newest version if ``version`` is None)."""
    if not paths.release.exists():
        raise ReleaseNotFoundError(
            f"nothing is published in {paths.release} yet; run a release first "
            "(`dprelease demo` or `dprelease run SPEC`)."
        )
    with fresh_reader(paths.release) as con:
        rows = con.execute(
            "SELECT version, table_name FROM catalog WHERE name = ? ORDER BY version",
            [name],
        ).fetchall()
    if not rows:
        raise ReleaseNotFoundError(
            f"there is no release named {name!r}; `dprelease releases` lists them."
        )
    versions = {int(v): str(t) for v, t in rows}
    chosen = max(versions) if version is None else version
    if chosen not in versions:
        raise ReleaseNotFoundError(
            f"release {name!r} has no version {chosen}; its versions are "
            f"{', '.join(str(v) for v in sorted(versions))}."
        )
    return versions[chosen], chosen


def export_release(
    paths: WarehousePaths,
    name: str,
    *,
    version: int | None = None,
    fmt: ExportFormat = "parquet",
    output: Path | None = None,
) -> ExportResult:
    """Copy a release version to ``output`` (default ``./<name>_v<N>.<fmt>``)."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}; use one of {', '.join(FORMATS)}")
    table, chosen = resolve_version(paths, name, version)
    target = (output or Path(f"{table}.{fmt}")).resolve()
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.partial")
    options = "FORMAT parquet" if fmt == "parquet" else "FORMAT csv, HEADER true"
    with fresh_reader(paths.release) as con:
        rows = int(con.execute(f"SELECT count(*) FROM {quote(table)}").fetchall()[0][0])
        con.execute(f"COPY {quote(table)} TO {literal(str(partial))} ({options})")
    partial.replace(target)
    return ExportResult(table, chosen, rows, target, fmt)
