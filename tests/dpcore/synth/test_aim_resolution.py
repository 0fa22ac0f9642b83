"""AIM with ``coarse_levels=2`` offers each large clique at two resolutions; the selection
chooses which one pays."""

from __future__ import annotations

import numpy as np

from dpcore.calculus import ZCDP
from dpcore.domain import Domain
from dpcore.marginals import ArrayOracle, Measurement
from dpcore.synth.aim import AIMSynthesizer, _Estimates, group_levels
from dpcore.synth.model import fit_model


def test_group_levels_halve_down_to_two() -> None:
    assert group_levels(12) == (12, 6)
    assert group_levels(3) == (3, 2)
    assert group_levels(2) == (2,)
    assert group_levels(0) == ()
    assert group_levels(12, 1) == (12,)


def test_a_pair_of_large_columns_is_offered_at_each_level() -> None:
    domain = Domain(("big", "mid", "small"), (40, 16, 3))
    uniform = [
        Measurement((n,), np.full(s, 100.0), 1.0)
        for n, s in zip(domain.names, domain.sizes, strict=True)
    ]
    model, _ = fit_model(domain, uniform, iterations=1)
    options = AIMSynthesizer(coarse_levels=2)._variants(
        domain, _Estimates(model), [("big", "mid"), ("big", "small"), ("small",)], 8
    )
    cells = {o.clique: [] for o in options}
    for o in options:
        cells[o.clique].append(o.cells)
    # Full resolution, then 8 and 4 groups: 'mid' (16 codes) is only grouped at 4 (> 2 * 4).
    assert cells[("big", "mid")] == [640, 8 * 16, 4 * 4]
    assert cells[("big", "small")] == [120, 8 * 3, 4 * 3]
    assert cells[("small",)] == [3]


def test_a_weak_pair_of_large_columns_pays_only_at_the_coarse_level() -> None:
    """Two 60-code columns that agree on a quarter of 4,000 rows, the model independent: at
    noise 20 the expected noise of the full table and of 12 groups each outweighs what the
    model gets wrong there (negative score, never worth measuring), while 6 groups pay.
    Deterministic: scores only, no noise drawn."""
    rng = np.random.default_rng(0)
    domain = Domain(("x", "y"), (60, 60))
    x = rng.integers(0, 60, 4000)
    y = np.where(rng.random(4000) < 0.25, x, rng.integers(0, 60, 4000))
    oracle = ArrayOracle(domain, np.stack([x, y], axis=1).astype(np.int64))
    oneway = [
        Measurement((c,), counts.astype(np.float64), 1.0)
        for c, counts in zip(domain.names, oracle.counts([("x",), ("y",)]), strict=True)
    ]
    model, _ = fit_model(domain, oneway, iterations=1)
    exact = oracle.counts([("x", "y")])[0]
    estimates = _Estimates(model)
    options = AIMSynthesizer(coarse_levels=2)._variants(domain, estimates, [("x", "y")], 12)
    noise = ZCDP.expected_abs(20.0)
    scores = {o.cells: o.error(estimates, exact) - noise * o.cells for o in options}
    assert sorted(scores) == [36, 144, 3600]
    assert scores[3600] < 0 and scores[144] < 0 < scores[36]
