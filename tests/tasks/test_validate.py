"""The validate task: input counts from SQL, equal to the GX frame path on the Adult source,
stored in the run log for operators."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb

from expectations import validate_input
from flows.spec import load_spec
from tasks.runlog import start_run_fn
from tasks.validate import validate_source_fn
from tests.flows.conftest import SPECS
from warehouse.paths import WarehousePaths
from warehouse.runs import get_run
from warehouse.seed import seed_adult


def test_sql_report_equals_the_frame_report_on_adult(tmp_path: Path) -> None:
    home = WarehousePaths.from_env(tmp_path / "home")
    seed_adult(home.warehouse)
    request = load_spec(SPECS / "adult.yaml").to_request("adult.yaml")
    start_run_fn(request, "run", str(home.home))
    report = validate_source_fn(request, "run", str(home.home))

    names = ", ".join(f'"{c.name}"' for c in request.codec.columns)
    with duckdb.connect(str(home.warehouse), read_only=True) as con:
        frame = con.execute(f"SELECT {names} FROM raw.adult").df()
    assert report == validate_input(frame, request.codec)
    assert report.rows == len(frame) > 30_000
    assert report.column("workclass").missing_tokens > 0  # Adult's "?" values

    record = get_run(home.warehouse, "run")
    assert record is not None and record.status == "validated"
    assert json.loads(record.input_report or "{}")["rows"] == report.rows
