"""The run log: one row per release run, with its status through the release's steps.

Statuses: ``started`` → ``validated`` → ``charged`` → ``measured`` → ``published``, or
``failed`` with an error message. A killed run stays at its last status until a resume or a
later look marks it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from warehouse.connection import connect, run_transaction
from warehouse.schema import ensure_privacy_schema

STATUSES = ("started", "validated", "charged", "measured", "published", "failed")


@dataclass(frozen=True)
class RunRecord:
    """One run as the run log holds it."""

    run_id: str
    release: str
    dataset: str
    spec_hash: str
    spec_path: str
    status: str
    started_at: datetime
    updated_at: datetime
    error: str | None
    input_report: str | None
    version: int | None


def start_run(
    path: Path, *, run_id: str, release: str, dataset: str, spec_hash: str, spec_path: str
) -> RunRecord:
    """Record a run as started, or return its existing record (a resume or a retry)."""
    ensure_privacy_schema(path)

    def body(con: duckdb.DuckDBPyConnection) -> None:
        now = datetime.now(UTC)
        con.execute(
            "INSERT INTO privacy.runs VALUES (?, ?, ?, ?, ?, 'started', ?, ?, NULL, NULL, NULL) "
            "ON CONFLICT DO NOTHING",
            [run_id, release, dataset, spec_hash, spec_path, now, now],
        )

    run_transaction(path, body)
    record = get_run(path, run_id)
    assert record is not None
    return record


def get_run(path: Path, run_id: str) -> RunRecord | None:
    """A run's record, if it exists."""
    if not path.exists():
        return None
    ensure_privacy_schema(path)
    with connect(path) as con:
        row = con.execute("SELECT * FROM privacy.runs WHERE run_id = ?", [run_id]).fetchone()
    return None if row is None else RunRecord(*row)


def set_status(
    path: Path,
    run_id: str,
    status: str,
    *,
    error: str | None = None,
    input_report: str | None = None,
    version: int | None = None,
) -> None:
    """Move a run to ``status``; a published run never goes back."""
    if status not in STATUSES:
        raise ValueError(f"unknown run status {status!r}")
    ensure_privacy_schema(path)

    def body(con: duckdb.DuckDBPyConnection) -> None:
        con.execute(
            "UPDATE privacy.runs SET status = ?, updated_at = ?, "
            "error = coalesce(?, error), input_report = coalesce(?, input_report), "
            "version = coalesce(?, version) WHERE run_id = ? AND status <> 'published'",
            [status, datetime.now(UTC), error, input_report, version, run_id],
        )

    run_transaction(path, body)


def list_runs(path: Path, release: str | None = None) -> list[RunRecord]:
    """Runs, newest first, optionally for one release."""
    ensure_privacy_schema(path)
    with connect(path) as con:
        rows = con.execute(
            "SELECT * FROM privacy.runs WHERE ? IS NULL OR release = ? ORDER BY started_at DESC",
            [release, release],
        ).fetchall()
    return [RunRecord(*r) for r in rows]
