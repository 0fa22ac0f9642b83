"""Exactness of the integer building blocks: alias tables, 128-bit ties, fixed point."""

from __future__ import annotations

import math
from collections.abc import Iterator
from fractions import Fraction

import numpy as np
import numpy.typing as npt
import pytest

from dpcore.noise.alias import TOTAL_BITS, AliasTable, masses_from_weights
from dpcore.noise.bits import SPARE_WORDS, bernoulli_exp, exp_thresholds, random_signs
from dpcore.noise.fixed_point import FRAC_BITS, exp_neg, gaussian_weights, geometric_weights
from dpcore.noise.source import RandomSource


class ScriptedSource(RandomSource):
    """Returns pre-arranged words, one batch per call, to drive rare branches."""

    private = False

    def __init__(self, batches: list[list[int]]) -> None:
        self._batches: Iterator[list[int]] = iter(batches)

    def words(self, n: int) -> npt.NDArray[np.uint64]:
        batch = next(self._batches)
        assert len(batch) == n
        return np.array(batch, dtype=np.uint64)


def implied_masses(table: AliasTable) -> list[int]:
    """Each value's total probability over all columns, in units of 2**-128."""
    columns = 1 << table.column_bits
    capacity = 1 << (TOTAL_BITS - table.column_bits)
    out = [0] * columns
    for j in range(columns):
        threshold = (int(table.threshold_hi[j]) << 64) | int(table.threshold_lo[j])
        out[j] += threshold
        out[int(table.alias[j])] += capacity - threshold
    return out


@pytest.mark.parametrize(
    "weights",
    [[1], [1, 1], [5, 0, 3], [2**200, 1, 7, 2**100, 0, 0, 1], list(range(1, 300))],
)
def test_alias_table_realizes_masses_exactly(weights: list[int]) -> None:
    masses = masses_from_weights(weights)
    assert sum(masses) == 1 << TOTAL_BITS
    total = sum(weights)
    for w, m in zip(weights, masses, strict=True):
        assert abs(Fraction(m, 1 << TOTAL_BITS) - Fraction(w, total)) <= Fraction(
            len(weights), 1 << TOTAL_BITS
        )
    table = AliasTable.from_masses(masses)
    implied = implied_masses(table)
    assert implied[: len(masses)] == masses
    assert not any(implied[len(masses) :])


def test_alias_tie_is_resolved_by_the_low_word() -> None:
    table = AliasTable.from_masses(masses_from_weights([3, 1, 1, 2]))
    bits = table.column_bits
    split = [j for j in range(1 << bits) if int(table.alias[j]) != j]
    assert split, "expected at least one shared column"
    j = split[0]
    hi, lo = int(table.threshold_hi[j]), int(table.threshold_lo[j])
    word = (j << (64 - bits)) | hi
    assert lo > 0
    source = ScriptedSource([[word, word], [lo - 1, lo, 0, 0]])
    drawn = table.sample(2, source)
    assert drawn.tolist() == [j, int(table.alias[j])]


def test_bernoulli_tie_is_resolved_by_the_low_word() -> None:
    hi = np.array([5, 7], dtype=np.uint64)
    lo = np.array([9, 0], dtype=np.uint64)
    rows = np.array([0, 0, 0, 0, 1, 1], dtype=np.intp)
    source = ScriptedSource([[4, 5, 5, 6, 7, 6], [8, 9, 0, 0]])
    assert SPARE_WORDS == 4
    result = bernoulli_exp(rows, hi, lo, source)
    assert result.tolist() == [True, True, False, False, False, True]


def test_many_ties_draw_extra_low_words() -> None:
    hi = np.array([3], dtype=np.uint64)
    lo = np.array([1], dtype=np.uint64)
    rows = np.zeros(6, dtype=np.intp)
    source = ScriptedSource([[3] * 6, [0, 1, 0, 1], [0, 5]])
    result = bernoulli_exp(rows, hi, lo, source)
    assert result.tolist() == [True, False, True, False, True, False]


def test_exp_thresholds_are_accurate() -> None:
    hi, lo = exp_thresholds(Fraction(1, 10), 100)
    assert int(hi[0]) == 2**64 - 1 and int(lo[0]) == 2**64 - 1  # exp(0) capped below 2**128
    for v in (1, 17, 99):
        value = (int(hi[v]) << 64 | int(lo[v])) / 2**128
        assert math.isclose(value, math.exp(-v / 10), rel_tol=1e-15)


def test_random_signs_uses_every_bit() -> None:
    source = ScriptedSource([[0xFFFF_FFFF_0000_0000, 0xFF]])
    signs = random_signs(70, source)
    assert signs.dtype == np.bool_
    assert signs.shape == (70,)
    assert int(signs[:64].sum()) == 32
    assert int(signs[64:].sum()) == 6


@pytest.mark.parametrize("x", [Fraction(0), Fraction(1, 3), Fraction(7, 2), Fraction(1000)])
def test_exp_neg_is_accurate(x: Fraction) -> None:
    value = exp_neg(x)
    # compare in float: checks the scale and the order of magnitude, not the last ulps
    assert math.isclose(value / 2**FRAC_BITS, math.exp(-float(x)), rel_tol=1e-15, abs_tol=1e-300)


def test_weight_recurrences_match_direct_exponentials() -> None:
    inv = Fraction(1, 2 * 9)
    direct = [exp_neg(inv * x * x) for x in range(50)]
    assert all(
        abs(a - b) <= 3 * (x + 1) ** 2
        for x, (a, b) in enumerate(zip(gaussian_weights(inv, 50), direct, strict=True))
    )
    rate = Fraction(2, 7)
    direct = [exp_neg(rate * k) for k in range(50)]
    assert all(
        abs(a - b) <= 3 * (k + 1)
        for k, (a, b) in enumerate(zip(geometric_weights(rate, 50), direct, strict=True))
    )
