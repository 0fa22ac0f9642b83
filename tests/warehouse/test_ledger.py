"""The persisted budget ledger: charges, idempotency, the cap, concurrency, tamper detection."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from decimal import Decimal
from pathlib import Path

import pytest

from dpcore.accounting import (
    BudgetStatement,
    PrivacyCap,
    PrivacyCost,
    cap_share,
    eps_from_rho,
    percent,
)
from dpcore.errors import BudgetExhaustedError
from warehouse import ledger
from warehouse.errors import (
    CapMismatchError,
    LedgerError,
    UnitMismatchError,
    UnregisteredDatasetError,
)
from warehouse.runs import set_status, start_run
from warehouse.store import privacy_store

DATASET = "raw.adult"
DELTA = 1e-6
CAP = PrivacyCap(1.0, DELTA)


@dataclass(frozen=True)
class ExactCost(PrivacyCost):
    """A cost whose ledger rho is given exactly (real costs come from a bisection)."""

    fixed_rho: Decimal = Decimal("0.15")

    @property
    def ledger_rho(self) -> Decimal:
        return self.fixed_rho


@dataclass(frozen=True)
class ExactCap(PrivacyCap):
    """A cap whose ledger rho is given exactly."""

    fixed_rho: Decimal = Decimal("1.0")

    @property
    def ledger_rho(self) -> Decimal:
        return self.fixed_rho


# Exact doubles keep the arithmetic readable and skip the (slow) eps -> rho bisection.
UNIT_CAP = ExactCap(1.0, DELTA, Decimal("1.0"))


def exact(rho: str) -> ExactCost:
    """A cost of exactly ``rho`` ledger rho (its epsilon is only recorded, not converted)."""
    return ExactCost(float(rho), DELTA, Decimal(rho))


def charge(
    path: Path,
    run_id: str,
    cost: PrivacyCost,
    cap: PrivacyCap = UNIT_CAP,
    dataset: str = DATASET,
    unit: str = "row",
) -> ledger.Charge:
    """Charge ``dataset``, registering ``cap`` for it first if it has no registered cap."""
    if ledger.budget_state(path, dataset) is None:
        ledger.register_budget(path, dataset, cap)
    return ledger.charge(
        path,
        dataset=dataset,
        run_id=run_id,
        release="adult",
        spec_hash="spec-" + run_id,
        cost=cost,
        cap=cap,
        unit=unit,
    )


@pytest.fixture
def warehouse(store_home: Path) -> Path:
    """Every test of this suite runs with the ledger in DuckDB and in PostgreSQL."""
    return store_home


def query(
    path: Path, statement: str, params: list[object] | None = None
) -> list[tuple[object, ...]]:
    """Rows of ``statement`` read from the ledger's store (either backend)."""
    with privacy_store(path).snapshot() as con:
        return [tuple(row) for row in con.execute(statement, params or []).fetchall()]


def table_rows(path: Path) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    """Everything in budgets and charges, for before/after comparisons."""
    budgets = query(path, "SELECT * FROM privacy.budgets ORDER BY dataset")
    charges = query(path, "SELECT * FROM privacy.charges ORDER BY dataset, seq")
    return budgets, charges


def sql(path: Path, statement: str, params: list[object] | None = None) -> None:
    """A hand edit of the ledger's store, committed."""
    privacy_store(path).transaction(lambda con: con.execute(statement, params or []))


# --- single charges ---------------------------------------------------------------------


