"""The Dask engine counts a partitioned Parquet source exactly as DuckDB counts the same rows.

One local two-worker cluster (threads, so it starts in about a second) serves the module.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dpcore.encoding import ColumnCodec, InvalidRule, TableCodec
from dpcore.synth.registry import get_synthesizer
from dpcore.units import PrivacyUnit
from warehouse import dask_source
from warehouse.dask_source import (
    DaskClient,
    DaskOracle,
    check_parquet_schema,
    input_counts,
    local_cluster,
    parquet_columns,
)
from warehouse.errors import EmptySourceError, SchemaDriftError, SourceNotFoundError
from warehouse.source import DuckDBOracle

NAN, INF = float("nan"), float("inf")

SCHEMA = pa.schema(
    [
        ("cat_s", pa.string()),
        ("cat_i", pa.int64()),
        ("cat_d", pa.float64()),
        ("cat_b", pa.bool_()),
        ("num_i", pa.int32()),
        ("num_d", pa.float64()),
        ("num_f", pa.float32()),
        ("num_dec", pa.decimal128(10, 2)),
        ("cat_dec", pa.decimal128(6, 2)),
        ("person", pa.string()),
    ]
)

# Tricky values, cycled at different periods so that every combination turns up.
VALUES: dict[str, list[object]] = {
    "cat_s": ["a", "b", "c", None, "?", "", "A", "a ", "zzz"],
    "cat_i": [1, 2, 3, None, 4, -1, 0],
    "cat_d": [1.0, 0.5, NAN, None, 2.0, 1e16, -0.0, -1.0],
    "cat_b": [True, False, None],
    "num_i": [0, 9, 10, 49, 50, -1, -5, None, 25, 1000],
    "num_d": [0.0, 0.25, 0.5, 1.0, 1.5, -1.0, NAN, INF, -INF, None, 0.2499, -0.1],
    "num_f": [0.1, 0.7, 0.0, 1.0, 0.2, 2.0, NAN, None, -1.0, 0.70000001, 0.69999],
    "num_dec": [
        Decimal("0.00"),
        Decimal("99.99"),
        Decimal("100.00"),
        Decimal("-1.00"),
        Decimal("50.50"),
        None,
        Decimal("150.25"),
        Decimal("10.00"),
    ],
    "cat_dec": [Decimal("1.50"), Decimal("-0.50"), Decimal("2.00"), None, Decimal("0.00")],
    "person": ["p1", "p2", None],
}
PERIODS = {name: len(v) for name, v in VALUES.items()}


def frame_rows(start: int, rows: int) -> pa.Table:
    data = {
        name: [
            VALUES[name][(i * 7 + i // PERIODS[name]) % PERIODS[name]]
            for i in range(start, start + rows)
        ]
        for name in VALUES
    }
    return pa.table(data, schema=SCHEMA)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A dataset of four files (one empty) with every tricky value in many combinations."""
    root = tmp_path_factory.mktemp("parquet") / "people"
    root.mkdir()
    for i, (start, rows) in enumerate([(0, 700), (700, 0), (700, 950), (1650, 400)]):
        pq.write_table(frame_rows(start, rows), root / f"part-{i}.parquet")
    return root


@pytest.fixture(scope="module")
def client() -> Iterator[DaskClient]:
    with local_cluster(workers=2) as c:
        yield c


