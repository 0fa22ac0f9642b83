"""A synthetic table written once, to a private scratch file, while it is summarised.

The release samples and decodes its synthetic table chunk by chunk, once, to summarise it
for the utility checks; :class:`SpoolWriter` writes the same chunks into a scratch DuckDB
file (``<home>/spool/<uuid>.duckdb``, committed chunk by chunk under the memory cap), and
publishing copies that table into the staging copy of the release file inside DuckDB
(:func:`warehouse.publish.publish`), instead of sampling and decoding the whole table again.

Published = validated. The spool's name is fresh per synthesis and is known only to the
in-memory :class:`SpooledTable` handed from the synthesis to the checks to the publish of
one run attempt; a resumed run synthesises (and checks) again into a new spool, so no
spool is ever read by an attempt that did not validate it. :class:`SpooledTable` also holds
the row count and an order-independent checksum (the sum of every row's hash) taken when the
spool was written, and the publish recomputes both on the table it wrote into the staging
copy before the rename: a spool changed or damaged in between fails the publish, leaving
the live release untouched.

The utility step's Great Expectations checks read the spool too (:func:`read_batches`, a
read-only connection), in batches, with the dtypes the release decodes to: GX validates the
rows as written, the publish copies them only if they still have the written checksum, so
published = validated, and nothing is sampled twice. A value
the declared categories do not hold is read as an extra category (never as NULL), so the
checks see it; the reader counts the rows it hands over against the spool's.

Spools hold synthetic rows only (not private data). A published run's spool is deleted; one
left by a killed run is deleted by the next synthesis once it is a day old.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

import duckdb

from warehouse.connection import limit_memory, literal, quote
from warehouse.errors import PublishError
from warehouse.paths import WarehousePaths

if TYPE_CHECKING:
    import pandas as pd

SPOOL_TABLE = "synthetic"
STALE_AFTER_S = 24 * 3600.0
_CHUNK_VIEW = "dprelease_synthetic_chunk"


@dataclass(frozen=True)
class SpooledTable:
    """A written spool: its file, table, row count, columns and checksum (see module)."""

    path: Path
    rows: int
    columns: tuple[str, ...]
    checksum: str
    table: str = SPOOL_TABLE


def spool_dir(paths: WarehousePaths) -> Path:
    """Where spools live (created)."""
    path = paths.home / "spool"
    path.mkdir(parents=True, exist_ok=True)
    return path


def insert_frame(
    con: duckdb.DuckDBPyConnection, table: str, frame: pd.DataFrame, *, create: bool
) -> None:
    """Create ``table`` from ``frame`` or append it, in its own transaction; categorical
    columns are stored as VARCHAR."""
    import pandas as pd

    select = ", ".join(
        f"CAST({quote(str(n))} AS VARCHAR) AS {quote(str(n))}"
        if isinstance(frame[n].dtype, pd.CategoricalDtype)
        else quote(str(n))
        for n in frame.columns
    )
    con.register(_CHUNK_VIEW, frame)
    try:
        verb = f"CREATE TABLE {quote(table)} AS" if create else f"INSERT INTO {quote(table)}"
        con.begin()
        con.execute(f"{verb} SELECT {select} FROM {_CHUNK_VIEW}")
        con.commit()
    finally:
        con.unregister(_CHUNK_VIEW)


def checksum(con: duckdb.DuckDBPyConnection, table: str) -> tuple[int, str]:
    """Rows of ``table`` and the sum of its rows' hashes (order-independent), as text."""
    row = con.execute(
        f"SELECT count(*), coalesce(sum(hash(t)::HUGEINT), 0)::VARCHAR FROM {table} AS t"
    ).fetchall()[0]
    return int(row[0]), str(row[1])


