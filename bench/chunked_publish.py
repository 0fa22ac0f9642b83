"""Peak memory and time of sampling, checking and publishing a large synthetic table in chunks.

Run ``.venv/bin/python bench/chunked_publish.py [--rows 1e6 1e7] [--chunk-rows 1e6]``. Each
size runs in a fresh child process that calls the task functions the release flow calls
(``synthesize_fn`` → ``check_utility_fn`` → ``publish_fn``) on a 15-column release (7
categories, 5 integers, 3 floats, three with a missing code) whose model is an MST-style
junction tree fitted to 14 noisy 2-way marginals of a generated table; no source data is read.
The child reports the process's peak RSS (``ru_maxrss``, imports included) after each stage;
the table is then counted in the published release file. Results are merged into
``bench/results/chunked_publish.json`` (one entry per rows and chunk size).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import platform
import resource
import sys
import tempfile
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

RESULTS = Path(__file__).resolve().parent / "results" / "chunked_publish.json"


def release_request(rows: int) -> Any:
    """The bench release: 15 columns, ``rows`` synthetic rows, method mst."""
    from dpcore.accounting import PrivacyCap, PrivacyCost
    from dpcore.encoding import ColumnCodec, TableCodec
    from tasks.request import ReleaseRequest

    columns = []
    for i in range(7):
        cats = tuple(f"c{i}_{k}" for k in range(3 + 3 * i))
        extra = {"has_missing": True, "missing_tokens": ("?",), "on_invalid": "missing"}
        columns.append(
            ColumnCodec(f"cat{i}", "category", categories=cats, **(extra if i < 2 else {}))
        )  # type: ignore[arg-type]
    for i in range(5):
        edges = tuple(float(e) for e in range(0, 10 * (4 + 2 * i) + 1, 10))
        columns.append(ColumnCodec(f"int{i}", "integer", edges=edges, has_missing=i == 0))
    for i in range(3):
        columns.append(ColumnCodec(f"num{i}", "float", edges=tuple(x / 8 for x in range(9))))
    return ReleaseRequest(
        name="bench",
        description="Chunked publish benchmark.",
        source_table="raw.bench",
        codec=TableCodec(tuple(columns)),
        cost=PrivacyCost(1.0, 1e-9),
        cap=PrivacyCap(10.0, 1e-6),
        method="mst",
        spec_hash="bench",
        spec_path="bench.yaml",
        rows=rows,
    )


def measurements(request: Any, rows: int) -> list[Any]:
    """Noisy 2-way chain marginals of a generated correlated table, scaled to ``rows``."""
    import numpy as np

    from dpcore.marginals import ArrayOracle, Measurement

    rng = np.random.default_rng(0)
    domain = request.codec.domain
    n = 50_000
    codes = np.empty((n, len(domain)), dtype=np.int64)
    codes[:, 0] = rng.integers(0, domain.sizes[0], n)
    for j in range(1, len(domain)):
        follow = codes[:, j - 1] % domain.sizes[j]
        codes[:, j] = np.where(rng.random(n) < 0.6, follow, rng.integers(0, domain.sizes[j], n))
    cliques = [(domain.names[j], domain.names[j + 1]) for j in range(len(domain) - 1)]
    scale = rows / n
    sigma = 20.0
    out = []
    for clique, counts in zip(cliques, ArrayOracle(domain, codes).counts(cliques), strict=True):
        noisy = np.rint(counts * scale + rng.normal(0, sigma, counts.shape)).astype(np.int64)
        out.append(Measurement(clique, noisy, sigma, private=True))  # bench data, nothing private
    return out


def receipt(request: Any) -> Any:
    from warehouse.ledger import Charge

    return Charge(
        request.dataset, 1, "bench-run", request.name, "bench", 1.0, 1e-9,
        Decimal("0.01"), Decimal("0.01"), datetime.now(UTC), "0" * 64, "x",
    )  # fmt: skip


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(rows: int, chunk_rows: int, home: str, queue: Any) -> None:
    """One run in a fresh process: stage times and the peak RSS after each."""
    import tasks.synthesize
    from tasks.publish import publish_fn
    from tasks.utility import check_utility_fn
    from warehouse.publish import fresh_reader

    tasks.synthesize.CHUNK_ROWS = chunk_rows
    request = release_request(rows)
    ms = measurements(request, rows)
    stages: dict[str, dict[str, float]] = {"imports": {"seconds": 0.0, "peak_mb": peak_mb()}}
    start = time.perf_counter()
    table = tasks.synthesize.synthesize_fn(request, ms)
    stages["fit, sample, summarise"] = {
        "seconds": time.perf_counter() - start,
        "peak_mb": peak_mb(),
    }
    start = time.perf_counter()
    utility = check_utility_fn(request, table, ms)
    stages["utility checks"] = {"seconds": time.perf_counter() - start, "peak_mb": peak_mb()}
    start = time.perf_counter()
    published = publish_fn(request, "bench-run", table, utility, receipt(request), home)
    stages["publish (re-sample, write)"] = {
        "seconds": time.perf_counter() - start,
        "peak_mb": peak_mb(),
    }
    with fresh_reader(Path(home) / "release.duckdb") as con:
        counted = con.execute(f"SELECT count(*) FROM {published.table_name}").fetchall()[0][0]
    queue.put(
        {
            "rows": rows,
            "chunk_rows": chunk_rows,
            "columns": len(request.codec.columns),
            "utility_passed": utility.success,
            "published_rows": published.rows,
            "counted_rows": counted,
            "release_file_mb": (Path(home) / "release.duckdb").stat().st_size / 2**20,
            "stages": stages,
            "peak_mb": peak_mb(),
        }
    )


def run(rows: int, chunk_rows: int) -> dict[str, Any]:
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    with tempfile.TemporaryDirectory(prefix="dprelease-bench-") as home:
        process = context.Process(target=child, args=(rows, chunk_rows, home, queue))
        process.start()
        result: dict[str, Any] = queue.get()
        process.join()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=float, nargs="+", default=[1e6, 1e7])
    parser.add_argument("--chunk-rows", type=float, default=1e6)
    args = parser.parse_args()
    results = [run(int(r), int(args.chunk_rows)) for r in args.rows]
    print(f"{'rows':>12} {'stage':<28} {'seconds':>9} {'peak RSS MB':>12}")
    for r in results:
        for name, stage in r["stages"].items():
            print(f"{r['rows']:>12,} {name:<28} {stage['seconds']:>9.1f} {stage['peak_mb']:>12.0f}")
        print(
            f"{r['rows']:>12,} {'total (peak)':<28} "
            f"{sum(s['seconds'] for s in r['stages'].values()):>9.1f} {r['peak_mb']:>12.0f}"
            f"   published {r['counted_rows']:,} rows, utility passed: {r['utility_passed']}"
        )
    RESULTS.parent.mkdir(exist_ok=True)
    kept = json.loads(RESULTS.read_text())["runs"] if RESULTS.exists() else []
    fresh = {(r["rows"], r["chunk_rows"]) for r in results}
    runs = [r for r in kept if (r["rows"], r["chunk_rows"]) not in fresh] + results
    runs.sort(key=lambda r: (r["rows"], r["chunk_rows"]))
    RESULTS.write_text(
        json.dumps(
            {"machine": platform.platform(), "python": platform.python_version(), "runs": runs},
            indent=2,
        )
        + "\n"
    )
    print(f"written to {RESULTS}")


if __name__ == "__main__":
    main()
