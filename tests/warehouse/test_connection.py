"""Opening warehouse files with a bounded wait, and retrying conflicting transactions."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import pytest

from dpcore.errors import DPReleaseError
from warehouse import connection
from warehouse.backoff import Backoff
from warehouse.connection import connect, literal, quote, run_transaction
from warehouse.errors import WarehouseBusyError

HOLDER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    import duckdb

    path, ready, hold = sys.argv[1], Path(sys.argv[2]), float(sys.argv[3])
    con = duckdb.connect(path)
    con.execute("CREATE TABLE IF NOT EXISTS t AS SELECT 42 AS x")
    ready.touch()
    time.sleep(hold)
    con.close()
    """
)


@contextmanager
def held(path: Path, hold_s: float) -> Iterator[subprocess.Popen[str]]:
    """Another process holding ``path`` open read-write for ``hold_s`` seconds."""
    ready = path.with_suffix(".ready")
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(path), str(ready), str(hold_s)],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while not ready.exists():
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            assert time.monotonic() < deadline, "lock holder did not start"
            time.sleep(0.01)
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=30)
        if proc.stderr:
            proc.stderr.close()


def test_connect_waits_for_another_process_to_release(tmp_path: Path) -> None:
    path = tmp_path / "w.duckdb"
    with held(path, 1.0) as proc:
        # the file really is locked: a plain open fails at once
        with pytest.raises(duckdb.IOException, match=r"(?i)lock"):
            duckdb.connect(str(path))
        start = time.monotonic()
        with connect(path, wait_s=30) as con:
            waited = time.monotonic() - start
            assert con.execute("SELECT x FROM t").fetchall() == [(42,)]
        assert proc.wait(timeout=30) == 0
    assert waited > 0.3  # it waited for the holder rather than failing or opening a copy


def test_read_only_connect_also_waits(tmp_path: Path) -> None:
    path = tmp_path / "w.duckdb"
    with held(path, 0.5), connect(path, read_only=True, wait_s=30) as con:
        assert con.execute("SELECT x FROM t").fetchall() == [(42,)]


def test_connect_gives_up_with_busy_error(tmp_path: Path) -> None:
    path = tmp_path / "w.duckdb"
    with held(path, 20.0):
        start = time.monotonic()
        with (
            pytest.raises(WarehouseBusyError, match=r"w\.duckdb stayed locked"),
            connect(path, wait_s=0.3),
        ):
            pass
        assert time.monotonic() - start < 10


def test_other_io_errors_are_not_retried(tmp_path: Path) -> None:
    path = tmp_path / "missing-dir" / "w.duckdb"
    start = time.monotonic()
    with pytest.raises(duckdb.IOException), connect(path, wait_s=30):
        pass
    assert time.monotonic() - start < 5


def test_connection_is_closed_after_the_block(tmp_path: Path) -> None:
    with connect(tmp_path / "w.duckdb") as con:
        con.execute("SELECT 1").fetchall()
    with pytest.raises(duckdb.ConnectionException):
        con.execute("SELECT 1")


# --- run_transaction --------------------------------------------------------------------


@pytest.fixture
def fast_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Backoff, "sleep", lambda self: time.sleep(0.001))


def _rows(path: Path) -> list[tuple[object, ...]]:
    with duckdb.connect(str(path)) as con:
        return con.execute("SELECT * FROM t ORDER BY 1").fetchall()


def _table(path: Path) -> None:
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE TABLE t (k INTEGER PRIMARY KEY)")


@pytest.mark.usefixtures("fast_backoff")
def test_transaction_retries_write_conflicts(tmp_path: Path) -> None:
    path = tmp_path / "w.duckdb"
    _table(path)
    calls: list[int] = []

    def body(con: duckdb.DuckDBPyConnection) -> str:
        calls.append(1)
        con.execute("INSERT INTO t VALUES (?)", [len(calls)])
        if len(calls) < 3:
            raise duckdb.TransactionException("Conflict on update!")
        return "done"

    assert run_transaction(path, body) == "done"
    assert len(calls) == 3
    assert _rows(path) == [(3,)]  # the failed attempts were rolled back


