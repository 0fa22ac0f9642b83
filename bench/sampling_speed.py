"""Time of sampling many rows (chunked, as a release does) from one AIM model fitted on a
table, per sampling scheme, schemes alternated within each repeat so load hits them alike.

Example: ``bench/sampling_speed.py --rows 10000000 --repeats 3 --schemes systematic,balanced``
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.sampling_error import fitted
from bench.utility import load_table
from dpcore.synth.sampling import chunk_generator, chunk_sizes, forward_sample


def seconds(model: object, rows: int, scheme: str, seed: int) -> float:
    """Wall time of sampling ``rows`` in default-size chunks (rows discarded per chunk)."""
    started = time.perf_counter()
    for index, size in enumerate(chunk_sizes(rows)):
        forward_sample(
            model.tree,  # type: ignore[attr-defined]
            model.beliefs,  # type: ignore[attr-defined]
            size,
            chunk_generator(seed, index),
            scheme=scheme,  # type: ignore[arg-type]
        )
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--table", default="adult")
    parser.add_argument("--eps", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=1000)
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--schemes", default="systematic,balanced")
    parser.add_argument("--cache", type=Path, default=Path("/tmp/sampling_error_models"))
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    model = fitted(load_table(args.table), args.table, args.eps, args.seed, args.cache)
    schemes = args.schemes.split(",")
    times: dict[str, list[float]] = {s: [] for s in schemes}
    for repeat in range(args.repeats):
        for scheme in schemes:
            times[scheme].append(seconds(model, args.rows, scheme, args.seed + repeat))
            print(f"repeat {repeat} {scheme}: {times[scheme][-1]:.1f}s", flush=True)
    medians = {s: float(np.median(t)) for s, t in times.items()}
    base = medians[schemes[0]]
    for scheme in schemes:
        print(f"{scheme}: median {medians[scheme]:.1f}s ({medians[scheme] / base:.2f}x)")
    if args.out is not None:
        args.out.write_text(json.dumps({"rows": args.rows, "times": times, "medians": medians}))


if __name__ == "__main__":
    main()
