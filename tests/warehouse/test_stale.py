"""Killed runs in the run log: owner processes, pid reuse, settling, and the schema upgrade."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import duckdb
import pytest

from dpcore.accounting import PrivacyCap, PrivacyCost
from warehouse import schema
from warehouse.ledger import charge, register_budget
from warehouse.paths import WarehousePaths
from warehouse.process import ProcessIdentity, current_process, is_gone, start_marker
from warehouse.runs import get_run, list_runs, set_status, start_run


def dead_pid() -> int:
    """The pid of a process that has exited and been reaped."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_this_process_is_alive_and_has_a_marker() -> None:
    me = current_process()
    assert me.pid == os.getpid() and me.host == socket.gethostname()
    assert me.start_marker == start_marker(os.getpid()) != ""
    assert not is_gone(me)


def test_an_exited_process_is_gone() -> None:
    assert is_gone(ProcessIdentity(socket.gethostname(), dead_pid(), "whatever"))


def test_a_killed_unreaped_process_is_gone() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        owner = ProcessIdentity(socket.gethostname(), child.pid, start_marker(child.pid))
        assert not is_gone(owner)
        os.kill(child.pid, signal.SIGKILL)
        os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOWAIT)  # dead, still a zombie
        assert is_gone(owner)
    finally:
        child.kill()
        child.wait()


def test_a_reused_pid_is_gone_and_another_host_is_not_judged() -> None:
    me = current_process()
    assert is_gone(replace(me, start_marker=me.start_marker + "0"))  # same pid, other process
    assert not is_gone(replace(me, host=me.host + "-elsewhere", pid=dead_pid()))


def start(path: Path, run_id: str, release: str = "adult") -> None:
    start_run(
        path,
        run_id=run_id,
        release=release,
        dataset="raw.adult",
        spec_hash="h",
        spec_path="specs/adult.yaml",
    )


def orphan(path: Path, run_id: str, pid: int, host: str | None = None) -> None:
    """Make ``run_id`` look owned by process ``pid`` (on this host unless told)."""
    with duckdb.connect(str(path)) as con:
        con.execute(
            "UPDATE privacy.runs SET owner_pid = ?, owner_host = ? WHERE run_id = ?",
            [pid, host or socket.gethostname(), run_id],
        )


def test_a_killed_uncharged_run_is_listed_as_failed(warehouse: Path) -> None:
    start(warehouse, "r1")
    set_status(warehouse, "r1", "validated")
    orphan(warehouse, "r1", dead_pid())
    (record,) = list_runs(warehouse)
    assert record.status == "failed"
    assert record.error == (
        "the process running it stopped (killed or crashed) at status validated, before its "
        "charge, so nothing was spent; start a new run: `dprelease run specs/adult.yaml`."
    )


def test_a_killed_charged_run_says_how_to_resume(warehouse: Path) -> None:
    start(warehouse, "r1")  # killed between the charge and its status update
    register_budget(warehouse, "raw.adult", PrivacyCap(4.0, 1e-6))
    charge(
        warehouse,
        dataset="raw.adult",
        run_id="r1",
        release="adult",
        spec_hash="h",
        cost=PrivacyCost(0.5, 1e-9),
        cap=PrivacyCap(4.0, 1e-6),
    )
    orphan(warehouse, "r1", dead_pid())
    record = get_run(warehouse, "r1")
    assert record is not None and record.status == "started"  # a plain read settles nothing
    (record,) = list_runs(warehouse, "adult")
    assert record.status == "failed" and record.error is not None
    assert "at status started; its charge stands" in record.error
    assert "`dprelease run specs/adult.yaml --resume r1` (no second charge)" in record.error


def test_live_terminal_and_foreign_runs_are_left_alone(warehouse: Path) -> None:
    for run_id in ("live", "done", "failed", "foreign"):
        start(warehouse, run_id)
    set_status(warehouse, "done", "published", version=1)
    set_status(warehouse, "failed", "failed", error="its own error")
    gone = dead_pid()
    for run_id in ("done", "failed"):
        orphan(warehouse, run_id, gone)
    orphan(warehouse, "foreign", gone, host="another-host")
    before = {r.run_id: r for r in list_runs(warehouse)}
    assert before["live"].status == "started"  # this process runs it
    assert before["done"].status == "published" and before["failed"].error == "its own error"
    assert before["foreign"].status == "started"