def test_charge_commits_and_budget_state_reflects_it(warehouse: Path) -> None:
    cost = PrivacyCost(0.3, DELTA)
    assert ledger.budget_state(warehouse, DATASET) is None
    ledger.register_budget(warehouse, DATASET, CAP)
    fresh = ledger.budget_state(warehouse, DATASET, CAP)
    assert fresh is not None and fresh.spent == 0

    c = charge(warehouse, "run-1", cost, CAP)

    assert (c.seq, c.run_id, c.dataset) == (1, "run-1", DATASET)
    assert c.rho == cost.ledger_rho == c.spent_after
    assert (c.epsilon, c.delta) == (0.3, DELTA)
    ((seal,),) = query(warehouse, "SELECT cap_hash FROM privacy.budgets")
    assert c.prev_hash == seal != ledger.GENESIS  # the chain starts at the registered cap
    assert c.row_hash == c.expected_hash()
    state = ledger.budget_state(warehouse, DATASET)
    assert state is not None
    assert state.spent == cost.ledger_rho
    assert state.cap == CAP
    assert state.remaining == CAP.ledger_rho - cost.ledger_rho
    assert ledger.charge_for_run(warehouse, "run-1") == c
    assert ledger.charge_for_run(warehouse, "run-2") is None
    budgets, charges = table_rows(warehouse)
    assert len(budgets) == 1 and len(charges) == 1
    assert budgets[0][3] == CAP.ledger_rho  # cap_rho stored exactly


def test_charges_accumulate_exactly_in_decimal(warehouse: Path) -> None:
    costs = [exact(r) for r in ("0.1", "0.2", "0.05")]
    for i, cost in enumerate(costs):
        charge(warehouse, f"run-{i}", cost)
    state = ledger.budget_state(warehouse, DATASET)
    assert state is not None
    assert state.spent == Decimal("0.35")
    assert [c.seq for c in (h.charge for h in ledger.history(warehouse, DATASET))] == [1, 2, 3]


def test_charge_for_run_without_a_warehouse_is_none(tmp_path: Path) -> None:
    missing = tmp_path / "nope.duckdb"
    assert ledger.charge_for_run(missing, "run-1") is None
    assert not missing.exists()


def test_same_run_id_is_charged_once(warehouse: Path) -> None:
    first = charge(warehouse, "run-1", exact("0.3"))
    again = charge(warehouse, "run-1", exact("0.3"))

    assert again == first
    state = ledger.budget_state(warehouse, DATASET)
    assert state is not None and state.spent == first.rho == Decimal("0.3")
    assert len(table_rows(warehouse)[1]) == 1


@pytest.mark.parametrize(
    ("cost", "dataset"), [("0.5", DATASET), ("0.3", "raw.other")], ids=["cost", "dataset"]
)
def test_a_run_cannot_be_recharged_differently(warehouse: Path, cost: str, dataset: str) -> None:
    """A retry that asks for another cost or dataset must not get the old receipt."""
    ledger.register_budget(warehouse, "raw.other", UNIT_CAP)
    charge(warehouse, "run-1", exact("0.3"))
    before = table_rows(warehouse)
    with pytest.raises(LedgerError, match=r"run run-1 was already charged rho=0\.3"):
        charge(warehouse, "run-1", exact(cost), dataset=dataset)
    assert table_rows(warehouse) == before


def test_exhausted_charge_names_remaining_budget_and_changes_nothing(warehouse: Path) -> None:
    cost = PrivacyCost(0.6, DELTA)  # rho is about 0.37 of the cap's: two fit, a third does not
    charge(warehouse, "run-1", cost, CAP)
    charge(warehouse, "run-2", cost, CAP)
    before = table_rows(warehouse)
    state = ledger.budget_state(warehouse, DATASET)
    assert state is not None and not state.can_charge(cost.ledger_rho)

    with pytest.raises(BudgetExhaustedError) as info:
        charge(warehouse, "run-3", cost, CAP)

    message = str(info.value)
    statement = BudgetStatement.of(state, cost.delta)
    assert statement.sentence() in message  # shares, and the largest epsilon still payable
    assert f"would use {percent(cap_share(cost.ledger_rho, state.cap_amount))}" in message
    assert statement.largest_epsilon < cost.epsilon  # what is left cannot pay for 0.6
    assert DATASET in message
    assert table_rows(warehouse) == before
    assert ledger.charge_for_run(warehouse, "run-3") is None


