"""CPU time of the repaired sampling scheme beside a baseline git ref (issue 17).

Each repeat runs, in a fresh process per code and alternating this checkout with a detached
worktree of ``--baseline`` (so both see the same load), one ``forward_sample`` of ``--rows``
rows per cached AIM model (``bench/sampling_error.py``'s cache; fitted first if missing) with
the balanced scheme and then the repaired one, same generator seed. The repair's own cost is
the difference (process time, which load inflates less than wall time). ``REPAIR_MAX_ROWS``
is raised to ``--rows`` in the child, so large samples are repaired too. Example:
``bench/repair_speed.py --rows 39074 --models 5 --repeats 3 --baseline main``
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.baseline import checkout, run_script  # noqa: E402
from bench.sampling_error import fitted  # noqa: E402
from bench.utility import load_table  # noqa: E402

CHILD = """
import json, pickle, sys, time
from pathlib import Path
import numpy as np
sys.path.insert(0, {root!r})
from dpcore.synth import sampling
sampling.REPAIR_MAX_ROWS = max(sampling.REPAIR_MAX_ROWS, {rows!r})
times = {{"balanced": [], "repaired": []}}
for index, path in enumerate({paths!r}):
    model = pickle.loads(Path(path).read_bytes())
    for scheme in times:
        cpu = time.process_time()
        sampling.forward_sample(model.tree, model.beliefs, {rows!r},
                                np.random.default_rng([index, {repeat!r}]), scheme=scheme)
        times[scheme].append(time.process_time() - cpu)
print("SPEED " + json.dumps(times))
"""


def one_run(code: Path, paths: list[str], rows: int, repeat: int) -> dict[str, list[float]]:
    """Per scheme, the CPU seconds of one sample per model with the code at ``code``."""
    script = CHILD.format(root=str(code), paths=paths, rows=rows, repeat=repeat)
    lines = [x for x in run_script(code, script).splitlines() if x.startswith("SPEED ")]
    if not lines:
        raise SystemExit(f"the run with the code at {code} printed no timing")
    return json.loads(lines[-1][len("SPEED ") :])  # type: ignore[no-any-return]


def main() -> None:
    """Alternate this checkout and the baseline, print median repair costs, write JSON."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--table", default="adult")
    parser.add_argument("--eps", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=1000)
    parser.add_argument("--models", type=int, default=5)
    parser.add_argument("--rows", type=int, default=39074)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--baseline", default="main", help="git ref to compare with")
    parser.add_argument("--cache", type=Path, default=Path("/tmp/sampling_error_models"))
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    table = load_table(args.table)
    paths = []
    for seed in range(args.seed, args.seed + args.models):
        fitted(table, args.table, args.eps, seed, args.cache)
        paths.append(str(args.cache / f"{args.table}_{args.eps}_{seed}.pkl"))
    with tempfile.TemporaryDirectory() as workdir:
        codes = {"this": ROOT, f"baseline {args.baseline}": checkout(args.baseline, Path(workdir))}
        runs: dict[str, list[dict[str, list[float]]]] = {name: [] for name in codes}
        for repeat in range(args.repeats):
            for name, code in codes.items():
                runs[name].append(one_run(code, paths, args.rows, repeat))
                last = runs[name][-1]
                repair = [r - b for r, b in zip(last["repaired"], last["balanced"], strict=True)]
                print(f"repeat {repeat} {name}: repair cpu per sample {repair}", flush=True)
    summary: dict[str, Any] = {}
    for name, done in runs.items():
        balanced = [t for run in done for t in run["balanced"]]
        repaired = [t for run in done for t in run["repaired"]]
        repair = [r - b for r, b in zip(repaired, balanced, strict=True)]
        summary[name] = {
            "balanced": statistics.median(balanced),
            "repaired": statistics.median(repaired),
            "repair": statistics.median(repair),
        }
        print(
            f"{name}: median cpu per sample "
            + ", ".join(f"{k} {v:.3f}s" for k, v in summary[name].items())
        )
    base = summary[f"baseline {args.baseline}"]["repair"]
    print(f"repair cost ratio this / baseline: {summary['this']['repair'] / base:.2f}")
    if args.out is not None:
        args.out.write_text(
            json.dumps({"rows": args.rows, "eps": args.eps, "runs": runs, "summary": summary})
        )


if __name__ == "__main__":
    main()
