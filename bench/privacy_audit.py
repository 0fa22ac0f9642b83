"""Empirical privacy audit of the noise samplers on one count (c versus c + 1).

Run ``.venv/bin/python bench/privacy_audit.py [--draws N]``; ``--person [--releases N]``
audits person-level releases instead (``bench/person_audit.py``: the release's own measure
step on a table reloaded with one more person placed first, against the landed
position-ordered cut as a mutant; writes ``bench/results/privacy_audit_person.json``);
``--pure [--releases N] [--method independent|mst]`` audits the measure step of a pure
epsilon-DP release (``bench/pure_audit.py``: ``delta: 0``, discrete Laplace marginals, on
add-one-row neighbours, against mutants with too little noise; writes
``bench/results/privacy_audit_pure.json``).

For each mechanism it draws
``N`` releases on each neighbouring dataset, picks the threshold event
``S = {release >= c + k}`` on the first half of the draws (the most revealing ``k`` there),
and evaluates it on the held-out second half with one-sided Clopper-Pearson bounds at total
confidence ``1 - 1e-6``, giving the lower bound

    epsilon_lower = ln((P1_lower - delta) / P0_upper) <= true epsilon   (w.p. >= 1 - 1e-6).

Honest samplers must stay at or below the declared epsilon; mutants with 20% less noise
should exceed it. Writes ``bench/results/privacy_audit.json``. The fast version of this check
runs in the test suite (``tests/dpcore/noise/test_noise_privacy_audit.py``).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import optimize, stats  # type: ignore[import-untyped]

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from dpcore.noise import RandomSource, discrete_gaussian, discrete_laplace, seeded_source

ALPHA = 1e-6
COUNT = 1000
RESULTS = Path(__file__).resolve().parent / "results" / "privacy_audit.json"

Noise = Callable[[float, int, RandomSource], npt.NDArray[np.int64]]


def epsilon_lower(hits1: int, hits0: int, n: int, delta: float) -> float:
    """Clopper-Pearson epsilon lower bound from event counts on the two datasets."""
    half = ALPHA / 2
    p1 = float(stats.beta.ppf(half, hits1, n - hits1 + 1)) if hits1 else 0.0
    p0 = float(stats.beta.ppf(1 - half, hits0 + 1, n - hits0)) if hits0 < n else 1.0
    return float(np.log((p1 - delta) / p0)) if p1 > delta else 0.0


def audit(noise: Noise, scale: float, delta: float, draws: int, seed: int) -> dict[str, Any]:
    """Select the threshold on one half of the draws, bound epsilon on the other half."""
    source = seeded_source(seed)
    base = COUNT + noise(scale, draws, source)
    neighbour = COUNT + 1 + noise(scale, draws, source)
    half = draws // 2
    reach = int(8 * max(scale, 1.0)) + 2
    candidates = range(-reach, reach + 1)

    def bound(k: int, part: slice, n: int) -> float:
        hits1 = int((neighbour[part] >= COUNT + k).sum())
        hits0 = int((base[part] >= COUNT + k).sum())
        return epsilon_lower(hits1, hits0, n, delta)

    best = max(candidates, key=lambda k: bound(k, slice(0, half), half))
    return {"threshold": best, "epsilon_lower": bound(best, slice(half, draws), draws - half)}


def gaussian_epsilon(sigma: float, delta: float) -> float:
    """Exact epsilon at hockey-stick ``delta`` for N_Z(0, sigma**2) vs N_Z(1, sigma**2)."""
    reach = int(60 * sigma) + 5
    y = np.arange(-reach, reach + 1, dtype=np.float64)
    w = np.exp(-(y**2) / (2 * sigma**2))
    p0 = w / w.sum()
    p1 = np.roll(p0, 1)
    return float(
        optimize.brentq(
            lambda e: float(np.maximum(p1 - np.exp(e) * p0, 0).sum()) - delta, 0.0, 50.0
        )
    )


def person_main(releases: int) -> None:
    """Audit person-level releases (ours and the position-ordered mutant), print, write JSON."""
    import time

    import duckdb
    import person_audit as pa

    pilot = max(200, releases // 4)
    with duckdb.connect() as con:
        is_a = pa.design(con)
        pa.build_tables(con, is_a)
        moved = pa.same_salt_movement(con)
        started = time.perf_counter()
        ours = pa.audit(con, pilot, releases, "ours (salted hash of each row's codes)")
        with pa.mutant_cut():
            mutant = pa.audit(con, pilot, releases, "mutant (hash(rowid, salt), the landed cut)")
        seconds = time.perf_counter() - started
    print(
        f"person-level audit: {pa.PERSONS} persons x {pa.ROWS} rows, k={pa.K}, independent "
        f"method at epsilon={pa.EPSILON:g}, delta={pa.DELTA:g}; neighbour: reloaded with one "
        f"more person first; {releases} releases a side (+{pilot} pilot), alpha={pa.ALPHA:g}"
    )
    print(f"{'cut':<44} {'max L1 move (one salt)':>22} {'epsilon lower':>14}  verdict")
    rows = []
    for result, move in ((ours, moved[0]), (mutant, moved[1])):
        within = result.epsilon_lower <= pa.EPSILON
        verdict = ("within declared" if within else "ABOVE declared") + f" ({result.event})"
        print(f"{result.cut:<44} {move:>22} {result.epsilon_lower:>14.3f}  {verdict}")
        rows.append({**result.__dict__, "max_l1_same_salt": move, "within_declared": within})
    out = RESULTS.with_name("privacy_audit_person.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "declared_epsilon": pa.EPSILON,
                "delta": pa.DELTA,
                "k": pa.K,
                "persons": pa.PERSONS,
                "releases_per_side": releases,
                "pilot_per_side": pilot,
                "alpha": pa.ALPHA,
                "seconds": seconds,
                "rows": rows,
            },
            indent=2,
        )
    )
    print(f"wrote {out}")


def pure_main(releases: int, pilot: int, methods: list[str], seed: int) -> None:
    """Audit pure-DP releases (honest and mutants), print a table, write JSON."""
    import time

    import duckdb
    import pure_audit as pu

    rows = []
    print(
        f"pure epsilon-DP audit: the measure step of a `delta: 0` release ({pu.ROWS} rows, "
        f"columns {', '.join(pu.COLUMNS)}) on D vs D' = D + one row {pu.ADDED}; declared "
        f"epsilon={pu.EPSILON:g}, delta=0; {releases} releases a side (+{pilot} pilot), "
        f"alpha={pu.ALPHA:g}"
    )
    print(
        f"noise from seeded_source({seed}...) so the audit is reproducible: these releases are "
        "NOT private (private=False) and are never published"
    )
    header = f"{'method':<12} {'mechanism':<42} {'scales':<16} {'event (numerator)':<25}"
    print(f"{header} {'point':>6} {'eps lower':>9}  verdict")
    with duckdb.connect() as con:
        pu.build_tables(con)
        for method in methods:
            mechanisms = list(pu.VARIANTS) if method == "independent" else ["honest"]
            for i, mechanism in enumerate(mechanisms):
                started = time.perf_counter()
                result = pu.audit(con, mechanism, pilot, releases, seed + 10 * i, method=method)
                seconds = time.perf_counter() - started
                within = result.within_declared
                verdict = "within declared" if within else "ABOVE declared (flagged)"
                scales = ",".join(f"{v:g}" for v in result.scales.values())
                hi = "D'" if result.direction.startswith(pu.TABLES[1]) else "D"
                event = f"{hi}: {result.event}"
                print(
                    f"{method:<12} {mechanism:<42} {scales:<16} {event:<25} "
                    f"{result.point_estimate:>6.3f} {result.epsilon_lower:>9.3f}  {verdict}"
                )
                rows.append({**result.__dict__, "within_declared": within, "seconds": seconds})
    out = RESULTS.with_name("privacy_audit_pure.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "declared_epsilon": pu.EPSILON,
        "delta": 0.0,
        "rows_in_d": pu.ROWS,
        "added_row": list(pu.ADDED),
        "releases_per_side": releases,
        "pilot_per_side": pilot,
        "alpha": pu.ALPHA,
        "seed": seed,
        "private": False,
        "rows": rows,
    }
    out.write_text(json.dumps(payload, indent=2))
    print(f"wrote {out}")


def main() -> None:
    """Audit honest and mutant samplers and print the verdicts."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--draws", type=int, default=2_000_000)
    parser.add_argument("--person", action="store_true", help="audit person-level releases")
    parser.add_argument(
        "--releases", type=int, default=None, help="--person: per side (2000); --pure: (50000)"
    )
    parser.add_argument("--pure", action="store_true", help="audit pure epsilon-DP releases")
    parser.add_argument("--pilot", type=int, default=5000, help="with --pure: pilot per side")
    parser.add_argument(
        "--method", default="independent", help="with --pure: comma-separated independent,mst"
    )
    parser.add_argument("--seed", type=int, default=20, help="with --pure: first seed")
    args = parser.parse_args()
    if args.pure:
        methods = [m.strip() for m in args.method.split(",") if m.strip()]
        releases = args.releases if args.releases is not None else 50_000
        pure_main(releases, args.pilot, methods, args.seed)
        return
    if args.person:
        args.releases = args.releases if args.releases is not None else 2000
        person_main(args.releases)
        return
    cases: list[tuple[str, Noise, float, float, float]] = []
    for t in (1.0, 2.0, 4.0):
        cases.append(("discrete_laplace", discrete_laplace, t, 0.0, 1.0 / t))
    for sigma in (1.0, 2.0, 4.0):
        cases.append(
            ("discrete_gaussian", discrete_gaussian, sigma, 1e-2, gaussian_epsilon(sigma, 1e-2))
        )
    rows = []
    print(f"{'sampler':<18} {'scale':>6} {'delta':>6} {'declared':>9} {'honest':>8} {'mutant':>8}")
    for i, (name, noise, scale, delta, declared) in enumerate(cases):
        honest = audit(noise, scale, delta, args.draws, seed=2 * i)
        mutant = audit(noise, 0.8 * scale, delta, args.draws, seed=2 * i + 1)
        ok = honest["epsilon_lower"] <= declared
        caught = mutant["epsilon_lower"] > declared
        rows.append(
            {
                "sampler": name,
                "scale": scale,
                "delta": delta,
                "declared_epsilon": declared,
                "honest": honest,
                "mutant_0.8": mutant,
                "honest_within_declared": ok,
                "mutant_flagged": caught,
            }
        )
        print(
            f"{name:<18} {scale:>6g} {delta:>6g} {declared:>9.4f} "
            f"{honest['epsilon_lower']:>8.4f} {mutant['epsilon_lower']:>8.4f}"
            f"  {'ok' if ok else 'VIOLATION'} / {'flagged' if caught else 'missed'}"
        )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"draws": args.draws, "alpha": ALPHA, "rows": rows}, indent=2))
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
