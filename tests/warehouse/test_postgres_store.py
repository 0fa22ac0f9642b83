"""The PostgreSQL privacy store: measurements stored beside a DuckDB source, the publishers'
advisory lock, and what a bad URL or an unreachable server says.

The ledger's and run log's suites run against both stores (``store_home`` in conftest.py);
this file covers what only the PostgreSQL store does.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import duckdb
import numpy as np
import pytest

from dpcore.errors import DPReleaseError
from tests.warehouse.test_measurements import CODEC, ROWS, TABLE, Drawer, charge_run
from warehouse.measurements import (
    load_measurements,
    measure_once,
    newest_measured_run,
    recomputed_spend,
)
from warehouse.runs import start_run
from warehouse.store import DATABASE_URL_ENV, privacy_store


def test_measurements_go_to_postgres_while_rows_come_from_duckdb(
    postgres_url: str, tmp_path: Path
) -> None:
    warehouse = tmp_path / "home" / "warehouse.duckdb"
    warehouse.parent.mkdir(exist_ok=True)
    with duckdb.connect(str(warehouse)) as con:
        con.execute("CREATE SCHEMA raw")
        con.execute("CREATE TABLE raw.t (sex VARCHAR, age INTEGER, secret VARCHAR)")
        con.executemany("INSERT INTO raw.t VALUES (?, ?, 'x')", [list(r) for r in ROWS])
    start_run(warehouse, run_id="run-1", release="t", dataset=TABLE, spec_hash="h", spec_path="p")
    charge_run(warehouse, "run-1")
    drawer = Drawer()

    first, reused = measure_once(warehouse, "run-1", TABLE, CODEC, drawer)
    _, reused_again = measure_once(warehouse, "run-1", TABLE, CODEC, Drawer())

    assert (reused, reused_again, drawer.calls) == (False, True, 1)
    stored = load_measurements(warehouse, "run-1")
    assert stored is not None
    for a, b in zip(first, stored, strict=True):
        assert a.clique == b.clique and a.sigma == b.sigma
        np.testing.assert_array_equal(a.values, b.values)  # int64 extremes round-trip
    assert newest_measured_run(warehouse, "t") == "run-1"
    assert set(recomputed_spend(warehouse, ["run-1", "run-2"])) == {"run-1", "run-2"}
    with duckdb.connect(str(warehouse)) as con:  # nothing private-state in the DuckDB file
        schemas = {r[0] for r in con.execute("SELECT schema_name FROM duckdb_schemas()").fetchall()}
    assert "privacy" not in schemas


def test_publishers_take_turns_on_the_advisory_lock(postgres_url: str, tmp_path: Path) -> None:
    store = privacy_store(tmp_path / "warehouse.duckdb")
    inside: list[str] = []
    order: list[str] = []

    def publisher(name: str) -> None:
        with store.exclusive("publish:release.duckdb"):
            inside.append(name)
            assert len(inside) == 1, "two publishers held the lock at once"
            time.sleep(0.2)
            order.append(name)
            inside.remove(name)

    threads = [threading.Thread(target=publisher, args=(f"p{i}",)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(order) == ["p0", "p1", "p2"]


def test_a_url_that_is_not_postgres_is_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(DATABASE_URL_ENV, "mysql://somewhere/db")
    with pytest.raises(DPReleaseError, match="not a PostgreSQL URL"):
        privacy_store(tmp_path / "warehouse.duckdb")


def test_an_unreachable_server_says_what_to_check(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    pytest.importorskip("psycopg")
    from warehouse.postgres import DatabaseUnavailableError

    monkeypatch.setenv(DATABASE_URL_ENV, "postgresql://nobody@127.0.0.1:1/none")
    with pytest.raises(DatabaseUnavailableError, match="could not be reached"):
        privacy_store(tmp_path / "warehouse.duckdb")
