"""Publishing synthetic tables to the release file, atomically, and reading its catalog.

The release file (``release.duckdb``) holds ``<name>_v<N>`` tables, a view ``<name>`` on the
newest version, and ``catalog`` with one row per version. A publish never writes the live
file: under a lock that serialises publishers, it copies the live file, adds the version in
one transaction, checkpoints, and renames the copy over the live file. Readers holding the
old file keep reading it undisturbed; new readers see the old release or the new one, never
part of one, and a reader can never block a publish.

With a PostgreSQL privacy store (``$DPRELEASE_DATABASE_URL``), publishers on every host
take turns on a database advisory lock as well (:meth:`warehouse.store.PrivacyStore.exclusive`).

A version's rows arrive as a stream of pandas chunks, each inserted into the staging copy
and committed there on its own under a DuckDB ``memory_limit`` (one transaction for all rows
grows DuckDB's memory with the row count); comments, view and catalog row follow in one last
transaction. The staging copy is private until the rename, so this stays atomic: a failure
or crash between chunks leaves the live file untouched and the staging copy is deleted.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb

from dpcore.errors import NotPrivateError
from warehouse import clock
from warehouse.connection import connect, has_table, literal, quote
from warehouse.crosstabs import write_marginals
from warehouse.errors import PublishError
from warehouse.failures import storage_error, storage_kind
from warehouse.faults import crash_point
from warehouse.migrations import AddColumn, Backfill, Step, migrate
from warehouse.paths import WarehousePaths
from warehouse.release_file import (
    attach_release,
    discard_foreign_wal,
    publish_lock,
    wait_until_free,
)
from warehouse.rows import column_names, insert_sql, values_of
from warehouse.spool import SpooledTable, checksum, insert_frame
from warehouse.store import privacy_store
from warehouse.vocabulary import ReleaseKind

if TYPE_CHECKING:  # pandas is imported where chunks arrive: reading commands never need it
    import pandas as pd

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
    kind               VARCHAR NOT NULL DEFAULT 'measured',
    measurement_run    VARCHAR,
    cumulative_rho     DECIMAL(38, 18),
    unit               VARCHAR,
    cost_share         DOUBLE,
    cumulative_share   DOUBLE,
    guarantee          VARCHAR,
    PRIMARY KEY (name, version)
);
COMMENT ON TABLE catalog IS 'One row per published synthetic release version (dprelease).';
"""

# Catalog columns added after the first release: a release file made before them gains them
# on its next publish (older rows: measured versions, their own run as measurement run).
CATALOG_MIGRATIONS: tuple[Step, ...] = (
    AddColumn("catalog", "kind", "VARCHAR DEFAULT 'measured'"),
    AddColumn("catalog", "measurement_run", "VARCHAR"),
    AddColumn("catalog", "cumulative_rho", "DECIMAL(38, 18)"),
    # Whom each version's guarantee protects ('row' or 'person:<key>'; NULL before recorded).
    AddColumn("catalog", "unit", "VARCHAR"),
    # The version's cost and the dataset's total after it, as shares of the lifetime cap
    # (the one budget language, dpcore.accounting.BudgetStatement).
    AddColumn("catalog", "cost_share", "DOUBLE"),
    AddColumn("catalog", "cumulative_share", "DOUBLE"),
    # 'pure' (epsilon-DP, delta 0, Laplace noise) or 'zcdp' ((epsilon, delta) via zCDP);
    # NULL on versions published before pure releases existed, which were all zCDP.
    AddColumn("catalog", "guarantee", "VARCHAR"),
    Backfill("UPDATE catalog SET measurement_run = run_id WHERE measurement_run IS NULL"),
)

RELEASE_KINDS = tuple(ReleaseKind)


@dataclass(frozen=True)
class CatalogRow:
    """One row of the release catalog, column by column (documented in the README)."""

    name: str
    version: int
    table_name: str
    run_id: str
    source: str
    spec_hash: str
    description: str
    method: str
    rows: int
    columns: list[str]
    epsilon: float
    delta: float
    rho: float
    cumulative_epsilon: float
    cumulative_delta: float
    cap_epsilon: float
    cap_delta: float
    created_at: datetime
    utility_passed: bool
    utility: str
    kind: str
    measurement_run: str
    cumulative_rho: Decimal | None
    unit: str
    cost_share: float | None
    cumulative_share: float | None
    guarantee: str

    @classmethod
    def of(
        cls,
        meta: ReleaseMetadata,
        *,
        version: int,
        table_name: str,
        rows: int,
        columns: list[str],
        created_at: datetime,
    ) -> CatalogRow:
        """The catalog row of a version: every column named like a field of ``meta`` is
        copied by name; publishing adds the version, table, rows, columns and time. Only
        ``utility`` (stored as JSON) and ``measurement_run`` (a measured version's own run)
        are converted, so a field added to both classes needs no code here."""
        copied = {name: getattr(meta, name) for name in CATALOG_COLUMNS if hasattr(meta, name)}
        copied.update(
            utility=json.dumps(meta.utility, sort_keys=True, default=str),
            measurement_run=meta.source_run,
        )
        return cls(
            **copied,
            version=version,
            table_name=table_name,
            rows=rows,
            columns=columns,
            created_at=created_at,
        )


