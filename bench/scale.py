"""Scale benchmark: a whole release over a generated 15-column source of 10**6 .. 10**8 rows.

For each size, a fresh process generates ``raw.scale`` in DuckDB SQL (no Python rows): 15
columns with correlated values (an age drives education, employment, marital status,
health, tenure and income; a region drives commute and vehicle; sex drives hours) mixing
categories, integers, floats, a category stored as integers, NULLs, missing tokens ("?" on
text, -1 on a DOUBLE) and out-of-range values, with a matching spec (every domain declared;
AIM with ``--time-budget`` seconds, default 30; synthetic rows = the noisy total, i.e. about
the source size; utility thresholds relaxed so a release always publishes). It then times
the floor, one plain ``SELECT cols, count(*) FROM raw.scale GROUP BY ALL`` over the 15 raw
columns (wrapped in ``SELECT count(*)`` so its groups are not fetched into Python), and
runs the release flow itself (``flows.release.release``), recording each step's wall time
and peak resident memory (VmHWM, reset per step through ``/proc/self/clear_refs``) from the
flow's progress events. "count s" is the part of measuring spent reading the source (the
oracle's scans; "count alone" times the same scan outside the flow, in the same process
just before the release); ratio = (validation + measuring) / floor, and "count ratio" =
(validation + count s) / floor. Prefect's start-up (its temporary server) is excluded: it is
timed as the "prefect start-up" gap before the first step.

Usage::

    .venv/bin/python bench/scale.py                  # 10**6 and 10**7 rows
    .venv/bin/python bench/scale.py --sizes 1e6      # one size
    .venv/bin/python bench/scale.py --with-1e8       # adds 10**8 (about 2 GB of disk)
    .venv/bin/python bench/scale.py --method mst --merge   # MST's rounds instead of AIM's
    .venv/bin/python bench/scale.py --sizes 1e7 --baseline main   # beside main's code

"table written once" is the time this code spends writing the synthetic table into its spool
(:mod:`warehouse.spool`) while summarising it; publish / written once is the publish step's
time over it. With ``--baseline REF`` each size also runs from a detached git worktree of
``REF`` (its own ``bench/scale.py`` child, same interpreter), one after the other.

DuckDB runs under ``$DPRELEASE_DUCKDB_MEMORY`` (default 1GB). Writes ``bench/results/scale.json``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.baseline import checkout  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "scale.json"
MARK = "SCALE-RESULT "

EDUCATION = ["none", "primary", "secondary", "vocational", "bachelor", "master", "doctorate"]
EMPLOYMENT = ["employed", "self", "unemployed", "retired", "student"]
MARRIED = ["single", "married", "divorced", "widowed"]
HEALTH = ["excellent", "good", "fair", "poor", "bad"]
VEHICLE = ["none", "car", "bike", "transit"]


def _u(k: int) -> str:
    """A uniform [0, 1) draw per row, from a hash of the row number (parallel, repeatable)."""
    return f"(hash(i, {k}) % 1000003) / 1000003.0"


def _pick(values: list[str], index: str) -> str:
    """SQL picking ``values[index]`` (0-based index expression, clipped to the list)."""
    listed = "[" + ", ".join(f"'{v}'" for v in values) + "]"
    return f"{listed}[1 + least({len(values) - 1}, greatest(0, CAST(floor({index}) AS INTEGER)))]"


def generate_sql(rows: int) -> str:
    """``CREATE TABLE raw.scale``: ``rows`` rows of 15 correlated columns."""
    draws = ", ".join(f"{_u(k)} AS u{k}" for k in range(1, 16))
    return f"""
