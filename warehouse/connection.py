"""Opening DuckDB files with a bounded wait, and retrying transactions that conflict.

DuckDB lets one process hold a file read-write; others fail at once with a lock error.
Connections here are short-lived and a busy file is retried with capped exponential
back-off, so concurrent releases queue instead of failing.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext, suppress
from pathlib import Path
from typing import TypeVar

import duckdb

from dpcore.errors import DPReleaseError
from warehouse.backoff import Backoff
from warehouse.errors import WriteConflictError
from warehouse.failures import storage_error
from warehouse.gate import busy_error, held

T = TypeVar("T")

DEFAULT_WAIT_S = 120.0
MEMORY_ENV = "DPRELEASE_DUCKDB_MEMORY"
TEMP_ENV = "DPRELEASE_DUCKDB_TEMP"
DEFAULT_MEMORY = "1GB"


def is_lock_error(error: Exception) -> bool:
    """Whether DuckDB refused the file because another process holds its lock."""
    text = str(error).lower()
    return "could not set lock" in text or "conflicting lock" in text


def _is_conflict(error: Exception) -> bool:
    return isinstance(error, duckdb.TransactionException) or "conflict" in str(error).lower()


def _open(path: Path, read_only: bool, deadline: float, wait_s: float) -> duckdb.DuckDBPyConnection:
    """``duckdb.connect``, retrying with back-off while another process holds the file."""
    backoff = Backoff(deadline, first=0.01, cap=2.0, jitter=True)
    while True:
        try:
            return duckdb.connect(str(path), read_only=read_only)
        except duckdb.IOException as error:
            if not is_lock_error(error) or backoff.expired():
                if is_lock_error(error):
                    raise busy_error(path, wait_s) from None
                failure = storage_error(error, path)
                if failure is not None:
                    raise failure from None
                raise
            backoff.sleep()


@contextmanager
def connect(
    path: Path, *, read_only: bool = False, wait_s: float = DEFAULT_WAIT_S, private: bool = False
) -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection to ``path``, waiting up to ``wait_s`` for another process's lock.

    Read-write connections hold the file's gate (:mod:`warehouse.gate`) from before DuckDB
    opens the file (or creates it) until it has closed it; ``private`` skips the gate for a
    file no other process can know of (a publish's staging copy).
    """
    deadline = time.monotonic() + wait_s
    gate = nullcontext() if read_only or private else held(path, deadline, wait_s)
    with gate:
        con = _open(path, read_only, deadline, wait_s)
        try:
            limit_memory(con)
            yield con
        finally:
            con.close()


def limit_memory(con: duckdb.DuckDBPyConnection) -> None:
    """Cap DuckDB's memory (it spills to disk beyond the cap) so a release's peak stays bounded.

    The cap is ``$DPRELEASE_DUCKDB_MEMORY`` (default 1GB, e.g. ``512MB``, ``4GB``); spill files
    go to ``$DPRELEASE_DUCKDB_TEMP`` if set, else beside the database file (``<file>.tmp``).
    """
    memory = os.environ.get(MEMORY_ENV, "").strip() or DEFAULT_MEMORY
    temp = os.environ.get(TEMP_ENV, "").strip()
    try:
        con.execute(f"SET memory_limit = {literal(memory)}")
        if temp:
            con.execute(f"SET temp_directory = {literal(temp)}")
    except duckdb.Error as error:
        raise DPReleaseError(
            f"{MEMORY_ENV}={memory!r} / {TEMP_ENV}={temp!r} is not usable by DuckDB "
            f"({type(error).__name__}); give a size such as 1GB or 512MB and a writable "
            "directory, or unset them."
        ) from None


# A key inserted by a transaction that committed after ours began is invisible to our
# snapshot (so ``ON CONFLICT DO NOTHING`` and "does it exist?" checks miss it), yet our INSERT
# of the same key fails with a ConstraintException rather than a TransactionException. That is
# a lost race: a fresh transaction sees the committed row. A violation that persists across
# this many fresh transactions is a real one and is raised.
CONSTRAINT_RETRIES = 5


def run_transaction(
    path: Path,
    body: Callable[[duckdb.DuckDBPyConnection], T],
    *,
    wait_s: float = DEFAULT_WAIT_S,
) -> T:
    """Run ``body`` in one transaction, retrying on write conflicts and busy files.

    A full disk or a refused permission is raised at once as a typed
    :class:`~warehouse.failures.StorageError` (even when DuckDB reports it as a failed
    commit): only conflicts are worth retrying.

    A duplicate key that a concurrent writer committed first is retried a few times too
    (see ``CONSTRAINT_RETRIES``); ``body`` must re-read what it depends on each time.
    """
    backoff = Backoff.within(wait_s, first=0.01, cap=2.0, jitter=True)
    constraint_retries = 0
    while True:
        with connect(path, wait_s=max(1.0, backoff.remaining())) as con:
            con.begin()
            try:
                result = body(con)
                con.commit()
                return result
            except Exception as error:
                with suppress(duckdb.Error):
                    con.rollback()
                failure = storage_error(error, path)
                if failure is not None:  # a full disk or a refused write: retrying won't help
                    raise failure from None
                if isinstance(error, duckdb.ConstraintException):
                    constraint_retries += 1
                    if constraint_retries > CONSTRAINT_RETRIES:
                        raise
                elif not (isinstance(error, duckdb.Error) and _is_conflict(error)):
                    raise
                if backoff.expired():
                    raise WriteConflictError(
                        f"{path.name}: a transaction kept conflicting with concurrent writers "
                        f"for {wait_s:.0f} s (other runs changing the same rows). Retry later."
                    ) from None
        backoff.sleep()


def has_table(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    """Whether the connection's current database holds a table named ``table`` (any schema).

    The current database only: a release file ATTACHed beside it does not count.
    """
    return bool(
        con.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE table_name = ? "
            "AND database_name = current_database()",
            [table],
        ).fetchall()[0][0]
    )


def has_column(con: duckdb.DuckDBPyConnection, table: str, column: str) -> bool:
    """Whether ``table`` in the connection's current database has a column ``column``."""
    return bool(
        con.execute(
            "SELECT count(*) FROM duckdb_columns() WHERE table_name = ? AND column_name = ? "
            "AND database_name = current_database()",
            [table, column],
        ).fetchall()[0][0]
    )


def quote(identifier: str) -> str:
    """A SQL identifier, double-quoted."""
    return '"' + identifier.replace('"', '""') + '"'


def literal(value: str) -> str:
    """A SQL string literal."""
    return "'" + value.replace("'", "''") + "'"
