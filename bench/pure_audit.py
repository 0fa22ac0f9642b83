"""Pure epsilon-DP audit: the release's own measure step on add-one-row neighbours.

Neighbours: ``D`` (table ``raw.d``, ``ROWS`` rows over two category columns) and ``D'``
(``raw.d_plus``: the same rows plus one row ``ADDED``). Every cell of a measured marginal that
holds ``ADDED`` changes by exactly 1; nothing else changes.

Each release runs what a pure release's measure step runs (``tasks/measure.py``): the spec
(``delta: 0``, ``independent`` by default) parsed to its :class:`ReleaseRequest`, whose
``synthesizer()`` is priced in pure DP (discrete Laplace, scale ``d / epsilon`` per 1-way
marginal) and whose ``measure_rho`` is the epsilon it may spend, measuring through a
:class:`warehouse.source.DuckDBOracle` over the table. One oracle per table serves every
release: a row-level release's exact counts are a function of the table alone, and the
oracle keeps them after its first scan, as it does within a release. The noise comes from
``seeded_source`` so that the audit is reproducible: these releases are **not private**
(``private = False``) and are never published.

Statistic: for each release, the offsets ``noisy - exact(D)`` of the cells that hold
``ADDED`` (for ``independent`` they are the whole information: the other cells have the same
law under ``D`` and ``D'`` and are independent of these). Events: ``{at least k offsets >= j}``
and ``{at least k offsets <= j}``, either table in the numerator. The likelihood-ratio event
for Laplace measurements is ``{every changed offset >= 1}``, whose ratio is exactly
``e^epsilon`` for the honest mechanism.

The bound: the most revealing event is picked on ``pilot`` releases a side and evaluated on
``releases`` fresh ones with one-sided Clopper-Pearson bounds at total confidence
``1 - ALPHA`` (``person_audit.epsilon_lower``, delta = 0):

    epsilon_lower = ln(P_hi_lower / P_lo_upper) <= true epsilon   (w.p. >= 1 - ALPHA).

Mutants (each a one-line change of the honest path): every Laplace scale 20% too small
(``0.8 d / epsilon``), and no split across marginals (each 1-way marginal spends the whole
epsilon, scale ``1 / epsilon``; with the audit's ``d = 2`` columns this is also the scale
``d / (2 epsilon)`` of a sensitivity counted as 1/2).

With ``method="mst"`` the same harness audits a pure MST release (two columns: one pair, so
its selection has a single candidate and reveals nothing; the changed cells are ``x=a``,
``y=u`` and ``(a, u)``, whose Laplace losses add up to ``2 epsilon / 3``, the most any event
on them can show).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import duckdb
import numpy as np
import numpy.typing as npt
from person_audit import epsilon_lower

from dpcore.calculus import PURE, Calculus
from dpcore.marginals import Measurement
from dpcore.noise import RandomSource, seeded_source
from dpcore.synth.base import Synthesizer
from flows.spec import parse_spec
from tasks.request import ReleaseRequest
from warehouse.source import DuckDBOracle

ALPHA = 1e-6
EPSILON = 2.0
ROWS = 60
TABLES = ("raw.d", "raw.d_plus")
ADDED = ("a", "u")

COLUMNS: dict[str, Any] = {
    "x": {"type": "category", "values": ["a", "b", "c"]},
    "y": {"type": "category", "values": ["u", "v"]},
}


def spec(method: str = "independent", epsilon: float = EPSILON) -> dict[str, Any]:
    """The audited release's spec: pure epsilon-DP (``delta: 0``) on ``raw.d``."""
    return {
        "release": {"name": "pure_audit", "description": "pure-DP audit"},
        "source": {"table": "raw.d"},
        "privacy": {"epsilon": epsilon, "delta": 0, "cap": {"epsilon": 1000.0, "delta": 0}},
        "columns": COLUMNS,
        "synthesizer": {"method": method},
    }


def request(method: str = "independent", epsilon: float = EPSILON) -> ReleaseRequest:
    """The audited release, built from its spec like any other (checked to be pure)."""
    req = parse_spec(spec(method, epsilon), "<pure audit>").to_request("<pure audit>")
    if not req.cost.pure:
        raise AssertionError("the audit spec must describe a pure epsilon-DP release")
    return req


