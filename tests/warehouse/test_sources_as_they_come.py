"""Sources as they come: numbers stored as text with tokens, any source column name, and a
schema refusal that tells a new spec what to declare (issue 15)."""

from __future__ import annotations

from collections.abc import Iterator

import duckdb
import pytest

from dpcore.encoding import ColumnCodec, TableCodec
from dpcore.units import PrivacyUnit
from warehouse.errors import SchemaDriftError
from warehouse.profile import profile_source
from warehouse.source import DuckDBOracle, check_schema, encoded_query, source_columns

TABLE = "raw.t"
MARKER = "SECRET_MARKER_77"


@pytest.fixture
def con() -> Iterator[duckdb.DuckDBPyConnection]:
    with duckdb.connect() as c:
        c.execute("CREATE SCHEMA raw")
        yield c


def text_column(con: duckdb.DuckDBPyConnection, values: list[str | None]) -> None:
    con.execute('CREATE OR REPLACE TABLE raw.t ("NOC" VARCHAR)')
    con.executemany("INSERT INTO raw.t VALUES (?)", [[v] for v in values])


def noc(**kw: object) -> ColumnCodec:
    """Number of own children, 0..3 (bins 0, 1, 2-3), stored as text with ``N`` tokens."""
    fields: dict[str, object] = {"edges": (0.0, 1.0, 2.0, 4.0), **kw}
    return ColumnCodec("NOC", "integer", **fields)  # type: ignore[arg-type]


def counts(con: duckdb.DuckDBPyConnection, codec: ColumnCodec) -> list[int]:
    (one,) = DuckDBOracle(con, TABLE, TableCodec((codec,))).counts([(codec.name,)])
    return [int(v) for v in one]


VALUES = ["0", "1", "N", "2", "3", None, "N", " 1", MARKER, "7", "-1", "1.0"]


def test_a_numeric_column_stored_as_text_passes_the_schema_check() -> None:
    check_schema({"NOC": "VARCHAR"}, TableCodec((noc(),)), TABLE)


def test_text_numbers_are_cast_and_tokens_are_missing(con: duckdb.DuckDBPyConnection) -> None:
    text_column(con, VALUES)
    codec = noc(has_missing=True, missing_tokens=("N",))  # on_invalid defaults to drop
    # 0 | 1, " 1", "1.0" | 2, 3 | missing: N, N, NULL; the marker, 7 and -1 are dropped
    assert counts(con, codec) == [1, 3, 2, 3]


def test_non_numeric_text_follows_on_invalid(con: duckdb.DuckDBPyConnection) -> None:
    text_column(con, VALUES)
    as_missing = noc(has_missing=True, missing_tokens=("N",), on_invalid="missing")
    assert counts(con, as_missing) == [1, 3, 2, 6]  # the marker, 7 and -1 are missing too
    clamped = noc(has_missing=True, missing_tokens=("N",), on_invalid="clamp")
    assert counts(con, clamped) == [2, 3, 3, 3]  # -1 and 7 clamped; the marker has no bound


def test_a_number_token_in_a_text_column(con: duckdb.DuckDBPyConnection) -> None:
    text_column(con, ["-1", "-1.0", "2", "x"])
    codec = noc(has_missing=True, missing_tokens=("-1",))
    assert counts(con, codec) == [0, 0, 1, 2]  # "-1" and "-1.0" are the token; "x" dropped


def test_numbers_stored_as_numbers_encode_as_before(con: duckdb.DuckDBPyConnection) -> None:
    con.execute('CREATE TABLE raw.t ("NOC" DECIMAL(6, 2))')
    con.executemany("INSERT INTO raw.t VALUES (?)", [[v] for v in ["0.5", "1", "-1", "3.99"]])
    codec = noc(has_missing=True, missing_tokens=("-1",))
    assert counts(con, codec) == [1, 1, 1, 1]


