"""Where the privacy state lives: the budget ledger, the run log and the stored measurements.

One interface (:class:`PrivacyStore`), two implementations: the warehouse's own DuckDB file
(the embedded default, :class:`DuckDBStore`), or a PostgreSQL database shared by several
hosts (:class:`warehouse.postgres.PostgresStore`), chosen by ``$DPRELEASE_DATABASE_URL``
(``postgresql://...``). The ledger's rules (the guarded charge, the hash chain, the charge per
run), the run log's and the measurements' are written once, in SQL both databases run, against
the narrow :class:`Sql` connection the store hands out; what differs is only how a transaction
is opened and retried. Source rows always come from the DuckDB warehouse file.

Both stores give a transaction the same guarantee the ledger relies on: snapshot isolation,
where the second of two transactions updating the same row fails (DuckDB: "Conflict on
update"; PostgreSQL at REPEATABLE READ: a serialization failure) and is retried from the start
against the new total, so ``UPDATE ... WHERE spent + cost <= cap`` can never pass the cap.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

from warehouse.connection import connect, run_transaction
from warehouse.schema import ensure_privacy_schema

T = TypeVar("T")

DATABASE_URL_ENV = "DPRELEASE_DATABASE_URL"


class Rows(Protocol):
    """A statement's result."""

    def fetchall(self) -> list[Any]:
        """Every remaining row, as tuples."""
        ...

    def fetchone(self) -> Any:
        """The next row as a tuple, or None."""
        ...


class Sql(Protocol):
    """The one thing the ledger asks of a connection: run a statement with ``?`` parameters."""

    def execute(self, query: str, parameters: Sequence[Any] = ..., /) -> Rows:
        """Run ``query`` (``?`` placeholders) with ``parameters``."""
        ...


class PrivacyStore(Protocol):
    """The ledger's, run log's and measurements' database."""

    @property
    def backend(self) -> str:
        """``duckdb`` or ``postgresql`` (for messages and benchmarks)."""
        ...

    def exists(self) -> bool:
        """Whether anything was ever stored (a missing DuckDB file holds nothing)."""
        ...

    def ensure(self) -> None:
        """Create the ``privacy`` schema and its tables if absent; add missing columns."""
        ...

    def transaction(self, body: Callable[[Sql], T]) -> T:
        """Run ``body`` in one snapshot-isolated transaction, retried on conflicts."""
        ...

    def snapshot(self) -> AbstractContextManager[Sql]:
        """A consistent read of the store (one read transaction)."""
        ...

    def exclusive(self, name: str) -> AbstractContextManager[None]:
        """Hold a lock named ``name`` that every host sharing the store sees (a no-op where
        the caller's file lock already covers everyone, as with one DuckDB file)."""
        ...


@dataclass(frozen=True)
class DuckDBStore:
    """The privacy schema inside the warehouse's DuckDB file (the embedded default)."""

    path: Path

    @property
    def backend(self) -> str:
        return "duckdb"

    def exists(self) -> bool:
        return self.path.exists()

    def ensure(self) -> None:
        ensure_privacy_schema(self.path)

    def transaction(self, body: Callable[[Sql], T]) -> T:
        return run_transaction(self.path, body)

    @contextmanager
    def snapshot(self) -> Iterator[Sql]:
        with connect(self.path) as con:
            con.begin()
            try:
                yield con
            finally:
                con.commit()

    def exclusive(self, name: str) -> AbstractContextManager[None]:
        return nullcontext()


def database_url() -> str | None:
    """``$DPRELEASE_DATABASE_URL`` if set (stripped), else None."""
    return os.environ.get(DATABASE_URL_ENV, "").strip() or None


def privacy_store(warehouse: Path, *, create: bool = True) -> PrivacyStore:
    """The store configured for the home whose warehouse file is ``warehouse``, its schema
    ensured (unless ``create`` is false and nothing was stored yet: a reader of a fresh home
    must not create files)."""
    url = database_url()
    store: PrivacyStore
    if url is None:
        store = DuckDBStore(warehouse)
    else:
        from warehouse.postgres import store_for_url  # psycopg only when configured

        store = store_for_url(url)
    if create or store.exists():
        store.ensure()
    return store


__all__ = [
    "DATABASE_URL_ENV",
    "DuckDBStore",
    "PrivacyStore",
    "Rows",
    "Sql",
    "database_url",
    "privacy_store",
]