@pytest.mark.usefixtures("fast_backoff")
def test_transaction_raises_other_errors_at_once_and_rolls_back(tmp_path: Path) -> None:
    path = tmp_path / "w.duckdb"
    _table(path)
    calls: list[int] = []

    def body(con: duckdb.DuckDBPyConnection) -> None:
        calls.append(1)
        con.execute("INSERT INTO t VALUES (1)")
        raise ValueError("not a conflict")

    with pytest.raises(ValueError, match="not a conflict"):
        run_transaction(path, body)
    assert len(calls) == 1
    assert _rows(path) == []


@pytest.mark.usefixtures("fast_backoff")
def test_transaction_retries_a_duplicate_key_committed_by_a_racing_writer(tmp_path: Path) -> None:
    """A key committed after our snapshot began is a lost race, not a real violation."""
    path = tmp_path / "w.duckdb"
    _table(path)
    calls: list[int] = []

    def body(con: duckdb.DuckDBPyConnection) -> int:
        calls.append(1)
        con.execute("SELECT count(*) FROM t").fetchall()  # our snapshot starts here
        if len(calls) == 1:
            # another writer commits key 1 after our transaction began
            other = con.cursor()
            other.execute("INSERT INTO t VALUES (1)")
            other.close()
        con.execute("INSERT INTO t VALUES (1) ON CONFLICT DO NOTHING")
        return int(con.execute("SELECT count(*) FROM t").fetchall()[0][0])

    assert run_transaction(path, body) == 1
    assert len(calls) == 2
    assert _rows(path) == [(1,)]


@pytest.mark.usefixtures("fast_backoff")
def test_a_persistent_constraint_violation_is_raised(tmp_path: Path) -> None:
    path = tmp_path / "w.duckdb"
    _table(path)
    with duckdb.connect(str(path)) as con:
        con.execute("INSERT INTO t VALUES (1)")
    calls: list[int] = []

    def body(con: duckdb.DuckDBPyConnection) -> None:
        calls.append(1)
        con.execute("INSERT INTO t VALUES (1)")

    with pytest.raises(duckdb.ConstraintException):
        run_transaction(path, body)
    assert len(calls) == connection.CONSTRAINT_RETRIES + 1


def test_transaction_that_keeps_conflicting_gives_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(Backoff, "sleep", lambda self: time.sleep(0.02))
    path = tmp_path / "w.duckdb"

    def body(con: duckdb.DuckDBPyConnection) -> None:
        raise duckdb.TransactionException("Conflict on update!")

    with pytest.raises(WarehouseBusyError, match="kept conflicting"):
        run_transaction(path, body, wait_s=0.2)


def test_quote_and_literal_survive_hostile_names() -> None:
    name = 'we"ird; DROP TABLE t; --'
    text = "it's 'quoted'"
    assert quote(name) == '"we""ird; DROP TABLE t; --"'
    assert literal(text) == "'it''s ''quoted'''"
    with duckdb.connect() as con:
        con.execute(f"CREATE TABLE {quote(name)} AS SELECT {literal(text)} AS {quote(name)}")
        assert con.execute(f"SELECT {quote(name)} FROM {quote(name)}").fetchall() == [(text,)]


def test_memory_is_capped_by_default_and_by_env(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(connection.MEMORY_ENV, raising=False)
    with connect(tmp_path / "a.duckdb") as con:
        (limit,) = con.execute("SELECT current_setting('memory_limit')").fetchall()[0]
    assert limit in ("953.6 MiB", "1.0 GiB", "1000.0 MiB")  # 1GB as DuckDB prints it
    monkeypatch.setenv(connection.MEMORY_ENV, "256MB")
    monkeypatch.setenv(connection.TEMP_ENV, str(tmp_path / "spill"))
    with connect(tmp_path / "a.duckdb", read_only=True) as con:
        limit, temp = con.execute(
            "SELECT current_setting('memory_limit'), current_setting('temp_directory')"
        ).fetchall()[0]
    assert limit == "244.1 MiB" and temp == str(tmp_path / "spill")


def test_unusable_memory_setting_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(connection.MEMORY_ENV, "lots")
    with (
        pytest.raises(DPReleaseError, match="DPRELEASE_DUCKDB_MEMORY='lots'"),
        connect(tmp_path / "a.duckdb"),
    ):
        pass
