"""Person-level privacy: contributions are bounded in SQL before counting, so adding one
person with many rows moves every marginal by at most the declared sensitivity k."""

from __future__ import annotations

import secrets
from pathlib import Path

import duckdb
import numpy as np
import pytest

from dpcore.encoding import ColumnCodec, TableCodec
from dpcore.units import PrivacyUnit
from warehouse.errors import SchemaDriftError
from warehouse.source import (
    DuckDBOracle,
    check_schema,
    encoded_select,
    qualified,
    source_columns,
)

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


def _kept_by_person(
    con: duckdb.DuckDBPyConnection, table: str, k: int, salt: str
) -> dict[str, list[tuple[int, ...]]]:
    """Each person's kept rows (as sorted code tuples) under the production cut."""
    query = encoded_select(qualified(table), CODEC, PrivacyUnit("person", k), salt, with_key=True)
    kept: dict[str, list[tuple[int, ...]]] = {}
    for *codes, person in con.execute(query).fetchall():
        kept.setdefault(str(person), []).append(tuple(int(c) for c in codes))
    return {p: sorted(rows) for p, rows in kept.items()}


def _reload_with_newcomer_first(path: Path) -> None:
    """``raw.reloaded``: a fresh ``CREATE TABLE AS`` with a newcomer's 40 rows placed first,
    so every other row's rowid moves (what a scheduled ETL reload does)."""
    with duckdb.connect(str(path)) as con:
        con.execute(
            "CREATE TABLE raw.reloaded AS "
            "SELECT 'newcomer' AS person, ['a','b','c'][1 + i % 3] AS kind, (i * 7) % 30 AS score "
            "FROM range(40) t(i) UNION ALL SELECT * FROM raw.d"
        )
        moved = con.execute(
            "SELECT count(*) FROM (SELECT rowid AS r FROM raw.d) a "
            "JOIN (SELECT rowid - 40 AS r FROM raw.reloaded WHERE rowid >= 40) b USING (r)"
        ).fetchall()[0][0]
        # Same rows after the newcomer, but every rowid shifted by 40.
        assert moved == con.execute("SELECT count(*) FROM raw.d").fetchall()[0][0]


@pytest.mark.parametrize("k", [1, 3])
def test_reload_with_one_more_person_first_moves_only_that_person(tmp_path: Path, k: int) -> None:
    """The audit's neighbour: other people's kept rows are identical for every salt, and each
    marginal moves by at most k (exactly the newcomer's k kept rows)."""
    path = tmp_path / "w.duckdb"
    make_tables(path)
    _reload_with_newcomer_first(path)
    with duckdb.connect(str(path)) as con:
        for i in range(40):
            salt = secrets.token_hex(16) if i else "fixed"
            before = _kept_by_person(con, "raw.d", k, salt)
            after = _kept_by_person(con, "raw.reloaded", k, salt)
            assert len(after.pop("newcomer")) == k
            assert after == before
            old = DuckDBOracle(con, "raw.d", CODEC, PrivacyUnit("person", k), salt=salt)
            new = DuckDBOracle(con, "raw.reloaded", CODEC, PrivacyUnit("person", k), salt=salt)
            for b, a in zip(old.counts(CLIQUES), new.counts(CLIQUES), strict=True):
                assert np.abs(a - b).sum() == k


def test_a_cut_by_row_position_fails_the_reload_neighbour(tmp_path: Path) -> None:
    """The landed cut (a hash of rowid) moved other people's rows under this reload: the
    neighbour above is one the old code could not survive, so the test above can fail."""
    path = tmp_path / "w.duckdb"
    make_tables(path)
    _reload_with_newcomer_first(path)

    def by_position(table: str, salt: str) -> dict[tuple[str, int], int]:
        query = (
            f"SELECT kind, score, count(*) FROM (SELECT * FROM {qualified(table)} WHERE "
            "person <> 'newcomer' QUALIFY row_number() OVER (PARTITION BY person ORDER BY "
            f"hash(rowid, '{salt}'), rowid) <= 3) GROUP BY ALL"
        )
        with duckdb.connect(str(path)) as con:
            return {(k, s): n for k, s, n in con.execute(query).fetchall()}

    moved = []
    for salt in ("s", "t", "u"):
        old, new = by_position("raw.d", salt), by_position("raw.reloaded", salt)
        moved.append(sum(abs(old.get(c, 0) - new.get(c, 0)) for c in {*old, *new}))
    assert max(moved) > 3, moved


def test_null_keys_are_dropped_not_pooled(tmp_path: Path) -> None:
    """Rows with a NULL key belong to nobody: they are never counted, so adding a 'person'
    whose rows all have a NULL key changes no histogram (pooling them would move it by 2k)."""
    path = tmp_path / "w.duckdb"
    make_tables(path)
    with duckdb.connect(str(path)) as con:
        con.execute(
            "CREATE TABLE raw.with_nulls AS SELECT * FROM raw.d UNION ALL "
            "SELECT NULL, ['a','b','c'][1 + i % 3], i % 30 FROM range(7) t(i)"
        )
        con.execute(
            "CREATE TABLE raw.one_more_null AS SELECT NULL AS person, 'b' AS kind, 25 AS score "
            "FROM range(5) UNION ALL SELECT * FROM raw.with_nulls"
        )
        for k in (1, 3):
            unit = PrivacyUnit("person", k)
            base = DuckDBOracle(con, "raw.d", CODEC, unit, salt="s").counts(CLIQUES)
            nulls = DuckDBOracle(con, "raw.with_nulls", CODEC, unit, salt="s").counts(CLIQUES)
            more = DuckDBOracle(con, "raw.one_more_null", CODEC, unit, salt="s").counts(CLIQUES)
            for b, n, m in zip(base, nulls, more, strict=True):
                assert np.array_equal(b, n)
                assert np.array_equal(n, m)


def test_the_kept_rows_are_spread_evenly_over_a_persons_rows(tmp_path: Path) -> None:
    """Which 3 of a person's 6 distinct rows are kept is uniform over the 20 subsets, across
    salts and across people (chi-square, 19 df; false-failure rate 1e-6: threshold 63.7)."""
    path = tmp_path / "w.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE SCHEMA raw")
        con.execute(
            "CREATE TABLE raw.six AS SELECT 'p' || p AS person, ['a', 'b'][1 + i % 2] AS kind, "
            "10 * (i // 2) AS score "
            "FROM range(20) s(p), range(6) r(i)"
        )
        counts: dict[tuple[tuple[int, ...], ...], int] = {}
        for _ in range(200):
            for rows in _kept_by_person(con, "raw.six", 3, secrets.token_hex(16)).values():
                counts[tuple(rows)] = counts.get(tuple(rows), 0) + 1
    assert len(counts) == 20
    observed = np.array(list(counts.values()), dtype=float)
    expected = observed.sum() / 20
    assert float(((observed - expected) ** 2 / expected).sum()) < 63.7
