"""Reading a source table as the spec declares it: existence, schema, and encoded counts.

Only the release's declared columns are ever selected. Values are encoded to the public
domain's integer codes in SQL, with the spec's rule for NULLs and out-of-domain values, and
marginals are counted with GROUP BY inside DuckDB: source rows are not pulled into Python
except for input validation, which sees only the declared columns.
"""

from __future__ import annotations

import math
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

import duckdb
import numpy as np
import numpy.typing as npt
import pandas as pd

from dpcore.domain import Clique, Domain
from dpcore.encoding import ColumnCodec, TableCodec
from dpcore.units import PrivacyUnit
from warehouse.connection import literal, quote
from warehouse.errors import EmptySourceError, SchemaDriftError, SourceNotFoundError

NUMERIC_TYPES = (
    "TINYINT",
    "SMALLINT",
    "INTEGER",
    "BIGINT",
    "HUGEINT",
    "UTINYINT",
    "USMALLINT",
    "UINTEGER",
    "UBIGINT",
    "FLOAT",
    "DOUBLE",
    "REAL",
    "DECIMAL",
)
TEXT_TYPES = ("VARCHAR", "ENUM")


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


def _type_ok(codec: ColumnCodec, sql_type: str) -> bool:
    base = sql_type.upper().split("(")[0]
    if codec.kind == "category":
        return base in TEXT_TYPES or base in NUMERIC_TYPES or base == "BOOLEAN"
    return base in NUMERIC_TYPES


