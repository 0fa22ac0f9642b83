"""Stored measurements: never drawn before the charge, never drawn twice for a run."""

from __future__ import annotations

import subprocess
import sys
import threading
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import duckdb
import numpy as np
import pytest

from dpcore.accounting import PrivacyCap, PrivacyCost
from dpcore.encoding import ColumnCodec, TableCodec
from dpcore.marginals import CountOracle, Measurement
from dpcore.synth.coarse import CoarseMeasurement
from warehouse.errors import ChargeMissingError
from warehouse.ledger import budget_state, charge, register_budget
from warehouse.measurements import load_measurements, measure_once

TABLE = "raw.t"
CODEC = TableCodec(
    (
        ColumnCodec("sex", "category", categories=("F", "M")),
        ColumnCodec("age", "integer", edges=(17.0, 30.0, 91.0), on_invalid="clamp"),
    )
)
ROWS = [("F", 20), ("M", 40), ("M", 50), ("F", 25), ("F", 80)]
EXACT = {("sex",): [3, 2], ("age",): [2, 3], ("sex", "age"): [2, 1, 0, 2]}


@pytest.fixture
def source(warehouse: Path) -> Path:
    with duckdb.connect(str(warehouse)) as con:
        con.execute("CREATE SCHEMA raw")
        con.execute("CREATE TABLE raw.t (sex VARCHAR, age INTEGER, secret VARCHAR)")
        con.executemany("INSERT INTO raw.t VALUES (?, ?, 'x')", [list(r) for r in ROWS])
    return warehouse


@dataclass(frozen=True)
class FixedCost(PrivacyCost):
    """A cost with a fixed ledger rho (skips the slow eps -> rho bisection)."""

    @property
    def ledger_rho(self) -> Decimal:
        return Decimal("0.01")


@dataclass(frozen=True)
class FixedCap(PrivacyCap):
    @property
    def ledger_rho(self) -> Decimal:
        return Decimal("1")


def charge_run(path: Path, run_id: str) -> None:
    if budget_state(path, TABLE) is None:
        register_budget(path, TABLE, FixedCap(10.0, 1e-6))
    charge(
        path,
        dataset=TABLE,
        run_id=run_id,
        release="t",
        spec_hash="h",
        cost=FixedCost(0.5, 1e-6),
        cap=FixedCap(10.0, 1e-6),
    )


class Drawer:
    """A ``draw`` callback that records its calls and adds fixed offsets as "noise"."""

    def __init__(self, private: bool = True) -> None:
        self.calls = 0
        self.seen: list[list[int]] = []
        self.private = private

    def __call__(self, oracle: CountOracle) -> list[Measurement]:
        self.calls += 1
        cliques = list(EXACT)
        counts = oracle.counts(cliques)
        self.seen = [c.tolist() for c in counts]
        big = np.array([2**62, -(2**62)], dtype=np.int64)  # int64 extremes must round-trip
        return [
            Measurement(("sex",), counts[0] + big, 1.5, self.private),
            Measurement(("age",), counts[1] - 7, 2.25, self.private),
            Measurement(("sex", "age"), counts[2] * 3 - 1, 0.125, self.private),
        ]


def stored_rows(path: Path) -> int:
    with duckdb.connect(str(path)) as con:
        return int(con.execute("SELECT count(*) FROM privacy.measurements").fetchall()[0][0])


def test_without_a_charge_nothing_is_drawn_or_stored(source: Path) -> None:
    draw = Drawer()
    with pytest.raises(ChargeMissingError, match="run r1 has no committed charge"):
        measure_once(source, "r1", TABLE, CODEC, draw)
    assert draw.calls == 0
    assert load_measurements(source, "r1") is None
    assert stored_rows(source) == 0


def test_another_runs_charge_does_not_count(source: Path) -> None:
    charge_run(source, "r2")
    draw = Drawer()
    with pytest.raises(ChargeMissingError):
        measure_once(source, "r1", TABLE, CODEC, draw)
    assert draw.calls == 0 and stored_rows(source) == 0


def test_on_a_fresh_warehouse_the_charge_is_missing(warehouse: Path) -> None:
    draw = Drawer()
    with pytest.raises(ChargeMissingError):
        measure_once(warehouse, "r1", TABLE, CODEC, draw)
    assert draw.calls == 0


