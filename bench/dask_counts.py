"""Exact marginal counts of a partitioned Parquet source: Dask (local cluster) against DuckDB.

Writes the bundled Adult rows, repeated ``--copies`` times, as a Parquet dataset of several
files, loads the same files into an in-memory DuckDB, and times each oracle counting every
candidate of MST (all 1- and 2-way marginals), checking that the counts are equal. Prints a
table and writes ``bench/results/dask_counts.json``. Needs the ``dask`` extra.

    .venv/bin/python bench/dask_counts.py [--copies 30] [--files 8] [--workers 2]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import duckdb
import numpy as np

from dpcore.synth.registry import get_synthesizer
from flows.spec import load_spec
from warehouse.dask_source import DaskOracle, local_cluster
from warehouse.seed import seed_adult
from warehouse.source import DuckDBOracle

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=30)
    parser.add_argument("--files", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    codec = load_spec(ROOT / "deployments" / "specs" / "adult.yaml").codec()
    cliques = list(get_synthesizer("mst").candidates(codec.domain))
    with tempfile.TemporaryDirectory() as tmp:
        warehouse = Path(tmp) / "w.duckdb"
        seed_adult(warehouse)
        data = Path(tmp) / "adult"
        data.mkdir()
        with duckdb.connect(str(warehouse)) as con:
            con.execute(
                f"CREATE TABLE raw.big AS SELECT a.* FROM raw.adult a, range({args.copies})"
            )
            rows = con.execute("SELECT count(*) FROM raw.big").fetchall()[0][0]
            for i in range(args.files):
                con.execute(
                    f"COPY (SELECT * FROM raw.big WHERE hash(rowid) % {args.files} = {i}) "
                    f"TO '{data}/part-{i}.parquet' (FORMAT parquet)"
                )
        with duckdb.connect() as con:
            con.execute("CREATE SCHEMA raw")
            con.execute(f"CREATE TABLE raw.t AS SELECT * FROM read_parquet('{data}/*.parquet')")
            started = time.perf_counter()
            expected = DuckDBOracle(con, "raw.t", codec).counts(cliques)
            duck_s = time.perf_counter() - started
        started = time.perf_counter()
        with local_cluster(workers=args.workers) as client:
            cluster_s = time.perf_counter() - started
            started = time.perf_counter()
            got = DaskOracle(client, str(data), codec).counts(cliques)
            dask_s = time.perf_counter() - started
    equal = all(np.array_equal(g, e) for g, e in zip(got, expected, strict=True))
    result = {
        "rows": int(rows),
        "files": args.files,
        "workers": args.workers,
        "cliques": len(cliques),
        "duckdb_s": round(duck_s, 3),
        "dask_s": round(dask_s, 3),
        "dask_cluster_start_s": round(cluster_s, 3),
        "counts_equal": equal,
    }
    print(f"{'engine':<8} {'rows':>10} {'files':>5} {'cliques':>7} {'seconds':>8}")
    print(f"{'duckdb':<8} {rows:>10,} {'-':>5} {len(cliques):>7} {duck_s:>8.2f}")
    print(f"{'dask':<8} {rows:>10,} {args.files:>5} {len(cliques):>7} {dask_s:>8.2f}")
    print(f"local cluster start {cluster_s:.2f} s; counts equal: {equal}")
    out = ROOT / "bench" / "results" / "dask_counts.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    if not equal:
        raise SystemExit("the Dask counts differ from DuckDB's")


if __name__ == "__main__":
    main()
