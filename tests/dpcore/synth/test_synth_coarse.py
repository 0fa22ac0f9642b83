"""Grouped (coarse) measurements: group maps, aggregation, and fitting their totals."""

from __future__ import annotations

import numpy as np
import pytest

from dpcore.domain import Domain
from dpcore.marginals import ArrayOracle, Measurement
from dpcore.synth.coarse import (
    CoarseMeasurement,
    cell_index,
    coarse_shape,
    coarsen,
    quantile_groups,
)
from dpcore.synth.model import fit_model


def test_quantile_groups_are_contiguous_and_balanced() -> None:
    groups = quantile_groups(np.full(100, 0.01), 10)
    assert groups == tuple(i // 10 for i in range(100))
    heavy = quantile_groups(np.array([0.9] + [0.1 / 9] * 9), 4)
    assert heavy[0] == 0 and list(heavy) == sorted(heavy)
    assert max(heavy) + 1 <= 4
    assert quantile_groups(np.ones(3), 5) == (0, 1, 2)


def test_quantile_groups_split_the_rest_after_a_heavy_first_code() -> None:
    # 92% of the mass on code 0 (like a capital gain): code 0 alone, the tail still split.
    probabilities = np.array([0.92] + [0.08 / 99] * 99)
    groups = quantile_groups(probabilities, 12)
    assert groups.count(0) == 1 and max(groups) + 1 == 12
    assert list(groups) == sorted(groups)
    tail = np.bincount(groups, weights=probabilities)[1:]
    assert tail.max() < 2 * tail.min()


def test_cell_index_aggregates_tables() -> None:
    domain = Domain(("a", "b"), (4, 3))
    groups = ((0, 0, 1, 1), ())
    assert coarse_shape(domain, ("a", "b"), groups) == (2, 3)
    index = cell_index(domain, ("a", "b"), groups)
    table = np.arange(12, dtype=np.float64).reshape(4, 3)
    expected = np.stack([table[:2].sum(axis=0), table[2:].sum(axis=0)]).reshape(-1)
    assert np.allclose(coarsen(table, index, 6), expected)


def test_fit_matches_grouped_totals_and_keeps_fine_detail() -> None:
    rng = np.random.default_rng(0)
    domain = Domain(("a", "b"), (6, 2))
    rows = 3000
    a = rng.integers(0, 6, rows)
    b = np.where(rng.random(rows) < 0.8, (a >= 3).astype(int), rng.integers(0, 2, rows))
    oracle = ArrayOracle(domain, np.stack([a, b], axis=1))
    groups = ((0, 0, 0, 1, 1, 1), ())
    index = cell_index(domain, ("a", "b"), groups)
    grouped = coarsen(oracle.counts([("a", "b")])[0].astype(np.float64), index, 4)
    measurements = [
        Measurement(("a",), oracle.counts([("a",)])[0], 0.01),
        Measurement(("b",), oracle.counts([("b",)])[0], 0.01),
        CoarseMeasurement(("a", "b"), grouped.astype(np.int64), 0.01, False, groups),
    ]
    model, _ = fit_model(domain, measurements, iterations=3000)
    fitted = coarsen(model.marginal(("a", "b")) * rows, index, 4)
    assert fitted == pytest.approx(grouped, abs=1e-3)
    assert model.marginal(("a",)) * rows == pytest.approx(oracle.counts([("a",)])[0], abs=1e-3)
    # Reversed column order gives the same fit.
    reversed_groups = ((), (0, 0, 0, 1, 1, 1))
    reversed_values = grouped.reshape(2, 2).T.reshape(-1).astype(np.int64)
    again, _ = fit_model(
        domain,
        [
            *measurements[:2],
            CoarseMeasurement(("b", "a"), reversed_values, 0.01, False, reversed_groups),
        ],
        iterations=3000,
    )
    assert again.marginal(("a", "b")) == pytest.approx(model.marginal(("a", "b")), abs=1e-6)


def test_wrong_number_of_values_is_rejected() -> None:
    domain = Domain(("a", "b"), (4, 3))
    bad = CoarseMeasurement(("a", "b"), np.zeros(5, dtype=np.int64), 1.0, False, ((0, 0, 1, 1), ()))
    with pytest.raises(ValueError, match="values"):
        fit_model(domain, [bad], iterations=5)
