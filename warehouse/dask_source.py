"""Reading a partitioned Parquet source with Dask: its schema, and encoded counts on a cluster.

The dask engine's counterpart of :mod:`warehouse.source` (the only module importing dask or
distributed). Each partition is registered in an in-process DuckDB on its worker and
encoded by the DuckDB engine's own query (:func:`warehouse.source.encoded_query`: NULL and
missing tokens, NaN, bins, ``on_invalid``, and the person cut of
:mod:`warehouse.contribution`); its operator-only input counts come from the same profile
query (:func:`warehouse.profile.profile_source`). So both engines apply one set of rules,
written once. Every requested clique is counted in the partition with ``np.bincount`` and
the counts are summed over partitions on the cluster. Only the summed exact counts of the
release's declared columns come back; noise is added once, by the caller.

With a person unit, rows with a NULL key are dropped and the rest shuffled by key before
counting, so each person's rows meet in one partition and are cut there, with the one salt
every partition shares: the counts equal the DuckDB engine's on the same rows and salt.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import dask
import dask.dataframe as dd
import duckdb
import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
from distributed import Client, KilledWorker

from dpcore.domain import Clique, Domain
from dpcore.encoding import TableCodec
from dpcore.units import PrivacyUnit
from warehouse.errors import EmptySourceError, SourceNotFoundError, WorkerLostError
from warehouse.faults import crash_point
from warehouse.source import check_schema, encoded_query, encoding_once

DaskClient = Client
DROP = -1
_FAN_IN = 8

_ARROW_INTEGERS = {
    pa.int8(): "TINYINT",
    pa.int16(): "SMALLINT",
    pa.int32(): "INTEGER",
    pa.int64(): "BIGINT",
    pa.uint8(): "UTINYINT",
    pa.uint16(): "USMALLINT",
    pa.uint32(): "UINTEGER",
    pa.uint64(): "UBIGINT",
}


def sql_type(arrow_type: pa.DataType) -> str:
    """The DuckDB name of a Parquet column's Arrow type, for :func:`check_schema`."""
    if pa.types.is_dictionary(arrow_type):
        return sql_type(arrow_type.value_type)
    if arrow_type in _ARROW_INTEGERS:
        return _ARROW_INTEGERS[arrow_type]
    if pa.types.is_float32(arrow_type):
        return "FLOAT"
    if pa.types.is_float64(arrow_type):
        return "DOUBLE"
    if pa.types.is_decimal(arrow_type):
        return f"DECIMAL({arrow_type.precision},{arrow_type.scale})"
    if pa.types.is_boolean(arrow_type):
        return "BOOLEAN"
    if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type):
        return "VARCHAR"
    if pa.types.is_string_view(arrow_type):
        return "VARCHAR"
    return str(arrow_type).upper()


def _frame(path: str, columns: list[str] | None = None) -> dd.DataFrame:
    """The dataset as a lazy Dask frame with Arrow types (NULL and NaN stay distinct)."""
    try:
        return dd.read_parquet(path, columns=columns, dtype_backend="pyarrow")
    except (FileNotFoundError, OSError, ValueError) as error:
        raise SourceNotFoundError(
            f"Parquet source {path} cannot be read ({type(error).__name__}): check that "
            "source.path names a Parquet dataset directory or glob that this machine and the "
            "Dask workers can read."
        ) from None


def parquet_columns(path: str) -> dict[str, str]:
    """The dataset's column names and DuckDB type names, from the Parquet schema alone."""
    frame = _frame(path)
    return {str(name): sql_type(_arrow_type(dtype)) for name, dtype in frame.dtypes.items()}


def _arrow_type(dtype: object) -> pa.DataType:
    if isinstance(dtype, pd.ArrowDtype):
        return dtype.pyarrow_dtype
    if isinstance(dtype, pd.StringDtype):
        return pa.string()
    if isinstance(dtype, pd.CategoricalDtype):  # hive partition keys
        return pa.dictionary(pa.int32(), _arrow_type(dtype.categories.dtype))
    return pa.from_numpy_dtype(np.dtype(str(dtype)))


def check_parquet_schema(
    path: str, codec: TableCodec, unit: PrivacyUnit | None = None, *, released: bool = True
) -> None:
    """Raise ``SchemaDriftError`` (or ``SourceNotFoundError``) before any row is read
    (``released``: see :func:`warehouse.source.check_schema`)."""
    check_schema(parquet_columns(path), codec, f"(Parquet) {path}", unit, released=released)


