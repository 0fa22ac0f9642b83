"""A view source charges the cap of the base table it reads; views that could repeat a
person's rows, or make one row depend on others, are refused."""

from __future__ import annotations

from collections.abc import Iterator

import duckdb
import pytest

from warehouse.views import UnsupportedViewError, base_table


@pytest.fixture
def con() -> Iterator[duckdb.DuckDBPyConnection]:
    with duckdb.connect() as c:
        c.execute("CREATE SCHEMA raw")
        c.execute("CREATE TABLE raw.adult (age INTEGER, sex VARCHAR, pid INTEGER)")
        c.execute("CREATE TABLE raw.other (pid INTEGER)")
        yield c


@pytest.mark.parametrize(
    "view",
    [
        "SELECT age, sex FROM raw.adult WHERE age > 16",
        "SELECT age + 1 AS age, upper(sex) AS sex, CAST(pid AS VARCHAR) AS p FROM raw.adult",
        "SELECT CASE WHEN age > 90 THEN 90 ELSE age END AS age FROM raw.adult ORDER BY age",
        "SELECT * FROM adult",  # unqualified: the view's own schema
    ],
)
def test_a_row_local_view_resolves_to_its_table(con: duckdb.DuckDBPyConnection, view: str) -> None:
    con.execute(f"CREATE VIEW raw.v AS {view}")
    con.execute("CREATE VIEW raw.vv AS SELECT * FROM raw.v")
    assert base_table(con, "raw.v") == "raw.adult"
    assert base_table(con, "raw.vv") == "raw.adult"  # views over views
    assert base_table(con, "raw.adult") == "raw.adult"


@pytest.mark.parametrize(
    ("view", "reason"),
    [
        ("SELECT * FROM raw.adult UNION ALL SELECT * FROM raw.adult", "combines several"),
        ("SELECT a.* FROM raw.adult a JOIN raw.other USING (pid)", "one table"),
        ("SELECT pid, count(*) AS n FROM raw.adult GROUP BY pid", "groups rows"),
        ("SELECT sum(age) AS s FROM raw.adult", "aggregates rows (sum)"),
        ("SELECT avg(age) OVER () AS age FROM raw.adult", "across rows (window)"),
        ("SELECT DISTINCT age FROM raw.adult", "DISTINCT or LIMIT"),
        ("SELECT * FROM raw.adult LIMIT 10", "DISTINCT or LIMIT"),
        ("SELECT * FROM raw.adult WHERE pid IN (SELECT pid FROM raw.other)", "across rows"),
        ("SELECT * FROM (SELECT * FROM raw.adult) t", "one table"),
        ("WITH t AS (SELECT * FROM raw.adult) SELECT * FROM t", "WITH clause"),
    ],
)
def test_a_view_that_could_repeat_or_mix_rows_is_refused(
    con: duckdb.DuckDBPyConnection, view: str, reason: str
) -> None:
    con.execute(f"CREATE VIEW raw.v AS {view}")
    with pytest.raises(UnsupportedViewError) as info:
        base_table(con, "raw.v")
    assert f"source raw.v is a view, and it {reason}" in str(info.value) or reason in str(
        info.value
    ), str(info.value)
    assert "register that table's cap" in str(info.value)
