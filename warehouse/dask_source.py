"""Reading a partitioned Parquet source with Dask: its schema, and encoded counts on a cluster.

The dask engine's counterpart of :mod:`warehouse.source` (the only module importing dask or
distributed). Each partition is encoded to the public domain's codes in numpy by the rules of
:func:`warehouse.source.code_expression` (NULL and missing tokens → the missing code; NaN
and values outside the domain by ``on_invalid``; category values compared as text as
``CAST(x AS VARCHAR)`` writes them), every requested clique is counted in the partition with
``np.bincount``, and the counts are summed over partitions on the cluster. Only the summed
exact counts of the release's declared columns come back; noise is added once, by the caller.

Known divergence: the text of a 32-bit FLOAT value in a *category* column is its shortest
form, where DuckDB sometimes writes one more digit (``1234567.75``). Person-level bounding is
not done here: the spec refuses a person key on the dask engine.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import dask
import dask.dataframe as dd
import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from distributed import Client

from dpcore.domain import Clique, Domain
from dpcore.encoding import ColumnCodec, TableCodec
from dpcore.units import PrivacyUnit
from warehouse.errors import EmptySourceError, SourceError, SourceNotFoundError
from warehouse.source import check_schema

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


def check_parquet_schema(path: str, codec: TableCodec, unit: PrivacyUnit | None = None) -> None:
    """Raise ``SchemaDriftError`` (or ``SourceNotFoundError``) before any row is read."""
    check_schema(parquet_columns(path), codec, f"(Parquet) {path}", unit)


# --- encoding one partition ---------------------------------------------------------------


def _arrow(values: pd.Series) -> pa.Array:
    """A partition's column as one Arrow array, dictionary-decoded."""
    array = pa.array(values)
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    if pa.types.is_dictionary(array.type):
        array = array.dictionary_decode()
    return array


def _float_text(value: float, single: bool) -> str:
    """DuckDB's text of a DOUBLE (Python's repr) or FLOAT (shortest 32-bit digits)."""
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if single:
        value = float(np.format_float_positional(np.float32(value), unique=True, trim="0"))
    return repr(float(value))


def _is_text(kind: pa.DataType) -> bool:
    return (
        pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_string_view(kind)
    )


def _text(array: pa.Array) -> pa.Array:
    """Each value as ``CAST(x AS VARCHAR)`` writes it (NULL stays NULL)."""
    kind = array.type
    if _is_text(kind):
        return pc.cast(array, pa.string())
    if pa.types.is_boolean(kind):
        convert: Callable[[Any], str] = lambda v: "true" if v else "false"  # noqa: E731
    elif pa.types.is_integer(kind):
        convert = lambda v: str(int(v))  # noqa: E731
    elif pa.types.is_decimal(kind):
        convert = lambda v: format(Decimal(v), "f")  # noqa: E731
    elif pa.types.is_floating(kind):
        single = pa.types.is_float32(kind)
        convert = lambda v: _float_text(float(v), single)  # noqa: E731
    else:
        convert = str
    memo: dict[object, str] = {}
    out: list[str | None] = []
    for v in array.to_pylist():
        if v is None:
            out.append(None)
            continue
        key = "nan" if isinstance(v, float) and math.isnan(v) else v
        text = memo.get(key)
        if text is None:
            text = memo[key] = convert(v)
        out.append(text)
    return pa.array(out, type=pa.string())


def _bools(array: pa.Array) -> npt.NDArray[np.bool_]:
    return np.asarray(pc.fill_null(array, False).to_numpy(zero_copy_only=False), dtype=bool)


def _as_float(array: pa.Array) -> npt.NDArray[np.float64]:
    """Numbers as float64 (NULL → NaN; NULL is tested separately)."""
    if pa.types.is_decimal(array.type):
        array = pc.cast(array, pa.float64(), safe=False)
    return np.asarray(array.to_numpy(zero_copy_only=False), dtype=np.float64)


def _numeric_token(token: str) -> float | None:
    try:
        number = float(token)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _edge(single: bool, edge: float) -> float:
    """The edge as DuckDB compares it: a plain-decimal literal is cast to a FLOAT column's
    type, a literal in scientific notation (``1e+20``) keeps the column as DOUBLE."""
    return float(np.float32(edge)) if single and "e" not in repr(edge) else edge


@dataclass(frozen=True)
class ColumnCodes:
    """One column of a partition: codes (``DROP`` removes the row) and how values classed."""

    codes: npt.NDArray[np.int64]
    null: npt.NDArray[np.bool_]
    nan: npt.NDArray[np.bool_]
    token: npt.NDArray[np.bool_]
    outside: npt.NDArray[np.bool_]


