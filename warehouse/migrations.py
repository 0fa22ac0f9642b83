"""One migration mechanism for every file we own: columns added after a table was first
created, and idempotent backfills, applied in order on first use.

A file made by an older version gains the missing columns (``ALTER TABLE ... ADD COLUMN``)
and its rows are rewritten into today's vocabulary by backfills that change nothing on a
second run. Used for the warehouse's ``privacy`` schema and the release file's catalog.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import duckdb


@dataclass(frozen=True)
class AddColumn:
    """A column that tables created before it lack."""

    table: str
    column: str
    sql_type: str


@dataclass(frozen=True)
class Backfill:
    """An idempotent statement bringing older rows up to date (e.g. a renamed value)."""

    sql: str


Step = AddColumn | Backfill


def migrate(con: duckdb.DuckDBPyConnection, schema: str, steps: Sequence[Step]) -> None:
    """Apply ``steps`` to the tables of ``schema`` in the connection's current database."""
    present = set(
        con.execute(
            "SELECT table_name, column_name FROM duckdb_columns() "
            "WHERE schema_name = ? AND database_name = current_database()",
            [schema],
        ).fetchall()
    )
    for step in steps:
        if isinstance(step, AddColumn):
            if (step.table, step.column) not in present:
                con.execute(
                    f"ALTER TABLE {schema}.{step.table} ADD COLUMN IF NOT EXISTS "
                    f"{step.column} {step.sql_type}"
                )
        else:
            con.execute(step.sql)
