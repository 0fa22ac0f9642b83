"""Similarity grouping (issue 17): codes grouped by the model's estimated conditionals, not
by code order; offered by AIM with ``coarse_order``. Deterministic tests (no noise drawn),
except the accounting check, whose assertions hold for every seed."""

from __future__ import annotations

import numpy as np
import pytest

from dpcore.domain import Domain
from dpcore.marginals import ArrayOracle, Measurement
from dpcore.noise import seeded_source
from dpcore.synth.aim import AIMSynthesizer, _Estimates
from dpcore.synth.coarse import CoarseMeasurement, quantile_groups, similarity_groups
from dpcore.synth.model import fit_model


def _alternating(codes: int = 24) -> np.ndarray:
    """Even codes mostly with b = 0, odd codes mostly with b = 1 (equal masses)."""
    table = np.empty((codes, 2))
    table[0::2] = (90.0, 10.0)
    table[1::2] = (10.0, 90.0)
    return table


def _is_partition(groups: tuple[int, ...], codes: int, k: int) -> bool:
    used = sorted(set(groups))
    return len(groups) == codes and used == list(range(len(used))) and len(used) <= k


def test_alike_codes_share_groups_across_code_order() -> None:
    groups = similarity_groups(_alternating(), 0, 2)
    assert _is_partition(groups, 24, 2)
    assert len({groups[i] for i in range(0, 24, 2)}) == 1
    assert len({groups[i] for i in range(1, 24, 2)}) == 1
    assert groups[0] != groups[1]
    # Contiguous groups would mix both kinds in each half.
    assert quantile_groups(_alternating().sum(axis=1), 2) == tuple(i // 12 for i in range(24))


def _within(table: np.ndarray, groups: tuple[int, ...]) -> float:
    """Mass-weighted squared distance of the codes' conditionals to their group's."""
    mass = table.sum(axis=1)
    profiles = table / mass[:, None]
    labels = np.asarray(groups)
    sums = np.zeros((max(groups) + 1, table.shape[1]))
    np.add.at(sums, labels, table)
    centres = sums / sums.sum(axis=1, keepdims=True)
    return float((mass * ((profiles - centres[labels]) ** 2).sum(axis=1)).sum())


def test_groups_partition_codes_and_gather_alike_conditionals() -> None:
    rng = np.random.default_rng(3)
    table = rng.gamma(2.0, size=(60, 7)) * rng.gamma(2.0, size=(60, 1))
    for k in (2, 5, 12):
        groups = similarity_groups(table, 0, k)
        assert _is_partition(groups, 60, k)
        contiguous = quantile_groups(table.sum(axis=1), k)
        assert _within(table, groups) < 0.9 * _within(table, contiguous)
    # The second axis of the same table: its codes (7) against k >= 7 stay one per group.
    assert similarity_groups(table, 1, 7) == tuple(range(7))


def test_grouping_is_deterministic_and_keeps_a_heavy_code_alone() -> None:
    table = _alternating(30)
    table[4] *= 40.0  # about 60% of the mass on code 4
    first = similarity_groups(table, 0, 6)
    assert first == similarity_groups(table.copy(), 0, 6)
    assert list(first).count(first[4]) == 1
    # The same table with the axes swapped gives the same grouping of that column.
    assert similarity_groups(np.ascontiguousarray(table.T), 1, 6) == first


def test_without_signal_the_groups_are_contiguous() -> None:
    mass = np.linspace(1.0, 3.0, 40)
    independent = np.outer(mass, [0.3, 0.7])
    assert similarity_groups(independent, 0, 8) == quantile_groups(mass, 8)
    # Conditionals that differ by less than min_spread count as no signal.
    slight = independent * (1.0 + 0.01 * (np.arange(40) % 2))[:, None] * [[1.0, 0.99]]
    assert similarity_groups(slight, 0, 8) == quantile_groups(slight.sum(axis=1), 8)


def test_aim_offers_similar_groupings_from_the_model() -> None:
    domain = Domain(("x", "y"), (24, 2))
    codes = np.repeat(np.arange(24), 100)
    y = np.where(np.arange(codes.size) % 10 < 9, codes % 2, 1 - codes % 2)
    oracle = ArrayOracle(domain, np.stack([codes, y], axis=1).astype(np.int64))
    counts = oracle.counts([("x", "y")])[0].astype(np.float64)
    model, _ = fit_model(domain, [Measurement(("x", "y"), counts, 1.0)], iterations=200)
    estimates = _Estimates(model)
    maps = {}
    for order in ("code", "similar", "both"):
        options = AIMSynthesizer(coarse_order=order)._variants(domain, estimates, [("x", "y")], 2)
        maps[order] = [o.groups for o in options if o.groups]
    contiguous = (tuple(i // 12 for i in range(24)), ())
    parity = tuple(int(g) for g in np.arange(24) % 2)
    assert maps["code"] == [contiguous]
    assert maps["similar"][0][0] in (parity, tuple(1 - g for g in parity))
    assert maps["both"] == [contiguous, maps["similar"][0]]
    with pytest.raises(ValueError, match="coarse_order"):
        AIMSynthesizer(coarse_order="nope")  # type: ignore[arg-type]


@pytest.mark.parametrize("seed", [1, 2])
def test_similar_groupings_keep_the_accounting_exact(seed: int) -> None:
    rng = np.random.default_rng(0)
    domain = Domain(("a", "b", "c"), (40, 3, 2))
    a = rng.integers(0, 40, 4000)
    b = np.where(rng.random(4000) < 0.9, a % 3, rng.integers(0, 3, 4000))
    c = np.where(rng.random(4000) < 0.8, (b > 0).astype(int), rng.integers(0, 2, 4000))
    codes = np.stack([a, b, c], axis=1).astype(np.int64)
    rho = 0.02
    synth = AIMSynthesizer(coarse_groups=4, coarse_order="both", max_model_cells=5000)
    measurements = synth.measure(domain, rho, ArrayOracle(domain, codes), seeded_source(seed))
    d = len(domain)
    oneway = sum(1 / (2 * m.sigma**2) for m in measurements[:d])
    rounds = sum(1 / (2 * m.sigma**2) for m in measurements[d:])
    assert oneway + rounds / synth.measure_share == pytest.approx(rho, rel=1e-9)
    for m in measurements:
        if isinstance(m, CoarseMeasurement):
            for column, groups in zip(m.clique, m.groups, strict=True):
                if groups:
                    assert _is_partition(groups, domain.size(column), 4)
