"""The documented bound, checked directly: table laws versus exact laws in 60-digit decimal.

For each table the realized law is read off the alias table exactly (integer masses over
2**128, see ``implied_masses``) and compared with the exact pmf computed independently with
:mod:`decimal`. The total variation distance must be below the documented 2**-78.
"""

from __future__ import annotations

import decimal
from decimal import Decimal

import pytest

from dpcore.noise.alias import TOTAL_BITS, AliasTable
from dpcore.noise.gaussian import _direct_table
from dpcore.noise.laplace import _plan, _SplitPlan

BOUND = Decimal(2) ** -78
CONTEXT = decimal.Context(prec=60, Emin=-999_999, Emax=999_999)


def realized(table: AliasTable) -> list[Decimal]:
    """Probability of each table index, exactly as the sampler realizes it."""
    columns = 1 << table.column_bits
    capacity = 1 << (TOTAL_BITS - table.column_bits)
    mass = [0] * columns
    for j in range(columns):
        threshold = (int(table.threshold_hi[j]) << 64) | int(table.threshold_lo[j])
        mass[j] += threshold
        mass[int(table.alias[j])] += capacity - threshold
    scale = Decimal(2) ** TOTAL_BITS
    return [CONTEXT.divide(Decimal(m), scale) for m in mass]


def total_variation(realized_law: list[Decimal], exact: list[Decimal]) -> Decimal:
    """TV between a law on 0..n-1 and an exact law given on a longer range 0..N-1."""
    padded = realized_law + [Decimal(0)] * (len(exact) - len(realized_law))
    return sum((abs(a - b) for a, b in zip(padded, exact, strict=True)), Decimal(0)) / 2


def exact_magnitudes(log_weight: list[Decimal]) -> list[Decimal]:
    """Law of ``|X|`` from one-sided log-weights ``-f(k)``: ``w(0)``, ``2 w(k)``, normalized."""
    weights = [CONTEXT.exp(-f) for f in log_weight]
    doubled = [weights[0]] + [2 * w for w in weights[1:]]
    total = sum(doubled, Decimal(0))
    return [CONTEXT.divide(w, total) for w in doubled]


@pytest.mark.parametrize("sigma", [0.5, 1.0, 3.0, 40.0])
def test_gaussian_direct_table_is_within_bound(sigma: float) -> None:
    table = _direct_table(sigma)
    s2 = Decimal(sigma) ** 2
    reach = int(30 * sigma) + 30  # far past the table: tail beyond is < 1e-190
    exact = exact_magnitudes([CONTEXT.divide(Decimal(k * k), 2 * s2) for k in range(reach)])
    assert total_variation(realized(table)[: table.size], exact) < BOUND


@pytest.mark.parametrize("scale", [0.5, 3.0, 40.0])
def test_laplace_single_table_is_within_bound(scale: float) -> None:
    table = _plan(scale)
    assert isinstance(table, AliasTable)
    t = Decimal(scale)
    reach = int(200 * scale) + 200  # tail beyond is < e**-200
    exact = exact_magnitudes([CONTEXT.divide(Decimal(k), t) for k in range(reach)])
    assert total_variation(realized(table)[: table.size], exact) < BOUND


def test_laplace_split_tables_are_within_bound() -> None:
    scale = 3000.0
    plan = _plan(scale)
    assert isinstance(plan, _SplitPlan)
    width = 1 << plan.block_bits
    t = Decimal(scale)

    def geometric(ratio_exponent: Decimal, count: int) -> list[Decimal]:
        weights = [CONTEXT.exp(-ratio_exponent * k) for k in range(count)]
        total = sum(weights, Decimal(0))
        return [CONTEXT.divide(w, total) for w in weights]

    remainder = geometric(1 / t, width)  # B is exact on [0, m): no truncation
    quotient = geometric(width / t, plan.quotient.size + 2000)
    tv_b = total_variation(realized(plan.remainder)[:width], remainder)
    tv_a = total_variation(realized(plan.quotient)[: plan.quotient.size], quotient)
    assert tv_a + tv_b < BOUND / 2  # the zero-sign rejection at most doubles it
