"""Does this checkout's AIM give the same release as a baseline git ref, seed for seed?

For each seed, one release of AIM on a training split of ``bench/utility.py`` (``--table``,
default Adult; ``measure`` with a seeded noise source, ``fit``, ``sample`` with a generator
of the same seed) runs in a fresh process with this checkout and with a detached worktree of
``--baseline``. Reported per
seed: whether the measurements (cliques, groupings, sigmas, noisy values) and the sampled
rows are identical, the largest difference between the final models' beliefs, and each
side's CPU time. A speed-up that only reorders floating-point work should leave the
measurements and rows identical (selections and sampled cells do not move at rounding level).

Usage::

    .venv/bin/python bench/synth_same.py --seeds 1 2 7 --baseline main

Writes ``bench/results/synth_same.json`` (``--out`` for another file).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.baseline import checkout, run_script  # noqa: E402
from bench.results_file import write_results  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "synth_same.json"

CHILD = """
import pickle, sys, time
import numpy as np
sys.path.insert(0, {root!r})
from bench.utility import DELTA, ArrayOracle, load_table, rho_for
from dpcore.noise import seeded_source
from dpcore.synth.registry import get_synthesizer
table = load_table({table!r})
domain, train = table.domain, table.train
synthesizer = get_synthesizer("aim")
cpu = time.process_time()
measurements = synthesizer.measure(
    domain, rho_for({epsilon!r}, DELTA), ArrayOracle(domain, train), seeded_source({seed!r})
)
model = synthesizer.fit(domain, measurements)
rows = model.sample(train.shape[0], np.random.default_rng({seed!r}))
cpu = time.process_time() - cpu
out = {{
    "measurements": [
        (m.clique, getattr(m, "groups", ()), float(m.sigma), np.asarray(m.values))
        for m in measurements
    ],
    "rows": rows,
    "beliefs": [np.asarray(b) for b in model.beliefs],
    "cpu": cpu,
}}
with open({path!r}, "wb") as f:
    pickle.dump(out, f)
"""


def one_run(code: Path, table: str, seed: int, epsilon: float, path: Path) -> dict[str, Any]:
    """A seeded release with the code at ``code`` in a fresh interpreter."""
    import pickle

    script = CHILD.format(root=str(code), table=table, seed=seed, epsilon=epsilon, path=str(path))
    run_script(code, script)
    with path.open("rb") as f:
        result: dict[str, Any] = pickle.load(f)
    return result


def compare(this: dict[str, Any], base: dict[str, Any]) -> dict[str, Any]:
    """Identical measurements and rows? Largest belief difference (when the trees agree)."""
    same = len(this["measurements"]) == len(base["measurements"]) and all(
        a[:3] == b[:3] and np.array_equal(a[3], b[3])
        for a, b in zip(this["measurements"], base["measurements"], strict=False)
    )
    shapes = [b.shape for b in this["beliefs"]] == [b.shape for b in base["beliefs"]]
    gap = (
        max(
            float(np.abs(a - b).max())
            for a, b in zip(this["beliefs"], base["beliefs"], strict=True)
        )
        if shapes
        else None
    )
    return {
        "measurements": len(this["measurements"]),
        "same_measurements": same,
        "same_rows": bool(np.array_equal(this["rows"], base["rows"])),
        "max_belief_difference": gap,
        "cpu_seconds": this["cpu"],
        "baseline_cpu_seconds": base["cpu"],
    }


def main() -> None:
    """Run every seed on both codes, print a table, write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", default="main", help="git ref to compare with")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 7])
    parser.add_argument("--eps", type=float, default=1.0)
    parser.add_argument("--table", default="adult", help="a table of bench/utility.py")
    parser.add_argument("--workdir", default=None)
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args()
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="dprelease-same-"))
    workdir.mkdir(parents=True, exist_ok=True)
    base_code = checkout(args.baseline, workdir)
    results = {}
    for seed in args.seeds:
        this = one_run(ROOT, args.table, seed, args.eps, workdir / "this.pkl")
        base = one_run(base_code, args.table, seed, args.eps, workdir / "base.pkl")
        row = compare(this, base)
        results[str(seed)] = row
        print(
            f"seed {seed}: {row['measurements']} measurements, same {row['same_measurements']}, "
            f"rows same {row['same_rows']}, max belief difference {row['max_belief_difference']}, "
            f"cpu {row['cpu_seconds']:.2f} s vs {row['baseline_cpu_seconds']:.2f} s",
            flush=True,
        )
    payload = {
        "protocol": __doc__,
        "baseline": args.baseline,
        "epsilon": args.eps,
        "table": args.table,
        "seeds": results,
    }
    write_results(Path(args.out), payload)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
