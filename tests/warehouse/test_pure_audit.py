"""The pure epsilon-DP audit, small: a `delta: 0` release's own measure step stays within its
declared epsilon on add-one-row neighbours, and a composition mutant is flagged.

Runs the harness of ``bench/privacy_audit.py --pure`` (``bench/pure_audit.py``: two columns,
``independent`` at epsilon 2, so each discrete Laplace 1-way marginal has scale 1) with the
likelihood-ratio event ``{every changed cell's noisy count >= its count in D + 1}`` fixed by
analysis beforehand (no pilot), on 4,000 honest and 2,000 mutant releases a side from seeded
noise. The mutant gives each 1-way marginal the whole epsilon (scale 1/2, true epsilon 4);
the benchmark also catches a scale only 20% too small, with 50,000 releases a side.

False-failure rates: the first check fails a correct mechanism with probability at most 1e-6
(the Clopper-Pearson confidence). The other two are power checks on binomial hit counts of
known means: the honest bound is 1.66 +- 0.052 (event probabilities 0.534 and 0.0723; the
check ``> 1.25`` sits 8 sd below) and the mutant's 3.14 +- 0.12 (0.776 and 0.0142; the check
``> 2`` sits 9 sd below), so each fails by chance with probability below 1e-9 (50,000
simulated audits each: minima 1.46 and 2.71).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import duckdb
import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


def _pure_audit() -> ModuleType:
    if str(BENCH) not in sys.path:
        sys.path.insert(0, str(BENCH))  # pure_audit imports person_audit's epsilon_lower
    spec = importlib.util.spec_from_file_location("pure_audit", BENCH / "pure_audit.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["pure_audit"] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_a_pure_release_stays_within_epsilon_and_a_noise_mutant_is_flagged() -> None:
    pu = _pure_audit()
    with duckdb.connect() as con:
        pu.build_tables(con)
        req = pu.request()
        assert req.cost.pure and req.measure_rho == pu.EPSILON
        honest = pu.fixed_event_bound(con, "honest", 4000, seed=1)
        mutant = pu.fixed_event_bound(con, pu.NO_SPLIT, 2000, seed=3)
    assert honest <= pu.EPSILON, honest
    assert honest > 1.25, honest  # the audit sees most of epsilon: it is not vacuous
    assert mutant > pu.EPSILON, mutant
