"""Reading a source table as the spec declares it: existence, schema, and encoded counts.

Only the release's declared columns are ever selected. Values are encoded to the public
domain's integer codes in SQL, with the spec's rule for NULLs and out-of-domain values, and
marginals are counted from the codes DuckDB streams in chunks (:class:`DuckDBOracle`): no
source value is ever pulled into Python (input validation counts in SQL too, see
:mod:`warehouse.profile`).
"""

from __future__ import annotations

import difflib
import math
import secrets
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy as np
import numpy.typing as npt

from dpcore.domain import Clique, Domain
from dpcore.encoding import ColumnCodec, TableCodec
from dpcore.units import PrivacyUnit
from warehouse.blocks import BLOCK_CELLS, Block, marginal, plan_blocks
from warehouse.connection import connect, literal, quote
from warehouse.contribution import bounded_select
from warehouse.errors import EmptySourceError, SchemaDriftError, SourceNotFoundError

INTEGER_TYPES = (
    "TINYINT",
    "SMALLINT",
    "INTEGER",
    "BIGINT",
    "HUGEINT",
    "UTINYINT",
    "USMALLINT",
    "UINTEGER",
    "UBIGINT",
)
FLOAT_TYPES = ("FLOAT", "DOUBLE", "REAL", "DECIMAL")
NUMERIC_TYPES = INTEGER_TYPES + FLOAT_TYPES
TEXT_TYPES = ("VARCHAR", "ENUM")


def catalog_kind(sql_type: str) -> str | None:
    """The spec type a catalog type is drafted as (``integer``, ``float`` or ``category``),
    or None for a type no spec column can read (dates, blobs, lists)."""
    base = sql_type.upper().split("(")[0].strip()
    if base in INTEGER_TYPES:
        return "integer"
    if base in FLOAT_TYPES:
        return "float"
    if base in TEXT_TYPES or base == "BOOLEAN":
        return "category"
    return None


def split_table(table: str) -> tuple[str, str]:
    """``schema.table`` into its parts."""
    schema, _, name = table.partition(".")
    return schema, name


def source_columns(con: duckdb.DuckDBPyConnection, table: str) -> dict[str, str]:
    """The table's column names and DuckDB types; raises if the table does not exist."""
    schema, name = split_table(table)
    rows = con.execute(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = ? AND table_name = ? ORDER BY ordinal_position",
        [schema, name],
    ).fetchall()
    if not rows:
        raise SourceNotFoundError(
            f"source table {table} does not exist in the warehouse. Load it first, or fix "
            "source.table in the spec (for the bundled example run `dprelease demo`)."
        )
    return {str(n): str(t) for n, t in rows}


def table_catalog(path: Path, table: str) -> dict[str, str]:
    """:func:`source_columns` from the warehouse file, opened read-only: the catalog only
    (``information_schema``), never a row."""
    if not path.exists():
        raise SourceNotFoundError(
            f"there is no warehouse at {path}, so no table {table}: check --home (or "
            "$DPRELEASE_HOME)."
        )
    with connect(path, read_only=True) as con:
        return source_columns(con, table)


def _type_ok(codec: ColumnCodec, sql_type: str) -> bool:
    """Whether the encoder can read a column of ``sql_type`` as ``codec`` declares it.

    A numeric column may be stored as text (``VARCHAR``, e.g. because it uses a token such
    as ``N`` for "not applicable"): the encoder casts it in SQL (:func:`number`).
    """
    base = sql_type.upper().split("(")[0]
    if codec.kind == "category":
        return base in TEXT_TYPES or base in NUMERIC_TYPES or base == "BOOLEAN"
    return base in NUMERIC_TYPES or base in TEXT_TYPES


def _label(codec: ColumnCodec) -> str:
    """How messages name a column: its source name, and its released name if different."""
    if codec.source_column is None:
        return codec.name
    return f"{codec.source} (released as {codec.name})"


