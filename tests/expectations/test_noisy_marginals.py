"""One-way estimates from noisy measurements and the TVD allowances (pure numpy)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from dpcore.distributions import half_abs_diff
from dpcore.encoding import ColumnCodec, TableCodec
from dpcore.marginals import Measurement
from expectations.errors import SchemaMismatchError
from expectations.noisy_marginals import (
    empirical,
    noise_allowance,
    one_way_estimates,
    sampling_allowance,
)

A = ColumnCodec(name="a", kind="category", categories=("x", "y"))
B = ColumnCodec(name="b", kind="category", categories=("p", "q", "r"))
C = ColumnCodec(name="c", kind="category", categories=("u", "v"))
CODEC = TableCodec((A, B, C))


def test_one_way_summed_out_of_a_two_way() -> None:
    m = Measurement(clique=("a", "b"), values=np.array([1, 2, 3, 4, 5, 6]), sigma=2.0)
    est = one_way_estimates(CODEC, [m])
    np.testing.assert_allclose(est["a"].counts, [6, 15])
    np.testing.assert_allclose(est["b"].counts, [5, 7, 9])
    assert est["a"].cell_sigma == pytest.approx(2.0 * math.sqrt(3))  # sums 3 noisy cells
    assert est["b"].cell_sigma == pytest.approx(2.0 * math.sqrt(2))
    assert "c" not in est


def test_estimates_combine_by_inverse_variance() -> None:
    one_way = Measurement(clique=("a",), values=np.array([10, 20]), sigma=2.0)  # variance 4
    two_way = Measurement(clique=("a", "b"), values=np.array([4, 4, 4, 8, 8, 8]), sigma=1.0)
    est = one_way_estimates(CODEC, [one_way, two_way])["a"]  # two-way cell variance 3
    w1, w2 = 1 / 4, 1 / 3
    expected = (np.array([10.0, 20.0]) * w1 + np.array([12.0, 24.0]) * w2) / (w1 + w2)
    np.testing.assert_allclose(est.counts, expected)
    assert est.cell_sigma == pytest.approx(math.sqrt(1 / (w1 + w2)))
    assert est.sources == 2


def test_measurement_mismatches_raise() -> None:
    with pytest.raises(SchemaMismatchError, match="'zz'"):
        one_way_estimates(CODEC, [Measurement(clique=("zz",), values=np.array([1]), sigma=1)])
    with pytest.raises(SchemaMismatchError, match="3 values"):
        one_way_estimates(CODEC, [Measurement(clique=("a",), values=np.array([1, 2, 3]), sigma=1)])


def test_tvd_pieces() -> None:
    p = empirical(np.array([0, 0, 1, 5, -1]), 2)  # out-of-range codes ignored
    np.testing.assert_allclose(p, [2 / 3, 1 / 3])
    assert half_abs_diff(np.array([1.0, 0.0]), np.array([0.0, 1.0])).sum() == pytest.approx(1.0)


def test_allowances_scale_as_expected() -> None:
    est = one_way_estimates(
        CODEC, [Measurement(clique=("b",), values=np.array([100, 100, 100]), sigma=5.0)]
    )["b"]
    assert noise_allowance(est, 300) == pytest.approx(3 * 5 * math.sqrt(2 / math.pi) / 600)
    q = np.array([0.5, 0.5])
    assert sampling_allowance(q, 100) == pytest.approx(math.sqrt(2 / math.pi) * 0.05)
    assert sampling_allowance(q, 400) == pytest.approx(sampling_allowance(q, 100) / 2)


def test_one_way_estimates_skip_columns_measured_with_merged_codes() -> None:
    """A coarsened 2-way measurement still gives the 1-way of its full-resolution column."""
    from dpcore.encoding import ColumnCodec, TableCodec
    from dpcore.synth.coarse import CoarseMeasurement
    from expectations.noisy_marginals import one_way_estimates

    codec = TableCodec(
        (
            ColumnCodec("a", "category", categories=("x", "y")),
            ColumnCodec("b", "integer", edges=(0.0, 1.0, 2.0, 3.0, 4.0)),
        )
    )
    # b's four codes merged into two groups: the table is 2 x 2.
    m = CoarseMeasurement(("a", "b"), np.array([1, 2, 3, 4]), 1.0, True, ((), (0, 0, 1, 1)))
    estimates = one_way_estimates(codec, [m])
    assert set(estimates) == {"a"}
    assert list(estimates["a"].counts) == [3.0, 7.0]
