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
from dataclasses import dataclass, replace
from dataclasses import fields as dataclass_fields
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from dpcore.accounting import (
    BudgetState,
    PrivacyCap,
    PrivacyCost,
    cap_share,
    cumulative_epsilon,
    exhausted_message,
)
from dpcore.errors import BudgetExhaustedError
from dpcore.units import describe_unit
from warehouse import clock
from warehouse.anchor import verify_against_releases
from warehouse.errors import (
    CapMismatchError,
    LedgerError,
    UnitMismatchError,
    UnregisteredDatasetError,
)
from warehouse.measurements import recomputed_spend
from warehouse.rows import from_row, insert_sql, select_list, values_of
from warehouse.store import Sql, privacy_store
from warehouse.vocabulary import RunStatus

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
    """The charge in the cap's currency: rho, or epsilon under a pure cap (the column keeps
    its first name so that existing hash chains still verify)."""
    spent_after: Decimal
    charged_at: datetime
    prev_hash: str
    row_hash: str
    unit: str | None = None
    """Whom the charge's release protected (``row`` or ``person:<key>``); None on charges
    made before units were recorded."""
    hash_version: int | None = None
    """The format of ``row_hash`` (:data:`HASH_VERSION` for new charges; None: the format
    from before formats were numbered)."""

    def expected_hash(self) -> str:
        """The hash this row must carry given its fields and its predecessor's hash."""
        if self.hash_version is not None:
            return versioned_charge_hash(self)
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


HASH_VERSION = 2
"""The charge-hash format new charges are written in (see :func:`versioned_charge_hash`)."""

HASHED_FIELDS: dict[int, tuple[str, ...]] = {
    2: (
        "dataset",
        "seq",
        "run_id",
        "release",
        "spec_hash",
        "epsilon",
        "delta",
        "rho",
        "spent_after",
        "charged_at",
        "unit",
    ),
}
"""The fields each numbered format hashes. A field added to :class:`Charge` later joins a new
format (3, ...); rows keep verifying under the format they were written in, and a row's
format is itself hashed, so relabelling a row's format breaks its hash."""


def _canonical(value: object) -> str:
    """One field as the hash reads it: exact decimals, floats by repr, UTC timestamps."""
    if value is None:
        return "\x00"
    if isinstance(value, Decimal):
        return f"{value:.18f}"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat(timespec="microseconds")
    return str(value)


def versioned_charge_hash(charge: Charge) -> str:
    """SHA-256 over the format number, the previous row's hash and the format's fields, each
    as ``name=value``."""
    version = charge.hash_version
    if version not in HASHED_FIELDS:
        raise LedgerError(
            f"charge {charge.seq} of {charge.dataset} uses hash format {version}, which this "
            "version of dprelease does not know: upgrade dprelease to read this ledger."
        )
    values = {f.name: getattr(charge, f.name) for f in dataclass_fields(Charge)}
    values["epsilon"], values["delta"] = float(charge.epsilon), float(charge.delta)
    fields = [f"v{version}", charge.prev_hash]
    fields += [f"{name}={_canonical(values[name])}" for name in HASHED_FIELDS[version]]
    return hashlib.sha256("\x1f".join(fields).encode()).hexdigest()


def _charges(con: Sql, dataset: str) -> list[Charge]:
    rows = con.execute(
        f"SELECT {select_list(Charge)} FROM privacy.charges WHERE dataset = ? ORDER BY seq",
        [dataset],
    ).fetchall()
    return [from_row(Charge, row) for row in rows]


@dataclass(frozen=True)
class Registration:
    """A dataset's row in ``privacy.budgets``: its registered cap, unit and spend.

    ``cap_hash`` seals the cap (and opens the dataset's charge chain: the first charge
    follows it); it is None on budgets created before caps were registered.
    """

    dataset: str
    cap_epsilon: float
    cap_delta: float
    cap_rho: Decimal
    spent_rho: Decimal
    created_at: datetime
    unit: str | None
    cap_hash: str | None
    registered_by: str | None

    @property
    def cap(self) -> PrivacyCap:
        """The registered cap."""
        return PrivacyCap(self.cap_epsilon, self.cap_delta)

    @property
    def genesis(self) -> str:
        """The hash the dataset's first charge must follow."""
        return self.cap_hash or GENESIS

    def expected_cap_hash(self) -> str:
        """The seal this row's cap must carry."""
        return cap_hash(
            self.dataset, self.cap_epsilon, self.cap_delta, self.cap_rho, self.created_at
        )


