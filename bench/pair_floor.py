"""How low a 2-way pair's TVD can go when the pair is learnt through grouped codes (issue 17).

Issue 17 asks that a run's worst 2-way pair be at most 3x its mean 2-way TVD. The worst pairs
of ``bench/utility.py``'s tables join two large ordinal columns (CPS hours x experience, GSS
age x prestige); AIM can afford them only with each large column cut into ``k`` contiguous
groups (:mod:`dpcore.synth.coarse`). This benchmark measures, on the training rows and with
no noise at all, what that grouping alone loses, and what sampling alone costs:

* ``independent``: the pair's TVD under independence of its exact 1-way tables;
* ``grouped k``: the maximum-entropy table with the exact 1-way tables and the exact ``k x k``
  grouped counts (groups: :func:`dpcore.synth.coarse.quantile_groups` of the exact 1-way
  tables, as AIM would cut them from a perfect estimate), fitted by iterative proportional
  fitting; what a noise-free grouped measurement leaves;
* ``similar k``: the same with non-contiguous groups, each column's codes clustered by their
  exact conditional distribution of the other column (:func:`similarity_groups`, weighted
  k-means started from the contiguous groups): an oracle for grouping codes by similarity
  (a noisy model's conditional can only group worse), spikes and heaped codes included;
* ``sampled k`` / ``sampled exact``: the TVD of as many rows as the training set drawn from
  the ``grouped k`` table / from the exact table: what the sampled metric of
  ``bench/utility.py`` scores for a model that knows the pair that well;
* ``bootstrap``: the median over 5 resamples (with replacement, the training size) of the
  pair's TVD, the sampling floor of the metric.

Per table it also reports the bootstrap's own mean 2-way TVD, worst pair and worst-pair ratio
(median of 3 resamples): the ratio a perfect, non-private generator scores on the metric.

Per table it prints the pairs with the largest ``grouped 12`` floor beside 3x the mean 2-way
TVD of a reference (``--reference``, a ``bench/utility.py`` result file: its AIM median per
epsilon), so one sees whether the bound is reachable by any model that learns the pair in 12
groups. No privacy is involved: this reads training rows, it is an analysis of the metric.

Usage::

    .venv/bin/python bench/pair_floor.py
    .venv/bin/python bench/pair_floor.py --tables cps_hi --top 3

Writes ``bench/results/pair_floor.json``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import sys
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.results_file import write_results  # noqa: E402
from bench.utility import TABLES, Table, load_table, tvd_scores  # noqa: E402
from dpcore.synth.coarse import quantile_groups  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "pair_floor.json"
LEVELS = (6, 12, 24)
Matrix = npt.NDArray[np.float64]
Codes = npt.NDArray[np.int64]


def pair_table(rows: npt.NDArray[np.int64], i: int, j: int, shape: tuple[int, int]) -> Matrix:
    """Normalised 2-way table of columns ``i`` and ``j``."""
    flat = rows[:, i] * shape[1] + rows[:, j]
    counts = np.bincount(flat, minlength=shape[0] * shape[1]).astype(np.float64)
    return (counts / max(rows.shape[0], 1)).reshape(shape)


def tvd(p: Matrix, q: Matrix) -> float:
    """Half the L1 distance of two normalised tables."""
    return 0.5 * float(np.abs(p - q).sum())


def contiguous_groups(true: Matrix, k: int) -> tuple[Codes, Codes]:
    """Both columns' :func:`quantile_groups` of ``true``'s exact 1-way tables."""
    rows, cols = true.sum(axis=1), true.sum(axis=0)
    return (
        np.asarray(quantile_groups(rows, k), dtype=np.int64),
        np.asarray(quantile_groups(cols, k), dtype=np.int64),
    )


def similarity_groups(true: Matrix, k: int, start: Codes, iterations: int = 50) -> Codes:
    """At most ``k`` groups of the row codes of ``true``, clustered by their conditional
    distribution of the column codes (mass-weighted k-means from ``start``); groups need not
    be contiguous. Codes without mass keep their ``start`` group; labels are renumbered
    ``0 .. g - 1`` in order of first use."""
    mass = true.sum(axis=1)
    profiles = np.divide(true, mass[:, None], out=np.zeros_like(true), where=mass[:, None] > 0)
    labels = np.asarray(start, dtype=np.int64).copy()
    for _ in range(iterations):
        sums = np.zeros((k, true.shape[1]))
        np.add.at(sums, labels, true)
        weight = np.bincount(labels, weights=mass, minlength=k)
        centres = np.divide(
            sums, weight[:, None], out=np.zeros_like(sums), where=weight[:, None] > 0
        )
        distance = ((profiles[:, None, :] - centres[None, :, :]) ** 2).sum(axis=2)
        distance[:, weight <= 0] = np.inf
        moved = np.where(mass > 0, np.argmin(distance, axis=1), labels)
        if np.array_equal(moved, labels):
            break
        labels = moved
    _, first = np.unique(labels, return_index=True)
    order = {int(labels[i]): n for n, i in enumerate(sorted(first))}
    return np.asarray([order[int(g)] for g in labels], dtype=np.int64)


def grouped_fit(true: Matrix, k: int, sweeps: int = 300) -> Matrix:
    """The maximum-entropy table matching ``true``'s 1-way tables and its ``k x k`` grouped
    counts, contiguous groups (iterative proportional fitting from independence)."""
    return fit_to_groups(true, *contiguous_groups(true, k), sweeps=sweeps)


def fit_to_groups(true: Matrix, ga: Codes, gb: Codes, sweeps: int = 300) -> Matrix:
    """The maximum-entropy table matching ``true``'s 1-way tables and its counts grouped by
    the code maps ``ga`` (rows) and ``gb`` (columns)."""
    rows, cols = true.sum(axis=1), true.sum(axis=0)
    cell = (ga[:, None] * (gb.max() + 1) + gb[None, :]).reshape(-1)
    cells = int((ga.max() + 1) * (gb.max() + 1))
    target = np.bincount(cell, weights=true.reshape(-1), minlength=cells)
    fit = np.outer(rows, cols)
    for _ in range(sweeps):
        current = np.bincount(cell, weights=fit.reshape(-1), minlength=cells)
        ratio = np.divide(target, current, out=np.zeros(cells), where=current > 0)
        fit = fit * ratio[cell].reshape(fit.shape)
        fit *= np.divide(rows, fit.sum(axis=1), out=np.zeros_like(rows), where=rows > 0)[:, None]
        fit *= np.divide(cols, fit.sum(axis=0), out=np.zeros_like(cols), where=cols > 0)[None, :]
    return fit


def sampled_tvd(table: Matrix, true: Matrix, n: int, rng: np.random.Generator) -> float:
    """TVD against ``true`` of ``n`` rows drawn from ``table`` (median of 3 draws)."""
    p = np.clip(table.reshape(-1), 0.0, None)
    p = p / p.sum()
    draws = [tvd(rng.multinomial(n, p).reshape(true.shape) / n, true) for _ in range(3)]
    return float(statistics.median(draws))


def bootstrap_ratio(table: Table, resamples: int = 3) -> dict[str, Any]:
    """The bootstrap's own 2-way scores on ``bench/utility.py``'s metric (median over
    ``resamples`` resamples): mean 2-way TVD, worst pair, its TVD and its ratio to the mean."""
    rng = np.random.default_rng(1)
    n = table.train.shape[0]
    runs = [
        tvd_scores(table.domain, table.train, table.train[rng.integers(0, n, n)])
        for _ in range(resamples)
    ]
    runs.sort(key=lambda r: float(r["worst_pair_ratio"]))
    middle = runs[len(runs) // 2]
    return {
        key: middle[key] for key in ("2way", "worst_pair", "worst_pair_tvd", "worst_pair_ratio")
    }


def pair_floors(
    rows: npt.NDArray[np.int64], sizes: tuple[int, ...], i: int, j: int
) -> dict[str, float]:
    """Every floor of the module docstring for one pair."""
    shape = (sizes[i], sizes[j])
    true = pair_table(rows, i, j, shape)
    out = {"independent": tvd(np.outer(true.sum(axis=1), true.sum(axis=0)), true)}
    rng = np.random.default_rng(0)
    n = rows.shape[0]
    for k in LEVELS:
        ga, gb = contiguous_groups(true, k)
        fit = fit_to_groups(true, ga, gb)
        out[f"grouped_{k}"] = tvd(fit, true)
        out[f"sampled_{k}"] = sampled_tvd(fit, true, n, rng)
        similar = fit_to_groups(
            true, similarity_groups(true, k, ga), similarity_groups(true.T, k, gb)
        )
        out[f"similar_{k}"] = tvd(similar, true)
    out["sampled_exact"] = sampled_tvd(true, true, n, rng)
    boots = []
    for _ in range(5):
        resample = rows[rng.integers(0, rows.shape[0], rows.shape[0])]
        boots.append(tvd(pair_table(resample, i, j, shape), true))
    out["bootstrap"] = statistics.median(boots)
    return out


def reference_means(path: Path) -> dict[tuple[str, float], float]:
    """AIM's median 2-way TVD per (table, epsilon) in a ``bench/utility.py`` result file."""
    if not path.exists():
        return {}
    summary = json.loads(path.read_text()).get("summary", [])
    return {
        (r["table"], float(r["epsilon"])): float(r["2way"])
        for r in summary
        if r.get("method") == "aim"
    }


