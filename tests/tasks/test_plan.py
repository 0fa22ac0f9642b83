"""Planning reads no rows and refuses domains too large for the spec's cell limit."""

from __future__ import annotations

from pathlib import Path

import pytest

from flows.spec import load_spec, parse_spec
from tasks.budget import DomainTooLargeError, plan_release_fn
from tests.flows.conftest import SPECS


def adult_with(synthesizer: dict[str, object]) -> dict[str, object]:
    import yaml

    data: dict[str, object] = yaml.safe_load((SPECS / "adult.yaml").read_text())
    data["synthesizer"] = synthesizer
    return data


def test_adaptive_candidates_count_against_the_cell_limit(tmp_path: Path) -> None:
    """AIM counts every workload marginal exactly; a 3-way over wide columns is refused
    before anything is read, even though only 1-way marginals are planned up front."""
    spec = parse_spec(
        adult_with(
            {
                "method": "aim",
                "workload": [["age", "hours_per_week", "native_country"]],
                "max_marginal_cells": 100_000,
            }
        )
    )
    with pytest.raises(DomainTooLargeError, match=r"age, hours_per_week, native_country"):
        plan_release_fn(spec.to_request("x.yaml"), str(tmp_path / "home"))


@pytest.mark.parametrize("method", ["aim", "mst", "independent"])
def test_every_method_plans_within_the_adult_limit(tmp_path: Path, method: str) -> None:
    spec = parse_spec(adult_with({"method": method}))
    plan = plan_release_fn(spec.to_request("x.yaml"), str(tmp_path / "home"))
    assert plan.affordable and plan.measurements
    assert all(p.sigma > 0 for p in plan.measurements)


def test_the_shipped_spec_plans(tmp_path: Path) -> None:
    request = load_spec(SPECS / "adult.yaml").to_request("adult.yaml")
    assert plan_release_fn(request, str(tmp_path / "home")).request.method == "aim"