def test_measured_once_then_reused(source: Path) -> None:
    charge_run(source, "r1")
    draw = Drawer()

    first, reused = measure_once(source, "r1", TABLE, CODEC, draw)
    assert reused is False and draw.calls == 1
    assert draw.seen == list(EXACT.values())  # the oracle counted the encoded source

    second, reused_again = measure_once(source, "r1", TABLE, CODEC, draw)
    assert reused_again is True and draw.calls == 1  # no new noise
    loaded = load_measurements(source, "r1")
    assert loaded is not None
    for got in (second, loaded):
        assert len(got) == len(first)
        for a, b in zip(first, got, strict=True):
            assert (a.clique, a.sigma, a.private) == (b.clique, b.sigma, b.private)
            assert b.values.dtype == np.int64
            np.testing.assert_array_equal(a.values, b.values)
    assert second[0].values.tolist() == [3 + 2**62, 2 - 2**62]
    assert stored_rows(source) == 3


def test_shapes_and_order_are_stored(source: Path) -> None:
    charge_run(source, "r1")
    measure_once(source, "r1", TABLE, CODEC, Drawer())
    with duckdb.connect(str(source)) as con:
        rows = con.execute(
            "SELECT idx, clique, shape FROM privacy.measurements WHERE run_id = 'r1' ORDER BY idx"
        ).fetchall()
    assert rows == [(0, ["sex"], [2]), (1, ["age"], [2]), (2, ["sex", "age"], [2, 2])]


def test_not_private_flag_round_trips(source: Path) -> None:
    charge_run(source, "r1")
    measure_once(source, "r1", TABLE, CODEC, Drawer(private=False))
    loaded = load_measurements(source, "r1")
    assert loaded is not None and all(m.private is False for m in loaded)


def test_runs_are_kept_apart(source: Path) -> None:
    charge_run(source, "r1")
    charge_run(source, "r2")
    measure_once(source, "r1", TABLE, CODEC, Drawer())
    draw = Drawer()
    _, reused = measure_once(source, "r2", TABLE, CODEC, draw)
    assert reused is False and draw.calls == 1  # r1's measurements are not r2's
    assert stored_rows(source) == 6
    for run_id in ("r1", "r2"):
        loaded = load_measurements(source, run_id)
        assert loaded is not None and [m.clique for m in loaded] == list(EXACT)


def test_a_failing_draw_stores_nothing_and_can_be_retried(source: Path) -> None:
    charge_run(source, "r1")

    def broken(oracle: CountOracle) -> list[Measurement]:
        oracle.counts([("sex",)])
        raise RuntimeError("sampler crashed")

    with pytest.raises(RuntimeError, match="sampler crashed"):
        measure_once(source, "r1", TABLE, CODEC, broken)
    assert load_measurements(source, "r1") is None
    draw = Drawer()
    _, reused = measure_once(source, "r1", TABLE, CODEC, draw)
    assert reused is False and draw.calls == 1


def test_load_from_a_missing_file_is_none(tmp_path: Path) -> None:
    assert load_measurements(tmp_path / "absent.duckdb", "r1") is None


def test_concurrent_measurers_store_one_draw(source: Path) -> None:
    charge_run(source, "r1")
    barrier = threading.Barrier(4)
    results: list[tuple[list[Measurement], bool]] = []
    errors: list[BaseException] = []

    def work() -> None:
        barrier.wait()
        try:
            results.append(measure_once(source, "r1", TABLE, CODEC, Drawer()))
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)

    assert errors == []
    assert sum(not reused for _, reused in results) == 1  # exactly one draw was kept
    stored = load_measurements(source, "r1")
    assert stored is not None and stored_rows(source) == 3
    for measurements, _ in results:
        for a, b in zip(measurements, stored, strict=True):
            np.testing.assert_array_equal(a.values, b.values)


def test_coarsened_measurements_keep_their_group_maps(tmp_path: Path) -> None:
    """AIM may measure a marginal with merged codes; a reload must give back the same maps."""
    path = tmp_path / "w.duckdb"
    codec = TableCodec(
        (
            ColumnCodec("a", "category", categories=("x", "y", "z")),
            ColumnCodec("b", "integer", edges=(0.0, 1.0, 2.0, 3.0, 4.0)),
        )
    )
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE SCHEMA raw")
        con.execute("CREATE TABLE raw.t AS SELECT 'x' AS a, 1 AS b FROM range(10)")
    register_budget(path, TABLE, PrivacyCap(4.0, 1e-6))
    charge(
        path,
        dataset="raw.t",
        run_id="r",
        release="t",
        spec_hash="h",
        cost=PrivacyCost(1.0, 1e-9),
        cap=PrivacyCap(4.0, 1e-6),
    )
    coarse = CoarseMeasurement(("a", "b"), np.arange(6), 2.0, True, ((), (0, 0, 1, 1)))
    plain = Measurement(("a",), np.array([10, 0, 0]), 3.0, True)
    _, reused = measure_once(path, "r", "raw.t", codec, lambda oracle: [coarse, plain])
    assert not reused
    loaded = load_measurements(path, "r")
    assert loaded is not None
    assert isinstance(loaded[0], CoarseMeasurement) and loaded[0].groups == ((), (0, 0, 1, 1))
    assert not isinstance(loaded[1], CoarseMeasurement)
    assert (loaded[0].values == coarse.values).all() and loaded[1].sigma == 3.0


