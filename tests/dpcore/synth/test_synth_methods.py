"""MST and AIM end to end on small data: exact budget, valid rows, better than independence."""

from __future__ import annotations

import math

import numpy as np
import pytest

from dpcore.calculus import PURE, NoiseKind
from dpcore.domain import Domain
from dpcore.marginals import ArrayOracle
from dpcore.noise import seeded_source
from dpcore.synth.aim import AIMSynthesizer
from dpcore.synth.mst import MSTSynthesizer
from dpcore.synth.registry import get_synthesizer
from dpcore.workload import make_workload


def _data(rows: int = 5000) -> tuple[Domain, np.ndarray]:
    rng = np.random.default_rng(0)
    domain = Domain(("a", "b", "c", "d", "e"), (4, 5, 3, 2, 6))
    a = rng.integers(0, 4, rows)
    b = np.where(rng.random(rows) < 0.8, a, rng.integers(0, 5, rows))
    c = np.where(rng.random(rows) < 0.8, b % 3, rng.integers(0, 3, rows))
    d = np.where(rng.random(rows) < 0.9, (a > 1).astype(int), rng.integers(0, 2, rows))
    e = np.where(rng.random(rows) < 0.7, 2 * c, rng.integers(0, 6, rows))
    return domain, np.stack([a, b, c, d, e], axis=1).astype(np.int64)


def _two_way_error(domain: Domain, codes: np.ndarray, rows: np.ndarray) -> float:
    real, synth = ArrayOracle(domain, codes), ArrayOracle(domain, rows)
    cliques = make_workload(domain).cliques
    errors = [
        0.5 * np.abs(r / codes.shape[0] - s / rows.shape[0]).sum()
        for r, s in zip(real.counts(cliques), synth.counts(cliques), strict=True)
    ]
    return float(np.mean(errors))


def test_mst_spends_rho_and_beats_independence() -> None:
    domain, codes = _data()
    rho = 1.0
    synth = MSTSynthesizer()
    measurements = synth.measure(domain, rho, ArrayOracle(domain, codes), seeded_source(1))
    d = len(domain)
    assert len(measurements) == 2 * d - 1
    measured = sum(1 / (2 * m.sigma**2) for m in measurements)
    assert measured == pytest.approx(2 * rho / 3)  # the other third is the d - 1 selections
    assert not any(m.private for m in measurements)
    pairs = [m.clique for m in measurements[d:]]
    assert ("a", "b") in pairs and ("b", "c") in pairs
    model = synth.fit(domain, measurements)
    rows = model.sample(codes.shape[0], np.random.default_rng(0))
    shuffle = np.random.default_rng(1)
    product = np.stack([shuffle.permutation(codes[:, j]) for j in range(d)], axis=1)
    independent = _two_way_error(domain, codes, product)
    assert _two_way_error(domain, codes, rows) < 0.5 * independent


def test_aim_spends_exactly_rho() -> None:
    domain, codes = _data()
    rho = 0.5
    synth = AIMSynthesizer(max_model_cells=2000)
    measurements = synth.measure(domain, rho, ArrayOracle(domain, codes), seeded_source(2))
    d = len(domain)
    share = synth.measure_share
    oneway = sum(1 / (2 * m.sigma**2) for m in measurements[:d])
    rounds = sum(1 / (2 * m.sigma**2) for m in measurements[d:])
    # Each round spends measure_share of its cost on the measurement, the rest on selection.
    assert oneway + rounds / share == pytest.approx(rho, rel=1e-9)
    model = synth.fit(domain, measurements)
    assert model.tree.cells() <= 2000
    rows = model.sample(codes.shape[0], np.random.default_rng(0))
    assert _two_way_error(domain, codes, rows) < 0.05


def test_aim_respects_workload_and_time_budget() -> None:
    domain, codes = _data(2000)
    synth = AIMSynthesizer(workload=[("a", "b"), ("c",)], time_budget_s=0.0)
    measurements = synth.measure(domain, 0.2, ArrayOracle(domain, codes), seeded_source(3))
    # With no time left, one final round and the refinement round follow the 1-way tables.
    assert len(measurements) == len(domain) + 2
    assert all(set(m.clique) <= {"a", "b", "c"} for m in measurements[-2:])
    planned = synth.plan(domain, 0.2)
    assert [p.clique for p in planned] == [(n,) for n in domain.names]
    assert all(math.isfinite(p.sigma) for p in planned)


def test_registry() -> None:
    assert get_synthesizer("aim", max_model_cells=10).name == "aim"
    assert get_synthesizer("MST").name == "mst"
    assert get_synthesizer("independent").name == "independent"
    with pytest.raises(ValueError, match="unknown synthesis method"):
        get_synthesizer("gan")


def test_aim_with_grouped_candidates_spends_exactly_rho() -> None:
    from dpcore.synth.coarse import CoarseMeasurement, coarse_cells

    domain, codes = _data()
    rho = 0.05
    synth = AIMSynthesizer(coarse_groups=2, max_model_cells=5000)
    measurements = synth.measure(domain, rho, ArrayOracle(domain, codes), seeded_source(4))
    d = len(domain)
    oneway = sum(1 / (2 * m.sigma**2) for m in measurements[:d])
    rounds = sum(1 / (2 * m.sigma**2) for m in measurements[d:])
    assert oneway == pytest.approx(synth.oneway_fraction(rho) * rho)
    assert oneway + rounds / synth.measure_share == pytest.approx(rho, rel=1e-9)
    for m in measurements:
        if isinstance(m, CoarseMeasurement):
            assert m.values.size == coarse_cells(domain, m.clique, m.groups)
    rows = synth.fit(domain, measurements).sample(1000, np.random.default_rng(0))
    assert rows.shape == (1000, d)


