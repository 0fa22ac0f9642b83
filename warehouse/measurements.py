"""Stored noisy measurements, keyed by run id, so retries and resumes never draw new noise.

Measurements are written in one transaction and only after the run's charge is committed;
a run with stored measurements is never measured again.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import duckdb
import numpy as np

from dpcore.accounting import PrivacyCap
from dpcore.calculus import PURE, ZCDP, NoiseKind
from dpcore.domain import Clique
from dpcore.encoding import TableCodec
from dpcore.marginals import CountOracle, Measurement
from dpcore.spend import spent
from dpcore.synth.coarse import CoarseMeasurement
from dpcore.units import PrivacyUnit
from warehouse.connection import connect
from warehouse.errors import ChargeMissingError
from warehouse.faults import crash_point
from warehouse.source import DuckDBOracle
from warehouse.store import Sql, privacy_store


def load_measurements(path: Path, run_id: str) -> list[Measurement] | None:
    """The run's stored measurements in order, or None if it has none."""
    store = privacy_store(path, create=False)
    if not store.exists():
        return None
    with store.snapshot() as con:
        rows = con.execute(
            "SELECT clique, sigma, noisy, private, groups, selection_epsilon, noise "
            "FROM privacy.measurements "
            "WHERE run_id = ? ORDER BY idx",
            [run_id],
        ).fetchall()
    if not rows:
        return None
    return [_measurement(*row) for row in rows]


def newest_measured_run(path: Path, release: str) -> str | None:
    """The newest run of ``release`` with stored (charged, complete) measurements, if any.

    Measurements are stored in one transaction after the run's charge, so any run that has
    them holds a full, paid-for set, whether or not it went on to publish.
    """
    store = privacy_store(path, create=False)
    if not store.exists():
        return None
    with store.snapshot() as con:
        row = con.execute(
            "SELECT r.run_id FROM privacy.runs r WHERE r.release = ? AND r.kind IS DISTINCT "
            "FROM 'refresh' AND EXISTS (SELECT 1 FROM privacy.measurements m "
            "WHERE m.run_id = r.run_id) ORDER BY r.started_at DESC, r.run_id LIMIT 1",
            [release],
        ).fetchone()
    return None if row is None else str(row[0])


def _measurement(
    clique: list[str],
    sigma: float,
    blob: bytes,
    private: bool,
    groups: str | None,
    selection_epsilon: float | None,
    noise: str | None,
) -> Measurement:
    """A stored row back as a measurement (coarsened if it carries group maps)."""
    values = np.frombuffer(blob, dtype="<i8").copy()
    chosen = float(selection_epsilon or 0.0)
    kind = NoiseKind(noise or NoiseKind.GAUSSIAN)
    if groups is None:
        return Measurement(
            tuple(clique), values, sigma, private, selection_epsilon=chosen, noise=kind
        )
    maps = tuple(tuple(int(g) for g in m) for m in json.loads(groups))
    return CoarseMeasurement(
        tuple(clique), values, sigma, private, maps, selection_epsilon=chosen, noise=kind
    )


def recomputed_spend(
    path: Path, run_ids: Sequence[str], cap: PrivacyCap | None = None
) -> dict[str, float | None]:
    """Each run's spend recomputed from its stored mechanism parameters
    (:func:`dpcore.spend.spent`), in ``cap``'s currency (rho without a cap): Gaussian
    measurements add up in rho; Laplace ones add up in epsilon, which a zCDP cap counts as
    ``epsilon**2 / 2``. None for a run with no measurements yet, or with measurements stored
    before their parameters were recorded."""
    store = privacy_store(path, create=False)
    if not run_ids or not store.exists():
        return dict.fromkeys(run_ids)
    wanted = sorted(set(run_ids))
    with store.snapshot() as con:
        rows = con.execute(
            "SELECT run_id, sigma, selection_epsilon, sensitivity, coalesce(noise, 'gaussian') "
            f"FROM privacy.measurements WHERE run_id IN ({', '.join('?' for _ in wanted)}) "
            "ORDER BY run_id, idx",
            wanted,
        ).fetchall()
    found: dict[str, list[dict[str, Any]]] = {}
    for run, sigma, epsilon, sensitivity, noise in rows:
        found.setdefault(str(run), []).append(
            {"s": sigma, "e": epsilon, "d": sensitivity, "n": noise}
        )
    out: dict[str, float | None] = {}
    for run in run_ids:
        params = found.get(run)
        if not params or any(p["e"] is None or p["d"] is None for p in params):
            out[run] = None
        else:
            out[run] = _in_currency(params, cap)
    return out