CREATE OR REPLACE TABLE raw.scale AS
WITH base AS (SELECT i, {draws} FROM range({rows}) t(i)),
lat AS (SELECT *, CAST(18 + floor(72 * (u1 * 0.6 + u2 * 0.4)) AS INTEGER) AS a FROM base)
SELECT
  CASE WHEN u15 < 0.002 THEN 95 ELSE a END AS age,
  CASE WHEN u3 < 0.49 THEN 'F' ELSE 'M' END AS sex,
  'r' || CAST(floor(u4 * u4 * 10) AS INTEGER) AS region,
  CASE WHEN u5 > 0.995 THEN 'other' ELSE {_pick(EDUCATION, "(a - 18) / 12.0 + u5 * 3")} END
    AS education,
  CASE WHEN u6 < 0.03 THEN '?' ELSE {
        _pick(
            EMPLOYMENT,
            "CASE WHEN a > 64 THEN 3 WHEN a < 23 AND u6 < 0.5 THEN 4 ELSE u6 * u6 * 3 END",
        )
    } END AS employment,
  {_pick(MARRIED, "(a - 18) / 25.0 + u7 * 1.5")} AS married,
  CAST(floor(u8 * u8 * 6 + (a > 30)::INTEGER * u7 * 4) AS INTEGER) AS children,
  CAST(floor(20 + 40 * u9 + 15 * (u3 >= 0.49)::INTEGER * u10) AS INTEGER) AS hours,
  CASE WHEN u10 < 0.02 THEN NULL WHEN u10 > 0.999 THEN -50.0
    ELSE round(5000 + 150000 * u11 * u11 * (0.5 + 0.5 * u5) * (0.5 + (a - 18) / 144.0), 2)
    END AS income,
  CASE WHEN u12 < 0.01 THEN NULL ELSE u12 * 0.7 + u9 * 0.3 END AS score,
  CAST(floor(least(a - 18, 50) * u13) AS INTEGER) AS tenure,
  CAST(1 + floor(u4 * 6) AS INTEGER) AS city_size,
  {_pick(HEALTH, "(a - 18) / 30.0 + u14 * 2.5")} AS health,
  CASE WHEN u14 < 0.02 THEN -1.0 ELSE round(5 + 100 * u13 * (0.3 + u4 * 0.7), 1) END
    AS commute,
  {_pick(VEHICLE, "u4 * 2 + u13 * 2")} AS vehicle
FROM lat
"""


def spec(time_budget: float, method: str = "aim") -> dict[str, Any]:
    """The release spec of ``raw.scale``: every domain declared, none read from the rows."""
    return {
        "release": {"name": "scale", "description": "Synthetic scale-benchmark table."},
        "source": {"table": "raw.scale"},
        "privacy": {"epsilon": 1.0, "delta": 1e-9, "cap": {"epsilon": 100.0, "delta": 1e-6}},
        "columns": {
            "age": {"type": "integer", "bounds": [18, 90], "bin_width": 1},
            "sex": {"type": "category", "values": ["F", "M"]},
            "region": {"type": "category", "values": [f"r{i}" for i in range(10)]},
            "education": {"type": "category", "values": [*EDUCATION, "other"]},
            "employment": {"type": "category", "values": EMPLOYMENT, "missing": "?"},
            "married": {"type": "category", "values": MARRIED},
            "children": {"type": "integer", "bounds": [0, 10], "bin_width": 1},
            "hours": {"type": "integer", "bounds": [0, 99], "bin_width": 5},
            "income": {
                "type": "float",
                "bounds": [0, 200000],
                "bin_width": 10000,
                "missing": [],
                "on_invalid": "clamp",
            },
            "score": {"type": "float", "bounds": [0, 1], "bin_width": 0.1, "missing": []},
            "tenure": {"type": "integer", "bounds": [0, 50], "edges": [0, 1, 2, 5, 10, 20, 30, 50]},
            "city_size": {"type": "category", "values": [str(i) for i in range(1, 7)]},
            "health": {"type": "category", "values": HEALTH},
            "commute": {"type": "float", "bounds": [0, 120], "bin_width": 10, "missing": "-1"},
            "vehicle": {"type": "category", "values": VEHICLE},
        },
        "synthesizer": {"method": method, "rows": "noisy", "time_budget_s": time_budget},
        "expectations": {"utility": {"max_tvd": 1.0, "row_tolerance": 1.0}},
    }


def _reset_peak() -> None:
    Path("/proc/self/clear_refs").write_text("5")


def _peak_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


class StageRecorder(logging.Handler):
    """Wall time and peak memory of each flow step, from ``dprelease.progress`` events."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.stages: list[dict[str, Any]] = []
        self.first_start: float | None = None

    def emit(self, record: logging.LogRecord) -> None:
        phase = getattr(record, "phase", None)
        if phase == "start":
            if self.first_start is None:
                self.first_start = time.perf_counter()
            _reset_peak()
        elif phase == "done":
            self.stages.append(
                {
                    "stage": str(getattr(record, "step", "")),
                    "seconds": float(getattr(record, "seconds", 0.0)),
                    "peak_mb": _peak_mb(),
                }
            )