def test_a_new_run_settles_its_release_only(warehouse: Path) -> None:
    start(warehouse, "a1", "adult")
    start(warehouse, "c1", "census")
    gone = dead_pid()
    orphan(warehouse, "a1", gone)
    orphan(warehouse, "c1", gone)
    start(warehouse, "a2", "adult")
    a1, c1 = get_run(warehouse, "a1"), get_run(warehouse, "c1")
    assert a1 is not None and a1.status == "failed"
    assert c1 is not None and c1.status == "started"


def test_a_resume_takes_the_run_over(warehouse: Path) -> None:
    start(warehouse, "r1")
    orphan(warehouse, "r1", dead_pid())
    start(warehouse, "r1")  # the resume, in this (live) process; settles r1 first
    record = get_run(warehouse, "r1")
    assert record is not None and record.status == "failed"
    set_status(warehouse, "r1", "charged")
    (record,) = list_runs(warehouse)
    assert record.status == "charged" and record.owner_pid == os.getpid()


def test_a_killed_run_whose_release_went_live_is_published(tmp_path: Path) -> None:
    paths = WarehousePaths.from_env(tmp_path / "home")
    start(paths.warehouse, "r1")
    set_status(paths.warehouse, "r1", "measured")
    with duckdb.connect(str(paths.release)) as con:
        con.execute(
            "CREATE TABLE catalog (name VARCHAR, version INTEGER, table_name VARCHAR, "
            "run_id VARCHAR, rows BIGINT, created_at TIMESTAMPTZ)"
        )
        con.execute("INSERT INTO catalog VALUES ('adult', 3, 'adult_v3', 'r1', 10, now())")
    orphan(paths.warehouse, "r1", dead_pid())
    (record,) = list_runs(paths.warehouse)
    assert (record.status, record.version, record.error) == ("published", 3, None)


OLD_RUNS = """
CREATE SCHEMA privacy;
CREATE TABLE privacy.runs (
    run_id VARCHAR PRIMARY KEY, release VARCHAR NOT NULL, dataset VARCHAR NOT NULL,
    spec_hash VARCHAR NOT NULL, spec_path VARCHAR NOT NULL, status VARCHAR NOT NULL,
    started_at TIMESTAMPTZ NOT NULL, updated_at TIMESTAMPTZ NOT NULL, error VARCHAR,
    input_report VARCHAR, version INTEGER
);
INSERT INTO privacy.runs VALUES ('old', 'adult', 'raw.adult', 'h', 'p', 'charged', now(),
    now(), NULL, NULL, NULL);
"""


def test_a_file_from_before_the_owner_columns_is_upgraded(
    warehouse: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with duckdb.connect(str(warehouse)) as con:
        con.execute(OLD_RUNS)
    monkeypatch.setattr(schema, "_ensured", set())
    (old,) = list_runs(warehouse)
    assert (old.run_id, old.status, old.owner_pid) == ("old", "charged", None)  # unknown owner
    start(warehouse, "new")
    new = get_run(warehouse, "new")
    assert new is not None and new.owner_pid == os.getpid()
    with duckdb.connect(str(warehouse)) as con:
        columns = con.execute(
            "SELECT column_name FROM duckdb_columns() WHERE table_name = 'runs'"
        ).fetchall()
        charges = con.execute("SELECT count(*) FROM privacy.charges").fetchall()
    assert [c[0] for c in columns][-6:] == [
        "owner_host",
        "owner_pid",
        "owner_start",
        "kind",
        "measurement_run",
        "spec_json",
    ]
    assert old.kind == "measured" and old.spec_json is None  # backfilled; no spec recorded
    assert charges == [(0,)]  # the tables missing from the old file were created