# --- counting one partition ---------------------------------------------------------------


def _register_partition(con: duckdb.DuckDBPyConnection, frame: pd.DataFrame) -> str:
    """Register a partition in an in-memory DuckDB as ``main.part`` (dictionaries decoded)."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    columns = [
        c.cast(c.type.value_type) if pa.types.is_dictionary(c.type) else c for c in table.columns
    ]
    con.register("part", pa.table(columns, names=table.column_names))
    return "main.part"


def count_partition(
    frame: pd.DataFrame,
    codec: TableCodec,
    cliques: Sequence[Clique],
    unit: PrivacyUnit | None = None,
    salt: str | None = None,
) -> list[npt.NDArray[np.int64]]:
    """Exact counts of each clique in one partition, flattened in C order.

    The partition is encoded (and, with a person unit, each person's rows cut to k) by the
    DuckDB engine's own query (:func:`warehouse.source.encoded_query`) run over the partition
    in an in-process DuckDB, so both engines apply one set of rules. With a person unit every
    row of a person must be in this partition (the caller shuffles by key) and ``salt`` must
    be the one every partition uses.
    """
    crash_point("while-counting")  # tests kill a worker here (warehouse.faults)
    with duckdb.connect() as con:
        con.execute("SET threads = 1")
        relation = _register_partition(con, frame)
        with encoding_once(con):  # each value encoded once, as in the DuckDB engine's scan
            codes = con.execute(encoded_query(relation, codec, unit, salt)).fetchnumpy()
    domain = codec.domain
    rows = len(next(iter(codes.values()))) if codes else 0
    out = []
    for clique in cliques:
        if not clique:
            out.append(np.array([rows], dtype=np.int64))
            continue
        shape = domain.shape(clique)
        flat = np.ravel_multi_index(tuple(np.asarray(codes[c], np.int64) for c in clique), shape)
        out.append(np.bincount(flat, minlength=int(np.prod(shape))).astype(np.int64))
    return out


def _add(*parts: list[npt.NDArray[np.int64]]) -> list[npt.NDArray[np.int64]]:
    """Element-wise sum of several partitions' count lists."""
    return [np.sum(arrays, axis=0, dtype=np.int64) for arrays in zip(*parts, strict=True)]


def _reduce(parts: list[Any]) -> Any:
    """A tree of delayed sums (fan-in 8), so the reduction runs on the cluster."""
    add = dask.delayed(_add)
    while len(parts) > 1:
        parts = [add(*parts[i : i + _FAN_IN]) for i in range(0, len(parts), _FAN_IN)]
    return parts[0]


def _compute(client: Client, graph: Any, what: str) -> Any:
    """Run ``graph`` on the cluster; a worker lost for good becomes :class:`WorkerLostError`.

    A worker that dies mid-task (SIGKILL, out of memory) has its tasks rerun elsewhere by the
    scheduler, up to ``distributed.scheduler.allowed-failures`` deaths per task; a partition
    recounted elsewhere counts the same rows, so the sum is unchanged. Past that the scheduler
    raises ``KilledWorker``, whose text names only the task and the worker's address.
    """
    try:
        return client.compute(graph).result()
    except KilledWorker:
        raise WorkerLostError(
            f"a Dask worker died while {what} (killed, out of memory, or its host went away) "
            "and the cluster gave up on the task. Nothing was lost: a charge already made "
            "stands and is never paid twice, and the counts start again from the source. "
            "Check the workers' memory and logs, then retry, or resume a charged run with "
            "`dprelease run SPEC --resume RUN_ID`."
        ) from None


def _partitions(path: str, codec: TableCodec, unit: PrivacyUnit | None = None) -> list[Any]:
    """The dataset's partitions as delayed frames of the declared columns (and person key).

    With a person unit, rows with a NULL key are dropped (they belong to nobody, see
    :mod:`warehouse.contribution`) and the rest are shuffled by key, so that each person's
    rows are all in one partition and the per-partition cut sees all of them.
    """
    key = None if unit is None else unit.key
    frame = _frame(path, [c.source for c in codec.columns] + ([key] if key else []))
    if key:
        frame = frame[frame[key].notnull()].shuffle(on=key)
    return list(frame.to_delayed())


@dataclass
class DaskOracle:
    """Exact marginal counts of a Parquet source, counted per partition on a Dask cluster.

    Each ``counts`` call is one pass over the partitions (after a shuffle by key, with a
    person unit); only the summed counts of the requested cliques come back. Only ``dpcore``
    mechanisms see the answers. ``salt`` is the secret of the person cut, one per oracle
    (per measurement), shared by every partition and every call.
    """

    client: Client
    path: str
    codec: TableCodec
    unit: PrivacyUnit = field(default_factory=PrivacyUnit)
    salt: str = field(default_factory=lambda: secrets.token_hex(16), repr=False)

    @property
    def domain(self) -> Domain:
        """The code domain of the release columns."""
        return self.codec.domain

    def counts(self, cliques: Sequence[Clique]) -> list[npt.NDArray[np.int64]]:
        """Exact counts of each clique's marginal, flattened in C order."""
        cliques = [tuple(c) for c in cliques]
        count = dask.delayed(count_partition)
        parts = [
            count(p, self.codec, cliques, self.unit, self.salt)
            for p in _partitions(self.path, self.codec, self.unit)
        ]
        if not parts:
            return [np.zeros(int(np.prod(self.domain.shape(c))), np.int64) for c in cliques]
        summed = _compute(self.client, _reduce(parts), "counting marginals")
        return [np.asarray(a, dtype=np.int64).reshape(-1) for a in summed]


# --- operator-only input counts -----------------------------------------------------------


@dataclass(frozen=True)
class ColumnCounts:
    """Counts for one release column (no values), as :mod:`warehouse.profile` counts them:
    NULLs, missing tokens, and present values outside the domain (NaN included) as the
    encoder decides it. The schema check has already passed, so the type is right."""

    column: str
    nulls: int
    missing_tokens: int
    out_of_domain: int
    non_numeric: int = 0
    type_ok: bool = True


@dataclass(frozen=True)
class SourceCounts:
    """Rows and per-column counts of a Parquet source; computed from private rows, so for
    operators only."""

    rows: int
    columns: tuple[ColumnCounts, ...]
    null_key_rows: int = 0


def _partition_stats(
    frame: pd.DataFrame, codec: TableCodec, unit: PrivacyUnit | None
) -> list[npt.NDArray[np.int64]]:
    """``[rows, NULL keys]`` then ``[nulls, tokens, outside]`` per column for one partition,
    counted by the DuckDB engine's own profile query (:func:`warehouse.profile.profile_source`)
    over the partition."""
    from warehouse.profile import profile_source
    from warehouse.source import source_columns

    with duckdb.connect() as con:
        con.execute("SET threads = 1")
        relation = _register_partition(con, frame)
        profile = profile_source(con, relation, codec, source_columns(con, relation), unit)
    out = [np.array([profile.rows, profile.null_key_rows], dtype=np.int64)]
    for col in profile.columns:
        outside = col.out_of_domain if col.out_of_domain is not None else col.non_numeric
        out.append(np.array([col.nulls, col.missing_tokens, outside], dtype=np.int64))
    return out


def input_counts(
    client: Client, path: str, codec: TableCodec, unit: PrivacyUnit | None = None
) -> SourceCounts:
    """Rows, NULLs, missing tokens and out-of-domain values per column (and, with a person
    unit, rows with a NULL key), summed on the cluster.

    Raises ``EmptySourceError`` when the dataset has no rows (one bit, shown to operators).
    """
    stats = dask.delayed(_partition_stats)
    key = [] if unit is None or unit.key is None else [unit.key]
    frame = _frame(path, [c.source for c in codec.columns] + key)
    parts = [stats(p, codec, unit) for p in frame.to_delayed()]
    summed = (
        _compute(client, _reduce(parts), "counting the input report")
        if parts
        else [np.zeros(2, np.int64)]
    )
    rows = int(summed[0][0])
    if rows == 0:
        raise EmptySourceError(f"Parquet source {path} has no rows; nothing to release.")
    columns = []
    for c, (nulls, tokens, outside) in zip(codec.columns, summed[1:], strict=True):
        columns.append(ColumnCounts(c.name, int(nulls), int(tokens), int(outside)))
    return SourceCounts(rows, tuple(columns), int(summed[0][1]))


@contextmanager
def local_cluster(workers: int = 2) -> Iterator[Client]:
    """A client on a throwaway in-process cluster (tests and runs with no address)."""
    from distributed import LocalCluster

    with (
        LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=False, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client