def child(rows: int, home: Path, time_budget: float, method: str) -> dict[str, Any]:
    """Generate, time the floor, run the release; returns the measurements."""
    os.environ["DPRELEASE_HOME"] = str(home)
    os.environ.setdefault("PREFECT_HOME", str(home / "prefect"))
    from dpcore.accounting import PrivacyCap
    from flows.progress import LOGGER_NAME
    from flows.release import release
    from warehouse.connection import connect
    from warehouse.ledger import register_budget
    from warehouse.paths import WarehousePaths
    from warehouse.source import DuckDBOracle

    counting: list[float] = []
    count = DuckDBOracle._count

    def timed(self: DuckDBOracle, blocks: Any) -> None:
        start = time.perf_counter()
        count(self, blocks)
        counting.append(time.perf_counter() - start)

    DuckDBOracle._count = timed  # type: ignore[method-assign]
    writing: list[float] = []
    try:  # the spool is the table written once (absent from code before it existed)
        from warehouse.spool import SpoolWriter
    except ImportError:
        SpoolWriter = None  # type: ignore[assignment,misc]
    if SpoolWriter is not None:
        write, finish = SpoolWriter.write, SpoolWriter.finish

        def timed_write(self: Any, frame: Any) -> None:
            start = time.perf_counter()
            write(self, frame)
            writing.append(time.perf_counter() - start)

        def timed_finish(self: Any) -> Any:
            start = time.perf_counter()
            done = finish(self)
            writing.append(time.perf_counter() - start)
            return done

        SpoolWriter.write = timed_write  # type: ignore[method-assign]
        SpoolWriter.finish = timed_finish  # type: ignore[method-assign]

    paths = WarehousePaths.from_env(home)
    start = time.perf_counter()
    with connect(paths.warehouse) as con:
        con.execute("CREATE SCHEMA IF NOT EXISTS raw")
        con.execute(generate_sql(rows))
    generate_s = time.perf_counter() - start
    spec_path = home / "scale.yaml"
    declared = spec(time_budget, method)
    spec_path.write_text(yaml.safe_dump(declared, sort_keys=False))
    cap = declared["privacy"]["cap"]
    register_budget(
        paths.warehouse,
        "raw.scale",
        PrivacyCap(cap["epsilon"], cap["delta"]),
        registered_by="bench",
    )
    names = ", ".join(f'"{n}"' for n in spec(time_budget)["columns"])

    _reset_peak()
    start = time.perf_counter()
    with connect(paths.warehouse, read_only=True) as con:
        floor_groups = con.execute(
            f"SELECT count(*) FROM (SELECT {names}, count(*) FROM raw.scale GROUP BY ALL)"
        ).fetchall()[0][0]
    floor_s = time.perf_counter() - start
    floor_peak = _peak_mb()
    alone_s = count_alone(paths.warehouse, declared, method)
    counting.clear()  # the release's own scans only

    recorder = StageRecorder()
    progress = logging.getLogger(LOGGER_NAME)
    progress.setLevel(logging.INFO)
    progress.addHandler(recorder)
    called = time.perf_counter()
    outcome = release(str(spec_path), home=str(home))
    total_s = time.perf_counter() - called
    startup_s = (recorder.first_start or called) - called
    by_stage = {s["stage"]: s for s in recorder.stages}
    validate_s = by_stage["loading and validating source"]["seconds"]
    measure_s = by_stage["measuring marginals"]["seconds"]
    publish_s = by_stage["publishing"]["seconds"]
    write_once_s = sum(writing) if writing else None
    return {
        "code": str(ROOT),
        "write_once_seconds": write_once_s,
        "publish_ratio": None if not write_once_s else publish_s / write_once_s,
        "rows": rows,
        "method": method,
        "generate_seconds": generate_s,
        "warehouse_mb": paths.warehouse.stat().st_size / 2**20,
        "release_mb": paths.release.stat().st_size / 2**20,
        "floor_seconds": floor_s,
        "floor_peak_mb": floor_peak,
        "floor_groups": int(floor_groups),
        "prefect_startup_seconds": startup_s,
        "release_seconds_after_startup": total_s - startup_s,
        "stages": recorder.stages,
        "release_peak_mb": max(s["peak_mb"] for s in recorder.stages),
        "count_seconds": sum(counting),
        "count_scans": len(counting),
        "count_alone_seconds": alone_s,
        "ratio": (validate_s + measure_s) / floor_s,
        "count_ratio": (validate_s + sum(counting)) / floor_s,
        "published_rows": outcome.rows,
        "duckdb_memory_limit": os.environ.get("DPRELEASE_DUCKDB_MEMORY", "1GB (default)"),
    }


