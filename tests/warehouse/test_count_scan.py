"""The oracle's counting scan (run without DuckDB's filter pushdown) counts exactly the rows
the encoded query keeps: several blocks, NULLs and dropped values, a person unit."""

from __future__ import annotations

from itertools import combinations

import duckdb
import numpy as np
import pytest

from dpcore.encoding import ColumnCodec, TableCodec
from dpcore.units import PrivacyUnit
from warehouse.source import DuckDBOracle, encoded_query, encoding_once

CODEC = TableCodec(
    (
        ColumnCodec("kind", "category", categories=("a", "b", "c"), on_invalid="drop"),
        ColumnCodec(
            "level",
            "category",
            categories=("lo", "mid", "hi"),
            has_missing=True,
            missing_tokens=("?",),
        ),
        ColumnCodec("age", "integer", edges=tuple(float(e) for e in range(0, 101, 5))),
        ColumnCodec(
            "pay",
            "float",
            edges=(0.0, 10.0, 20.0, 50.0, 100.0),
            on_invalid="clamp",
            has_missing=True,
        ),
    )
)
CLIQUES = [c for r in (1, 2) for c in combinations(CODEC.domain.names, r)]


@pytest.fixture
def con() -> duckdb.DuckDBPyConnection:
    """``raw.t``: 5000 rows over 400 people, with NULLs, missing tokens and values outside
    the domains (dropped rows)."""
    con = duckdb.connect()
    con.execute("CREATE SCHEMA raw")
    con.execute(
        "CREATE TABLE raw.t AS SELECT 'p' || (i % 400) AS person, "
        "CASE WHEN i % 37 = 0 THEN NULL WHEN i % 41 = 0 THEN 'zz' "
        "ELSE ['a','b','c'][1 + (i * 7) % 3] END AS kind, "
        "CASE WHEN i % 13 = 0 THEN '?' WHEN i % 29 = 0 THEN NULL "
        "ELSE ['lo','mid','hi'][1 + (i * 5) % 3] END AS level, "
        "CASE WHEN i % 31 = 0 THEN 150 WHEN i % 43 = 0 THEN NULL ELSE (i * 11) % 100 END AS age, "
        "CASE WHEN i % 17 = 0 THEN NULL WHEN i % 19 = 0 THEN -5.0 "
        "ELSE ((i * 3) % 120) + 0.5 END AS pay "
        "FROM range(5000) t(i)"
    )
    return con


def numpy_counts(con: duckdb.DuckDBPyConnection, unit: PrivacyUnit) -> list[np.ndarray]:
    """Each clique's counts from the encoded rows fetched whole (pushdown left on)."""
    rows = con.execute(encoded_query("raw.t", CODEC, unit, "s")).fetchnumpy()
    domain = CODEC.domain
    out = []
    for clique in CLIQUES:
        shape = domain.shape(clique)
        index = np.ravel_multi_index([np.asarray(rows[n], dtype=np.int64) for n in clique], shape)
        out.append(np.bincount(index, minlength=int(np.prod(shape))))
    return out


@pytest.mark.parametrize("unit", [PrivacyUnit(), PrivacyUnit("person", 3)])
def test_counts_equal_a_count_of_the_encoded_rows(
    con: duckdb.DuckDBPyConnection, unit: PrivacyUnit
) -> None:
    expected = numpy_counts(con, unit)
    oracle = DuckDBOracle(con, "raw.t", CODEC, unit, salt="s", block_cells=400)
    got = oracle.counts(CLIQUES)
    assert oracle.scans == 1
    blocks = {b for b, _ in oracle._tables}
    assert len(blocks) >= 3  # several blocks in the one scan
    kept = int(expected[0].sum())
    assert 0 < kept < 5000  # rows were dropped (and, with the unit, cut)
    assert unit.key is None or kept <= 400 * 3
    for clique, want, have in zip(CLIQUES, expected, got, strict=True):
        np.testing.assert_array_equal(have, want, err_msg=str(clique))


def test_the_optimizer_setting_is_restored(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("SET disabled_optimizers = 'join_order'")
    with encoding_once(con):
        inside = con.execute("SELECT current_setting('disabled_optimizers')").fetchall()[0][0]
    after = con.execute("SELECT current_setting('disabled_optimizers')").fetchall()[0][0]
    assert "filter_pushdown" in inside and "join_order" in inside
    assert after == "join_order"
    con.execute("RESET disabled_optimizers")
    DuckDBOracle(con, "raw.t", CODEC).counts([("kind",)])
    assert con.execute("SELECT current_setting('disabled_optimizers')").fetchall()[0][0] == ""