def test_first_charge_above_the_cap_changes_nothing(warehouse: Path) -> None:
    ledger.register_budget(warehouse, DATASET, UNIT_CAP)
    before = table_rows(warehouse)
    with pytest.raises(BudgetExhaustedError):
        charge(warehouse, "run-1", exact("1.5"))
    assert table_rows(warehouse) == before
    state = ledger.budget_state(warehouse, DATASET)
    assert state is not None and state.spent == 0


def test_an_unregistered_dataset_is_refused_and_nothing_is_written(warehouse: Path) -> None:
    """Caps belong to the privacy officer: no charge (and no plan) creates one."""
    with pytest.raises(UnregisteredDatasetError) as info:
        ledger.charge(
            warehouse,
            dataset=DATASET,
            run_id="run-1",
            release="adult",
            spec_hash="h",
            cost=exact("0.1"),
            cap=UNIT_CAP,
        )
    assert "raw.adult has no registered lifetime cap" in str(info.value)
    assert "dprelease budget register raw.adult --epsilon E --delta D" in str(info.value)
    with pytest.raises(UnregisteredDatasetError):
        ledger.budget_state(warehouse, DATASET, UNIT_CAP)
    assert ledger.budget_state(warehouse, DATASET) is None
    assert table_rows(warehouse) == ([], [])


def test_a_registered_cap_cannot_be_changed(warehouse: Path) -> None:
    ledger.register_budget(warehouse, DATASET, UNIT_CAP)
    again = ledger.register_budget(warehouse, DATASET, UNIT_CAP)  # idempotent
    assert again.spent == 0
    before = table_rows(warehouse)
    with pytest.raises(CapMismatchError, match="a lifetime cap cannot be changed"):
        ledger.register_budget(warehouse, DATASET, PrivacyCap(2.0, DELTA))
    assert table_rows(warehouse) == before


@pytest.mark.parametrize(
    "edit",
    [
        "UPDATE privacy.budgets SET cap_rho = cap_rho * 10",
        "UPDATE privacy.budgets SET cap_epsilon = 40, cap_rho = cap_rho * 10",
    ],
)
def test_a_cap_raised_by_hand_is_detected(warehouse: Path, edit: str) -> None:
    """The cap is sealed in the chain's genesis: raising it stops every later charge."""
    charge(warehouse, "run-1", exact("0.5"))
    sql(warehouse, edit)
    with pytest.raises(LedgerError, match=r"lifetime cap registered for raw\.adult was altered"):
        charge(warehouse, "run-2", exact("0.6"))
    with pytest.raises(LedgerError, match="was altered"):
        ledger.budget_state(warehouse, DATASET)


def test_a_cap_raised_with_its_seal_recomputed_breaks_the_chain(warehouse: Path) -> None:
    charge(warehouse, "run-1", exact("0.5"))
    ((created,),) = query(warehouse, "SELECT created_at FROM privacy.budgets")
    seal = ledger.cap_hash(DATASET, 1.0, DELTA, Decimal(10), created)  # type: ignore[arg-type]
    sql(warehouse, "UPDATE privacy.budgets SET cap_rho = 10, cap_hash = ?", [seal])
    with pytest.raises(LedgerError, match="does not follow the previous row's hash"):
        charge(warehouse, "run-2", exact("0.6"))


@pytest.mark.parametrize(
    "wipe",
    [
        "DELETE FROM privacy.charges; UPDATE privacy.budgets SET spent_rho = 0",
        "DELETE FROM privacy.charges; DELETE FROM privacy.budgets",
    ],
)
def test_a_wiped_ledger_is_detected_from_the_run_log(warehouse: Path, wipe: str) -> None:
    """The run log and stored measurements witness charges: wiping the ledger (even the
    budget row, to register a fresh cap) is refused."""
    charge(warehouse, "run-1", exact("0.5"))
    start_run(
        warehouse,
        run_id="run-1",
        release="adult",
        dataset=DATASET,
        spec_hash="h",
        spec_path="spec.yaml",
    )
    set_status(warehouse, "run-1", "measured")
    sql(warehouse, wipe)
    with pytest.raises(LedgerError, match=r"run run-1 of raw\.adult is recorded as measured"):
        ledger.register_budget(warehouse, DATASET, UNIT_CAP)
        charge(warehouse, "run-2", exact("0.6"))