def main(argv: list[str] | None = None) -> None:
    """Print the largest floors per table and write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tables", default="adult,cps_hi,gss_wages")
    parser.add_argument("--top", type=int, default=5, help="pairs shown per table")
    parser.add_argument(
        "--reference",
        default=str(ROOT / "bench" / "results" / "utility-tables-wt55.json"),
        help="a bench/utility.py result file whose AIM medians give 3x the mean",
    )
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args(argv)
    means = reference_means(Path(args.reference))
    results: list[dict[str, Any]] = []
    for name in [t.strip() for t in args.tables.split(",") if t.strip() in TABLES]:
        table = load_table(name)
        names, sizes = table.domain.names, table.domain.sizes
        large = [c for c in range(len(names)) if sizes[c] >= 20]
        pairs = [
            (i, j)
            for i, j in itertools.combinations(range(len(names)), 2)
            if i in large or j in large
        ]
        rows = [
            {"pair": [names[i], names[j]], **pair_floors(table.train, sizes, i, j)}
            for i, j in pairs
        ]
        rows.sort(key=lambda r: -r["grouped_12"])
        bounds = {f"{eps:g}": 3.0 * m for (t, eps), m in sorted(means.items()) if t == name}
        boot = bootstrap_ratio(table)
        results.append(
            {"table": name, "three_times_mean": bounds, "bootstrap_scores": boot, "pairs": rows}
        )
        print(f"{name}: 3x AIM's median 2-way TVD per epsilon {bounds or '(no reference)'}")
        print(
            f"  bootstrap: mean 2-way {boot['2way']:.4f}, worst {' x '.join(boot['worst_pair'])} "
            f"{boot['worst_pair_tvd']:.4f}, ratio {boot['worst_pair_ratio']:.2f}x"
        )
        kinds = ("grouped", "similar", "sampled")
        header = " ".join(f"{kind[:4] + ' ' + str(k):>8}" for k in LEVELS for kind in kinds)
        print(f"  {'pair':<24} {'indep':>6} {header} {'samp ex':>7} {'boot':>6}")
        for r in rows[: args.top]:
            cells = " ".join(f"{r[f'{kind}_{k}']:>8.4f}" for k in LEVELS for kind in kinds)
            label = " x ".join(r["pair"])
            print(
                f"  {label:<24} {r['independent']:>6.4f} {cells} {r['sampled_exact']:>7.4f} "
                f"{r['bootstrap']:>6.4f}"
            )
    write_results(Path(args.out), {"levels": list(LEVELS), "tables": results})


if __name__ == "__main__":
    main()
