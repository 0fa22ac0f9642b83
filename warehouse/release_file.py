"""Opening the release file beside consumers' own sessions, and clearing a foreign WAL.

The release file is handed to analysts, and one may open it read-write (``duckdb FILE``
without ``-readonly``). While that session lives, DuckDB lets no other process open the file
at all, so our readers and the publisher wait a bounded time (``$DPRELEASE_RELEASE_WAIT_S``,
default 30 s) and then stop with :class:`ReleaseFileHeldError`, which says what to do.

Only the publisher writes the release file, and never in place: it checkpoints a private
copy and renames it over the live file, so the live file never has a WAL of ours. A
``release.duckdb.wal`` beside it is therefore a foreign session's, left when that session
died: its writes are not part of any release, and after a publish its WAL no longer matches
the file ("WAL checkpoint iteration does not match"), which DuckDB refuses to open. The
publisher moves such a WAL aside (``release.duckdb.wal.discarded-<time>``, kept for
inspection) under the publish lock before copying. A reader that finds one does the same
under that lock: at once if no publish is running (else the publish will), and after
waiting for the lock if the WAL no longer matches. Readers thus see the file as published.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from warehouse.backoff import Backoff
from warehouse.connection import is_lock_error, literal
from warehouse.errors import WarehouseBusyError
from warehouse.file_lock import exclusive

WAIT_ENV = "DPRELEASE_RELEASE_WAIT_S"
DEFAULT_WAIT_S = 30.0


class ReleaseFileHeldError(WarehouseBusyError):
    """Another process (an analyst's read-write session) keeps the release file open."""


def wait_s() -> float:
    """How long to wait for a foreign session to let go of the release file."""
    text = os.environ.get(WAIT_ENV, "").strip()
    try:
        return max(0.0, float(text)) if text else DEFAULT_WAIT_S
    except ValueError:
        return DEFAULT_WAIT_S


def held_error(path: Path, waited: float) -> ReleaseFileHeldError:
    """The one-paragraph message for a release file another process holds read-write."""
    return ReleaseFileHeldError(
        f"the release file {path} is held open read-write by another process (for example "
        f"a `duckdb {path.name}` session opened without -readonly), and it did not let go "
        f"within {waited:g} s; while it is open no other process can read or publish it. "
        f"Close that session, and open the file read-only instead (`duckdb -readonly "
        f"{path}`, or ATTACH ... (READ_ONLY)); then retry. A run that stopped here after "
        "its charge resumes at no new cost with `dprelease run SPEC --resume RUN_ID` "
        "(`dprelease runs` lists the run)."
    )


def is_stale_wal_error(error: Exception) -> bool:
    """Whether DuckDB refused the file because its WAL belongs to an older version of it."""
    return "checkpoint iteration does not match" in str(error).lower()


def wal_path(path: Path) -> Path:
    """DuckDB's write-ahead log beside ``path``."""
    return path.with_name(path.name + ".wal")


def _attach(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    con.execute(f"ATTACH {literal(str(path))} AS release (READ_ONLY)")


def attach_release(con: duckdb.DuckDBPyConnection, path: Path, lock: Path) -> None:
    """Attach ``path`` read-only as ``release`` into ``con`` (an in-memory database),
    waiting up to :func:`wait_s` for a foreign read-write session to close, and moving a
    foreign WAL that no longer matches the file aside (under ``lock``, the publish lock)."""
    if wal_path(path).exists():
        _clear_if_idle(path, lock)
    limit = wait_s()
    backoff = Backoff.within(limit, first=0.05, cap=1.0)
    cleared = False
    while True:
        try:
            _attach(con, path)
            return
        except duckdb.Error as error:
            if is_stale_wal_error(error) and not cleared:
                with publish_lock(lock):
                    discard_foreign_wal(path)
                cleared = True
                continue
            if not is_lock_error(error):
                raise
            if backoff.expired():
                raise held_error(path, limit) from None
        backoff.sleep()


def _held(path: Path) -> bool:
    """Whether another process holds ``path`` read-write right now (one try, no wait)."""
    con = duckdb.connect()
    try:
        _attach(con, path)
        return False
    except duckdb.Error as error:
        return is_lock_error(error)
    finally:
        con.close()


def _clear_if_idle(path: Path, lock: Path) -> None:
    """A reader's share: set a dead session's WAL aside, so that what readers see (and the
    ledger's cross-check of the catalog reads) is the file as published, not a foreign
    session's changes to it. Only when no publish runs (it would do it itself) and no
    session holds the file; a home this user may not write is left as it is."""
    try:
        with lock.open("a+") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return
            try:
                if not _held(path):
                    discard_foreign_wal(path)
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
    except OSError:
        return


def wait_until_free(path: Path) -> None:
    """Return once no other process holds ``path`` read-write (a bounded wait), else raise
    :class:`ReleaseFileHeldError`. A mismatched foreign WAL counts as free: nobody uses it."""
    if not path.exists():
        return
    limit = wait_s()
    backoff = Backoff.within(limit, first=0.05, cap=1.0)
    while _held(path):
        if backoff.expired():
            raise held_error(path, limit) from None
        backoff.sleep()


def discard_foreign_wal(path: Path) -> Path | None:
    """Move a WAL left beside the live release file aside; the caller holds the publish lock
    and has checked that no session has the file open. Returns where it went, if anywhere."""
    wal = wal_path(path)
    if not wal.exists():
        return None
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    target = wal.with_name(f"{wal.name}.discarded-{stamp}")
    wal.replace(target)
    return target


@contextmanager
def publish_lock(lock: Path) -> Iterator[None]:
    """Hold the publish lock (an ``flock`` on ``lock``): publishers, and a reader clearing a
    foreign WAL, take turns under it."""
    with exclusive(lock):
        yield
