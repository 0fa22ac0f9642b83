"""The release file beside foreign sessions: the publisher and readers wait a bounded time
for a read-write session, and a WAL a dead session left never breaks a later open."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from tests.warehouse.test_publish import frame, meta
from warehouse.export import export_release
from warehouse.paths import WarehousePaths
from warehouse.publish import catalog, publish
from warehouse.release_file import WAIT_ENV, ReleaseFileHeldError, wal_path

HOLD = """
import sys, time, duckdb
con = duckdb.connect(sys.argv[1])
con.execute("CREATE TABLE analyst_scratch AS SELECT 42 AS answer")
print("ready", flush=True)
time.sleep(300)
"""


@pytest.fixture(autouse=True)
def short_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(WAIT_ENV, "0.5")


@pytest.fixture
def published(paths: WarehousePaths) -> WarehousePaths:
    publish(paths, frame(20), meta("run-1"), private=True)
    return paths


def _hold(path: Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(path)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    return proc


@pytest.fixture
def session(published: WarehousePaths) -> Iterator[subprocess.Popen[str]]:
    proc = _hold(published.release)
    try:
        yield proc
    finally:
        proc.kill()
        proc.wait()


def _kill(proc: subprocess.Popen[str]) -> None:
    proc.kill()
    proc.wait()


def test_the_publisher_waits_then_refuses_and_leaves_the_live_file(
    published: WarehousePaths, session: subprocess.Popen[str]
) -> None:
    with pytest.raises(ReleaseFileHeldError, match=r"did not let go within 0\.5 s"):
        publish(published, frame(20), meta("run-2"), private=True)
    _kill(session)
    assert [r["version"] for r in catalog(published)] == [1]
    assert not list(published.home.glob(".release-*"))  # no staging copy left


def test_readers_wait_then_say_what_to_do(
    published: WarehousePaths, session: subprocess.Popen[str]
) -> None:
    for read in (lambda: catalog(published), lambda: export_release(published, "adult")):
        with pytest.raises(ReleaseFileHeldError) as info:
            read()
        assert "Close that session, and open the file read-only instead" in str(info.value)


def test_a_dead_session_s_wal_is_set_aside_by_the_next_publish(published: WarehousePaths) -> None:
    _kill(_hold(published.release))
    assert wal_path(published.release).exists()
    publish(published, frame(20), meta("run-2"), private=True)
    assert not wal_path(published.release).exists()
    assert [r["version"] for r in catalog(published)] == [2, 1]
    with duckdb.connect(str(published.release), read_only=True) as con:  # a plain open works
        names = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    assert "analyst_scratch" not in names  # the foreign write is not part of any release


def test_a_wal_that_no_longer_matches_the_file_is_set_aside_by_a_reader(
    published: WarehousePaths,
) -> None:
    """What an older publisher left: a session wrote and died, then the file was replaced
    by a newer copy. DuckDB refuses such a file ("WAL checkpoint iteration does not
    match"); every reader used to fail until the WAL was deleted by hand."""
    _kill(_hold(published.release))
    stale = wal_path(published.release)
    copy = published.home / "copy.duckdb"
    shutil.copyfile(published.release, copy)
    with duckdb.connect(str(copy)) as con:
        con.execute("CREATE TABLE newer AS SELECT 1 AS x")
        con.execute("CHECKPOINT")
    copy.replace(published.release)
    with pytest.raises(duckdb.IOException, match="checkpoint iteration does not match"):
        duckdb.connect(str(published.release), read_only=True)
    assert [r["version"] for r in catalog(published)] == [1]
    assert not stale.exists() and list(published.home.glob("release.duckdb.wal.discarded-*"))
    publish(published, frame(20), meta("run-2"), private=True)
    assert [r["version"] for r in catalog(published)] == [2, 1]


TAMPER = """
import os, signal, sys, duckdb
con = duckdb.connect(sys.argv[1])
con.execute("DELETE FROM catalog WHERE version = 1")
os.kill(os.getpid(), signal.SIGKILL)  # dies before any checkpoint: the change is in the WAL
"""


def test_readers_see_the_file_as_published_not_a_dead_session_s_changes(
    published: WarehousePaths,
) -> None:
    """A session that changed the catalog and died leaves its change in the WAL; DuckDB
    would replay it for every reader (and the ledger's cross-check reads the catalog)."""
    publish(published, frame(20), meta("run-2"), private=True)
    subprocess.run([sys.executable, "-c", TAMPER, str(published.release)], check=False)
    assert wal_path(published.release).exists()
    assert [r["version"] for r in catalog(published)] == [2, 1]
    assert not wal_path(published.release).exists()
    assert list(published.home.glob("release.duckdb.wal.discarded-*"))


def test_a_reader_leaves_the_wal_to_a_running_publish(published: WarehousePaths) -> None:
    """While the publish lock is taken, a reader does not touch the WAL (the publish will)."""
    from warehouse.release_file import publish_lock

    subprocess.run([sys.executable, "-c", TAMPER, str(published.release)], check=False)
    with publish_lock(published.publish_lock):
        assert catalog(published) == []  # DuckDB replays the dead session's change
        assert wal_path(published.release).exists()
    publish(published, frame(20), meta("run-2"), private=True)
    assert [r["version"] for r in catalog(published)] == [2, 1]