def build_tables(con: duckdb.DuckDBPyConnection) -> None:
    """``raw.d`` (``ROWS`` rows spread over every cell) and ``raw.d_plus`` (plus ``ADDED``)."""
    xs, ys = COLUMNS["x"]["values"], COLUMNS["y"]["values"]
    values = ", ".join(f"('{xs[i % len(xs)]}', '{ys[(i // 2) % len(ys)]}')" for i in range(ROWS))
    con.execute("CREATE SCHEMA IF NOT EXISTS raw")
    con.execute(f"CREATE OR REPLACE TABLE raw.d AS SELECT * FROM (VALUES {values}) v(x, y)")
    con.execute(
        "CREATE OR REPLACE TABLE raw.d_plus AS SELECT * FROM raw.d "
        f"UNION ALL SELECT '{ADDED[0]}' AS x, '{ADDED[1]}' AS y"
    )


@dataclass(frozen=True)
class ScaledCalculus(Calculus):
    """A mutant calculus: every noise scale it hands out is ``factor`` times the honest one
    (while still claiming the honest cost), as a mispriced measurement would be."""

    factor: float = 1.0

    def scale_for(self, cost: float, sensitivity: float = 1.0) -> float:
        """The honest scale times ``factor``."""
        return self.factor * Calculus.scale_for(self, cost, sensitivity)


Variant = Callable[[ReleaseRequest], tuple[Synthesizer, float]]


def honest(req: ReleaseRequest) -> tuple[Synthesizer, float]:
    """What ``tasks/measure.py`` runs: the request's synthesizer and budget."""
    return req.synthesizer(), req.measure_rho


def scaled(factor: float) -> Variant:
    """Mutant: the honest synthesizer with every Laplace scale multiplied by ``factor``."""

    def variant(req: ReleaseRequest) -> tuple[Synthesizer, float]:
        synthesizer: Any = req.synthesizer()
        mutant = ScaledCalculus(PURE.name, PURE.noise, factor)
        return replace(synthesizer, calculus=mutant), req.measure_rho

    return variant


def no_split(req: ReleaseRequest) -> tuple[Synthesizer, float]:
    """Mutant: each of the d marginals spends the whole epsilon (a composition bug)."""
    return req.synthesizer(), req.measure_rho * len(req.codec.domain)


NO_SPLIT = "mutant: no split (each 1-way spends eps)"
VARIANTS: dict[str, Variant] = {
    "honest": honest,
    "mutant: scale x0.8": scaled(0.8),
    NO_SPLIT: no_split,
}


@dataclass
class Harness:
    """The two tables' oracles and the exact counts of ``D`` and ``D'`` (the auditor's)."""

    con: duckdb.DuckDBPyConnection
    req: ReleaseRequest
    synthesizer: Synthesizer
    budget: float
    oracles: dict[str, DuckDBOracle]
    changed: dict[tuple[str, ...], tuple[npt.NDArray[np.int64], npt.NDArray[np.bool_]]] = field(
        default_factory=dict
    )

    @classmethod
    def open(cls, con: duckdb.DuckDBPyConnection, req: ReleaseRequest, variant: Variant) -> Harness:
        """Oracles as the measure step builds them (with the synthesizer's candidates)."""
        synthesizer, budget = variant(req)
        domain = req.codec.domain
        oracles = {
            t: DuckDBOracle(con, t, req.codec, req.unit, candidates=synthesizer.candidates(domain))
            for t in TABLES
        }
        return cls(con, req, synthesizer, budget, oracles)

    def release(self, table: str, source: RandomSource) -> list[Measurement]:
        """One release's measure step on ``table``."""
        domain = self.req.codec.domain
        return list(self.synthesizer.measure(domain, self.budget, self.oracles[table], source))

    def offsets(self, measurements: list[Measurement]) -> npt.NDArray[np.int64]:
        """``noisy - exact(D)`` at every measured cell whose exact count differs in ``D'``."""
        out: list[npt.NDArray[np.int64]] = []
        for m in measurements:
            if m.clique not in self.changed:
                base, plus = (self.oracles[t].counts([m.clique])[0] for t in TABLES)
                self.changed[m.clique] = (base, base != plus)
            base, changed = self.changed[m.clique]
            if m.values.size != base.size:  # a coarsened AIM measurement: not audited
                continue
            out.append(m.values[changed] - base[changed])
        return np.concatenate(out) if out else np.zeros(0, dtype=np.int64)


def draws(harness: Harness, table: str, n: int, seed: int) -> list[npt.NDArray[np.int64]]:
    """Offsets of ``n`` releases on ``table`` from ``seeded_source(seed)`` (not private)."""
    source = seeded_source(seed)
    return [harness.offsets(harness.release(table, source)) for _ in range(n)]


