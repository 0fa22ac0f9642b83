"""Planning reads no rows and refuses domains too large for the spec's cell limit."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import pytest

from dpcore.accounting import BudgetState
from dpcore.errors import BudgetExhaustedError
from flows.spec import SpecError, load_spec, parse_spec
from tasks.budget import (
    DomainTooLargeError,
    ReleasePlan,
    plan_release_fn,
    require_affordable,
    resolve_cost,
    retry_unless_refused,
)
from tasks.request import ReleaseRequest
from tests.flows.conftest import SPECS
from tests.registration import register_cap


def adult_with(synthesizer: dict[str, object]) -> dict[str, object]:
    import yaml

    data: dict[str, object] = yaml.safe_load((SPECS / "adult.yaml").read_text())
    data["synthesizer"] = synthesizer
    if synthesizer.get("method") == "independent":
        data.pop("constraints")  # the independent method has no joint model to hold them
    return data


def test_adaptive_candidates_count_against_the_cell_limit() -> None:
    """AIM counts every workload marginal exactly; a 3-way over wide columns is refused
    when the spec is read, even though only 1-way marginals are planned up front."""
    data = adult_with(
        {
            "method": "aim",
            "workload": [["age", "hours_per_week", "native_country"]],
            "max_marginal_cells": 100_000,
        }
    )
    with pytest.raises(SpecError, match=r"age, hours_per_week, native_country has 307,692 cells"):
        parse_spec(data)


def test_the_plan_keeps_its_own_cell_check(tmp_path: Path) -> None:
    """A request built without the spec (as the tests and library users may) is still
    checked by the plan."""
    request = parse_spec(adult_with({"method": "mst"})).to_request("x.yaml")
    register_cap(tmp_path / "home", request)
    with pytest.raises(DomainTooLargeError, match=r"more than the spec's limit"):
        plan_release_fn(replace(request, max_marginal_cells=50), str(tmp_path / "home"))


@pytest.mark.parametrize("method", ["aim", "mst", "independent"])
def test_every_method_plans_within_the_adult_limit(tmp_path: Path, method: str) -> None:
    spec = parse_spec(adult_with({"method": method}))
    register_cap(tmp_path / "home", spec.to_request("x.yaml"))
    plan = plan_release_fn(spec.to_request("x.yaml"), str(tmp_path / "home"))
    assert plan.affordable and plan.measurements
    assert all(p.sigma > 0 for p in plan.measurements)


def test_the_shipped_spec_plans(tmp_path: Path) -> None:
    request = load_spec(SPECS / "adult.yaml").to_request("adult.yaml")
    register_cap(tmp_path / "home", request)
    assert plan_release_fn(request, str(tmp_path / "home")).request.method == "aim"


def _horizon_request(runs: int) -> ReleaseRequest:
    data = adult_with({"method": "independent"})
    privacy = dict(data["privacy"])  # type: ignore[call-overload]
    del privacy["epsilon"]
    privacy["horizon"] = {"runs": runs}
    data["privacy"] = privacy
    return parse_spec(data).to_request("x.yaml")


def test_a_horizon_run_costs_its_share_of_what_remains() -> None:
    request = _horizon_request(4)
    cap = request.cap.ledger_rho
    state = BudgetState(request.dataset, request.cap, cap / 2)  # half spent elsewhere
    resolved, left = resolve_cost(request, state, runs_done=2)
    assert left == 2
    assert cap / 4 * (1 - Decimal("1e-9")) < resolved.cost.ledger_rho <= cap / 4
    assert resolved.measure_rho == pytest.approx(resolved.cost.rho)  # noise follows the cost


def test_a_finished_horizon_is_refused_with_the_reason() -> None:
    request = _horizon_request(3)
    state = BudgetState(request.dataset, request.cap, Decimal(0))
    resolved, left = resolve_cost(request, state, runs_done=3)
    assert left == 0
    plan = ReleasePlan(resolved, (), state, left)
    assert not plan.affordable  # although the budget itself is untouched
    with pytest.raises(BudgetExhaustedError, match="horizon of 3 run"):
        require_affordable(plan)


def test_a_fixed_cost_is_left_alone() -> None:
    request = parse_spec(adult_with({"method": "independent"})).to_request("x.yaml")
    state = BudgetState(request.dataset, request.cap, Decimal(0))
    assert resolve_cost(request, state, runs_done=7) == (request, None)


def test_a_refused_charge_is_not_retried() -> None:
    from prefect.states import Failed

    assert not retry_unless_refused(None, None, Failed(data=BudgetExhaustedError("spent")))
    assert retry_unless_refused(None, None, Failed(data=OSError("disk hiccup")))
