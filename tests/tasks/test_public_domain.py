"""Privacy invariant: domains are public. The shape of every measurement, and the values a
release can hold, come from the spec, whatever the private rows contain."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from dpcore.accounting import PrivacyCap, PrivacyCost
from dpcore.encoding import ColumnCodec, TableCodec
from tasks.budget import charge_budget_fn
from tasks.measure import measure_fn
from tasks.request import ReleaseRequest
from tasks.runlog import start_run_fn
from tasks.synthesize import synthesize_fn
from tests.registration import register_cap
from warehouse.paths import WarehousePaths

CODEC = TableCodec(
    (
        ColumnCodec(
            "kind",
            "category",
            categories=("a", "b", "c"),
            has_missing=True,
            missing_tokens=("?",),
            on_invalid="missing",
        ),
        ColumnCodec("score", "integer", edges=(0.0, 10.0, 20.0, 50.0), on_invalid="clamp"),
    )
)

TABLES = {
    # Only "a" occurs and scores stay in one bin.
    "narrow": "SELECT 'a' AS kind, 5 AS score FROM range(500)",
    # Undeclared categories, far-out scores, NULLs.
    "wild": (
        "SELECT CASE WHEN i % 3 = 0 THEN 'zebra' WHEN i % 3 = 1 THEN NULL ELSE 'b' END AS kind,"
        " (i * 7919) % 100000 - 500 AS score FROM range(5000) t(i)"
    ),
}


def request(table: str) -> ReleaseRequest:
    return ReleaseRequest(
        name=table,
        description="d",
        source_table=f"raw.{table}",
        codec=CODEC,
        cost=PrivacyCost(1.0, 1e-9),
        cap=PrivacyCap(8.0, 1e-6),
        method="independent",
        spec_hash=table,
        spec_path=f"{table}.yaml",
    )


@pytest.mark.parametrize("table", sorted(TABLES))
def test_measurement_shapes_and_released_values_come_from_the_spec(
    tmp_path: Path, table: str
) -> None:
    home = WarehousePaths.from_env(tmp_path / "home")
    with duckdb.connect(str(home.warehouse)) as con:
        con.execute("CREATE SCHEMA raw")
        con.execute(f"CREATE TABLE raw.{table} AS {TABLES[table]}")
    req = request(table)
    start_run_fn(req, "run-1", str(home.home))
    register_cap(home, req)
    charge_budget_fn(req, "run-1", str(home.home))
    measurements = measure_fn(req, "run-1", str(home.home))
    assert [(m.clique, m.values.size) for m in measurements] == [(("kind",), 4), (("score",), 3)]

    frame = synthesize_fn(req, measurements).to_frame()
    assert set(frame["kind"].dropna()) <= {"a", "b", "c"}
    assert frame["score"].min() >= 0 and frame["score"].max() <= 49
