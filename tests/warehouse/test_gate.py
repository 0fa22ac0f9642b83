"""The per-file gate: held by a process for the whole life of its connections, shared by
its threads, released once DuckDB has closed the file (see ``warehouse.gate`` for the lost
commits it prevents; ``bench/ledger_concurrency.py`` is the stress test that found them)."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from warehouse import gate
from warehouse.connection import connect
from warehouse.errors import WarehouseBusyError

HOLDER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from warehouse.connection import connect

    with connect(Path(sys.argv[1])) as con:
        con.execute("CREATE TABLE IF NOT EXISTS t (x INTEGER)")
        print("open", flush=True)
        sys.stdin.readline()
    print("closed", flush=True)
    sys.stdin.readline()
    """
)


def gate_is_free(path: Path) -> bool:
    """Whether another open file description could take the gate now."""
    with gate.gate_path(path).open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        fcntl.flock(handle, fcntl.LOCK_UN)
        return True


def test_another_process_holds_the_gate_until_its_connection_closed(tmp_path: Path) -> None:
    path = tmp_path / "w.duckdb"
    child = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdin is not None and child.stdout is not None
    try:
        assert child.stdout.readline().strip() == "open"
        assert not gate_is_free(path)
        busy = pytest.raises(WarehouseBusyError, match="stayed locked by another process")
        with busy, connect(path, wait_s=0.2):
            pass
        child.stdin.write("\n")
        child.stdin.flush()
        assert child.stdout.readline().strip() == "closed"
        assert gate_is_free(path)  # released once DuckDB closed, while the process lives on
        with connect(path, wait_s=5) as con:
            assert con.execute("SELECT count(*) FROM t").fetchall() == [(0,)]
    finally:
        child.stdin.close()
        child.wait(timeout=30)


def test_threads_of_one_process_share_the_gate(tmp_path: Path) -> None:
    path = tmp_path / "w.duckdb"
    both_open = threading.Barrier(2, timeout=10)
    seen: list[bool] = []

    def hold() -> None:
        with connect(path, wait_s=5) as con:
            con.execute("SELECT 1").fetchall()
            both_open.wait()  # both threads inside at once: no deadlock on the gate
            seen.append(gate_is_free(path))

    threads = [threading.Thread(target=hold) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=20)
    assert seen == [False, False]
    assert gate_is_free(path)


def test_read_only_and_private_connections_take_no_gate(tmp_path: Path) -> None:
    path = tmp_path / "w.duckdb"
    with connect(path) as con:
        con.execute("CREATE TABLE t (x INTEGER)")
    with connect(path, read_only=True):
        assert gate_is_free(path)
    staging = tmp_path / "staging.duckdb"
    with connect(staging, private=True):
        assert not gate.gate_path(staging).exists()


def test_a_forked_child_does_not_inherit_the_gate(tmp_path: Path) -> None:
    path = tmp_path / "w.duckdb"
    with connect(path):
        pid = os.fork()
        if pid == 0:  # the child: the parent's gate is not its own
            os._exit(0 if not gate._gates else 1)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        assert not gate_is_free(path)  # the parent still holds it
    assert gate_is_free(path)
