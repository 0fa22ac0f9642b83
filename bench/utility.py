"""Utility benchmark of the synthesizers on private-pgm's discretised UCI Adult (fixed protocol).

Protocol. ``bench/data/adult.csv`` (48,842 rows, 14 integer-coded columns; domain sizes from
``adult-domain.json``, public) is split by ``numpy.random.RandomState(0).permutation(48842)``:
the first 9,768 permuted rows are held out, the other 39,074 are the private training rows.
Each synthesizer spends rho = the tight zCDP equivalent of (epsilon, delta = 1e-9) through
``measure`` with ``secure_source()`` noise, then ``fit`` and ``sample`` 39,074 rows. Reported
per run: the average total variation distance (half L1 of normalised tables, training rows
vs synthetic rows) over all 1-way, all 2-way and 64 fixed 3-way marginals (the 364 3-subsets
in lexicographic order of column position, 64 chosen by
``numpy.random.default_rng(0).choice(364, 64, replace=False)``); the ROC AUC on the held-out
rows of a logistic regression trained on the synthetic rows (one-hot features over the full
public domain) to predict ``income>50K``; the wall time of one release (measure + fit +
sample) and the peak resident memory of the fresh process that ran it. "real" is the
no-privacy reference: the training rows themselves.

Pure epsilon-DP rows (``kind`` "pure"; methods ``independent-pure``, ``mst-pure``,
``aim-pure``, or ``--pure`` to add them after the zCDP methods): the same protocol with
delta = 0, the synthesizer built with ``calculus=PURE`` and spending exactly epsilon (discrete
Laplace measurements, pure exponential-mechanism selection), as a ``delta: 0`` release does.

Usage::

    .venv/bin/python bench/utility.py            # eps 0.3, 1, 3; 3 runs each
    .venv/bin/python bench/utility.py --quick    # eps 1, one run
    .venv/bin/python bench/utility.py --pure --methods independent,mst,aim   # + pure rows

Writes ``bench/results/utility.json`` and prints a table of medians.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import itertools
import json
import math
import multiprocessing
import resource
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from dpcore.domain import Domain  # noqa: E402
from dpcore.marginals import ArrayOracle  # noqa: E402

DATA = ROOT / "bench" / "data"
RESULTS = ROOT / "bench" / "results" / "utility.json"
HOLDOUT = 9768
DELTA = 1e-9
LABEL = "income>50K"
PURE_SUFFIX = "-pure"
Codes = npt.NDArray[np.int64]


def load_adult() -> tuple[Domain, Codes, Codes]:
    """The public domain, the training rows and the held-out rows of the fixed split."""
    sizes = json.loads((DATA / "adult-domain.json").read_text())
    domain = Domain.from_dict(sizes)
    with (DATA / "adult.csv").open() as handle:
        header = handle.readline().strip().split(",")
    if tuple(header) != domain.names:
        raise ValueError("adult.csv columns do not match adult-domain.json")
    rows = np.loadtxt(DATA / "adult.csv", delimiter=",", skiprows=1, dtype=np.int64)
    order = np.random.RandomState(0).permutation(rows.shape[0])
    return domain, rows[order[HOLDOUT:]], rows[order[:HOLDOUT]]


def rho_for(epsilon: float, delta: float) -> float:
    """zCDP rho for (epsilon, delta): the project's conversion, else the classic bound."""
    try:
        from dpcore.accounting import rho_from_eps_delta
    except ImportError:
        # Largest rho with rho + 2 sqrt(rho ln(1/delta)) <= epsilon.
        log_term = math.log(1.0 / delta)
        root = -math.sqrt(log_term) + math.sqrt(log_term + epsilon)
        return root * root
    return float(rho_from_eps_delta(epsilon, delta))


