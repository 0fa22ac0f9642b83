"""The synthesizer's own time on Adult, side by side with a baseline git ref, and its quality.

Each run is one release of ``bench/utility.py``'s protocol (its ``release`` function:
``measure`` + ``fit`` + ``sample`` of AIM at the given epsilon, delta 1e-9, on the fixed
training split) in a fresh process, alternating between this checkout and a detached git
worktree of ``--baseline`` (default ``main``), so both see the same machine load. Reported
per code: the median and every run's wall time and CPU time (``process_time`` of the
release, which a loaded machine inflates far less than wall time), and the 1/2/3-way TVD
(this checkout's ``tvd_scores`` on both outputs), with the ratios of the medians.

Usage::

    .venv/bin/python bench/synth_speed.py                 # eps 1, 5 runs each, vs main
    .venv/bin/python bench/synth_speed.py --runs 3 --eps 1 --baseline main

Writes ``bench/results/synth_speed.json``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.baseline import checkout, run_script  # noqa: E402
from bench.utility import load_adult, tvd_scores  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "synth_speed.json"

CHILD = """
import json, sys, time
import numpy as np
sys.path.insert(0, {root!r})
from bench.utility import load_adult, release
domain, train, _ = load_adult()  # the CPU time below is the release's own, reading aside
cpu = time.process_time()
out = release({method!r}, {epsilon!r}, {{}}, domain, train)
cpu = time.process_time() - cpu
np.save({rows!r}, out["rows"])
print("SPEED " + json.dumps({{"seconds": out["seconds"], "cpu_seconds": cpu,
                              "peak_mb": out["peak_mb"]}}))
"""


def one_run(code: Path, method: str, epsilon: float, scratch: Path) -> dict[str, Any]:
    """One release with the code at ``code`` in a fresh interpreter; time and TVDs."""
    rows_path = scratch / "rows.npy"
    script = CHILD.format(root=str(code), method=method, epsilon=epsilon, rows=str(rows_path))
    lines = [x for x in run_script(code, script).splitlines() if x.startswith("SPEED ")]
    if not lines:
        raise SystemExit(f"the release with the code at {code} printed no timing")
    result: dict[str, Any] = json.loads(lines[-1][len("SPEED ") :])
    domain, train, _ = load_adult()
    result.update(tvd_scores(domain, train, np.load(rows_path)))
    return result


def main() -> None:
    """Alternate this checkout and the baseline, print medians, write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", default="main", help="git ref to compare with")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--eps", type=float, default=1.0)
    parser.add_argument("--method", default="aim")
    parser.add_argument("--workdir", default=None)
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args()
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="dprelease-speed-"))
    workdir.mkdir(parents=True, exist_ok=True)
    codes = {"this": ROOT, f"baseline {args.baseline}": checkout(args.baseline, workdir)}
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in codes}
    for run in range(args.runs):
        for name, code in codes.items():
            result = one_run(code, args.method, args.eps, workdir)
            runs[name].append(result)
            print(
                f"run {run} {name:<16} {result['seconds']:6.2f} s "
                f"(cpu {result['cpu_seconds']:6.2f} s)  1way {result['1way']:.4f} "
                f"2way {result['2way']:.4f} 3way {result['3way']:.4f}",
                flush=True,
            )
    summary = {
        name: {
            key: statistics.median(r[key] for r in results)
            for key in ("seconds", "cpu_seconds", "1way", "2way", "3way", "peak_mb")
        }
        for name, results in runs.items()
    }
    base = summary[f"baseline {args.baseline}"]
    print(f"\n{'code':<16} {'wall s':>8} {'cpu s':>8} {'1-way':>7} {'2-way':>7} {'3-way':>7}")
    for name, med in summary.items():
        print(
            f"{name:<16} {med['seconds']:>8.2f} {med['cpu_seconds']:>8.2f} {med['1way']:>7.4f} "
            f"{med['2way']:>7.4f} {med['3way']:>7.4f}"
        )
    ratio = summary["this"]["seconds"] / base["seconds"]
    cpu_ratio = summary["this"]["cpu_seconds"] / base["cpu_seconds"]
    print(f"median ratio this / baseline: wall {ratio:.2f}, cpu {cpu_ratio:.2f}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "protocol": __doc__,
        "method": args.method,
        "epsilon": args.eps,
        "baseline": args.baseline,
        "medians": summary,
        "time_ratio": ratio,
        "cpu_ratio": cpu_ratio,
        "runs": runs,
    }
    out.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
