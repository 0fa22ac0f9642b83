"""The persisted cumulative budget ledger.

One row per dataset in ``privacy.budgets`` holds its cap and what has been spent; one row per
charge in ``privacy.charges`` records who spent what, chained by hashes so that hand edits
are detected. The cap check and the charge are one guarded ``UPDATE ... WHERE spent + cost
<= cap`` inside the same transaction as the charge row: two concurrent charges cannot both
pass the check, because DuckDB aborts the second writer of the same row, and it is retried
against the new total. A charge is keyed by run id, so a retried run is never charged twice.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import duckdb

from dpcore.accounting import (
    BudgetState,
    PrivacyCap,
    PrivacyCost,
    eps_from_rho,
    exhausted_message,
)
from dpcore.errors import BudgetExhaustedError
from dpcore.units import describe_unit
from warehouse import clock
from warehouse.anchor import verify_against_releases
from warehouse.connection import connect, run_transaction
from warehouse.errors import CapMismatchError, LedgerError, UnitMismatchError
from warehouse.measurements import recomputed_spend
from warehouse.schema import ensure_privacy_schema

GENESIS = "0" * 64


@dataclass(frozen=True)
class Charge:
    """One committed charge against a dataset's budget."""

    dataset: str
    seq: int
    run_id: str
    release: str
    spec_hash: str
    epsilon: float
    delta: float
    rho: Decimal
    spent_after: Decimal
    charged_at: datetime
    prev_hash: str
    row_hash: str
    unit: str | None = None
    """Whom the charge's release protected (``row`` or ``person:<key>``); None on charges
    made before units were recorded."""

    def expected_hash(self) -> str:
        """The hash this row must carry given its fields and its predecessor's hash."""
        return charge_hash(
            self.prev_hash,
            self.dataset,
            self.seq,
            self.run_id,
            self.release,
            self.spec_hash,
            self.epsilon,
            self.delta,
            self.rho,
            self.spent_after,
            self.charged_at,
            self.unit,
        )


def charge_hash(
    prev_hash: str,
    dataset: str,
    seq: int,
    run_id: str,
    release: str,
    spec_hash: str,
    epsilon: float,
    delta: float,
    rho: Decimal,
    spent_after: Decimal,
    charged_at: datetime,
    unit: str | None = None,
) -> str:
    """SHA-256 over a charge's fields and the previous row's hash.

    The unit joins the hashed fields when present; charges made before it was recorded keep
    their original hash (a unit cleared by hand then no longer matches the row's hash).
    """
    fields = [
        prev_hash,
        dataset,
        str(seq),
        run_id,
        release,
        spec_hash,
        repr(float(epsilon)),
        repr(float(delta)),
        f"{rho:.18f}",
        f"{spent_after:.18f}",
        charged_at.astimezone(UTC).isoformat(timespec="microseconds"),
    ]
    if unit is not None:
        fields.append(f"unit={unit}")
    return hashlib.sha256("\x1f".join(fields).encode()).hexdigest()


_CHARGE_COLUMNS = (
    "dataset, seq, run_id, release, spec_hash, epsilon, delta, rho, spent_after, "
    "charged_at, prev_hash, row_hash, unit"
)


def _charges(con: duckdb.DuckDBPyConnection, dataset: str) -> list[Charge]:
    rows = con.execute(
        f"SELECT {_CHARGE_COLUMNS} FROM privacy.charges WHERE dataset = ? ORDER BY seq",
        [dataset],
    ).fetchall()
    return [Charge(*row) for row in rows]


def _budget_row(
    con: duckdb.DuckDBPyConnection, dataset: str
) -> tuple[float, float, Decimal, Decimal, str | None] | None:
    row = con.execute(
        "SELECT cap_epsilon, cap_delta, cap_rho, spent_rho, unit FROM privacy.budgets "
        "WHERE dataset = ?",
        [dataset],
    ).fetchone()
    return None if row is None else (row[0], row[1], row[2], row[3], row[4])


def verify_chain(dataset: str, charges: list[Charge], spent_rho: Decimal) -> None:
    """Raise ``LedgerError`` unless the charges form an unbroken hash chain summing to spent."""
    prev, total = GENESIS, Decimal(0)
    for expected_seq, c in enumerate(charges, start=1):
        total += c.rho
        problems = []
        if c.seq != expected_seq:
            problems.append(f"sequence {c.seq} where {expected_seq} was expected")
        if c.prev_hash != prev:
            problems.append("it does not follow the previous row's hash")
        if c.row_hash != c.expected_hash():
            problems.append("its fields do not match its hash")
        if c.spent_after != total:
            problems.append(f"spent_after {c.spent_after} differs from the running sum {total}")
        if problems:
            raise LedgerError(
                f"the budget ledger for {dataset} was altered at charge {c.seq} "
                f"(run {c.run_id}): {'; '.join(problems)}. No release can be charged until a "
                "privacy officer restores privacy.charges from a backup."
            )
        prev = c.row_hash
    if total != spent_rho:
        raise LedgerError(
            f"the budget ledger for {dataset} says {spent_rho} rho was spent, but its charges "
            f"sum to {total}. No release can be charged until a privacy officer reconciles "
            "privacy.budgets with privacy.charges."
        )


