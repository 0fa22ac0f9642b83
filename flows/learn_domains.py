"""The DP domain step of ``dprelease init --learn``: a column's domain bought from the rows.

For a column no codebook covers, the step learns numeric bounds and bins (a noisy histogram
on a public log-scale grid) or which category values to keep (a thresholded noisy count),
as :mod:`dpcore.learned_domains` defines and proves. Order, as in a release: everything
refusable is refused first (unknown or unusable columns, an unregistered dataset, a pure
cap, a person unit, a step the remaining budget cannot pay), then the charge is committed
to the dataset's ledger, and only then are rows counted (:mod:`warehouse.domain_counts`)
and noise drawn. What leaves the step is the learned domain alone, each with a comment
naming the run, its charge and the mechanism, for the draft.

The step protects rows (add or remove one row): a dataset whose cap protects persons refuses
it before the charge, and on a dataset whose unit no charge has fixed yet, its charge fixes
it to rows, as a row-level release's would.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from dpcore.accounting import PrivacyCap, PrivacyCost, exhausted_message, rho_from_eps_delta
from dpcore.errors import BudgetError, BudgetExhaustedError, DPReleaseError
from dpcore.learned_domains import (
    FLOAT_GRID,
    GRID,
    StepPlan,
    grid_for,
    learn_numeric,
    learn_values,
    plan_step,
)
from dpcore.noise import RandomSource, secure_source
from flows.draft import LearnedColumn
from flows.placeholders import placeholder
from tasks.context import private_data_boundary
from warehouse.domain_counts import ColumnCounts, domain_counts
from warehouse.errors import UnregisteredDatasetError
from warehouse.ledger import Charge, budget_state, charge
from warehouse.source import catalog_kind
from warehouse.vocabulary import DOMAIN_STEP_RELEASE

STEP_RELEASE = DOMAIN_STEP_RELEASE
"""The ledger's ``release`` for a domain step's charge."""


class LearnRefusedError(DPReleaseError):
    """A domain step was refused before anything was charged; the message says why."""


@dataclass(frozen=True)
class LearnedDomains:
    """A committed domain step: its charge, its plan and each learned column."""

    charge: Charge
    plan: StepPlan
    columns: Mapping[str, LearnedColumn]


def _kinds(columns: Sequence[str], catalog: Mapping[str, str], table: str) -> dict[str, str]:
    kinds: dict[str, str] = {}
    for name in columns:
        if name not in catalog:
            raise LearnRefusedError(
                f"{table} has no column {name} to learn; its columns: {', '.join(catalog)}"
            )
        kind = catalog_kind(catalog[name])
        if kind is None:
            raise LearnRefusedError(
                f"{table}.{name} is {catalog[name]}: no domain can be learned for it (only "
                "numbers and text); leave it out of the release"
            )
        kinds[name] = kind
    if not kinds:
        raise LearnRefusedError("name at least one column to learn")
    return kinds


def plan_learning(
    warehouse: Path, table: str, kinds: Mapping[str, str], cost: PrivacyCost
) -> tuple[PrivacyCap, StepPlan]:
    """The registered cap and how the step spends ``cost``; refuses (charging nothing) an
    unregistered dataset, a pure cap, and a step the remaining budget cannot pay."""
    state = budget_state(warehouse, table)
    if state is None:
        raise UnregisteredDatasetError(
            f"{table} has no registered lifetime cap, so no domain can be learned from it. A "
            f"privacy officer registers it with `dprelease budget register {table} --epsilon "
            "E --delta D`; or declare the domains in a codebook, which costs nothing."
        )
    cap = state.cap
    if cap.pure or cost.pure:
        raise BudgetError(
            "learning domains under DP runs under a zCDP cap with a delta (a kept category "
            "value needs one); declare the domains in the codebook instead"
        )
    amount = cost.charge_for(cap)
    if not state.can_charge(amount):
        raise BudgetExhaustedError(exhausted_message(state, amount, cost.delta))
    categories = sum(1 for k in kinds.values() if k == "category")
    plan = plan_step(
        float(amount),
        float(cap.ledger_amount),
        cap.delta,
        lambda d: rho_from_eps_delta(cap.epsilon, d),
        numeric=len(kinds) - categories,
        categories=categories,
    )
    return cap, plan


def _step_hash(table: str, kinds: Mapping[str, str]) -> str:
    """What the step measured, hashed as a release's spec is (grid included)."""
    text = json.dumps(
        {"table": table, "columns": dict(kinds), "grids": [list(GRID), list(FLOAT_GRID)]},
        sort_keys=True,
    )
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def learn_domains(
    warehouse: Path,
    table: str,
    columns: Sequence[str],
    catalog: Mapping[str, str],
    cost: PrivacyCost,
    source: RandomSource | None = None,
) -> LearnedDomains:
    """Charge ``cost`` to ``table``'s cap, then learn each column's domain (module docs).

    ``source`` is the noise's randomness: the OS CSPRNG unless a test seeds it, in which
    case each note says the domain is NOT PRIVATE.
    """
    kinds = _kinds(columns, catalog, table)
    cap, plan = plan_learning(warehouse, table, kinds, cost)
    run_id = f"domain-{uuid.uuid4().hex[:12]}"
    committed = charge(
        warehouse,
        dataset=table,
        run_id=run_id,
        release=STEP_RELEASE,
        spec_hash=_step_hash(table, kinds),
        cost=cost,
        cap=cap,
        unit="row",
    )
    rng = source or secure_source()
    with private_data_boundary("learning domains from the source"):
        grids = {n: grid_for(k == "integer") for n, k in kinds.items() if k != "category"}
        counted = domain_counts(warehouse, table, kinds, grids)
    learned = {name: _learn_one(counted.pop(name), kind, plan, rng) for name, kind in kinds.items()}
    stamp = (
        f"learned under DP by run {run_id} on {date.today().isoformat()}: "
        f"{cost.words()} charged to {table} ({cap.currency}={committed.rho:.6g} for "
        f"{len(kinds)} column(s))"
    )
    if not rng.private:
        stamp += " -- SEEDED TEST NOISE, NOT PRIVATE"
    notes = {n: LearnedColumn(c.entry, f"{stamp}; {c.note}") for n, c in learned.items()}
    return LearnedDomains(committed, plan, notes)


