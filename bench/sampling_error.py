"""Sampler variants side by side on the same fitted AIM models (issue 17): how far each
variant's rows sit from the model they are drawn from (sample-vs-model 2-way TVD, split into
pairs inside one tree clique and pairs across cliques), and the usual scores against the
training rows (2-way, 3-way TVD, downstream AUC).

Each seed's model is fitted once (and cached under ``--cache``, since fitting is the cost);
every variant then samples the training row count with the same seed(s) (``--samples``
sampling seeds per model). Example:
``bench/sampling_error.py --table adult --eps 1 --seeds 5 --schemes systematic,balanced``
"""

from __future__ import annotations

import argparse
import itertools
import json
import pickle
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.utility import (
    DELTA,
    Table,
    _table,
    auc_score,
    load_table,
    marginal_sets,
    model_pair_tvds,
    rho_for,
    tvd_scores,
)
from dpcore.marginals import ArrayOracle
from dpcore.noise.source import seeded_source
from dpcore.synth import sampling
from dpcore.synth.aim import AIMSynthesizer
from dpcore.synth.model import GraphicalModel


def fitted(table: Table, name: str, epsilon: float, seed: int, cache: Path) -> GraphicalModel:
    """AIM's model of ``table`` at ``epsilon`` with measuring seed ``seed`` (cached)."""
    path = cache / f"{name}_{epsilon}_{seed}.pkl"
    if path.exists():
        return pickle.loads(path.read_bytes())  # type: ignore[no-any-return]
    synth = AIMSynthesizer()
    oracle = ArrayOracle(table.domain, table.train)
    measurements = synth.measure(table.domain, rho_for(epsilon, DELTA), oracle, seeded_source(seed))
    model = synth.fit(table.domain, measurements)
    cache.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps(model))
    return model


def sample_vs_model(model: GraphicalModel, rows: np.ndarray) -> dict[str, float]:
    """Mean 2-way TVD between ``rows`` and the model's exact pair marginals, overall and for
    pairs inside one tree clique / across cliques."""
    domain = model.domain
    inside, across = [], []
    for cols in marginal_sets(len(domain))["2way"]:
        names = tuple(domain.names[i] for i in cols)
        exact = np.asarray(model.marginal(names)).reshape(-1)
        tvd = 0.5 * float(np.abs(_table(rows, cols, domain.sizes) - exact).sum())
        (inside if model.tree.home(names) >= 0 else across).append(tvd)
    return {
        "sm_2way": float(np.mean(inside + across)),
        "sm_inside": float(np.mean(inside)) if inside else 0.0,
        "sm_across": float(np.mean(across)) if across else 0.0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--table", default="adult")
    parser.add_argument("--eps", type=float, default=1.0)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1000)
    parser.add_argument("--schemes", default="iid,systematic,balanced")
    parser.add_argument("--samples", type=int, default=1, help="sampling seeds per model")
    parser.add_argument("--no-auc", action="store_true")
    parser.add_argument("--cache", type=Path, default=Path("/tmp/sampling_error_models"))
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    table = load_table(args.table)
    variants = args.schemes.split(",")
    records: list[dict[str, Any]] = []
    for run in range(args.seeds):
        seed = args.seed + run
        model = fitted(table, args.table, args.eps, seed, args.cache)
        model_2way = float(
            np.mean(list(model_pair_tvds(table.domain, table.train, model).values()))
        )
        for sample, scheme in itertools.product(range(args.samples), variants):
            started = time.perf_counter()
            rows = sampling.forward_sample(
                model.tree,
                model.beliefs,
                table.train.shape[0],
                np.random.default_rng([seed, sample]),
                scheme=scheme,
            )
            seconds = time.perf_counter() - started
            scores = tvd_scores(table.domain, table.train, rows)
            record = {
                "seed": seed,
                "sample": sample,
                "variant": scheme,
                "model_2way": model_2way,
                **sample_vs_model(model, rows),
                "2way": scores["2way"],
                "3way": scores["3way"],
                "auc": float("nan") if args.no_auc else auc_score(table, rows),
                "seconds": seconds,
            }
            records.append(record)
            print(
                f"seed {seed} {record['variant']:18s} model {model_2way:.4f} "
                f"s-m {record['sm_2way']:.4f} (in {record['sm_inside']:.4f} "
                f"across {record['sm_across']:.4f}) 2way {record['2way']:.4f} "
                f"3way {record['3way']:.4f} auc {record['auc']:.4f} {seconds:.2f}s",
                flush=True,
            )
    print(f"{args.table} eps {args.eps}, {args.seeds} seeds x {args.samples} samples: medians")
    keys = ("model_2way", "sm_2way", "sm_inside", "sm_across", "2way", "3way", "auc", "seconds")
    summary = {}
    for variant in dict.fromkeys(r["variant"] for r in records):
        group = [r for r in records if r["variant"] == variant]
        summary[variant] = {k: float(np.median([r[k] for r in group])) for k in keys}
        print(f"{variant:18s} " + " ".join(f"{k} {summary[variant][k]:.4f}" for k in keys))
    if args.out is not None:
        args.out.write_text(
            json.dumps({"table": args.table, "eps": args.eps, "runs": records, "summary": summary})
        )


if __name__ == "__main__":
    main()
