"""Domains learned under DP (issue 15): the public grid, the threshold and its privacy
argument, the reserve that keeps the ledger's rho honest, and the post-processing."""

from __future__ import annotations

import math
from itertools import pairwise

import numpy as np
import pytest

from dpcore.accounting import rho_from_eps_delta
from dpcore.calculus import ZCDP
from dpcore.errors import BudgetError
from dpcore.learned_domains import (
    FLOAT_GRID,
    GRID,
    NUMERIC_KEEP_SIGMAS,
    THRESHOLD_SHARE,
    keep_values,
    learn_values,
    numeric_domain,
    plan_step,
    threshold,
)
from dpcore.noise import seeded_source


def test_the_grid_is_public_symmetric_and_increasing() -> None:
    assert GRID[0] == -(10**9) and GRID[-1] == 10**9 and 0 in GRID
    assert all(b > a for a, b in pairwise(GRID))
    assert list(GRID) == [-x for x in reversed(GRID)]
    assert len(GRID) == 57
    assert set(GRID) < set(FLOAT_GRID) and 0.001 in FLOAT_GRID and -0.5 in FLOAT_GRID
    assert all(b > a for a, b in pairwise(FLOAT_GRID))


def test_the_threshold_bounds_the_chance_a_single_row_is_kept() -> None:
    for sigma in (0.5, 3.0, 40.0):
        for delta in (1e-3, 1e-9, 1e-15):
            tau = threshold(sigma, delta)
            assert math.exp(-((tau - 1) ** 2) / (2 * sigma**2)) <= delta  # subgaussian tail
            assert threshold(sigma, delta) - 1 <= sigma * math.sqrt(2 * math.log(1 / delta)) + 1


@pytest.mark.slow
@pytest.mark.parametrize(("eps", "delta"), [(0.3, 1e-5), (1.0, 1e-9), (4.0, 1e-6), (10.0, 1e-12)])
def test_the_caps_rho_is_concave_in_delta_so_the_reserve_covers_the_thresholds(
    eps: float, delta: float
) -> None:
    """The reserve argument (module docstring) needs f(d) = rho certifying (eps, d) to be
    increasing and concave on [(1 - 2q) delta, delta]: its slope over [(1 - q) delta, delta]
    is then at most the chord slope over [(1 - 2q) delta, (1 - q) delta], which the reserve
    uses. Checked here on a wider span, from delta / 4."""
    q = THRESHOLD_SHARE
    ds = np.array([delta / 4, delta / 2, *np.linspace((1 - 2 * q) * delta, delta, 9)])
    f = np.array([rho_from_eps_delta(eps, float(d)) for d in ds])
    assert np.all(np.diff(f) > 0)
    slopes = np.diff(f) / np.diff(ds)
    assert np.all(np.diff(slopes) <= 1e-9 * slopes.max())  # non-increasing slopes: concave
    chord = slopes[2 : 2 + 4].mean()  # [(1 - 2q) delta, (1 - q) delta] in four equal steps
    assert slopes[6:].max() <= chord


def test_a_step_reserves_a_small_part_of_its_charge_for_its_thresholds() -> None:
    eps, delta = 4.0, 1e-6
    cap_rho = rho_from_eps_delta(eps, delta)
    rho_at = lambda d: rho_from_eps_delta(eps, d)  # noqa: E731
    plan = plan_step(0.01, cap_rho, delta, rho_at, numeric=1, categories=2)
    assert 0 < plan.reserve_rho < 0.05 * plan.charge_rho
    assert plan.threshold_delta == pytest.approx(THRESHOLD_SHARE * delta * 0.01 / cap_rho)
    assert plan.column_rho == pytest.approx(plan.noise_rho / 3)
    assert plan.tau == threshold(plan.sigma, plan.threshold_delta / 2)
    numbers_only = plan_step(0.01, cap_rho, delta, rho_at, numeric=2, categories=0)
    assert numbers_only.reserve_rho == 0 and numbers_only.tau == 0
    with pytest.raises(BudgetError, match="needs a delta"):
        plan_step(0.5, 4.0, 0.0, rho_at, numeric=0, categories=1)
    with pytest.raises(BudgetError, match="within the cap"):
        plan_step(2 * cap_rho, cap_rho, delta, rho_at, numeric=1, categories=0)


