"""The privacy store in PostgreSQL, shared by several hosts (``$DPRELEASE_DATABASE_URL``).

The ledger, run log and stored measurements live in a ``privacy`` schema of the database the
URL names, with the tables and columns of the DuckDB store (:mod:`warehouse.schema`, its DDL
and migrations translated to PostgreSQL's type names). Transactions run at REPEATABLE READ,
PostgreSQL's snapshot isolation: a transaction that updates a row another one changed since
its snapshot fails with a serialization failure and is retried from the start, exactly as
DuckDB's "Conflict on update" is, so the guarded charge (``UPDATE ... WHERE spent + cost <=
cap``) admits the same charges on both. Statements are bound on the client
(``psycopg.ClientCursor``), so the ledger's ``?`` statements, written once for both
databases, need no casts for untyped parameters.

A publisher holds a session-level advisory lock (:meth:`PostgresStore.exclusive`) while it
publishes: one publisher at a time per release database, across hosts; the lock goes with
its session, so a killed publisher never leaves it held.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Any, TypeVar

import psycopg
from psycopg import errors as pg_errors

from dpcore.errors import DPReleaseError
from warehouse.backoff import Backoff
from warehouse.connection import CONSTRAINT_RETRIES, DEFAULT_WAIT_S
from warehouse.errors import WriteConflictError
from warehouse.migrations import AddColumn
from warehouse.schema import MIGRATIONS, PRIVACY_DDL
from warehouse.store import Rows

T = TypeVar("T")

CONNECT_TIMEOUT_S = 10
_SCHEMA_LOCK = "dprelease:privacy-schema"


class DatabaseUnavailableError(DPReleaseError):
    """The configured PostgreSQL database cannot be reached or refused the connection."""


def pg_type(sql: str) -> str:
    """DuckDB's type names in ``sql`` as PostgreSQL spells them (DOUBLE, BLOB)."""
    sql = re.sub(r"\bDOUBLE\b(?! PRECISION)", "DOUBLE PRECISION", sql)
    return re.sub(r"\bBLOB\b", "BYTEA", sql)


def placeholders(query: str) -> str:
    """A ``?`` statement in psycopg's ``%s`` style (a literal ``%`` doubled)."""
    return query.replace("%", "%%").replace("?", "%s")


def lock_key(name: str) -> int:
    """A stable signed 64-bit advisory-lock key for ``name``."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


class PgSql:
    """A psycopg connection behind the ledger's :class:`~warehouse.store.Sql` interface."""

    def __init__(self, con: psycopg.Connection[Any]) -> None:
        self._con = con

    def execute(self, query: str, parameters: Sequence[Any] = (), /) -> Rows:
        params = list(parameters)
        return self._con.execute(placeholders(query) if params else query, params or None)


def _retryable(error: Exception) -> bool:
    return isinstance(error, pg_errors.SerializationFailure | pg_errors.DeadlockDetected)


@dataclass(frozen=True)
class PostgresStore:
    """The privacy schema in the PostgreSQL database at ``url``."""

    url: str
    wait_s: float = DEFAULT_WAIT_S

    @property
    def backend(self) -> str:
        return "postgresql"

    def exists(self) -> bool:
        return True  # a server database is there to be used; the schema is ensured on use

    def connect(self, *, autocommit: bool = False) -> psycopg.Connection[Any]:
        """A new connection (REPEATABLE READ, client-side binding), or a typed error."""
        try:
            con = psycopg.connect(
                self.url,
                autocommit=autocommit,
                connect_timeout=CONNECT_TIMEOUT_S,
                cursor_factory=psycopg.ClientCursor,
            )
        except psycopg.OperationalError as error:
            first_line = str(error).strip().splitlines()[0] if str(error).strip() else ""
            raise DatabaseUnavailableError(
                f"the ledger database named by $DPRELEASE_DATABASE_URL could not be reached "
                f"({first_line}). Check that PostgreSQL is running and the URL's host, port, "
                "user and database are right, or unset $DPRELEASE_DATABASE_URL to keep the "
                "ledger in the warehouse's DuckDB file."
            ) from None
        con.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        return con

    def ensure(self) -> None:
        with _ensured_lock:
            if self.url in _ensured:
                return
            self.transaction(_create)
            _ensured.add(self.url)

    def transaction(self, body: Callable[[PgSql], T]) -> T:
        backoff = Backoff.within(self.wait_s, first=0.005, cap=1.0, jitter=True)
        constraint_retries = 0
        while True:
            with self.connect() as con:
                try:
                    result = body(PgSql(con))
                    con.commit()
                    return result
                except Exception as error:
                    with suppress(psycopg.Error):
                        con.rollback()
                    if isinstance(error, pg_errors.UniqueViolation):
                        constraint_retries += 1
                        if constraint_retries > CONSTRAINT_RETRIES:
                            raise
                    elif not _retryable(error):
                        raise
                    if backoff.expired():
                        raise WriteConflictError(
                            "the ledger database: a transaction kept conflicting with "
                            f"concurrent writers for {self.wait_s:.0f} s (other runs changing "
                            "the same rows). Retry later."
                        ) from None
            backoff.sleep()

    @contextmanager
    def snapshot(self) -> Iterator[PgSql]:
        with self.connect() as con:
            con.read_only = True
            try:
                yield PgSql(con)
            finally:
                con.rollback()

    @contextmanager
    def exclusive(self, name: str) -> Iterator[None]:
        """A session-level advisory lock on ``name``, waited for; released on exit or when
        this process dies (its session ends)."""
        with self.connect(autocommit=True) as con:
            con.execute("SELECT pg_advisory_lock(%s)", [lock_key(name)])
            try:
                yield
            finally:
                with suppress(psycopg.Error):
                    con.execute("SELECT pg_advisory_unlock(%s)", [lock_key(name)])


def _create(con: PgSql) -> None:
    """The DuckDB store's DDL and migrations, in PostgreSQL's types; concurrent creators of
    a fresh database take turns (CREATE ... IF NOT EXISTS alone races in PostgreSQL)."""
    con.execute("SELECT pg_advisory_xact_lock(?)", [lock_key(_SCHEMA_LOCK)])
    con.execute(pg_type(PRIVACY_DDL))
    for step in MIGRATIONS:
        if isinstance(step, AddColumn):
            con.execute(
                f"ALTER TABLE privacy.{step.table} ADD COLUMN IF NOT EXISTS "
                f"{step.column} {pg_type(step.sql_type)}"
            )
        else:
            con.execute(step.sql)


_ensured: set[str] = set()
_ensured_lock = threading.Lock()


def store_for_url(url: str) -> PostgresStore:
    """The store at ``url`` (``postgresql://`` or ``postgres://``), else a typed error."""
    if not url.startswith(("postgresql://", "postgres://")):
        raise DPReleaseError(
            f"$DPRELEASE_DATABASE_URL={url!r} is not a PostgreSQL URL; give one such as "
            "postgresql://user@host:5432/dprelease, or unset it to keep the ledger in the "
            "warehouse's DuckDB file."
        )
    return PostgresStore(url)
