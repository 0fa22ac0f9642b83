"""The oracle's counting scan, old vs new, side by side: bench/scale.py's 15-column table.

For each size, generates ``raw.scale`` (:func:`bench.scale.generate_sql`) into a temporary
DuckDB file and times, alternated in one process for ``--repeats`` rounds: the floor (the
plain ``GROUP BY ALL`` over the 15 raw columns that bench/scale.py times), the old scan
(:meth:`DuckDBOracle._count` with DuckDB's filter pushdown left on, as before
:func:`warehouse.source.encoding_once`) and the new scan, each counting every AIM
candidate's blocks. Checks the two scans' tables are equal. Prints medians and ratios;
writes ``bench/results/count_scan.json``.

Usage::

    .venv/bin/python bench/count_scan.py                 # 10**6 and 10**7 rows, 3 rounds
    .venv/bin/python bench/count_scan.py --sizes 1e6 --repeats 5
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import duckdb
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.scale import generate_sql, spec  # noqa: E402
from dpcore.synth.registry import get_synthesizer  # noqa: E402
from flows.spec import parse_spec  # noqa: E402
from warehouse.blocks import Block, plan_blocks  # noqa: E402
from warehouse.connection import connect  # noqa: E402
from warehouse.source import DuckDBOracle  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "count_scan.json"


@contextlib.contextmanager
def _pushdown_on(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """The old scan: the optimizer left as it is."""
    yield


def scan(
    con: duckdb.DuckDBPyConnection, blocks: list[Block], *, old: bool
) -> list[np.ndarray[Any, Any]]:
    """One counting scan of ``raw.scale`` into ``blocks``; returns the block tables."""
    codec = parse_spec(spec(30)).codec()
    oracle = DuckDBOracle(con, "raw.scale", codec, salt="bench")
    patch = mock.patch("warehouse.source.encoding_once", _pushdown_on)
    with patch if old else contextlib.nullcontext():
        oracle._count(blocks)
    return [t for _, t in oracle._tables]


def floor(con: duckdb.DuckDBPyConnection) -> None:
    """bench/scale.py's floor: a plain GROUP BY over the raw columns, groups not fetched."""
    names = ", ".join(f'"{n}"' for n in spec(30)["columns"])
    con.execute(f"SELECT count(*) FROM (SELECT {names}, count(*) FROM raw.scale GROUP BY ALL)")
    con.fetchall()


def run_size(rows: int, repeats: int, workdir: Path) -> dict[str, Any]:
    """Generate, check old == new, then time floor / old / new alternated."""
    path = workdir / f"scale-{rows}.duckdb"
    with connect(path) as con:
        con.execute("CREATE SCHEMA IF NOT EXISTS raw")
        con.execute(generate_sql(rows))
    domain = parse_spec(spec(30)).codec().domain
    blocks = plan_blocks(domain, list(get_synthesizer("aim").candidates(domain)))
    runs: dict[str, Callable[[duckdb.DuckDBPyConnection], object]] = {
        "floor": floor,
        "old": lambda c: scan(c, blocks, old=True),
        "new": lambda c: scan(c, blocks, old=False),
    }
    times: dict[str, list[float]] = {k: [] for k in runs}
    with connect(path, read_only=True) as con:
        same = all(
            np.array_equal(a, b)
            for a, b in zip(scan(con, blocks, old=True), scan(con, blocks, old=False), strict=True)
        )
        if not same:
            raise SystemExit(f"{rows} rows: the old and new scans' counts differ")
        for _ in range(repeats):
            for name, run in runs.items():
                start = time.perf_counter()
                run(con)
                times[name].append(time.perf_counter() - start)
    path.unlink()
    med = {k: statistics.median(v) for k, v in times.items()}
    return {
        "rows": rows,
        "blocks": len(blocks),
        "repeats": repeats,
        "seconds": times,
        "median_seconds": med,
        "new_over_old": med["new"] / med["old"],
        "old_over_floor": med["old"] / med["floor"],
        "new_over_floor": med["new"] / med["floor"],
        "counts_equal": same,
    }


def main() -> None:
    """Run the sizes, print the table, write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1e6,1e7", help="row counts, comma-separated")
    parser.add_argument("--repeats", type=int, default=3, help="alternated rounds per size")
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args()
    results = []
    print(f"{'rows':>10} {'floor s':>8} {'old s':>7} {'new s':>7} {'new/old':>8} {'new/floor':>9}")
    with tempfile.TemporaryDirectory(prefix="count-scan-") as tmp:
        for rows in (int(float(s)) for s in args.sizes.split(",") if s.strip()):
            r = run_size(rows, args.repeats, Path(tmp))
            results.append(r)
            m = r["median_seconds"]
            print(
                f"{rows:>10} {m['floor']:>8.2f} {m['old']:>7.2f} {m['new']:>7.2f} "
                f"{r['new_over_old']:>8.2f} {r['new_over_floor']:>9.2f}"
            )
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    machine = {"python": platform.python_version(), "cpus": os.cpu_count()}
    out.write_text(json.dumps({"machine": machine, "results": results}, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
