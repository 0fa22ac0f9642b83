"""Input validation counts of a source table, in one SQL aggregate over the declared columns.

For each release column: NULLs, missing tokens, present values outside the public domain and
present values of the wrong kind, decided by the encoder's own SQL tests
(:func:`warehouse.source.token_test`, :func:`warehouse.source.in_domain_test`), so the counts
describe exactly what the spec's rules will act on. One scan, no row leaves DuckDB; the
result is plain counts for the operator-only input report (:mod:`expectations.input_checks`).
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from dpcore.encoding import ColumnCodec, TableCodec
from dpcore.units import PrivacyUnit
from warehouse.connection import literal, quote
from warehouse.source import NUMERIC_TYPES, in_domain_test, qualified, token_test


@dataclass(frozen=True)
class ColumnProfile:
    """Counts for one release column over every source row (no values).

    ``out_of_domain`` counts present values (not NULL, not a missing token) outside the
    declared categories or bounds, NaN included; it is None when a numeric column is not
    stored as numbers (``type_ok`` False), and then ``non_numeric`` counts its present values.
    """

    column: str
    nulls: int
    missing_tokens: int
    out_of_domain: int | None
    non_numeric: int
    type_ok: bool


@dataclass(frozen=True)
class SourceProfile:
    """Row count and per-column counts of a source table, in the codec's column order."""

    rows: int
    columns: tuple[ColumnProfile, ...]
    null_key_rows: int = 0
    """Rows whose person key is NULL (dropped before counting); 0 with a row unit."""


def numeric_type(sql_type: str) -> bool:
    """True for DuckDB number types (``DECIMAL(10,2)`` included)."""
    return sql_type.upper().split("(")[0] in NUMERIC_TYPES


def profile_source(
    con: duckdb.DuckDBPyConnection,
    table: str,
    codec: TableCodec,
    types: dict[str, str],
    unit: PrivacyUnit | None = None,
) -> SourceProfile:
    """Count every declared column's problems in one aggregate query over ``table``.

    ``types`` maps source column names to DuckDB types (:func:`warehouse.source.source_columns`);
    every codec column must be present. With a person unit, rows with a NULL key (which the
    cut drops, :mod:`warehouse.contribution`) are counted too.
    """
    key = None if unit is None else unit.key
    null_keys = f"count(*) FILTER (WHERE {quote(key)} IS NULL)" if key else "0"
    aggregates = ["count(*)", f"{null_keys} AS null_keys"]
    for i, col in enumerate(codec.columns):
        aggregates += [f"count({quote(col.source)}) AS p{i}", *_problem_counts(i, col, types)]
    row = con.execute(f"SELECT {', '.join(aggregates)} FROM {qualified(table)}").fetchall()[0]
    values = dict(zip([d[0] for d in con.description or []], row, strict=True))
    rows = int(row[0])
    columns = []
    for i, col in enumerate(codec.columns):
        present, tokens = int(values[f"p{i}"]), int(values[f"t{i}"])
        typed = col.kind == "category" or numeric_type(types[col.source])
        columns.append(
            ColumnProfile(
                column=col.name,
                nulls=rows - present,
                missing_tokens=tokens,
                out_of_domain=int(values[f"o{i}"]) if typed else None,
                non_numeric=0 if typed else present - tokens,
                type_ok=typed,
            )
        )
    return SourceProfile(rows, tuple(columns), int(values["null_keys"]))


def _problem_counts(i: int, col: ColumnCodec, types: dict[str, str]) -> list[str]:
    """Aggregates ``t{i}`` (missing tokens) and, when values can be compared with the
    domain, ``o{i}`` (present values outside it)."""
    name = quote(col.source)
    typed = col.kind == "category" or numeric_type(types[col.source])
    tests = [
        token_test(col, t) if typed else f"CAST({name} AS VARCHAR) = {literal(t)}"
        for t in col.missing_tokens
    ]
    token = "(" + " OR ".join(tests) + ")" if tests else "false"
    out = [f"count(*) FILTER (WHERE {token}) AS t{i}"]
    if typed:
        outside = f"{name} IS NOT NULL AND NOT {token} AND NOT ({in_domain_test(col)})"
        out.append(f"count(*) FILTER (WHERE {outside}) AS o{i}")
    return out
