"""Storage failures each get their own message and are never retried as conflicts: a full
disk, a refused permission, a lock another process holds, a write conflict."""

from __future__ import annotations

import errno
import shutil
import time
from pathlib import Path

import duckdb
import pytest

from tests.warehouse.test_connection import held
from tests.warehouse.test_publish import frame, meta
from warehouse import publish as publish_module
from warehouse.backoff import Backoff
from warehouse.connection import connect, run_transaction
from warehouse.errors import WarehouseBusyError, WriteConflictError
from warehouse.failures import DiskFullError, StoragePermissionError, storage_error
from warehouse.paths import HomeError, WarehousePaths
from warehouse.publish import catalog, publish

ENOSPC_COMMIT = (
    "TransactionContext Error: Failed to commit: Could not write file "
    '"w.duckdb.wal": No space left on device'
)
DISK_FULL = "the disk is full: there was no space left to write"
PERMISSION = "permission denied: this user may not write"


@pytest.mark.parametrize(
    "error",
    [
        duckdb.TransactionException(ENOSPC_COMMIT),  # how a failed commit arrives
        duckdb.IOException('IO Error: Could not write file "x": No space left on device'),
        OSError(errno.ENOSPC, "No space left on device"),
    ],
)
def test_a_full_disk_is_raised_at_once_not_retried_as_a_conflict(
    tmp_path: Path, error: Exception
) -> None:
    """Before: a failed commit on a full disk was retried for 120 s and then reported as
    'a transaction kept conflicting with concurrent writers'."""
    calls = []

    def body(con: duckdb.DuckDBPyConnection) -> None:
        calls.append(1)
        raise error

    start = time.monotonic()
    with pytest.raises(DiskFullError) as info:
        run_transaction(tmp_path / "w.duckdb", body, wait_s=120)
    assert time.monotonic() - start < 5 and calls == [1]
    message = str(info.value)
    assert message.startswith(f"{DISK_FULL} {tmp_path / 'w.duckdb'}. ")
    assert "Free space on that disk" in message and "--resume RUN_ID" in message
    assert "conflict" not in message and "\n" not in message


def test_a_refused_write_is_raised_at_once(tmp_path: Path) -> None:
    def body(con: duckdb.DuckDBPyConnection) -> None:
        raise duckdb.IOException('IO Error: Cannot open file "x": Permission denied')

    with pytest.raises(StoragePermissionError, match=f"^{PERMISSION} "):
        run_transaction(tmp_path / "w.duckdb", body, wait_s=120)


def test_a_conflict_and_a_held_lock_keep_their_own_messages(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(Backoff, "sleep", lambda self: time.sleep(0.02))

    def body(con: duckdb.DuckDBPyConnection) -> None:
        raise duckdb.TransactionException("Conflict on update!")

    with pytest.raises(WriteConflictError, match="kept conflicting with concurrent writers"):
        run_transaction(tmp_path / "c.duckdb", body, wait_s=0.2)
    path = tmp_path / "w.duckdb"
    with held(path, 5.0), pytest.raises(WarehouseBusyError) as info, connect(path, wait_s=0.3):
        pass
    assert not isinstance(info.value, WriteConflictError)
    assert "stayed locked by another process" in str(info.value)


def test_a_read_only_home_is_a_permission_error_naming_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As root, chmod does not stop writes, so the refusal is injected where the first write
    of any command happens: the warehouse file's gate."""
    real_open = Path.open

    def read_only(self: Path, mode: str = "r", *args: object, **kwargs: object) -> object:
        if self.name.endswith(".gate"):
            raise PermissionError(errno.EACCES, "Permission denied", str(self))
        return real_open(self, mode, *args, **kwargs)  # type: ignore[call-overload]

    monkeypatch.setattr(Path, "open", read_only)
    path = tmp_path / "w.duckdb"
    with pytest.raises(StoragePermissionError) as info, connect(path):
        pass
    assert str(info.value).startswith(f"{PERMISSION} {path}.gate (or the file system")


def test_a_home_that_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("")
    for home in (tmp_path / "f", tmp_path / "f" / "sub"):
        with pytest.raises(HomeError, match=f"^the warehouse home {home} is not a directory"):
            WarehousePaths.from_env(home)


@pytest.mark.parametrize("where", ["copy", "rows"])
def test_a_disk_filling_during_a_publish_leaves_the_live_file(
    paths: WarehousePaths, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    publish(paths, frame(10), meta("run-1"), private=True)

    def full(*args: object, **kwargs: object) -> None:
        if where == "copy":
            raise OSError(errno.ENOSPC, "No space left on device")
        raise duckdb.IOException('IO Error: Could not write file "s": No space left on device')

    if where == "copy":
        monkeypatch.setattr(shutil, "copyfile", full)
    else:
        monkeypatch.setattr(publish_module, "_write_rows", full)
    with pytest.raises(DiskFullError, match=f"^{DISK_FULL} {paths.home}. "):
        publish(paths, frame(10), meta("run-2"), private=True)
    monkeypatch.undo()
    assert [r["version"] for r in catalog(paths)] == [1]
    assert not list(paths.home.glob(".release-*"))


def test_anything_else_is_not_a_storage_failure() -> None:
    assert storage_error(duckdb.TransactionException("Conflict on update!"), None) is None
    assert storage_error(OSError(errno.ENOENT, "No such file"), None) is None
    already = DiskFullError("the disk is full: ...")
    assert storage_error(already, None) is None  # never wrapped twice