def _what_to_declare(codec: ColumnCodec) -> str:
    """What a spec could declare instead for a source column the codec cannot read."""
    if codec.kind == "category":
        return "declare a column the table stores as text, numbers or booleans"
    article = "an" if codec.kind == "integer" else "a"
    return (
        f"{article} {codec.kind} column must be stored as numbers or text; declare it "
        "`type: category` with its values, or release a view that casts it"
    )


def check_schema(
    columns: dict[str, str],
    codec: TableCodec,
    table: str,
    unit: PrivacyUnit | None = None,
    *,
    released: bool = True,
) -> None:
    """Raise ``SchemaDriftError`` if a declared column (or the person key) is absent or has
    an unusable type.

    ``released`` says whether the spec has released from this table before: if it has, the
    table changed under it (drift); if not, the spec was written for another table, and the
    message says what to declare (the table's column names are public catalog metadata).
    """
    missing = [_label(c) for c in codec.columns if c.source not in columns]
    if unit is not None and unit.key is not None and unit.key not in columns:
        missing.append(f"{unit.key} (the person key)")
    wrong = [c for c in codec.columns if c.source in columns and not _type_ok(c, columns[c.source])]
    if not missing and not wrong:
        return
    if released:
        parts = []
        if missing:
            parts.append(f"missing column(s): {', '.join(missing)}")
        parts += [
            f"{_label(c)} is {columns[c.source]} but the spec declares it {c.kind}" for c in wrong
        ]
        raise SchemaDriftError(
            f"source table {table} no longer matches the spec: {'; '.join(parts)}. "
            "Update the spec's columns to the table's current schema, or restore the table."
        )
    absent = [c.source for c in codec.columns if c.source not in columns]
    if unit is not None and unit.key is not None and unit.key not in columns:
        absent.append(unit.key)
    raise SchemaDriftError(_new_spec_message(columns, table, absent, wrong))


def _new_spec_message(
    columns: dict[str, str], table: str, absent: list[str], wrong: list[ColumnCodec]
) -> str:
    """The refusal of a spec that never released from ``table``: what to declare."""
    parts = []
    for name in absent:
        close = [c for c in columns if name.lower() in c.lower() and c != name][:3]
        close += difflib.get_close_matches(name, [c for c in columns if c not in close], 3, 0.6)
        hint = f" (close: {', '.join(close)})" if close else ""
        parts.append(f"{table} has no column {name}{hint}")
    parts += [f"{_label(c)} is {columns[c.source]}: {_what_to_declare(c)}" for c in wrong]
    listed = ", ".join(f"{n} {t}" for n, t in list(columns.items())[:40])
    more = f", and {len(columns) - 40} more" if len(columns) > 40 else ""
    return (
        f"the spec does not match source table {table}, which it has not released from yet: "
        f"{'; '.join(parts)}. The table's columns are: {listed}{more}. Declare each release "
        "column under a name the table has, or give its name in the table as "
        "`source_column:` (any name, e.g. 'income>50K') beside the name to release it under."
    )


def check_not_empty(con: duckdb.DuckDBPyConnection, table: str) -> None:
    """Raise ``EmptySourceError`` if the table has no rows (one bit, shown to operators)."""
    if not con.execute(f"SELECT EXISTS (SELECT 1 FROM {qualified(table)})").fetchall()[0][0]:
        raise EmptySourceError(
            f"source table {table} has no rows; nothing to release. Load the data first."
        )


def qualified(table: str) -> str:
    """A quoted ``schema.table`` reference."""
    schema, name = split_table(table)
    return f"{quote(schema)}.{quote(name)}"


def _invalid(codec: ColumnCodec) -> str:
    """The code expression for a value outside the domain, by the column's rule."""
    if codec.on_invalid == "missing":
        return str(codec.missing_code)
    return "NULL"  # 'drop', and 'clamp' for values with no clamp target (NULL)


def number(codec: ColumnCodec) -> str:
    """A numeric column's value as a DOUBLE: the encoder's one reading of a number.

    ``TRY_CAST`` reads numbers stored as numbers unchanged and numbers stored as text (a
    column that also holds tokens such as ``N``) by their value; text that is not a number
    reads as NULL, which :func:`code_expression` then treats by ``on_invalid`` (a NULL source
    value is tested on the raw column first, so the two never mix).
    """
    return f"TRY_CAST({quote(codec.source)} AS DOUBLE)"


