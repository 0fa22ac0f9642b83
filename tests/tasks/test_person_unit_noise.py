"""With a person key, the noise scale grows with the sensitivity k, and what is measured
matches what the plan said, at the declared cost."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import duckdb
import pytest
import yaml

from flows.spec import SpecError, parse_spec
from tasks.budget import charge_budget_fn, plan_release_fn
from tasks.measure import measure_fn
from tasks.runlog import start_run_fn
from tests.flows.conftest import SPECS
from tests.registration import register_cap
from warehouse.ledger import history
from warehouse.paths import WarehousePaths
from warehouse.seed import seed_adult


def adult(unit: object) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((SPECS / "adult.yaml").read_text())
    data["privacy"]["unit"] = unit
    data["synthesizer"] = {"method": "independent"}
    data.pop("constraints")  # the independent method has no joint model to hold them
    data["source"]["table"] = "raw.adult_people"
    return data


@pytest.mark.parametrize("k", [1, 5, 20])
def test_published_noise_scale_matches_the_plan(tmp_path: Path, k: int) -> None:
    home = WarehousePaths.from_env(tmp_path / "home")
    seed_adult(home.warehouse)
    with duckdb.connect(str(home.warehouse)) as con:  # each person owns 6 or 7 rows
        con.execute(
            "CREATE TABLE raw.adult_people AS SELECT 'person' || (rowid % 5000) AS person_id, "
            "* FROM raw.adult"
        )
        kept = con.execute(
            f"SELECT sum(least(n, {k})) FROM "
            "(SELECT count(*) AS n FROM raw.adult_people GROUP BY person_id)"
        ).fetchall()[0][0]
    request = parse_spec(adult({"key": "person_id", "max_rows_per_person": k})).to_request("s")
    baseline = parse_spec(adult("row")).to_request("s")
    register_cap(home, request)
    plan = plan_release_fn(request, str(home.home))
    row_plan = plan_release_fn(baseline, str(home.home))
    for p, q in zip(plan.measurements, row_plan.measurements, strict=True):
        assert math.isclose(p.sigma, k * q.sigma, rel_tol=1e-12)

    start_run_fn(request, "run", str(home.home))
    charge_budget_fn(request, "run", str(home.home))
    measured = measure_fn(request, "run", str(home.home))
    assert [m.sigma for m in measured] == [p.sigma for p in plan.measurements]
    # The ledger is charged the declared cost, whatever k is.
    (row,) = history(home.warehouse, "raw.adult_people")
    assert row.charge.rho == request.cost.ledger_rho
    # Bounded contributions: a noisy 1-way total is near the sum over people of min(rows, k).
    # Its noise has standard deviation sigma * sqrt(cells); 6.5 of those fail w.p. < 1e-10.
    first = measured[0]
    assert abs(first.values.sum() - kept) < 6.5 * first.sigma * math.sqrt(first.values.size)


def test_person_key_must_not_be_released() -> None:
    data = adult({"key": "age", "max_rows_per_person": 3})
    with pytest.raises(SpecError, match="person key is used only to bound contributions"):
        parse_spec(data)


def test_person_unit_needs_a_positive_bound() -> None:
    with pytest.raises(SpecError, match=r"privacy.unit"):
        parse_spec(adult({"key": "person_id", "max_rows_per_person": 0}))
