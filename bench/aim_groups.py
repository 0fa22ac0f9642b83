"""AIM configurations side by side, run by run (issue 17's "two groups"): the model's exact
2-way TVD (its marginals against the training rows', no sampling), the sampled 2-way and
3-way TVD and the downstream AUC, the worst 2-way pair's ratio to the run's mean 2-way TVD
(sampled, ``ratio``, and the model's exact, ``model_ratio``), with each run's seed, and which
pairs were measured grouped (``g:``).

Configurations alternate within each run index (same seed for all), so machine load and
seed luck hit them alike. Example:
``bench/aim_groups.py --table gss_wages --eps 0.3 --runs 5 --configs '[{}, {"refine_share": 0}]'``
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.utility import (
    DELTA,
    Table,
    auc_score,
    load_table,
    model_pair_tvds,
    rho_for,
    tvd_scores,
)
from dpcore.marginals import ArrayOracle
from dpcore.noise.source import seeded_source
from dpcore.synth.aim import AIMSynthesizer
from dpcore.synth.coarse import CoarseMeasurement


def one_run(table: Table, epsilon: float, options: dict[str, Any], seed: int) -> dict[str, Any]:
    """Measure, fit and sample one release with fixed seeds; its scores and measured cliques."""
    synth = AIMSynthesizer(**options)
    started, cpu = time.perf_counter(), time.process_time()
    oracle = ArrayOracle(table.domain, table.train)
    measurements = synth.measure(table.domain, rho_for(epsilon, DELTA), oracle, seeded_source(seed))
    model = synth.fit(table.domain, measurements)
    rows = model.sample(table.train.shape[0], np.random.default_rng(seed))
    seconds = time.perf_counter() - started
    cpu = time.process_time() - cpu
    scores = tvd_scores(table.domain, table.train, rows)
    measured = [
        ("g:" if isinstance(m, CoarseMeasurement) else "") + "x".join(m.clique)
        for m in measurements
        if len(m.clique) > 1
    ]
    pairs = model_pair_tvds(table.domain, table.train, model)
    model_worst = max(pairs, key=lambda name: pairs[name])
    model_mean = float(np.mean(list(pairs.values())))
    return {
        "seed": seed,
        "options": options,
        "model_2way": model_mean,
        "model_worst_pair": model_worst,
        "model_worst_pair_tvd": pairs[model_worst],
        "model_ratio": pairs[model_worst] / max(model_mean, 1e-12),
        "ratio": scores["worst_pair_ratio"],
        "2way": scores["2way"],
        "3way": scores["3way"],
        "worst_pair": scores["worst_pair"],
        "worst_pair_tvd": scores["worst_pair_tvd"],
        "auc": auc_score(table, rows),
        "seconds": seconds,
        "cpu_seconds": cpu,
        "measured": measured,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--table", default="gss_wages")
    parser.add_argument("--eps", type=float, default=0.3)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1000)
    parser.add_argument("--configs", default="[{}]", help="JSON list of AIM option dicts")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    table = load_table(args.table)
    configs = json.loads(args.configs)
    records: list[dict[str, Any]] = []
    for run in range(args.runs):
        for index, options in enumerate(configs):
            record = one_run(table, args.eps, options, args.seed + run)
            record["config"] = index
            records.append(record)
            print(
                f"run {run} cfg {index} seed {record['seed']} model {record['model_2way']:.4f} "
                f"2way {record['2way']:.4f} 3way {record['3way']:.4f} worst "
                f"{'x'.join(record['worst_pair'])} {record['worst_pair_tvd']:.3f} "
                f"({record['ratio']:.2f}x; model {record['model_worst_pair_tvd']:.3f}, "
                f"{record['model_ratio']:.2f}x) "
                f"auc {record['auc']:.4f} "
                f"{record['seconds']:.0f}s | {' '.join(record['measured'])}",
                flush=True,
            )
    print(f"{args.table} eps {args.eps}: median / worst")
    for index, options in enumerate(configs):
        group = [r for r in records if r["config"] == index]
        line = " ".join(
            f"{key} {np.median([r[key] for r in group]):.4f}/{max(r[key] for r in group):.4f}"
            for key in ("model_2way", "2way", "3way", "worst_pair_tvd", "ratio", "model_ratio")
        )
        auc = [r["auc"] for r in group]
        line += f" auc {np.median(auc):.4f}/{min(auc):.4f}"
        line += f" cpu {np.median([r['cpu_seconds'] for r in group]):.1f}s"
        print(f"cfg {index} {json.dumps(options)}: {line}")
    if args.out is not None:
        args.out.write_text(json.dumps({"table": args.table, "eps": args.eps, "runs": records}))


if __name__ == "__main__":
    main()
