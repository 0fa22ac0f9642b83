"""Throughput of dpcore's exact discrete Gaussian / Laplace samplers, with OpenDP beside.

Run ``.venv/bin/python bench/noise.py [--quick]``. Prints samples per second (median of a few
repeats, after one warm-up call that builds and caches the per-scale tables; the build time is
reported separately) for scales 1, 10, 100 and 10**4 at 10**6 and 10**7 samples, drawing from
the production source (OS CSPRNG). OpenDP (the ``bench`` extra) is timed on 10**5 samples
through its vector measurement (ints in, ints out) and reported as a rate; "ratio" is ours
divided by OpenDP's. Results are written to ``bench/results/noise.json``.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dpcore.noise import (
    RandomSource,
    discrete_gaussian,
    discrete_laplace,
    secure_source,
    seeded_source,
)

SCALES = (1.0, 10.0, 100.0, 1e4)
RESULTS = Path(__file__).resolve().parent / "results" / "noise.json"

Sampler = Callable[[float, int, RandomSource], npt.NDArray[np.int64]]
Batch = Callable[[int], object]


def median_rate(run: Batch, n: int, repeats: int) -> float:
    """Median samples/second of ``run(n)`` over ``repeats`` timed calls."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run(n)
        times.append(time.perf_counter() - start)
    return n / statistics.median(times)


def bind(sampler: Sampler, scale: float, source: RandomSource) -> Batch:
    """``n -> sampler(scale, n, source)``, fixing the loop variables now."""
    return lambda n: sampler(scale, n, source)


def opendp_runners(scale: float, n: int) -> dict[str, Batch] | None:
    """OpenDP's integer Gaussian and Laplace on ``n`` zeros, or None if not installed."""
    try:
        import opendp.prelude as dp
    except ImportError:
        return None
    dp.enable_features("contrib")
    domain = dp.vector_domain(dp.atom_domain(T=int), size=n)
    gaussian = dp.m.make_gaussian(domain, dp.l2_distance(T=int), scale=scale)
    laplace = dp.m.make_laplace(domain, dp.l1_distance(T=int), scale=scale)
    zeros = [0] * n
    return {
        "discrete_gaussian": lambda _n: gaussian(zeros),
        "discrete_laplace": lambda _n: laplace(zeros),
    }


def main() -> None:
    """Measure, print the table and write the JSON report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats, 10**6 only")
    parser.add_argument(
        "--seeded", action="store_true", help="use the seeded PRNG instead of the OS CSPRNG"
    )
    args = parser.parse_args()
    sizes = (10**6,) if args.quick else (10**6, 10**7)
    repeats = 3 if args.quick else 5
    opendp_n = 10**4 if args.quick else 10**5
    opendp_repeats = 1 if args.quick else 3
    source = seeded_source(0) if args.seeded else secure_source()
    samplers: dict[str, Sampler] = {
        "discrete_gaussian": discrete_gaussian,
        "discrete_laplace": discrete_laplace,
    }

    rows: list[dict[str, Any]] = []
    header = (
        f"{'sampler':<18} {'scale':>8} {'n':>9} {'build s':>8} {'ours /s':>12} "
        f"{'opendp /s':>11} {'ratio':>7}"
    )
    print(f"source: {'seeded PCG64DXSM' if args.seeded else 'OS CSPRNG'}")
    print(header)
    print("-" * len(header))
    for scale in SCALES:
        theirs = opendp_runners(scale, opendp_n)
        for name, sampler in samplers.items():
            start = time.perf_counter()
            sampler(scale, 1, source)  # builds and caches the tables for this scale
            build = time.perf_counter() - start
            other = None if theirs is None else median_rate(theirs[name], opendp_n, opendp_repeats)
            for n in sizes:
                ours = median_rate(bind(sampler, scale, source), n, repeats)
                ratio = None if other is None else ours / other
                rows.append(
                    {
                        "sampler": name,
                        "scale": scale,
                        "n": n,
                        "build_seconds": build,
                        "ours_per_second": ours,
                        "opendp_per_second": other,
                        "opendp_n": opendp_n,
                        "ratio": ratio,
                    }
                )
                other_text = "not installed" if other is None else f"{other:11.3g}"
                ratio_text = "" if ratio is None else f"{ratio:7.0f}"
                print(
                    f"{name:<18} {scale:>8g} {n:>9} {build:>8.3f} {ours:>12.4g} "
                    f"{other_text:>11} {ratio_text:>7}"
                )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "source": "seeded" if args.seeded else "secure",
        "quick": args.quick,
        "repeats": repeats,
        "machine": {"python": platform.python_version(), "processor": platform.machine()},
        "numpy": np.__version__,
        "rows": rows,
    }
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