@pytest.mark.parametrize("k", [1, 3])
def test_a_runs_spend_is_recomputed_from_its_stored_parameters(source: Path, k: int) -> None:
    """Sigma, the selection epsilon and the sensitivity are stored with every measurement, so
    the history can show what the run's mechanisms spent beside its charge."""
    from dpcore.noise import seeded_source
    from dpcore.synth.registry import get_synthesizer
    from dpcore.units import PrivacyUnit
    from warehouse.ledger import history
    from warehouse.measurements import recomputed_spend

    with duckdb.connect(str(source)) as con:
        con.execute("ALTER TABLE raw.t ADD COLUMN pid INTEGER DEFAULT 7")
    unit = PrivacyUnit("pid", k) if k > 1 else PrivacyUnit()
    charge_run(source, "run-1")
    charge_run(source, "run-2")  # charged, never measured
    rho = 0.01 / k**2  # what the synthesizer is handed (dpcore.calculus.ZCDP.unit_budget)
    mst = get_synthesizer("mst")

    def draw(oracle: CountOracle) -> list[Measurement]:
        return mst.measure(CODEC.domain, rho, oracle, seeded_source(3))

    measurements, _ = measure_once(source, "run-1", TABLE, CODEC, draw, unit)
    assert sum(m.selection_epsilon > 0 for m in measurements) == 1  # one tree edge chosen
    stored = load_measurements(source, "run-1")
    assert stored is not None
    assert [m.selection_epsilon for m in stored] == [m.selection_epsilon for m in measurements]
    spend = recomputed_spend(source, ["run-1", "run-2"])
    assert spend["run-1"] == pytest.approx(0.01, rel=1e-9)
    assert spend["run-2"] is None
    rows = {h.charge.run_id: h for h in history(source, TABLE)}
    assert rows["run-1"].recomputed == pytest.approx(float(rows["run-1"].charge.rho))
    assert rows["run-2"].as_dict()["recomputed_rho"] is None


CHARGE_OTHER = """
import json, sys, time
from decimal import Decimal
from pathlib import Path
from dpcore.accounting import PrivacyCap, PrivacyCost
from warehouse.ledger import charge

class Fixed(PrivacyCost):
    @property
    def ledger_rho(self):
        return Decimal("0.01")

class Cap(PrivacyCap):
    @property
    def ledger_rho(self):
        return Decimal("1")

begin = time.monotonic()
charge(Path(sys.argv[1]), dataset="raw.other", run_id="other-run", release="other",
       spec_hash="h", cost=Fixed(0.5, 1e-6), cap=Cap(10.0, 1e-6))
print(json.dumps({"seconds": time.monotonic() - begin, "ended": time.time()}))
"""
# The charge above, timed (not its imports): how long another dataset's charge waited.


def test_a_long_draw_holds_no_write_transaction(source: Path) -> None:
    """While a synthesizer works on the counts (AIM's rounds take seconds), another process
    can charge: this one holds the warehouse (its gate) only for the scan and the short
    store. The old measure step drew inside its write transaction, so the charge waited."""
    charge_run(source, "r1")
    register_budget(source, "raw.other", FixedCap(10.0, 1e-6))
    drawing, go_on = threading.Event(), threading.Event()
    outcome: list[object] = []

    def slow(oracle: CountOracle) -> list[Measurement]:
        counts = oracle.counts(list(EXACT))  # answered from the counted tables
        drawing.set()
        assert go_on.wait(timeout=120)  # "fitting", for as long as the other charge takes
        return [Measurement(c, v, 1.0) for c, v in zip(EXACT, counts, strict=True)]

    def measure() -> None:
        try:
            outcome.append(measure_once(source, "r1", TABLE, CODEC, slow, candidates=list(EXACT)))
        except BaseException as error:
            outcome.append(error)

    worker = threading.Thread(target=measure)
    worker.start()
    assert drawing.wait(timeout=60)
    try:
        done = subprocess.run(
            [sys.executable, "-c", CHARGE_OTHER, str(source)],
            capture_output=True,
            text=True,
            timeout=60,  # the gate would be held for as long as the draw
            cwd=Path(__file__).resolve().parents[2],
        )
        assert done.returncode == 0, done.stderr[-2000:]
        assert worker.is_alive()  # the charge went through while the draw was still running
    finally:
        go_on.set()
        worker.join(timeout=60)
    (result,) = outcome
    assert isinstance(result, tuple) and result[1] is False
    assert stored_rows(source) == 3