def read_batches(
    spooled: SpooledTable, categories: Mapping[str, Sequence[str]], sizes: Sequence[int]
) -> Iterator[pd.DataFrame]:
    """The spool's rows in the order written, in batches of ``sizes`` rows (which must add
    up to the spool's rows), one batch (and part of the next) in memory at a time.

    Dtypes are those of the decoded chunks (``tasks.synthesize.decode_frame``): each column
    named in ``categories`` a pandas categorical over those values, then any other value the
    spool holds (sorted), so a bad value reaches the checks instead of reading as NULL;
    ``BIGINT`` as ``Int64``, ``DOUBLE`` as ``Float64``. Raises :class:`PublishError` if the
    spool holds other than the rows it was written with.
    """
    import pandas as pd

    if sum(sizes) != spooled.rows:
        raise PublishError(f"batches of {sum(sizes):,} rows asked of a spool of {spooled.rows:,}")
    with duckdb.connect(str(spooled.path), read_only=True) as con:
        limit_memory(con)
        select = ", ".join(_typed_column(con, spooled, str(n), categories) for n in spooled.columns)
        query = f"SELECT {select} FROM {quote(spooled.table)}"
        pending = [_as_decoded(con.execute(f"{query} LIMIT 0").df())]
        con.execute(query)
        vectors = max(1, -(-max(sizes, default=0) // 2048))  # DuckDB hands 2,048-row vectors
        held = 0
        for size in sizes:
            while held < size:
                if not len(chunk := _as_decoded(con.fetch_df_chunk(vectors))):
                    raise PublishError("the spool holds fewer rows than were written to it")
                pending.append(chunk)
                held += len(chunk)
            whole = pd.concat(pending, ignore_index=True) if len(pending) > 1 else pending[0]
            yield whole.iloc[:size].reset_index(drop=True)
            pending, held = [whole.iloc[size:]], held - size
        if held or len(con.fetch_df_chunk(1)):
            raise PublishError("the spool holds more rows than were written to it")


def _typed_column(
    con: duckdb.DuckDBPyConnection,
    spooled: SpooledTable,
    name: str,
    categories: Mapping[str, Sequence[str]],
) -> str:
    """``name`` as an ENUM (read as a pandas categorical) over its categories and any other
    value the spool holds, or as it is if it is not a categorical column."""
    if name not in categories:
        return quote(name)
    declared = list(categories[name])
    listed = ", ".join(literal(v) for v in declared)
    extra = con.execute(
        f"SELECT DISTINCT {quote(name)}::VARCHAR FROM {quote(spooled.table)} "
        f"WHERE {quote(name)} IS NOT NULL AND {quote(name)}::VARCHAR NOT IN ({listed}) "
        "ORDER BY 1"
    ).fetchall()
    values = ", ".join(literal(str(v)) for v in [*declared, *(row[0] for row in extra)])
    return f"CAST({quote(name)} AS ENUM({values})) AS {quote(name)}"


def _as_decoded(frame: pd.DataFrame) -> pd.DataFrame:
    """Integer columns as ``Int64``, float columns as ``Float64`` (NULL as ``<NA>``) and
    categoricals unordered, as decoded; DuckDB gives ``int64`` or ``Int64`` by whether a
    chunk holds a NULL, ``float64`` with NaN, and ENUMs as ordered categoricals."""
    import pandas as pd

    for name, column in frame.items():
        if isinstance(column.dtype, pd.CategoricalDtype):
            frame[name] = column.cat.as_unordered()
        elif pd.api.types.is_integer_dtype(column.dtype):
            frame[name] = column.astype("Int64")
        elif pd.api.types.is_float_dtype(column.dtype):
            frame[name] = column.astype("Float64")
    return frame


def sweep_stale(paths: WarehousePaths, older_than_s: float = STALE_AFTER_S) -> None:
    """Delete spools (and their WAL and spill files) left by killed runs."""
    cutoff = time.time() - older_than_s
    for path in spool_dir(paths).iterdir():
        try:
            if path.stat().st_mtime < cutoff and path.is_file():
                path.unlink(missing_ok=True)
        except FileNotFoundError:
            continue


def discard(spooled: SpooledTable) -> None:
    """Delete a spool once its table is published."""
    for path in (spooled.path, spooled.path.with_name(spooled.path.name + ".wal")):
        path.unlink(missing_ok=True)


class SpoolWriter:
    """Writes chunks into a fresh spool; :meth:`finish` returns its :class:`SpooledTable`.

    Used as a context manager: leaving it by an error deletes the partial spool."""

    def __init__(self, paths: WarehousePaths) -> None:
        sweep_stale(paths)
        self.path = spool_dir(paths) / f"{uuid.uuid4().hex}.duckdb"
        self._con = duckdb.connect(str(self.path))
        limit_memory(self._con)
        self._columns: list[str] | None = None

    def write(self, frame: pd.DataFrame) -> None:
        """Append one chunk (the first creates the table; all must have its columns)."""
        names = [str(c) for c in frame.columns]
        if self._columns is not None and names != self._columns:
            raise PublishError(f"a chunk has columns {names}, the first one had {self._columns}")
        insert_frame(self._con, SPOOL_TABLE, frame, create=self._columns is None)
        self._columns = names

    def finish(self) -> SpooledTable:
        """Checkpoint and close the spool; its rows, columns and checksum."""
        if self._columns is None:
            raise PublishError("there were no rows to spool (not even an empty chunk)")
        rows, digest = checksum(self._con, quote(SPOOL_TABLE))
        self._con.execute("CHECKPOINT")
        self._con.close()
        return SpooledTable(self.path, rows, tuple(self._columns), digest)

    def __enter__(self) -> SpoolWriter:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if kind is not None:
            self._con.close()
            self.path.unlink(missing_ok=True)
            self.path.with_name(self.path.name + ".wal").unlink(missing_ok=True)
