"""Refreshes and the spec's ``on_exhausted`` policy, end to end through the flows.

A refresh re-samples the newest stored measurements: it must publish a new version marked
``refresh`` with its measurement run, and leave the ledger exactly as it was (no charge row,
same spent total, chain intact).
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from uuid import UUID

import duckdb
import pytest
import yaml

from dpcore.accounting import PrivacyCap
from dpcore.errors import BudgetExhaustedError
from flows.refresh import refresh
from flows.release import release
from tasks.refresh import NothingToRefreshError
from warehouse.ledger import budget_state, history, register_budget
from warehouse.paths import WarehousePaths
from warehouse.publish import catalog
from warehouse.runs import list_runs

pytestmark = pytest.mark.usefixtures("prefect_harness")


def small_source(home: WarehousePaths, rows: int = 1500) -> None:
    """``raw.visits``: a small table with two correlated columns (fast releases)."""
    with duckdb.connect(str(home.warehouse)) as con:
        con.execute(
            "CREATE OR REPLACE TABLE raw.visits AS SELECT "
            "CASE WHEN i % 3 = 0 THEN 'x' WHEN i % 3 = 1 THEN 'y' ELSE 'z' END AS site, "
            "(i * 7) % 60 AS minutes FROM range(?) t(i)",
            [rows],
        )
    # Every visits spec below declares this cap (3, 1e-6); an officer registers it once.
    register_budget(home.warehouse, "raw.visits", PrivacyCap(3.0, 1e-6))


def visits_spec(tmp_path: Path, **privacy: object) -> str:
    """A spec for ``raw.visits`` with the given privacy section (epsilon, cap, policy...)."""
    data = {
        "release": {"name": "visits", "description": "Visits, for refresh tests."},
        "source": {"table": "raw.visits"},
        "privacy": {"delta": 1e-6, "cap": {"epsilon": 3.0, "delta": 1e-6}, **privacy},
        "columns": {
            "site": {"type": "category", "values": ["x", "y", "z"]},
            "minutes": {"type": "integer", "bounds": [0, 59], "bin_width": 10},
        },
        "synthesizer": {"method": "independent"},
        "expectations": {"utility": {"max_tvd": 0.5, "row_tolerance": 0.5}},
    }
    path = tmp_path / "visits.yaml"
    path.write_text(yaml.safe_dump(data))
    return str(path)


def ledger_rows(home: WarehousePaths) -> list[tuple[object, ...]]:
    with duckdb.connect(str(home.warehouse), read_only=True) as con:
        return con.execute("SELECT * FROM privacy.charges ORDER BY dataset, seq").fetchall()


def flow_run_labels(run_id: str) -> tuple[str, set[str]]:
    """The Prefect flow run's name and tags."""
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        run = client.read_flow_run(UUID(run_id))
    return run.name, set(run.tags)


def test_refresh_publishes_a_free_version_from_the_newest_measurements(
    home: WarehousePaths, tmp_path: Path
) -> None:
    small_source(home)
    spec = visits_spec(tmp_path, epsilon=1.0)
    first = release(spec, home=str(home.home))
    before = ledger_rows(home)
    spent = budget_state(home.warehouse, "raw.visits")

    again = refresh("visits", home=str(home.home))

    assert again.kind == "refresh" and again.version == first.version + 1
    name, tags = flow_run_labels(again.run_id)
    assert name == "visits v2 refresh" and {"release:visits", "dataset:raw.visits"} <= tags
    assert again.measurement_run == first.run_id and again.run_id != first.run_id
    assert again.epsilon == 0 and again.delta == 0
    assert ledger_rows(home) == before  # no charge row, nothing rewritten
    after = budget_state(home.warehouse, "raw.visits")  # verifies the chain and the catalog
    assert spent is not None and after is not None and after.spent == spent.spent
    rows = {r["version"]: r for r in catalog(home, "visits")}
    assert rows[1]["kind"] == "measured" and rows[1]["measurement_run"] == first.run_id
    assert rows[2]["kind"] == "refresh" and rows[2]["measurement_run"] == first.run_id
    assert rows[2]["epsilon"] == rows[2]["delta"] == rows[2]["rho"] == 0
    assert rows[2]["cumulative_rho"] == rows[1]["cumulative_rho"] == after.spent
    assert rows[2]["rows"] > 0
    kinds = {r.run_id: (r.kind, r.measurement_run, r.status) for r in list_runs(home.warehouse)}
    assert kinds[again.run_id] == ("refresh", first.run_id, "published")
    with duckdb.connect(str(home.release), read_only=True) as con:
        comment = con.execute(
            "SELECT comment FROM duckdb_tables() WHERE table_name = 'visits_v2'"
        ).fetchall()[0][0]
    assert "refresh" in comment and first.run_id in comment
    assert again.report is not None
    report = Path(again.report).read_text()
    assert f"none: a refresh re-sampled from the stored measurements of run {first.run_id}" in (
        report
    )


def test_refresh_with_nothing_measured_is_refused(home: WarehousePaths) -> None:
    with pytest.raises(NothingToRefreshError, match="no stored measurements"):
        refresh("visits", home=str(home.home))
    assert catalog(home) == []


def test_on_exhausted_fail_refuses_and_spends_nothing(home: WarehousePaths, tmp_path: Path) -> None:
    small_source(home)
    spec = visits_spec(tmp_path, epsilon=2.5, on_exhausted="fail")
    release(spec, home=str(home.home))
    before = ledger_rows(home)
    with pytest.raises(BudgetExhaustedError, match="refresh"):
        release(spec, home=str(home.home))
    assert ledger_rows(home) == before
    assert [r["version"] for r in catalog(home, "visits")] == [1]
    assert list_runs(home.warehouse, "visits")[0].status == "failed"
    refused = list_runs(home.warehouse, "visits")[0].run_id
    assert flow_run_labels(refused)[0] == "visits ε=2.5"  # it published no version


def test_on_exhausted_refresh_publishes_a_refresh_instead(
    home: WarehousePaths, tmp_path: Path
) -> None:
    small_source(home)
    spec = visits_spec(tmp_path, epsilon=2.5, on_exhausted="refresh")
    first = release(spec, home=str(home.home))
    before = ledger_rows(home)
    second = release(spec, home=str(home.home))
    assert second.kind == "refresh" and second.measurement_run == first.run_id
    assert flow_run_labels(first.run_id)[0] == "visits v1 ε=2.5"
    assert flow_run_labels(second.run_id)[0] == "visits v2 refresh"
    assert ledger_rows(home) == before
    assert [r["kind"] for r in catalog(home, "visits")] == ["refresh", "measured"]


def test_on_exhausted_refresh_without_measurements_fails_cleanly(
    home: WarehousePaths, tmp_path: Path
) -> None:
    small_source(home)
    # The cap is spent by another release of the same table, so this one never measured.
    other = visits_spec(tmp_path, epsilon=3.0)
    release(other, home=str(home.home))
    spec = Path(visits_spec(tmp_path / "..", epsilon=1.0, on_exhausted="refresh"))
    data = yaml.safe_load(spec.read_text())
    data["release"]["name"] = "visits_b"
    spec.write_text(yaml.safe_dump(data))
    with pytest.raises(NothingToRefreshError):
        release(str(spec), home=str(home.home))
    assert [r["name"] for r in catalog(home)] == ["visits"]
    assert budget_state(home.warehouse, "raw.visits") is not None
    assert sum(Decimal(str(h.charge.rho)) > 0 for h in history(home.warehouse, "raw.visits")) == 1