def test_the_profile_counts_a_text_column_without_reading_values(
    con: duckdb.DuckDBPyConnection,
) -> None:
    text_column(con, VALUES)
    codec = TableCodec((noc(has_missing=True, missing_tokens=("N",)),))
    profile = profile_source(con, TABLE, codec, source_columns(con, TABLE))
    (column,) = profile.columns
    assert (column.nulls, column.missing_tokens) == (1, 2)
    assert MARKER not in repr(profile)


# --- any source column name, released under its own name --------------------------------


def test_a_quoted_source_column_is_released_under_its_name(con: duckdb.DuckDBPyConnection) -> None:
    con.execute('CREATE TABLE raw.t ("income>50K" VARCHAR, "Hours ""per"" week" INTEGER)')
    con.execute("INSERT INTO raw.t VALUES ('yes', 40), ('no', 20), ('yes', NULL)")
    codec = TableCodec(
        (
            ColumnCodec("income_gt_50k", "category", ("no", "yes"), source_column="income>50K"),
            ColumnCodec(
                "hours",
                "integer",
                edges=(0.0, 30.0, 100.0),
                has_missing=True,
                source_column='Hours "per" week',
            ),
        )
    )
    check_schema(source_columns(con, TABLE), codec, TABLE)
    income, pair = DuckDBOracle(con, TABLE, codec).counts(
        [("income_gt_50k",), ("income_gt_50k", "hours")]
    )
    assert income.tolist() == [1, 2]
    assert pair.tolist() == [1, 0, 0, 0, 1, 1]  # no: 20 | yes: 40, NULL (missing)
    output = con.execute(f"SELECT * FROM ({encoded_query(TABLE, codec)}) LIMIT 0")
    assert [d[0] for d in output.description or []] == ["income_gt_50k", "hours"]


def test_a_person_key_and_a_renamed_column(con: duckdb.DuckDBPyConnection) -> None:
    con.execute('CREATE TABLE raw.t (pid INTEGER, "a b" VARCHAR)')
    con.execute("INSERT INTO raw.t VALUES (1, 'x'), (1, 'x'), (2, 'y')")
    codec = TableCodec((ColumnCodec("ab", "category", ("x", "y"), source_column="a b"),))
    (one,) = DuckDBOracle(con, TABLE, codec, PrivacyUnit("pid", 1)).counts([("ab",)])
    assert one.tolist() == [1, 1]


# --- schema refusals: drift of a released spec, or what a new spec should declare --------

SPEC = TableCodec(
    (
        ColumnCodec("income", "category", ("<=50K", ">50K")),
        ColumnCodec("age", "integer", edges=(17.0, 91.0)),
    )
)
COLUMNS = {"age": "DATE", "income>50K": "VARCHAR", "fnlwgt": "BIGINT"}


def test_a_released_spec_hears_that_the_table_drifted() -> None:
    with pytest.raises(SchemaDriftError) as info:
        check_schema(COLUMNS, SPEC, TABLE, released=True)
    message = str(info.value)
    assert "no longer matches the spec" in message
    assert "missing column(s): income" in message
    assert "age is DATE but the spec declares it integer" in message


def test_a_new_spec_hears_what_to_declare() -> None:
    with pytest.raises(SchemaDriftError) as info:
        check_schema(COLUMNS, SPEC, TABLE, released=False)
    message = str(info.value)
    assert "no longer" not in message and "drift" not in message
    assert "has not released from yet" in message
    assert "raw.t has no column income" in message
    assert "age is DATE: an integer column must be stored as numbers or text" in message
    assert "age DATE, income>50K VARCHAR, fnlwgt BIGINT" in message  # catalog metadata only
    assert "source_column:" in message


def test_a_renamed_column_is_named_both_ways() -> None:
    codec = TableCodec((ColumnCodec("hours", "integer", edges=(0.0, 9.0), source_column="h w"),))
    with pytest.raises(SchemaDriftError, match=r"h w \(released as hours\) is BOOLEAN"):
        check_schema({"h w": "BOOLEAN"}, codec, TABLE)
