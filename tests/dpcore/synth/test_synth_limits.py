"""The largest noise scale a method may use is known from the plan, before any charge."""

from __future__ import annotations

import pytest

from dpcore.domain import Domain
from dpcore.marginals import ArrayOracle
from dpcore.noise import seeded_source
from dpcore.noise.validation import MAX_SCALE
from dpcore.synth.limits import (
    CostTooSmallError,
    check_measurable,
    check_noise_scales,
    largest_sigma,
)
from dpcore.synth.registry import get_synthesizer
from tests.dpcore.synth.test_synth_methods import _data


@pytest.mark.parametrize("method", ["aim", "mst", "independent"])
@pytest.mark.parametrize(
    ("rho", "rows"),
    [
        (1e-3, 50_000),  # AIM: many rounds at a small budget, noisier than the 1-way tables
        (1e-2, 2000),
        (1.0, 2000),
    ],
)
@pytest.mark.parametrize("time_budget_s", [None, 1e-9])  # 1e-9: AIM's final round at once
def test_no_measurement_is_noisier_than_the_bound(
    method: str, rho: float, rows: int, time_budget_s: float | None
) -> None:
    if method == "independent" and time_budget_s is not None:
        pytest.skip("independent has no rounds")
    options = {} if time_budget_s is None else {"time_budget_s": time_budget_s}
    synth = get_synthesizer(method, **options)
    domain, codes = _data(rows)
    planned = synth.plan(domain, rho)
    check_noise_scales(synth, domain, rho, planned, epsilon=1.0)
    bound = largest_sigma(synth, domain, rho, planned)
    measured = synth.measure(domain, rho, ArrayOracle(domain, codes), seeded_source(7))
    assert max(m.sigma for m in measured) <= bound * (1 + 1e-12)


@pytest.mark.parametrize("method", ["aim", "mst", "independent"])
def test_a_cost_whose_noise_the_samplers_cannot_draw_is_refused(method: str) -> None:
    synth = get_synthesizer(method)
    domain = Domain(("a", "b"), (3, 4))
    rho = 1e-18  # sigma about 7e8 > 2**26
    with pytest.raises(
        CostTooSmallError, match=rf"above the largest noise scale .*{MAX_SCALE:,.0f}"
    ):
        check_noise_scales(synth, domain, rho, synth.plan(domain, rho), epsilon=1e-9)
    with pytest.raises(CostTooSmallError, match=r"rho underflows to 0\.0"):
        check_measurable(1e-320, 0.0)
