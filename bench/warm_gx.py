"""Wall time of a release's utility step with a cold Great Expectations child (started when
validation is due, as before) vs a warm one (started ``--lead`` seconds earlier, as a release
now does right after its charge, and importing GX while the run measures and fits).

Run ``.venv/bin/python bench/warm_gx.py [--lead 10] [--busy cpu|sleep] [--repetitions 3]``.
Each measurement is a fresh process (this script with ``--one``): it builds the Adult
synthetic table as ``bench/gx_synthetic.py`` does, then stands in for measuring and fitting
for ``--lead`` seconds (a CPU-bound loop in this process by default, so the warm child's
import competes for the machine as in a run; ``sleep`` for an idle parent), with the warm
child started at its beginning or no child at all, then times
``tasks.utility.check_utility_fn`` with its Data Docs. Cold and warm alternate, so both see
the same machine load. Prints a table of medians and writes ``bench/results/warm_gx.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from results_file import write_results  # bench/ is the script's folder, first on sys.path

HERE = Path(__file__).resolve().parents[1]
RESULTS = HERE / "bench" / "results" / "warm_gx.json"
MODES = ("cold", "warm")


def _stand_in(seconds: float, busy: str) -> None:
    """Measuring and fitting: ``seconds`` of CPU in this process, or of sleep."""
    if busy == "sleep":
        time.sleep(seconds)
        return
    until = time.perf_counter() + seconds
    x = 0
    while time.perf_counter() < until:
        x = (x * 31 + 7) % 1_000_003


def one(mode: str, lead: float, busy: str) -> dict[str, Any]:
    """One utility step after ``lead`` seconds of stand-in work, with a cold or warm child."""
    sys.path.insert(0, str(HERE / "bench"))
    from gx_synthetic import adult_table

    from expectations import child
    from tasks.utility import check_utility_fn

    paths, request, table, measurements = adult_table(None)
    child.set_inline(False)
    warm = child.warm_child() if mode == "warm" else contextlib.nullcontext()
    with warm:
        _stand_in(lead, busy)
        started = time.perf_counter()
        report = check_utility_fn(
            request, table, measurements, run_id="bench-run", home=str(paths.home)
        )
        seconds = time.perf_counter() - started
    docs = paths.reports / "data-docs" / "bench-run" / "index.html"
    return {
        "mode": mode,
        "rows": table.rows,
        "seconds": seconds,
        "passed": report.success,
        "data_docs": docs.is_file(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lead", type=float, default=10.0, help="seconds of measuring")
    parser.add_argument("--busy", choices=("cpu", "sleep"), default="cpu")
    parser.add_argument("--repetitions", type=int, default=3)
    parser.add_argument("--one", choices=MODES, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one(args.one, args.lead, args.busy)))
        return
    env = {**os.environ, "PYTHONPATH": str(HERE)}
    runs: dict[str, list[dict[str, Any]]] = {mode: [] for mode in MODES}
    for _ in range(args.repetitions):
        for mode in MODES:
            command = [sys.executable, __file__, "--one", mode, "--lead", str(args.lead)]
            done = subprocess.run(
                [*command, "--busy", args.busy],
                cwd=HERE,
                env=env,
                capture_output=True,
                text=True,
                check=False,
            )
            if done.returncode != 0:
                raise SystemExit(f"{mode} failed:\n{done.stderr[-3000:]}")
            runs[mode].append(json.loads(done.stdout.strip().splitlines()[-1]))
    medians = {mode: statistics.median(r["seconds"] for r in runs[mode]) for mode in MODES}
    print(f"lead {args.lead:g} s ({args.busy}), load {os.getloadavg()[0]:.2f}")
    print(f"{'child':<6} {'rows':>8} {'utility step s (median)':>24} {'runs':>24}")
    for mode in MODES:
        each = " ".join(f"{r['seconds']:.2f}" for r in runs[mode])
        print(f"{mode:<6} {runs[mode][0]['rows']:>8,} {medians[mode]:>24.2f} {each:>24}")
    print(f"cold / warm: {medians['cold'] / medians['warm']:.1f}x")
    write_results(
        RESULTS,
        {
            "lead_seconds": args.lead,
            "busy": args.busy,
            "median_seconds": medians,
            "cold_over_warm": medians["cold"] / medians["warm"],
            "runs": runs,
        },
    )


if __name__ == "__main__":
    main()
