"""Short write transactions: a long measure phase does not hold up another dataset's charge.

Two processes, as two releases run: one measures with AIM and then keeps its measure phase
open for over ten seconds (AIM's rounds and model fits on a large table take that long);
meanwhile the other charges a different dataset. The charge waits at most for a store
transaction, never for the draw: the measure step holds the warehouse only for its count
scan and its one short store (``warehouse.measurements.measure_once``).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from tests.warehouse.test_measurements import (
    CHARGE_OTHER,
    FixedCap,
    charge_run,
    source,
)
from warehouse.ledger import register_budget

__all__ = ["source"]  # the fixture, shared with the measurement tests
ROOT = Path(__file__).resolve().parents[2]
HOLD_S = 10.5

MEASURER = f"""
import json, sys, time
from pathlib import Path
from dpcore.noise import seeded_source
from dpcore.synth.registry import get_synthesizer
from tests.warehouse.test_measurements import CODEC, TABLE
from warehouse.measurements import measure_once

path, started = Path(sys.argv[1]), Path(sys.argv[2])
aim = get_synthesizer("aim")

def draw(oracle):
    measurements = aim.measure(CODEC.domain, 0.01, oracle, seeded_source(5))
    started.touch()  # AIM has run; now the rest of a long measure phase
    time.sleep({HOLD_S})
    return measurements

begin = time.monotonic()
measurements, reused = measure_once(path, "long-run", TABLE, CODEC, draw,
                                    candidates=aim.candidates(CODEC.domain))
print(json.dumps({{"seconds": time.monotonic() - begin, "stored": len(measurements),
                  "reused": reused, "ended": time.time()}}))
"""


def _python(script: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", script, *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _answer(process: subprocess.Popen[str]) -> dict[str, float]:
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err[-2000:]
    answer: dict[str, float] = json.loads(out.strip().splitlines()[-1])
    return answer


@pytest.mark.slow
def test_a_charge_is_not_blocked_by_another_runs_long_measure_phase(
    source: Path, tmp_path: Path
) -> None:
    charge_run(source, "long-run")
    register_budget(source, "raw.other", FixedCap(10.0, 1e-6))
    started = tmp_path / "aim-ran"
    measurer = _python(MEASURER, str(source), str(started))
    try:
        deadline = time.monotonic() + 60
        while not started.exists():
            assert measurer.poll() is None, measurer.communicate()[1][-2000:]
            assert time.monotonic() < deadline, "the measurer never reached its draw"
            time.sleep(0.05)
        charged = _answer(_python(CHARGE_OTHER, str(source)))
        measured = _answer(measurer)
    finally:
        if measurer.poll() is None:
            measurer.kill()
            measurer.wait()
    assert measured["seconds"] > 10 and measured["stored"] > 0 and not measured["reused"]
    assert charged["seconds"] < 5, charged  # not the measure phase: a short transaction
    assert charged["ended"] < measured["ended"]  # done while the other run still measured
    with duckdb.connect(str(source), read_only=True) as con:
        runs = con.execute("SELECT run_id FROM privacy.charges ORDER BY run_id").fetchall()
    assert runs == [("long-run",), ("other-run",)]