def _in_currency(params: list[dict[str, Any]], cap: PrivacyCap | None) -> float | None:
    """One run's stored parameters priced in ``cap``'s currency (None if their noise kinds
    are mixed, which no run draws)."""
    kinds = {str(p["n"]) for p in params}
    triples = [(float(p["s"]), float(p["e"]), int(p["d"])) for p in params]
    if kinds == {NoiseKind.GAUSSIAN.value}:
        return spent(triples, ZCDP) if cap is None or not cap.pure else None
    if kinds == {NoiseKind.LAPLACE.value}:
        epsilon = spent(triples, PURE)
        return epsilon if cap is not None and cap.pure else epsilon**2 / 2.0
    return None


def _groups_json(m: Measurement) -> str | None:
    """The group maps of a coarsened measurement as JSON, else None."""
    groups = getattr(m, "groups", None)
    return json.dumps([list(g) for g in groups]) if groups else None


def _charged(con: Sql, run_id: str) -> None:
    """Raise ``ChargeMissingError`` unless the run's charge is committed."""
    charged = con.execute(
        "SELECT count(*) FROM privacy.charges WHERE run_id = ?", [run_id]
    ).fetchall()[0][0]
    if not charged:
        raise ChargeMissingError(
            f"run {run_id} has no committed charge; noise is only drawn after the charge. "
            "Start the release again from the beginning."
        )


def measure_once(
    path: Path,
    run_id: str,
    table: str,
    codec: TableCodec,
    draw: Callable[[CountOracle], list[Measurement]],
    unit: PrivacyUnit | None = None,
    oracle: Callable[[duckdb.DuckDBPyConnection], CountOracle] | None = None,
    candidates: Sequence[Clique] = (),
) -> tuple[list[Measurement], bool]:
    """Return the run's measurements, drawing and storing them only if none are stored.

    In three short steps, so no write transaction (and no hold on the warehouse's gate)
    lasts while a synthesizer works:

    1. the run's charge is checked (noise is only ever drawn after it is committed);
    2. the source is counted: every clique in ``candidates`` (every clique the synthesizer
       may ask for) in one scan, holding the warehouse only for that scan; ``oracle`` builds
       the count oracle of another source engine instead (a Dask cluster holds nothing here);
    3. ``draw`` runs on those counts outside any transaction (AIM's rounds and model fits
       take seconds), then the measurements are stored in one short transaction that checks
       the charge again. The first store wins: if another attempt stored first, its
       measurements are returned and this draw is discarded, unseen (never stored, logged or
       published), so a run's released noise is drawn once per charge.

    Returns the measurements and whether they were reused.
    """
    privacy = privacy_store(path)  # a fresh warehouse has no charge: ChargeMissingError below
    stored = load_measurements(path, run_id)
    if stored is not None:
        return stored, True
    with privacy.snapshot() as held:
        _charged(held, run_id)
    with connect(path) as con:  # source rows always come from the DuckDB warehouse
        if oracle is not None:
            source: CountOracle = oracle(con)
        else:
            counted = DuckDBOracle(con, table, codec, unit or PrivacyUnit(), candidates=candidates)
            counted.counts(candidates)  # one scan, while the warehouse is held
            source = counted.detached(lambda: connect(path))
    measurements = draw(source)

    def store(con: Sql) -> bool:
        _charged(con, run_id)
        existing = con.execute(
            "SELECT count(*) FROM privacy.measurements WHERE run_id = ?", [run_id]
        ).fetchall()[0][0]
        if existing:
            return True
        for idx, m in enumerate(measurements):
            con.execute(
                "INSERT INTO privacy.measurements (run_id, idx, clique, shape, sigma, noisy, "
                "private, groups, selection_epsilon, sensitivity, noise) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    run_id,
                    idx,
                    list(m.clique),
                    list(codec.domain.shape(m.clique)),
                    m.sigma,
                    m.values.astype("<i8").tobytes(),
                    m.private,
                    _groups_json(m),
                    m.selection_epsilon,
                    (unit or PrivacyUnit()).sensitivity,
                    m.noise.value,
                ],
            )
            crash_point("while-measuring")
        return False

    if privacy.transaction(store):  # another attempt stored first: use those, never ours
        again = load_measurements(path, run_id)
        assert again is not None
        return again, True
    return measurements, False


__all__ = ["load_measurements", "measure_once", "recomputed_spend"]
