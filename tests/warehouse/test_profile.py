"""Input counts in SQL: exactly what the encoder acts on (NULLs, tokens, NaN, number tokens,
values outside the domain), and the plain input checks decided on them."""

from __future__ import annotations

from collections.abc import Iterator

import duckdb
import numpy as np
import pytest

from dpcore.encoding import ColumnCodec, TableCodec
from expectations import InputReport, report_from_counts
from warehouse.profile import profile_source
from warehouse.source import DuckDBOracle, source_columns

TABLE = "raw.t"
MARKER = "SECRET_MARKER_123"


@pytest.fixture
def con() -> Iterator[duckdb.DuckDBPyConnection]:
    with duckdb.connect() as c:
        c.execute("CREATE SCHEMA raw")
        yield c


def sql_report(con: duckdb.DuckDBPyConnection, codec: TableCodec) -> InputReport:
    profile = profile_source(con, TABLE, codec, source_columns(con, TABLE))
    return report_from_counts(profile.rows, profile.columns, codec)


TRICKY = TableCodec(
    (
        ColumnCodec(
            "work",
            "category",
            categories=("Private", "State-gov"),
            has_missing=True,
            missing_tokens=("?",),
            on_invalid="missing",
        ),
        ColumnCodec("age", "integer", edges=(17.0, 30.0, 50.0, 91.0), on_invalid="clamp"),
        ColumnCodec("hours", "float", edges=(0.0, 40.0, 100.0), has_missing=True),
        ColumnCodec("sex", "category", categories=("Female", "Male")),
        ColumnCodec("grade", "category", categories=("1", "2"), has_missing=True),
        ColumnCodec("flag", "category", categories=("true",)),
        ColumnCodec("price", "float", edges=(0.0, 1.0, 10.0), on_invalid="clamp"),
        ColumnCodec(
            "size",
            "integer",
            edges=(0.0, 5.0, 11.0),
            has_missing=True,
            missing_tokens=("-1",),
            on_invalid="missing",
        ),
    )
)


@pytest.fixture
def tricky(con: duckdb.DuckDBPyConnection) -> None:
    """Seven rows of NULLs, tokens, out-of-range values, category numbers and numbers as text."""
    con.execute(
        "CREATE TABLE raw.t (work VARCHAR, age INTEGER, hours DOUBLE, sex VARCHAR, "
        "grade INTEGER, flag BOOLEAN, price DECIMAL(6, 2), size VARCHAR, secret VARCHAR)"
    )
    con.executemany(
        "INSERT INTO raw.t VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            ["Private", 20, 1.5, "Male", 1, True, "0.50", "3", MARKER],
            ["?", 35, None, "Female", 2, False, "10.00", "-1", MARKER],
            [None, None, 150.0, "Female", 3, None, None, None, MARKER],
            [MARKER, 200, 3.0, "Male", None, True, "-1.00", MARKER, MARKER],
            ["State-gov", 90, 100.0, MARKER, 1, True, "10.01", "-1", MARKER],
            ["?", 10, -0.5, "Male", 2, False, "9.99", "12", MARKER],
            [f"{MARKER}b", 17, 0.0, None, None, True, "0.00", "4", MARKER],
        ],
    )


def test_sql_counts_are_exact(con: duckdb.DuckDBPyConnection, tricky: None) -> None:
    report = sql_report(con, TRICKY)
    failed = {(c.check, c.column) for c in report.checks if not c.success}
    assert failed == {
        ("domain", "work"),
        ("not_null", "age"),
        ("domain", "age"),
        ("domain", "hours"),
        ("not_null", "sex"),
        ("domain", "sex"),
        ("domain", "grade"),
        ("not_null", "flag"),
        ("domain", "flag"),
        ("not_null", "price"),
        ("domain", "price"),
        ("type", "size"),
    }
    work, age, hours = report.column("work"), report.column("age"), report.column("hours")
    assert (work.nulls, work.missing_tokens, work.out_of_domain) == (1, 2, 2)
    assert (age.nulls, age.out_of_domain, age.handled_by_rule) == (1, 2, 3)
    assert (hours.nulls, hours.out_of_domain) == (1, 2)
    grade, flag = report.column("grade"), report.column("flag")
    assert (grade.nulls, grade.out_of_domain) == (2, 1)  # 1 and 2 match "1" and "2" as text
    assert (flag.nulls, flag.out_of_domain) == (1, 2)  # false is outside ("true",)
    size = report.column("size")  # an integer column stored as text
    assert not size.type_ok and size.out_of_domain is None
    assert (size.missing_tokens, size.non_numeric) == (2, 4)
    assert not report.success
    assert MARKER not in repr(report)