def _learn_one(
    counted: ColumnCounts, kind: str, plan: StepPlan, rng: RandomSource
) -> LearnedColumn:
    """One column's learned domain from its counts (private: only the domain leaves)."""
    sigma = plan.sigma
    if kind == "category":
        kept = learn_values(counted.values or [], counted.counts, plan, rng)
        how = (
            f"values whose noisy count reached {plan.tau} (noise sigma={sigma:.3g}); values "
            "not kept, and NULL, are released as missing"
        )
        if not kept:
            return LearnedColumn(
                placeholder(
                    "no value passed the DP threshold: declare type category with its values "
                    "from a codebook, or delete this column"
                ),
                how,
            )
        entry: dict[str, object] = {
            "type": "category",
            "values": list(kept),
            "missing": [],
            "on_invalid": "missing",
        }
        return LearnedColumn(entry, how)
    domain = learn_numeric(counted.counts, plan, rng, integer=kind == "integer")
    bounds = [_plain(x) for x in domain.bounds]
    entry = {
        "type": kind,
        "bounds": bounds,
        "edges": [_plain(x) for x in domain.edges],
        "missing": [],
        "on_invalid": "clamp",
    }
    how = (
        f"bounds and bins from a noisy histogram on the public 1-2-5 grid (sigma={sigma:.3g}); "
        "values outside are clamped, NULL is missing"
    )
    return LearnedColumn(entry, how)


def _plain(x: float) -> int | float:
    return int(x) if float(x).is_integer() else float(x)
