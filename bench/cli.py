"""The command line's own costs: run overhead, first start, refusals, light commands, memory,
and concurrent runs under load against a cap that pays for exactly three.

Run ``.venv/bin/python bench/cli.py [--repetitions 5] [--quick]``. Every figure comes from
``dprelease`` processes started as a user would start them (no ``PREFECT_API_URL``: each
home gets its own local Prefect server, started by its first command):

* ``warm run``: the Adult spec at epsilon 1 (default method) in a home whose server and warm
  runner already run; wall time against the flow's own step times (the progress lines'
  sum), median of 5;
* ``runner start``: the first run after ``dprelease server start`` (it starts the warm
  runner, which imports Prefect and the flows: what every run paid before the runner);
* ``first command``: the same run in a fresh home, which starts the server and the runner;
* refusals that need no source row (an epsilon above the spec's, an exhausted budget, a
  missing table, a missing column, a drifted type): median of 5 each; each must exit 2 with
  one paragraph, no traceback, and start no server and no runner;
* ``plan`` and ``budget``: median of 5;
* the run process's peak memory (from ``wait4`` in the warm runner, which forked it: the
  largest maximum resident set of the run's process and of the children it waited for,
  i.e. the Great Expectations child of its utility step; the largest, not their sum;
  reported through ``$DPRELEASE_RUN_USAGE_FILE``); the command's own process beside it;
* concurrency: 8 ``dprelease run`` at once in a fresh home, on a copy of the Adult spec
  (method ``independent``, to keep repetitions short) whose cap pays for exactly 3 runs,
  while two CPU-burning processes run beside them: exactly 3 must publish, the other 5 exit
  2 with the budget message, no output may hold a traceback, and exactly one server and
  one warm runner must have been started in the home (counted from their logs).

Prints a table and writes ``bench/results/cli.json``; exits 1 if a check failed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import duckdb
import yaml

from dpcore.accounting import BudgetState, PrivacyCap
from flows.local_api import ServerFiles, read_record, stop_server
from flows.runner_client import USAGE_ENV, RunnerFiles, stop_runners
from flows.spec import load_spec
from warehouse.ledger import charge, register_budget
from warehouse.paths import WarehousePaths
from warehouse.seed import seed_adult

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "cli.json"
ADULT = ROOT / "deployments" / "specs" / "adult.yaml"
DPRELEASE = str(Path(sys.executable).parent / "dprelease")
STEP = re.compile(r"^  (\S.*?)\s+(\d+\.\d) s$", re.M)
BUDGET_MESSAGE = "privacy budget exhausted"
SERVER_BANNER = "Check out the dashboard at"
RUNNER_BANNER = ": listening (idle exit after"


@dataclass(frozen=True)
class Done:
    """One finished ``dprelease`` process."""

    code: int
    seconds: float
    peak_mb: float
    out: str
    err: str
    run_peak_mb: float | None  # the run's process in the warm runner (None: not run there)

    @property
    def steps_s(self) -> float:
        """The flow's own step times, as its progress lines report them."""
        return sum(float(s) for _, s in STEP.findall(self.err))

    @property
    def traceback(self) -> bool:
        return "Traceback" in self.out or "Traceback" in self.err

    @property
    def one_paragraph(self) -> bool:
        """Besides progress lines, stderr is one line: ``dprelease: <what and what to do>``."""
        lines = [line for line in STEP.sub("", self.err).splitlines() if line.strip()]
        return len(lines) == 1 and lines[0].startswith("dprelease: ")


