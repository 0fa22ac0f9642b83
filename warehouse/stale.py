"""Finding runs whose process was killed, and recording them as failed (or published).

A process killed with SIGKILL runs no cleanup, so its run stays at the last status it
reached. Each run records its owner process (``warehouse.process``); when runs are listed or
a new run of the same release starts, runs of this host whose owner is gone and whose status
is not terminal are settled:

* published, if the release file's catalog holds the run (it was killed after the rename
  that made its release live, before it could say so);
* otherwise failed, with an error saying where it stopped and what to do: resume it if it
  was charged (its measurements, if stored, are reused), or start a new run if not.

The update is guarded by the owner columns, so a resume that has just taken the run over
is never marked failed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from warehouse import clock
from warehouse.paths import WarehousePaths
from warehouse.process import ProcessIdentity, is_gone
from warehouse.publish import published_for_run
from warehouse.store import Sql, privacy_store

TERMINAL = ("published", "failed")


def stopped_message(run_id: str, status: str, spec_path: str, charged: bool) -> str:
    """The run log's error for a run whose process stopped at ``status``."""
    where = f"the process running it stopped (killed or crashed) at status {status}"
    if charged:
        return (
            f"{where}; its charge stands. Resume it with "
            f"`dprelease run {spec_path} --resume {run_id}` (no second charge)."
        )
    return (
        f"{where}, before its charge, so nothing was spent; start a new run: "
        f"`dprelease run {spec_path}`."
    )


@dataclass(frozen=True)
class _Unsettled:
    """A non-terminal run with a recorded owner process."""

    run_id: str
    status: str
    spec_path: str
    owner: ProcessIdentity
    charged: bool


def _unsettled(path: Path, release: str | None) -> list[_Unsettled]:
    with privacy_store(path).snapshot() as con:
        rows = con.execute(
            "SELECT r.run_id, r.status, r.spec_path, r.owner_host, r.owner_pid, "
            "coalesce(r.owner_start, ''), c.run_id IS NOT NULL "
            "FROM privacy.runs r LEFT JOIN privacy.charges c USING (run_id) "
            "WHERE r.status NOT IN ('published', 'failed') AND r.owner_host IS NOT NULL "
            "AND (? IS NULL OR r.release = ?)",
            [release, release],
        ).fetchall()
    return [
        _Unsettled(r[0], r[1], r[2], ProcessIdentity(r[3], int(r[4]), r[5]), bool(r[6]))
        for r in rows
    ]


def _settle(
    path: Path, run: _Unsettled, status: str, error: str | None, version: int | None
) -> bool:
    """Move ``run`` to ``status`` unless it moved on or changed owner since it was read."""

    def body(con: Sql) -> bool:
        changed = con.execute(
            "UPDATE privacy.runs SET status = ?, error = ?, version = coalesce(?, version), "
            "updated_at = ? WHERE run_id = ? AND status = ? AND owner_host = ? "
            "AND owner_pid = ? AND coalesce(owner_start, '') = ? RETURNING run_id",
            [
                status,
                error,
                version,
                clock.utc_now(),
                run.run_id,
                run.status,
                run.owner.host,
                run.owner.pid,
                run.owner.start_marker,
            ],
        ).fetchall()
        return bool(changed)

    return privacy_store(path).transaction(body)


def settle_stopped_runs(path: Path, release: str | None = None) -> list[str]:
    """Settle runs (of ``release``, or all) whose owner process is gone; returns their ids.

    Expects the privacy schema to exist (callers ensure it).
    """
    settled = []
    for run in _unsettled(path, release):
        if not is_gone(run.owner):
            continue
        published = published_for_run(WarehousePaths(path.parent), run.run_id)
        if published is not None:
            done = _settle(path, run, "published", None, published.version)
        else:
            error = stopped_message(run.run_id, run.status, run.spec_path, run.charged)
            done = _settle(path, run, "failed", error, None)
        if done:
            settled.append(run.run_id)
    return settled
