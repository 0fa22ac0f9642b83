"""A year of a monthly schedule replayed in seconds: the flow called once per scheduled
date with the warehouse clock frozen at that date (``warehouse.clock.utc_now``).

The plan made before the first run must hold exactly: the runs it said the budget pays for
are charged (at the dates the schedule gives, for exactly the cost it quoted), and every run
after them follows the spec's ``on_exhausted`` policy while the ledger stays unchanged.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
import yaml
from cronsim import CronSim

import flows.finish
from dpcore.errors import BudgetExhaustedError
from flows.cli import main
from flows.release import release
from tests.flows.test_refresh import ledger_rows, small_source, visits_spec
from warehouse import clock
from warehouse.ledger import budget_state, history
from warehouse.paths import WarehousePaths
from warehouse.publish import catalog

pytestmark = pytest.mark.usefixtures("prefect_harness")

MONTHLY = "0 3 1 * *"
START = datetime(2027, 1, 15, 9, 30, tzinfo=UTC)
RUNS = 12  # a year of monthly runs: the budget pays for about half of them


def scheduled_spec(tmp_path: Path, **privacy: object) -> str:
    path = Path(visits_spec(tmp_path, **privacy))
    data = yaml.safe_load(path.read_text())
    data["schedule"] = MONTHLY
    path.write_text(yaml.safe_dump(data))
    return str(path)


def plan_json(spec: str, home: WarehousePaths, capsys: pytest.CaptureFixture[str]) -> dict:
    capsys.readouterr()
    assert main(["--home", str(home.home), "plan", spec, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def frozen_at(monkeypatch: pytest.MonkeyPatch, when: datetime) -> None:
    monkeypatch.setattr(clock, "utc_now", lambda: when)


@pytest.fixture(autouse=True)
def no_reports(monkeypatch: pytest.MonkeyPatch) -> None:
    """Skip the HTML reports (their plots are a third of a run's time; tested elsewhere)."""
    monkeypatch.setattr(flows.finish, "_report", lambda *args, **kwargs: None)


def test_a_year_of_monthly_runs_spends_what_the_plan_said_then_refreshes(
    home: WarehousePaths,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    small_source(home)
    spec = scheduled_spec(tmp_path, epsilon=1.3, on_exhausted="refresh")
    frozen_at(monkeypatch, START)
    plan = plan_json(spec, home, capsys)
    paid, cost = int(plan["runs_left"]), Decimal(plan["cost"]["rho"])
    assert 2 <= paid <= RUNS - 2 and plan["on_exhausted"] == "refresh"
    dates = CronSim(MONTHLY, START)
    schedule = [next(dates) for _ in range(RUNS)]
    assert plan["schedule"]["last_paid_run"] == schedule[paid - 1].isoformat()
    assert plan["schedule"]["budget_runs_out"] == schedule[paid].isoformat()

    outcomes = []
    for when in schedule:
        frozen_at(monkeypatch, when)
        outcomes.append(release(spec, home=str(home.home)))
        if len(outcomes) == paid:
            ledger_after_paid = ledger_rows(home)

    assert [o.kind for o in outcomes] == ["measured"] * paid + ["refresh"] * (RUNS - paid)
    last_measured = outcomes[paid - 1].run_id
    assert {o.measurement_run for o in outcomes[paid:]} == {last_measured}
    assert ledger_rows(home) == ledger_after_paid  # refreshes wrote nothing to the ledger
    charges = history(home.warehouse, "raw.visits")  # verifies the hash chain
    assert [h.charge.run_id for h in charges] == [o.run_id for o in outcomes[:paid]]
    assert [h.charge.charged_at for h in charges] == schedule[:paid]
    assert all(h.charge.rho == cost for h in charges)
    state = budget_state(home.warehouse, "raw.visits")
    assert state is not None and state.spent == cost * paid  # exactly what the plan said
    assert not state.can_charge(cost)
    versions = sorted(catalog(home, "visits"), key=lambda r: r["version"])
    assert [r["version"] for r in versions] == list(range(1, RUNS + 1))
    assert [r["created_at"] for r in versions] == schedule
    assert [r["cumulative_rho"] for r in versions] == [cost * min(i + 1, paid) for i in range(RUNS)]


def test_horizon_splits_the_cap_over_its_runs_then_fails(
    home: WarehousePaths,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    small_source(home)
    horizon = 6
    spec = scheduled_spec(tmp_path, horizon={"runs": horizon}, on_exhausted="fail")
    frozen_at(monkeypatch, START)
    plan = plan_json(spec, home, capsys)
    assert plan["runs_left"] == horizon and plan["horizon"] == {"runs": horizon, "left": horizon}
    cap = Decimal(plan["cap"]["rho"])
    assert Decimal(plan["cost"]["rho"]) <= cap / horizon
    dates = CronSim(MONTHLY, START)
    schedule = [next(dates) for _ in range(horizon + 2)]
    assert plan["schedule"]["budget_runs_out"] == schedule[horizon].isoformat()

    for i, when in enumerate(schedule):
        frozen_at(monkeypatch, when)
        if i < horizon:
            assert release(spec, home=str(home.home)).kind == "measured"
            if i == horizon - 1:
                ledger_after_horizon = ledger_rows(home)
        else:
            with pytest.raises(BudgetExhaustedError, match="horizon"):
                release(spec, home=str(home.home))

    assert ledger_rows(home) == ledger_after_horizon
    charges = history(home.warehouse, "raw.visits")
    assert len(charges) == horizon
    state = budget_state(home.warehouse, "raw.visits")
    assert state is not None and state.spent <= cap
    assert cap - state.spent < cap * Decimal("1e-9")  # all of it, but float dust
    # Each run took its share of what remained: the costs are equal up to float dust.
    costs = [h.charge.rho for h in charges]
    assert max(costs) - min(costs) < cap * Decimal("1e-9")
    assert len(catalog(home, "visits")) == horizon