def token_test(codec: ColumnCodec, token: str) -> str:
    """SQL test that a value is the missing token ``token``.

    A numeric column compares numerically when the token is a number: the text of a DOUBLE
    or DECIMAL value (``-1.0``, ``-1.00``) never equals the token as written (``-1``).
    """
    col = quote(codec.source)
    text = f"CAST({col} AS VARCHAR) = {literal(token)}"
    if codec.kind == "category":
        return text
    try:
        value = float(token)
    except ValueError:
        return text
    if not math.isfinite(value):
        return text
    # A numeric column's text (a decimal literal of its value) equals a number token only if
    # the values are equal, so the numeric test alone decides (and skips a cast to text).
    return f"{number(codec)} = {value!r}"


def code_expression(codec: ColumnCodec) -> str:
    """SQL mapping one column's raw value to its code; NULL means the row is dropped.

    A numeric column's present value that is not a number (text such as ``n/a`` in a column
    stored as text) is outside the domain: its code follows ``on_invalid`` (with ``clamp``,
    which has no bound to clamp it to, the row is dropped, as for NaN).
    """
    col = quote(codec.source)
    missing = codec.missing_code
    when_missing = []
    if missing is not None:
        when_missing.append(f"WHEN {col} IS NULL THEN {missing}")
        for token in codec.missing_tokens:
            when_missing.append(f"WHEN {token_test(codec, token)} THEN {missing}")
    else:
        when_missing.append(f"WHEN {col} IS NULL THEN {_invalid(codec)}")
    head = "CASE " + " ".join(when_missing)
    if codec.kind == "category":
        return f"{head} ELSE coalesce({_position(codec)} - 1, {_invalid(codec)}) END"
    edges = codec.edges
    last = len(edges) - 2
    lo = edges[0]
    below, above = (
        ("0", str(last)) if codec.on_invalid == "clamp" else (_invalid(codec), _invalid(codec))
    )
    x = number(codec)
    nan = f"WHEN {x} IS NULL OR isnan({x}) THEN {_invalid(codec)}"
    return (
        f"{head} {nan} WHEN {x} < {lo!r} THEN {below} WHEN {_above(codec)} THEN {above} "
        f"ELSE {_bin_of(codec)} END"
    )


def in_domain_test(codec: ColumnCodec) -> str:
    """SQL test that a present value (not NULL, not a missing token) is inside the domain,
    exactly as :func:`code_expression` decides it.

    NaN is outside: DuckDB orders NaN above every number, so it fails the upper bound.
    """
    if codec.kind == "category":
        return f"{_position(codec)} IS NOT NULL"
    x = number(codec)
    return f"{x} >= {codec.edges[0]!r} AND NOT ({_above(codec)})"


def _position(codec: ColumnCodec) -> str:
    """1-based position of a category column's value (as text) among its categories."""
    values = "[" + ", ".join(literal(v) for v in codec.categories) + "]"
    return f"list_position({values}, CAST({quote(codec.source)} AS VARCHAR))"


def _above(codec: ColumnCodec) -> str:
    """SQL test that a numeric value is above the top bin (a float's top edge is inside)."""
    col, hi = number(codec), codec.edges[-1]
    return f"{col} > {hi!r}" if codec.kind == "float" else f"{col} >= {hi!r}"


LOOKUP_LIMIT = 4096


def _bin_of(codec: ColumnCodec) -> str:
    """The bin code of a numeric value known to lie inside the bounds.

    Bin ``i`` holds ``edges[i] <= x < edges[i + 1]``. An integer column with at most
    ``LOOKUP_LIMIT`` values looks its code up in a constant list (integer edges: ``x`` and
    ``floor(x)`` share a bin), several times faster in DuckDB than a CASE over the edges.
    """
    col = number(codec)
    edges = codec.edges
    lo, top = int(edges[0]), int(edges[-1])
    if codec.kind == "integer" and top - lo <= LOOKUP_LIMIT:
        inner = np.asarray(edges[1:-1], dtype=np.float64)
        codes = np.searchsorted(inner, np.arange(lo, top, dtype=np.float64), side="right")
        table = "[" + ", ".join(str(int(c)) for c in codes) + "]"
        return f"{table}[CAST(floor({col}) AS BIGINT) - {lo - 1}]"
    bins = " ".join(f"WHEN {col} < {e!r} THEN {i}" for i, e in enumerate(edges[1:-1]))
    last = len(edges) - 2
    return f"CASE {bins} ELSE {last} END" if bins else str(last)


