"""Measured crosstabs: every noisy cell laid out with its labels and the model's count."""

from __future__ import annotations

import numpy as np

from dpcore.crosstabs import _group_labels, crosstabs
from dpcore.domain import Domain
from dpcore.marginals import ArrayOracle, Measurement
from dpcore.noise import seeded_source
from dpcore.synth.coarse import CoarseMeasurement
from dpcore.synth.registry import get_synthesizer

DOMAIN = Domain(("a", "b"), (3, 4))
LABELS = {"a": ["x", "y", "z"], "b": ["0-9", "10-19", "20-29", "(missing)"]}


def test_cells_follow_the_marginal_in_c_order_with_the_models_counts() -> None:
    rng = np.random.default_rng(0)
    codes = np.stack([rng.integers(0, 3, 500), rng.integers(0, 4, 500)], axis=1)
    synth = get_synthesizer("mst")
    measured = synth.measure(DOMAIN, 5.0, ArrayOracle(DOMAIN, codes), seeded_source(1))
    model = synth.fit(DOMAIN, measured)
    tabs = crosstabs(DOMAIN, LABELS, measured, model, 500.0)
    assert [t.columns for t in tabs] == [m.clique for m in measured]
    pair = next(t for t in tabs if t.columns == ("a", "b"))
    assert pair.labels[:5] == [("x", "0-9"), ("x", "10-19"), ("x", "20-29"), ("x", "(missing)"),
                               ("y", "0-9")]  # fmt: skip
    m = measured[pair.index]
    assert np.array_equal(pair.noisy, m.values) and pair.std_error == m.sigma
    assert pair.selected  # MST chose the pair from data
    assert not next(t for t in tabs if t.columns == ("a",)).selected
    assert abs(pair.model.sum() - 500.0) < 1e-6
    assert np.allclose(pair.model, model.marginal(("a", "b")) * 500.0)


def test_a_coarse_measurement_is_laid_out_over_its_groups() -> None:
    class Uniform:
        domain = DOMAIN

        def marginal(self, clique: tuple[str, ...]) -> np.ndarray:
            return np.full(int(np.prod(DOMAIN.shape(clique))), 1.0 / np.prod(DOMAIN.shape(clique)))

        def sample(self, rows: int, rng: np.random.Generator) -> np.ndarray:
            raise NotImplementedError

    grouped = CoarseMeasurement(("a", "b"), np.arange(6), 2.0, True, ((), (0, 0, 1, 1)))
    plain = Measurement((), np.array([12]), 1.0, True)  # a total: no cells to lay out
    (tab,) = crosstabs(DOMAIN, LABELS, [plain, grouped], Uniform(), 120.0)
    assert tab.index == 1
    assert tab.labels == [
        ("x", "0-9 .. 10-19"),
        ("x", "20-29 .. (missing)"),
        ("y", "0-9 .. 10-19"),
        ("y", "20-29 .. (missing)"),
        ("z", "0-9 .. 10-19"),
        ("z", "20-29 .. (missing)"),
    ]
    assert np.allclose(tab.model, 20.0)  # each group: 2 of the 12 equal cells of 120


def test_non_contiguous_groups_are_labelled_by_their_runs() -> None:
    labels = ["a", "b", "c", "d", "e"]
    assert _group_labels(labels, [0, 1, 0, 0, 1]) == ["a, c .. d", "b, e"]
    assert _group_labels(labels, [0, 0, 1, 1, 1]) == ["a .. b", "c .. e"]
