"""The release catalog as a witness: truncated or rewritten ledgers of published runs."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from dpcore.accounting import eps_from_rho
from tests.warehouse.test_ledger import DATASET, DELTA, charge, exact, table_rows
from tests.warehouse.test_publish import meta
from warehouse import ledger
from warehouse.errors import LedgerError
from warehouse.paths import WarehousePaths
from warehouse.publish import publish


def release_for(paths: WarehousePaths, run_id: str, spent: float, source: str = DATASET) -> None:
    """Publish a small version paid for by ``run_id``, after ``spent`` rho in total."""
    frame = pd.DataFrame({"age": np.arange(5), "sex": ["F", "M", "F", "M", "F"]})
    cumulative = eps_from_rho(spent, DELTA)
    publish(
        paths,
        frame,
        meta(
            run_id,
            source=source,
            cumulative_epsilon=cumulative,
            cumulative_delta=DELTA,
            cap_epsilon=1.0,  # the cap the ledger tests register (UNIT_CAP)
            cap_delta=DELTA,
        ),
        private=True,
    )


@pytest.fixture
def published(paths: WarehousePaths) -> WarehousePaths:
    """Three charges of 0.1, each published."""
    for i in range(3):
        charge(paths.warehouse, f"run-{i}", exact("0.1"))
        release_for(paths, f"run-{i}", 0.1 * (i + 1))
    return paths


def test_an_intact_ledger_agrees_with_its_releases(published: WarehousePaths) -> None:
    state = ledger.budget_state(published.warehouse, DATASET)
    assert state is not None and len(ledger.history(published.warehouse, DATASET)) == 3
    charge(published.warehouse, "run-3", exact("0.1"))  # charging still works


def test_truncating_a_published_runs_charge_is_detected(published: WarehousePaths) -> None:
    """The chain left is valid (see the strict xfail in test_ledger.py); the catalog is not."""
    with duckdb.connect(str(published.warehouse)) as con:
        con.execute("DELETE FROM privacy.charges WHERE seq = 3")
        con.execute("UPDATE privacy.budgets SET spent_rho = 0.2")
    after_edit = table_rows(published.warehouse)

    with pytest.raises(LedgerError, match=r"adult version 3 paid for by run run-2.*no charge"):
        ledger.budget_state(published.warehouse, DATASET)
    with pytest.raises(LedgerError, match=r"restores privacy\.charges from a backup"):
        charge(published.warehouse, "run-new", exact("0.1"))
    assert table_rows(published.warehouse) == after_edit


def test_a_rewritten_chain_with_lower_costs_is_detected(published: WarehousePaths) -> None:
    """An editor who recomputes every hash makes a valid chain; the catalog still disagrees."""
    with duckdb.connect(str(published.warehouse)) as con:
        rows = con.execute(
            "SELECT dataset, seq, run_id, release, spec_hash, epsilon, delta, rho, spent_after, "
            "charged_at, unit FROM privacy.charges ORDER BY seq"
        ).fetchall()
        (prev,) = con.execute("SELECT cap_hash FROM privacy.budgets").fetchall()[0]
        spent = 0
        for dataset, seq, run_id, release, spec_hash, eps, delta, rho, _, at, unit in rows:
            rho = rho / 2
            spent += rho
            row_hash = ledger.charge_hash(
                prev, dataset, seq, run_id, release, spec_hash, eps, delta, rho, spent, at, unit
            )
            con.execute(
                "UPDATE privacy.charges SET rho = ?, spent_after = ?, prev_hash = ?, "
                "hash_version = NULL, row_hash = ? WHERE seq = ?",
                [rho, spent, prev, row_hash, seq],
            )
            prev = row_hash
        con.execute("UPDATE privacy.budgets SET spent_rho = ?", [spent])

    with pytest.raises(LedgerError, match=r"cumulative epsilon reached .* only epsilon="):
        ledger.budget_state(published.warehouse, DATASET)


def test_releases_of_other_datasets_are_not_witnesses(paths: WarehousePaths) -> None:
    charge(paths.warehouse, "run-0", exact("0.1"))
    release_for(paths, "someone-elses-run", 0.9, source="raw.other")
    state = ledger.budget_state(paths.warehouse, DATASET)
    assert state is not None


def test_a_warehouse_without_a_release_file_is_unaffected(tmp_path: Path) -> None:
    path = tmp_path / "w.duckdb"
    charge(path, "run-0", exact("0.1"))
    assert ledger.budget_state(path, DATASET) is not None


def test_a_refresh_is_vouched_for_by_its_measurement_runs_charge(
    published: WarehousePaths,
) -> None:
    """A refresh has no charge of its own; deleting the charge it re-sampled is still caught."""
    frame = pd.DataFrame({"age": np.arange(5), "sex": ["F", "M", "F", "M", "F"]})
    cumulative = eps_from_rho(0.3, DELTA)
    refresh_meta = meta(
        "refresh-1",
        cumulative_epsilon=cumulative,
        cumulative_delta=DELTA,
        epsilon=0.0,
        delta=0.0,
        rho=0.0,
        kind="refresh",
        measurement_run="run-2",
        cap_epsilon=1.0,
        cap_delta=DELTA,
    )
    publish(published, frame, refresh_meta, private=True)
    assert ledger.budget_state(published.warehouse, DATASET) is not None  # no charge needed

    with duckdb.connect(str(published.release)) as con:  # only the refresh names run-2 now
        con.execute("DELETE FROM catalog WHERE version = 3")
    with duckdb.connect(str(published.warehouse)) as con:
        con.execute("DELETE FROM privacy.charges WHERE seq = 3")
        con.execute("UPDATE privacy.budgets SET spent_rho = 0.2")
    with pytest.raises(LedgerError, match=r"adult version 4 paid for by run run-2.*no charge"):
        ledger.budget_state(published.warehouse, DATASET)


def test_a_cap_changed_behind_the_published_versions_is_detected(
    published: WarehousePaths,
) -> None:
    """An editor who raises the cap and recomputes its seal and every charge's hash makes a
    valid chain; every published version still records the cap it was released under."""
    with duckdb.connect(str(published.warehouse)) as con:
        (created,) = con.execute("SELECT created_at FROM privacy.budgets").fetchall()[0]
        prev = ledger.cap_hash(DATASET, 10.0, DELTA, Decimal(10), created)
        con.execute(
            "UPDATE privacy.budgets SET cap_epsilon = 10, cap_rho = 10, cap_hash = ?", [prev]
        )
        rows = con.execute(
            "SELECT dataset, seq, run_id, release, spec_hash, epsilon, delta, rho, spent_after, "
            "charged_at, unit FROM privacy.charges ORDER BY seq"
        ).fetchall()
        for dataset, seq, run_id, release, spec_hash, eps, delta, rho, spent, at, unit in rows:
            row_hash = ledger.charge_hash(
                prev, dataset, seq, run_id, release, spec_hash, eps, delta, rho, spent, at, unit
            )
            con.execute(
                "UPDATE privacy.charges SET prev_hash = ?, row_hash = ?, hash_version = NULL "
                "WHERE seq = ?",
                [prev, row_hash, seq],
            )
            prev = row_hash
    with pytest.raises(LedgerError, match=r"published under a cap of epsilon=1, delta=1e-06"):
        ledger.budget_state(published.warehouse, DATASET)
