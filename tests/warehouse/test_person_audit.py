"""The person-level audit, small: our cut stays within the declared epsilon on the reload
neighbour, and the landed position-ordered cut is flagged above it.

Runs the harness of ``bench/privacy_audit.py --person`` (``bench/person_audit.py``) with 400
releases a side (the benchmark runs 2,000). False-failure rate of the first check: at most
1e-6 (the Clopper-Pearson confidence; the event is chosen on separate pilot releases). The
second is a power check: the mutant's bound was 3.3-4.9 in every trial run (400-2,000
releases), far above the declared 1.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import duckdb
import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


def _person_audit() -> ModuleType:
    spec = importlib.util.spec_from_file_location("person_audit", BENCH / "person_audit.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["person_audit"] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_the_reload_neighbour_audit_passes_ours_and_flags_the_position_cut() -> None:
    pa = _person_audit()
    with duckdb.connect() as con:
        pa.build_tables(con, pa.design(con, salts=200))
        ours_moved, mutant_moved = pa.same_salt_movement(con, salts=20)
        assert ours_moved == pa.K < mutant_moved
        ours = pa.audit(con, 200, 400, "ours")
        with pa.mutant_cut():
            mutant = pa.audit(con, 200, 400, "mutant")
    assert ours.epsilon_lower <= pa.EPSILON, ours
    assert mutant.epsilon_lower > pa.EPSILON, mutant