def environment(work: Path) -> dict[str, str]:
    """A user's environment: no Prefect API configured, a private Prefect profile."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "DPRELEASE_"))}
    env["PREFECT_HOME"] = str(work / "client-prefect")
    return env


def start(env: dict[str, str], home: Path, *argv: str) -> tuple[subprocess.Popen[bytes], Any]:
    logs = tempfile.TemporaryDirectory(prefix="dprelease-bench-")
    out = (Path(logs.name) / "out").open("wb")
    err = (Path(logs.name) / "err").open("wb")
    env = {**env, USAGE_ENV: str(Path(logs.name) / "usage.json")}
    proc = subprocess.Popen(
        [DPRELEASE, "--home", str(home), *argv], env=env, cwd=ROOT, stdout=out, stderr=err
    )
    return proc, (logs, out, err, time.monotonic())


def finish(proc: subprocess.Popen[bytes], handle: Any) -> Done:
    """Wait for ``proc`` with ``wait4``, which also gives its peak resident set."""
    logs, out, err, started = handle
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.monotonic() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    out.close()
    err.close()
    usage_file = Path(logs.name) / "usage.json"
    run_usage = json.loads(usage_file.read_text()) if usage_file.exists() else None
    done = Done(
        proc.returncode,
        seconds,
        usage.ru_maxrss / 1024,
        (Path(logs.name) / "out").read_text(errors="replace"),
        (Path(logs.name) / "err").read_text(errors="replace"),
        None if run_usage is None else float(run_usage["peak_mb"]),
    )
    logs.cleanup()
    return done


def run(env: dict[str, str], home: Path, *argv: str) -> Done:
    return finish(*start(env, home, *argv))


def seeded(template: Path, home: Path) -> Path:
    """A home whose warehouse is a copy of the seeded template (seeding once is enough)."""
    home.mkdir(parents=True)
    shutil.copy(template, home / "warehouse.duckdb")
    return home


def register(home: Path, spec: Path) -> Path:
    """Register the spec's cap for its dataset, as the privacy officer does first."""
    request = load_spec(spec).to_request(str(spec))
    register_budget(home / "warehouse.duckdb", request.dataset, request.cap, registered_by="bench")
    return home


def spec_copy(work: Path, name: str, **privacy: object) -> Path:
    data = yaml.safe_load(ADULT.read_text())
    data["privacy"].update(privacy)
    path = work / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def cap_for_exactly(runs: int, spec: Path) -> float:
    """A cap epsilon (at the spec's cap delta) that pays for exactly ``runs`` runs."""
    request = load_spec(spec).to_request(str(spec))
    rho, delta = request.cost.ledger_rho, request.cap.delta
    for i in range(1, 4000):
        epsilon = i / 400
        state = BudgetState(request.dataset, PrivacyCap(epsilon, delta), Decimal(0))
        if state.runs_left(rho) == runs:
            return epsilon
    raise AssertionError(f"no cap pays for exactly {runs} runs")


def servers_started(home: Path) -> int:
    log = ServerFiles.for_home(home).log
    return log.read_text(errors="replace").count(SERVER_BANNER) if log.exists() else 0


def runners_started(home: Path) -> int:
    log = RunnerFiles.for_home(home).log
    return log.read_text(errors="replace").count(RUNNER_BANNER) if log.exists() else 0


def stop_home(home: Path) -> None:
    stop_runners(home)
    stop_server(home)


def median(values: list[float]) -> float:
    return round(statistics.median(values), 2)


def refusal_cases(work: Path, template: Path, spec: Path) -> dict[str, tuple[Path, list[str]]]:
    """Homes and arguments for each refusal, each expected to refuse before any server."""
    exhausted_spec = spec_copy(work, "exhausted", cap={"epsilon": 1.0, "delta": 1.0e-6})
    exhausted = register(seeded(template, work / "refuse-budget"), exhausted_spec)
    request = load_spec(exhausted_spec).to_request(str(exhausted_spec))
    charge(
        exhausted / "warehouse.duckdb",
        dataset=request.dataset,
        run_id="bench-earlier-run",
        release=request.name,
        spec_hash=request.spec_hash,
        cost=request.cost,
        cap=request.cap,
    )
    cases: dict[str, tuple[Path, list[str]]] = {
        "epsilon above the spec's": (
            register(seeded(template, work / "refuse-epsilon"), spec),
            ["run", str(spec), "--epsilon", "50"],
        ),
        "exhausted budget": (exhausted, ["run", str(exhausted_spec)]),
        "missing table": (work / "refuse-table", ["run", str(spec)]),
    }
    for name, statement in (
        ("missing column", "ALTER TABLE raw.adult DROP COLUMN age"),
        # BOOLEAN: numbers stored as text (VARCHAR) are cast in SQL by design (issue 15).
        ("type drift", "ALTER TABLE raw.adult ALTER age TYPE BOOLEAN"),
    ):
        home = register(seeded(template, work / f"refuse-{name.replace(' ', '-')}"), spec)
        with duckdb.connect(str(home / "warehouse.duckdb")) as con:
            con.execute(statement)
        cases[name] = (home, ["run", str(spec)])
    return cases


