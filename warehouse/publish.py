"""Publishing synthetic tables to the release file, atomically, and reading its catalog.

The release file (``release.duckdb``) holds ``<name>_v<N>`` tables, a view ``<name>`` on the
newest version, and ``catalog`` with one row per version. A publish never writes the live
file: under a lock that serialises publishers, it copies the live file, adds the version in
one transaction, checkpoints, and renames the copy over the live file. Readers holding the
old file keep reading it undisturbed; new readers see the old release or the new one, never
part of one, and a reader can never block a publish.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pandas as pd

from dpcore.errors import NotPrivateError
from warehouse.connection import connect, literal, quote
from warehouse.errors import PublishError
from warehouse.faults import crash_point
from warehouse.paths import WarehousePaths

CATALOG_DDL = """
CREATE TABLE IF NOT EXISTS catalog (
    name               VARCHAR NOT NULL,
    version            INTEGER NOT NULL,
    table_name         VARCHAR NOT NULL,
    run_id             VARCHAR NOT NULL UNIQUE,
    source             VARCHAR NOT NULL,
    spec_hash          VARCHAR NOT NULL,
    description        VARCHAR NOT NULL,
    method             VARCHAR NOT NULL,
    rows               BIGINT NOT NULL,
    columns            VARCHAR[] NOT NULL,
    epsilon            DOUBLE NOT NULL,
    delta              DOUBLE NOT NULL,
    rho                DOUBLE NOT NULL,
    cumulative_epsilon DOUBLE NOT NULL,
    cumulative_delta   DOUBLE NOT NULL,
    cap_epsilon        DOUBLE NOT NULL,
    cap_delta          DOUBLE NOT NULL,
    created_at         TIMESTAMPTZ NOT NULL,
    utility_passed     BOOLEAN NOT NULL,
    utility            VARCHAR NOT NULL,
    PRIMARY KEY (name, version)
);
COMMENT ON TABLE catalog IS 'One row per published synthetic release version (dprelease).';
"""

CATALOG_COLUMNS = (
    "name",
    "version",
    "table_name",
    "run_id",
    "source",
    "spec_hash",
    "description",
    "method",
    "rows",
    "columns",
    "epsilon",
    "delta",
    "rho",
    "cumulative_epsilon",
    "cumulative_delta",
    "cap_epsilon",
    "cap_delta",
    "created_at",
    "utility_passed",
    "utility",
)


@dataclass(frozen=True)
class ReleaseMetadata:
    """What the catalog records about a version, all from DP outputs and the spec."""

    name: str
    run_id: str
    source: str
    spec_hash: str
    description: str
    method: str
    epsilon: float
    delta: float
    rho: float
    cumulative_epsilon: float
    cumulative_delta: float
    cap_epsilon: float
    cap_delta: float
    utility_passed: bool
    utility: dict[str, object]
    column_comments: dict[str, str]


@dataclass(frozen=True)
class PublishedRelease:
    """A version as it stands in the catalog."""

    name: str
    version: int
    table_name: str
    run_id: str
    rows: int
    created_at: datetime


@contextmanager
def _publish_lock(path: Path) -> Iterator[None]:
    with path.open("a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _existing(con: duckdb.DuckDBPyConnection, run_id: str) -> PublishedRelease | None:
    row = con.execute(
        "SELECT name, version, table_name, run_id, rows, created_at FROM catalog WHERE run_id = ?",
        [run_id],
    ).fetchone()
    return None if row is None else PublishedRelease(*row)


def publish(
    paths: WarehousePaths, frame: pd.DataFrame, meta: ReleaseMetadata, *, private: bool
) -> PublishedRelease:
    """Publish ``frame`` (synthetic rows only) as the next version of ``meta.name``.

    Idempotent per run id: publishing a run that is already in the catalog returns its row.
    Refuses output made with a seeded test generator (``private=False``).
    """
    if not private:
        raise NotPrivateError(
            "this synthetic table was made with a seeded test generator and is not private; "
            "it cannot be published. Run the release without a test seed."
        )
    with _publish_lock(paths.publish_lock):
        for stale in paths.home.glob(".release-*.duckdb*"):
            stale.unlink(missing_ok=True)
        staging = paths.home / f".release-{uuid.uuid4().hex}.duckdb"
        if paths.release.exists():
            shutil.copyfile(paths.release, staging)
        try:
            with connect(staging, private=True) as con:
                con.execute(CATALOG_DDL)
                done = _existing(con, meta.run_id)
                if done is not None:
                    staging.unlink()
                    return done
                published = _write_version(con, frame, meta)
                con.execute("CHECKPOINT")
            _fsync(staging)
            crash_point("before-rename")
            staging.replace(paths.release)
            _fsync(paths.home)
        except BaseException:
            staging.unlink(missing_ok=True)
            raise
    return published


def _write_version(
    con: duckdb.DuckDBPyConnection, frame: pd.DataFrame, meta: ReleaseMetadata
) -> PublishedRelease:
    version = int(
        con.execute(
            "SELECT coalesce(max(version), 0) + 1 FROM catalog WHERE name = ?", [meta.name]
        ).fetchall()[0][0]
    )
    table = f"{meta.name}_v{version}"
    now = datetime.now(UTC)
    con.begin()
    try:
        con.register("dprelease_synthetic", frame)
        con.execute(f"CREATE TABLE {quote(table)} AS SELECT * FROM dprelease_synthetic")
        con.unregister("dprelease_synthetic")
        crash_point("while-publishing")
        summary = (
            f"{meta.description} Synthetic, differentially private: version {version}, "
            f"{len(frame)} rows, method {meta.method}, epsilon={meta.epsilon:g}, "
            f"delta={meta.delta:g}."
        )
        con.execute(f"COMMENT ON TABLE {quote(table)} IS {literal(summary)}")
        for column, comment in meta.column_comments.items():
            con.execute(f"COMMENT ON COLUMN {quote(table)}.{quote(column)} IS {literal(comment)}")
        con.execute(f"CREATE OR REPLACE VIEW {quote(meta.name)} AS SELECT * FROM {quote(table)}")
        con.execute(
            f"COMMENT ON VIEW {quote(meta.name)} IS "
            f"{literal(f'Newest version of {meta.name} (now {table}). ' + meta.description)}"
        )
        placeholders = ", ".join("?" for _ in CATALOG_COLUMNS)
        con.execute(
            f"INSERT INTO catalog ({', '.join(CATALOG_COLUMNS)}) VALUES ({placeholders})",
            [
                meta.name,
                version,
                table,
                meta.run_id,
                meta.source,
                meta.spec_hash,
                meta.description,
                meta.method,
                len(frame),
                list(frame.columns),
                meta.epsilon,
                meta.delta,
                meta.rho,
                meta.cumulative_epsilon,
                meta.cumulative_delta,
                meta.cap_epsilon,
                meta.cap_delta,
                now,
                meta.utility_passed,
                json.dumps(meta.utility, sort_keys=True, default=str),
            ],
        )
        con.commit()
    except Exception as error:
        con.rollback()
        raise PublishError(f"publishing {table} failed and was rolled back: {error}") from None
    return PublishedRelease(meta.name, version, table, meta.run_id, len(frame), now)


def published_for_run(paths: WarehousePaths, run_id: str) -> PublishedRelease | None:
    """The version a run published, if any."""
    if not paths.release.exists():
        return None
    with fresh_reader(paths.release) as con:
        if not _has_catalog(con):
            return None
        return _existing(con, run_id)


@contextmanager
def fresh_reader(path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only view of the release file as it is now on disk.

    A plain ``duckdb.connect`` reuses an instance this process already holds for the path,
    which after a publish's rename still shows the old file; attaching into a fresh
    in-memory database always opens the current file.
    """
    con = duckdb.connect()
    try:
        con.execute(f"ATTACH {literal(str(path))} AS release (READ_ONLY)")
        con.execute("USE release")
        yield con
    finally:
        con.close()


def _has_catalog(con: duckdb.DuckDBPyConnection) -> bool:
    return bool(
        con.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'catalog' "
            "AND database_name = current_database()"
        ).fetchall()[0][0]
    )


def catalog(paths: WarehousePaths, name: str | None = None) -> list[dict[str, object]]:
    """Catalog rows (newest first), optionally for one release name."""
    if not paths.release.exists():
        return []
    with fresh_reader(paths.release) as con:
        if not _has_catalog(con):
            return []
        result = con.execute(
            f"SELECT {', '.join(CATALOG_COLUMNS)} FROM catalog "
            "WHERE ? IS NULL OR name = ? ORDER BY created_at DESC, version DESC",
            [name, name],
        )
        names = [d[0] for d in result.description]
        return [dict(zip(names, row, strict=True)) for row in result.fetchall()]
