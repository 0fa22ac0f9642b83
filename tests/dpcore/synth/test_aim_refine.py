"""AIM's refinement round: the reserved share of the budget measures, at full resolution, a
clique measured so far only grouped (issue 17's "two groups")."""

from __future__ import annotations

import numpy as np
import pytest

from dpcore.domain import Domain
from dpcore.marginals import ArrayOracle, Measurement
from dpcore.noise import seeded_source
from dpcore.synth.aim import AIMSynthesizer, _Option, _refinements
from dpcore.synth.coarse import CoarseMeasurement


def _options(domain: Domain) -> list[_Option]:
    grouped = ((0, 0, 1, 1, 1, 1), ())
    return [
        _Option(domain, ("x", "y"), ()),
        _Option(domain, ("x", "y"), grouped),
        _Option(domain, ("x", "z"), ()),
        _Option(domain, ("x", "z"), (grouped[0], ())),
        _Option(domain, ("y", "z"), ()),
    ]


def test_refinements_are_full_versions_of_grouped_only_cliques() -> None:
    domain = Domain(("x", "y", "z"), (6, 3, 2))
    groups = ((0, 0, 1, 1, 1, 1), ())
    measured = [
        CoarseMeasurement(("x", "y"), np.zeros(6), 1.0, groups=groups),
        CoarseMeasurement(("x", "z"), np.zeros(4), 1.0, groups=(groups[0], ())),
        Measurement(("x", "z"), np.zeros(12), 1.0),
    ]
    chosen = _refinements(_options(domain), measured)
    # (x, z) was also measured in full; (y, z) never grouped: only (x, y) in full is left.
    assert [(o.clique, o.groups) for o in chosen] == [(("x", "y"), ())]
    # Nothing measured only grouped: the ordinary candidates.
    assert len(_refinements(_options(domain), measured[2:])) == 5


def _large_data(rows: int = 4000) -> tuple[Domain, np.ndarray]:
    rng = np.random.default_rng(0)
    domain = Domain(("a", "b", "c", "d"), (40, 3, 4, 2))
    a = rng.integers(0, 40, rows)
    b = np.where(rng.random(rows) < 0.9, a % 3, rng.integers(0, 3, rows))
    c = np.where(rng.random(rows) < 0.7, a // 10, rng.integers(0, 4, rows))
    d = np.where(rng.random(rows) < 0.8, (b > 0).astype(int), rng.integers(0, 2, rows))
    return domain, np.stack([a, b, c, d], axis=1).astype(np.int64)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_refinement_spends_its_reserve_and_rho_exactly(seed: int) -> None:
    domain, codes = _large_data()
    rho, share = 0.02, 0.25
    synth = AIMSynthesizer(coarse_groups=4, refine_share=share, max_model_cells=5000)
    measurements = synth.measure(domain, rho, ArrayOracle(domain, codes), seeded_source(seed))
    d = len(domain)
    oneway = sum(1 / (2 * m.sigma**2) for m in measurements[:d])
    rounds = sum(1 / (2 * m.sigma**2) for m in measurements[d:])
    assert oneway + rounds / synth.measure_share == pytest.approx(rho, rel=1e-9)
    assert max(m.sigma for m in measurements) <= synth.max_sigma(domain, rho) * (1 + 1e-12)
    last = measurements[-1]
    # The refinement round's measurement costs measure_share of the reserve ...
    cost = 1 / (2 * last.sigma**2)
    assert cost == pytest.approx(synth.measure_share * share * (rho - oneway), rel=1e-9)
    # ... with its selection's share the rest (selection cost eps^2 / 8).
    selection = last.selection_epsilon**2 / 8
    assert cost + selection == pytest.approx(share * (rho - oneway), rel=1e-9)
    # A full-resolution histogram (sensitivity 1, like every round's) of a clique measured
    # only grouped before: a (40 codes) with c (a // 10) is measured in 4 groups first.
    assert not isinstance(last, CoarseMeasurement)
    assert last.values.size == domain.cells(last.clique)
    earlier = measurements[d:-1]
    grouped = {m.clique for m in earlier if isinstance(m, CoarseMeasurement)}
    full = {m.clique for m in earlier if not isinstance(m, CoarseMeasurement)}
    assert last.clique in grouped - full
