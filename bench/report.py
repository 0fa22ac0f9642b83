"""Time of rendering the release report (``tasks.report.render_report``) on Adult, side by
side for two checkouts.

Run ``.venv/bin/python bench/report.py [--before /work/main] [--method aim]
[--repetitions 5]`` (``--before ''`` times this checkout alone). Each checkout is measured
in a fresh process (this script with ``--one``) that seeds a temporary home with the bundled
Adult data, measures the Adult spec's marginals with its method and seeded (not private)
noise, samples the synthetic table and builds the report's inputs as the tests do (a
hand-made ledger of a weekly release's charges), then times: importing the renderer, the
first render (a run renders once, so this is what a release pays) and ``--repetitions``
more (median). It also says whether rendering loaded matplotlib, and the page's size.
Results are written to ``bench/results/report.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from results_file import write_results  # bench/ is the script's folder, first on sys.path

HERE = Path(__file__).resolve().parents[1]
RESULTS = HERE / "bench" / "results" / "report.json"
PRIOR_CHARGES = 6


def _release(method: str) -> tuple[Any, ...]:
    """What a fresh Adult release hands the report step (see the module docstring): the
    arguments of ``build_report_inputs`` but the keywords."""
    import duckdb
    import yaml

    from dpcore.noise import seeded_source
    from flows.spec import load_spec
    from tasks.synthesize import synthesize_fn
    from warehouse.ledger import Charge, HistoryRow
    from warehouse.paths import WarehousePaths
    from warehouse.publish import PublishedRelease
    from warehouse.seed import seed_adult
    from warehouse.source import DuckDBOracle

    tmp = Path(tempfile.mkdtemp(prefix="report-bench-"))
    paths = WarehousePaths.from_env(tmp / "home")
    seed_adult(paths.warehouse)
    data = yaml.safe_load((Path.cwd() / "deployments" / "specs" / "adult.yaml").read_text())
    data["synthesizer"] = {"method": method, "rows": "noisy"}
    spec = tmp / "adult.yaml"
    spec.write_text(yaml.safe_dump(data))
    request = load_spec(spec).to_request(str(spec))
    with duckdb.connect(str(paths.warehouse), read_only=True) as con:
        oracle = DuckDBOracle(con, request.source_table, request.codec)
        measurements = request.synthesizer().measure(
            request.codec.domain, request.measure_rho, oracle, seeded_source(1)
        )
    table = synthesize_fn(request, measurements)
    start = datetime(2026, 1, 5, 3, 0, tzinfo=UTC)
    rho = Decimal(str(request.cost.budget))
    ledger = []
    for seq in range(1, PRIOR_CHARGES + 2):
        charge = Charge(
            request.dataset, seq, f"run-{seq}", request.name, "bench", request.cost.epsilon,
            request.cost.delta, rho, rho * seq, start + timedelta(weeks=seq), "0" * 64, "1" * 64,
        )  # fmt: skip
        ledger.append(HistoryRow(charge, request.cost.epsilon * seq, 1e-9 * seq, "published"))
    current = ledger[-1].charge
    published = PublishedRelease(
        request.name, current.seq, f"{request.name}_v{current.seq}", current.run_id,
        table.rows, current.charged_at,
    )  # fmt: skip
    return request, published, current, measurements, table.summary.codes, ledger


def one(method: str, repetitions: int) -> dict[str, Any]:
    """Time the report of the checkout on ``sys.path`` (see the module docstring)."""
    release = _release(method)
    had_matplotlib = "matplotlib" in sys.modules
    started = time.perf_counter()
    import tasks.report  # as the release's report step does, after everything else

    imported = time.perf_counter()
    inputs = tasks.report.build_report_inputs(*release, utility_passed=True)
    built = time.perf_counter()
    html = tasks.report.render_report(inputs)
    first = time.perf_counter() - built
    warm = []
    for _ in range(repetitions):
        began = time.perf_counter()
        tasks.report.render_report(inputs)
        warm.append(time.perf_counter() - began)
    return {
        "code": str(Path(tasks.report.__file__).resolve().parents[2]),
        "import_seconds": imported - started,
        "build_inputs_seconds": built - imported,
        "first_render_seconds": first,
        "release_seconds": imported - started + first,
        "warm_seconds": warm,
        "median_warm_seconds": statistics.median(warm),
        "matplotlib_loaded": "matplotlib" in sys.modules and not had_matplotlib,
        "html_bytes": len(html.encode()),
        "one_way_plots": len(inputs.one_way),
        "two_way_plots": len(inputs.two_way),
        "two_way_cells": [int(c.noisy.size) for c in inputs.two_way],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", default="/work/main", help="the checkout to compare with")
    parser.add_argument("--method", default="aim", choices=("aim", "mst", "independent"))
    parser.add_argument("--repetitions", type=int, default=5)
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one(args.method, args.repetitions)))
        return
    trees = {"after": HERE}
    if args.before:
        trees = {"before": Path(args.before).resolve(), **trees}
    results: dict[str, dict[str, Any]] = {}
    for label, tree in trees.items():
        done = subprocess.run(
            [sys.executable, str(HERE / "bench" / "report.py"), "--one", "--method", args.method,
             "--repetitions", str(args.repetitions)],
            cwd=tree, env={**_env(), "PYTHONPATH": str(tree)}, capture_output=True, text=True,
            check=False,
        )  # fmt: skip
        if done.returncode != 0:
            raise SystemExit(f"{label} failed:\n{done.stderr[-3000:]}")
        results[label] = json.loads(done.stdout.strip().splitlines()[-1])
    print(
        f"{'checkout':<8} {'import s':>9} {'1st render s':>13} {'median render s':>16} "
        f"{'matplotlib':>11} {'page KB':>8}"
    )
    for label, r in results.items():
        print(
            f"{label:<8} {r['import_seconds']:>9.3f} {r['first_render_seconds']:>13.3f} "
            f"{r['median_warm_seconds']:>16.4f} {'loaded' if r['matplotlib_loaded'] else 'no':>11} "
            f"{r['html_bytes'] / 1024:>8.0f}"
        )
    if "before" in results:
        before, after = results["before"], results["after"]
        print(
            f"after/before: release (import + 1st render) "
            f"{after['release_seconds'] / before['release_seconds']:.4f}, median render "
            f"{after['median_warm_seconds'] / before['median_warm_seconds']:.4f}"
        )
    first = next(iter(results.values()))
    print(
        f"inputs: Adult, {args.method}, {first['one_way_plots']} bar plots, "
        f"{first['two_way_plots']} heatmap pairs ({first['two_way_cells']} cells), "
        f"{PRIOR_CHARGES + 1} ledger charges"
    )
    write_results(
        RESULTS,
        {"method": args.method, "repetitions": args.repetitions, "results": results},
    )


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}


if __name__ == "__main__":
    main()