def cap_hash(
    dataset: str, epsilon: float, delta: float, rho: Decimal, registered_at: datetime
) -> str:
    """SHA-256 over a registered cap: the genesis of its dataset's charge chain."""
    fields = [
        "cap",
        dataset,
        repr(float(epsilon)),
        repr(float(delta)),
        f"{rho:.18f}",
        registered_at.astimezone(UTC).isoformat(timespec="microseconds"),
    ]
    return hashlib.sha256("\x1f".join(fields).encode()).hexdigest()


_BUDGET_COLUMNS = select_list(Registration)


def _budget_row(con: Sql, dataset: str) -> Registration | None:
    row = con.execute(
        f"SELECT {_BUDGET_COLUMNS} FROM privacy.budgets WHERE dataset = ?", [dataset]
    ).fetchone()
    return None if row is None else from_row(Registration, row)


def verify_cap(budget: Registration) -> None:
    """Raise ``LedgerError`` if a registered cap was edited by hand (raised, lowered)."""
    if budget.cap_hash is not None and budget.cap_hash != budget.expected_cap_hash():
        raise LedgerError(
            f"the lifetime cap registered for {budget.dataset} was altered: its values "
            f"(epsilon={budget.cap_epsilon:g}, delta={budget.cap_delta:g}) do not match the "
            "seal it was registered with. No release can be charged until a privacy officer "
            "restores privacy.budgets from a backup."
        )


_RESTORE = "No release can be charged until a privacy officer restores the ledger from a backup."


def _unpaid_runs(con: Sql, dataset: str, charged: set[str]) -> None:
    """Raise ``LedgerError`` if the run log or stored measurements show a charged run of
    ``dataset`` that the ledger has no charge for (charges or the budget were wiped)."""
    rows = con.execute(
        "SELECT r.run_id, r.status, EXISTS (SELECT 1 FROM privacy.measurements m "
        "WHERE m.run_id = r.run_id) FROM privacy.runs r WHERE r.dataset = ? "
        "AND r.kind IS DISTINCT FROM 'refresh' ORDER BY r.started_at",
        [dataset],
    ).fetchall()
    for run_id, status, measured in rows:
        paid_for = measured or status in (
            RunStatus.CHARGED,
            RunStatus.MEASURED,
            RunStatus.PUBLISHED,
        )
        if paid_for and run_id not in charged:
            evidence = "holds stored measurements" if measured else f"is recorded as {status}"
            raise LedgerError(
                f"run {run_id} of {dataset} {evidence}, which only a charged run can be, but "
                f"the budget ledger has no charge for it: the ledger was wiped or altered. "
                f"{_RESTORE}"
            )


def register_budget(
    path: Path,
    dataset: str,
    cap: PrivacyCap,
    *,
    unit: str | None = None,
    registered_by: str = "",
) -> BudgetState:
    """A privacy officer's registration of ``dataset``'s lifetime cap (and, optionally, the
    privacy unit it protects), required before any release can charge it.

    Idempotent for the same cap; a different cap is refused (a lifetime cap never changes:
    the guarantees already given were computed against it). Refuses too if the run log or
    stored measurements show charged runs of the dataset that a wiped ledger forgot.
    """
    store = privacy_store(path)

    def body(con: Sql) -> BudgetState:
        existing = _budget_row(con, dataset)
        if existing is not None:
            verify_cap(existing)
            if existing.cap != PrivacyCap(cap.epsilon, cap.delta):
                raise CapMismatchError(
                    f"{dataset} is already registered with a lifetime cap of "
                    f"epsilon={existing.cap_epsilon:g}, delta={existing.cap_delta:g}; a "
                    "lifetime cap cannot be changed, since the guarantees of the releases "
                    "already made were given against it."
                )
            if unit is not None:
                _check_unit(dataset, existing.unit, unit)
            return BudgetState(dataset, existing.cap, existing.spent_rho, existing.unit or unit)
        _unpaid_runs(con, dataset, set())
        now = clock.utc_now()
        seal = cap_hash(dataset, cap.epsilon, cap.delta, cap.ledger_amount, now)
        con.execute(
            f"INSERT INTO privacy.budgets ({_BUDGET_COLUMNS}) VALUES (?, ?, ?, ?, 0, ?, ?, ?, ?)",
            [dataset, cap.epsilon, cap.delta, cap.ledger_amount, now, unit, seal, registered_by],
        )
        return BudgetState(dataset, PrivacyCap(cap.epsilon, cap.delta), Decimal(0), unit)

    return store.transaction(body)