CATALOG_COLUMNS = column_names(CatalogRow)
PUBLISHED_COLUMNS = frozenset({"version", "table_name", "rows", "columns", "created_at"})
"""The catalog columns publishing fills in; every other one comes from ReleaseMetadata."""


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
    kind: str = ReleaseKind.MEASURED
    measurement_run: str | None = None
    cumulative_rho: Decimal | None = None
    unit: str = "row"
    cost_share: float | None = None
    cumulative_share: float | None = None
    guarantee: str = "zcdp"
    """``pure`` for a pure epsilon-DP version (delta 0), else ``zcdp``."""

    def __post_init__(self) -> None:
        if self.kind not in RELEASE_KINDS:
            raise ValueError(f"release kind must be one of {RELEASE_KINDS}, got {self.kind!r}")
        if self.kind == ReleaseKind.REFRESH and (self.epsilon or self.delta or self.rho):
            raise ValueError("a refresh spends nothing: its epsilon, delta and rho must be 0")

    @property
    def source_run(self) -> str:
        """The run whose stored measurements this version was sampled from."""
        return self.measurement_run or self.run_id


@dataclass(frozen=True)
class PublishedRelease:
    """A version as it stands in the catalog."""

    name: str
    version: int
    table_name: str
    run_id: str
    rows: int
    created_at: datetime


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
    paths: WarehousePaths,
    frame: pd.DataFrame | Iterable[pd.DataFrame] | SpooledTable,
    meta: ReleaseMetadata,
    *,
    private: bool,
    memory_limit: str | None = None,
    marginals: pd.DataFrame | None = None,
) -> PublishedRelease:
    """Publish ``frame`` (synthetic rows only: a frame, a stream of chunks with the same
    columns, or a spool written while the table was checked, :mod:`warehouse.spool`) as
    the next version of ``meta.name``, with DuckDB held to ``memory_limit`` (default: the
    cap every connection gets, ``$DPRELEASE_DUCKDB_MEMORY``, see ``warehouse.connection``).

    ``marginals`` (:mod:`warehouse.crosstabs`) are the measured crosstabs the version was
    sampled from; they are written in the version's transaction. Idempotent per run id:
    publishing a run that is already in the catalog returns its row (without reading the
    chunks). Refuses output made with a seeded test generator (``private=False``).
    """
    import pandas as pd

    chunks: Iterable[pd.DataFrame] | SpooledTable = (
        [frame] if isinstance(frame, pd.DataFrame) else frame
    )
    if not private:
        raise NotPrivateError(
            "this synthetic table was made with a seeded test generator and is not private; "
            "it cannot be published. Run the release without a test seed."
        )
    # One publisher at a time per release database: the file lock serialises this host's
    # publishers; with a PostgreSQL store, its advisory lock serialises every host's (a file
    # lock on shared storage may not hold across hosts).
    store = privacy_store(paths.warehouse, create=False)
    shared = store.exclusive(f"publish:{paths.release.name}")
    with shared, publish_lock(paths.publish_lock):
        wait_until_free(paths.release)  # a foreign session's writes would be lost, or its WAL
        discard_foreign_wal(paths.release)  # outlive the file it was written for
        for stale in paths.home.glob(".release-*.duckdb*"):
            if stale.is_dir():  # DuckDB's spill directory of a killed publish
                shutil.rmtree(stale, ignore_errors=True)
            else:
                stale.unlink(missing_ok=True)
        staging = paths.home / f".release-{uuid.uuid4().hex}.duckdb"
        try:
            if paths.release.exists():
                shutil.copyfile(paths.release, staging)
            with connect(staging, private=True) as con:
                if memory_limit is not None:
                    con.execute(f"SET memory_limit = {literal(memory_limit)}")
                con.execute(CATALOG_DDL)
                migrate(con, "main", CATALOG_MIGRATIONS)
                done = _existing(con, meta.run_id)
                if done is not None:
                    staging.unlink()
                    return done
                published = _write_version(con, chunks, meta, marginals)
                con.execute("CHECKPOINT")
            _fsync(staging)
            crash_point("before-rename")
            staging.replace(paths.release)
            _fsync(paths.home)
        except BaseException as error:
            staging.unlink(missing_ok=True)
            failure = storage_error(error, paths.home)
            if failure is not None:  # e.g. the disk filled while copying or writing
                raise failure from None
            raise
    return published