Event = Callable[[npt.NDArray[np.int64]], bool]


def at_least(k: int, j: int, upper: bool) -> Event:
    """The event ``{at least k offsets >= j}`` (``upper``) or ``{at least k offsets <= j}``."""

    def event(o: npt.NDArray[np.int64]) -> bool:
        return int(((o >= j) if upper else (o <= j)).sum()) >= k

    return event


def events(reach: int, width: int) -> list[tuple[str, Event]]:
    """``{at least k offsets >= j}`` and ``{at least k offsets <= j}`` for ``|j| <= reach``."""
    out: list[tuple[str, Event]] = []
    for j in range(-reach, reach + 1):
        for k in range(1, width + 1):
            out.append((f"#(offset >= {j}) >= {k}", at_least(k, j, upper=True)))
            out.append((f"#(offset <= {j}) >= {k}", at_least(k, j, upper=False)))
    return out


def _hits(event: Event, sample: list[npt.NDArray[np.int64]]) -> int:
    return sum(1 for o in sample if event(o))


@dataclass(frozen=True)
class PureAuditResult:
    """One mechanism's verdict: the event picked on the pilot, the bound on fresh releases."""

    mechanism: str
    method: str
    declared_epsilon: float
    scales: dict[str, float]
    event: str
    direction: str
    hits_hi: int
    hits_lo: int
    releases: int
    pilot: int
    point_estimate: float
    epsilon_lower: float

    @property
    def within_declared(self) -> bool:
        """Whether the bound stays at or below the declared epsilon."""
        return self.epsilon_lower <= self.declared_epsilon


def audit(
    con: duckdb.DuckDBPyConnection,
    mechanism: str,
    pilot: int,
    n: int,
    seed: int,
    method: str = "independent",
    epsilon: float = EPSILON,
    alpha: float = ALPHA,
) -> PureAuditResult:
    """Pick the most revealing event on ``pilot`` releases a side, bound epsilon on ``n``."""
    req = request(method, epsilon)
    harness = Harness.open(con, req, VARIANTS[mechanism])
    probe = harness.release(TABLES[0], seeded_source(seed))
    scales = {"/".join(m.clique): float(m.sigma) for m in probe}
    width = max(1, max(len(harness.offsets(probe)), 1))
    reach = int(3 * max(scales.values())) + 2
    first = {t: draws(harness, t, pilot, seed + 1 + i) for i, t in enumerate(TABLES)}
    best: tuple[float, str, tuple[str, str], Event] = (-1.0, "", TABLES, lambda o: False)
    for name, event in events(reach, width):
        counts = {t: _hits(event, first[t]) for t in TABLES}
        for hi, lo in (TABLES, TABLES[::-1]):
            bound = epsilon_lower(counts[hi], counts[lo], pilot, 0.0, alpha)
            if bound > best[0]:
                best = (bound, name, (hi, lo), event)
    _, name, (hi, lo), event = best
    fresh = {t: draws(harness, t, n, seed + 3 + i) for i, t in enumerate((hi, lo))}
    hits_hi, hits_lo = _hits(event, fresh[hi]), _hits(event, fresh[lo])
    point = math.log(hits_hi / hits_lo) if hits_hi and hits_lo else math.inf
    return PureAuditResult(
        mechanism=mechanism,
        method=method,
        declared_epsilon=epsilon,
        scales=scales,
        event=name,
        direction=f"{hi} over {lo}",
        hits_hi=hits_hi,
        hits_lo=hits_lo,
        releases=n,
        pilot=pilot,
        point_estimate=point,
        epsilon_lower=epsilon_lower(hits_hi, hits_lo, n, 0.0, alpha),
    )


def fixed_event_bound(
    con: duckdb.DuckDBPyConnection,
    mechanism: str,
    n: int,
    seed: int,
    alpha: float = ALPHA,
) -> float:
    """The bound of the likelihood-ratio event ``{every changed offset >= 1}`` (chosen by
    analysis, no pilot) on ``n`` releases a side of ``independent`` at ``EPSILON``."""
    harness = Harness.open(con, request(), VARIANTS[mechanism])
    plus, base = (draws(harness, t, n, seed + i) for i, t in enumerate(TABLES[::-1]))

    def event(o: npt.NDArray[np.int64]) -> bool:
        return bool((o >= 1).all())

    return epsilon_lower(_hits(event, plus), _hits(event, base), n, 0.0, alpha)
