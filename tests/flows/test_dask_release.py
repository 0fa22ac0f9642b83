"""A release from a partitioned Parquet dataset, counted on a two-worker Dask cluster.

The Adult table is written as a Hive-partitioned dataset (one directory per ``sex``, several
files each); the cluster's address reaches the run through ``$DPRELEASE_DASK_ADDRESS``. The
cluster is an in-process ``LocalCluster``, and a cluster of separate processes (``dask
scheduler`` and two ``dask worker`` processes on loopback, ``tests/dask_processes.py``) whose
workers the tests kill with SIGKILL in the middle of a count: the scheduler reruns the lost
partitions elsewhere (the counts do not change), or, when it gives up on a task, the count
fails with a :class:`WorkerLostError` that the measure task retries, without a second charge.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pytest

from dpcore.synth.registry import get_synthesizer
from flows.finish import ReleaseOutcome
from flows.release import release
from flows.spec import load_spec
from tasks.dask_engine import ADDRESS_ENV
from tests.dask_processes import DaskProcesses, missing_reason, process_cluster
from tests.flows.conftest import write_spec
from tests.registration import register_spec
from warehouse.dask_source import DaskClient, DaskOracle, local_cluster
from warehouse.errors import WorkerLostError
from warehouse.ledger import history
from warehouse.measurements import load_measurements
from warehouse.paths import WarehousePaths
from warehouse.profile import profile_source
from warehouse.publish import catalog
from warehouse.runs import get_run
from warehouse.source import DuckDBOracle, source_columns

flow_test = pytest.mark.usefixtures("prefect_harness")


@pytest.fixture(scope="module")
def processes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaskProcesses]:
    """``dask scheduler`` and two ``dask worker`` processes, for this module's tests."""
    reason = missing_reason()
    if reason is not None:
        pytest.skip(reason)
    with process_cluster(tmp_path_factory.mktemp("dask")) as cluster:
        yield cluster


@pytest.fixture
def remote(processes: DaskProcesses) -> Iterator[DaskClient]:
    """A client on the process cluster, all its workers up (a killed one is back)."""
    from distributed import Client

    with Client(processes.address) as c:
        c.wait_for_workers(processes.workers, timeout=60)
        yield c
    processes.disarm()


@contextmanager
def allowed_failures(client: DaskClient, deaths: int) -> Iterator[None]:
    """The scheduler reruns a task lost with its worker ``deaths`` times, then gives up
    (``KilledWorker``); restored on exit."""

    def swap(dask_scheduler: Any, value: int) -> int:
        old = int(dask_scheduler.allowed_failures)
        dask_scheduler.allowed_failures = value
        return old

    old = client.run_on_scheduler(swap, value=deaths)
    try:
        yield
    finally:
        client.run_on_scheduler(swap, value=old)


def assert_counts_equal_duckdb(home: WarehousePaths, oracle: DaskOracle, first: int = 0) -> None:
    """The Dask oracle's exact counts equal the DuckDB engine's on every 2-way marginal (or
    on the ``first`` few)."""
    cliques = list(get_synthesizer("mst").candidates(oracle.codec.domain))[: first or None]
    with duckdb.connect(str(home.warehouse), read_only=True) as con:
        expected = DuckDBOracle(con, "raw.adult", oracle.codec).counts(cliques)
    got = oracle.counts(cliques)
    for clique, g, e in zip(cliques, got, expected, strict=True):
        assert np.array_equal(g, e), clique


def export_adult(home: WarehousePaths, root: Path) -> Path:
    """``raw.adult`` as Parquet, partitioned by ``sex`` and split into several files."""
    with duckdb.connect(str(home.warehouse)) as con:
        con.execute(
            f"COPY (SELECT * FROM raw.adult) TO '{root}' "
            "(FORMAT parquet, PARTITION_BY (sex), ROW_GROUP_SIZE 2048, FILE_SIZE_BYTES '64KB')"
        )
    assert len(list(root.rglob("*.parquet"))) >= 4
    return root