@pytest.fixture(scope="module")
def con(dataset: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    with duckdb.connect() as c:
        c.execute("CREATE SCHEMA raw")
        c.execute(f"CREATE TABLE raw.people AS SELECT * FROM read_parquet('{dataset}/*.parquet')")
        yield c


def codecs(rule: InvalidRule, with_missing: bool) -> TableCodec:
    """The test columns under one ``on_invalid`` rule (categories drop where it is clamp)."""
    cat_rule: InvalidRule = "drop" if rule == "clamp" else rule

    def col(
        name: str, kind: str, tokens: tuple[str, ...], r: InvalidRule, **kw: object
    ) -> ColumnCodec:
        return ColumnCodec(
            name=name,
            kind=kind,  # type: ignore[arg-type]
            has_missing=with_missing,
            missing_tokens=tokens if with_missing else (),
            on_invalid=r,
            **kw,  # type: ignore[arg-type]
        )

    return TableCodec(
        (
            col("cat_s", "category", ("?",), cat_rule, categories=("a", "b", "c", "")),
            col("cat_i", "category", ("-1",), cat_rule, categories=("1", "2", "3")),
            col(
                "cat_d", "category", ("nan",), cat_rule, categories=("1.0", "0.5", "1e+16", "-0.0")
            ),
            col("cat_b", "category", (), cat_rule, categories=("true", "false")),
            col("num_i", "integer", ("-1",), rule, edges=(0.0, 10.0, 20.0, 50.0)),
            col("num_d", "float", ("-1",), rule, edges=(0.0, 0.25, 0.5, 1.0)),
            col("num_f", "float", ("nan",), rule, edges=(0.0, 0.1, 0.7, 1.0)),
            col("num_dec", "integer", ("-1",), rule, edges=(0.0, 50.0, 100.0)),
            col("cat_dec", "category", ("-0.5",), cat_rule, categories=("1.50", "2.00", "0")),
        )
    )


RULES = [("missing", True), ("clamp", True), ("clamp", False), ("drop", True), ("drop", False)]


@pytest.mark.parametrize("rule,with_missing", RULES)
def test_dask_counts_equal_duckdb_counts(
    dataset: Path,
    client: DaskClient,
    con: duckdb.DuckDBPyConnection,
    rule: InvalidRule,
    with_missing: bool,
) -> None:
    codec = codecs(rule, with_missing)
    cliques = [
        *get_synthesizer("aim").candidates(codec.domain),
        ("cat_s", "num_d", "num_f"),
        (),
    ]
    expected = DuckDBOracle(con, "raw.people", codec).counts(cliques)
    got = DaskOracle(client, str(dataset), codec).counts(cliques)
    assert len(got) == len(expected) == len(cliques)
    for clique, g, e in zip(cliques, got, expected, strict=True):
        assert g.dtype == np.int64 and g.shape == e.shape, clique
        assert np.array_equal(g, e), clique
    total = int(got[-1][0])
    # 'missing' keeps every row; the other rules drop some (NaN, NULL or out of domain)
    assert total == 2050 if rule == "missing" else 0 < total < 2050


def test_glob_reads_the_same_rows(dataset: Path, client: DaskClient) -> None:
    codec = codecs("missing", True)
    whole = DaskOracle(client, str(dataset), codec).counts([("num_i",)])
    glob = DaskOracle(client, f"{dataset}/part-*.parquet", codec).counts([("num_i",)])
    assert np.array_equal(whole[0], glob[0]) and int(whole[0].sum()) == 2050


def test_schema_comes_from_parquet(dataset: Path) -> None:
    columns = parquet_columns(str(dataset))
    assert columns["cat_s"] == "VARCHAR" and columns["num_f"] == "FLOAT"
    assert columns["num_dec"] == "DECIMAL(10,2)" and columns["cat_b"] == "BOOLEAN"
    check_parquet_schema(str(dataset), codecs("missing", True), PrivacyUnit("person", 2))


def test_schema_drift_and_missing_source_are_refused(dataset: Path, tmp_path: Path) -> None:
    absent = TableCodec((ColumnCodec("nope", "category", categories=("x",)),))
    with pytest.raises(SchemaDriftError, match="missing column"):
        check_parquet_schema(str(dataset), absent)
    wrong = TableCodec((ColumnCodec("cat_b", "integer", edges=(0.0, 1.0)),))
    with pytest.raises(SchemaDriftError, match="cat_b is BOOLEAN"):
        check_parquet_schema(str(dataset), wrong)
    with pytest.raises(SourceNotFoundError, match="cannot be read"):
        parquet_columns(str(tmp_path / "nowhere"))


def test_input_counts_match_the_rules(dataset: Path, client: DaskClient) -> None:
    counts = input_counts(client, str(dataset), codecs("missing", True))
    assert counts.rows == 2050
    by = {c.column: c for c in counts.columns}
    # cat_b: one value in three is NULL, none outside; cat_s: '?' is a token, 'A','a ','zzz' not
    assert by["cat_b"].out_of_domain == 0 and by["cat_b"].nulls > 600
    assert by["cat_s"].missing_tokens > 0 and by["cat_s"].out_of_domain > 0
    assert by["num_d"].nulls > 0 and by["num_d"].out_of_domain > 0
    assert sum(c.nulls + c.missing_tokens + c.out_of_domain for c in counts.columns) > 0


def test_empty_dataset_is_refused(tmp_path: Path, client: DaskClient) -> None:
    root = tmp_path / "empty"
    root.mkdir()
    pq.write_table(frame_rows(0, 0), root / "part-0.parquet")
    with pytest.raises(EmptySourceError, match="no rows"):
        input_counts(client, str(root), codecs("drop", False))


@pytest.fixture(scope="module")
def people(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tricky rows with 97 persons (and NULL keys) spread over every file, so that only a
    shuffle by key brings each person's rows together."""
    root = tmp_path_factory.mktemp("parquet") / "persons"
    root.mkdir()
    for i, (start, rows) in enumerate([(0, 700), (700, 0), (700, 950), (1650, 400)]):
        table = frame_rows(start, rows)
        keys = [None if j % 13 == 0 else f"p{j % 97}" for j in range(start, start + rows)]
        table = table.set_column(
            table.schema.get_field_index("person"), "person", pa.array(keys, pa.string())
        )
        pq.write_table(table, root / f"part-{i}.parquet")
    return root


@pytest.mark.parametrize("k", [1, 4])
def test_the_person_cut_counts_equal_duckdbs(people: Path, client: DaskClient, k: int) -> None:
    """Same rows, same salt: the Dask engine keeps exactly the rows DuckDB keeps."""
    codec = codecs("missing", True)
    unit = PrivacyUnit("person", k)
    cliques = [*get_synthesizer("mst").candidates(codec.domain), ()]
    with duckdb.connect() as c:
        c.execute("CREATE SCHEMA raw")
        c.execute(f"CREATE TABLE raw.persons AS SELECT * FROM read_parquet('{people}/*.parquet')")
        expected = DuckDBOracle(c, "raw.persons", codec, unit, salt="s").counts(cliques)
        persons = c.execute(
            "SELECT count(DISTINCT person), count(*) FILTER (WHERE person IS NULL) FROM raw.persons"
        ).fetchall()[0]
    got = DaskOracle(client, str(people), codec, unit, salt="s").counts(cliques)
    for clique, g, e in zip(cliques, got, expected, strict=True):
        assert np.array_equal(g, e), clique
    assert int(got[-1][0]) == persons[0] * k  # every person has more than k rows
    counts = input_counts(client, str(people), codec, unit)
    assert counts.null_key_rows == persons[1] > 0


def test_a_failing_partition_leaves_no_value_in_the_logs(
    dataset: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    """Dask logs a failed task with its error (and arguments) on the worker; on the run's own
    local cluster those logs must stay silent, since an error may quote a source value."""
    from tasks.dask_engine import ADDRESS_ENV, dask_client

    marker = "ZZDASKMARKER"

    def broken(frame: object, *args: object) -> object:
        raise ValueError(f"cannot encode {marker}")

    monkeypatch.setattr(dask_source, "count_partition", broken)
    monkeypatch.delenv(ADDRESS_ENV, raising=False)
    caplog.set_level(logging.DEBUG)
    with dask_client() as client, pytest.raises(ValueError):
        DaskOracle(client, str(dataset), codecs("drop", False)).counts([("cat_s",)])
    out, err = capfd.readouterr()
    assert marker not in caplog.text + out + err