def test_exact_fill_to_the_cap_is_allowed(warehouse: Path) -> None:
    for i in range(4):
        charge(warehouse, f"run-{i}", exact("0.25"))
    with pytest.raises(BudgetExhaustedError):
        charge(warehouse, "run-5", exact("1E-18"))
    assert table_rows(warehouse)[0][0][4] == Decimal("1.0")


@pytest.mark.parametrize("other", [PrivacyCap(2.0, DELTA), PrivacyCap(1.0, 1e-5)])
def test_cap_mismatch_is_refused(warehouse: Path, other: PrivacyCap) -> None:
    charge(warehouse, "run-1", exact("0.01"), CAP)
    before = table_rows(warehouse)

    with pytest.raises(CapMismatchError, match=r"epsilon=1, delta=1e-06"):
        charge(warehouse, "run-2", exact("0.01"), cap=other)
    with pytest.raises(CapMismatchError):
        ledger.budget_state(warehouse, DATASET, other)

    assert table_rows(warehouse) == before
    assert ledger.budget_state(warehouse, DATASET, CAP) is not None


@pytest.mark.parametrize(("first", "then"), [("row", "person:pid"), ("person:pid", "row")])
def test_a_cap_belongs_to_the_unit_of_its_first_charge(
    warehouse: Path, first: str, then: str
) -> None:
    """Row-level and person-level costs never add into one cap: the other unit is refused,
    at the charge and in the pre-flight state check, with the ledger unchanged."""
    charge(warehouse, "run-1", exact("0.01"), unit=first)
    before = table_rows(warehouse)
    with pytest.raises(UnitMismatchError) as info:
        charge(warehouse, "run-2", exact("0.01"), unit=then)
    message = str(info.value)
    assert "raw.adult's lifetime cap protects" in message
    assert "A cap belongs to one privacy unit" in message
    assert ("privacy.unit: row" in message) and ("privacy.unit.key: pid" in message)
    with pytest.raises(UnitMismatchError):
        ledger.budget_state(warehouse, DATASET, UNIT_CAP, then)
    assert table_rows(warehouse) == before
    state = ledger.budget_state(warehouse, DATASET, UNIT_CAP, first)
    assert state is not None and state.unit == first
    assert [h.charge.unit for h in ledger.history(warehouse, DATASET)] == [first]
    assert ledger.history(warehouse, DATASET)[0].as_dict()["unit"] == first


def test_a_persons_k_is_not_part_of_the_unit(warehouse: Path) -> None:
    """Releases bounding persons to different k protect the same people: one cap."""
    charge(warehouse, "run-1", exact("0.01"), unit="person:pid")
    charge(warehouse, "run-2", exact("0.01"), unit="person:pid")
    units = query(warehouse, "SELECT unit FROM privacy.charges ORDER BY seq")
    assert units == [("person:pid",), ("person:pid",)]


def _rewrite_in_the_unnumbered_format(path: Path) -> None:
    """Turn every charge into what dprelease wrote before hash formats were numbered: no
    ``hash_version``, and the hash of that format, chained from the cap's seal."""
    ((seal,),) = query(path, "SELECT cap_hash FROM privacy.budgets")
    previous = seal
    for c in ledger.history(path, DATASET):
        old = replace(c.charge, prev_hash=previous, hash_version=None)
        legacy = ledger.charge_hash(
            old.prev_hash, old.dataset, old.seq, old.run_id, old.release, old.spec_hash,
            old.epsilon, old.delta, old.rho, old.spent_after, old.charged_at, old.unit,
        )  # fmt: skip
        sql(
            path,
            "UPDATE privacy.charges SET hash_version = NULL, prev_hash = ?, row_hash = ? "
            "WHERE seq = ?",
            [previous, legacy, old.seq],
        )
        previous = legacy


