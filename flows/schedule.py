"""How long a scheduled release's budget lasts: runs left and the date it runs out.

Pure date arithmetic over the spec's cron schedule and the ledger's remaining budget; it
reads no source rows and spends nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from cronsim import CronSim

from dpcore.accounting import BudgetState

MAX_LISTED_RUNS = 100_000


@dataclass(frozen=True)
class BudgetRunway:
    """Scheduled runs the remaining budget pays for, the last paid one and the first refused.

    ``runs_left`` counts whole runs at this spec's cost; ``first_refused`` is None only when
    the budget outlasts :data:`MAX_LISTED_RUNS` scheduled runs.
    """

    cron: str
    runs_left: int
    last_paid: datetime | None
    first_refused: datetime | None


def runway(
    state: BudgetState,
    cost_rho: Decimal,
    cron: str,
    now: datetime,
    *,
    runs_left: int | None = None,
) -> BudgetRunway:
    """The budget's runway for a schedule starting after ``now`` (timezone-aware).

    ``runs_left`` overrides the count of runs the budget pays for at ``cost_rho`` (a
    horizon states its own).
    """
    if runs_left is None:
        runs_left = state.runs_left(cost_rho)
    dates = CronSim(cron, now)
    last_paid: datetime | None = None
    for _ in range(min(runs_left, MAX_LISTED_RUNS)):
        last_paid = next(dates)
    first_refused = next(dates) if runs_left < MAX_LISTED_RUNS else None
    return BudgetRunway(cron, runs_left, last_paid, first_refused)
