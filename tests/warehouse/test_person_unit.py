"""Person-level privacy: contributions are bounded in SQL before counting, so adding one
person with many rows moves every marginal by at most the declared sensitivity k."""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pytest

from dpcore.encoding import ColumnCodec, TableCodec
from dpcore.units import PrivacyUnit
from warehouse.errors import SchemaDriftError
from warehouse.source import DuckDBOracle, check_schema, source_columns

CODEC = TableCodec(
    (
        ColumnCodec("kind", "category", categories=("a", "b", "c")),
        ColumnCodec("score", "integer", edges=(0.0, 10.0, 20.0, 30.0), on_invalid="clamp"),
    )
)
CLIQUES = [("kind",), ("score",), ("kind", "score")]


def make_tables(path: Path) -> None:
    """``raw.d``: 300 people with 4 to 60 rows each; ``raw.d2``: the same plus one person
    with 100 rows, all in one cell (the worst case for a marginal)."""
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE SCHEMA raw")
        con.execute(
            "CREATE TABLE raw.d AS SELECT 'p' || (i % 300) AS person, "
            "['a','b','c'][1 + (i * 7) % 3] AS kind, (i * 13) % 30 AS score "
            "FROM range(3000) t(i) WHERE i % 300 < 60 OR i < 1200 "
            "UNION ALL SELECT 'p0', ['a','b','c'][1 + i % 3], i % 30 FROM range(50) t(i)"
        )
        con.execute(
            "CREATE TABLE raw.d2 AS SELECT * FROM raw.d UNION ALL "
            "SELECT 'newcomer', 'a', 5 FROM range(100)"
        )


@pytest.mark.parametrize("k", [1, 5, 20])
def test_one_person_moves_every_marginal_by_at_most_k(tmp_path: Path, k: int) -> None:
    path = tmp_path / "w.duckdb"
    make_tables(path)
    unit = PrivacyUnit("person", k)
    with duckdb.connect(str(path)) as con:
        # The same secret salt on both sides: the rows others keep do not change.
        before = DuckDBOracle(con, "raw.d", CODEC, unit, salt="s").counts(CLIQUES)
        after = DuckDBOracle(con, "raw.d2", CODEC, unit, salt="s").counts(CLIQUES)
        people_rows = con.execute(
            "SELECT max(n) FROM (SELECT count(*) AS n FROM raw.d GROUP BY person)"
        ).fetchall()[0][0]
    assert people_rows > k  # some people really have more rows than k
    for b, a in zip(before, after, strict=True):
        diff = np.abs(a - b)
        assert diff.sum() == k  # the newcomer's k kept rows, nothing else moved
        assert np.sqrt((diff**2).sum()) <= k


def test_each_person_keeps_at_most_k_rows(tmp_path: Path) -> None:
    path = tmp_path / "w.duckdb"
    make_tables(path)
    with duckdb.connect(str(path)) as con:
        (total,) = DuckDBOracle(con, "raw.d", CODEC, PrivacyUnit("person", 3)).counts([()])
        expected = con.execute(
            "SELECT sum(least(n, 3)) FROM (SELECT count(*) AS n FROM raw.d GROUP BY person)"
        ).fetchall()[0][0]
    assert int(total[0]) == expected


def test_row_unit_counts_every_row(tmp_path: Path) -> None:
    path = tmp_path / "w.duckdb"
    make_tables(path)
    with duckdb.connect(str(path)) as con:
        (total,) = DuckDBOracle(con, "raw.d", CODEC).counts([()])
        n = con.execute("SELECT count(*) FROM raw.d").fetchall()[0][0]
    assert int(total[0]) == n


def test_missing_person_key_is_schema_drift(tmp_path: Path) -> None:
    path = tmp_path / "w.duckdb"
    make_tables(path)
    with duckdb.connect(str(path)) as con:
        columns = source_columns(con, "raw.d")
    check_schema(columns, CODEC, "raw.d", PrivacyUnit("person", 2))
    with pytest.raises(SchemaDriftError, match=r"user_id \(the person key\)"):
        check_schema(columns, CODEC, "raw.d", PrivacyUnit("user_id", 2))