def test_a_chain_written_in_the_previous_format_still_verifies_and_grows(warehouse: Path) -> None:
    """Adding a field to the ledger must not break chains written before: unnumbered rows
    verify in their own format, new rows follow them in the numbered one, and relabelling
    a row's format (or naming one this version does not know) is caught."""
    charge(warehouse, "run-1", exact("0.01"))
    charge(warehouse, "run-2", exact("0.02"))
    _rewrite_in_the_unnumbered_format(warehouse)
    state = ledger.budget_state(warehouse, DATASET)
    assert state is not None and state.spent == Decimal("0.03")
    third = charge(warehouse, "run-3", exact("0.04"))
    assert third.hash_version == ledger.HASH_VERSION
    rows = ledger.history(warehouse, DATASET)
    assert [r.charge.hash_version for r in rows] == [None, None, ledger.HASH_VERSION]
    assert rows[2].charge.prev_hash == rows[1].charge.row_hash

    sql(warehouse, "UPDATE privacy.charges SET hash_version = NULL WHERE seq = 3")
    with pytest.raises(LedgerError, match="its fields do not match its hash"):
        ledger.budget_state(warehouse, DATASET)
    sql(warehouse, "UPDATE privacy.charges SET hash_version = 99 WHERE seq = 3")
    with pytest.raises(LedgerError, match="hash format 99, which this version"):
        ledger.budget_state(warehouse, DATASET)


def test_a_unit_edited_by_hand_breaks_the_chain(warehouse: Path) -> None:
    charge(warehouse, "run-1", exact("0.01"), unit="person:pid")
    sql(warehouse, "UPDATE privacy.charges SET unit = NULL")
    with pytest.raises(LedgerError, match="its fields do not match its hash"):
        ledger.budget_state(warehouse, DATASET)


def test_a_ledger_from_before_units_is_fixed_by_its_next_charge(warehouse: Path) -> None:
    """Budgets created before units were recorded have none; the next charge sets it."""
    charge(warehouse, "run-1", exact("0.01"))
    sql(warehouse, "UPDATE privacy.budgets SET unit = NULL")
    charge(warehouse, "run-2", exact("0.01"), unit="person:pid")
    assert query(warehouse, "SELECT unit FROM privacy.budgets") == [("person:pid",)]
    with pytest.raises(UnitMismatchError):
        charge(warehouse, "run-3", exact("0.01"), unit="row")


def test_datasets_have_separate_budgets(warehouse: Path) -> None:
    charge(warehouse, "a-1", exact("0.3"), dataset="raw.a")
    charge(warehouse, "b-1", exact("0.4"), ExactCap(2.0, DELTA, Decimal(2)), dataset="raw.b")
    states = ledger.all_budgets(warehouse)
    assert [s.dataset for s in states] == ["raw.a", "raw.b"]
    assert [s.spent for s in states] == [Decimal("0.3"), Decimal("0.4")]
    assert states[1].cap == PrivacyCap(2.0, DELTA)
    assert [h.charge.seq for h in ledger.history(warehouse, "raw.b")] == [1]


# --- history ----------------------------------------------------------------------------


