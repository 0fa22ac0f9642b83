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

* ``hosts/rho`` and ``hosts/eps`` (PostgreSQL store, skipped with a reason when the server
  binaries are missing, ``--no-postgres`` to skip): 3 "hosts", processes with separate
  homes (``$DPRELEASE_HOME``) sharing one ledger through ``$DPRELEASE_DATABASE_URL``, each
  starting 8 charges at once (24 attempts) against one cap paying for 6 (rho 0.15 against
  1.0). The cluster is a temporary one on a loopback port (``tests/postgres_cluster.py``).

Every repetition checks that exactly the expected number succeeded, the rest were refused
with ``BudgetExhaustedError`` (no other error), the ledger's chain verifies and its total
never exceeds the cap. Prints a table (with the median wall time per repetition, from
release to the last charge's answer) and writes ``bench/results/ledger_concurrency.json``;
exits 1 if any repetition was not exact.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import duckdb

from dpcore.accounting import BudgetState, PrivacyCap, PrivacyCost, eps_from_rho
from dpcore.errors import BudgetExhaustedError
from tests.postgres_cluster import missing_reason, temporary_cluster
from warehouse import ledger
from warehouse.store import DATABASE_URL_ENV

RESULTS = Path(__file__).resolve().parent / "results" / "ledger_concurrency.json"
DATASET = "raw.adult"
ATTEMPTS = 16
PROCESSES = 4
HOSTS = 3
PER_HOST = 8
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


def expected_successes(unit: str, attempts: int = ATTEMPTS) -> int:
    """How many of the attempts the accountant admits from an empty budget."""
    cost, cap = UNITS[unit]
    return min(attempts, BudgetState(DATASET, cap, Decimal(0)).runs_left(cost.ledger_rho))


def attempt(path: Path, run_id: str, unit: str, dataset: str = DATASET) -> str:
    """One charge: "ok", "refused", or the error's type name."""
    cost, cap = UNITS[unit]
    try:
        ledger.charge(
            path,
            dataset=dataset,
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

    def __init__(
        self, path: Path, prefix: str, unit: str, threads: int, dataset: str = DATASET
    ) -> None:
        self.gate = threading.Event()
        self.outcomes: list[str] = []
        self._lock = threading.Lock()
        self._threads = [
            threading.Thread(target=self._work, args=(path, f"{prefix}-{i}", unit, dataset))
            for i in range(threads)
        ]
        for t in self._threads:
            t.start()

    def _work(self, path: Path, run_id: str, unit: str, dataset: str) -> None:
        self.gate.wait()
        outcome = attempt(path, run_id, unit, dataset)
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
        race = Race(Path(job["path"]), job["prefix"], job["unit"], job["threads"], job["dataset"])
        print("ready", flush=True)
        sys.stdin.readline()  # "go"
        print(json.dumps(race.release()), flush=True)


class Workers:
    """Long-lived charging processes (started once, reused per repetition): ``PROCESSES``
    sharing one warehouse file, or, given ``homes`` and a ``database_url``, one "host" per
    home, each with its own ``$DPRELEASE_HOME`` and the shared PostgreSQL ledger."""

    def __init__(self, homes: list[Path] | None = None, database_url: str | None = None) -> None:
        self.homes = homes
        envs: list[dict[str, str] | None] = [None] * PROCESSES
        if homes is not None:
            assert database_url is not None
            envs = [
                {**os.environ, "DPRELEASE_HOME": str(h), DATABASE_URL_ENV: database_url}
                for h in homes
            ]
        self.procs = [
            subprocess.Popen(
                [sys.executable, __file__, "--worker"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
                env=env,
            )
            for env in envs
        ]

    def run(
        self, path: Path, unit: str, attempts: int = ATTEMPTS, dataset: str = DATASET, rep: int = 0
    ) -> tuple[list[str], float]:
        per_process = attempts // len(self.procs)
        for k, p in enumerate(self.procs):
            own = path if self.homes is None else self.homes[k] / "warehouse.duckdb"
            job = {
                "path": str(own),
                "prefix": f"{unit}-r{rep}-p{k}",
                "unit": unit,
                "threads": per_process,
                "dataset": dataset,
            }
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


def check_ledger(path: Path, unit: str, successes: int, dataset: str = DATASET) -> dict[str, Any]:
    """The ledger after a repetition: verified chain, total, and whether it is within cap."""
    state = ledger.budget_state(path, dataset)  # verifies the hash chain
    assert state is not None
    rows = ledger.history(path, dataset)
    cost, _ = UNITS[unit]
    return {
        "spent_rho": str(state.spent),
        "cap_rho": str(state.cap_amount),
        "within_cap": state.spent <= state.cap_amount,
        "charges": len(rows),
        "total_matches": state.spent == cost.ledger_rho * successes == len(rows) * cost.ledger_rho,
    }


RunOne = Callable[[int], tuple[Path, str, list[str], float]]


def scenario(
    unit: str, attempts: int, processes: int, repetitions: int, run_one: RunOne
) -> dict[str, Any]:
    """``repetitions`` races (``run_one(rep)`` registers a fresh budget, races its charges and
    returns the ledger's path, dataset, outcomes and wall time), each checked exactly."""
    expected = expected_successes(unit, attempts)
    reps = []
    for rep in range(repetitions):
        path, dataset, outcomes, wall = run_one(rep)
        ok = outcomes.count("ok")
        refused = outcomes.count("refused")
        others = sorted(o for o in outcomes if o not in ("ok", "refused"))
        ledger_check = check_ledger(path, unit, ok, dataset)
        exact = (
            ok == expected
            and refused == attempts - expected
            and not others
            and ledger_check["within_cap"]
            and ledger_check["total_matches"]
        )
        reps.append(
            {"ok": ok, "refused": refused, "errors": others, "wall_s": wall, "exact": exact,
             **ledger_check}
        )  # fmt: skip
    walls = [r["wall_s"] for r in reps]
    return {
        "attempts": attempts,
        "processes": processes,
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


def duckdb_scenarios(tmp: Path, repetitions: int) -> dict[str, dict[str, Any]]:
    """Threads and processes sharing one DuckDB warehouse file per repetition."""
    workers = Workers()
    scenarios: dict[str, dict[str, Any]] = {}
    try:
        for mode in ("threads", "processes"):
            for unit in UNITS:

                def run_one(rep: int, mode: str = mode, unit: str = unit) -> Any:
                    path = tmp / f"{mode}-{unit}-{rep}.duckdb"
                    ledger.register_budget(path, DATASET, UNITS[unit][1])
                    if mode == "threads":
                        return (path, DATASET, *run_threads(path, unit))
                    return (path, DATASET, *workers.run(path, unit, rep=rep))

                processes = 1 if mode == "threads" else PROCESSES
                scenarios[f"{mode}/{unit}"] = scenario(
                    unit, ATTEMPTS, processes, repetitions, run_one
                )
    finally:
        workers.close()
    return scenarios


def postgres_scenarios(tmp: Path, repetitions: int) -> dict[str, dict[str, Any]]:
    """``HOSTS`` processes with separate homes charging one PostgreSQL ledger."""
    attempts = HOSTS * PER_HOST
    scenarios: dict[str, dict[str, Any]] = {}
    with temporary_cluster() as cluster:
        url = cluster.new_database()
        homes = [tmp / f"host-{k}" for k in range(HOSTS)]
        for home in homes:
            home.mkdir()
        os.environ[DATABASE_URL_ENV] = url  # this process registers and checks
        workers = Workers(homes, url)
        try:
            for unit in UNITS:

                def run_one(rep: int, unit: str = unit) -> Any:
                    dataset = f"raw.adult_{unit}_{rep}"  # a fresh budget per repetition
                    path = tmp / "officer" / "warehouse.duckdb"
                    ledger.register_budget(path, dataset, UNITS[unit][1])
                    outcomes, wall = workers.run(path, unit, attempts, dataset, rep)
                    return path, dataset, outcomes, wall

                scenarios[f"hosts/{unit}"] = scenario(unit, attempts, HOSTS, repetitions, run_one)
        finally:
            workers.close()
            del os.environ[DATABASE_URL_ENV]
    return scenarios


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--repetitions", type=int, default=20)
    parser.add_argument("--no-postgres", action="store_true", help="skip the PostgreSQL mode")
    parser.add_argument("--no-duckdb", action="store_true", help="skip the DuckDB modes")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker()
        return 0

    with tempfile.TemporaryDirectory(prefix="dprelease-bench-") as tmp:
        scenarios = {} if args.no_duckdb else duckdb_scenarios(Path(tmp), args.repetitions)
        skipped = "--no-postgres" if args.no_postgres else missing_reason()
        if skipped is None:
            scenarios |= postgres_scenarios(Path(tmp), args.repetitions)
        else:
            print(f"PostgreSQL mode skipped: {skipped}")

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
