"""Tests of ``bench/pair_floor.py``'s grouping floors (issue 17's worst-pair analysis)."""

from __future__ import annotations

import numpy as np

from bench.pair_floor import fit_to_groups, sampled_tvd, similarity_groups, tvd


def _interleaved() -> np.ndarray:
    """8 row codes whose conditionals alternate between two profiles (even codes like each
    other, odd codes like each other): contiguous groups mix them, similarity groups don't."""
    even = np.array([0.7, 0.1, 0.1, 0.1])
    odd = np.array([0.1, 0.1, 0.1, 0.7])
    table = np.array([even if i % 2 == 0 else odd for i in range(8)])
    return table / table.sum()


def test_similarity_groups_separate_interleaved_profiles() -> None:
    table = _interleaved()
    contiguous = np.array([0, 0, 0, 1, 1, 1, 1, 1])  # centres lean even / odd
    groups = similarity_groups(table, 2, contiguous)
    assert groups.tolist() == [0, 1, 0, 1, 0, 1, 0, 1]


def test_similarity_groups_keep_massless_codes_and_renumber() -> None:
    table = _interleaved()
    table[3] = 0.0
    groups = similarity_groups(table, 2, np.array([1, 1, 1, 1, 1, 0, 0, 0]))
    assert groups[0] == 0  # renumbered in order of first use
    assert groups[1] == groups[5] == groups[7] != groups[0]  # odd codes apart from even
    assert groups[3] == groups[0]  # no mass: keeps its start group, now the even codes'
    assert set(groups.tolist()) == {0, 1}


def test_fit_to_groups_is_exact_when_groups_capture_the_dependence() -> None:
    table = _interleaved()
    similar = np.array([0, 1, 0, 1, 0, 1, 0, 1])
    identity = np.arange(4)
    assert tvd(fit_to_groups(table, similar, identity), table) < 1e-9
    contiguous = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    assert tvd(fit_to_groups(table, contiguous, identity), table) > 0.1


def test_fit_to_groups_keeps_the_one_way_tables() -> None:
    rng = np.random.default_rng(3)
    table = rng.random((6, 5))
    table /= table.sum()
    fit = fit_to_groups(table, np.array([0, 0, 1, 1, 2, 2]), np.array([0, 1, 1, 0, 1]))
    np.testing.assert_allclose(fit.sum(axis=1), table.sum(axis=1), atol=1e-9)
    np.testing.assert_allclose(fit.sum(axis=0), table.sum(axis=0), atol=1e-9)


def test_sampled_tvd_shrinks_with_rows() -> None:
    """Sampling noise ~ n^(-1/2): 100x the rows, about a tenth of the TVD (deterministic
    generator; the bounds allow a factor 2 either way)."""
    table = np.full((10, 10), 0.01)
    few = sampled_tvd(table, table, 1_000, np.random.default_rng(0))
    many = sampled_tvd(table, table, 100_000, np.random.default_rng(0))
    assert 0.05 < many / few < 0.2
