"""The counts a DP domain step needs (:mod:`dpcore.learned_domains`), computed in SQL.

Only called after the step's charge is committed. :func:`grid_counts` returns one count per
bin of a public grid (no value leaves DuckDB); :func:`value_counts` returns the values
present in a text column with their counts, which the step noises and thresholds before
anything is shown: they must never be logged or stored.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import numpy.typing as npt

from warehouse.connection import connect, quote
from warehouse.source import qualified


def grid_counts(
    con: duckdb.DuckDBPyConnection, table: str, column: str, edges: Sequence[float]
) -> npt.NDArray[np.int64]:
    """Rows per grid bin ``edges[i] <= x < edges[i + 1]`` of ``column`` read as a number;
    values beyond the grid count in its end bins, NULL and non-numbers in none."""
    x = f"TRY_CAST({quote(column)} AS DOUBLE)"
    cases = " ".join(f"WHEN {x} < {float(e)!r} THEN {i}" for i, e in enumerate(edges[1:-1]))
    rows = con.execute(
        f"SELECT CASE {cases} ELSE {len(edges) - 2} END AS b, count(*) "
        f"FROM {qualified(table)} WHERE {x} IS NOT NULL GROUP BY b"
    ).fetchall()
    counts = np.zeros(len(edges) - 1, dtype=np.int64)
    for b, n in rows:
        counts[int(b)] = int(n)
    return counts


def value_counts(
    con: duckdb.DuckDBPyConnection, table: str, column: str
) -> tuple[list[str], npt.NDArray[np.int64]]:
    """The distinct non-NULL values of ``column`` as text, and how many rows hold each
    (ordered by value, so that nothing about the counts shows in the order)."""
    v = f"CAST({quote(column)} AS VARCHAR)"
    rows = con.execute(
        f"SELECT {v} AS v, count(*) FROM {qualified(table)} WHERE {v} IS NOT NULL "
        "GROUP BY v ORDER BY v"
    ).fetchall()
    return [str(r[0]) for r in rows], np.array([int(r[1]) for r in rows], dtype=np.int64)


@dataclass(frozen=True)
class ColumnCounts:
    """One column's counts: per grid bin (``values`` None) or per value present."""

    counts: npt.NDArray[np.int64]
    values: list[str] | None = None


def domain_counts(
    path: Path, table: str, kinds: Mapping[str, str], grids: Mapping[str, Sequence[float]]
) -> dict[str, ColumnCounts]:
    """Each column's counts, read-only: bins of its grid (``grids``) for a numeric column,
    values present for a ``category`` one."""
    out: dict[str, ColumnCounts] = {}
    with connect(path, read_only=True) as con:
        for name, kind in kinds.items():
            if kind == "category":
                values, counts = value_counts(con, table, name)
                out[name] = ColumnCounts(counts, values)
            else:
                out[name] = ColumnCounts(grid_counts(con, table, name, grids[name]))
    return out