def encode_column(values: pd.Series, codec: ColumnCodec) -> ColumnCodes:
    """Codes of one column by :func:`warehouse.source.code_expression`'s rules, in numpy."""
    array = _arrow(values)
    n = len(array)
    null = np.asarray(array.is_null().to_numpy(zero_copy_only=False), dtype=bool)
    invalid = codec.missing_code if codec.on_invalid == "missing" else None
    invalid_code = DROP if invalid is None else invalid
    missing = codec.missing_code
    numeric = codec.kind != "category"
    text = _text(array) if codec.kind == "category" or codec.missing_tokens else None
    number = _as_float(array) if numeric else np.zeros(n)
    token = np.zeros(n, dtype=bool)
    for t in codec.missing_tokens if missing is not None else ():
        assert text is not None
        hit = _bools(pc.equal(text, pa.scalar(t, pa.string())))
        value = _numeric_token(t) if numeric else None
        if value is not None:
            hit |= number == value
        token |= hit & ~null
    nan = ~null & np.isnan(number) if numeric else np.zeros(n, dtype=bool)
    codes = np.full(n, invalid_code, dtype=np.int64)
    if codec.kind == "category":
        assert text is not None
        index = pc.index_in(text, value_set=pa.array(codec.categories, type=pa.string()))
        found = np.asarray(pc.fill_null(index, -1).to_numpy(zero_copy_only=False), np.int64)
        inside = ~null & ~token & (found >= 0)
        codes[inside] = found[inside]
        outside = ~null & ~token & (found < 0)
    else:
        single = pa.types.is_float32(array.type)
        if single:
            number = number.astype(np.float32).astype(np.float64)
        present = ~null & ~token & ~nan
        edges = [_edge(single, e) for e in codec.edges]
        lo, hi = edges[0], edges[-1]
        below = present & (number < lo)
        above = present & ((number > hi) if codec.kind == "float" else (number >= hi))
        inside = present & ~below & ~above
        last = len(edges) - 2
        bins = np.searchsorted(np.asarray(edges[1:-1]), number[inside], side="right")
        codes[inside] = bins.astype(np.int64)
        if codec.on_invalid == "clamp":
            codes[below], codes[above] = 0, last
        outside = below | above
    if missing is not None:
        codes[null | token] = missing
    else:
        codes[null] = invalid_code
    return ColumnCodes(codes, null, nan, token, outside)


def encode_partition(frame: pd.DataFrame, codec: TableCodec) -> npt.NDArray[np.int64]:
    """``(rows, columns)`` codes of a partition, rows with a dropped value removed."""
    if not len(frame):
        return np.zeros((0, len(codec.columns)), dtype=np.int64)
    codes = np.column_stack([encode_column(frame[c.name], c).codes for c in codec.columns])
    return codes[(codes != DROP).all(axis=1)]


def count_partition(
    frame: pd.DataFrame, codec: TableCodec, cliques: Sequence[Clique]
) -> list[npt.NDArray[np.int64]]:
    """Exact counts of each clique in one partition, flattened in C order."""
    codes = encode_partition(frame, codec)
    domain = codec.domain
    out = []
    for clique in cliques:
        if not clique:
            out.append(np.array([codes.shape[0]], dtype=np.int64))
            continue
        shape = domain.shape(clique)
        flat = np.ravel_multi_index(tuple(codes[:, domain.index(c)] for c in clique), shape)
        size = int(np.prod(shape))
        out.append(np.bincount(flat, minlength=size).astype(np.int64))
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


def _partitions(path: str, codec: TableCodec) -> list[Any]:
    return list(_frame(path, [c.name for c in codec.columns]).to_delayed())


@dataclass
class DaskOracle:
    """Exact marginal counts of a Parquet source, counted per partition on a Dask cluster.

    Each ``counts`` call is one pass over the partitions; only the summed counts of the
    requested cliques come back. Only ``dpcore`` mechanisms see the answers.
    """

    client: Client
    path: str
    codec: TableCodec
    unit: PrivacyUnit = field(default_factory=PrivacyUnit)

    def __post_init__(self) -> None:
        if self.unit.key is not None:
            raise SourceError(
                "the dask engine does not bound contributions per person; "
                "use source.engine: duckdb for a release with privacy.unit.key"
            )

    @property
    def domain(self) -> Domain:
        """The code domain of the release columns."""
        return self.codec.domain

    def counts(self, cliques: Sequence[Clique]) -> list[npt.NDArray[np.int64]]:
        """Exact counts of each clique's marginal, flattened in C order."""
        cliques = [tuple(c) for c in cliques]
        count = dask.delayed(count_partition)
        parts = [count(p, self.codec, cliques) for p in _partitions(self.path, self.codec)]
        if not parts:
            return [np.zeros(int(np.prod(self.domain.shape(c))), np.int64) for c in cliques]
        summed = self.client.compute(_reduce(parts)).result()
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


def _partition_stats(frame: pd.DataFrame, codec: TableCodec) -> list[npt.NDArray[np.int64]]:
    """``[rows]`` then ``[nulls, tokens, outside]`` per column for one partition."""
    out = [np.array([len(frame)], dtype=np.int64)]
    for c in codec.columns:
        col = encode_column(frame[c.name], c)
        out.append(
            np.array(
                [int(col.null.sum()), int(col.token.sum()), int((col.outside | col.nan).sum())],
                dtype=np.int64,
            )
        )
    return out


def input_counts(client: Client, path: str, codec: TableCodec) -> SourceCounts:
    """Rows, NULLs, missing tokens and out-of-domain values per column, summed on the cluster.

    Raises ``EmptySourceError`` when the dataset has no rows (one bit, shown to operators).
    """
    stats = dask.delayed(_partition_stats)
    parts = [stats(p, codec) for p in _partitions(path, codec)]
    summed = client.compute(_reduce(parts)).result() if parts else [np.zeros(1, np.int64)]
    rows = int(summed[0][0])
    if rows == 0:
        raise EmptySourceError(f"Parquet source {path} has no rows; nothing to release.")
    columns = []
    for c, (nulls, tokens, outside) in zip(codec.columns, summed[1:], strict=True):
        columns.append(ColumnCounts(c.name, int(nulls), int(tokens), int(outside)))
    return SourceCounts(rows, tuple(columns))


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