def split_method(method: str) -> tuple[str, str]:
    """``(synthesizer name, kind)``: ``aim-pure`` is ``("aim", "pure")``, ``aim`` is
    ``("aim", "zcdp")`` and the no-privacy reference ``real`` is ``("real", "none")``."""
    if method == "real":
        return method, "none"
    if method.endswith(PURE_SUFFIX):
        return method[: -len(PURE_SUFFIX)], "pure"
    return method, "zcdp"


def marginal_sets(d: int) -> dict[str, list[tuple[int, ...]]]:
    """Column-position tuples of the 1-way, 2-way and sampled 3-way marginals."""
    triples = list(itertools.combinations(range(d), 3))
    picks = np.random.default_rng(0).choice(len(triples), 64, replace=False)
    return {
        "1way": [(i,) for i in range(d)],
        "2way": list(itertools.combinations(range(d), 2)),
        "3way": [triples[int(i)] for i in picks],
    }


def _table(rows: Codes, cols: tuple[int, ...], sizes: tuple[int, ...]) -> npt.NDArray[np.float64]:
    shape = tuple(sizes[i] for i in cols)
    flat = np.ravel_multi_index(tuple(rows[:, i] for i in cols), shape)
    counts = np.bincount(flat, minlength=math.prod(shape)).astype(np.float64)
    return counts / max(rows.shape[0], 1)


def tvd_scores(domain: Domain, real: Codes, synth: Codes) -> dict[str, float]:
    """Average TVD over each marginal family."""
    out = {}
    for family, sets in marginal_sets(len(domain)).items():
        values = [
            0.5
            * float(np.abs(_table(real, c, domain.sizes) - _table(synth, c, domain.sizes)).sum())
            for c in sets
        ]
        out[family] = float(np.mean(values))
    return out


def auc_score(domain: Domain, train: Codes, test: Codes) -> float:
    """ROC AUC on ``test`` of a one-hot logistic regression fitted on ``train``."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.preprocessing import OneHotEncoder

    target = domain.index(LABEL)
    features = [i for i in range(len(domain)) if i != target]
    if len(np.unique(train[:, target])) < 2:
        return 0.5
    encoder = OneHotEncoder(
        categories=[list(range(domain.sizes[i])) for i in features], handle_unknown="ignore"
    )
    x_train = encoder.fit_transform(train[:, features])
    x_test = encoder.transform(test[:, features])
    model = LogisticRegression(max_iter=2000)
    model.fit(x_train, train[:, target])
    return float(roc_auc_score(test[:, target], model.predict_proba(x_test)[:, 1]))


def release(method: str, epsilon: float, options: dict[str, Any]) -> dict[str, Any]:
    """One release in this (fresh) process: synthetic rows, wall time, peak memory.

    A zCDP method spends ``rho_for(epsilon, DELTA)``; a pure one (``<name>-pure``) is built
    with ``calculus=PURE`` and spends ``epsilon`` itself (delta 0)."""
    from dpcore.calculus import PURE
    from dpcore.noise import secure_source
    from dpcore.synth.registry import get_synthesizer

    domain, train, _ = load_adult()
    name, kind = split_method(method)
    budget = epsilon if kind == "pure" else rho_for(epsilon, DELTA)
    rng = np.random.default_rng()
    started = time.perf_counter()
    if name == "real":
        rows = train
    else:
        if kind == "pure":
            options = {**options, "calculus": PURE}
        synthesizer = get_synthesizer(name, **options)
        oracle = ArrayOracle(domain, train)
        measurements = synthesizer.measure(domain, budget, oracle, secure_source())
        model = synthesizer.fit(domain, measurements)
        rows = model.sample(train.shape[0], rng)
    seconds = time.perf_counter() - started
    return {
        "rows": rows,
        "seconds": seconds,
        "peak_mb": peak_memory_mb(),
        "kind": kind,
        "delta": 0.0 if kind == "pure" else DELTA,
        "rho": budget if kind == "zcdp" else None,
        "budget": budget,
    }


def peak_memory_mb() -> float:
    """Peak resident memory of this process in MB (``VmHWM``; ``ru_maxrss`` would include the
    parent's footprint, which Linux carries across the spawn's ``execve``)."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return float(line.split()[1]) / 1024.0
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def run_one(method: str, epsilon: float, options: dict[str, Any]) -> dict[str, Any]:
    """A release in a fresh subprocess (so peak memory is its own), then its scores."""
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(1, mp_context=context) as pool:
        result = pool.submit(release, method, epsilon, options).result()
    domain, train, test = load_adult()
    rows = result.pop("rows")
    scores = tvd_scores(domain, train, rows)
    return {
        "method": method,
        "epsilon": epsilon,
        **scores,
        "auc": auc_score(domain, rows, test),
        **result,
    }


