"""AIM's batched rounds: with negligible noise a round draws several candidates before one
refit (issue 17); the budget is still spent exactly."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import dpcore.synth.aim as aim
from dpcore.domain import Domain
from dpcore.marginals import ArrayOracle
from dpcore.noise import seeded_source
from dpcore.synth.aim import AIMSynthesizer
from dpcore.synth.coarse import CoarseMeasurement


def _data(rows: int = 3000) -> tuple[Domain, np.ndarray]:
    rng = np.random.default_rng(0)
    domain = Domain(("a", "b", "c", "d", "e"), (6, 3, 4, 2, 5))
    a = rng.integers(0, 6, rows)
    b = np.where(rng.random(rows) < 0.8, a % 3, rng.integers(0, 3, rows))
    c = np.where(rng.random(rows) < 0.7, a // 2 % 4, rng.integers(0, 4, rows))
    d = np.where(rng.random(rows) < 0.8, (b > 0).astype(int), rng.integers(0, 2, rows))
    e = np.where(rng.random(rows) < 0.6, (c + d) % 5, rng.integers(0, 5, rows))
    return domain, np.stack([a, b, c, d, e], axis=1).astype(np.int64)


def test_batch_size_follows_public_noise_ratio() -> None:
    synth = AIMSynthesizer()
    assert synth.batch_size(sigma=70.0, total=39_074) == 1  # Adult at epsilon 1
    assert synth.batch_size(sigma=7.0, total=49_358) == 1  # GSS at epsilon 10
    assert synth.batch_size(sigma=72.6, total=10**6) == 1
    assert synth.batch_size(sigma=72.6, total=3_700_000) == 2
    assert synth.batch_size(sigma=72.6, total=10**7) == 3  # capped at max_batch
    assert AIMSynthesizer(batch_ratio=0.0).batch_size(sigma=1.0, total=1e9) == 1


def _count_fits(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    fit = aim.fit_model

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return fit(*args, **kwargs)

    monkeypatch.setattr(aim, "fit_model", counted)
    return calls


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_batched_rounds_spend_rho_exactly_with_fewer_refits(
    seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    domain, codes = _data()
    rho = 0.5
    fits = _count_fits(monkeypatch)
    synth = AIMSynthesizer(batch_ratio=1e-9, max_batch=3, max_model_cells=2000, coarse_groups=2)
    measurements = synth.measure(domain, rho, ArrayOracle(domain, codes), seeded_source(seed))
    d = len(domain)
    oneway = sum(1 / (2 * m.sigma**2) for m in measurements[:d])
    rounds = sum(1 / (2 * m.sigma**2) for m in measurements[d:])
    selections = sum(m.selection_epsilon**2 / 8 for m in measurements[d:])
    # Every pick pays a round's measurement and selection: the total is still rho.
    assert oneway + rounds + selections == pytest.approx(rho, rel=1e-9)
    assert oneway + rounds / synth.measure_share == pytest.approx(rho, rel=1e-9)
    assert max(m.sigma for m in measurements) <= synth.max_sigma(domain, rho) * (1 + 1e-12)
    picks = len(measurements) - d
    # One fit after the 1-way tables, one per batch (at most three picks), none after the last.
    assert len(fits) - 1 <= picks // 2
    for m in measurements[d:]:
        cells = domain.cells(m.clique) if not isinstance(m, CoarseMeasurement) else None
        assert cells is None or m.values.size == cells


def test_unbatched_rounds_refit_after_every_pick(monkeypatch: pytest.MonkeyPatch) -> None:
    domain, codes = _data()
    fits = _count_fits(monkeypatch)
    synth = AIMSynthesizer(batch_ratio=0.0, max_model_cells=2000, coarse_groups=2)
    measurements = synth.measure(domain, 0.5, ArrayOracle(domain, codes), seeded_source(1))
    # The first fit, then one after every round but the last two (final and refinement).
    assert len(fits) == 1 + len(measurements) - len(domain) - 1


def _fit_options(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = []
    fit = aim.fit_model

    def recorded(*args: Any, **kwargs: Any) -> Any:
        calls.append(kwargs)
        return fit(*args, **kwargs)

    monkeypatch.setattr(aim, "fit_model", recorded)
    return calls


def test_batched_rounds_fit_with_batch_iterations(monkeypatch: pytest.MonkeyPatch) -> None:
    domain, codes = _data()
    fits = _fit_options(monkeypatch)
    synth = AIMSynthesizer(batch_ratio=1e-9, batch_iterations=7, max_model_cells=2000)
    synth.measure(domain, 0.5, ArrayOracle(domain, codes), seeded_source(1))
    # The first fit and every refit, the first one included (its step carries on).
    assert len(fits) >= 2
    assert [f["iterations"] for f in fits] == [7] * len(fits)


def test_unbatched_rounds_fit_with_round_iterations(monkeypatch: pytest.MonkeyPatch) -> None:
    domain, codes = _data()
    fits = _fit_options(monkeypatch)
    synth = AIMSynthesizer(batch_ratio=0.0, batch_iterations=7, max_model_cells=2000)
    synth.measure(domain, 0.5, ArrayOracle(domain, codes), seeded_source(1))
    assert [f["iterations"] for f in fits] == [synth.round_iterations] * len(fits)


def test_refit_iterations_follow_the_batch_rule() -> None:
    synth = AIMSynthesizer()
    assert synth.refit_iterations(sigma=70.0, total=39_074) == 80  # Adult at epsilon 1
    assert synth.refit_iterations(sigma=72.6, total=10**6) == 80
    assert synth.refit_iterations(sigma=72.6, total=10**7) == 40


def test_final_fit_ramps_only_when_the_rounds_ran_batched(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    domain, codes = _data()
    oracle = ArrayOracle(domain, codes)
    fits = _fit_options(monkeypatch)
    batched = AIMSynthesizer(batch_ratio=1e-9, max_model_cells=2000)
    batched.fit(domain, batched.measure(domain, 0.5, oracle, seeded_source(1)))
    assert fits[-1]["ramp"] is True
    plain = AIMSynthesizer(max_model_cells=2000)  # 3,000 rows: batch 1 at the default ratio
    plain.fit(domain, plain.measure(domain, 0.5, oracle, seeded_source(1)))
    assert fits[-1]["ramp"] is False
    off = AIMSynthesizer(batch_ratio=1e-9, fit_ramp=False, max_model_cells=2000)
    off.fit(domain, off.measure(domain, 0.5, oracle, seeded_source(1)))
    assert fits[-1]["ramp"] is False