def check_release(home: WarehousePaths, spec: str, dataset: Path, outcome: ReleaseOutcome) -> None:
    """A published first version of the Parquet dataset, one charge, an input report and
    stored measurements, both counted as the DuckDB engine counts the same rows."""
    assert (outcome.version, outcome.table_name) == (1, "adult_v1")
    assert abs(outcome.rows - 32_561) < 0.05 * 32_561  # sized by the noisy total
    assert [c["source"] for c in catalog(home)] == [str(dataset)]
    (charge,) = history(home.warehouse, str(dataset))  # the ledger keys it by its path
    assert charge.charge.run_id == outcome.run_id
    record = get_run(home.warehouse, outcome.run_id)
    assert record is not None and record.status == "published"
    assert record.input_report is not None
    report = json.loads(record.input_report)
    assert report["rows"] == 32_561
    workclass = next(c for c in report["columns"] if c["column"] == "workclass")
    assert workclass["missing_tokens"] > 0  # '?' in the data, counted for operators
    measurements = load_measurements(home.warehouse, outcome.run_id)
    assert measurements is not None and all(m.private for m in measurements)
    # The input report's counts equal the DuckDB engine's profile of the same rows.
    codec = load_spec(spec).codec()
    with duckdb.connect(str(home.warehouse), read_only=True) as con:
        profile = profile_source(con, "raw.adult", codec, source_columns(con, "raw.adult"))
    assert [
        (c["column"], c["nulls"], c["missing_tokens"], c["out_of_domain"])
        for c in report["columns"]
    ] == [(c.column, c.nulls, c.missing_tokens, c.out_of_domain) for c in profile.columns]


def dask_spec(home: WarehousePaths, tmp_path: Path) -> tuple[str, Path]:
    """A spec releasing Adult as a partitioned Parquet dataset, and that dataset."""
    dataset = export_adult(home, tmp_path / "adult")
    return write_spec(tmp_path, source={"engine": "dask", "path": str(dataset)}), dataset


@flow_test
def test_dask_release_publishes_with_counts_equal_to_duckdb(
    home: WarehousePaths,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    spec, dataset = dask_spec(home, tmp_path)
    register_spec(home, spec)  # the Parquet path is its own dataset, with its own cap
    with local_cluster(workers=2) as client:
        monkeypatch.setenv(ADDRESS_ENV, client.scheduler.address)
        outcome = release(spec, home=str(home.home))
        check_release(home, spec, dataset, outcome)
        # The exact counts behind those measurements: Dask's equal DuckDB's on every 2-way.
        assert_counts_equal_duckdb(home, DaskOracle(client, str(dataset), load_spec(spec).codec()))


@flow_test
def test_a_release_on_separate_processes_whose_worker_is_killed_mid_count_is_charged_once(
    home: WarehousePaths,
    tmp_path: Path,
    processes: DaskProcesses,
    remote: DaskClient,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A release counted by ``dask worker`` processes, one of them SIGKILLed as it counts a
    partition. The scheduler is told to give up on a task at its first lost worker, so the
    count fails (``WorkerLostError``: otherwise the run could not have published) and the
    measure task's retry counts again, after the one charge: the release is published, its
    counts equal DuckDB's, and the run is charged exactly once."""
    spec, dataset = dask_spec(home, tmp_path)
    register_spec(home, spec)
    monkeypatch.setenv(ADDRESS_ENV, processes.address)
    processes.arm(1)
    with allowed_failures(remote, 0):
        outcome = release(spec, home=str(home.home))
    assert not list(processes.armed.iterdir()), "no worker was killed"
    check_release(home, spec, dataset, outcome)
    remote.wait_for_workers(processes.workers, timeout=60)  # the nanny's new worker
    assert_counts_equal_duckdb(home, DaskOracle(remote, str(dataset), load_spec(spec).codec()))


def test_a_worker_killed_mid_count_is_replaced_and_the_counts_do_not_change(
    home: WarehousePaths, tmp_path: Path, processes: DaskProcesses, remote: DaskClient
) -> None:
    """SIGKILL one worker process as it counts a partition: the scheduler reruns what it held
    on the other worker (the default ``allowed-failures``), and the sum is exact."""
    spec, dataset = dask_spec(home, tmp_path)
    processes.arm(1)
    oracle = DaskOracle(remote, str(dataset), load_spec(spec).codec())
    assert_counts_equal_duckdb(home, oracle, first=8)
    assert not list(processes.armed.iterdir()), "no worker was killed"


def test_a_worker_lost_for_good_fails_the_count_with_a_clear_error(
    home: WarehousePaths, tmp_path: Path, processes: DaskProcesses, remote: DaskClient
) -> None:
    spec, dataset = dask_spec(home, tmp_path)
    oracle = DaskOracle(remote, str(dataset), load_spec(spec).codec())
    processes.arm(1)
    with allowed_failures(remote, 0), pytest.raises(WorkerLostError) as raised:
        oracle.counts([("sex", "race")])
    assert "a Dask worker died while counting marginals" in str(raised.value)
    assert "--resume RUN_ID" in str(raised.value)