def check_schema(
    columns: dict[str, str], codec: TableCodec, table: str, unit: PrivacyUnit | None = None
) -> None:
    """Raise ``SchemaDriftError`` if a declared column (or the person key) is absent or has
    an unusable type."""
    missing = [c.name for c in codec.columns if c.name not in columns]
    if unit is not None and unit.key is not None and unit.key not in columns:
        missing.append(f"{unit.key} (the person key)")
    wrong = [
        f"{c.name} is {columns[c.name]} but the spec declares it {c.kind}"
        for c in codec.columns
        if c.name in columns and not _type_ok(c, columns[c.name])
    ]
    if missing or wrong:
        parts = []
        if missing:
            parts.append(f"missing column(s): {', '.join(missing)}")
        if wrong:
            parts.append("; ".join(wrong))
        raise SchemaDriftError(
            f"source table {table} no longer matches the spec: {'; '.join(parts)}. "
            "Update the spec's columns to the table's current schema, or restore the table."
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


def read_columns(con: duckdb.DuckDBPyConnection, table: str, codec: TableCodec) -> pd.DataFrame:
    """The declared columns only, for input validation (operators' eyes only)."""
    select = ", ".join(quote(c.name) for c in codec.columns)
    return con.execute(f"SELECT {select} FROM {qualified(table)}").df()


def _invalid(codec: ColumnCodec) -> str:
    """The code expression for a value outside the domain, by the column's rule."""
    if codec.on_invalid == "missing":
        return str(codec.missing_code)
    return "NULL"  # 'drop', and 'clamp' for values with no clamp target (NULL)


def _token_test(codec: ColumnCodec, token: str) -> str:
    """SQL test that a value is the missing token ``token``.

    A numeric column compares numerically when the token is a number: the text of a DOUBLE
    or DECIMAL value (``-1.0``, ``-1.00``) never equals the token as written (``-1``).
    """
    col = quote(codec.name)
    text = f"CAST({col} AS VARCHAR) = {literal(token)}"
    if codec.kind == "category":
        return text
    try:
        number = float(token)
    except ValueError:
        return text
    if not math.isfinite(number):
        return text
    return f"({text} OR CAST({col} AS DOUBLE) = {number!r})"


def code_expression(codec: ColumnCodec) -> str:
    """SQL mapping one column's raw value to its code; NULL means the row is dropped."""
    col = quote(codec.name)
    missing = codec.missing_code
    when_missing = []
    if missing is not None:
        when_missing.append(f"WHEN {col} IS NULL THEN {missing}")
        for token in codec.missing_tokens:
            when_missing.append(f"WHEN {_token_test(codec, token)} THEN {missing}")
    else:
        when_missing.append(f"WHEN {col} IS NULL THEN {_invalid(codec)}")
    head = "CASE " + " ".join(when_missing)
    if codec.kind == "category":
        values = "[" + ", ".join(literal(v) for v in codec.categories) + "]"
        position = f"list_position({values}, CAST({col} AS VARCHAR))"
        return f"{head} WHEN {position} IS NOT NULL THEN {position} - 1 ELSE {_invalid(codec)} END"
    edges = codec.edges
    last = len(edges) - 2
    lo, hi = edges[0], edges[-1]
    below, above = (
        ("0", str(last)) if codec.on_invalid == "clamp" else (_invalid(codec), _invalid(codec))
    )
    top_test = f"{col} > {hi!r}" if codec.kind == "float" else f"{col} >= {hi!r}"
    bins = " ".join(f"WHEN {col} < {e!r} THEN {i}" for i, e in enumerate(edges[1:-1]))
    inside = f"{bins} ELSE {last}" if bins else f"ELSE {last}"
    nan = f"WHEN isnan(CAST({col} AS DOUBLE)) THEN {_invalid(codec)}"
    return (
        f"{head} {nan} WHEN {col} < {lo!r} THEN {below} WHEN {top_test} THEN {above} {inside} END"
    )


def bounded_rows(table: str, unit: PrivacyUnit, salt: str) -> str:
    """The source rows with each person's contribution cut to ``unit.max_rows`` rows.

    Which rows a person keeps depends only on their row ids and a secret salt drawn from the
    OS CSPRNG per measurement, never on values or on other people's rows, so one person
    moves every marginal by at most ``max_rows``. Rows with a NULL key count as one person.
    """
    if unit.key is None:
        return qualified(table)
    return (
        f"(SELECT * FROM {qualified(table)} QUALIFY row_number() OVER (PARTITION BY "
        f"{quote(unit.key)} ORDER BY hash(rowid, {literal(salt)})) <= {int(unit.max_rows)})"
    )


def encoded_query(
    table: str, codec: TableCodec, unit: PrivacyUnit | None = None, salt: str | None = None
) -> str:
    """SELECT of every row's codes, contributions bounded, rows with a dropped value removed.

    The person key is used only to bound contributions; it is never selected.
    """
    source = bounded_rows(table, unit or PrivacyUnit(), salt or secrets.token_hex(16))
    exprs = ", ".join(f"({code_expression(c)}) AS {quote(c.name)}" for c in codec.columns)
    keep = " AND ".join(f"{quote(c.name)} IS NOT NULL" for c in codec.columns)
    return f"SELECT * FROM (SELECT {exprs} FROM {source}) WHERE {keep}"


@dataclass
class DuckDBOracle:
    """Exact marginal counts of the encoded source, counted inside DuckDB.

    The encoded codes are materialised once in a temporary table of the connection; each
    marginal is then one GROUP BY. Only ``dpcore`` mechanisms see the answers.
    """

    con: duckdb.DuckDBPyConnection
    table: str
    codec: TableCodec
    unit: PrivacyUnit = field(default_factory=PrivacyUnit)
    salt: str = field(default_factory=lambda: secrets.token_hex(16), repr=False)
    _ready: bool = field(default=False, init=False)
    _temp: str = field(default_factory=lambda: f"dprelease_codes_{uuid.uuid4().hex}", init=False)

    @property
    def domain(self) -> Domain:
        """The code domain of the release columns."""
        return self.codec.domain

    def _prepare(self) -> None:
        if not self._ready:
            self.con.execute(
                f"CREATE OR REPLACE TEMP TABLE {self._temp} AS "
                + encoded_query(self.table, self.codec, self.unit, self.salt)
            )
            self._ready = True

    def counts(self, cliques: Sequence[Clique]) -> list[npt.NDArray[np.int64]]:
        """Exact counts of each clique's marginal, flattened in C order."""
        self._prepare()
        out = []
        for clique in cliques:
            shape = self.domain.shape(clique)
            size = int(np.prod(shape)) if shape else 1
            if not clique:
                n = self.con.execute(f"SELECT count(*) FROM {self._temp}").fetchall()[0][0]
                out.append(np.array([n], dtype=np.int64))
                continue
            cols = ", ".join(quote(c) for c in clique)
            rows = self.con.execute(
                f"SELECT {cols}, count(*) AS n FROM {self._temp} GROUP BY ALL"
            ).fetchnumpy()
            counts = np.zeros(size, dtype=np.int64)
            index = np.ravel_multi_index(
                tuple(np.asarray(rows[c], dtype=np.int64) for c in clique), shape
            )
            counts[index] = np.asarray(rows["n"], dtype=np.int64)
            out.append(counts)
        return out