def count_alone(warehouse: Path, declared: dict[str, Any], method: str) -> float:
    """Wall time of the oracle's scan of every candidate outside the flow (same process,
    just before the release): against the release's "count s", what the flow around the
    scan costs it."""
    from dpcore.synth.registry import get_synthesizer
    from flows.spec import parse_spec
    from warehouse.connection import connect
    from warehouse.source import DuckDBOracle

    codec = parse_spec(declared).codec()
    candidates = get_synthesizer(method).candidates(codec.domain)
    start = time.perf_counter()
    with connect(warehouse, read_only=True) as con:
        DuckDBOracle(con, "raw.scale", codec, candidates=candidates).counts(candidates)
    return time.perf_counter() - start


def run_size(
    rows: int,
    workdir: Path,
    time_budget: float,
    keep: bool,
    method: str,
    code: Path = ROOT,
) -> dict[str, Any]:
    """One size in a fresh process (so peaks do not carry over) running the bench and code of
    ``code`` (this checkout, or a baseline worktree); returns its result."""
    home = workdir / f"rows-{rows}-{code.name}"
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    env = {**os.environ, "DO_NOT_TRACK": "1", "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    script = code / "bench" / "scale.py"
    command = [sys.executable, str(script), "--child", str(rows), "--home", str(home)]
    command += ["--time-budget", str(time_budget), "--method", method]
    try:
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        lines = [x for x in done.stdout.splitlines() if x.startswith(MARK)]
        if done.returncode != 0 or not lines:
            sys.stderr.write(done.stdout[-4000:] + done.stderr[-4000:])
            raise SystemExit(f"the {rows}-row release failed (exit {done.returncode})")
        result: dict[str, Any] = json.loads(lines[-1][len(MARK) :])
        return result
    finally:
        if not keep:
            shutil.rmtree(home, ignore_errors=True)


def print_table(results: list[dict[str, Any]]) -> None:
    """Per size: the floor, the steps' wall time and peak memory, and the ratios."""
    for r in results:
        print(
            f"\n{r['rows']:,} rows, {r.get('method', 'aim')} (generated in "
            f"{r['generate_seconds']:.1f} s; warehouse "
            f"{r['warehouse_mb']:.0f} MB on disk; DuckDB memory limit {r['duckdb_memory_limit']})"
        )
        print(f"  {'step':<32} {'wall s':>8} {'peak MB':>8}")
        print(
            f"  {'floor: GROUP BY ALL, 15 columns':<32} {r['floor_seconds']:>8.2f} "
            f"{r['floor_peak_mb']:>8.0f}"
        )
        print(f"  {'(prefect start-up, excluded)':<32} {r['prefect_startup_seconds']:>8.2f}")
        for s in r["stages"]:
            print(f"  {s['stage']:<32} {s['seconds']:>8.2f} {s['peak_mb']:>8.0f}")
        print(
            f"  {'  of which counting (scans)':<32} {r['count_seconds']:>8.2f} "
            f"{'':>8} ({r['count_scans']} scan(s))"
        )
        if r.get("count_alone_seconds") is not None:
            print(f"  {'  (same scan outside the flow)':<32} {r['count_alone_seconds']:>8.2f}")
        if r.get("write_once_seconds"):
            print(
                f"  {'  table written once (spool)':<32} {r['write_once_seconds']:>8.2f} "
                f"{'':>8} publish / written once = {r['publish_ratio']:.2f}"
            )
        print(
            f"  release {r['release_seconds_after_startup']:.1f} s, peak "
            f"{r['release_peak_mb']:.0f} MB; (validate + measure) / floor = {r['ratio']:.2f}; "
            f"(validate + counting) / floor = {r['count_ratio']:.2f}"
        )


def main() -> None:
    """Run the sizes, print the table and write the JSON report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1e6,1e7", help="row counts, comma-separated")
    parser.add_argument("--with-1e8", action="store_true", help="also 10**8 rows (~2 GB disk)")
    parser.add_argument("--time-budget", type=float, default=30.0, help="AIM's time_budget_s")
    parser.add_argument("--method", choices=["aim", "mst"], default="aim", help="synthesizer")
    parser.add_argument("--workdir", default=None, help="where the warehouses go (default: tmp)")
    parser.add_argument("--keep", action="store_true", help="keep the generated warehouses")
    parser.add_argument("--out", default=str(RESULTS))
    parser.add_argument(
        "--merge", action="store_true", help="keep the other sizes' results already in --out"
    )
    parser.add_argument(
        "--baseline",
        default=None,
        help="also run each size with the code of this git ref (e.g. main), side by side",
    )
    parser.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--home", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        result = child(args.child, Path(args.home), args.time_budget, args.method)
        print(MARK + json.dumps(result))
        return

    sizes = [int(float(s)) for s in args.sizes.split(",") if s.strip()]
    if args.with_1e8 and 10**8 not in sizes:
        sizes.append(10**8)
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="dprelease-scale-"))
    workdir.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(workdir).free / 2**30
    print(f"work directory {workdir} ({free:.0f} GiB free); sizes {sizes}")
    results = []
    codes = [ROOT]
    if args.baseline:
        codes.append(checkout(args.baseline, workdir))
    for rows in sizes:
        for code in codes:
            result = run_size(rows, workdir, args.time_budget, args.keep, args.method, code)
            result["code"] = "this" if code == ROOT else f"baseline {args.baseline}"
            results.append(result)
            print(f"\n[{result['code']}]", end="")
            print_table(results[-1:])
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if args.merge and out.exists():
        kept = [
            r
            for r in json.loads(out.read_text())["results"]
            if (r["rows"], r.get("method", "aim")) not in {(n, args.method) for n in sizes}
        ]
        results = sorted(kept + results, key=lambda r: (int(r["rows"]), r.get("method", "aim")))
    payload = {
        "machine": {
            "python": platform.python_version(),
            "processor": platform.machine(),
            "cpus": os.cpu_count(),
        },
        "time_budget_s": args.time_budget,
        "baseline": args.baseline,
        "free_disk_gib": free,
        "results": results,
    }
    out.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
