"""Noise-free floors of AIM's similarity grouping (issue 17): for a few GSS pairs, the
maximum-entropy table with the exact 1-way tables and the exact grouped counts
(``bench/pair_floor.py``'s ``fit_to_groups``), the groups being

* ``contiguous``: :func:`dpcore.synth.coarse.quantile_groups` of the exact 1-way tables;
* ``oracle``: ``bench/pair_floor.py``'s k-means oracle (50 steps from the contiguous groups);
* ``order``: :func:`dpcore.synth.coarse.similarity_groups` with no k-means step (codes ordered
  by the first principal component of their exact conditionals, cut by mass);
* ``similar``: :func:`dpcore.synth.coarse.similarity_groups` as AIM uses it (3 steps).

Only columns with more than ``2 k`` codes are grouped, as in AIM. No privacy is involved:
the exact conditionals stand in for a perfect model's estimate.

Usage: ``.venv/bin/python bench/similarity_floor.py`` (writes
``bench/results/similarity_floor.json``).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.pair_floor import (  # noqa: E402
    Codes,
    Matrix,
    contiguous_groups,
    fit_to_groups,
    pair_table,
    similarity_groups,
    tvd,
)
from bench.results_file import write_results  # noqa: E402
from bench.utility import load_table  # noqa: E402
from dpcore.synth.coarse import similarity_groups as model_groups  # noqa: E402

PAIRS = (
    ("prestg10", "gender"),
    ("occrecode", "prestg10"),
    ("age", "prestg10"),
    ("prestg10", "educcat"),
    ("age", "realrinc"),
)
K = 12


def floors(true: Matrix, k: int) -> dict[str, float]:
    """The pair's TVD floor under each grouping of the module docstring."""
    ga, gb = contiguous_groups(true, k)
    rows, cols = true.shape

    def keep(groups: Codes, size: int) -> Codes:
        return groups if size > 2 * k else np.arange(size, dtype=np.int64)

    def floor(a: Codes, b: Codes) -> float:
        return tvd(fit_to_groups(true, keep(a, rows), keep(b, cols)), true)

    def ours(steps: int) -> tuple[Codes, Codes]:
        return (
            np.asarray(model_groups(true, 0, k, iterations=steps), dtype=np.int64),
            np.asarray(model_groups(true, 1, k, iterations=steps), dtype=np.int64),
        )

    return {
        "contiguous": floor(ga, gb),
        "oracle": floor(similarity_groups(true, k, ga), similarity_groups(true.T, k, gb)),
        "order": floor(*ours(0)),
        "similar": floor(*ours(3)),
    }


def main() -> None:
    table = load_table("gss_wages")
    names, sizes = table.domain.names, table.domain.sizes
    out = []
    for a, b in PAIRS:
        i, j = names.index(a), names.index(b)
        result = floors(pair_table(table.train, i, j, (sizes[i], sizes[j])), K)
        out.append({"pair": [a, b], "k": K, **result})
        print(f"{a} x {b}: " + " ".join(f"{key} {value:.3f}" for key, value in result.items()))
    write_results(ROOT / "bench" / "results" / "similarity_floor.json", {"pairs": out})


if __name__ == "__main__":
    main()