def _check_cap(dataset: str, registered: tuple[float, float], cap: PrivacyCap) -> None:
    if registered != (cap.epsilon, cap.delta):
        raise CapMismatchError(
            f"{dataset} is registered with a lifetime cap of epsilon={registered[0]:g}, "
            f"delta={registered[1]:g}, but this spec declares epsilon={cap.epsilon:g}, "
            f"delta={cap.delta:g}. Every release of a dataset must declare the same cap; "
            "fix the spec's privacy.cap."
        )


def _check_unit(dataset: str, registered: str | None, unit: str) -> None:
    """Refuse a release whose privacy unit is not the one the dataset's cap protects.

    Row-level and person-level releases protect different neighbours; adding their costs
    into one cap would certify neither, so a cap belongs to one unit.
    """
    if registered is not None and registered != unit:
        raise UnitMismatchError(
            f"{dataset}'s lifetime cap protects {describe_unit(registered)}, but this spec "
            f"protects {describe_unit(unit)}. A cap belongs to one privacy unit: costs "
            "spent protecting rows and costs spent protecting persons do not add up to one "
            f"guarantee. Set the spec's privacy.unit to protect {describe_unit(registered)}, "
            "or ask the privacy officer about a separate budget for the other unit."
        )


def _register(con: duckdb.DuckDBPyConnection, dataset: str, cap: PrivacyCap, unit: str) -> None:
    """Create the dataset's budget row (its cap and unit) if absent; a legacy row with no
    unit is given this one (the first charge since units were recorded fixes it)."""
    con.execute(
        "INSERT INTO privacy.budgets "
        "(dataset, cap_epsilon, cap_delta, cap_rho, spent_rho, created_at, unit) "
        "VALUES (?, ?, ?, ?, 0, ?, ?) ON CONFLICT DO NOTHING",
        [dataset, cap.epsilon, cap.delta, cap.ledger_rho, clock.utc_now(), unit],
    )


def charge(
    path: Path,
    *,
    dataset: str,
    run_id: str,
    release: str,
    spec_hash: str,
    cost: PrivacyCost,
    cap: PrivacyCap,
    unit: str = "row",
) -> Charge:
    """Durably charge ``cost`` to ``dataset`` for ``run_id``, or raise and change nothing.

    Idempotent per run id: a second call for the same run returns the first charge; one that
    names another dataset or cost raises ``LedgerError`` (its receipt would not pay for it).
    Raises ``BudgetExhaustedError`` (naming the remaining budget) if the cap would be passed,
    ``CapMismatchError`` if the spec's cap differs from the registered one,
    ``UnitMismatchError`` if the dataset's cap protects another privacy unit (``unit``:
    :attr:`dpcore.units.PrivacyUnit.label`), and ``LedgerError`` if the ledger's rows were
    altered.
    """
    ensure_privacy_schema(path)
    rho = cost.ledger_rho

    def body(con: duckdb.DuckDBPyConnection) -> Charge:
        _register(con, dataset, cap, unit)
        budget = _budget_row(con, dataset)
        assert budget is not None  # registered just above
        _check_cap(dataset, (budget[0], budget[1]), cap)
        _check_unit(dataset, budget[4], unit)
        existing = con.execute(
            f"SELECT {_CHARGE_COLUMNS} FROM privacy.charges WHERE run_id = ?", [run_id]
        ).fetchone()
        if existing is not None:
            previous = Charge(*existing)
            if previous.dataset != dataset or previous.rho != rho:
                raise LedgerError(
                    f"run {run_id} was already charged rho={previous.rho:.6g} to "
                    f"{previous.dataset}; it cannot now be charged rho={rho:.6g} to {dataset}. "
                    "A run's dataset and cost are fixed at its charge: start a new run."
                )
            return previous
        charges = _charges(con, dataset)
        verify_chain(dataset, charges, budget[3])
        verify_against_releases(path, dataset, (c.run_id for c in charges), budget[3])
        updated = con.execute(
            "UPDATE privacy.budgets SET spent_rho = spent_rho + ? "
            "WHERE dataset = ? AND spent_rho + ? <= cap_rho RETURNING spent_rho",
            [rho, dataset, rho],
        ).fetchall()
        if not updated:
            state = BudgetState(dataset, cap, budget[3])
            raise BudgetExhaustedError(exhausted_message(state, rho))
        spent_after = updated[0][0]
        if budget[4] is None:
            con.execute("UPDATE privacy.budgets SET unit = ? WHERE dataset = ?", [unit, dataset])
        seq = len(charges) + 1
        prev = charges[-1].row_hash if charges else GENESIS
        now = clock.utc_now()
        row = Charge(
            dataset,
            seq,
            run_id,
            release,
            spec_hash,
            cost.epsilon,
            cost.delta,
            rho,
            spent_after,
            now,
            prev,
            "",
            unit,
        )
        row = Charge(**{**row.__dict__, "row_hash": row.expected_hash()})
        con.execute(
            f"INSERT INTO privacy.charges ({_CHARGE_COLUMNS}) VALUES "
            "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                row.dataset,
                row.seq,
                row.run_id,
                row.release,
                row.spec_hash,
                row.epsilon,
                row.delta,
                row.rho,
                row.spent_after,
                row.charged_at,
                row.prev_hash,
                row.row_hash,
                row.unit,
            ],
        )
        return row

    return run_transaction(path, body)