def test_a_value_present_in_fewer_rows_than_its_thresholds_noise_is_never_kept() -> None:
    """Counts 1 and tau - 7 sigma against 20,000 seeded draws each: each is kept with
    probability at most exp(-24.5) < 3e-11 per draw (subgaussian tail), so this test fails
    falsely with probability below 2e-6. A count of tau + 6 sigma is kept every time (by the
    same tail bound, a false failure has probability below 20,000 x exp(-18) < 3e-4)."""
    sigma, tau = 5.0, threshold(5.0, 1e-9)
    rare = [1, tau - 35]
    common = tau + 30
    values = ["a", "b", "c"]
    noise = ZCDP.draw(sigma, 3 * 20_000, seeded_source(11)).reshape(20_000, 3)
    kept = {v: 0 for v in values}
    for noisy in np.array([*rare, common]) + noise:
        for v in keep_values(values, noisy, tau):
            kept[v] += 1
    assert kept["a"] == 0 and kept["b"] == 0
    assert kept["c"] == 20_000


def test_audit_a_value_absent_from_a_neighbour_is_kept_at_most_delta_often() -> None:
    """Privacy audit of the threshold: D lacks value v, D' = D plus one row holding it.
    Under D, v can never be kept; under D', it is kept with probability P(1 + Z >= tau),
    which must not exceed delta. At a large delta (0.05, sigma 1) the rate is measurable:
    200,000 seeded draws, and the rate's 99.9999% upper Hoeffding bound must be <= delta
    (false failure below 1e-6, given the true rate 0.0044 is far under it)."""
    sigma, delta = 1.0, 0.05
    tau = threshold(sigma, delta)
    draws = 200_000
    noise = ZCDP.draw(sigma, draws, seeded_source(5))
    kept_rate = float(np.mean(1 + noise >= tau))
    margin = math.sqrt(math.log(1 / 1e-6) / (2 * draws))
    assert kept_rate - margin <= delta  # never exceeds delta beyond sampling error
    assert kept_rate + margin <= delta  # and is under it with margin to spare


def test_numeric_bounds_follow_the_noisy_histogram() -> None:
    counts = np.zeros(len(GRID) - 1, dtype=np.int64)
    zero = GRID.index(0)
    counts[zero] = 500  # value 0
    counts[zero + 1 : zero + 6] = 100  # 1 .. 49
    domain = numeric_domain(counts, 1.0, integer=True)
    assert domain.bounds == (0, 49)
    assert domain.edges == (0, 1, 2, 5, 10, 20, 49)
    fractions = np.zeros(len(FLOAT_GRID) - 1, dtype=np.int64)
    at = FLOAT_GRID.index(0.0)
    fractions[at : at + 10] = 100  # values in [0, 1): ten bins, from 0.001 to 0.5
    floats = numeric_domain(fractions, 1.0, integer=False)
    assert floats.bounds == (0.0, 1.0) and floats.edges[:3] == (0.0, 0.001, 0.002)
    lonely = np.zeros(len(GRID) - 1, dtype=np.int64)
    lonely[zero] = 1  # nothing passes: the largest bin, a one-value integer column
    assert numeric_domain(lonely, 10.0, integer=True).bounds == (0, 1)
    assert NUMERIC_KEEP_SIGMAS * 10.0 > 1


@pytest.mark.slow
def test_audit_the_value_step_on_neighbours() -> None:
    """The whole category step (:func:`learn_values`) on neighbours: D holds 'a' x 40 and
    'b' x 1; D' adds one row 'c' (absent from D). 'c' is never output under D; under D' it
    is output at most delta_c of the time; and 'b' (1 row in both) behaves the same in both.
    20,000 seeded steps a side at a plan whose tau is small enough to measure (sigma ~1.6):
    Hoeffding margins at 1e-6 each, so a false failure has probability below 1e-5."""
    rho_at = lambda d: rho_from_eps_delta(1.0, d)  # noqa: E731
    plan = plan_step(0.2, rho_at(0.1), 0.1, rho_at, numeric=0, categories=1)
    trials = 20_000
    margin = math.sqrt(math.log(1 / 1e-6) / (2 * trials))
    source = seeded_source(21)
    d = [learn_values(["a", "b"], np.array([40, 1]), plan, source) for _ in range(trials)]
    d2 = [learn_values(["a", "b", "c"], np.array([40, 1, 1]), plan, source) for _ in range(trials)]
    rate_c = sum("c" in out for out in d2) / trials
    assert all("c" not in out for out in d)
    assert rate_c - margin <= plan.column_delta
    rate_b, rate_b2 = (sum("b" in out for out in runs) / trials for runs in (d, d2))
    assert abs(rate_b - rate_b2) <= 2 * margin
