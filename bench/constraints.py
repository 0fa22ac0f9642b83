"""Declared constraints on Adult: violating rows and 2-way quality, with and without the rule.

Run ``.venv/bin/python bench/constraints.py [--runs 10] [--eps 1]``. Each run releases the
shipped Adult spec (AIM, seeded noise: these runs are not private) twice, measuring and
fitting each time: with the spec's education ↔ education_num mapping as structural zeros
(the model knows the rule, so AIM spends no round on that pair), and without it (today's
release). It reports, per variant, the rows
breaking the mapping and the mean 2-way TVD to the real table over all column pairs (this
bench reads the real rows to score; a release never does). Prints a table and writes
``bench/results/constraints.json``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dpcore.accounting import PrivacyCost
from dpcore.domain import Domain
from dpcore.marginals import ArrayOracle
from dpcore.noise import seeded_source
from flows.spec import load_spec
from warehouse.connection import connect
from warehouse.paths import WarehousePaths
from warehouse.seed import seed_adult
from warehouse.source import DuckDBOracle, encoded_query

SPEC = Path(__file__).resolve().parents[1] / "deployments" / "specs" / "adult.yaml"
RESULTS = Path(__file__).resolve().parent / "results" / "constraints.json"


def real_codes(home: Path) -> npt.NDArray[np.int64]:
    """The real table's codes, for scoring only, by the release's own encoding SQL."""
    request = load_spec(SPEC).to_request(str(SPEC))
    paths = WarehousePaths.from_env(home)
    with connect(paths.warehouse) as con:
        frame = con.execute(encoded_query(request.source_table, request.codec)).fetchnumpy()
    return np.stack([np.asarray(frame[n], dtype=np.int64) for n in request.codec.domain.names], 1)


def two_way_tvd(domain: Domain, real: npt.NDArray[np.int64], synth: npt.NDArray[np.int64]) -> float:
    """Mean total variation distance over every pair of columns."""
    ours, theirs = ArrayOracle(domain, real), ArrayOracle(domain, synth)
    pairs = list(combinations(domain.names, 2))
    scores = [
        0.5 * float(np.abs(r / real.shape[0] - s / synth.shape[0]).sum())
        for r, s in zip(ours.counts(pairs), theirs.counts(pairs), strict=True)
    ]
    return float(np.mean(scores))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--eps", type=float, default=1.0)
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args(argv)

    request = load_spec(SPEC).to_request(str(SPEC))
    request = replace(request, cost=PrivacyCost(args.eps, request.cost.delta))
    (zeros,) = request.zeros
    domain = request.codec.domain
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        paths = WarehousePaths.from_env(home)
        seed_adult(paths.warehouse)
        real = real_codes(home)
        rows: list[dict[str, Any]] = []
        for run in range(args.runs):
            for label, zeros_used in (("with rule", request.zeros), ("without", ())):
                synthesizer = replace(request, zeros=zeros_used).synthesizer()
                started = time.perf_counter()
                with connect(paths.warehouse) as con:
                    candidates = synthesizer.candidates(domain)
                    oracle = DuckDBOracle(
                        con, request.source_table, request.codec, request.unit,
                        candidates=candidates,
                    )  # fmt: skip
                    oracle.counts(candidates)
                    measurements = synthesizer.measure(
                        domain, request.measure_rho, oracle, seeded_source(1000 + run)
                    )
                model = synthesizer.fit(domain, measurements)
                synth = model.sample(real.shape[0], np.random.default_rng(run))
                rows.append(
                    {
                        "run": run,
                        "variant": label,
                        "violating_rows": zeros.violations(synth, domain),
                        "tvd_2way": two_way_tvd(domain, real, synth),
                        "seconds": time.perf_counter() - started,
                    }
                )
            print(f"run {run}: " + ", ".join(
                f"{r['variant']} {r['violating_rows']} rows off, 2-way {r['tvd_2way']:.4f}"
                for r in rows[-2:]
            ))  # fmt: skip
    summary = {}
    for label in ("with rule", "without"):
        mine = [r for r in rows if r["variant"] == label]
        summary[label] = {
            "max_violating_rows": max(r["violating_rows"] for r in mine),
            "median_violating_rows": statistics.median(r["violating_rows"] for r in mine),
            "median_tvd_2way": statistics.median(r["tvd_2way"] for r in mine),
            "worst_tvd_2way": max(r["tvd_2way"] for r in mine),
        }
    print(f"\nAdult, AIM, epsilon {args.eps:g}, {args.runs} runs (seeded noise, not private)")
    print(f"{'variant':<10} {'rows off (max)':>15} {'2-way TVD median':>17} {'worst':>7}")
    for label, s in summary.items():
        print(
            f"{label:<10} {s['max_violating_rows']:>15} {s['median_tvd_2way']:>17.4f} "
            f"{s['worst_tvd_2way']:>7.4f}"
        )
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"epsilon": args.eps, "runs": rows, "summary": summary}, indent=2))


if __name__ == "__main__":
    main()