def options_for(method: str) -> dict[str, Any]:
    """Benchmark options per method (library defaults)."""
    return {}


def main(argv: list[str] | None = None) -> None:
    """Run the protocol, print medians, write the JSON results."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="epsilon 1 only, one run")
    parser.add_argument(
        "--methods",
        default="real,independent,mst,aim",
        help="comma-separated; a name ending in -pure runs under pure epsilon-DP (delta 0)",
    )
    parser.add_argument(
        "--pure", action="store_true", help="also run each listed method under pure DP"
    )
    parser.add_argument("--eps", default=None, help="comma-separated epsilons")
    parser.add_argument("--runs", type=int, default=None)
    parser.add_argument("--out", default=str(RESULTS))
    parser.add_argument(
        "--options", default="{}", help="JSON synthesizer options (mst/aim), for experiments"
    )
    args = parser.parse_args(argv)
    epsilons = [1.0] if args.quick else [0.3, 1.0, 3.0]
    if args.eps:
        epsilons = [float(e) for e in args.eps.split(",")]
    runs = args.runs if args.runs is not None else (1 if args.quick else 3)
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    if args.pure:
        extra = [f"{m}{PURE_SUFFIX}" for m in methods if split_method(m)[1] == "zcdp"]
        methods += [m for m in extra if m not in methods]
    records = []
    for epsilon in epsilons:
        for method in methods:
            for run in range(1 if method == "real" else runs):
                name = split_method(method)[0]
                extra = json.loads(args.options) if name in ("mst", "aim") else {}
                record = run_one(method, epsilon, {**options_for(name), **extra})
                record["run"] = run
                records.append(record)
                print(
                    f"eps={epsilon:<4} {method:<16} run {run}: 1way {record['1way']:.4f} "
                    f"2way {record['2way']:.4f} 3way {record['3way']:.4f} "
                    f"auc {record['auc']:.4f} {record['seconds']:.1f}s "
                    f"{record['peak_mb']:.0f}MB",
                    flush=True,
                )
    print()
    print(
        f"{'eps':>5} {'method':<16} {'kind':<5} {'1-way':>7} {'2-way':>7} {'3-way':>7} {'AUC':>7} "
        f"{'time s':>7} {'peak MB':>8}"
    )
    summary = []
    for epsilon in epsilons:
        for method in methods:
            group = [r for r in records if r["epsilon"] == epsilon and r["method"] == method]
            med = {
                k: statistics.median(r[k] for r in group)
                for k in ("1way", "2way", "3way", "auc", "seconds", "peak_mb")
            }
            kind = split_method(method)[1]
            summary.append(
                {"epsilon": epsilon, "method": method, "kind": kind, "runs": len(group), **med}
            )
            print(
                f"{epsilon:>5} {method:<16} {kind:<5} {med['1way']:>7.4f} {med['2way']:>7.4f} "
                f"{med['3way']:>7.4f} {med['auc']:>7.4f} {med['seconds']:>7.1f} "
                f"{med['peak_mb']:>8.0f}"
            )
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "protocol": __doc__,
        "delta": DELTA,
        "pure_delta": 0.0,
        "medians": summary,
        "runs": records,
    }
    out.write_text(json.dumps(payload, indent=2))
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
