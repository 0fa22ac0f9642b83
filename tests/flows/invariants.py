"""The warehouse invariants a crash must never break, checked from the outside.

* The ledger's hash chain verifies and sums to the budget's spent rho.
* No measurement without its charge; a run's measurements are all there or none are.
* No release without its charge and its measurements; every version is complete: its table
  exists with the catalog's row count, versions are 1..n, the view resolves to the newest,
  and no ``<name>_v<N>`` table exists without its catalog row.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from warehouse import ledger
from warehouse.paths import WarehousePaths
from warehouse.publish import fresh_reader
from warehouse.store import privacy_store


@dataclass(frozen=True)
class Snapshot:
    """What the warehouse holds once its invariants have been checked."""

    charged: frozenset[str]  # run ids with a charge
    measured: dict[str, bytes]  # run id -> its measurements, concatenated
    published: dict[str, int]  # run id -> version
    spent: object  # the dataset's spend, in its ledger's currency (rho, or epsilon if pure)


def _measurements(paths: WarehousePaths) -> dict[str, list[tuple[int, bytes]]]:
    """Every stored measurement, from the home's privacy store (DuckDB or PostgreSQL)."""
    with privacy_store(paths.warehouse).snapshot() as con:
        rows = con.execute(
            "SELECT run_id, idx, noisy FROM privacy.measurements ORDER BY run_id, idx"
        ).fetchall()
    by_run: dict[str, list[tuple[int, bytes]]] = {}
    for run_id, idx, blob in rows:
        by_run.setdefault(run_id, []).append((idx, bytes(blob)))
    return by_run


def _releases(paths: WarehousePaths, name: str) -> dict[str, int]:
    """Check the release file's versions of ``name``; return run id -> version."""
    if not paths.release.exists():
        return {}
    with fresh_reader(paths.release) as con:
        rows = con.execute(
            "SELECT run_id, version, table_name, rows FROM catalog WHERE name = ? ORDER BY version",
            [name],
        ).fetchall()
        assert [r[1] for r in rows] == list(range(1, len(rows) + 1)), "versions not 1..n"
        tables = {
            t[0]
            for t in con.execute(
                "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database() "
                "AND regexp_matches(table_name, ?)",
                [f"^{name}_v[0-9]+$"],
            ).fetchall()
        }
        assert tables == {r[2] for r in rows}, "a version table without its catalog row"
        for _, _, table, count in rows:
            assert con.execute(f'SELECT count(*) FROM "{table}"').fetchall() == [(count,)]
        if rows:
            newest = rows[-1]
            assert con.execute(f'SELECT count(*) FROM "{name}"').fetchall() == [(newest[3],)]
            view = con.execute(
                "SELECT sql FROM duckdb_views() WHERE view_name = ? "
                "AND database_name = current_database()",
                [name],
            ).fetchall()
            assert view and re.search(rf"\b{newest[2]}\b", view[0][0]), "view not on the newest"
    return {r[0]: r[1] for r in rows}


def check_invariants(
    paths: WarehousePaths, dataset: str, name: str, measurements_per_run: int
) -> Snapshot:
    """Assert every invariant above; return what the warehouse holds."""
    state = ledger.budget_state(paths.warehouse, dataset)  # raises LedgerError if altered
    charges = ledger.history(paths.warehouse, dataset)
    charged = frozenset(h.charge.run_id for h in charges)
    assert len(charged) == len(charges)
    by_run = _measurements(paths)
    assert set(by_run) <= charged, "measurements without a charge"
    for run_id, rows in by_run.items():
        assert [i for i, _ in rows] == list(range(measurements_per_run)), run_id
    published = _releases(paths, name)
    assert set(published) <= charged, "a release without its charge"
    assert set(published) <= set(by_run), "a release without its measurements"
    return Snapshot(
        charged,
        {r: b"".join(blob for _, blob in rows) for r, rows in by_run.items()},
        published,
        None if state is None else state.spent,
    )