def charge_for_run(path: Path, run_id: str) -> Charge | None:
    """The committed charge of a run, if any."""
    if not path.exists():
        return None
    ensure_privacy_schema(path)
    with connect(path) as con:
        row = con.execute(
            f"SELECT {_CHARGE_COLUMNS} FROM privacy.charges WHERE run_id = ?", [run_id]
        ).fetchone()
    return None if row is None else Charge(*row)


def release_charge_count(path: Path, dataset: str, release: str) -> int:
    """How many runs of ``release`` have been charged to ``dataset`` (a horizon's runs done)."""
    if not path.exists():
        return 0
    ensure_privacy_schema(path)
    with connect(path) as con:
        row = con.execute(
            "SELECT count(*) FROM privacy.charges WHERE dataset = ? AND release = ?",
            [dataset, release],
        ).fetchall()
    return int(row[0][0])


def budget_state(
    path: Path, dataset: str, cap: PrivacyCap | None = None, unit: str | None = None
) -> BudgetState | None:
    """A dataset's verified budget state, or a fresh one for ``cap`` if never charged.

    With ``cap`` (and ``unit``), a spec that declares another cap (or protects another unit)
    than the registered one is refused here, before anything is read or charged.
    """
    ensure_privacy_schema(path)
    with connect(path) as con:
        budget = _budget_row(con, dataset)
        if budget is None:
            return None if cap is None else BudgetState(dataset, cap, Decimal(0), unit)
        charges = _charges(con, dataset)
        verify_chain(dataset, charges, budget[3])
    verify_against_releases(path, dataset, (c.run_id for c in charges), budget[3])
    registered = PrivacyCap(budget[0], budget[1])
    if cap is not None:
        _check_cap(dataset, (budget[0], budget[1]), cap)
    if unit is not None:
        _check_unit(dataset, budget[4], unit)
    return BudgetState(dataset, registered, budget[3], budget[4] or unit)


def all_budgets(path: Path) -> list[BudgetState]:
    """Every registered dataset's verified budget state."""
    ensure_privacy_schema(path)
    with connect(path) as con:
        datasets = [
            r[0] for r in con.execute("SELECT dataset FROM privacy.budgets ORDER BY 1").fetchall()
        ]
    states = [budget_state(path, d) for d in datasets]
    return [s for s in states if s is not None]


@dataclass(frozen=True)
class HistoryRow:
    """One charge as a privacy officer audits it, with the cumulative (epsilon, delta)."""

    charge: Charge
    cumulative_epsilon: float
    cumulative_delta: float
    outcome: str
    recomputed_rho: float | None = None
    """The run's spend recomputed from its stored measurements' mechanism parameters
    (:func:`warehouse.measurements.recomputed_spend`); None before anything was measured."""

    def as_dict(self) -> dict[str, object]:
        """The row as plain JSON-ready values (exact decimals as strings), for audits."""
        c = self.charge
        return {
            "seq": c.seq,
            "run_id": c.run_id,
            "release": c.release,
            "unit": c.unit,
            "charged_at": c.charged_at.isoformat(timespec="seconds"),
            "epsilon": c.epsilon,
            "delta": c.delta,
            "rho": str(c.rho),
            "cumulative_rho": str(c.spent_after),
            "cumulative_epsilon": self.cumulative_epsilon,
            "cumulative_delta": self.cumulative_delta,
            "outcome": self.outcome,
            "recomputed_rho": None if self.recomputed_rho is None else repr(self.recomputed_rho),
        }


def history(path: Path, dataset: str) -> list[HistoryRow]:
    """Every charge of ``dataset`` in order, with its run's outcome; verifies the chain first."""
    state = budget_state(path, dataset)
    if state is None:
        return []
    with connect(path) as con:
        charges = _charges(con, dataset)
        outcomes = dict(
            con.execute(
                "SELECT run_id, status FROM privacy.runs WHERE dataset = ?", [dataset]
            ).fetchall()
        )
    delta = state.cap.delta
    spend = recomputed_spend(path, [c.run_id for c in charges])
    return [
        HistoryRow(
            c,
            eps_from_rho(float(c.spent_after), delta),
            delta,
            outcomes.get(c.run_id, "?"),
            spend[c.run_id],
        )
        for c in charges
    ]