def _unregistered(dataset: str) -> UnregisteredDatasetError:
    return UnregisteredDatasetError(
        f"{dataset} has no registered lifetime cap, so no release can charge it. A privacy "
        f"officer registers it once with `dprelease budget register {dataset} --epsilon E "
        "--delta D` (the cap every release of it shares); then run again."
    )


def verify_chain(
    dataset: str, charges: list[Charge], spent_rho: Decimal, genesis: str = GENESIS
) -> None:
    """Raise ``LedgerError`` unless the charges form an unbroken hash chain from ``genesis``
    (the registered cap's seal) summing to spent."""
    prev, total = genesis, Decimal(0)
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
            f"{dataset} is registered with a lifetime cap of "
            f"{PrivacyCap(*registered).words()}, but this spec declares {cap.words()}. Every "
            "release of a dataset must declare the same cap; fix the spec's privacy.cap."
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
    rho = cost.charge_for(cap)  # a pure cap refuses an approximate release before any write
    store = privacy_store(path)

    def body(con: Sql) -> Charge:
        budget = _budget_row(con, dataset)
        if budget is None:
            raise _unregistered(dataset)
        verify_cap(budget)
        _check_cap(dataset, (budget.cap_epsilon, budget.cap_delta), cap)
        _check_unit(dataset, budget.unit, unit)
        existing = con.execute(
            f"SELECT {select_list(Charge)} FROM privacy.charges WHERE run_id = ?", [run_id]
        ).fetchone()
        if existing is not None:
            previous = from_row(Charge, existing)
            if previous.dataset != dataset or previous.rho != rho:
                raise LedgerError(
                    f"run {run_id} was already charged {cap.currency}={previous.rho:.6g} to "
                    f"{previous.dataset}; it cannot now be charged {cap.currency}={rho:.6g} to "
                    f"{dataset}. "
                    "A run's dataset and cost are fixed at its charge: start a new run."
                )
            return previous
        charges = _charges(con, dataset)
        verify_chain(dataset, charges, budget.spent_rho, budget.genesis)
        _unpaid_runs(con, dataset, {c.run_id for c in charges})
        verify_against_releases(
            path, dataset, [c.run_id for c in charges], budget.spent_rho, budget.cap
        )
        updated = con.execute(
            "UPDATE privacy.budgets SET spent_rho = spent_rho + ? "
            "WHERE dataset = ? AND spent_rho + ? <= cap_rho RETURNING spent_rho",
            [rho, dataset, rho],
        ).fetchall()
        if not updated:
            state = BudgetState(dataset, cap, budget.spent_rho)
            raise BudgetExhaustedError(exhausted_message(state, rho, cost.delta))
        spent_after = updated[0][0]
        if budget.unit is None:
            con.execute("UPDATE privacy.budgets SET unit = ? WHERE dataset = ?", [unit, dataset])
        seq = len(charges) + 1
        prev = charges[-1].row_hash if charges else budget.genesis
        now = clock.utc_now()
        unsealed = Charge(
            dataset=dataset,
            seq=seq,
            run_id=run_id,
            release=release,
            spec_hash=spec_hash,
            epsilon=cost.epsilon,
            delta=cost.delta,
            rho=rho,
            spent_after=spent_after,
            charged_at=now,
            prev_hash=prev,
            row_hash="",
            unit=unit,
            hash_version=HASH_VERSION,
        )
        row = replace(unsealed, row_hash=unsealed.expected_hash())
        con.execute(insert_sql("privacy.charges", Charge), values_of(row))
        return row

    return store.transaction(body)


def charge_for_run(path: Path, run_id: str) -> Charge | None:
    """The committed charge of a run, if any."""
    store = privacy_store(path, create=False)
    if not store.exists():
        return None
    with store.snapshot() as con:
        row = con.execute(
            f"SELECT {select_list(Charge)} FROM privacy.charges WHERE run_id = ?", [run_id]
        ).fetchone()
    return None if row is None else from_row(Charge, row)


