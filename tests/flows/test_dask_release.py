"""A release from a partitioned Parquet dataset, counted on a two-worker Dask cluster.

The Adult table is written as a Hive-partitioned dataset (one directory per ``sex``, several
files each); the cluster's address reaches the run through ``$DPRELEASE_DASK_ADDRESS``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import duckdb
import numpy as np
import pytest

from dpcore.synth.registry import get_synthesizer
from flows.release import release
from flows.spec import load_spec
from tasks.dask_engine import ADDRESS_ENV
from tests.flows.conftest import write_spec
from tests.registration import register_spec
from warehouse.dask_source import DaskClient, DaskOracle, local_cluster
from warehouse.ledger import history
from warehouse.measurements import load_measurements
from warehouse.paths import WarehousePaths
from warehouse.profile import profile_source
from warehouse.publish import catalog
from warehouse.runs import get_run
from warehouse.source import DuckDBOracle, source_columns

pytestmark = pytest.mark.usefixtures("prefect_harness")


@pytest.fixture
def client() -> Iterator[DaskClient]:
    with local_cluster(workers=2) as c:
        yield c


def export_adult(home: WarehousePaths, root: Path) -> Path:
    """``raw.adult`` as Parquet, partitioned by ``sex`` and split into several files."""
    with duckdb.connect(str(home.warehouse)) as con:
        con.execute(
            f"COPY (SELECT * FROM raw.adult) TO '{root}' "
            "(FORMAT parquet, PARTITION_BY (sex), ROW_GROUP_SIZE 2048, FILE_SIZE_BYTES '64KB')"
        )
    assert len(list(root.rglob("*.parquet"))) >= 4
    return root


def test_dask_release_publishes_with_counts_equal_to_duckdb(
    home: WarehousePaths,
    tmp_path: Path,
    client: DaskClient,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    dataset = export_adult(home, tmp_path / "adult")
    spec = write_spec(tmp_path, source={"engine": "dask", "path": str(dataset)})
    register_spec(home, spec)  # the Parquet path is its own dataset, with its own cap
    monkeypatch.setenv(ADDRESS_ENV, client.scheduler.address)

    outcome = release(spec, home=str(home.home))

    assert (outcome.version, outcome.table_name) == (1, "adult_v1")
    assert abs(outcome.rows - 32_561) < 0.05 * 32_561  # sized by the noisy total
    assert [c["source"] for c in catalog(home)] == [str(dataset)]
    assert len(history(home.warehouse, str(dataset))) == 1  # the ledger keys it by its path
    record = get_run(home.warehouse, outcome.run_id)
    assert record is not None and record.input_report is not None
    report = json.loads(record.input_report)
    assert report["rows"] == 32_561
    workclass = next(c for c in report["columns"] if c["column"] == "workclass")
    assert workclass["missing_tokens"] > 0  # '?' in the data, counted for operators
    measurements = load_measurements(home.warehouse, outcome.run_id)
    assert measurements is not None and all(m.private for m in measurements)

    # The exact counts behind those measurements: Dask's equal DuckDB's on every 2-way.
    codec = load_spec(spec).codec()
    cliques = list(get_synthesizer("mst").candidates(codec.domain))
    with duckdb.connect(str(home.warehouse), read_only=True) as con:
        expected = DuckDBOracle(con, "raw.adult", codec).counts(cliques)
        profile = profile_source(con, "raw.adult", codec, source_columns(con, "raw.adult"))
    # ... and the input report's counts equal the DuckDB engine's profile of the same rows
    assert [
        (c["column"], c["nulls"], c["missing_tokens"], c["out_of_domain"])
        for c in report["columns"]
    ] == [(c.column, c.nulls, c.missing_tokens, c.out_of_domain) for c in profile.columns]
    got = DaskOracle(client, str(dataset), codec).counts(cliques)
    for clique, g, e in zip(cliques, got, expected, strict=True):
        assert np.array_equal(g, e), clique