def encoded_query(
    table: str, codec: TableCodec, unit: PrivacyUnit | None = None, salt: str | None = None
) -> str:
    """SELECT of every kept row's codes: rows with a dropped value removed and, with a person
    unit, each person's contribution cut to k rows (:mod:`warehouse.contribution`).

    The person key is used only to bound contributions; it is never selected.
    """
    return encoded_select(qualified(table), codec, unit, salt)


def encoded_select(
    relation: str,
    codec: TableCodec,
    unit: PrivacyUnit | None = None,
    salt: str | None = None,
    *,
    with_key: bool = False,
) -> str:
    """:func:`encoded_query` over any SQL relation (e.g. a Parquet partition registered as a
    view), so every engine encodes and cuts rows by this one query. ``with_key`` also selects
    the person key (audits and tests only)."""
    columns = [(quote(c.name), code_expression(c)) for c in codec.columns]
    salt = salt or secrets.token_hex(16)
    return bounded_select(relation, columns, unit or PrivacyUnit(), salt, with_key=with_key)


@contextmanager
def encoding_once(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """Plan the queries run inside without DuckDB's filter pushdown, then restore the setting.

    :func:`encoded_select` keeps a row when none of its codes is NULL. DuckDB pushes that
    filter below the projection by substituting each code's expression into it, so every
    CASE is evaluated twice (once to filter, once to select): about half of the counting
    scan's time. Without the pushdown the codes are computed once and the filter tests them.
    An optimizer setting only: the rows kept and their codes are the same.
    """
    before = con.execute("SELECT current_setting('disabled_optimizers')").fetchall()[0][0]
    disabled = [o.strip() for o in str(before or "").split(",") if o.strip()]
    if "filter_pushdown" not in disabled:
        disabled.append("filter_pushdown")
    con.execute(f"SET disabled_optimizers = {literal(', '.join(disabled))}")
    try:
        yield
    finally:
        if before:
            con.execute(f"SET disabled_optimizers = {literal(str(before))}")
        else:
            con.execute("RESET disabled_optimizers")


CHUNK_VECTORS = 256
"""Rows fetched per chunk while counting, in DuckDB vectors of 2048 rows (about 0.5 M)."""


@dataclass
class DuckDBOracle:
    """Exact marginal counts of the encoded source, counted in one scan and kept in memory.

    The first :meth:`counts` call counts every requested clique and every clique in
    ``candidates`` (the synthesizer's candidates) together: the cliques are covered by a few
    joint tables (:mod:`warehouse.blocks`), DuckDB streams each kept row's cell index in
    every table, and numpy adds them up chunk by chunk, so memory stays bounded whatever
    the row count. Later calls are answered from those tables; a clique they do not cover
    costs one more scan. Exact counts never leave the oracle except to ``dpcore``
    mechanisms, and are never stored or logged.
    """

    con: duckdb.DuckDBPyConnection
    table: str
    codec: TableCodec
    unit: PrivacyUnit = field(default_factory=PrivacyUnit)
    salt: str = field(default_factory=lambda: secrets.token_hex(16), repr=False)
    candidates: Sequence[Clique] = ()
    block_cells: int = BLOCK_CELLS
    scans: int = field(default=0, init=False)
    _tables: list[tuple[Block, npt.NDArray[np.int64]]] = field(
        default_factory=list, init=False, repr=False
    )

    @property
    def domain(self) -> Domain:
        """The code domain of the release columns."""
        return self.codec.domain

    def detached(
        self, reconnect: Callable[[], AbstractContextManager[duckdb.DuckDBPyConnection]]
    ) -> DuckDBOracle:
        """This oracle with its counts kept and its connection let go: later calls are
        answered from the counted tables, and a clique they do not cover opens a connection
        with ``reconnect`` for that one scan (so a synthesizer's rounds hold no warehouse).
        The same salt is kept, so a later scan cuts each person's rows the same way."""
        return _DetachedOracle(self, reconnect)

    def counts(self, cliques: Sequence[Clique]) -> list[npt.NDArray[np.int64]]:
        """Exact counts of each clique's marginal, flattened in C order."""
        uncovered = [c for c in cliques if self._find(c) is None]
        if uncovered:
            wanted = [*uncovered, *([] if self.scans else self.candidates)]
            self._count(plan_blocks(self.domain, wanted, self.block_cells))
        out = []
        for clique in cliques:
            found = self._find(clique)
            assert found is not None
            out.append(marginal(*found, tuple(clique)))
        return out

    def _find(self, clique: Clique) -> tuple[Block, npt.NDArray[np.int64]] | None:
        return next(((b, t) for b, t in self._tables if b.covers(clique)), None)

    def _count(self, blocks: list[Block]) -> None:
        """One scan of the source adding every block's joint counts.

        DuckDB encodes and streams each kept row's codes (one or two bytes a column); numpy
        forms the cell indices and counts them, one chunk of rows at a time. The scan runs
        under :func:`encoding_once`, so each value is encoded once, not twice.
        """
        names = [n for n in self.domain.names if any(n in b.columns for b in blocks)]
        select = ", ".join(
            f"CAST({quote(n)} AS {_code_type(self.domain.size(n))}) AS {quote(n)}" for n in names
        )
        query = encoded_query(self.table, self.codec, self.unit, self.salt)
        tables = [np.zeros(b.cells, dtype=np.int64) for b in blocks]
        with encoding_once(self.con):
            result = self.con.execute(f"SELECT {select or '0 AS none'} FROM ({query})")
            while True:
                chunk = result.fetch_df_chunk(CHUNK_VECTORS)
                if chunk.empty:
                    break
                codes = {n: chunk[n].to_numpy() for n in names}
                for block, table in zip(blocks, tables, strict=True):
                    index = _cell_index(block, codes, len(chunk))
                    table += np.bincount(index, minlength=block.cells)
        self.scans += 1
        self._tables.extend(zip(blocks, tables, strict=True))


class _DetachedOracle(DuckDBOracle):
    """A :class:`DuckDBOracle` whose connection is opened only for a scan it still needs."""

    def __init__(
        self,
        counted: DuckDBOracle,
        reconnect: Callable[[], AbstractContextManager[duckdb.DuckDBPyConnection]],
    ) -> None:
        super().__init__(
            counted.con,
            counted.table,
            counted.codec,
            counted.unit,
            counted.salt,
            counted.candidates,
            counted.block_cells,
        )
        self.scans = counted.scans
        self._tables = counted._tables
        self._reconnect = reconnect
        self.con = None  # type: ignore[assignment]  # held only while a scan needs it

    def _count(self, blocks: list[Block]) -> None:
        with self._reconnect() as con:
            self.con = con
            try:
                super()._count(blocks)
            finally:
                self.con = None  # type: ignore[assignment]


def _code_type(size: int) -> str:
    """The narrowest unsigned DuckDB type holding codes ``0 .. size - 1``."""
    return "UTINYINT" if size <= 2**8 else "USMALLINT" if size <= 2**16 else "UINTEGER"


def _cell_index(
    block: Block, codes: dict[str, npt.NDArray[np.unsignedinteger]], rows: int
) -> npt.NDArray[np.signedinteger]:
    """Each row's cell index in ``block``'s joint table (mixed radix, C order)."""
    kind: type[np.signedinteger] = np.int32 if block.cells < 2**31 else np.int64
    index: npt.NDArray[np.signedinteger] = np.zeros(rows, dtype=kind)
    for name, stride in zip(block.columns, block.strides, strict=True):
        index += codes[name].astype(kind) * stride if stride > 1 else codes[name]
    return index
