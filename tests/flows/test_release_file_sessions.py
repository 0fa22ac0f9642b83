"""An analyst's read-write session on the release file: runs and readers wait a bounded
time and then say what to do (never a traceback, never a run taken for a killed one); when
the session dies after writing, the next run works with no hand edits."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from flows.cli import main
from tests.flows.conftest import write_spec
from tests.flows.test_bad_input import privacy_rows
from warehouse.paths import WarehousePaths
from warehouse.publish import catalog
from warehouse.release_file import WAIT_ENV, ReleaseFileHeldError, wal_path
from warehouse.runs import list_runs

HOLD = """
import sys, time, duckdb
con = duckdb.connect(sys.argv[1])  # read-write, as `duckdb FILE` opens it
con.execute("CREATE TABLE analyst_scratch AS SELECT 42 AS answer")
print("ready", flush=True)
time.sleep(300)
"""


@pytest.fixture
def short_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(WAIT_ENV, "1")


def _tables(path: Path) -> set[str]:
    with duckdb.connect() as con:
        con.execute(f"ATTACH '{path}' AS r (READ_ONLY)")
        rows = con.execute("SELECT table_name FROM duckdb_tables() WHERE database_name = 'r'")
        return {r[0] for r in rows.fetchall()}


HELD = "is held open read-write by another process"


@pytest.mark.usefixtures("prefect_harness", "short_wait")
def test_a_run_during_a_foreign_session_then_after_it_died(
    home: WarehousePaths, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from flows.release import release

    spec = write_spec(tmp_path)
    release(spec, home=str(home.home))
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(home.release)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        before = privacy_rows(home)
        with pytest.raises(ReleaseFileHeldError) as info:
            release(spec, home=str(home.home))
        message = str(info.value)
        assert HELD in message and "did not let go within 1 s" in message
        assert f"duckdb -readonly {home.release}" in message
        assert privacy_rows(home) == before  # refused at planning, before the charge
        for command in (["releases"], ["budget"]):
            assert main(["--home", str(home.home), *command]) == 2
            err = capsys.readouterr().err
            assert err.startswith("dprelease: the release file") and HELD in err
            assert "Traceback" not in err and err.count("\n") == 1
    finally:
        proc.kill()  # after its write: its WAL stays beside the release file
        proc.wait()
    assert wal_path(home.release).exists()
    failed = list_runs(home.warehouse)[0]
    assert failed.status == "failed" and failed.error is not None
    assert HELD in failed.error and "killed or crashed" not in failed.error

    outcome = release(spec, home=str(home.home))  # no hand edits
    assert outcome.version == 2
    assert [r["version"] for r in catalog(home)] == [2, 1]
    assert not wal_path(home.release).exists()
    assert list(home.home.glob("release.duckdb.wal.discarded-*"))
    assert "analyst_scratch" not in _tables(home.release)
    assert main(["--home", str(home.home), "releases"]) == 0


@pytest.mark.usefixtures("prefect_harness", "short_wait")
def test_a_session_opened_after_the_charge_stops_the_publish_resumably(
    home: WarehousePaths, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The session appears after planning: the publish waits, then stops with the message
    (not retried, not a traceback); the run is failed, charged once, and its resume
    publishes at no new cost once the session is gone."""
    from flows.release import release
    from tasks import budget as budget_task

    spec = write_spec(tmp_path)
    sessions: list[subprocess.Popen[str]] = []
    real_point = budget_task.crash_point

    def open_session(name: str) -> None:
        real_point(name)
        if name == "after-charge":
            proc = subprocess.Popen(
                [sys.executable, "-c", HOLD, str(home.release)], stdout=subprocess.PIPE, text=True
            )
            assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
            sessions.append(proc)

    monkeypatch.setattr(budget_task, "crash_point", open_session)
    try:
        with pytest.raises(ReleaseFileHeldError, match=HELD):
            release(spec, home=str(home.home))
    finally:
        for proc in sessions:
            proc.kill()
            proc.wait()
    monkeypatch.undo()
    assert len(sessions) == 1  # one charge attempt, one session
    failed = list_runs(home.warehouse)[0]
    assert failed.status == "failed" and failed.error is not None and HELD in failed.error
    charges = privacy_rows(home)[1]
    assert len(charges) == 1

    outcome = release(spec, resume_run_id=failed.run_id, home=str(home.home))
    assert outcome.version == 1 and outcome.resumed
    assert privacy_rows(home)[1] == charges  # no second charge
    assert "analyst_scratch" not in _tables(home.release)
