"""The validate task: input counts from SQL on the Adult source, stored in the run log for
operators."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb

from flows.spec import load_spec
from tasks.runlog import start_run_fn
from tasks.validate import validate_source_fn
from tests.flows.conftest import SPECS
from warehouse.paths import WarehousePaths
from warehouse.runs import get_run
from warehouse.seed import seed_adult


def test_the_input_report_of_adult_counts_its_missing_tokens(tmp_path: Path) -> None:
    home = WarehousePaths.from_env(tmp_path / "home")
    seed_adult(home.warehouse)
    request = load_spec(SPECS / "adult.yaml").to_request("adult.yaml")
    start_run_fn(request, "run", str(home.home))
    report = validate_source_fn(request, "run", str(home.home))

    with duckdb.connect(str(home.warehouse), read_only=True) as con:
        ((rows, tokens),) = con.execute(
            "SELECT count(*), count(*) FILTER (WHERE workclass = '?') FROM raw.adult"
        ).fetchall()
    assert report.rows == rows > 30_000
    assert report.column("workclass").missing_tokens == tokens > 0  # Adult's "?" values
    assert {c.check for c in report.checks} == {"exists", "not_null", "type", "domain"}

    record = get_run(home.warehouse, "run")
    assert record is not None and record.status == "validated"
    assert json.loads(record.input_report or "{}")["rows"] == report.rows