def test_history_cumulative_numbers_recompute_from_rows(warehouse: Path) -> None:
    rhos = ["0.011", "0.000000000000000001", "0.23", "0.1", "0.333333333333333333"]
    for i, rho in enumerate(rhos):
        charge(warehouse, f"run-{i}", exact(rho))
    start_run(
        warehouse, run_id="run-1", release="adult", dataset=DATASET, spec_hash="h", spec_path="p"
    )
    set_status(warehouse, "run-1", "published")

    rows = ledger.history(warehouse, DATASET)

    assert [r.charge.run_id for r in rows] == [f"run-{i}" for i in range(5)]
    total = Decimal(0)
    previous_eps = 0.0
    for row, rho in zip(rows, rhos, strict=True):
        total += Decimal(rho)
        assert row.charge.rho == Decimal(rho)
        assert row.charge.spent_after == total  # exact decimal, no rounding drift
        assert row.cumulative_epsilon == eps_from_rho(float(total), DELTA)
        assert row.cumulative_epsilon >= previous_eps
        assert row.cumulative_delta == DELTA
        previous_eps = row.cumulative_epsilon
    assert [r.outcome for r in rows] == ["?", "published", "?", "?", "?"]
    ((db_sum,),) = query(warehouse, "SELECT sum(rho) FROM privacy.charges")
    assert db_sum == total
    assert ledger.history(warehouse, "raw.other") == []


# --- tamper detection -------------------------------------------------------------------

TAMPERS = {
    "charge rho": "UPDATE privacy.charges SET rho = rho / 2 WHERE seq = 2",
    "charge epsilon": "UPDATE privacy.charges SET epsilon = epsilon / 2 WHERE seq = 2",
    "charge rho and spent_after consistently": (
        "UPDATE privacy.charges SET rho = rho - 0.01, spent_after = spent_after - 0.01 "
        "WHERE seq >= 2; UPDATE privacy.budgets SET spent_rho = spent_rho - 0.01"
    ),
    "middle row deleted": "DELETE FROM privacy.charges WHERE seq = 2",
    "last row deleted": "DELETE FROM privacy.charges WHERE seq = 3",
    "budgets.spent lowered": "UPDATE privacy.budgets SET spent_rho = spent_rho - 0.1",
    "budgets.spent zeroed": "UPDATE privacy.budgets SET spent_rho = 0",
    "run id swapped": "UPDATE privacy.charges SET run_id = 'someone-else' WHERE seq = 1",
}


@pytest.mark.parametrize("statement", TAMPERS.values(), ids=list(TAMPERS))
def test_hand_edits_are_detected(warehouse: Path, statement: str) -> None:
    for i in range(3):
        charge(warehouse, f"run-{i}", exact("0.1"))
    assert len(ledger.history(warehouse, DATASET)) == 3  # intact before the edit
    sql(warehouse, statement)
    after_edit = table_rows(warehouse)

    with pytest.raises(LedgerError, match=r"altered|reconcile"):
        charge(warehouse, "run-new", exact("0.1"))
    with pytest.raises(LedgerError):
        ledger.budget_state(warehouse, DATASET)
    with pytest.raises(LedgerError):
        ledger.history(warehouse, DATASET)
    with pytest.raises(LedgerError):
        ledger.all_budgets(warehouse)
    assert table_rows(warehouse) == after_edit  # the refused charge wrote nothing


@pytest.mark.xfail(
    strict=True,
    reason="known limitation: truncating the newest charges of runs that never published, with "
    "budgets.spent lowered to match, leaves a valid chain and no witness; charges of "
    "published runs are witnessed by the release catalog (tests/warehouse/test_anchor.py)",
)
def test_truncation_with_a_matching_budget_is_detected(warehouse: Path) -> None:
    for i in range(3):
        charge(warehouse, f"run-{i}", exact("0.1"))
    sql(
        warehouse,
        "UPDATE privacy.budgets SET spent_rho = 0.2; DELETE FROM privacy.charges WHERE seq = 3",
    )
    with pytest.raises(LedgerError):
        ledger.budget_state(warehouse, DATASET)


def test_verify_chain_names_the_altered_row(warehouse: Path) -> None:
    for i in range(3):
        charge(warehouse, f"run-{i}", exact("0.1"))
    sql(warehouse, "UPDATE privacy.charges SET spec_hash = 'x' WHERE seq = 2")
    with pytest.raises(LedgerError, match=r"at charge 2 \(run run-1\)"):
        ledger.budget_state(warehouse, DATASET)


# --- concurrency ------------------------------------------------------------------------


