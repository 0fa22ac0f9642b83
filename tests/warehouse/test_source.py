"""Reading a source as the spec declares it: existence, schema drift, and encoded counts."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import duckdb
import numpy as np
import pandas as pd
import pytest

from dpcore.encoding import ColumnCodec, TableCodec
from dpcore.marginals import ArrayOracle
from warehouse.errors import EmptySourceError, SchemaDriftError, SourceNotFoundError
from warehouse.source import (
    DuckDBOracle,
    check_not_empty,
    check_schema,
    encoded_query,
    source_columns,
)

TABLE = "raw.t"


@pytest.fixture
def con() -> Iterator[duckdb.DuckDBPyConnection]:
    with duckdb.connect() as c:
        c.execute("CREATE SCHEMA raw")
        yield c


def load(con: duckdb.DuckDBPyConnection, sql_type: str, values: Sequence[object]) -> None:
    """``raw.t`` with one column ``x`` of ``sql_type`` holding ``values``."""
    con.execute(f"CREATE OR REPLACE TABLE raw.t (x {sql_type})")
    if values:
        con.executemany("INSERT INTO raw.t VALUES (?)", [[v] for v in values])


def counts1(con: duckdb.DuckDBPyConnection, codec: ColumnCodec) -> list[int]:
    """The 1-way encoded counts of column ``x``."""
    (counts,) = DuckDBOracle(con, TABLE, TableCodec((codec,))).counts([("x",)])
    assert counts.dtype == np.int64 and counts.shape == (codec.size,)
    return [int(v) for v in counts]


# --- existence and schema ---------------------------------------------------------------


def test_missing_table_is_source_not_found(con: duckdb.DuckDBPyConnection) -> None:
    with pytest.raises(SourceNotFoundError, match=r"raw\.nope does not exist"):
        source_columns(con, "raw.nope")
    with pytest.raises(SourceNotFoundError):
        source_columns(con, "nosuchschema.t")


def test_source_columns_in_table_order(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("CREATE TABLE raw.t (b VARCHAR, a INTEGER, c DECIMAL(10, 2), d DOUBLE)")
    assert source_columns(con, TABLE) == {
        "b": "VARCHAR",
        "a": "INTEGER",
        "c": "DECIMAL(10,2)",
        "d": "DOUBLE",
    }


SPEC = TableCodec(
    (
        ColumnCodec("sex", "category", categories=("F", "M")),
        ColumnCodec("age", "integer", edges=(17.0, 30.0, 91.0), on_invalid="clamp"),
        ColumnCodec("score", "float", edges=(0.0, 1.0)),
    )
)


@pytest.mark.parametrize(
    "columns",
    [
        {"sex": "VARCHAR", "age": "INTEGER", "score": "DOUBLE"},
        {"sex": "ENUM('F', 'M')", "age": "BIGINT", "score": "DECIMAL(10,2)"},
        {"sex": "INTEGER", "age": "SMALLINT", "score": "FLOAT", "extra": "DATE"},
        {"sex": "BOOLEAN", "age": "UBIGINT", "score": "INTEGER"},
    ],
)
def test_usable_schemas_pass(columns: dict[str, str]) -> None:
    check_schema(columns, SPEC, TABLE)


def test_missing_columns_are_named() -> None:
    with pytest.raises(SchemaDriftError) as info:
        check_schema({"sex": "VARCHAR"}, SPEC, TABLE)
    message = str(info.value)
    assert "missing column(s): age, score" in message
    assert "raw.t" in message


def test_wrong_types_are_named() -> None:
    columns = {"sex": "DATE", "age": "TIMESTAMP", "score": "DOUBLE"}
    with pytest.raises(SchemaDriftError) as info:
        check_schema(columns, SPEC, TABLE)
    message = str(info.value)
    assert "sex is DATE but the spec declares it category" in message
    assert "age is TIMESTAMP but the spec declares it integer" in message
    assert "score" not in message


def test_missing_and_wrong_are_both_reported() -> None:
    with pytest.raises(SchemaDriftError, match=r"missing column\(s\): score; age is TIMESTAMP"):
        check_schema({"sex": "VARCHAR", "age": "TIMESTAMP"}, SPEC, TABLE)


def test_schema_checked_against_a_real_table(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("CREATE TABLE raw.t (sex VARCHAR, age DATE)")
    with pytest.raises(SchemaDriftError, match=r"missing column\(s\): score; age is DATE"):
        check_schema(source_columns(con, TABLE), SPEC, TABLE)


def test_empty_source(con: duckdb.DuckDBPyConnection) -> None:
    load(con, "INTEGER", [])
    with pytest.raises(EmptySourceError, match=r"raw\.t has no rows"):
        check_not_empty(con, TABLE)
    con.execute("INSERT INTO raw.t VALUES (NULL)")
    check_not_empty(con, TABLE)  # a row of NULLs is a row


# --- encoding rules, seen through the counts -------------------------------------------

CATS = ("a", "b", "c")


def test_category_missing_token_and_null_map_to_missing(con: duckdb.DuckDBPyConnection) -> None:
    load(con, "VARCHAR", ["a", "b", "?", None, "c", "a", "?"])
    codec = ColumnCodec("x", "category", categories=CATS, has_missing=True, missing_tokens=("?",))
    assert counts1(con, codec) == [2, 1, 1, 3]  # a, b, c, missing (2 "?" + NULL)


def test_unknown_category_to_missing(con: duckdb.DuckDBPyConnection) -> None:
    load(con, "VARCHAR", ["a", "zzz", "A", "b ", None])
    codec = ColumnCodec("x", "category", categories=CATS, has_missing=True, on_invalid="missing")
    assert counts1(con, codec) == [1, 0, 0, 4]


def test_unknown_category_dropped(con: duckdb.DuckDBPyConnection) -> None:
    load(con, "VARCHAR", ["a", "zzz", "c", "?", None])
    codec = ColumnCodec(
        "x",
        "category",
        categories=CATS,
        has_missing=True,
        missing_tokens=("?",),
        on_invalid="drop",
    )
    # "zzz" dropped; "?" and NULL are declared missing, so they are kept as missing
    assert counts1(con, codec) == [1, 0, 1, 2]


def test_null_without_missing_code_is_dropped(con: duckdb.DuckDBPyConnection) -> None:
    load(con, "VARCHAR", ["a", None, "b", "q"])
    codec = ColumnCodec("x", "category", categories=CATS)
    assert counts1(con, codec) == [1, 1, 0]


def test_category_over_an_integer_column(con: duckdb.DuckDBPyConnection) -> None:
    load(con, "INTEGER", [1, 2, 2, 3, None])
    codec = ColumnCodec(
        "x", "category", categories=("1", "2"), has_missing=True, on_invalid="missing"
    )
    assert counts1(con, codec) == [1, 2, 2]


AGE_EDGES = (17.0, 30.0, 91.0)  # integer bins 17..29 and 30..90


@pytest.mark.parametrize(
    ("value", "code"),
    [(17, 0), (18, 0), (29, 0), (30, 1), (31, 1), (90, 1)],
)
def test_integer_bins_are_half_open(con: duckdb.DuckDBPyConnection, value: int, code: int) -> None:
    load(con, "INTEGER", [value])
    expected = [0, 0]
    expected[code] = 1
    assert counts1(con, ColumnCodec("x", "integer", edges=AGE_EDGES)) == expected


def test_integer_clamp_goes_to_first_and_last_bin(con: duckdb.DuckDBPyConnection) -> None:
    load(con, "INTEGER", [-5, 16, 17, 90, 91, 1000])
    codec = ColumnCodec("x", "integer", edges=AGE_EDGES, on_invalid="clamp")
    assert counts1(con, codec) == [3, 3]


def test_integer_out_of_bounds_dropped_or_missing(con: duckdb.DuckDBPyConnection) -> None:
    load(con, "INTEGER", [16, 17, 50, 90, 91, None])
    assert counts1(con, ColumnCodec("x", "integer", edges=AGE_EDGES)) == [1, 2]
    codec = ColumnCodec("x", "integer", edges=AGE_EDGES, has_missing=True, on_invalid="missing")
    assert counts1(con, codec) == [1, 2, 3]  # 16, 91 and NULL are missing


def test_integer_missing_token(con: duckdb.DuckDBPyConnection) -> None:
    load(con, "INTEGER", [-1, 20, -1, 40, -2])
    codec = ColumnCodec(
        "x",
        "integer",
        edges=AGE_EDGES,
        has_missing=True,
        missing_tokens=("-1",),
        on_invalid="clamp",
    )
    assert counts1(con, codec) == [2, 1, 2]  # -2 is clamped, -1 is missing


def test_float_missing_token_matches_numerically(con: duckdb.DuckDBPyConnection) -> None:
    load(con, "DOUBLE", [-1.0, 0.25, -1.0, 0.75])
    codec = ColumnCodec(
        "x",
        "float",
        edges=(0.0, 0.5, 1.0),
        has_missing=True,
        missing_tokens=("-1",),
        on_invalid="clamp",
    )
    assert counts1(con, codec) == [1, 1, 2]


FLOAT_EDGES = (0.0, 0.5, 1.0)


@pytest.mark.parametrize(
    ("value", "code"),
    [(0.0, 0), (0.4999999, 0), (0.5, 1), (0.9999999, 1), (1.0, 1)],
)
def test_float_bins_last_closed_at_upper_bound(
    con: duckdb.DuckDBPyConnection, value: float, code: int
) -> None:
    load(con, "DOUBLE", [value])
    expected = [0, 0]
    expected[code] = 1
    assert counts1(con, ColumnCodec("x", "float", edges=FLOAT_EDGES)) == expected


def test_float_out_of_bounds(con: duckdb.DuckDBPyConnection) -> None:
    load(con, "DOUBLE", [-0.001, 0.2, 1.0, 1.0000001, 7.0])
    assert counts1(con, ColumnCodec("x", "float", edges=FLOAT_EDGES)) == [1, 1]
    clamp = ColumnCodec("x", "float", edges=FLOAT_EDGES, on_invalid="clamp")
    assert counts1(con, clamp) == [2, 3]


@pytest.mark.parametrize(
    ("rule", "has_missing", "expected"),
    [
        ("clamp", False, [1, 1]),  # NaN has no clamp target: dropped
        ("drop", False, [1, 1]),
        ("missing", True, [1, 1, 2]),
        ("clamp", True, [1, 1, 0]),  # NaN is not NULL: still dropped under clamp
    ],
)
def test_nan_handling(
    con: duckdb.DuckDBPyConnection, rule: str, has_missing: bool, expected: list[int]
) -> None:
    load(con, "DOUBLE", [0.1, float("nan"), 0.9, float("nan")])
    codec = ColumnCodec(
        "x",
        "float",
        edges=FLOAT_EDGES,
        has_missing=has_missing,
        on_invalid=rule,  # type: ignore[arg-type]
    )
    assert counts1(con, codec) == expected


def test_decimal_column_bins(con: duckdb.DuckDBPyConnection) -> None:
    load(con, "DECIMAL(6, 2)", ["0.00", "0.49", "0.50", "1.00"])
    assert counts1(con, ColumnCodec("x", "float", edges=FLOAT_EDGES)) == [2, 2]


# --- multi-way counts against a pandas reference ---------------------------------------

COLORS = ("red", "green", "blue")
WIDE = TableCodec(
    (
        ColumnCodec(
            "color", "category", categories=COLORS, has_missing=True, missing_tokens=("?",)
        ),
        ColumnCodec("age", "integer", edges=AGE_EDGES, on_invalid="clamp"),
        ColumnCodec("score", "float", edges=(0.0, 0.25, 0.5, 1.0)),
    )
)


def reference_codes(frame: pd.DataFrame) -> pd.DataFrame:
    """The spec's encoding, written independently in pandas (rows with a drop removed)."""
    color = frame["color"].map({c: float(i) for i, c in enumerate(COLORS)})
    color[frame["color"].isna() | (frame["color"] == "?")] = 3.0  # declared missing
    # other colors (purple) are invalid and the rule is "drop": they stay NaN
    age_code = (frame["age"].clip(17, 90) >= 30).astype("int64")  # clamped
    score = frame["score"]
    score_code = np.searchsorted([0.25, 0.5], score.to_numpy(), side="right")
    keep = color.notna() & score.between(0.0, 1.0)  # score outside the bounds: dropped
    codes = pd.DataFrame({"color": color, "age": age_code, "score": score_code})
    return codes[keep].astype("int64")


