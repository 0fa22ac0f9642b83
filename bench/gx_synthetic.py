"""Time and peak memory of a release's utility step, where Great Expectations validates the
synthetic table, side by side for two checkouts.

Run ``.venv/bin/python bench/gx_synthetic.py [--before /work/main] [--rows N ...]
[--repetitions 3]``. Each measurement is a fresh process (this script with ``--one``) run
from one checkout: it seeds a temporary home with the bundled Adult data, measures the Adult
spec's marginals with the ``independent`` method and seeded (not private) noise, fits and
samples ``N`` synthetic rows (default: the noisy total, ~48,800), spooling them as a release
does (``spool=True``, where the checkout's ``synthesize_fn`` has it), then times
``tasks.utility.check_utility_fn`` with Great Expectations in its child process, as a run
does, and reads the child's peak RSS: its own ``VmHWM`` (``/proc/<pid>/status``, polled
every 50 ms while it runs), and ``RUSAGE_CHILDREN``, which also counts the parent's RSS when
it spawned the child (Linux keeps the pre-``exec`` high-water mark), so it reads high once
the parent holds a large table. It also reads the step's CPU time in this process, and
times producing the same batches again without GX (read from the spool, or sampled again).
Checkouts alternate, so both see the same machine load.
Results are merged into ``bench/results/gx_synthetic.json`` (one entry per checkout and
rows).
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parents[1]
RESULTS = HERE / "bench" / "results" / "gx_synthetic.json"


def adult_table(rows: int | None) -> tuple[Any, Any, Any, Any]:
    """A fresh home with the Adult data, and the Adult spec's request, synthetic table and
    seeded measurements (independent method): ``(paths, request, table, measurements)``."""
    import duckdb
    import yaml

    from dpcore.noise import seeded_source
    from flows.spec import load_spec
    from tasks.synthesize import synthesize_fn
    from warehouse.paths import WarehousePaths
    from warehouse.seed import seed_adult
    from warehouse.source import DuckDBOracle

    tmp = Path(tempfile.mkdtemp(prefix="gx-bench-"))
    paths = WarehousePaths.from_env(tmp / "home")
    seed_adult(paths.warehouse)
    data = yaml.safe_load((Path.cwd() / "deployments" / "specs" / "adult.yaml").read_text())
    data.pop("constraints", None)
    data["synthesizer"] = {"method": "independent", "rows": rows if rows else "noisy"}
    spec = tmp / "adult.yaml"
    spec.write_text(yaml.safe_dump(data))
    request = load_spec(spec).to_request(str(spec))
    synthesizer = request.synthesizer()
    with duckdb.connect(str(paths.warehouse), read_only=True) as con:
        oracle = DuckDBOracle(con, request.source_table, request.codec)
        measurements = synthesizer.measure(
            request.codec.domain, request.measure_rho, oracle, seeded_source(1)
        )
    spool: dict[str, Any] = {}
    if "spool" in inspect.signature(synthesize_fn).parameters:  # as the release flow does
        spool = {"home": str(paths.home), "spool": True}
    return paths, request, synthesize_fn(request, measurements, **spool), measurements


class ChildPeak:
    """The largest ``VmHWM`` (peak RSS since ``exec``) of this process's children, polled
    from ``/proc`` by a thread while the block runs (a child's last 50 ms may be missed)."""

    def __init__(self, interval_s: float = 0.05) -> None:
        self.interval_s = interval_s
        self.mb = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def __enter__(self) -> ChildPeak:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _poll(self) -> None:
        me = str(os.getpid())
        while not self._stop.wait(self.interval_s):
            for status in Path("/proc").glob("[0-9]*/status"):
                try:
                    fields = dict(
                        line.split(":", 1)
                        for line in status.read_text().splitlines()
                        if ":" in line
                    )
                except OSError:
                    continue
                if fields.get("PPid", "").strip() == me and "VmHWM" in fields:
                    kb = float(fields["VmHWM"].split()[0])
                    self.mb = max(self.mb, kb / 1024)


def one(rows: int | None) -> dict[str, Any]:
    """One utility step on a fresh Adult table (in the checkout on ``sys.path``)."""
    from expectations import child
    from tasks.utility import check_utility_fn

    paths, request, table, measurements = adult_table(rows)
    child.set_inline(False)
    kwargs: dict[str, Any] = {}
    if "run_id" in inspect.signature(check_utility_fn).parameters:
        kwargs = {"run_id": "bench-run", "home": str(paths.home)}
    with ChildPeak() as peak:
        started, cpu = time.perf_counter(), time.process_time()
        report = check_utility_fn(request, table, measurements, **kwargs)
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    produce_s = _produce_seconds(table)
    docs = paths.reports / "data-docs" / "bench-run" / "index.html"
    result = {
        "rows": table.rows,
        "spooled": getattr(table, "spool", None) is not None,
        "seconds": seconds,
        "parent_cpu_s": cpu,
        "produce_s": produce_s,
        "child_peak_mb": peak.mb,
        "child_peak_rusage_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
        "passed": report.success,
        "checks": len(report.checks),
        "data_docs": docs.is_file(),
    }
    shutil.rmtree(paths.home.parent, ignore_errors=True)  # the temporary home (adult_table)
    return result


def _produce_seconds(table: Any) -> float:
    """Seconds to produce the batches the step hands GX, without GX: read from the spool
    where the checkout does that (``SyntheticTable.batches``), else sampled again."""
    from expectations.synthetic_suite import BATCH_ROWS

    started = time.perf_counter()
    batches = table.batches(BATCH_ROWS) if hasattr(table, "batches") else table.frames()
    for _ in batches:
        pass
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", default="/work/main", help="the checkout to compare with")
    parser.add_argument("--rows", type=float, nargs="*", default=[0])
    parser.add_argument("--repetitions", type=int, default=3)
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one(int(args.rows[0]) or None)))
        return
    trees = {"before": Path(args.before).resolve(), "after": HERE}
    results: dict[str, list[dict[str, Any]]] = {}
    for rows in args.rows:
        for _ in range(args.repetitions):
            for label, tree in trees.items():
                done = subprocess.run(
                    [
                        sys.executable,
                        str(HERE / "bench" / "gx_synthetic.py"),
                        "--one",
                        "--rows",
                        str(int(rows)),
                    ],
                    cwd=tree,
                    env={**_env(), "PYTHONPATH": str(tree)},
                    capture_output=True,
                    text=True,
                    check=False,
                )
                if done.returncode != 0:
                    raise SystemExit(f"{label} failed:\n{done.stderr[-3000:]}")
                result = json.loads(done.stdout.strip().splitlines()[-1])
                results.setdefault(f"{label}:{int(rows)}", []).append(result)
    print(
        f"{'checkout':<8} {'rows':>11} {'utility step s':>15} {'its CPU s here':>15} "
        f"{'batches alone s':>16} {'GX child peak MB':>17}  (medians)"
    )
    summary = {}
    for key, runs in results.items():
        label, _ = key.split(":")
        seconds = statistics.median(r["seconds"] for r in runs)
        peak = statistics.median(r["child_peak_mb"] for r in runs)
        summary[key] = {"median_seconds": seconds, "median_child_peak_mb": peak, "runs": runs}
        cpu = statistics.median(r["parent_cpu_s"] for r in runs)
        produce = statistics.median(r["produce_s"] for r in runs)
        summary[key].update(median_parent_cpu_s=cpu, median_produce_s=produce)
        print(
            f"{label:<8} {runs[0]['rows']:>11,} {seconds:>15.2f} {cpu:>15.2f} {produce:>16.2f} "
            f"{peak:>17.1f}"
        )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    previous = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    entry = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": platform.platform(),
        "load_average": list(_load()),
    }
    merged = previous.get("results", {})
    merged.update({key: {**entry, **value} for key, value in summary.items()})
    RESULTS.write_text(json.dumps({"results": merged}, indent=2))


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}


def _load() -> tuple[float, ...]:
    return os.getloadavg()


if __name__ == "__main__":
    main()