def _race(n: int, attempt: Callable[[int], object]) -> tuple[int, int, list[BaseException]]:
    """Run ``attempt(i)`` in ``n`` threads released together; count successes/refusals."""
    barrier = threading.Barrier(n)
    lock = threading.Lock()
    ok, refused, other = 0, 0, []

    def work(i: int) -> None:
        nonlocal ok, refused
        barrier.wait()
        try:
            attempt(i)
        except BudgetExhaustedError:
            with lock:
                refused += 1
        except BaseException as error:
            with lock:
                other.append(error)
        else:
            with lock:
                ok += 1

    threads = [threading.Thread(target=work, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return ok, refused, other


@pytest.mark.parametrize("repeat", range(5))
def test_concurrent_threads_never_pass_the_cap(warehouse: Path, repeat: int) -> None:
    path = warehouse
    cost = exact("0.15")

    ok, refused, other = _race(16, lambda i: charge(path, f"t{i}", cost))

    assert other == []
    assert (ok, refused) == (6, 10)  # floor(1.0 / 0.15) = 6
    state = ledger.budget_state(path, DATASET)
    assert state is not None and state.spent == Decimal("0.90")
    rows = ledger.history(path, DATASET)  # chain intact after the race
    assert [r.charge.seq for r in rows] == [1, 2, 3, 4, 5, 6]
    assert [r.charge.spent_after for r in rows] == [Decimal("0.15") * k for k in range(1, 7)]


def test_concurrent_retries_of_one_run_charge_once(warehouse: Path) -> None:
    results: list[ledger.Charge] = []
    ok, _, other = _race(8, lambda i: results.append(charge(warehouse, "same-run", exact("0.15"))))
    assert other == [] and ok == 8
    assert len({r.row_hash for r in results}) == 1
    state = ledger.budget_state(warehouse, DATASET)
    assert state is not None and state.spent == Decimal("0.15")


CHARGER = textwrap.dedent(
    """
    import json, sys, time
    from dataclasses import dataclass
    from decimal import Decimal
    from pathlib import Path

    from dpcore.accounting import PrivacyCap, PrivacyCost
    from dpcore.errors import BudgetExhaustedError
    from warehouse.ledger import charge, register_budget

    @dataclass(frozen=True)
    class ExactCost(PrivacyCost):
        @property
        def ledger_rho(self):
            return Decimal("0.15")

    @dataclass(frozen=True)
    class ExactCap(PrivacyCap):
        @property
        def ledger_rho(self):
            return Decimal("1.0")

    path, go, name, tries = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3], int(sys.argv[4])
    register_budget(path, "raw.adult", ExactCap(1.0, 1e-6))  # idempotent: every process asks
    while not go.exists():
        time.sleep(0.005)
    ok = refused = 0
    for i in range(tries):
        try:
            charge(path, dataset="raw.adult", run_id=f"{name}-{i}", release="adult",
                   spec_hash="h", cost=ExactCost(0.2, 1e-6), cap=ExactCap(1.0, 1e-6))
            ok += 1
        except BudgetExhaustedError:
            refused += 1
    print(json.dumps({"ok": ok, "refused": refused}))
    """
)


def test_concurrent_processes_never_pass_the_cap(warehouse: Path, tmp_path: Path) -> None:
    path, go = warehouse, tmp_path / "go"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", CHARGER, str(path), str(go), f"p{k}", "4"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for k in range(4)
    ]
    time.sleep(0.3)  # let them import, then release them together
    go.touch()
    results = []
    for p in procs:
        out, err = p.communicate(timeout=60)
        assert p.returncode == 0, err
        results.append(json.loads(out))

    assert sum(r["ok"] for r in results) == 6  # 16 attempts, floor(1.0 / 0.15) succeed
    assert sum(r["refused"] for r in results) == 10
    state = ledger.budget_state(path, DATASET)
    assert state is not None and state.spent == Decimal("0.90")
    assert len(ledger.history(path, DATASET)) == 6