@pytest.fixture
def wide(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    rng = np.random.default_rng(7)
    n = 500
    frame = pd.DataFrame(
        {
            "color": rng.choice(np.array([*COLORS, "?", "purple"], dtype=object), n),
            "age": rng.integers(0, 120, n),
            "score": rng.uniform(-0.2, 1.2, n),
        }
    )
    frame.loc[rng.choice(n, 20, replace=False), "color"] = None
    frame.loc[rng.choice(n, 5, replace=False), "score"] = 1.0  # the closed upper edge
    con.execute(
        "CREATE TABLE raw.t AS SELECT color::VARCHAR AS color, age::INTEGER AS age, "
        "score::DOUBLE AS score FROM frame"
    )
    return frame


def test_marginals_match_a_pandas_reference(
    con: duckdb.DuckDBPyConnection, wide: pd.DataFrame
) -> None:
    codes = reference_codes(wide)
    assert 150 < len(codes) < 450  # the fixture exercises drops
    reference = ArrayOracle(WIDE.domain, codes[list(WIDE.domain.names)].to_numpy())
    cliques = [
        (),
        ("color",),
        ("color", "age"),
        ("age", "color"),
        ("score", "color"),
        ("color", "age", "score"),
    ]
    got = DuckDBOracle(con, TABLE, WIDE).counts(cliques)
    want = reference.counts(cliques)
    for clique, g, w in zip(cliques, got, want, strict=True):
        assert g.dtype == np.int64
        np.testing.assert_array_equal(g, w, err_msg=str(clique))
    assert got[0][0] == len(codes)  # purple and out-of-range scores were dropped
    assert got[1][3] == (wide["color"].isna() | (wide["color"] == "?"))[codes.index].sum()


def test_two_way_counts_equal_crosstab(con: duckdb.DuckDBPyConnection, wide: pd.DataFrame) -> None:
    codes = reference_codes(wide)
    table = pd.crosstab(codes["color"], codes["age"]).reindex(
        index=range(4), columns=range(2), fill_value=0
    )
    (got,) = DuckDBOracle(con, TABLE, WIDE).counts([("color", "age")])
    np.testing.assert_array_equal(got.reshape(4, 2), table.to_numpy())


def test_counts_are_flattened_in_c_order(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("CREATE TABLE raw.t (a VARCHAR, b VARCHAR)")
    con.execute("INSERT INTO raw.t VALUES ('a0', 'b2'), ('a1', 'b0'), ('a1', 'b0'), ('a1', 'b1')")
    codec = TableCodec(
        (
            ColumnCodec("a", "category", categories=("a0", "a1")),
            ColumnCodec("b", "category", categories=("b0", "b1", "b2")),
        )
    )
    ab, ba = DuckDBOracle(con, TABLE, codec).counts([("a", "b"), ("b", "a")])
    # (a, b) has shape (2, 3): cell (i, j) is at i * 3 + j
    assert ab.tolist() == [0, 0, 1, 2, 1, 0]
    # (b, a) has shape (3, 2): cell (j, i) is at j * 2 + i
    assert ba.tolist() == [0, 2, 0, 1, 1, 0]


def test_empty_after_drops_gives_zero_counts(con: duckdb.DuckDBPyConnection) -> None:
    load(con, "VARCHAR", ["nope", None])
    codec = TableCodec((ColumnCodec("x", "category", categories=CATS),))
    total, one = DuckDBOracle(con, TABLE, codec).counts([(), ("x",)])
    assert total.tolist() == [0] and one.tolist() == [0, 0, 0]


# --- one scan for every candidate, against the per-clique GROUP BY ----------------------


def group_by_counts(
    con: duckdb.DuckDBPyConnection, codec: TableCodec, clique: tuple[str, ...]
) -> np.ndarray:
    """The former oracle: one GROUP BY of the encoded rows per clique, scattered densely."""
    shape = codec.domain.shape(clique)
    counts = np.zeros(int(np.prod(shape)), dtype=np.int64)
    query = encoded_query(TABLE, codec, salt="s")
    if not clique:
        counts[0] = con.execute(f"SELECT count(*) FROM ({query})").fetchall()[0][0]
        return counts
    cols = ", ".join(f'"{c}"' for c in clique)
    rows = con.execute(f"SELECT {cols}, count(*) AS n FROM ({query}) GROUP BY ALL").fetchnumpy()
    index = np.ravel_multi_index(tuple(np.asarray(rows[c], dtype=np.int64) for c in clique), shape)
    counts[index] = rows["n"]
    return counts


RANDOM = TableCodec(
    (
        ColumnCodec("a", "category", categories=tuple("abcdefg"), has_missing=True),
        ColumnCodec("b", "integer", edges=(0.0, 1.0, 5.0, 7.0, 50.0), on_invalid="clamp"),
        ColumnCodec("c", "float", edges=(-1.0, 0.0, 0.5, 2.0), has_missing=True),
        ColumnCodec("d", "integer", edges=tuple(float(x) for x in range(0, 6000, 7))),
        ColumnCodec("e", "category", categories=("1", "2", "3")),
    )
)


@pytest.fixture
def random_source(con: duckdb.DuckDBPyConnection) -> None:
    """3000 random rows with NULLs, NaN, out-of-range values and drops in every column."""
    con.execute(
        "CREATE TABLE raw.t AS SELECT "
        "CASE WHEN random() < 0.1 THEN NULL ELSE chr(97 + CAST(floor(random() * 8) AS INTEGER)) "
        "END AS a, CAST(floor(random() * 60) - 5 AS INTEGER) AS b, "
        "CASE WHEN random() < 0.05 THEN 'NaN'::DOUBLE WHEN random() < 0.1 THEN NULL "
        "ELSE random() * 3.5 - 1.2 END AS c, "
        "CASE WHEN random() < 0.02 THEN 7000.5 ELSE random() * 6000 END AS d, "
        "CAST(floor(random() * 4) AS INTEGER) AS e FROM range(3000)"
    )


def test_one_scan_equals_a_group_by_per_clique(
    con: duckdb.DuckDBPyConnection, random_source: None
) -> None:
    names = RANDOM.domain.names
    cliques = [(), *[(n,) for n in names]]
    cliques += [(x, y) for i, x in enumerate(names) for y in names[i + 1 :]]
    cliques += [("e", "a"), ("c", "a", "b")]
    oracle = DuckDBOracle(con, TABLE, RANDOM, salt="s", candidates=cliques, block_cells=400)
    got = oracle.counts(cliques[:3])
    got += oracle.counts(cliques[3:])
    assert oracle.scans == 1  # every candidate came from the first scan
    for clique, counts in zip(cliques, got, strict=True):
        np.testing.assert_array_equal(counts, group_by_counts(con, RANDOM, clique), str(clique))
    assert 0 < got[0][0] < 3000  # rows were dropped


def test_a_clique_outside_the_candidates_costs_one_more_scan(
    con: duckdb.DuckDBPyConnection, random_source: None
) -> None:
    oracle = DuckDBOracle(con, TABLE, RANDOM, salt="s", candidates=[("a",), ("b",)])
    oracle.counts([("a",)])
    (abc,) = oracle.counts([("c", "b", "a")])
    assert oracle.scans == 2
    np.testing.assert_array_equal(abc, group_by_counts(con, RANDOM, ("c", "b", "a")))


def test_integer_bins_of_fractional_values(con: duckdb.DuckDBPyConnection) -> None:
    """An integer column stored as DOUBLE: x and floor(x) share a bin (the lookup path)."""
    load(con, "DOUBLE", [16.9, 17.0, 29.99, 30.0, 90.5, 90.999, 91.0])
    assert counts1(con, ColumnCodec("x", "integer", edges=AGE_EDGES)) == [2, 3]


def test_wide_integer_range_uses_comparisons(con: duckdb.DuckDBPyConnection) -> None:
    edges = (0.0, 10.0, 50_000.0, 99_999.0)  # more values than the lookup list holds
    load(con, "BIGINT", [0, 9, 10, 49_999, 50_000, 99_998, 99_999])
    assert counts1(con, ColumnCodec("x", "integer", edges=edges)) == [2, 2, 2]


def test_extreme_values_in_an_integer_column_are_clamped(con: duckdb.DuckDBPyConnection) -> None:
    """Infinite and huge doubles never reach the lookup list's index cast."""
    load(con, "DOUBLE", [1e300, -1e300, float("inf"), float("-inf"), float("nan"), 20.0, None])
    codec = ColumnCodec("x", "integer", edges=AGE_EDGES, on_invalid="clamp")
    assert counts1(con, codec) == [3, 2]  # NaN and NULL have no clamp target: dropped
