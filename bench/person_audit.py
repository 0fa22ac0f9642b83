"""Person-level privacy audit: the release's own measure step on a reloaded neighbour.

Neighbours (``warehouse.contribution``): ``D`` holds ``PERSONS`` people with ``ROWS`` rows
each, stored person by person; ``D'`` is a fresh ``CREATE TABLE AS`` of the same rows with
one more person placed *first*, so every other row's rowid moves (what an ETL reload does).

Each release runs what a release's measure step runs: the spec's request (``independent``
method, epsilon 1, delta 1e-9, k rows per person), a :class:`warehouse.source.DuckDBOracle`
with a fresh CSPRNG salt, and the synthesizer's noisy measurements from the OS CSPRNG.

The data are chosen against the *mutant*: the landed cut, which ordered each person's rows
by ``hash(rowid, salt)``. A design step (public, offline, on position-labelled copies of the
tables) runs the mutant's cut under many salts, takes the top principal direction of the
kept-position matrices under ``D``, and sets each row's one release column to ``a`` where
that direction is positive, else ``b``. Under the mutant, the count of ``a`` then swings with
the salt on ``D`` but barely on ``D'``; under the honest cut a person's kept rows do not
depend on positions, so only the newcomer's k rows differ.

The bound: on ``pilot`` releases per side we pick the most revealing event among
``{T >= t}``, ``{T <= t}`` and ``{|T - m| >= t}`` (``T`` the noisy count of ``a``, both
directions D→D' and D'→D); on ``releases`` fresh releases per side we evaluate it with
one-sided Clopper-Pearson bounds at total confidence ``1 - ALPHA``:

    epsilon_lower = ln((P_hi_lower - delta) / P_lo_upper) <= true epsilon  (w.p. 1 - ALPHA).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import duckdb
import numpy as np
import numpy.typing as npt
from scipy import stats  # type: ignore[import-untyped]

import warehouse.source
from dpcore.noise import secure_source
from dpcore.synth.registry import get_synthesizer
from dpcore.units import PrivacyUnit
from flows.spec import parse_spec
from tasks.request import ReleaseRequest
from warehouse.connection import literal, quote

ALPHA = 1e-6
PERSONS = 200
ROWS = 6
K = 3
EPSILON, DELTA = 1.0, 1e-9

SPEC: dict[str, Any] = {
    "release": {"name": "audit", "description": "person-level audit"},
    "source": {"table": "raw.d"},
    "privacy": {
        "epsilon": EPSILON,
        "delta": DELTA,
        "cap": {"epsilon": 100.0, "delta": 1e-6},
        "unit": {"key": "pid", "max_rows_per_person": K},
    },
    "columns": {"x": {"type": "category", "values": ["a", "b"]}},
    "synthesizer": {"method": "independent"},
}


def legacy_bounded_select(
    relation: str,
    code_columns: Any,
    unit: PrivacyUnit,
    salt: str,
    *,
    with_key: bool = False,
) -> str:
    """The mutant: the landed cut, ordering each person's rows by ``hash(rowid, salt)``."""
    exprs = ", ".join(f"({expr}) AS {name}" for name, expr in code_columns)
    keep = " AND ".join(f"{name} IS NOT NULL" for name, _ in code_columns)
    source = relation
    if unit.key is not None:
        source = (
            f"(SELECT * FROM {relation} QUALIFY row_number() OVER (PARTITION BY "
            f"{quote(unit.key)} ORDER BY hash(rowid, {literal(salt)}), rowid) <= {unit.max_rows})"
        )
    return f"SELECT * FROM (SELECT {exprs} FROM {source}) WHERE {keep}"


@contextmanager
def mutant_cut() -> Iterator[None]:
    """Run the release path with the landed (position-ordered) cut instead of ours."""
    honest = warehouse.source.bounded_select
    warehouse.source.bounded_select = legacy_bounded_select  # type: ignore[assignment]
    try:
        yield
    finally:
        warehouse.source.bounded_select = honest


def _position_tables(con: duckdb.DuckDBPyConnection) -> None:
    """``d0``/``d0r``: the audit tables with the row's position ``r`` as its value."""
    con.execute(
        f"CREATE OR REPLACE TABLE d0 AS SELECT p AS pid, r FROM range({PERSONS}) a(p), "
        f"range({ROWS}) b(r) ORDER BY p, r"
    )
    con.execute(
        f"CREATE OR REPLACE TABLE d0r AS SELECT -1 AS pid, r FROM range({ROWS}) b(r) "
        "UNION ALL SELECT * FROM d0"
    )


def _kept_positions(con: duckdb.DuckDBPyConnection, table: str, salt: str) -> npt.NDArray[Any]:
    """The mutant's kept (person, position) indicator matrix, flattened (newcomer left out)."""
    query = legacy_bounded_select(table, [("pid", "pid"), ("r", "r")], PrivacyUnit("pid", K), salt)
    kept = np.zeros((PERSONS, ROWS))
    for pid, r in con.execute(f"SELECT * FROM ({query}) WHERE pid >= 0").fetchall():
        kept[int(pid), int(r)] = 1
    return kept.ravel()


def design(con: duckdb.DuckDBPyConnection, salts: int = 300) -> npt.NDArray[np.bool_]:
    """Which (person, position) rows hold ``a``: the direction along which the mutant's kept
    rows vary most with the salt on ``D`` (public: no private row is involved)."""
    _position_tables(con)
    kept = np.array([_kept_positions(con, "d0", secrets.token_hex(16)) for _ in range(salts)])
    _, _, directions = np.linalg.svd(kept - kept.mean(axis=0), full_matrices=False)
    return np.asarray(directions[0] > 0).reshape(PERSONS, ROWS)