def release_charge_count(path: Path, dataset: str, release: str) -> int:
    """How many runs of ``release`` have been charged to ``dataset`` (a horizon's runs done)."""
    store = privacy_store(path, create=False)
    if not store.exists():
        return 0
    with store.snapshot() as con:
        row = con.execute(
            "SELECT count(*) FROM privacy.charges WHERE dataset = ? AND release = ?",
            [dataset, release],
        ).fetchall()
    return int(row[0][0])


def budget_state(
    path: Path, dataset: str, cap: PrivacyCap | None = None, unit: str | None = None
) -> BudgetState | None:
    """A dataset's verified budget state (None if it was never registered).

    With ``cap`` (a release's planning), an unregistered dataset is refused, and so is a
    spec that declares another cap (or protects another unit) than the registered one: all
    before anything is read or charged.
    """
    # One read transaction: a snapshot, so that a charge committed by another run between
    # reading the budget and its charges is never mistaken for a tampered ledger.
    with privacy_store(path).snapshot() as con:
        budget = _budget_row(con, dataset)
        charges = [] if budget is None else _charges(con, dataset)
        if budget is not None:
            _unpaid_runs(con, dataset, {c.run_id for c in charges})
    if budget is None:
        if cap is not None:
            raise _unregistered(dataset)
        return None
    verify_cap(budget)
    verify_chain(dataset, charges, budget.spent_rho, budget.genesis)
    verify_against_releases(
        path, dataset, [c.run_id for c in charges], budget.spent_rho, budget.cap
    )
    if cap is not None:
        _check_cap(dataset, (budget.cap_epsilon, budget.cap_delta), cap)
    if unit is not None:
        _check_unit(dataset, budget.unit, unit)
    return BudgetState(dataset, budget.cap, budget.spent_rho, budget.unit or unit)


def latest_delta(path: Path, dataset: str) -> float | None:
    """The delta of the dataset's newest charge (the terms its releases speak in), if any."""
    with privacy_store(path).snapshot() as con:
        row = con.execute(
            "SELECT delta FROM privacy.charges WHERE dataset = ? ORDER BY seq DESC LIMIT 1",
            [dataset],
        ).fetchone()
    return None if row is None else float(row[0])


def all_budgets(path: Path) -> list[BudgetState]:
    """Every registered dataset's verified budget state."""
    with privacy_store(path).snapshot() as con:
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
    recomputed: float | None = None
    """The run's spend recomputed from its stored measurements' mechanism parameters, in the
    cap's currency (:func:`warehouse.measurements.recomputed_spend`); None before anything
    was measured."""
    share: float = 0.0
    """This charge as a share of the dataset's lifetime cap."""
    used_after: float = 0.0
    """The share of the cap used once this charge was made."""
    currency: str = "rho"
    """What the charge's amounts count: ``rho`` (zCDP cap) or ``epsilon`` (pure cap)."""

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
            "currency": self.currency,
            "amount": str(c.rho),
            "cumulative_amount": str(c.spent_after),
            **(
                {
                    "rho": str(c.rho),
                    "cumulative_rho": str(c.spent_after),
                    "recomputed_rho": None if self.recomputed is None else repr(self.recomputed),
                }
                if self.currency == "rho"
                else {}
            ),
            "cumulative_epsilon": self.cumulative_epsilon,
            "cumulative_delta": self.cumulative_delta,
            "outcome": self.outcome,
            "share": self.share,
            "used_after": self.used_after,
            "recomputed": None if self.recomputed is None else repr(self.recomputed),
        }


def history(path: Path, dataset: str) -> list[HistoryRow]:
    """Every charge of ``dataset`` in order, with its run's outcome; verifies the chain first."""
    state = budget_state(path, dataset)
    if state is None:
        return []
    with privacy_store(path).snapshot() as con:
        charges = _charges(con, dataset)
        outcomes = dict(
            con.execute(
                "SELECT run_id, status FROM privacy.runs WHERE dataset = ?", [dataset]
            ).fetchall()
        )
    delta = state.cap.delta
    spend = recomputed_spend(path, [c.run_id for c in charges], state.cap)
    return [
        HistoryRow(
            c,
            cumulative_epsilon(c.spent_after, state.cap),
            delta,
            outcomes.get(c.run_id, "?"),
            spend[c.run_id],
            cap_share(c.rho, state.cap_amount),
            cap_share(c.spent_after, state.cap_amount),
            state.cap.currency,
        )
        for c in charges
    ]
