"""AIM's quality and CPU time on Adult under several synthesizer configurations, alternated.

Protocol: ``bench/utility.py``'s Adult split and rho (delta 1e-9). For each seed in turn,
every configuration (a name and JSON options of :class:`dpcore.synth.aim.AIMSynthesizer`)
runs ``measure`` with ``seeded_source(seed)`` (so each configuration starts from the same
1-way noise and first selections; paths diverge once a refit differs), then ``fit``, then
samples the training row count with ``numpy.random.default_rng(seed)``. Reported per run:
the model's exact 2-way TVD (``model.marginal`` of every pair against the training rows'
exact marginals: no sampling noise), the sampled 1/2/3-way TVD (``tvd_scores``), the CPU
time (``process_time``) of measure + fit + sample, the junction-tree calibrations of
``measure``'s refits and the number of measurements; per configuration the median and the
worst (largest TVD) of its runs. Runs are spread over ``--jobs`` worker processes in
(seed, configuration) order, so the configurations see the same machine load.

Usage::

    nice -n 10 .venv/bin/python bench/refit_quality.py --eps 1 --seeds 0-9 \\
        --configs '{"main": {}, "stall": {"round_stall": 0.01}}'

Writes ``bench/results/refit_quality.json`` (or ``--out``).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.results_file import write_results  # noqa: E402
from bench.utility import DELTA, load_adult, model_pair_tvds, rho_for, tvd_scores  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "refit_quality.json"
METRICS = ("model_2way", "2way", "3way", "cpu_seconds", "calibrations", "measurements")


def final_fits(
    synthesizer: Any, domain: Any, measurements: list[Any], train: np.ndarray, stalls: list[float]
) -> list[dict[str, float]]:
    """The final fit of the same measurements again at each ``fit_stall`` in ``stalls``: its
    calibrations, loss, CPU time and the model's exact 2-way TVD (paired: same inputs)."""
    from dpcore.synth.model import fit_model

    out = []
    for stall in stalls:
        cpu = time.process_time()
        model, report = fit_model(
            domain,
            synthesizer._for_fit(measurements),
            iterations=synthesizer.fit_iterations,
            zeros=synthesizer.zeros,
            stall=stall,
        )
        pairs = model_pair_tvds(domain, train, model)
        out.append(
            {
                "fit_stall": stall,
                "calibrations": report.iterations,
                "loss": report.loss,
                "cpu_seconds": time.process_time() - cpu,
                "model_2way": float(np.mean(list(pairs.values()))),
            }
        )
    return out


def one_run(
    name: str, options: dict[str, Any], epsilon: float, seed: int, stalls: list[float]
) -> dict[str, Any]:
    """One AIM release with ``options`` and ``seed``; its scores, time and refit count, and
    the final fit redone at each ``fit_stall`` of ``stalls``."""
    from dpcore.marginals import ArrayOracle
    from dpcore.noise.source import seeded_source
    from dpcore.synth import aim
    from dpcore.synth.aim import AIMSynthesizer

    domain, train, _ = load_adult()
    calibrations = [0]
    fit_model = aim.fit_model

    def counted(*args: Any, **kwargs: Any) -> Any:
        model, report = fit_model(*args, **kwargs)
        calibrations[0] += report.iterations
        return model, report

    aim.fit_model = counted  # type: ignore[assignment]  # counts measure's fits only
    synthesizer = AIMSynthesizer(**options)
    cpu = time.process_time()
    measurements = synthesizer.measure(
        domain, rho_for(epsilon, DELTA), ArrayOracle(domain, train), seeded_source(seed)
    )
    aim.fit_model = fit_model  # type: ignore[assignment]
    model = synthesizer.fit(domain, measurements)
    rows = model.sample(train.shape[0], np.random.default_rng(seed))
    cpu = time.process_time() - cpu
    scores = tvd_scores(domain, train, rows)
    pairs = model_pair_tvds(domain, train, model)
    worst = sorted(pairs, key=pairs.__getitem__, reverse=True)[:3]
    return {
        "config": name,
        "seed": seed,
        "epsilon": epsilon,
        "model_2way": float(np.mean(list(pairs.values()))),
        "worst_pairs": {p: round(pairs[p], 4) for p in worst},
        "cliques": [
            "|".join(m.clique) + ("*" if getattr(m, "groups", ()) else "")
            for m in measurements[len(domain) :]
        ],
        "1way": scores["1way"],
        "2way": scores["2way"],
        "3way": scores["3way"],
        "cpu_seconds": cpu,
        "calibrations": calibrations[0],
        "measurements": len(measurements),
        "final_fits": final_fits(synthesizer, domain, measurements, train, stalls),
    }


def seeds_from(text: str) -> list[int]:
    """``0-9`` or ``1,4,7``."""
    if "-" in text:
        low, high = text.split("-")
        return list(range(int(low), int(high) + 1))
    return [int(s) for s in text.split(",")]


def summarise(runs: list[dict[str, Any]], names: list[str]) -> dict[str, dict[str, Any]]:
    """Per configuration: median and worst (largest) of each metric."""
    out = {}
    for name in names:
        mine = [r for r in runs if r["config"] == name]
        out[name] = {
            "runs": len(mine),
            **{f"median_{m}": statistics.median(r[m] for r in mine) for m in METRICS},
            **{f"worst_{m}": max(r[m] for r in mine) for m in METRICS},
        }
    return out


def main() -> None:
    """Run every (seed, configuration), print each run and the summary, write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--eps", type=float, default=1.0)
    parser.add_argument("--seeds", default="0-9")
    parser.add_argument("--configs", default='{"default": {}}', help="JSON: name -> options")
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument(
        "--final-stalls",
        default="",
        help="comma-separated fit_stall values: refit each run's "
        "final model at each (same measurements) and report it",
    )
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args()
    configs: dict[str, dict[str, Any]] = json.loads(args.configs)
    stalls = [float(x) for x in args.final_stalls.split(",") if x]
    tasks = [
        (name, configs[name], args.eps, seed, stalls)
        for seed in seeds_from(args.seeds)
        for name in configs
    ]
    runs = []
    with concurrent.futures.ProcessPoolExecutor(args.jobs) as pool:
        for result in pool.map(one_run, *zip(*tasks, strict=True)):
            runs.append(result)
            print(
                f"seed {result['seed']:>3} {result['config']:<12} model {result['model_2way']:.4f} "
                f"2way {result['2way']:.4f} 3way {result['3way']:.4f} "
                f"cpu {result['cpu_seconds']:5.2f} s calib {result['calibrations']:>5} "
                f"meas {result['measurements']} {result['worst_pairs']}"
                + "".join(
                    f"\n    final fit_stall {f['fit_stall']}: model {f['model_2way']:.5f} "
                    f"calib {f['calibrations']} cpu {f['cpu_seconds']:.2f} s"
                    for f in result["final_fits"]
                ),
                flush=True,
            )
    summary = summarise(runs, list(configs))
    print(f"\n{'config':<12} {'runs':>4} " + " ".join(f"{m:>22}" for m in METRICS[:5]))
    for name, s in summary.items():
        cells = " ".join(
            f"{s[f'median_{m}']:>10.4f} / {s[f'worst_{m}']:<9.4f}" for m in METRICS[:5]
        )
        print(f"{name:<12} {s['runs']:>4} {cells}")
    print("(median / worst)")
    fields = {"protocol": __doc__, "epsilon": args.eps, "configs": configs, "summary": summary}
    write_results(Path(args.out), {**fields, "runs": runs})
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