def build_tables(con: duckdb.DuckDBPyConnection, is_a: npt.NDArray[np.bool_]) -> None:
    """``raw.d`` and its reloaded neighbour ``raw.d_reloaded`` (newcomer first; all 'b')."""
    con.execute("CREATE SCHEMA IF NOT EXISTS raw")
    values = ", ".join(
        f"({p}, {r}, '{'a' if is_a[p, r] else 'b'}')" for p in range(PERSONS) for r in range(ROWS)
    )
    con.execute(
        f"CREATE OR REPLACE TABLE raw.d AS SELECT pid, x FROM (VALUES {values}) v(pid, r, x) "
        "ORDER BY pid, r"
    )
    con.execute(
        "CREATE OR REPLACE TABLE raw.d_reloaded AS SELECT -1 AS pid, 'b' AS x "
        f"FROM range({ROWS}) UNION ALL SELECT * FROM raw.d"
    )


def request() -> ReleaseRequest:
    """The audited release, built from its spec like any other."""
    return parse_spec(SPEC, "<audit>").to_request("<audit>")


def release_statistic(con: duckdb.DuckDBPyConnection, table: str, req: ReleaseRequest) -> float:
    """One release's measure step on ``table``; returns its noisy count of ``a``."""
    synthesizer = get_synthesizer(req.method, **req.synthesizer_options)
    oracle = warehouse.source.DuckDBOracle(con, table, req.codec, req.unit)
    measurements = synthesizer.measure(req.codec.domain, req.measure_rho, oracle, secure_source())
    (x,) = [m for m in measurements if m.clique == ("x",)]
    return float(x.values[0])


def releases(
    con: duckdb.DuckDBPyConnection, table: str, n: int, req: ReleaseRequest
) -> npt.NDArray[np.float64]:
    """``n`` independent releases (fresh salt and noise each)."""
    return np.array([release_statistic(con, table, req) for _ in range(n)])


Event = Callable[[npt.NDArray[np.float64]], npt.NDArray[np.bool_]]


def _events(base: npt.NDArray[np.float64]) -> list[tuple[str, Event]]:
    """Candidate events: thresholds and two-sided bands around the pooled median."""
    centre = float(np.median(base))
    grid = np.unique(np.quantile(base, np.linspace(0.01, 0.99, 99)))
    events: list[tuple[str, Event]] = []
    for t in grid:
        events.append((f"T >= {t:g}", lambda v, t=t: v >= t))
        events.append((f"T <= {t:g}", lambda v, t=t: v <= t))
        width = abs(float(t) - centre)
        if width > 0:
            events.append(
                (f"|T - {centre:g}| >= {width:g}", lambda v, w=width: abs(v - centre) >= w)
            )
    return events


def epsilon_lower(hits_hi: int, hits_lo: int, n: int, delta: float, alpha: float = ALPHA) -> float:
    """Clopper-Pearson epsilon lower bound from event counts on the two datasets."""
    half = alpha / 2
    p_hi = float(stats.beta.ppf(half, hits_hi, n - hits_hi + 1)) if hits_hi else 0.0
    p_lo = float(stats.beta.ppf(1 - half, hits_lo + 1, n - hits_lo)) if hits_lo < n else 1.0
    return max(0.0, float(np.log((p_hi - delta) / p_lo))) if p_hi > delta else 0.0


@dataclass(frozen=True)
class AuditResult:
    """One audit's verdict: the event chosen on the pilot and the bound on fresh releases."""

    cut: str
    event: str
    direction: str
    epsilon_lower: float
    releases: int


def audit(
    con: duckdb.DuckDBPyConnection, pilot: int, n: int, cut: str, alpha: float = ALPHA
) -> AuditResult:
    """Pick the most revealing event on ``pilot`` releases a side, bound epsilon on ``n``."""
    req = request()
    first = {t: releases(con, t, pilot, req) for t in ("raw.d", "raw.d_reloaded")}
    best: tuple[float, str, str, Event] = (-1.0, "", "", lambda v: v > 0)
    pooled = np.concatenate(list(first.values()))
    for name, event in _events(pooled):
        for hi, lo in (("raw.d", "raw.d_reloaded"), ("raw.d_reloaded", "raw.d")):
            hits_hi, hits_lo = int(event(first[hi]).sum()), int(event(first[lo]).sum())
            bound = epsilon_lower(hits_hi, hits_lo, pilot, DELTA, alpha)
            if bound > best[0]:
                best = (bound, name, f"{hi} over {lo}", event)
    _, name, direction, event = best
    hi, _, lo = direction.partition(" over ")
    fresh = {t: releases(con, t, n, req) for t in (hi, lo)}
    bound = epsilon_lower(int(event(fresh[hi]).sum()), int(event(fresh[lo]).sum()), n, DELTA, alpha)
    return AuditResult(cut, name, direction, bound, n)


def same_salt_movement(con: duckdb.DuckDBPyConnection, salts: int = 50) -> tuple[int, int]:
    """Largest L1 movement of the exact ``x`` histogram between D and D' under one salt, for
    our cut and for the mutant (the bound is k)."""
    req = request()
    worst = []
    for mutant in (False, True):
        moved = 0
        with mutant_cut() if mutant else _nothing():
            for _ in range(salts):
                salt = secrets.token_hex(16)
                counts = [
                    warehouse.source.DuckDBOracle(con, t, req.codec, req.unit, salt=salt).counts(
                        [("x",)]
                    )[0]
                    for t in ("raw.d", "raw.d_reloaded")
                ]
                moved = max(moved, int(np.abs(counts[0] - counts[1]).sum()))
        worst.append(moved)
    return worst[0], worst[1]


@contextmanager
def _nothing() -> Iterator[None]:
    yield