def test_nan_and_number_tokens_are_classed_as_the_encoder_does(
    con: duckdb.DuckDBPyConnection,
) -> None:
    """NaN is a value outside the domain (not a NULL), and the token "-1" matches -1.0."""
    con.execute("CREATE TABLE raw.t (x DOUBLE)")
    values = [0.5, None, float("nan"), -1.0, -1.0, 7.0, -3.0, 1.0]
    con.executemany("INSERT INTO raw.t VALUES (?)", [[v] for v in values])
    codec = TableCodec(
        (
            ColumnCodec(
                "x",
                "float",
                edges=(0.0, 0.5, 1.0),
                has_missing=True,
                missing_tokens=("-1",),
                on_invalid="missing",
            ),
        )
    )
    x = sql_report(con, codec).column("x")
    assert (x.nulls, x.missing_tokens, x.out_of_domain) == (1, 2, 3)  # NaN, 7.0, -3.0
    (counts,) = DuckDBOracle(con, TABLE, codec).counts([("x",)])
    assert counts[-1] == 1 + 2 + 3  # NULL, tokens and outside values get the missing code


def test_counts_match_the_encoder_on_random_data(con: duckdb.DuckDBPyConnection) -> None:
    """Under "missing" every NULL, token and outside value gets the missing code; under
    "drop" (no missing code) NULLs and outside values are exactly the dropped rows."""
    con.execute(
        "CREATE TABLE raw.t AS SELECT "
        "CASE WHEN random() < 0.1 THEN NULL WHEN random() < 0.1 THEN 'NaN'::DOUBLE "
        "ELSE round(random() * 14 - 2, 1) END AS f, "
        "CASE WHEN random() < 0.1 THEN NULL ELSE CAST(floor(random() * 30) - 5 AS INTEGER) "
        "END AS i, CASE WHEN random() < 0.1 THEN NULL WHEN random() < 0.1 THEN 'zz' "
        "ELSE chr(97 + CAST(floor(random() * 4) AS INTEGER)) END AS c FROM range(2000)"
    )
    missing = TableCodec(
        (
            ColumnCodec(
                "f",
                "float",
                edges=(0.0, 2.5, 10.0),
                has_missing=True,
                missing_tokens=("-1", "3"),
                on_invalid="missing",
            ),
            ColumnCodec(
                "i",
                "integer",
                edges=(0.0, 7.0, 20.0),
                has_missing=True,
                missing_tokens=("-1",),
                on_invalid="missing",
            ),
            ColumnCodec(
                "c", "category", categories=("a", "b", "c"), has_missing=True, on_invalid="missing"
            ),
        )
    )
    report = sql_report(con, missing)
    oracle = DuckDBOracle(con, TABLE, missing, candidates=[("f",), ("i",), ("c",)])
    for col, counts in zip(missing.columns, oracle.counts([("f",), ("i",), ("c",)]), strict=True):
        stats = report.column(col.name)
        assert stats.out_of_domain is not None and stats.out_of_domain > 0
        assert counts[-1] == stats.nulls + stats.missing_tokens + stats.out_of_domain
    for col in missing.columns:
        drop = TableCodec((ColumnCodec(col.name, col.kind, col.categories, col.edges),))
        stats = sql_report(con, drop).column(col.name)
        (total,) = DuckDBOracle(con, TABLE, drop).counts([()])
        assert stats.out_of_domain is not None
        assert int(total[0]) == 2000 - stats.nulls - stats.out_of_domain
        assert int(np.asarray(total)[0]) < 2000


def test_null_person_keys_are_counted_for_operators(con: duckdb.DuckDBPyConnection) -> None:
    """A person-level release drops rows with a NULL key; the operator-only report says how
    many (and a row unit counts none)."""
    from dpcore.units import PrivacyUnit

    con.execute(
        f"CREATE TABLE {TABLE} AS SELECT CASE WHEN i % 4 = 0 THEN NULL ELSE i % 7 END AS pid, "
        "'a' AS kind FROM range(40) t(i)"
    )
    codec = TableCodec((ColumnCodec("kind", "category", categories=("a",)),))
    types = source_columns(con, TABLE)
    person = profile_source(con, TABLE, codec, types, PrivacyUnit("pid", 2))
    assert (person.rows, person.null_key_rows) == (40, 10)
    assert profile_source(con, TABLE, codec, types).null_key_rows == 0
    report = report_from_counts(person.rows, person.columns, codec, person.null_key_rows)
    assert report.null_key_rows == 10
