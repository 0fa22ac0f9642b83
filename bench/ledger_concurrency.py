"""Concurrent charges against one dataset's cap: exactly as many succeed as the cap admits.

Run ``.venv/bin/python bench/ledger_concurrency.py [--repetitions 20]``. Each repetition
starts 16 charges at once against a fresh warehouse file, in four scenarios:

* ``threads/rho``: 16 threads in one process, each charging rho = 0.15 against a cap of
  rho = 1.0 (exact ledger decimals): floor(1.0 / 0.15) = 6 must succeed;
* ``processes/rho``: the same from 4 processes of 4 threads (as Prefect workers would be),
  which also contend for DuckDB's one-writer-per-file lock;
* ``threads/eps`` and ``processes/eps``: costs and cap given as (epsilon, delta),
  (0.3, 1e-7) against (1.0, 1e-6); the expected count is what ``dpcore.accounting`` admits,
  ``BudgetState(...).runs_left(cost.ledger_rho)``, capped at the 16 attempts.

Every repetition checks that exactly the expected number succeeded, the rest were refused
with ``BudgetExhaustedError`` (no other error), the ledger's chain verifies and its total
never exceeds the cap. Prints a table (with the median wall time per repetition, from
release to the last charge's answer) and writes ``bench/results/ledger_concurrency.json``;
exits 1 if any repetition was not exact.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import duckdb

from dpcore.accounting import BudgetState, PrivacyCap, PrivacyCost, eps_from_rho
from dpcore.errors import BudgetExhaustedError
from warehouse import ledger

RESULTS = Path(__file__).resolve().parent / "results" / "ledger_concurrency.json"
DATASET = "raw.adult"
ATTEMPTS = 16
PROCESSES = 4
DELTA = 1e-6


@dataclass(frozen=True)
class RhoCost(PrivacyCost):
    """A cost stated directly in rho (the ledger's unit), as the issue states it."""

    exact_rho: Decimal = Decimal(0)

    @property
    def ledger_rho(self) -> Decimal:
        return self.exact_rho


@dataclass(frozen=True)
class RhoCap(PrivacyCap):
    """A cap stated directly in rho."""

    exact_rho: Decimal = Decimal(0)

    @property
    def ledger_rho(self) -> Decimal:
        return self.exact_rho


def rho_cost(rho: str) -> RhoCost:
    return RhoCost(eps_from_rho(float(rho), DELTA), DELTA, Decimal(rho))


def rho_cap(rho: str) -> RhoCap:
    return RhoCap(eps_from_rho(float(rho), DELTA), DELTA, Decimal(rho))


# Scenario unit -> (cost, cap). The cap of an eps/delta scenario is a plain PrivacyCap.
UNITS: dict[str, tuple[PrivacyCost, PrivacyCap]] = {
    "rho": (rho_cost("0.15"), rho_cap("1.0")),
    "eps": (PrivacyCost(0.3, 1e-7), PrivacyCap(1.0, DELTA)),
}


def expected_successes(unit: str) -> int:
    """How many of the attempts the accountant admits from an empty budget."""
    cost, cap = UNITS[unit]
    return min(ATTEMPTS, BudgetState(DATASET, cap, Decimal(0)).runs_left(cost.ledger_rho))


def attempt(path: Path, run_id: str, unit: str) -> str:
    """One charge: "ok", "refused", or the error's type name."""
    cost, cap = UNITS[unit]
    try:
        ledger.charge(
            path,
            dataset=DATASET,
            run_id=run_id,
            release="bench",
            spec_hash="bench",
            cost=cost,
            cap=cap,
        )
    except BudgetExhaustedError:
        return "refused"
    except Exception as error:
        return f"{type(error).__name__}: {str(error)[:160]}"
    return "ok"


class Race:
    """``threads`` charges started now, each waiting at a gate until :meth:`release`."""

    def __init__(self, path: Path, prefix: str, unit: str, threads: int) -> None:
        self.gate = threading.Event()
        self.outcomes: list[str] = []
        self._lock = threading.Lock()
        self._threads = [
            threading.Thread(target=self._work, args=(path, f"{prefix}-{i}", unit))
            for i in range(threads)
        ]
        for t in self._threads:
            t.start()

    def _work(self, path: Path, run_id: str, unit: str) -> None:
        self.gate.wait()
        outcome = attempt(path, run_id, unit)
        with self._lock:
            self.outcomes.append(outcome)

    def release(self) -> list[str]:
        """Open the gate; wait for every charge and return the outcomes."""
        self.gate.set()
        for t in self._threads:
            t.join()
        return self.outcomes


def worker() -> None:
    """A charging process: per job line, start its threads, say ready, charge on "go"."""
    for line in sys.stdin:
        job = json.loads(line)
        race = Race(Path(job["path"]), job["prefix"], job["unit"], job["threads"])
        print("ready", flush=True)
        sys.stdin.readline()  # "go"
        print(json.dumps(race.release()), flush=True)


class Workers:
    """``PROCESSES`` long-lived charging processes (started once, reused per repetition)."""

    def __init__(self) -> None:
        self.procs = [
            subprocess.Popen(
                [sys.executable, __file__, "--worker"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
            for _ in range(PROCESSES)
        ]

    def run(self, path: Path, unit: str) -> tuple[list[str], float]:
        per_process = ATTEMPTS // PROCESSES
        for k, p in enumerate(self.procs):
            job = {"path": str(path), "prefix": f"p{k}", "unit": unit, "threads": per_process}
            self._send(p, json.dumps(job))
        for p in self.procs:
            assert p.stdout is not None and p.stdout.readline().strip() == "ready"
        start = time.perf_counter()
        for p in self.procs:
            self._send(p, "go")
        outcomes: list[str] = []
        for p in self.procs:
            assert p.stdout is not None
            outcomes.extend(json.loads(p.stdout.readline()))
        return outcomes, time.perf_counter() - start

    @staticmethod
    def _send(p: subprocess.Popen[str], text: str) -> None:
        assert p.stdin is not None
        p.stdin.write(text + "\n")
        p.stdin.flush()

    def close(self) -> None:
        for p in self.procs:
            assert p.stdin is not None
            p.stdin.close()
            p.wait(timeout=30)


def run_threads(path: Path, unit: str) -> tuple[list[str], float]:
    race = Race(path, "t", unit, ATTEMPTS)
    time.sleep(0.05)  # let the threads reach the gate
    start = time.perf_counter()
    outcomes = race.release()
    return outcomes, time.perf_counter() - start


def check_ledger(path: Path, unit: str, successes: int) -> dict[str, Any]:
    """The ledger after a repetition: verified chain, total, and whether it is within cap."""
    state = ledger.budget_state(path, DATASET)  # verifies the hash chain
    assert state is not None
    rows = ledger.history(path, DATASET)
    cost, _ = UNITS[unit]
    return {
        "spent_rho": str(state.spent),
        "cap_rho": str(state.cap_amount),
        "within_cap": state.spent <= state.cap_amount,
        "charges": len(rows),
        "total_matches": state.spent == cost.ledger_rho * successes == len(rows) * cost.ledger_rho,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--repetitions", type=int, default=20)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker()
        return 0

    workers = Workers()
    scenarios: dict[str, dict[str, Any]] = {}
    try:
        with tempfile.TemporaryDirectory(prefix="dprelease-bench-") as tmp:
            for mode in ("threads", "processes"):
                for unit in UNITS:
                    expected = expected_successes(unit)
                    reps = []
                    for rep in range(args.repetitions):
                        path = Path(tmp) / f"{mode}-{unit}-{rep}.duckdb"
                        ledger.register_budget(path, DATASET, UNITS[unit][1])
                        if mode == "threads":
                            outcomes, wall = run_threads(path, unit)
                        else:
                            outcomes, wall = workers.run(path, unit)
                        ok = outcomes.count("ok")
                        refused = outcomes.count("refused")
                        others = sorted(o for o in outcomes if o not in ("ok", "refused"))
                        ledger_check = check_ledger(path, unit, ok)
                        exact = (
                            ok == expected
                            and refused == ATTEMPTS - expected
                            and not others
                            and ledger_check["within_cap"]
                            and ledger_check["total_matches"]
                        )
                        reps.append(
                            {
                                "ok": ok,
                                "refused": refused,
                                "errors": others,
                                "wall_s": wall,
                                "exact": exact,
                                **ledger_check,
                            }
                        )
                    walls = [r["wall_s"] for r in reps]
                    scenarios[f"{mode}/{unit}"] = {
                        "attempts": ATTEMPTS,
                        "processes": 1 if mode == "threads" else PROCESSES,
                        "cost": _describe(UNITS[unit][0]),
                        "cap": _describe(UNITS[unit][1]),
                        "expected": expected,
                        "all_exact": all(r["exact"] for r in reps),
                        "successes_seen": sorted({r["ok"] for r in reps}),
                        "max_spent_rho": max(Decimal(r["spent_rho"]) for r in reps),
                        "median_wall_s": statistics.median(walls),
                        "max_wall_s": max(walls),
                        "repetitions": reps,
                    }
    finally:
        workers.close()

    print_table(scenarios)
    report = {
        "python": platform.python_version(),
        "duckdb": duckdb.__version__,
        "machine": platform.machine(),
        "repetitions": args.repetitions,
        "scenarios": scenarios,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2, default=str) + "\n")
    print(f"wrote {RESULTS}")
    return 0 if all(s["all_exact"] for s in scenarios.values()) else 1


def _describe(budget: PrivacyCost | PrivacyCap) -> dict[str, str]:
    return {
        "epsilon": f"{budget.epsilon:.6g}",
        "delta": f"{budget.delta:g}",
        "ledger_rho": str(budget.ledger_rho),
    }


def print_table(scenarios: dict[str, dict[str, Any]]) -> None:
    header = (
        f"{'scenario':<16}{'attempts':>9}{'expected':>9}{'succeeded':>11}{'exact':>7}"
        f"{'max spent / cap rho':>26}{'median s':>10}{'max s':>8}"
    )
    print(header)
    print("-" * len(header))
    for name, s in scenarios.items():
        seen = ",".join(str(n) for n in s["successes_seen"])
        spent = f"{float(s['max_spent_rho']):.6g} / {float(Decimal(s['cap']['ledger_rho'])):.6g}"
        print(
            f"{name:<16}{s['attempts']:>9}{s['expected']:>9}{seen:>11}"
            f"{'yes' if s['all_exact'] else 'NO':>7}{spent:>26}"
            f"{s['median_wall_s']:>10.3f}{s['max_wall_s']:>8.3f}"
        )


if __name__ == "__main__":
    sys.exit(main())