def burners(count: int) -> list[subprocess.Popen[bytes]]:
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(count)]


def concurrency(
    work: Path, env: dict[str, str], template: Path, repetitions: int
) -> list[dict[str, Any]]:
    """8 concurrent runs in a fresh home against a cap paying for exactly 3, under load."""
    base = spec_copy(work, "three")
    data = yaml.safe_load(base.read_text())
    data["synthesizer"]["method"] = "independent"
    data.pop("constraints", None)  # the independent method has no joint model to hold them
    base.write_text(yaml.safe_dump(data))
    cap = cap_for_exactly(3, base)
    data["privacy"]["cap"]["epsilon"] = cap
    base.write_text(yaml.safe_dump(data))
    outcomes = []
    for rep in range(repetitions):
        home = register(seeded(template, work / f"concurrent-{rep}"), base)
        load = burners(2)
        started = time.monotonic()
        try:
            procs = [start(env, home, "run", str(base)) for _ in range(8)]
            done = [finish(p, h) for p, h in procs]
        finally:
            for proc in load:
                proc.kill()
                proc.wait()
        wall = time.monotonic() - started
        published = [d for d in done if d.code == 0 and "published release" in d.out]
        refused = [d for d in done if d.code == 2 and BUDGET_MESSAGE in d.err and d.one_paragraph]
        outcome = {
            "repetition": rep,
            "cap_epsilon": cap,
            "published": len(published),
            "refused_with_budget_message": len(refused),
            "exit_codes": sorted(d.code for d in done),
            "tracebacks": sum(d.traceback for d in done),
            "servers_started": servers_started(home),
            "runners_started": runners_started(home),
            "wall_s": round(wall, 1),
        }
        outcome["ok"] = (
            outcome["published"] == 3
            and outcome["refused_with_budget_message"] == 5
            and outcome["tracebacks"] == 0
            and outcome["servers_started"] == 1
            and outcome["runners_started"] == 1
        )
        if not outcome["ok"]:
            outcome["outputs"] = [d.err[-1500:] for d in done if d not in published + refused]
        outcomes.append(outcome)
        stop_home(home)
        print(f"  concurrency repetition {rep + 1}/{repetitions}: {outcome}", flush=True)
    return outcomes


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repetitions", type=int, default=5, help="concurrency repetitions")
    parser.add_argument("--quick", action="store_true", help="3 samples, 2 repetitions")
    args = parser.parse_args()
    samples = 3 if args.quick else 5
    repetitions = 2 if args.quick else args.repetitions
    failures: list[str] = []
    with tempfile.TemporaryDirectory(prefix="dprelease-bench-cli-") as tmp:
        work = Path(tmp)
        env = environment(work)
        template_home = WarehousePaths.from_env(work / "template")
        seed_adult(template_home.warehouse)
        template = template_home.warehouse
        spec = spec_copy(work, "adult", cap={"epsilon": 100.0, "delta": 1.0e-6})
        homes: list[Path] = []
        try:
            first_home = register(seeded(template, work / "first"), spec)
            homes.append(first_home)
            first = run(env, first_home, "run", str(spec))
            warm_home = register(seeded(template, work / "warm"), spec)
            homes.append(warm_home)
            run(env, warm_home, "server", "start")
            runner_start = run(env, warm_home, "run", str(spec))
            warm = [run(env, warm_home, "run", str(spec)) for _ in range(samples)]
            for d in [first, runner_start, *warm]:
                if d.code != 0 or d.traceback:
                    failures.append(f"a run failed: {d.err[-800:]}")
            record = read_record(ServerFiles.for_home(first_home))
            plan = [run(env, warm_home, "plan", str(spec)) for _ in range(samples)]
            budget = [run(env, warm_home, "budget") for _ in range(samples)]
            refusals: dict[str, dict[str, Any]] = {}
            for name, (home, argv) in refusal_cases(work, template, spec).items():
                tries = [run(env, home, *argv) for _ in range(samples)]
                clean = all(d.code == 2 and d.one_paragraph and not d.traceback for d in tries)
                no_server = not ServerFiles.for_home(home).record.exists()
                no_server = no_server and not RunnerFiles.for_home(home).records()
                if not (clean and no_server):
                    failures.append(f"refusal {name!r}: {tries[0].err[-800:]}")
                refusals[name] = {
                    "median_s": median([d.seconds for d in tries]),
                    "exit_2_one_paragraph": clean,
                    "no_server_or_runner_started": no_server,
                    "message": tries[0].err.strip()[:160],
                }
        finally:
            for home in homes:
                stop_home(home)
        concurrent = concurrency(work, env, template, repetitions)
        failures += [f"concurrency repetition {c['repetition']}" for c in concurrent if not c["ok"]]

    warm_wall = median([d.seconds for d in warm])
    warm_steps = median([d.steps_s for d in warm])
    results: dict[str, Any] = {
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
        "samples": samples,
        "warm_run": {
            "median_wall_s": warm_wall,
            "median_steps_s": warm_steps,
            "median_overhead_s": median([d.seconds - d.steps_s for d in warm]),
            "run_peak_mb": round(max(d.run_peak_mb or d.peak_mb for d in warm), 1),
            "command_process_peak_mb": round(max(d.peak_mb for d in warm), 1),
            "through_warm_runner": all(d.run_peak_mb is not None for d in warm),
        },
        "runner_start_run": {
            "wall_s": round(runner_start.seconds, 2),
            "steps_s": round(runner_start.steps_s, 2),
            "overhead_s": round(runner_start.seconds - runner_start.steps_s, 2),
        },
        "first_command": {
            "wall_s": round(first.seconds, 2),
            "steps_s": round(first.steps_s, 2),
            "server_started_at": None if record is None else asdict(record)["started_at"],
            "over_warm_s": round(first.seconds - warm_wall, 2),
        },
        "plan_median_s": median([d.seconds for d in plan]),
        "budget_median_s": median([d.seconds for d in budget]),
        "refusals": refusals,
        "concurrency": concurrent,
        "failures": failures,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2))

    w = results["warm_run"]
    print()
    print("| measure | value |")
    print("|---|---|")
    print(f"| warm `dprelease run` (Adult, eps 1), median wall | {w['median_wall_s']} s |")
    print(f"| ... the flow's own step times, median | {w['median_steps_s']} s |")
    print(f"| ... overhead (wall - steps), median | {w['median_overhead_s']} s |")
    print(f"| run process peak memory (in the warm runner) | {w['run_peak_mb']} MB |")
    print(f"| ... the command's own process | {w['command_process_peak_mb']} MB |")
    rs = results["runner_start_run"]
    print(f"| run starting the warm runner, wall | {rs['wall_s']} s |")
    print(f"| ... its overhead (wall - steps) | {rs['overhead_s']} s |")
    fc = results["first_command"]
    print(f"| first command in a fresh home (starts server and runner) | {fc['wall_s']} s |")
    print(f"| ... more than a warm run | {fc['over_warm_s']} s |")
    print(f"| `dprelease plan`, median | {results['plan_median_s']} s |")
    print(f"| `dprelease budget`, median | {results['budget_median_s']} s |")
    for name, r in refusals.items():
        flags = "exit 2, one paragraph" if r["exit_2_one_paragraph"] else "NOT CLEAN"
        print(f"| refusal: {name}, median | {r['median_s']} s ({flags}) |")
    ok = sum(c["ok"] for c in concurrent)
    print(
        f"| 8 concurrent runs, cap pays for 3, 2 CPU burners: exact | {ok} of "
        f"{len(concurrent)} repetitions |"
    )
    for c in concurrent:
        print(
            f"| ... repetition {c['repetition'] + 1} | {c['published']} published, "
            f"{c['refused_with_budget_message']} refused (budget), {c['tracebacks']} "
            f"tracebacks, {c['servers_started']} server(s) and {c['runners_started']} "
            f"runner(s) started, {c['wall_s']} s |"
        )
    print(f"\nwrote {RESULTS}")
    for failure in failures:
        print(f"FAILED: {failure}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
