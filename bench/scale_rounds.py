"""AIM's rounds alone on ``bench/scale.py``'s table: measure's wall time and the model's
exact 2-way TVD per configuration, without Prefect or the source scan.

The table (``bench/scale.py``'s ``generate_sql``, ``--rows`` rows) is generated once into a
DuckDB file under ``--workdir`` and counted once by the warehouse's oracle; the exact counts
are then served from memory, so each run times only ``AIMSynthesizer.measure`` (seeded noise,
the release's epsilon 1 and delta 1e-9, ``time_budget_s`` 30) and scores the final fit's
2-way marginals against the exact ones (measure's CPU time is reported beside its wall
time: on a shared machine the wall time also counts other processes). Configurations (JSON
objects of synthesizer options, ``{}`` for the defaults) are alternated within each seed,
since the machine may be shared.

Usage::

    .venv/bin/python bench/scale_rounds.py --rows 1e7 --seeds 1 2 3 \\
        --configs '{"batch_ratio": 0}' '{}'

Writes ``bench/results/scale_rounds.json`` (``--out`` for another file).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.results_file import write_results  # noqa: E402
from bench.scale import generate_sql, spec  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "scale_rounds.json"
EPSILON, DELTA = 1.0, 1e-9

Counts = dict[tuple[str, ...], npt.NDArray[np.int64]]


def exact_counts(rows: int, workdir: Path) -> tuple[Any, Counts]:
    """The scale table's domain and the exact counts of every AIM candidate (one scan)."""
    import duckdb

    from dpcore.synth.aim import AIMSynthesizer
    from flows.spec import parse_spec
    from warehouse.contribution import PrivacyUnit
    from warehouse.source import DuckDBOracle

    codec = parse_spec(spec(30.0)).codec()
    path = workdir / f"scale-{rows}.duckdb"
    con = duckdb.connect(str(path))
    try:
        con.execute("SET memory_limit = '1GB'")
        con.execute("CREATE SCHEMA IF NOT EXISTS raw")
        if not con.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'scale'"
        ).fetchall()[0][0]:
            con.execute(generate_sql(rows))
        candidates = AIMSynthesizer().candidates(codec.domain)
        oracle = DuckDBOracle(con, "raw.scale", codec, PrivacyUnit(), candidates=candidates)
        return codec.domain, dict(zip(candidates, oracle.counts(candidates), strict=True))
    finally:
        con.close()


class _Memory:
    """The exact counts, answered from memory."""

    def __init__(self, counts: Counts) -> None:
        self.exact = counts

    def counts(self, cliques: Any) -> list[npt.NDArray[np.int64]]:
        return [self.exact[tuple(c)] for c in cliques]


def one_run(domain: Any, counts: Counts, options: dict[str, Any], seed: int) -> dict[str, Any]:
    """Measure and fit once; wall time of measure and the exact 2-way TVDs of the model."""
    from dpcore.accounting import rho_from_eps_delta
    from dpcore.noise import seeded_source
    from dpcore.synth.aim import AIMSynthesizer

    synth = AIMSynthesizer(time_budget_s=30.0, **options)
    start, cpu = time.perf_counter(), time.process_time()
    measurements = synth.measure(
        domain, rho_from_eps_delta(EPSILON, DELTA), _Memory(counts), seeded_source(seed)
    )
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    model = synth.fit(domain, measurements)
    tvds = []
    for clique, exact in counts.items():
        if len(clique) == 2:
            truth = exact / exact.sum()
            tvds.append(0.5 * float(np.abs(truth - model.marginal(clique).reshape(-1)).sum()))
    return {
        "options": options,
        "seed": seed,
        "measure_seconds": seconds,
        "measure_cpu_seconds": cpu,
        "measurements": len(measurements),
        "tvd_mean": float(np.mean(tvds)),
        "tvd_max": float(np.max(tvds)),
    }


def main() -> None:
    """Run the configurations alternated per seed, print a table, write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default="1e7")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--configs", nargs="+", default=['{"batch_ratio": 0}', "{}"])
    parser.add_argument("--workdir", default=None, help="where the DuckDB file goes (kept)")
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args()
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="dprelease-scale-rounds-"))
    workdir.mkdir(parents=True, exist_ok=True)
    domain, counts = exact_counts(int(float(args.rows)), workdir)
    configs = [json.loads(c) for c in args.configs]
    runs = []
    for seed in args.seeds:
        for options in configs:
            run = one_run(domain, counts, options, seed)
            runs.append(run)
            print(
                f"seed {seed} {json.dumps(options):<24} measure {run['measure_seconds']:6.2f} s "
                f"(CPU {run['measure_cpu_seconds']:5.2f} s), "
                f"{run['measurements']:3d} measurements, 2-way TVD mean {run['tvd_mean']:.5f} "
                f"max {run['tvd_max']:.5f}",
                flush=True,
            )
    print("\nmedians per configuration")
    summary = []
    for options in configs:
        mine = [r for r in runs if r["options"] == options]
        row = {
            "options": options,
            **{
                k: statistics.median(r[k] for r in mine)
                for k in ("measure_seconds", "measure_cpu_seconds", "tvd_mean", "tvd_max")
            },
        }
        summary.append(row)
        print(
            f"  {json.dumps(options):<24} measure {row['measure_seconds']:6.2f} s "
            f"(CPU {row['measure_cpu_seconds']:5.2f} s), "
            f"TVD mean {row['tvd_mean']:.5f}, max {row['tvd_max']:.5f}"
        )
    write_results(Path(args.out), {"rows": int(float(args.rows)), "runs": runs, "summary": summary})
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