def _write_rows(
    con: duckdb.DuckDBPyConnection, table: str, chunks: Iterable[pd.DataFrame] | SpooledTable
) -> tuple[int, list[str]]:
    """Create ``table`` in the private staging copy from the chunks, committing each chunk on
    its own (bounded memory), or copy it from a spool; returns (rows, column names).

    Categorical columns are stored as VARCHAR. The ``while-publishing`` crash point fires
    after the first chunk (between chunks, when there are several) or after the copy.
    """
    if isinstance(chunks, SpooledTable):
        return _copy_spool(con, table, chunks)
    rows = 0
    columns: list[str] | None = None
    for frame in chunks:
        names = [str(c) for c in frame.columns]
        if columns is not None and names != columns:
            raise PublishError(f"a chunk has columns {names}, the first one had {columns}")
        insert_frame(con, table, frame, create=columns is None)
        rows += len(frame)
        if columns is None:
            columns = names
            crash_point("while-publishing")
    if columns is None:
        raise PublishError("there were no rows to publish (not even an empty chunk)")
    return rows, columns


def _copy_spool(
    con: duckdb.DuckDBPyConnection, table: str, spooled: SpooledTable
) -> tuple[int, list[str]]:
    """Copy a spool's table into ``table`` inside DuckDB, then check that the copy has the
    rows and checksum the spool had when it was written and summarised (else nothing is
    published: see :mod:`warehouse.spool`)."""
    if not spooled.path.exists():
        raise PublishError(
            f"the synthetic table's spool {spooled.path.name} is gone; nothing was published. "
            "Resume the run to sample and check it again."
        )
    con.execute(f"ATTACH {literal(str(spooled.path))} AS dprelease_spool (READ_ONLY)")
    try:
        con.begin()
        con.execute(
            f"CREATE TABLE {quote(table)} AS SELECT * FROM dprelease_spool.{quote(spooled.table)}"
        )
        con.commit()
    finally:
        con.execute("DETACH dprelease_spool")
    crash_point("while-publishing")
    if checksum(con, quote(table)) != (spooled.rows, spooled.checksum):
        raise PublishError(
            "the spooled synthetic table differs from the one that was checked; nothing was "
            "published. Resume the run to sample and check it again."
        )
    names = [str(r[0]) for r in con.execute(f"DESCRIBE {quote(table)}").fetchall()]
    return spooled.rows, names


def _write_version(
    con: duckdb.DuckDBPyConnection,
    chunks: Iterable[pd.DataFrame] | SpooledTable,
    meta: ReleaseMetadata,
    marginals: pd.DataFrame | None = None,
) -> PublishedRelease:
    version = int(
        con.execute(
            "SELECT coalesce(max(version), 0) + 1 FROM catalog WHERE name = ?", [meta.name]
        ).fetchall()[0][0]
    )
    table = f"{meta.name}_v{version}"
    now = clock.utc_now()
    conflict = name_conflict(con, meta.name)
    if conflict is not None:
        raise ReleaseNameError(f"{conflict}. Give the release another name (release.name).")
    try:
        rows, columns = _write_rows(con, table, chunks)
        con.begin()
        cost = (
            (
                f"epsilon={meta.epsilon:g}, pure (delta=0)"
                if meta.guarantee == "pure"
                else f"epsilon={meta.epsilon:g}, delta={meta.delta:g}"
            )
            if meta.kind == ReleaseKind.MEASURED
            else f"a refresh re-sampled from run {meta.source_run}'s measurements at no new cost"
        )
        summary = (
            f"{meta.description} Synthetic, differentially private: version {version}, "
            f"{rows} rows, method {meta.method}, {cost}, privacy unit {meta.unit}."
        )
        con.execute(f"COMMENT ON TABLE {quote(table)} IS {literal(summary)}")
        for column, comment in meta.column_comments.items():
            con.execute(f"COMMENT ON COLUMN {quote(table)}.{quote(column)} IS {literal(comment)}")
        con.execute(f"CREATE OR REPLACE VIEW {quote(meta.name)} AS SELECT * FROM {quote(table)}")
        con.execute(
            f"COMMENT ON VIEW {quote(meta.name)} IS "
            f"{literal(f'Newest version of {meta.name} (now {table}). ' + meta.description)}"
        )
        row = CatalogRow.of(
            meta, version=version, table_name=table, rows=rows, columns=columns, created_at=now
        )
        con.execute(insert_sql("catalog", CatalogRow), values_of(row))
        if marginals is not None:
            write_marginals(con, meta.name, version, marginals)
        con.commit()
    except Exception as error:
        with suppress(duckdb.Error):  # there may be no open transaction
            con.rollback()
        if storage_kind(error) is not None:
            raise  # told apart by publish(), which knows the directory
        raise PublishError(f"publishing {table} failed and was rolled back: {error}") from None
    return PublishedRelease(meta.name, version, table, meta.run_id, rows, now)