def test_aim_rounds_shrink_with_the_budget() -> None:
    domain = Domain(tuple("abcd"), (2, 2, 2, 2))
    synth = AIMSynthesizer()
    assert synth.default_rounds(domain, 1.0, 10_000) == 8 * len(domain)
    # Initial round noise capped at round_noise_cap * total: T <= 2 alpha rho (cap total)^2.
    small = synth.default_rounds(domain, 1e-2, 10_000)
    assert small == math.floor(2 * synth.measure_share * 1e-2 * (synth.round_noise_cap * 1e4) ** 2)
    assert len(domain) - 1 <= small < 8 * len(domain)
    # At least d - 1 rounds (connecting every column) while the noise stays within 2x the cap.
    assert synth.default_rounds(domain, 1e-3, 10_000) == len(domain) - 1
    assert synth.default_rounds(domain, 2e-4, 10_000) == 2  # 4x the cap's 0.58 rounds
    assert synth.default_rounds(domain, 1e-9, 10) == 1
    assert AIMSynthesizer(rounds=5).default_rounds(domain, 1e-9, 10) == 5


def test_aim_spends_exactly_rho_with_a_single_round() -> None:
    domain, codes = _data()
    rho = 0.001  # the cap leaves one round: the 1-way tables, one final selection, refinement
    synth = AIMSynthesizer()
    measurements = synth.measure(domain, rho, ArrayOracle(domain, codes), seeded_source(5))
    d = len(domain)
    assert len(measurements) == d + 2
    oneway = sum(1 / (2 * m.sigma**2) for m in measurements[:d])
    rounds = sum(1 / (2 * m.sigma**2) for m in measurements[d:])
    assert oneway + rounds / synth.measure_share == pytest.approx(rho, rel=1e-9)


def test_aim_groups_shrink_with_the_noise() -> None:
    synth = AIMSynthesizer()
    assert synth.group_count(1.0, 10_000) == synth.coarse_groups
    # Each group keeps about total / k >= coarse_noise_ratio * sigma rows.
    assert synth.group_count(10_000 / (6.5 * synth.coarse_noise_ratio), 10_000) == 6
    assert synth.group_count(1e6, 10_000) == 2
    assert AIMSynthesizer(coarse_groups=0).group_count(1.0, 10_000) == 0


@pytest.mark.parametrize("method", ["independent", "mst", "aim"])
@pytest.mark.parametrize("rho", [0.002, 0.05, 1.0])
def test_the_stored_parameters_account_for_every_unit_of_rho(method: str, rho: float) -> None:
    """Each measurement carries the selection epsilon that chose it, so a run's spend is
    recomputed from what was stored alone (``dpcore.spend``), selections included."""
    from dpcore.spend import spent

    domain, codes = _data()
    synth = get_synthesizer(method)
    measurements = synth.measure(domain, rho, ArrayOracle(domain, codes), seeded_source(6))
    assert {m.noise for m in measurements} == {NoiseKind.GAUSSIAN}
    parameters = [(m.sigma, m.selection_epsilon, 1) for m in measurements]
    assert spent(parameters) == pytest.approx(rho, rel=1e-9)
    assert spent((s, e, 3) for s, e, _ in parameters) == pytest.approx(9 * rho, rel=1e-9)
    chosen = [m for m in measurements if m.selection_epsilon > 0]
    assert (len(chosen) > 0) == (method != "independent")


@pytest.mark.parametrize("method", ["independent", "mst", "aim"])
@pytest.mark.parametrize("epsilon", [0.05, 0.5, 3.0])
def test_pure_methods_spend_exactly_epsilon_with_laplace_noise(method: str, epsilon: float) -> None:
    """Under pure DP every measurement is discrete Laplace and the stored parameters add up
    to exactly the release's epsilon (a person bounded to 3 rows: 3 times it, linearly)."""
    from dpcore.spend import spent

    domain, codes = _data()
    synth = get_synthesizer(method, calculus=PURE)
    measurements = synth.measure(domain, epsilon, ArrayOracle(domain, codes), seeded_source(7))
    assert {m.noise for m in measurements} == {NoiseKind.LAPLACE}
    parameters = [(m.sigma, m.selection_epsilon, 1) for m in measurements]
    assert spent(parameters, PURE) == pytest.approx(epsilon, rel=1e-9)
    assert spent(((s, e, 3) for s, e, _ in parameters), PURE) == pytest.approx(3 * epsilon)
    if method == "independent":  # the seed method: Laplace of scale d / epsilon per column
        assert all(m.sigma == pytest.approx(len(domain) / epsilon) for m in measurements)
    rows = synth.fit(domain, measurements).sample(500, np.random.default_rng(0))
    assert rows.shape == (500, len(domain))
    assert all(math.isfinite(p.sigma) for p in synth.plan(domain, epsilon) if p.clique)
