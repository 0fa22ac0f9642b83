"""The run log: one row per release run, with its status through the release's steps.

Statuses: ``started`` → ``validated`` → ``charged`` → ``measured`` → ``published``, or
``failed`` with an error message. Each run records the process running it (host, pid and a
start marker); a run whose process was killed is settled (failed, or published if its
release went live) when runs are listed or a new run of the same release starts: see
``warehouse.stale``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from warehouse import clock
from warehouse.process import current_process
from warehouse.rows import from_row, select_list
from warehouse.stale import settle_stopped_runs
from warehouse.store import Sql, privacy_store
from warehouse.vocabulary import ReleaseKind, RunStatus

STATUSES = tuple(RunStatus)
RELEASE_KINDS = tuple(ReleaseKind)


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
    owner_host: str | None = None
    owner_pid: int | None = None
    owner_start: str | None = None
    kind: str | None = ReleaseKind.MEASURED
    measurement_run: str | None = None
    spec_json: str | None = None


_COLUMNS = select_list(RunRecord)


def start_run(
    path: Path,
    *,
    run_id: str,
    release: str,
    dataset: str,
    spec_hash: str,
    spec_path: str,
    spec_json: str | None = None,
    kind: str = ReleaseKind.MEASURED,
    measurement_run: str | None = None,
) -> RunRecord:
    """Record a run as started, or return its existing record (a resume or a retry).

    Either way this process becomes the run's owner. Runs of the same release whose process
    was killed are settled first, so the run log never shows them as still running. A
    ``refresh`` run names the ``measurement_run`` whose stored measurements it re-samples.
    """
    if kind not in RELEASE_KINDS:
        raise ValueError(f"unknown run kind {kind!r}")
    store = privacy_store(path)
    settle_stopped_runs(path, release)
    owner = current_process()

    def body(con: Sql) -> None:
        now = clock.utc_now()
        con.execute(
            "INSERT INTO privacy.runs (run_id, release, dataset, spec_hash, spec_path, status, "
            "started_at, updated_at, owner_host, owner_pid, owner_start, kind, "
            "measurement_run, spec_json) "
            "VALUES (?, ?, ?, ?, ?, 'started', ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (run_id) DO "
            "UPDATE SET owner_host = excluded.owner_host, owner_pid = excluded.owner_pid, "
            "owner_start = excluded.owner_start",
            [
                run_id,
                release,
                dataset,
                spec_hash,
                spec_path,
                now,
                now,
                owner.host,
                owner.pid,
                owner.start_marker,
                kind,
                measurement_run,
                spec_json,
            ],
        )

    store.transaction(body)
    record = get_run(path, run_id)
    assert record is not None
    return record


def get_run(path: Path, run_id: str) -> RunRecord | None:
    """A run's record, if it exists."""
    store = privacy_store(path, create=False)
    if not store.exists():
        return None
    with store.snapshot() as con:
        row = con.execute(
            f"SELECT {_COLUMNS} FROM privacy.runs WHERE run_id = ?", [run_id]
        ).fetchone()
    return None if row is None else from_row(RunRecord, row)


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
    store = privacy_store(path)

    def body(con: Sql) -> None:
        con.execute(
            "UPDATE privacy.runs SET status = ?, updated_at = ?, "
            "error = coalesce(?, error), input_report = coalesce(?, input_report), "
            "version = coalesce(?, version) WHERE run_id = ? AND status <> 'published'",
            [status, clock.utc_now(), error, input_report, version, run_id],
        )

    store.transaction(body)


def set_kind(path: Path, run_id: str, kind: str, measurement_run: str | None) -> None:
    """Mark a started run as a ``release`` or as a ``refresh`` of ``measurement_run``."""
    if kind not in RELEASE_KINDS:
        raise ValueError(f"unknown run kind {kind!r}")
    store = privacy_store(path)

    def body(con: Sql) -> None:
        con.execute(
            "UPDATE privacy.runs SET kind = ?, measurement_run = ?, updated_at = ? "
            "WHERE run_id = ?",
            [kind, measurement_run, clock.utc_now(), run_id],
        )

    store.transaction(body)


def list_runs(path: Path, release: str | None = None) -> list[RunRecord]:
    """Runs, newest first, optionally for one release; killed runs are settled first."""
    store = privacy_store(path)
    settle_stopped_runs(path, release)
    with store.snapshot() as con:
        rows = con.execute(
            f"SELECT {_COLUMNS} FROM privacy.runs WHERE ? IS NULL OR release = ? "
            "ORDER BY started_at DESC",
            [release, release],
        ).fetchall()
    return [from_row(RunRecord, r) for r in rows]