class ReleaseNameError(PublishError):
    """A release's name collides with an object of the release file it does not own."""


_OBJECTS = """
SELECT table_name, 'table' FROM duckdb_tables()
WHERE database_name = current_database() AND schema_name = 'main'
UNION ALL
SELECT view_name, 'view' FROM duckdb_views()
WHERE database_name = current_database() AND schema_name = 'main' AND NOT internal
"""


def name_conflict(con: duckdb.DuckDBPyConnection, name: str) -> str | None:
    """Why ``name`` cannot be published into the release file ``con`` reads, or None.

    Release ``name`` writes tables ``<name>_v<N>`` and a view ``<name>``. Each object of the
    file with one of those names must be this release's own: its view (the catalog lists
    the name) or a version the catalog gives it. Anything else (``catalog`` itself, another
    release's ``adult_v5`` view or ``adult_v5_v1`` table when publishing ``adult``, a table
    someone made by hand) would be overwritten or would make the publish fail.
    """
    version = re.compile(re.escape(name) + r"_v[0-9]+")
    owners: dict[str, str] = {}
    releases: set[str] = set()
    if has_table(con, "catalog"):
        for release, table in con.execute("SELECT name, table_name FROM catalog").fetchall():
            owners[str(table)] = str(release)
            releases.add(str(release))
    for obj, kind in con.execute(_OBJECTS).fetchall():
        if obj == "catalog" and kind == "table" and name != "catalog":
            continue
        if obj == name:
            if kind == "view" and name in releases:
                continue
        elif not version.fullmatch(obj) or owners.get(obj) == name:
            continue
        if owners.get(obj):
            whose = f"version table of release {owners[obj]!r}"
        elif kind == "view" and obj in releases:
            whose = f"view of release {obj!r}"
        elif obj == "catalog":
            whose = "catalog of versions"
        else:
            whose = f"{kind} that no release in the catalog owns"
        return (
            f"release name {name!r} collides with {obj!r} in the release file, the {whose}: "
            f"release {name!r} publishes {name}_v<N> tables and a view {name!r}, so "
            "publishing it would overwrite that object or fail after the charge"
        )
    return None


def check_release_name(paths: WarehousePaths, name: str) -> None:
    """Refuse, before anything is charged, a name whose objects in the release file belong
    to something else (see :func:`name_conflict`)."""
    if not paths.release.exists():
        return
    with fresh_reader(paths.release) as con:
        conflict = name_conflict(con, name)
    if conflict is not None:
        raise ReleaseNameError(
            f"{conflict}. Nothing was charged. Give the release another name "
            "(release.name in its spec)."
        )


def published_for_run(paths: WarehousePaths, run_id: str) -> PublishedRelease | None:
    """The version a run published, if any."""
    if not paths.release.exists():
        return None
    with fresh_reader(paths.release) as con:
        if not has_table(con, "catalog"):
            return None
        return _existing(con, run_id)


@contextmanager
def fresh_reader(path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only view of the release file as it is now on disk.

    A plain ``duckdb.connect`` reuses an instance this process already holds for the path,
    which after a publish's rename still shows the old file; attaching into a fresh
    in-memory database always opens the current file. A foreign read-write session on the
    file is waited for (bounded) and a foreign WAL cleared (see ``warehouse.release_file``).
    """
    con = duckdb.connect()
    try:
        attach_release(con, path, WarehousePaths(path.parent).publish_lock)
        con.execute("USE release")
        yield con
    finally:
        con.close()


def catalog(paths: WarehousePaths, name: str | None = None) -> list[dict[str, object]]:
    """Catalog rows (newest first), optionally for one release name."""
    if not paths.release.exists():
        return []
    with fresh_reader(paths.release) as con:
        if not has_table(con, "catalog"):
            return []
        result = con.execute(
            f"SELECT {', '.join(CATALOG_COLUMNS)} FROM catalog "
            "WHERE ? IS NULL OR name = ? ORDER BY created_at DESC, version DESC",
            [name, name],
        )
        names = [d[0] for d in result.description]
        return [dict(zip(names, row, strict=True)) for row in result.fetchall()]
