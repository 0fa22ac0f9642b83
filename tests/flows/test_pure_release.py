"""Pure epsilon-DP releases end to end: a spec with ``delta: 0`` publishes the seed method
(discrete Laplace 1-way marginals, independent columns), a pure cap sums epsilon exactly, and
the rules for a dataset that sees both kinds hold with their messages and an unchanged
ledger."""

from __future__ import annotations

import math
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from dpcore.accounting import MixedPrivacyError, PrivacyCap, PrivacyCost, to_ledger_rho
from dpcore.calculus import NoiseKind
from dpcore.errors import BudgetExhaustedError
from flows.release import release
from flows.spec import SpecError, load_spec
from tests.flows.conftest import write_spec
from warehouse.ledger import budget_state, history, register_budget
from warehouse.measurements import load_measurements
from warehouse.paths import WarehousePaths
from warehouse.publish import catalog

EXAMPLE = Path(__file__).resolve().parents[2] / "deployments" / "examples" / "adult_pure.yaml"
PURE_CAP = {"epsilon": 3.0, "delta": 0}


def test_a_pure_release_under_a_pure_cap_sums_epsilon_exactly(
    bare_home: WarehousePaths, tmp_path: Path, prefect_harness: None
) -> None:
    register_budget(bare_home.warehouse, "raw.adult", PrivacyCap(3.0, 0.0), unit="row")
    spec = write_spec(tmp_path, privacy__epsilon=1.5, privacy__delta=0, privacy__cap=PURE_CAP)
    first = release(spec, home=str(bare_home.home))
    second = release(spec, home=str(bare_home.home))

    stored = load_measurements(bare_home.warehouse, first.run_id)
    assert stored is not None and len(stored) == 14
    for m in stored:  # the seed method: each column's histogram with Laplace scale d / eps
        assert m.noise is NoiseKind.LAPLACE and m.sigma == pytest.approx(14 / 1.5)

    state = budget_state(bare_home.warehouse, "raw.adult")
    assert state is not None and state.spent == Decimal(3) == state.cap_amount  # exactly
    rows = history(bare_home.warehouse, "raw.adult")
    assert [r.charge.rho for r in rows] == [Decimal("1.5"), Decimal("1.5")]
    assert [r.as_dict()["currency"] for r in rows] == ["epsilon", "epsilon"]
    assert [r.recomputed for r in rows] == [pytest.approx(1.5), pytest.approx(1.5)]
    assert [r.cumulative_epsilon for r in rows] == [1.5, 3.0]

    versions = {row["version"]: row for row in catalog(bare_home, "adult")}
    assert versions[1]["guarantee"] == versions[2]["guarantee"] == "pure"
    assert (versions[1]["delta"], versions[2]["cumulative_epsilon"]) == (0.0, 3.0)
    assert (versions[1]["cost_share"], versions[2]["cumulative_share"]) == (0.5, 1.0)
    assert versions[1]["rho"] == pytest.approx(1.5**2 / 2)  # its zCDP cost, for comparison
    with duckdb.connect(str(bare_home.release), read_only=True) as con:
        errors = con.execute(
            "SELECT DISTINCT std_error FROM marginals WHERE version = ?", [second.version]
        ).fetchall()
    assert errors == [(pytest.approx(math.sqrt(stored[0].variance)),)]  # Laplace's, not sigma
    assert second.report is not None
    report = Path(second.report).read_text()
    assert "pure epsilon-DP" in report and "discrete Laplace" in report

    before = budget_state(bare_home.warehouse, "raw.adult")
    with pytest.raises(BudgetExhaustedError, match="pure") as refused:
        release(
            write_spec(
                tmp_path, "small", privacy__epsilon=0.01, privacy__delta=0, privacy__cap=PURE_CAP
            ),
            home=str(bare_home.home),
        )
    assert "nothing more can be charged" in str(refused.value)
    assert budget_state(bare_home.warehouse, "raw.adult") == before


def test_an_approximate_release_is_refused_by_a_pure_cap_before_anything_is_charged(
    bare_home: WarehousePaths, tmp_path: Path
) -> None:
    from tasks.plan import plan_release_fn
    from warehouse.ledger import charge

    register_budget(bare_home.warehouse, "raw.adult", PrivacyCap(3.0, 0.0), unit="row")
    # A spec that declares the pure cap with a delta is refused when loaded, naming the field.
    with pytest.raises(SpecError, match="which only pure releases can be charged to") as bad:
        load_spec(write_spec(tmp_path, privacy__delta=1e-9, privacy__cap=PURE_CAP))
    assert "privacy.delta: 0" in str(bad.value)
    # The ledger refuses it too (a caller that skipped the spec), and writes nothing.
    pure = write_spec(tmp_path, "ok", privacy__delta=0, privacy__cap=PURE_CAP)
    plan = plan_release_fn(load_spec(pure).to_request(pure), str(bare_home.home))
    assert plan.affordable and plan.request.cost.pure
    with pytest.raises(MixedPrivacyError, match="pure epsilon-DP"):
        charge(
            bare_home.warehouse,
            dataset="raw.adult",
            run_id="approximate-run",
            release="adult",
            spec_hash="h",
            cost=PrivacyCost(1.0, 1e-9),
            cap=PrivacyCap(3.0, 0.0),
        )
    state = budget_state(bare_home.warehouse, "raw.adult")
    assert state is not None and state.spent == 0
    assert history(bare_home.warehouse, "raw.adult") == []


def test_a_zcdp_cap_takes_a_pure_release_at_half_epsilon_squared(home: WarehousePaths) -> None:
    """The shipped example (the seed method, epsilon 0.5, delta 0) against the demo's zCDP
    cap of raw.adult: planned at 0.125 rho and stated as pure on the plan's screens."""
    from tasks.plan import plan_release_fn

    request = load_spec(EXAMPLE).to_request(str(EXAMPLE))
    assert request.cost.pure and request.method == "independent"
    plan = plan_release_fn(request, str(home.home))
    assert plan.affordable
    assert request.cost.charge_for(plan.budget.cap) == to_ledger_rho(0.125, round_up=True)
    assert request.measure_rho == 0.5  # the synthesizer spends epsilon itself, in Laplace
    assert all(p.sigma == pytest.approx(14 / 0.5) for p in plan.measurements)


def test_a_person_unit_divides_a_pure_budget_by_k_not_k_squared(tmp_path: Path) -> None:
    spec = write_spec(
        tmp_path,
        privacy__epsilon=1.5,
        privacy__delta=0,
        privacy__cap=PURE_CAP,
        privacy__unit={"key": "fnlwgt", "max_rows_per_person": 3},
    )
    request = load_spec(spec).to_request(spec)
    assert request.unit.sensitivity == 3 and request.measure_rho == pytest.approx(0.5)
